//! `apply` against a scratch root, with a runner that records every command and answers
//! from a script: the plan, the exact commands, the files and the record, and what a failing
//! step leaves behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::paths::{Root, RECORD, RENDER_DIR, SYSUSERS, TMPFILES, UNIT};
use super::plan::{ApplyPlan, Part, Step, BACKUP_SERVICE, BACKUP_TIMER, BACKUP_TMPFILES};
use super::record::Record;
use super::runner::{Cmd, CmdOutput, Runner};
use super::*;

/// Run a plan with a given runner.
fn execute_with(
    gathered: &Gathered,
    plan: &ApplyPlan,
    root: &Root,
    runner: &mut dyn Runner,
    out: &mut dyn std::io::Write,
) -> Result<execute::Done, Box<execute::Stopped>> {
    let mut exec = Executor {
        root,
        runner,
        record: gathered.record.clone(),
        rendered: &gathered.rendered,
        inputs: &[],
        on_disk: &gathered.on_disk,
        start_timeout: Duration::from_secs(5),
        out,
        live: false,
        upgrade: upgrade::Upgrade {
            release: gathered.release.clone(),
            ..upgrade::Upgrade::none()
        },
    };
    exec.execute(plan)
}

const SITE: &str = "/etc/nginx/sites-available/gitlab-mattermost.conf";
const LINK: &str = "/etc/nginx/sites-enabled/gitlab-mattermost.conf";

/// Records every command; answers the ones whose line starts with a scripted prefix.
#[derive(Default)]
struct Recorder {
    lines: Vec<String>,
    answers: Vec<(String, CmdOutput)>,
}

impl Recorder {
    fn answer(&mut self, prefix: &str, code: i32, stdout: &str, stderr: &str) {
        self.answers.push((
            prefix.to_string(),
            CmdOutput {
                code: Some(code),
                stdout: stdout.into(),
                stderr: stderr.into(),
                ..CmdOutput::default()
            },
        ));
    }

