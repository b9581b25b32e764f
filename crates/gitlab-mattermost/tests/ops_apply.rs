//! `gitlab-mattermost apply` end to end on a scratch root (the hidden `--root DIR`, for tests
//! only): the real systemd-sysusers, systemd-tmpfiles and nginx -t work on the scratch tree;
//! commands that act on the running host (systemctl, PostgreSQL) are listed, not run.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

struct Scratch {
    dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

const SITE: &str = "etc/nginx/sites-available/gitlab-mattermost.conf";

impl Scratch {
    /// A Debian-like root: nginx with sites-enabled, a Mattermost release, the wrapper.
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let r = root.display().to_string();
        write_file(
            &root.join("etc/nginx/nginx.conf"),
            &format!(
                "pid {r}/nginx.pid;\nerror_log {r}/nginx-error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  include {r}/etc/nginx/conf.d/*.conf;\n  include {r}/etc/nginx/sites-enabled/*;\n}}\n"
            ),
            0o644,
        );
        std::fs::create_dir_all(root.join("etc/nginx/sites-enabled")).unwrap();
        std::fs::create_dir_all(root.join("etc/nginx/conf.d")).unwrap();
        write_file(
            &root.join("opt/mattermost/bin/mattermost"),
            "#!/bin/sh\n",
            0o755,
        );
        // The unit's wrapper: it must exist; nothing starts it here.
        write_file(
            &root.join("usr/bin/gitlab-mattermost"),
            "#!/bin/sh\n",
            0o755,
        );
        let config = dir.path().join("gitlab-mattermost.toml");
        write_file(
            &config,
            "external_url = \"http://chat.example.com\"\n[account]\nuid = 4321\ngid = 4321\n",
            0o644,
        );
        Scratch { dir, root, config }
    }

    fn apply(&self, extra: &[&str]) -> Output {
        Command::new(bin_path())
            .arg("apply")
            .arg(&self.config)
            .arg("--root")
            .arg(&self.root)
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .expect("runs")
    }

    /// Every path under the scratch directory: a link's target, a file's SHA-256.
    fn tree(&self) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                if meta.is_dir() {
                    out.insert(format!("{rel}/"), String::new());
                    walk(root, &p, out);
                } else if meta.file_type().is_symlink() {
                    let t = std::fs::read_link(&p).unwrap();
                    out.insert(rel, format!("-> {}", t.display()));
                } else {
                    let bytes = std::fs::read(&p).unwrap();
                    out.insert(rel, gitlab_mattermost::render::manifest::sha256_hex(&bytes));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_default()
    }
}

/// Root and the real tools, or the reason to skip.
fn real_tools() -> bool {
    if !is_root() {
        skip("apply's scratch-root tests create accounts and chown directories: run them as root");
        return false;
    }
    for tool in ["systemd-sysusers", "systemd-tmpfiles", "nginx"] {
        if !have(tool) {
            skip(&format!(
                "{tool} is not installed (the CI script installs it)"
            ));
            return false;
        }
    }
    true
}

fn ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    out
}

