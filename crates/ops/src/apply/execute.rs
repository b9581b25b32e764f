//! Carrying out a plan, step by step: files are written atomically, commands go through a
//! [`Runner`], and the record is saved after every step so it always matches the disk. The
//! first failing step stops everything and the report says exactly what state the host is in.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::paths::{Root, NGINX_CONF, RECORD, RENDER_DIR, SYSUSERS, TMPFILES};
use super::plan::{
    ApplyPlan, Change, Content, Database, FileAction, OnDisk, Part, Step, BACKUP_TMPFILES,
};
use super::record::{Installed, Record};
use super::runner::{Cmd, CmdOutput, Runner};
use crate::render::Files;

pub const UNIT_NAME: &str = "mattermost.service";
use crate::render::backup::TIMER as BACKUP_TIMER_NAME;

/// The commands a step runs (the database step decides between its last two at run time).
pub fn commands(step: &Step, root: &Root, start_timeout: Duration) -> Vec<Cmd> {
    let rooted = |tool: &str, host_path: &str, extra: &[&str]| {
        let mut argv = vec![tool.to_string()];
        if let Some(dir) = root.scratch_dir() {
            argv.push(format!("--root={}", dir.display()));
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv.push(root.path(host_path).display().to_string());
        Cmd::new(&argv)
    };
    let systemctl = |args: &[&str]| {
        let mut argv = vec!["systemctl"];
        argv.extend_from_slice(args);
        Cmd::new(&argv).host_only()
    };
    match step {
        Step::Install(_) | Step::Render => vec![],
        Step::Upgrade { database, .. } => {
            let mut cmds = vec![systemctl(&["stop", UNIT_NAME])];
            if let Some(db) = database {
                let sql = format!(
                    "SELECT current_setting('server_version_num') || ' ' || \
                     coalesce(pg_database_size(datname), 0) FROM pg_database WHERE datname = '{}'",
                    db.name.replace('\'', "''")
                );
                cmds.push(postgres_query(db, &sql));
            }
            cmds
        }
        Step::Sysusers => vec![rooted("systemd-sysusers", SYSUSERS, &[])],
        Step::Tmpfiles => vec![rooted("systemd-tmpfiles", TMPFILES, &["--create"])],
        Step::Nginx => {
            let test = match root.scratch_dir() {
                None => Cmd::new(&["nginx", "-t"]),
                Some(_) => {
                    let conf = root.path(NGINX_CONF);
                    let prefix = format!("{}/", root.path("/etc/nginx").display());
                    Cmd::new(&[
                        "nginx",
                        "-t",
                        "-p",
                        &prefix,
                        "-c",
                        &conf.display().to_string(),
                    ])
                }
            };
            vec![test, systemctl(&["reload-or-restart", "nginx.service"])]
        }
        Step::Database(db) => vec![
            postgres_query(db, "SELECT rolname FROM pg_roles"),
            postgres_query(
                db,
                "SELECT datname || '|' || pg_get_userbyid(datdba) FROM pg_database",
            ),
            postgres_tool(db, "createuser", &[db.user.as_str()]),
            postgres_tool(db, "createdb", &["-O", db.user.as_str(), db.name.as_str()]),
        ],
        Step::DaemonReload => vec![systemctl(&["daemon-reload"])],
        Step::Enable => vec![systemctl(&["enable", UNIT_NAME])],
        Step::Mattermost { .. } => {
            vec![systemctl(&["restart", UNIT_NAME]).timeout(start_timeout)]
        }
        Step::BackupTimer => vec![
            rooted("systemd-tmpfiles", BACKUP_TMPFILES, &["--create"]),
            systemctl(&["daemon-reload"]),
            systemctl(&["enable", BACKUP_TIMER_NAME]),
            // Started, or restarted so that a changed schedule counts from now on.
            systemctl(&["restart", BACKUP_TIMER_NAME]),
        ],
        Step::BackupTimerOff => vec![systemctl(&["disable", "--now", BACKUP_TIMER_NAME])],
    }
}

/// A PostgreSQL client tool run as the `postgres` OS user over the local socket (peer
/// authentication maps it to the superuser).
fn postgres_tool(db: &Database, tool: &str, rest: &[&str]) -> Cmd {
    let port = db.port.to_string();
    let mut argv = vec![
        "runuser",
        "-u",
        "postgres",
        "--",
        tool,
        "-h",
        db.socket_dir.as_str(),
        "-p",
        port.as_str(),
    ];
    argv.extend_from_slice(rest);
    Cmd::new(&argv).host_only()
}

/// One query as `postgres`, unaligned and tuples only.
fn postgres_query(db: &Database, sql: &str) -> Cmd {
    postgres_tool(
        db,
        "psql",
        &["-X", "-A", "-t", "-q", "-d", "postgres", "-c", sql],
    )
}

/// One line saying what a step does.
pub fn describe(step: &Step) -> String {
    match step {
        Step::Install(part) => format!("install {}", part.describe()),
        Step::Sysusers => "create the service account".into(),
        Step::Tmpfiles => "create the directories and the links into the installation".into(),
        Step::Nginx => "test nginx's configuration, then reload nginx".into(),
        Step::Database(db) => format!(
            "create PostgreSQL role {} and database {} owned by it, when missing",
            db.user, db.name
        ),
        Step::Render => format!("write the new rendering into {RENDER_DIR}"),
        Step::Upgrade { from, to, .. } => format!(
            "upgrade from {} to {}: check it can go, stop Mattermost, back up its database, files, config.json, plugins and secret files into {}",
            super::upgrade::describe(from),
            super::upgrade::describe(to),
            super::upgrade::UPGRADES_DIR
        ),
        Step::DaemonReload => "reload systemd's units".into(),
        Step::Enable => format!("enable {UNIT_NAME} (start at boot)"),
        Step::Mattermost { first: true } => {
            "start Mattermost and wait until it reports ready".into()
        }
        Step::Mattermost { first: false } => {
            "restart Mattermost (something it reads changed) and wait until it reports ready".into()
        }
        Step::BackupTimer => format!(
            "create the backup directory and enable and start {BACKUP_TIMER_NAME} (scheduled backups)"
        ),
        Step::BackupTimerOff => format!(
            "stop and disable {BACKUP_TIMER_NAME} (backup.schedule was removed)"
        ),
    }
}

/// Why apply stopped, and where that leaves the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub step: String,
    pub error: String,
    pub done: Vec<String>,
    pub not_done: Vec<String>,
    pub state: Vec<String>,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "apply stopped at: {}", self.step)?;
        for l in self.error.lines() {
            writeln!(f, "  {l}")?;
        }
        if !self.done.is_empty() {
            writeln!(f, "done before it:")?;
            for d in &self.done {
                writeln!(f, "  ✓ {d}")?;
            }
        }
        if !self.not_done.is_empty() {
            writeln!(f, "not done:")?;
            for d in &self.not_done {
                writeln!(f, "  - {d}")?;
            }
        }
        writeln!(f, "state of this host:")?;
        for s in &self.state {
            writeln!(f, "  {s}")?;
        }
        Ok(())
    }
}