    fn ran(&self, prefix: &str) -> usize {
        self.lines.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

impl Runner for Recorder {
    fn run(&mut self, cmd: &Cmd) -> std::io::Result<CmdOutput> {
        let line = cmd.line();
        self.lines.push(line.clone());
        Ok(self
            .answers
            .iter()
            .find(|(p, _)| line.starts_with(p))
            .map(|(_, o)| o.clone())
            .unwrap_or(CmdOutput {
                code: Some(0),
                ..CmdOutput::default()
            }))
    }
}

struct Host {
    dir: tempfile::TempDir,
    root: Root,
    config: PathBuf,
}

impl Host {
    /// A scratch root with Debian's nginx layout, a Mattermost release and the wrapper.
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::scratch(dir.path().join("root"));
        let put = |p: &str, text: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let path = root.path(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        put(
            "/etc/nginx/nginx.conf",
            "events {}\nhttp {\n  include /etc/nginx/conf.d/*.conf;\n  include /etc/nginx/sites-enabled/*;\n}\n",
            0o644,
        );
        put("/opt/mattermost/bin/mattermost", "#!/bin/sh\n", 0o755);
        put("/usr/bin/gitlab-mattermost", "#!/bin/sh\n", 0o755);
        let config = dir.path().join("site.toml");
        std::fs::write(&config, "external_url = \"http://chat.example.com\"\n").unwrap();
        Host { dir, root, config }
    }

    fn load(&self, sets: &[&str]) -> Plan {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        crate::load(std::slice::from_ref(&self.config), &sets).expect("valid config")
    }

    fn gather(&self, sets: &[&str]) -> Result<(Gathered, ApplyPlan), Diagnostics> {
        let config = self.load(sets);
        let g = match gather(
            &config,
            std::slice::from_ref(&self.config),
            &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &self.root,
        ) {
            Ok(g) => g,
            Err(ApplyError::Refused(d)) => return Err(d),
            Err(ApplyError::Other(e)) => panic!("{e:#}"),
        };
        let p = plan::plan(&g.inputs())?;
        Ok((g, p))
    }

    /// Plan and execute; the commands run and what was printed.
    fn apply(
        &self,
        sets: &[&str],
        runner: &mut Recorder,
    ) -> (
        ApplyPlan,
        Result<execute::Done, Box<execute::Stopped>>,
        String,
    ) {
        let (g, p) = self.gather(sets).unwrap_or_else(|d| panic!("{d}"));
        let mut out = Vec::new();
        let r = execute_with(&g, &p, &self.root, runner, &mut out);
        (p, r, String::from_utf8_lossy(&out).into_owned())
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.root.path(p)).unwrap_or_default()
    }

    fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                if meta.is_dir() {
                    walk(root, &p, out);
                } else if meta.file_type().is_symlink() {
                    out.insert(
                        rel,
                        std::fs::read_link(&p)
                            .unwrap()
                            .display()
                            .to_string()
                            .into_bytes(),
                    );
                } else {
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }

    /// A first apply that found neither the role nor the database.
    fn first_apply(&self) -> Recorder {
        let mut r = Recorder::default();
        r.answer("runuser -u postgres -- psql", 0, "postgres\n", "");
        let (_, result, out) = self.apply(&[], &mut r);
        assert!(
            result.is_ok(),
            "{out}\n{}",
            result.err().map(|s| s.to_string()).unwrap_or_default()
        );
        r
    }
}

fn steps(p: &ApplyPlan) -> Vec<Step> {
    p.steps.iter().map(|s| s.step.clone()).collect()
}

#[test]
fn a_first_apply_installs_everything_and_starts_mattermost() {
    let h = Host::new();
    let r = h.first_apply();
    let root = h.root.scratch_dir().unwrap().display().to_string();
    let expected: Vec<String> = [
        format!("systemd-sysusers --root={root} {root}{SYSUSERS}"),
        format!("systemd-tmpfiles --root={root} --create {root}{TMPFILES}"),
        format!("nginx -t -p {root}/etc/nginx/ -c {root}/etc/nginx/nginx.conf"),
        "systemctl reload-or-restart nginx.service".into(),
        "runuser -u postgres -- psql -h /run/postgresql -p 5432 -X -A -t -q -d postgres -c 'SELECT rolname FROM pg_roles'".into(),
        "runuser -u postgres -- createuser -h /run/postgresql -p 5432 mattermost".into(),
        "runuser -u postgres -- psql -h /run/postgresql -p 5432 -X -A -t -q -d postgres -c 'SELECT datname || '\\''|'\\'' || pg_get_userbyid(datdba) FROM pg_database'".into(),
        "runuser -u postgres -- createdb -h /run/postgresql -p 5432 -O mattermost mattermost".into(),
        "systemctl daemon-reload".into(),
        "systemctl enable mattermost.service".into(),
        "systemctl restart mattermost.service".into(),
    ]
    .into();
    assert_eq!(r.lines, expected);
    // Every installed file is the rendered one and recorded as ours.
    let record = Record::load(&h.root).unwrap();
    for (path, rel) in [
        (UNIT, "systemd/mattermost.service"),
        (SYSUSERS, "sysusers.d/mattermost.conf"),
        (TMPFILES, "tmpfiles.d/mattermost.conf"),
        (SITE, "nginx/mattermost.conf"),
    ] {
        let text = h.read(path);
        assert!(
            text.starts_with(&format!("# {}", crate::render::HEADER)),
            "{path}"
        );
        assert_eq!(text, h.read(&format!("{RENDER_DIR}/{rel}")), "{path}");
        assert!(record.files.contains_key(path), "{path} not recorded");
    }
    assert_eq!(
        std::fs::read_link(h.root.path(LINK)).unwrap(),
        PathBuf::from("../sites-available/gitlab-mattermost.conf")
    );
    // Every effect, and the release Mattermost now runs.
    assert_eq!(record.applied.len(), 8, "{:?}", record.applied);
    assert!(
        record.applied["release"].starts_with("11.7 /opt/mattermost "),
        "{:?}",
        record.applied
    );
}

#[test]
fn a_second_apply_with_the_same_config_plans_nothing() {
    let h = Host::new();
    h.first_apply();
    let before = h.tree();
    let (_, p) = h.gather(&[]).unwrap();
    assert!(p.is_empty(), "{p:?}");
    assert!(plan_text(&p, &h.root, Duration::from_secs(1), false)
        .contains("no changes, nothing restarted"));
    let mut r = Recorder::default();
    let (_, result, _) = h.apply(&[], &mut r);
    assert!(result.is_ok());
    assert!(r.lines.is_empty(), "{:?}", r.lines);
    assert_eq!(h.tree(), before);
}

#[test]
fn an_existing_role_and_database_are_kept() {
    let h = Host::new();
    let mut r = Recorder::default();
    r.answer("runuser -u postgres -- psql -h /run/postgresql -p 5432 -X -A -t -q -d postgres -c 'SELECT rolname", 0, "postgres\nmattermost\n", "");
    r.answer(
        "runuser -u postgres -- psql",
        0,
        "postgres|postgres\nmattermost|postgres\n",
        "",
    );
    let (_, result, _) = h.apply(&[], &mut r);
    let done = result.unwrap_or_else(|s| panic!("{s}"));
    assert_eq!(r.ran("runuser -u postgres -- create"), 0, "{:?}", r.lines);
    assert!(
        done.notes
            .iter()
            .any(|n| n.contains("owned by postgres, not mattermost")),
        "{:?}",
        done.notes
    );
}

#[test]
fn a_changed_setting_restarts_mattermost_exactly_once_and_nothing_else() {
    let h = Host::new();
    h.first_apply();
    let mut r = Recorder::default();
    let (p, result, _) = h.apply(&["settings.TeamSettings.MaxUsersPerTeam=100"], &mut r);
    assert!(result.is_ok());
    assert_eq!(
        steps(&p),
        vec![Step::Render, Step::Mattermost { first: false }]
    );
    assert_eq!(r.lines, vec!["systemctl restart mattermost.service"]);
    assert!(h
        .read("/etc/gitlab-mattermost/mattermost.env")
        .contains("MM_TEAMSETTINGS_MAXUSERSPERTEAM=100"));
}

#[test]
fn a_changed_nginx_value_reloads_nginx_but_does_not_restart_mattermost() {
    let h = Host::new();
    h.first_apply();
    let mut r = Recorder::default();
    let (p, result, _) = h.apply(&["nginx.client_max_body_size=1g"], &mut r);
    assert!(result.is_ok());
    assert_eq!(
        steps(&p),
        vec![Step::Install(plan::Part::Nginx), Step::Nginx, Step::Render]
    );
    assert_eq!(r.ran("systemctl reload-or-restart nginx.service"), 1);
    assert_eq!(r.ran("systemctl restart"), 0, "{:?}", r.lines);
    assert!(h.read(SITE).contains("client_max_body_size 1g;"));
}

#[test]
fn a_moved_upstream_reloads_nginx_and_restarts_mattermost_once() {
    let h = Host::new();
    h.first_apply();
    let mut r = Recorder::default();
    let (p, result, _) = h.apply(&["listen.port=8066"], &mut r);
    assert!(result.is_ok());
    assert!(steps(&p).contains(&Step::Nginx) && !steps(&p).contains(&Step::DaemonReload));
    assert_eq!(r.ran("systemctl reload-or-restart nginx.service"), 1);
    assert_eq!(r.ran("systemctl restart mattermost.service"), 1);
}

#[test]
fn a_changed_unit_reloads_systemd_and_a_changed_database_is_ensured_again() {
    let h = Host::new();
    h.first_apply();
    let mut r = Recorder::default();
    // The socket directory is in the DSN and in the unit's ReadWritePaths=.
    let (p, result, _) = h.apply(&["database.socket_dir=/var/run/postgresql"], &mut r);
    assert!(result.is_ok());
    assert!(steps(&p).contains(&Step::DaemonReload), "{:?}", steps(&p));
    assert_eq!(
        r.ran("runuser -u postgres -- psql -h /var/run/postgresql"),
        2
    );
    assert_eq!(r.ran("systemctl daemon-reload"), 1);
    assert_eq!(r.ran("systemctl restart mattermost.service"), 1);
    assert_eq!(r.ran("systemctl enable"), 0, "enabled once only");
    assert!(h.read(UNIT).contains("ReadWritePaths=/var/run/postgresql"));
}

#[test]
fn a_foreign_file_at_an_install_path_is_refused_and_nothing_is_written() {
    let h = Host::new();
    let unit = h.root.path(UNIT);
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::write(&unit, "[Service]\nExecStart=/usr/bin/something-else\n").unwrap();
    let before = h.tree();
    let d = h.gather(&[]).unwrap_err().to_string();
    assert!(
        d.contains(&format!(
            "error: {UNIT}: exists and was not installed by gitlab-mattermost apply"
        )) && d.contains(&format!("mv {UNIT} {UNIT}.orig")),
        "{d}"
    );
    assert_eq!(h.tree(), before);
}

#[test]
fn an_installed_file_edited_since_is_refused() {
    let h = Host::new();
    h.first_apply();
    std::fs::write(h.root.path(SITE), "# my own edits\n").unwrap();
    let d = h.gather(&[]).unwrap_err().to_string();
    assert!(
        d.contains(&format!("{SITE}: was changed since apply installed it")),
        "{d}"
    );
}

#[test]
fn a_header_without_a_record_is_not_enough() {
    let h = Host::new();
    let path = h.root.path(TMPFILES);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        format!("# {}\nd /old 0750 a a - -\n", crate::render::HEADER),
    )
    .unwrap();
    let d = h.gather(&[]).unwrap_err().to_string();
    assert!(
        d.contains("carries gitlab-mattermost's header but apply did not install it"),
        "{d}"
    );
}