/// `--dry-run --json`: the same plan for scripts, parsed back; nothing changed.
#[test]
fn dry_run_json_is_the_plan_as_data() {
    let s = Scratch::new();
    let before = s.tree();
    let out = ok(&s.apply(&["--dry-run", "--json"]));
    let plan: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(plan["changes"], serde_json::Value::Bool(true));
    let steps = plan["steps"].as_array().expect("steps");
    let files: Vec<&str> = steps
        .iter()
        .flat_map(|s| s["files"].as_array().unwrap().iter())
        .filter(|f| f["change"] == "create")
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(
        files.contains(&"/etc/systemd/system/mattermost.service"),
        "{out}"
    );
    let commands: Vec<&str> = steps
        .iter()
        .flat_map(|s| s["commands"].as_array().unwrap().iter())
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        commands.contains(&"systemctl restart mattermost.service"),
        "{out}"
    );
    assert_eq!(s.tree(), before, "a dry run changed the scratch root");

    // --json asks for the plan: without --dry-run it is refused as bad input.
    let o = s.apply(&["--json"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let s = Scratch::new();
    let before = s.tree();
    let out = ok(&s.apply(&["--dry-run"]));
    for want in [
        "plan (dry run):",
        "create /etc/sysusers.d/gitlab-mattermost.conf",
        "create /etc/nginx/sites-available/gitlab-mattermost.conf",
        "create /etc/systemd/system/mattermost.service",
        "$ systemctl daemon-reload",
        "$ runuser -u postgres -- createdb -h /run/postgresql -p 5432 -O mattermost mattermost",
        "$ systemctl restart mattermost.service",
        "Mattermost: started",
        "dry run: nothing was changed",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert_eq!(s.tree(), before);
}

#[test]
fn apply_installs_with_the_real_tools_and_a_second_run_changes_nothing() {
    if !real_tools() {
        return;
    }
    let s = Scratch::new();
    let out = ok(&s.apply(&[]));
    assert!(
        out.contains("applied: Mattermost runs the new configuration")
            && out.contains("next: open http")
            && out.contains("gitlab-mattermost logs"),
        "{out}"
    );
    let passwd = s.read("etc/passwd");
    assert!(
        passwd.contains("mattermost:x:4321:4321:Mattermost:/var/lib/mattermost:/usr/sbin/nologin"),
        "{passwd}"
    );
    use std::os::unix::fs::MetadataExt;
    let data = std::fs::metadata(s.root.join("var/lib/mattermost/config")).unwrap();
    assert_eq!((data.uid(), data.mode() & 0o7777), (4321, 0o750));
    assert!(s.read(SITE).contains("server_name chat.example.com;"));
    assert!(s.read("etc/systemd/system/mattermost.service").contains("ExecStart=/usr/bin/gitlab-mattermost exec --env-file /etc/gitlab-mattermost/mattermost.env"));
    assert!(s
        .read("etc/gitlab-mattermost/manifest.json")
        .contains("mattermost.env"));
    assert!(
        out.contains("(not run under --root: systemctl restart mattermost.service)"),
        "{out}"
    );

    let before = s.tree();
    let out = ok(&s.apply(&[]));
    assert_eq!(
        out.trim(),
        "no changes, nothing restarted: every installed file is current"
    );
    assert_eq!(s.tree(), before, "a second apply changed files");
}

#[test]
fn a_private_umask_still_leaves_the_rendering_readable_by_the_service() {
    if !real_tools() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let o = Command::new("sh")
        .args(["-c", "umask 077; exec \"$0\" \"$@\""])
        .arg(bin_path())
        .arg("apply")
        .arg(&s.config)
        .arg("--root")
        .arg(&s.root)
        .output()
        .unwrap();
    ok(&o);
    let mode = |rel: &str| {
        std::fs::metadata(s.root.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("etc/gitlab-mattermost"), 0o755);
    assert_eq!(mode("etc/gitlab-mattermost/mattermost.env"), 0o644);
    assert_eq!(mode("etc/systemd/system/mattermost.service"), 0o644);
    assert_eq!(mode(SITE), 0o644);
}

#[test]
fn an_nginx_only_change_reloads_nginx_and_does_not_restart_mattermost() {
    if !real_tools() {
        return;
    }
    let s = Scratch::new();
    ok(&s.apply(&[]));
    let out = ok(&s.apply(&["--set", "nginx.client_max_body_size=1g"]));
    assert!(
        out.contains("(not run under --root: systemctl reload-or-restart nginx.service)"),
        "{out}"
    );
    assert!(
        !out.contains("systemctl restart mattermost.service"),
        "{out}"
    );
    assert!(
        out.contains("applied: Mattermost was not restarted (nothing it reads changed)"),
        "{out}"
    );
    assert!(s.read(SITE).contains("client_max_body_size 1g;"));
}

#[test]
fn a_changed_setting_restarts_mattermost_once_and_does_not_touch_nginx() {
    if !real_tools() {
        return;
    }
    let s = Scratch::new();
    ok(&s.apply(&[]));
    let out = ok(&s.apply(&["--set", "settings.TeamSettings.MaxUsersPerTeam=100"]));
    let ran = |what: &str| {
        out.lines()
            .filter(|l| l.contains(&format!("(not run under --root: {what})")))
            .count()
    };
    assert_eq!(ran("systemctl restart mattermost.service"), 1, "{out}");
    assert_eq!(ran("systemctl reload-or-restart nginx.service"), 0, "{out}");
    assert_eq!(ran("systemctl daemon-reload"), 0, "{out}");
    assert!(s
        .read("etc/gitlab-mattermost/mattermost.env")
        .contains("MM_TEAMSETTINGS_MAXUSERSPERTEAM=100"));
}

#[test]
fn a_file_apply_did_not_install_is_refused_with_exit_2() {
    let s = Scratch::new();
    write_file(
        &s.root
            .join("etc/nginx/sites-available/gitlab-mattermost.conf"),
        "server { listen 80; }\n",
        0o644,
    );
    let before = s.tree();
    let o = s.apply(&[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("error: /etc/nginx/sites-available/gitlab-mattermost.conf: exists and was not installed by gitlab-mattermost apply")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(s.tree(), before);
}

#[test]
fn a_failing_nginx_test_leaves_the_previous_site_and_rendering() {
    if !real_tools() {
        return;
    }
    let s = Scratch::new();
    ok(&s.apply(&[]));
    let (site, manifest) = (s.read(SITE), s.read("etc/gitlab-mattermost/manifest.json"));
    let o = s.apply(&[
        "--set",
        "nginx.server_config=no_such_directive on;",
        "--set",
        "settings.TeamSettings.MaxUsersPerTeam=5",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    for want in [
        "apply stopped at: test nginx's configuration, then reload nginx",
        "unknown directive \"no_such_directive\"",
        "The previous nginx site is back in place and nginx was not reloaded.",
        "/etc/gitlab-mattermost still holds the previous rendering",
        "Mattermost was not touched",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    assert_eq!(s.read(SITE), site);
    assert_eq!(s.read("etc/gitlab-mattermost/manifest.json"), manifest);
    assert!(!out.contains("not run under --root: systemctl"), "{out}");
}

#[test]
fn only_one_apply_changes_the_host_at_a_time() {
    let s = Scratch::new();
    let lock = s.root.join("var/lib/gitlab-mattermost/apply.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&lock).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let before = s.tree();
    let o = s.apply(&[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("another gitlab-mattermost apply is running"),
        "{err}"
    );
    assert_eq!(s.tree(), before);
    // A dry run only reads: it plans while the lock is held.
    let out = ok(&s.apply(&["--dry-run"]));
    assert!(out.contains("dry run: nothing was changed"), "{out}");
}

#[test]
fn apply_refuses_to_run_as_another_user_than_root() {
    if !is_root() || !have("setpriv") {
        return skip("needs root and setpriv to run apply as nobody");
    }
    let s = Scratch::new();
    {
        use std::os::unix::fs::PermissionsExt;
        // nobody must be able to read the config: the refusal comes after loading it.
        std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin_path())
        .arg("apply")
        .arg(&s.config)
        .current_dir("/")
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("apply installs system files and restarts services, so it runs as root"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
}

/// `psql` as the postgres OS user (peer authentication), as apply runs it.
fn as_postgres(sql: &str) -> Result<String, String> {
    let o = Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            "psql",
            "-h",
            "/run/postgresql",
            "-XAtqc",
            sql,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

/// Drops the role and database a test created.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = as_postgres(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
        let _ = as_postgres(&format!("DROP ROLE IF EXISTS {}", self.0));
    }
}

#[test]
fn the_database_step_creates_a_missing_role_and_database_in_the_real_postgresql() {
    use gitlab_mattermost::ops::apply::execute::Executor;
    use gitlab_mattermost::ops::apply::paths::Root;
    use gitlab_mattermost::ops::apply::plan::{ApplyPlan, Database, Planned, Step};
    use gitlab_mattermost::ops::apply::runner::SystemRunner;
    if !is_root() || !have("runuser") {
        return skip("needs root and runuser to ask PostgreSQL as the postgres user");
    }
    if let Err(e) = as_postgres("SELECT 1") {
        return skip(&format!(
            "PostgreSQL does not answer the postgres user over /run/postgresql ({e}); start it: pg_ctlcluster 15 main start"
        ));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("gm_apply_{}_{nanos}", std::process::id());
    let _cleanup = Cleanup(name.clone());
    let dir = tempfile::tempdir().unwrap();
    let root = Root::scratch(dir.path().to_path_buf());
    let plan = ApplyPlan {
        steps: vec![Planned {
            step: Step::Database(Database {
                user: name.clone(),
                name: name.clone(),
                socket_dir: "/run/postgresql".into(),
                port: 5432,
            }),
            effect: None,
        }],
        ..ApplyPlan::default()
    };
    let run = || {
        let mut runner = SystemRunner { scratch: false };
        let mut out = Vec::new();
        let rendered = Default::default();
        let on_disk = Default::default();
        let mut exec = Executor {
            root: &root,
            runner: &mut runner,
            record: Default::default(),
            rendered: &rendered,
            inputs: &[],
            on_disk: &on_disk,
            start_timeout: std::time::Duration::from_secs(5),
            out: &mut out,
            live: false,
            upgrade: gitlab_mattermost::ops::apply::upgrade::Upgrade::none(),
        };
        exec.execute(&plan).map_err(|s| s.to_string())
    };
    let done = run().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        done.lines
            .contains(&format!("created PostgreSQL role {name}")),
        "{:?}",
        done.lines
    );
    assert!(
        done.lines.contains(&format!("created database {name}")),
        "{:?}",
        done.lines
    );
    let owner = as_postgres(&format!(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'"
    ));
    assert_eq!(owner.as_deref(), Ok(name.as_str()));
    // Again: both exist, nothing is created.
    let done = run().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !done.lines.iter().any(|l| l.starts_with("created")),
        "{:?}",
        done.lines
    );
}

/// Accounts an earlier package created on the scratch host.
fn with_accounts(s: &Scratch, passwd: &str, group: &str) {
    write_file(
        &s.root.join("etc/passwd"),
        &format!("root:x:0:0:root:/root:/bin/sh\n{passwd}"),
        0o644,
    );
    write_file(
        &s.root.join("etc/group"),
        &format!("root:x:0:\n{group}"),
        0o644,
    );
}

#[test]
fn a_configured_uid_held_by_another_account_is_refused_before_anything_changes() {
    let s = Scratch::new();
    with_accounts(
        &s,
        "redis:x:4321:4321:Redis:/var/lib/redis:/usr/sbin/nologin\n",
        "redis:x:4321:\n",
    );
    let before = s.tree();
    for extra in [&[][..], &["--dry-run"][..]] {
        let o = s.apply(extra);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {out}\n{err}");
        for want in [
            "error: account.uid: uid 4321 belongs to the user redis in /etc/passwd",
            "what apply creates for uid 4321 would belong to redis",
            "hint: choose a free uid for account.uid",
            "`usermod -u NEW redis`",
            "error: account.gid: gid 4321 belongs to the group redis in /etc/group",
            "2 errors found; nothing was written",
        ] {
            assert!(err.contains(want), "{extra:?}: missing {want:?} in\n{err}");
        }
        assert!(!out.contains("plan"), "{extra:?}: {out}");
        assert_eq!(s.tree(), before, "{extra:?}: something changed");
    }
}

#[test]
fn an_existing_account_with_other_ids_is_refused() {
    let s = Scratch::new();
    with_accounts(
        &s,
        "mattermost:x:999:999:Mattermost:/var/lib/mattermost:/usr/sbin/nologin\n",
        "mattermost:x:4321:\n",
    );
    let before = s.tree();
    let o = s.apply(&[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("error: account.uid: the user mattermost exists with uid 999, not 4321; systemd-sysusers does not change an existing user")
            && err.contains("set account.uid = 999")
            && err.contains("`usermod -u 4321 mattermost`")
            && err.contains("1 error found; nothing was written"),
        "{err}"
    );
    assert_eq!(s.tree(), before);
}

#[test]
fn a_free_uid_is_given_exactly_with_the_real_systemd_sysusers() {
    if !real_tools() {
        return;
    }
    let s = Scratch::new();
    // Other accounts, none on 4321.
    with_accounts(
        &s,
        "redis:x:4320:4320:Redis:/var/lib/redis:/usr/sbin/nologin\n",
        "redis:x:4320:\nmattermost-old:x:4322:\n",
    );
    let out = ok(&s.apply(&[]));
    assert!(out.contains("✓ create the service account"), "{out}");
    let passwd = s.read("etc/passwd");
    assert!(
        passwd.contains(
            "\nmattermost:x:4321:4321:Mattermost:/var/lib/mattermost:/usr/sbin/nologin\n"
        ),
        "{passwd}"
    );
    assert!(s.read("etc/group").contains("\nmattermost:x:4321:\n"));
    use std::os::unix::fs::MetadataExt;
    let data = std::fs::metadata(s.root.join("var/lib/mattermost")).unwrap();
    assert_eq!((data.uid(), data.gid()), (4321, 4321));
    // The account as configured now: the next run passes its preflight and changes nothing.
    let out = ok(&s.apply(&[]));
    assert!(out.contains("no changes"), "{out}");
}

/// The check after systemd-sysusers ran, for what the preflight cannot see (an id taken
/// meanwhile, or by an account outside /etc/passwd): the real systemd-sysusers gives another
/// uid without failing, and apply stops there.
#[test]
fn ids_systemd_sysusers_did_not_give_stop_apply() {
    use gitlab_mattermost::ops::apply::execute::Executor;
    use gitlab_mattermost::ops::apply::paths::Root;
    use gitlab_mattermost::ops::apply::plan::{ApplyPlan, Planned, Step};
    use gitlab_mattermost::ops::apply::runner::SystemRunner;
    if !real_tools() {
        return;
    }
    let s = Scratch::new();
    with_accounts(
        &s,
        "redis:x:4321:4321:Redis:/var/lib/redis:/usr/sbin/nologin\n",
        "redis:x:4321:\n",
    );
    write_file(
        &s.root.join("etc/sysusers.d/gitlab-mattermost.conf"),
        "g mattermost 4321\nu mattermost 4321:mattermost \"Mattermost\" /var/lib/mattermost /usr/sbin/nologin\n",
        0o644,
    );
    let root = Root::scratch(s.root.clone());
    let plan = ApplyPlan {
        steps: vec![
            Planned {
                step: Step::Sysusers,
                effect: Some(("sysusers".into(), Some("h".into()))),
            },
            Planned {
                step: Step::Tmpfiles,
                effect: None,
            },
        ],
        ..ApplyPlan::default()
    };
    let mut runner = SystemRunner { scratch: true };
    let mut out = Vec::new();
    let rendered = Default::default();
    let on_disk = Default::default();
    let mut exec = Executor {
        root: &root,
        runner: &mut runner,
        record: Default::default(),
        rendered: &rendered,
        inputs: &[],
        on_disk: &on_disk,
        start_timeout: std::time::Duration::from_secs(5),
        out: &mut out,
        live: false,
        upgrade: gitlab_mattermost::ops::apply::upgrade::Upgrade::none(),
    };
    let stopped = exec.execute(&plan).unwrap_err().to_string();
    let passwd = s.read("etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("mattermost:"))
        .unwrap_or_else(|| panic!("{passwd}"));
    let uid: u32 = line.split(':').nth(2).unwrap().parse().unwrap();
    assert_ne!(uid, 4321, "systemd-sysusers gave another uid: {line}");
    for want in [
        "apply stopped at: create the service account",
        &format!("the user mattermost has uid {uid}, not the configured 4321 (uid 4321 belongs to redis)"),
        "not the configured 4321 (gid 4321 belongs to redis)",
        "The account exists like that now",
        "`userdel mattermost` and free uid 4321",
        "- create the directories and the links into the installation",
    ] {
        assert!(stopped.contains(want), "missing {want:?} in\n{stopped}");
    }
    assert!(
        !exec.record.applied.contains_key("sysusers"),
        "a failed step is not recorded as applied"
    );
}

#[test]
fn a_secret_mattermost_would_refuse_stops_apply_before_anything_changes() {
    let s = Scratch::new();
    write_file(
        &s.config,
        "external_url = \"http://chat.example.com\"\n[account]\nuid = 4321\ngid = 4321\n\
         [setting_files]\n\"SqlSettings.AtRestEncryptKey\" = \"/etc/mattermost-secrets/at-rest-key\"\n\
         \"EmailSettings.SMTPPassword\" = \"/etc/mattermost-secrets/smtp\"\n",
        0o644,
    );
    // What `jq -r` writes for a key GitLab 19 removed, and a key Mattermost refuses.
    write_file(
        &s.root.join("etc/mattermost-secrets/at-rest-key"),
        "0123456789abcdef\n",
        0o600,
    );
    write_file(&s.root.join("etc/mattermost-secrets/smtp"), "null\n", 0o600);
    let before = s.tree();
    for args in [&["--dry-run"][..], &[][..]] {
        let o = s.apply(args);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
        assert!(err.contains("16 characters"), "{err}");
        assert!(err.contains("`null`"), "{err}");
        assert!(!err.contains("0123456789abcdef"), "never the value: {err}");
        assert_eq!(s.tree(), before, "nothing may change");
    }
}

#[test]
fn reconfigure_is_apply_under_the_name_omnibus_admins_type() {
    let s = Scratch::new();
    let apply = ok(&s.apply(&["--dry-run"]));
    let o = Command::new(bin_path())
        .arg("reconfigure")
        .arg(&s.config)
        .arg("--root")
        .arg(&s.root)
        .arg("--dry-run")
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    assert_eq!(ok(&o), apply);
}