pub struct Executor<'a> {
    pub root: &'a Root,
    pub runner: &'a mut dyn Runner,
    pub record: Record,
    pub rendered: &'a Files,
    /// What the rendering is made from (config and secret files): never inside the rendering.
    pub inputs: &'a [crate::output::Input],
    /// The install paths as they were when the plan was made.
    pub on_disk: &'a BTreeMap<String, OnDisk>,
    pub start_timeout: Duration,
    /// Progress lines.
    pub out: &'a mut dyn Write,
    /// Whether a spinner may be drawn while waiting for Mattermost.
    pub live: bool,
    /// An upgrade's context and measurements.
    pub upgrade: super::upgrade::Upgrade<'a>,
}

/// What was done, for the summary.
#[derive(Debug, Default)]
pub struct Done {
    pub lines: Vec<String>,
    pub notes: Vec<String>,
}

/// The previous nginx files and their record entries, to put back when `nginx -t` fails.
type NginxBackup = Vec<(String, OnDisk, Option<Installed>)>;

impl Executor<'_> {
    pub fn execute(&mut self, plan: &ApplyPlan) -> Result<Done, Box<Stopped>> {
        let mut done = Done::default();
        let mut backup: NginxBackup = Vec::new();
        let mut finished: Vec<Step> = Vec::new();
        for (n, planned) in plan.steps.iter().enumerate() {
            let what = describe(&planned.step);
            let result = self.step(plan, &planned.step, &mut backup, &mut done);
            match result {
                Ok(()) => {
                    if let Some((key, hash)) = &planned.effect {
                        match hash {
                            Some(h) => self.record.applied.insert(key.clone(), h.clone()),
                            None => self.record.applied.remove(key),
                        };
                    }
                    if let Err(e) = self.record.save(self.root) {
                        return Err(self.stopped(
                            plan,
                            n,
                            &what,
                            format!("{e:#}"),
                            &finished,
                            &done,
                        ));
                    }
                    let _ = writeln!(self.out, "✓ {what}");
                    done.lines.push(what);
                    finished.push(planned.step.clone());
                }
                Err(StepError {
                    message,
                    record_anyway,
                }) => {
                    if record_anyway {
                        if let Some((key, Some(h))) = &planned.effect {
                            self.record.applied.insert(key.clone(), h.clone());
                            let _ = self.record.save(self.root);
                        }
                    }
                    let _ = writeln!(self.out, "✗ {what}");
                    return Err(self.stopped(plan, n, &what, message, &finished, &done));
                }
            }
        }
        Ok(done)
    }

    fn stopped(
        &self,
        plan: &ApplyPlan,
        n: usize,
        what: &str,
        error: String,
        finished: &[Step],
        done: &Done,
    ) -> Box<Stopped> {
        let failed = &plan.steps[n].step;
        let not_done: Vec<String> = plan.steps[n + 1..]
            .iter()
            .map(|p| describe(&p.step))
            .collect();
        let mut state = Vec::new();
        match failed {
            Step::Nginx => state.push(
                "The previous nginx site is back in place and nginx was not reloaded.".to_string(),
            ),
            Step::Install(Part::Nginx) => state.push(
                "The nginx site files were put back as they were; nginx was not reloaded."
                    .to_string(),
            ),
            _ => {}
        }
        let rendered = finished.contains(&Step::Render);
        let wants_render = plan.steps.iter().any(|p| p.step == Step::Render);
        if wants_render && !rendered {
            state.push(format!(
                "{RENDER_DIR} still holds the previous rendering (it is only ever swapped whole)."
            ));
        }
        match failed {
            Step::Mattermost { .. } => state.push(format!(
                "The new rendering is installed, but Mattermost did not come up with it: see `systemctl status {UNIT_NAME}` and `journalctl -u {UNIT_NAME} -n 50`."
            )),
            _ if rendered => state.push(format!(
                "The new rendering is installed, but Mattermost was not restarted: it still runs the previous configuration (until `systemctl restart {UNIT_NAME}`)."
            )),
            _ => state.push(
                "Mattermost was not touched: it runs (or stays stopped) as before.".to_string(),
            ),
        }
        state.push(format!(
            "What succeeded is recorded in {RECORD}: fix the cause and run `gitlab-mattermost apply` again to continue."
        ));
        // A site put back is not a step done.
        let restored = describe(&Step::Install(Part::Nginx));
        let done_lines = done
            .lines
            .iter()
            .filter(|l| !(*failed == Step::Nginx && **l == restored))
            .cloned()
            .collect();
        Box::new(Stopped {
            step: what.to_string(),
            error,
            done: done_lines,
            not_done,
            state,
        })
    }

    fn step(
        &mut self,
        plan: &ApplyPlan,
        step: &Step,
        backup: &mut NginxBackup,
        done: &mut Done,
    ) -> Result<(), StepError> {
        match step {
            Step::Install(part) => {
                let actions: Vec<&FileAction> =
                    plan.files.iter().filter(|f| f.part == *part).collect();
                if *part == Part::Nginx {
                    *backup = actions
                        .iter()
                        .map(|a| {
                            (
                                a.path.clone(),
                                self.on_disk.get(&a.path).cloned().unwrap_or(OnDisk::Absent),
                                self.record.files.get(&a.path).cloned(),
                            )
                        })
                        .collect();
                }
                let result = self.install(&actions);
                if result.is_err() && *part == Part::Nginx {
                    self.restore(backup);
                }
                result.map_err(StepError::from)
            }
            Step::Render => crate::output::write_atomically(
                &self.root.path(RENDER_DIR),
                self.rendered,
                self.inputs,
            )
            .map(|_| ())
            .map_err(StepError::from),
            Step::Nginx => {
                let cmds = commands(step, self.root, self.start_timeout);
                let test = self.run(&cmds[0]).map_err(StepError::from)?;
                if !test.success() {
                    self.restore(backup);
                    return Err(StepError::new(format!(
                        "`{}` refused the configuration:\n{}",
                        cmds[0].line(),
                        test.stderr.trim_end()
                    )));
                }
                self.run_ok(&cmds[1])
            }
            Step::Database(db) => self.database(step, db, done),
            Step::Upgrade { from, to, .. } => self.upgrade(step, from, to),
            Step::Mattermost { .. } => self.mattermost(step),
            Step::Sysusers => {
                for cmd in commands(step, self.root, self.start_timeout) {
                    self.run_ok(&cmd)?;
                }
                // sysusers silently picks other ids when the configured ones are taken.
                super::account::verify(self.root).map_err(StepError::new)
            }
            _ => {
                for cmd in commands(step, self.root, self.start_timeout) {
                    self.run_ok(&cmd)?;
                }
                Ok(())
            }
        }
    }

    fn run(&mut self, cmd: &Cmd) -> Result<CmdOutput> {
        let out = self
            .runner
            .run(cmd)
            .with_context(|| format!("cannot run `{}`", cmd.line()))?;
        if out.skipped {
            let _ = writeln!(self.out, "  (not run under --root: {})", cmd.line());
        } else {
            tracing::info!("ran {} (exit {:?})", cmd.line(), out.code);
        }
        Ok(out)
    }

    fn run_ok(&mut self, cmd: &Cmd) -> Result<(), StepError> {
        let out = self.run(cmd)?;
        if out.success() {
            Ok(())
        } else {
            Err(StepError::new(format!(
                "`{}` failed (exit {}): {}",
                cmd.line(),
                out.code.map_or("by a signal".into(), |c| c.to_string()),
                out.last_line()
            )))
        }
    }

    fn install(&mut self, actions: &[&FileAction]) -> Result<()> {
        for a in actions {
            match (&a.change, &a.content) {
                (Change::Remove, _) => {
                    let p = self.root.path(&a.path);
                    match std::fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(e).with_context(|| format!("cannot remove {}", p.display()))
                        }
                    }
                    self.record.files.remove(&a.path);
                }
                (Change::Adopt, Some(c)) => {
                    self.record.files.insert(a.path.clone(), c.installed());
                }
                (_, Some(c)) => {
                    write_content(&self.root.path(&a.path), c)?;
                    self.record.files.insert(a.path.clone(), c.installed());
                }
                (_, None) => {}
            }
            // After each file, so the record never misses a file we wrote.
            self.record.save(self.root)?;
            let _ = writeln!(self.out, "  {} {}", a.change.word(), a.path);
        }
        Ok(())
    }

    /// Put the nginx files back as they were before this run.
    fn restore(&mut self, backup: &NginxBackup) {
        for (path, before, recorded) in backup {
            let p = self.root.path(path);
            let result = match before {
                OnDisk::Absent => match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                    _ => Ok(()),
                },
                OnDisk::File(bytes) => write_content(&p, &Content::File(bytes.clone())),
                OnDisk::Symlink(t) => write_content(&p, &Content::Symlink(t.clone())),
                OnDisk::Other(_) => Ok(()),
            };
            if let Err(e) = result {
                let _ = writeln!(self.out, "  cannot restore {path}: {e:#}");
            }
            match recorded {
                Some(r) => self.record.files.insert(path.clone(), r.clone()),
                None => self.record.files.remove(path),
            };
        }
        let _ = self.record.save(self.root);
        let _ = writeln!(self.out, "  restored the previous nginx site");
    }

    fn database(&mut self, step: &Step, db: &Database, done: &mut Done) -> Result<(), StepError> {
        let cmds = commands(step, self.root, self.start_timeout);
        let unreachable = |out: &CmdOutput| {
            StepError::new(format!(
                "cannot ask PostgreSQL over {} as the postgres user: {}\nIs PostgreSQL installed and running? `systemctl status postgresql`",
                db.socket_dir,
                out.last_line()
            ))
        };
        let roles = self.run(&cmds[0])?;
        if !roles.success() {
            return Err(unreachable(&roles));
        }
        if roles.skipped || !roles.stdout.lines().any(|l| l.trim() == db.user) {
            self.run_ok(&cmds[2])?;
            if !roles.skipped {
                done.lines
                    .push(format!("created PostgreSQL role {}", db.user));
            }
        }
        let dbs = self.run(&cmds[1])?;
        if !dbs.success() {
            return Err(unreachable(&dbs));
        }
        let owner = dbs.stdout.lines().find_map(|l| {
            let (name, owner) = l.trim().split_once('|')?;
            (name == db.name).then(|| owner.to_string())
        });
        match owner {
            None => {
                self.run_ok(&cmds[3])?;
                if !dbs.skipped {
                    done.lines.push(format!("created database {}", db.name));
                }
            }
            Some(o) if o != db.user => done.notes.push(format!(
                "database {} exists but is owned by {o}, not {}: Mattermost may lack privileges (`ALTER DATABASE {} OWNER TO {}`)",
                db.name, db.user, db.name, db.user
            )),
            Some(_) => {}
        }
        Ok(())
    }

    fn upgrade(&mut self, step: &Step, from: &str, to: &str) -> Result<(), StepError> {
        use super::upgrade::{self, LastUpgrade};
        let cmds = commands(step, self.root, self.start_timeout);
        // PostgreSQL's version and the database's size while the old server still runs: a
        // refusal stops nothing.
        let (postgres_major, database_bytes) = match cmds.get(1) {
            Some(query) => {
                let out = self.run(query).map_err(StepError::from)?;
                if out.skipped {
                    (None, 0)
                } else if out.success() {
                    let mut words = out.stdout.split_whitespace();
                    (
                        words.next().and_then(upgrade::postgres_major),
                        words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
                    )
                } else {
                    return Err(StepError::new(format!(
                        "cannot ask PostgreSQL for its version (`{}`): {}",
                        query.line(),
                        out.last_line()
                    )));
                }
            }
            None => (None, 0),
        };
        upgrade::preflight(from, to, self.upgrade.after_rollback, postgres_major)?;
        if let (Some(plan), false, None) = (
            self.upgrade.config,
            self.upgrade.after_rollback,
            self.root.scratch_dir(),
        ) {
            upgrade::check_space(plan, self.root, database_bytes)?;
        }
        self.run_ok(&cmds[0])?;
        self.upgrade.stopped_at = Some(std::time::Instant::now());
        let mut last = LastUpgrade {
            from: from.to_string(),
            to: to.to_string(),
            kind: if self.upgrade.after_rollback {
                "rollback"
            } else {
                "upgrade"
            }
            .into(),
            ..LastUpgrade::default()
        };
        if self.upgrade.after_rollback {
            let _ = writeln!(
                self.out,
                "  the database was restored by rollback: no new backup"
            );
        } else if self.root.scratch_dir().is_some() {
            let _ = writeln!(self.out, "  (not run under --root: the backup)");
        } else {
            let plan = self
                .upgrade
                .config
                .ok_or_else(|| StepError::new("no validated config to back up".to_string()))?;
            let (dir, took) =
                upgrade::back_up(plan, &self.root.path(upgrade::UPGRADES_DIR), from, to)?;
            let _ = writeln!(
                self.out,
                "  backed up into {} in {:.1} s; roll back with `gitlab-mattermost rollback <the previous config> --from {}`",
                dir.display(),
                took.as_secs_f64(),
                dir.display()
            );
            last.backup = Some(dir.display().to_string());
            last.backup_seconds = Some(took.as_secs_f64());
        }
        last.save(self.root)?;
        self.upgrade.last = Some(last);
        Ok(())
    }

    /// After Mattermost reported ready: the release it runs is recorded, and an upgrade's
    /// downtime (stop → ready) is said and kept in last.json.
    fn started(&mut self) {
        if !self.upgrade.release.is_empty() {
            self.record
                .applied
                .insert("release".into(), self.upgrade.release.clone());
            let _ = self.record.save(self.root);
        }
        if let (Some(stopped), Some(mut last)) =
            (self.upgrade.stopped_at.take(), self.upgrade.last.take())
        {
            let down = stopped.elapsed().as_secs_f64();
            last.downtime_seconds = Some(down);
            let _ = last.save(self.root);
            let _ = writeln!(
                self.out,
                "  {} from {} to {}: Mattermost was down {down:.1} s (stop → ready{})",
                if last.kind == "rollback" {
                    "rolled back"
                } else {
                    "upgraded"
                },
                super::upgrade::describe(&last.from),
                super::upgrade::describe(&last.to),
                last.backup_seconds
                    .map(|b| format!(", of which the backup took {b:.1} s"))
                    .unwrap_or_default()
            );
        }
    }

    fn mattermost(&mut self, step: &Step) -> Result<(), StepError> {
        let cmd = commands(step, self.root, self.start_timeout).remove(0);
        // No spinner for a command that is only shown (--root).
        let shown_only = cmd.host_only && self.root.scratch_dir().is_some();
        let spinner = (self.live && !shown_only).then(|| {
            let s = indicatif::ProgressBar::new_spinner();
            s.set_message(format!(
                "waiting for Mattermost to report ready (at most {} s)",
                self.start_timeout.as_secs()
            ));
            s.enable_steady_tick(Duration::from_millis(100));
            s
        });
        let out = self.run(&cmd);
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        let out = out?;
        if out.success() {
            self.started();
            return Ok(());
        }
        if out.timed_out {
            // The start job goes on with the new configuration: do not restart it again on
            // the next apply, which would interrupt a long first start (migrations).
            return Err(StepError {
                message: format!(
                    "Mattermost has not reported ready after {} s; systemd goes on starting it (a first start migrates the database, which can take long). Follow it with `journalctl -u {UNIT_NAME} -f`; `--start-timeout SECS` waits longer.",
                    self.start_timeout.as_secs()
                ),
                record_anyway: true,
            });
        }
        let journal = self
            .run(
                &Cmd::new(&[
                    "journalctl",
                    "-u",
                    UNIT_NAME,
                    "-n",
                    "20",
                    "--no-pager",
                    "-o",
                    "cat",
                ])
                .host_only(),
            )
            .map(|o| o.stdout)
            .unwrap_or_default();
        Err(StepError::new(format!(
            "`{}` failed: {}\nlast lines of its journal:\n{}",
            cmd.line(),
            out.last_line(),
            journal.trim_end()
        )))
    }
}

/// A failed step: the message, and whether its effect still counts as applied.
struct StepError {
    message: String,
    record_anyway: bool,
}

impl StepError {
    fn new(message: String) -> StepError {
        StepError {
            message,
            record_anyway: false,
        }
    }
}

impl From<anyhow::Error> for StepError {
    fn from(e: anyhow::Error) -> StepError {
        StepError::new(format!("{e:#}"))
    }
}

/// Write a file (mode 0644) or a symbolic link atomically, creating its directory.
fn write_content(path: &Path, content: &Content) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    match content {
        Content::File(bytes) => crate::output::write_file_atomically(path, bytes, 0o644),
        Content::Symlink(target) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.gitlab-mattermost-new"));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp)
                .with_context(|| format!("cannot create a link in {}", dir.display()))?;
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("cannot sync {}", dir.display()))
        }
    }
}