#[test]
fn links_of_the_manual_setup_are_taken_over() {
    let h = Host::new();
    for (link, target) in [
        (UNIT, "/etc/gitlab-mattermost/systemd/mattermost.service"),
        (
            "/etc/nginx/conf.d/mattermost.conf",
            "/etc/gitlab-mattermost/nginx/mattermost.conf",
        ),
    ] {
        let p = h.root.path(link);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &p).unwrap();
    }
    h.first_apply();
    assert!(h.read(UNIT).contains("ExecStart="));
    assert!(std::fs::symlink_metadata(h.root.path(UNIT))
        .unwrap()
        .is_file());
    assert!(!h.root.path("/etc/nginx/conf.d/mattermost.conf").exists());
}

#[test]
fn turning_nginx_off_removes_the_site_and_reloads_nginx() {
    let h = Host::new();
    h.first_apply();
    let mut r = Recorder::default();
    let (_, result, _) = h.apply(&["nginx.enable=false"], &mut r);
    assert!(result.is_ok());
    assert!(!h.root.path(SITE).exists() && std::fs::symlink_metadata(h.root.path(LINK)).is_err());
    assert_eq!(r.ran("nginx -t"), 1);
    assert_eq!(r.ran("systemctl reload-or-restart nginx.service"), 1);
    let record = Record::load(&h.root).unwrap();
    assert!(!record.files.contains_key(SITE) && !record.applied.contains_key("nginx"));
    let (_, p) = h.gather(&["nginx.enable=false"]).unwrap();
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn with_install_off_the_vhost_is_only_rendered_for_another_nginx() {
    let h = Host::new();
    let mut r = Recorder::default();
    let (_, result, _) = h.apply(&["nginx.install=false"], &mut r);
    assert!(result.is_ok());
    assert!(!h.root.path(SITE).exists() && std::fs::symlink_metadata(h.root.path(LINK)).is_err());
    assert_eq!(r.ran("nginx -t"), 0, "this host's nginx is left alone");
    assert!(
        h.read("/etc/gitlab-mattermost/nginx/mattermost.conf")
            .contains("server_name"),
        "the vhost is rendered for another nginx to include"
    );
}

#[test]
fn a_failing_nginx_test_puts_the_previous_site_back_and_stops() {
    let h = Host::new();
    h.first_apply();
    let site_before = h.read(SITE);
    let record_before = Record::load(&h.root).unwrap();
    let rendering_before = h.read("/etc/gitlab-mattermost/manifest.json");
    let mut r = Recorder::default();
    r.answer("nginx -t", 1, "", "nginx: [emerg] unknown directive \"bogus\"\nnginx: configuration file /etc/nginx/nginx.conf test failed\n");
    let (_, result, _) = h.apply(
        &[
            "settings.TeamSettings.MaxUsersPerTeam=7",
            "nginx.server_config=bogus on;",
        ],
        &mut r,
    );
    let stopped = result.expect_err("nginx -t failed");
    assert_eq!(h.read(SITE), site_before);
    assert_eq!(Record::load(&h.root).unwrap(), record_before);
    assert_eq!(
        h.read("/etc/gitlab-mattermost/manifest.json"),
        rendering_before
    );
    assert_eq!(r.ran("systemctl"), 0, "{:?}", r.lines);
    let text = stopped.to_string();
    for want in [
        "apply stopped at: test nginx's configuration, then reload nginx",
        "unknown directive \"bogus\"",
        "The previous nginx site is back in place and nginx was not reloaded.",
        "/etc/gitlab-mattermost still holds the previous rendering",
        "Mattermost was not touched",
        "- restart Mattermost",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("✓ install the nginx site"), "{text}");
}

#[test]
fn a_failed_restart_says_so_and_is_retried_by_the_next_apply() {
    let h = Host::new();
    h.first_apply();
    let mut r = Recorder::default();
    r.answer(
        "systemctl restart",
        1,
        "",
        "Job for mattermost.service failed because the control process exited with error code.\n",
    );
    r.answer(
        "journalctl",
        0,
        "Error: failed to connect to the database\n",
        "",
    );
    let (_, result, _) = h.apply(&["settings.TeamSettings.MaxUsersPerTeam=9"], &mut r);
    let text = result.expect_err("restart failed").to_string();
    assert!(
        text.contains("failed to connect to the database")
            && text
                .contains("The new rendering is installed, but Mattermost did not come up with it"),
        "{text}"
    );
    let (_, p) = h
        .gather(&["settings.TeamSettings.MaxUsersPerTeam=9"])
        .unwrap();
    assert_eq!(steps(&p), vec![Step::Mattermost { first: false }]);
}

#[test]
fn a_start_that_outlasts_the_timeout_is_not_restarted_again() {
    let h = Host::new();
    let mut r = Recorder::default();
    r.answers.push((
        "systemctl restart".into(),
        CmdOutput {
            timed_out: true,
            ..CmdOutput::default()
        },
    ));
    let (_, result, _) = h.apply(&[], &mut r);
    let text = result.expect_err("timed out").to_string();
    assert!(text.contains("has not reported ready after 5 s"), "{text}");
    let (_, p) = h.gather(&[]).unwrap();
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn the_rendered_directory_must_hold_only_the_rendering() {
    let h = Host::new();
    h.first_apply();
    std::fs::write(
        h.root.path("/etc/gitlab-mattermost/site.toml"),
        "external_url = \"x\"\n",
    )
    .unwrap();
    let d = h.gather(&[]).unwrap_err().to_string();
    assert!(
        d.contains("holds files that are not (or no longer) the rendering: site.toml"),
        "{d}"
    );
}

#[test]
fn missing_mattermost_wrapper_or_nginx_are_all_reported_at_once() {
    let h = Host::new();
    std::fs::remove_file(h.root.path("/opt/mattermost/bin/mattermost")).unwrap();
    std::fs::remove_file(h.root.path("/usr/bin/gitlab-mattermost")).unwrap();
    std::fs::remove_file(h.root.path("/etc/nginx/nginx.conf")).unwrap();
    let d = h.gather(&[]).unwrap_err().to_string();
    for want in [
        "mattermost.install_dir: no Mattermost server at /opt/mattermost/bin/mattermost",
        "mattermost.wrapper: no gitlab-mattermost at /usr/bin/gitlab-mattermost",
        // The command that runs (here the test) is named as what to set, beside the package.
        "this command runs from /",
        "set mattermost.wrapper = \"/",
        "apt-get install ./gitlab-mattermost_*_amd64.deb",
        "/etc/nginx/nginx.conf: cannot read nginx's configuration",
        "3 errors found; nothing was written",
    ] {
        assert!(d.contains(want), "missing {want:?} in\n{d}");
    }
}

#[test]
fn conf_d_hosts_get_one_file() {
    let h = Host::new();
    std::fs::write(
        h.root.path("/etc/nginx/nginx.conf"),
        "events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n",
    )
    .unwrap();
    h.first_apply();
    assert!(h
        .read("/etc/nginx/conf.d/gitlab-mattermost.conf")
        .contains("server_name chat.example.com;"));
    assert!(!h.root.path(SITE).exists());
    assert!(h
        .read(RECORD)
        .contains("/etc/nginx/conf.d/gitlab-mattermost.conf"));
}

#[test]
fn a_config_inside_the_rendered_directory_is_refused() {
    let h = Host::new();
    let inside = h.root.path("/etc/gitlab-mattermost/site.toml");
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::copy(&h.config, &inside).unwrap();
    let config = crate::load(std::slice::from_ref(&inside), &[]).unwrap();
    let Err(ApplyError::Refused(d)) = gather(&config, std::slice::from_ref(&inside), &[], &h.root)
    else {
        panic!("not refused");
    };
    let d = d.to_string();
    assert!(
        d.contains(
            "the config lives inside /etc/gitlab-mattermost, which apply replaces as a whole"
        ) && d.contains("/etc/gitlab-mattermost.toml"),
        "{d}"
    );
}

const ON_10: [&str; 2] = [
    "mattermost.version=\"10.11\"",
    "mattermost.allow_end_of_life=true",
];

fn apply_ok(h: &Host, sets: &[&str]) -> (ApplyPlan, Recorder, String) {
    let mut r = Recorder::default();
    r.answer("runuser -u postgres -- psql", 0, "postgres\n", "");
    let (p, result, out) = h.apply(sets, &mut r);
    assert!(
        result.is_ok(),
        "{out}\n{}",
        result.err().map(|s| s.to_string()).unwrap_or_default()
    );
    (p, r, out)
}

#[test]
fn a_new_release_stops_and_backs_up_the_old_server_before_anything_of_the_new_one() {
    let h = Host::new();
    apply_ok(&h, &ON_10);
    // The admin unpacks the 11 release over the old one and targets 11.7.
    std::fs::write(
        h.root.path("/opt/mattermost/bin/mattermost"),
        "#!/bin/sh\n# 11\n",
    )
    .unwrap();
    let (p, r, out) = apply_ok(&h, &[]);
    let order = steps(&p);
    let upgrade = order
        .iter()
        .position(|s| matches!(s, Step::Upgrade { .. }))
        .unwrap_or_else(|| panic!("no upgrade step: {order:?}"));
    let restart = order
        .iter()
        .position(|s| matches!(s, Step::Mattermost { .. }))
        .expect("a restart");
    assert!(upgrade < restart, "{order:?}");
    if let Some(render) = order.iter().position(|s| *s == Step::Render) {
        assert!(upgrade < render, "{order:?}");
    }
    let stop = r
        .lines
        .iter()
        .position(|l| l == "systemctl stop mattermost.service");
    let start = r
        .lines
        .iter()
        .position(|l| l.starts_with("systemctl restart mattermost.service"));
    assert!(stop.is_some() && stop < start, "{:?}", r.lines);
    assert!(
        out.contains("upgrade from Mattermost 10.11 in /opt/mattermost"),
        "{out}"
    );
    assert!(out.contains("(not run under --root: the backup)"), "{out}");
    assert!(out.contains("upgraded from Mattermost 10.11"), "{out}");
    let last = h.read(upgrade::LAST_UPGRADE);
    assert!(
        last.contains("\"kind\": \"upgrade\"") && last.contains("downtime_seconds"),
        "{last}"
    );
    // Applied again: nothing to do.
    let (p, r, _) = apply_ok(&h, &[]);
    assert!(p.is_empty(), "{:?}", steps(&p));
    assert_eq!(r.ran("systemctl"), 0);
}

#[test]
fn going_back_to_an_older_line_is_refused_before_anything_stops() {
    let h = Host::new();
    apply_ok(&h, &[]);
    std::fs::write(
        h.root.path("/opt/mattermost/bin/mattermost"),
        "#!/bin/sh\n# 10\n",
    )
    .unwrap();
    let mut r = Recorder::default();
    r.answer("runuser -u postgres -- psql", 0, "postgres\n", "");
    let (_, result, _) = h.apply(&ON_10, &mut r);
    let stopped = result.expect_err("refused").to_string();
    assert!(stopped.contains("gitlab-mattermost rollback"), "{stopped}");
    assert_eq!(r.ran("systemctl stop"), 0, "{:?}", r.lines);
}

const DAILY: [&str; 2] = ["backup.schedule=\"daily\"", "backup.keep=2"];

#[test]
fn a_backup_schedule_installs_the_timer_and_enables_it_without_restarting_mattermost() {
    let h = Host::new();
    h.first_apply();
    let (p, r, _) = apply_ok(&h, &DAILY);
    assert_eq!(
        steps(&p),
        vec![Step::Render, Step::Install(Part::Backup), Step::BackupTimer],
        "Mattermost is not restarted"
    );
    let root = h.root.scratch_dir().unwrap().display().to_string();
    assert_eq!(
        r.lines,
        vec![
            format!("systemd-tmpfiles --root={root} --create {root}{BACKUP_TMPFILES}"),
            "systemctl daemon-reload".into(),
            "systemctl enable gitlab-mattermost-backup.timer".into(),
            "systemctl restart gitlab-mattermost-backup.timer".into(),
        ]
    );
    let record = Record::load(&h.root).unwrap();
    for (path, rel) in [
        (BACKUP_SERVICE, "systemd/gitlab-mattermost-backup.service"),
        (BACKUP_TIMER, "systemd/gitlab-mattermost-backup.timer"),
        (BACKUP_TMPFILES, "tmpfiles.d/gitlab-mattermost-backup.conf"),
    ] {
        assert_eq!(
            h.read(path),
            h.read(&format!("{RENDER_DIR}/{rel}")),
            "{path}"
        );
        assert!(record.files.contains_key(path), "{path} not recorded");
    }
    // The service reads the config apply read, with the same overrides.
    let service = h.read(BACKUP_SERVICE);
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    assert_eq!(
        exec,
        format!(
            "/usr/bin/gitlab-mattermost backup --keep 2 --to /var/backups/gitlab-mattermost --set \"backup.schedule=\\\"daily\\\"\" --set backup.keep=2 -- {}",
            h.config.display()
        )
    );
    assert!(h.read(BACKUP_TIMER).contains("\nOnCalendar=daily\n"));
    // Applied again: nothing to do.
    let (p, r, _) = apply_ok(&h, &DAILY);
    assert!(p.is_empty(), "{:?}", steps(&p));
    assert!(r.lines.is_empty(), "{:?}", r.lines);
}

#[test]
fn a_changed_schedule_restarts_the_timer_only() {
    let h = Host::new();
    h.first_apply();
    apply_ok(&h, &DAILY);
    let (p, r, _) = apply_ok(&h, &["backup.schedule=\"Sun 04:00\"", "backup.keep=2"]);
    assert!(!p.restarts_mattermost(), "{:?}", steps(&p));
    assert!(steps(&p).contains(&Step::BackupTimer), "{:?}", steps(&p));
    assert_eq!(r.ran("systemctl restart gitlab-mattermost-backup.timer"), 1);
    assert!(h.read(BACKUP_TIMER).contains("\nOnCalendar=Sun 04:00\n"));
}

#[test]
fn removing_the_schedule_disables_the_timer_and_removes_its_files() {
    let h = Host::new();
    h.first_apply();
    apply_ok(&h, &DAILY);
    let (p, r, _) = apply_ok(&h, &[]);
    assert_eq!(
        steps(&p),
        vec![
            Step::Render,
            Step::BackupTimerOff,
            Step::Install(Part::Backup),
            Step::DaemonReload
        ]
    );
    assert_eq!(
        r.lines,
        vec![
            "systemctl disable --now gitlab-mattermost-backup.timer",
            "systemctl daemon-reload"
        ]
    );
    let record = Record::load(&h.root).unwrap();
    for path in [BACKUP_SERVICE, BACKUP_TIMER, BACKUP_TMPFILES] {
        assert!(!h.root.path(path).exists(), "{path} is still there");
        assert!(!record.files.contains_key(path), "{path} still recorded");
    }
    assert!(!record.applied.contains_key("backup"));
    let (p, _, _) = apply_ok(&h, &[]);
    assert!(p.is_empty(), "{:?}", steps(&p));
}

#[test]
fn the_dry_run_json_lists_the_backup_units() {
    let h = Host::new();
    h.first_apply();
    let (_, p) = h.gather(&DAILY).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&plan_json(&p, &h.root, Duration::from_secs(1))).unwrap();
    let text = json.to_string();
    for path in [BACKUP_SERVICE, BACKUP_TIMER, BACKUP_TMPFILES] {
        assert!(text.contains(path), "{path} not in {text}");
    }
    assert!(
        text.contains("systemctl enable gitlab-mattermost-backup.timer"),
        "{text}"
    );
}
