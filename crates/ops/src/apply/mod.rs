//! `apply`: the plain-host equivalent of `nixos-rebuild switch` (Omnibus's `gitlab-ctl
//! reconfigure`). It renders into /etc/gitlab-mattermost, installs the unit, sysusers.d,
//! tmpfiles.d and the nginx site, creates the account, directories and a local database,
//! reloads nginx and (re)starts Mattermost only when something it reads changed.
//!
//! Structure: the host is read once ([`gather`]), a pure [`plan::plan`] decides every file
//! change and step (refusing any file `apply` did not install), and an [`execute::Executor`]
//! carries it out through a [`runner::Runner`], saving the record after every step.

pub mod account;
pub mod execute;
pub mod plan;
pub mod record;
pub mod rollback;
pub mod runner;

// The release record, the upgrade backup and the host paths they share belong to the start
// of the service (the upgrade guard), so they live with the backups.
pub use gitlab_mattermost_backup::{guard, paths, upgrade};

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use self::execute::{commands, describe, Executor};
use self::paths::{NginxLayout, Root, LOCK, RENDER_DIR};
use self::plan::{ApplyPlan, Database, Inputs, OnDisk, Rendering, Step};
use self::record::Record;
use self::runner::SystemRunner;
use super::args::{CheckName, DoctorArgs, NetArgs};
use crate::config_args::ConfigArgs;
use crate::diag::{Diagnostic, Diagnostics};
use crate::render::{self, Files, Target};
use crate::schema::DatabaseKind;
use crate::validate::Plan;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the plan (which files change, which commands would run) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print the plan as JSON (each step with the files it changes and the
    /// commands it runs) for scripts.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Seconds to wait for Mattermost to report ready after a (re)start. A first start
    /// migrates the database and can take minutes.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub start_timeout: u64,
    /// Skip the doctor summary at the end.
    #[arg(long)]
    pub no_doctor: bool,
    /// For tests only: treat DIR as the host's `/`. Files are read and written under DIR,
    /// systemd-sysusers/systemd-tmpfiles get `--root=DIR`, nginx -t reads DIR's nginx.conf,
    /// and commands that act on the running host (systemctl, PostgreSQL) are shown, not run.
    #[arg(long, value_name = "DIR", hide = true)]
    pub root: Option<PathBuf>,
    /// Set by `rollback`: the database was restored to what the configured (older) release
    /// ran, so it may start on it, without another backup.
    #[arg(skip)]
    pub after_rollback: bool,
}

/// Why apply did not finish.
pub enum ApplyError {
    /// Refused before changing anything: exit 2.
    Refused(Diagnostics),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for ApplyError {
    fn from(e: anyhow::Error) -> Self {
        ApplyError::Other(e)
    }
}

impl From<Diagnostics> for ApplyError {
    fn from(d: Diagnostics) -> Self {
        ApplyError::Refused(d)
    }
}

/// Everything read from the host before planning.
#[derive(Debug)]
pub struct Gathered {
    pub rendered: Files,
    pub rendering: Rendering,
    pub record: Record,
    pub on_disk: BTreeMap<String, OnDisk>,
    pub nginx: Option<NginxLayout>,
    pub database: Option<Database>,
    /// The release the config runs (upgrade::release_key).
    pub release: String,
}

impl Gathered {
    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            rendered: &self.rendered,
            rendering: &self.rendering,
            record: &self.record,
            on_disk: &self.on_disk,
            nginx: self.nginx,
            database: self.database.clone(),
            release: &self.release,
        }
    }
}

pub fn run(config: &Plan, args: &ApplyArgs) -> Result<ExitCode, ApplyError> {
    let root = match &args.root {
        Some(dir) => Root::scratch(std::path::absolute(dir).map_err(anyhow::Error::from)?),
        None => Root::host(),
    };
    if root.scratch_dir().is_none() && super::users::effective_uid() != 0 {
        return Err(Diagnostics::from(
            Diagnostic::new(
                "",
                format!(
                    "apply installs system files and restarts services, so it runs as root (this is {})",
                    super::users::effective_user_name()
                ),
            )
            .with_hint("run it as root: `sudo gitlab-mattermost apply …` (with `--dry-run` too: the plan reads root-only files)"),
        )
        .into());
    }
    // The service user reads the rendering (its ExecStart= loads mattermost.env) and nginx
    // and systemd read the installed files: a root umask of 077 must not make them private.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let mut gathered = gather(config, &args.config.files, &args.config.sets, &root)?;
    let mut plan = plan::plan(&gathered.inputs())?;
    // Planned without the lock, so a refusal leaves no trace; a plan that changes something
    // is made again under the lock, from the host as it is then.
    let _lock = if args.dry_run || plan.is_empty() {
        None
    } else {
        let held = lock(&root)?;
        gathered = gather(config, &args.config.files, &args.config.sets, &root)?;
        plan = plan::plan(&gathered.inputs())?;
        Some(held)
    };
    let timeout = Duration::from_secs(args.start_timeout.max(1));
    if args.json {
        println!("{}", plan_json(&plan, &root, timeout));
        return Ok(ExitCode::SUCCESS);
    }
    if plan.is_empty() {
        println!(
            "{}no changes, nothing {}restarted: every installed file is current",
            if args.dry_run { "dry run: " } else { "" },
            if args.dry_run { "would be " } else { "" }
        );
    } else {
        println!("{}", plan_text(&plan, &root, timeout, args.dry_run));
    }
    if args.dry_run {
        if !plan.is_empty() {
            println!("dry run: nothing was changed");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !plan.is_empty() {
        let mut runner = SystemRunner {
            scratch: root.scratch_dir().is_some(),
        };
        let mut out = std::io::stdout();
        let inputs: Vec<crate::output::Input> = args
            .config
            .files
            .iter()
            .map(|f| crate::output::Input::new(f, "the config file"))
            .chain(
                config
                    .credentials
                    .iter()
                    .map(|c| crate::output::Input::new(&c.path, "the secret file")),
            )
            .collect();
        let mut exec = Executor {
            inputs: &inputs,
            root: &root,
            runner: &mut runner,
            record: gathered.record.clone(),
            rendered: &gathered.rendered,
            on_disk: &gathered.on_disk,
            start_timeout: timeout,
            out: &mut out,
            live: std::io::stderr().is_terminal(),
            upgrade: upgrade::Upgrade {
                config: Some(config),
                release: gathered.release.clone(),
                after_rollback: args.after_rollback,
                stopped_at: None,
                last: None,
            },
        };
        match exec.execute(&plan) {
            Ok(done) => {
                for n in &done.notes {
                    println!("note: {n}");
                }
                if plan.restarts_mattermost() {
                    println!("applied: Mattermost runs the new configuration");
                } else {
                    println!("applied: Mattermost was not restarted (nothing it reads changed)");
                }
                println!(
                    "next: open {}; `gitlab-mattermost logs` shows Mattermost's log, `gitlab-mattermost doctor` checks what it depends on, and after a change to the config run apply again",
                    config.site_url.url
                );
            }
            Err(stopped) => {
                eprint!("{stopped}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    if !args.no_doctor && root.scratch_dir().is_none() {
        doctor_summary(config, &args.config);
    }
    Ok(ExitCode::SUCCESS)
}

/// One apply at a time: a second one would plan from a host the first is changing. The lock
/// goes with the process, however it ends.
fn lock(root: &Root) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    let path = root.path(LOCK);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => anyhow::bail!(
            "another gitlab-mattermost apply is running (it holds {LOCK}): wait until it has finished"
        ),
        Err(e) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Read the host: render, read the rendered directory, the record, the install paths.
pub fn gather(
    config: &Plan,
    files: &[PathBuf],
    sets: &[String],
    root: &Root,
) -> Result<Gathered, ApplyError> {
    let mut refusals = Diagnostics::default();
    let invocation = backup_invocation(config, files, sets, &mut refusals);
    refuse_configs_inside_rendering(files, root, &mut refusals);
    check_installation(config, root, &mut refusals);
    account::check(&config.config.account, root, &mut refusals);
    refuse_unusable_secrets(config, root, &mut refusals);
    // With nginx.install = false another nginx includes the rendered vhost: apply leaves
    // this host's nginx alone.
    let nginx = if config.config.nginx.enable && config.config.nginx.install {
        match paths::detect_nginx(root) {
            Ok(l) => Some(l),
            Err(d) => {
                refusals.push(d);
                None
            }
        }
    } else {
        None
    };
    let rendering = match read_rendering(root) {
        Ok(r) => r,
        Err(d) => {
            refusals.push(d);
            Rendering::Absent
        }
    };
    let record = Record::load(root)?;
    if !refusals.is_empty() {
        return Err(refusals.into());
    }
    let rendered = render::render_all_for(
        config,
        &Target {
            dir: RENDER_DIR.into(),
        },
        &invocation,
    );
    let mut on_disk = BTreeMap::new();
    for p in plan::paths_to_read(&rendered, nginx, &record) {
        let state = read_on_disk(&root.path(&p)).map_err(anyhow::Error::from)?;
        on_disk.insert(p, state);
    }
    let db = &config.config.database;
    let database = (db.kind == DatabaseKind::Local).then(|| Database {
        user: db.user.clone(),
        name: db.name.clone(),
        socket_dir: db.socket_dir.clone(),
        port: db.port,
    });
    Ok(Gathered {
        rendered,
        rendering,
        record,
        on_disk,
        nginx,
        database,
        release: upgrade::release_key(config, root),
    })
}

/// The scheduled backup reads the config as apply did: the same files (absolute) and `--set`
/// overrides. A file name the unit cannot carry (not UTF-8) is refused when backups are
/// scheduled.
fn backup_invocation(
    config: &Plan,
    files: &[PathBuf],
    sets: &[String],
    refusals: &mut Diagnostics,
) -> render::backup::ConfigInvocation {
    let mut invocation = render::backup::ConfigInvocation {
        files: Vec::new(),
        sets: sets.to_vec(),
    };
    if config.config.backup.schedule.is_none() {
        return invocation;
    }
    for f in files {
        let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
        match abs.to_str() {
            Some(s) => invocation.files.push(s.to_string()),
            None => refusals.push(
                Diagnostic::new(
                    "backup.schedule",
                    format!(
                        "the backup service would read the config {}, whose name is not UTF-8 and cannot be written into its unit",
                        abs.display()
                    ),
                )
                .with_hint("rename the config file, e.g. to /etc/gitlab-mattermost.toml"),
            ),
        }
    }
    invocation
}

/// A secret Mattermost would refuse (empty, the text `null`, an AtRestEncryptKey under 32
/// characters) stops apply before anything changes: otherwise Mattermost fails to start after
/// the old server was stopped. Values are never printed.
fn refuse_unusable_secrets(config: &Plan, root: &Root, refusals: &mut Diagnostics) {
    for c in &config.credentials {
        let path = root.path(&c.path);
        let Some(shown) = path.to_str() else { continue };
        if let Err((what, fix)) = crate::doctor::secrets::content_problem(config, &c.name, shown) {
            refusals.push(
                Diagnostic::new("", format!("secret file {} ({}): {what}", c.path, c.name))
                    .with_hint(fix),
            );
        }
    }
}

/// The rendered directory is replaced as a whole: a config kept in it would be lost.
fn refuse_configs_inside_rendering(files: &[PathBuf], root: &Root, refusals: &mut Diagnostics) {
    let dir = root.path(RENDER_DIR);
    let dir = dir.canonicalize().unwrap_or(dir);
    for f in files {
        let abs = f
            .canonicalize()
            .or_else(|_| std::path::absolute(f))
            .unwrap_or_else(|_| f.clone());
        if abs.starts_with(&dir) {
            refusals.push(
                Diagnostic::new(
                    f.display().to_string(),
                    format!(
                        "the config lives inside {RENDER_DIR}, which apply replaces as a whole"
                    ),
                )
                .with_hint(format!(
                    "move it out, e.g. `mv {} /etc/gitlab-mattermost.toml`",
                    f.display()
                )),
            );
        }
    }
}

/// The unit starts the wrapper and Mattermost: both must be there.
fn check_installation(config: &Plan, root: &Root, refusals: &mut Diagnostics) {
    let m = &config.config.mattermost;
    let executable = |p: &str| super::files::is_executable_file(&root.path(p));
    let server = m.server_binary();
    if !executable(&server) {
        refusals.push(
            Diagnostic::new(
                "mattermost.install_dir",
                format!("no Mattermost server at {server}"),
            )
            .with_hint(format!(
                "unpack a Mattermost release there (`tar -xzf mattermost-11.7.x-linux-amd64.tar.gz -C {}`), or set mattermost.install_dir",
                Path::new(&m.install_dir).parent().map_or("/opt".into(), |p| p.display().to_string())
            )),
        );
    }
    if !executable(&m.wrapper) {
        refusals.push(
            Diagnostic::new(
                "mattermost.wrapper",
                format!(
                    "no gitlab-mattermost at {}: the unit's ExecStart= runs it",
                    m.wrapper
                ),
            )
            .with_hint(wrapper_hint(&m.wrapper)),
        );
    }
}

/// What to do when the unit's wrapper is missing: install the package (which puts the command
/// at the default path), or point the config at this very command when it runs from elsewhere
/// (a `cargo install` into /usr/local/bin, say).
fn wrapper_hint(wrapper: &str) -> String {
    let running = std::env::current_exe()
        .ok()
        .filter(|p| p.is_absolute() && super::files::is_executable_file(p))
        .map(|p| p.display().to_string())
        .filter(|p| p != wrapper);
    match running {
        Some(path) => format!(
            "this command runs from {path}: set mattermost.wrapper = \"{path}\", or install the \
             package (`apt-get install ./gitlab-mattermost_*_amd64.deb` puts it at \
             /usr/bin/gitlab-mattermost)"
        ),
        None => "install the package (`apt-get install ./gitlab-mattermost_*_amd64.deb` puts it \
                 at /usr/bin/gitlab-mattermost), or set mattermost.wrapper to where the command is"
            .into(),
    }
}

/// The rendered directory: absent, or exactly what its manifest lists.
fn read_rendering(root: &Root) -> Result<Rendering, Diagnostic> {
    let dir = root.path(RENDER_DIR);
    if !dir.exists() {
        return Ok(Rendering::Absent);
    }
    let foreign = |what: String| {
        Diagnostic::new(RENDER_DIR, format!("{what}; apply replaces this directory as a whole"))
            .with_hint(format!(
                "move what you keep there elsewhere (the config e.g. to /etc/gitlab-mattermost.toml), or `mv {RENDER_DIR} {RENDER_DIR}.orig`"
            ))
    };
    let manifest = std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(listed) = manifest
        .as_ref()
        .and_then(|m| m.get("files"))
        .and_then(|f| f.as_object())
    else {
        return Err(foreign(
            "it exists but has no manifest.json of a rendering".into(),
        ));
    };
    let hashes: BTreeMap<String, String> = listed
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let mut unknown = Vec::new();
    for (rel, bytes) in files_under(&dir) {
        if rel == "manifest.json" {
            continue;
        }
        match hashes.get(&rel) {
            Some(h) if *h == render::manifest::sha256_hex(&bytes) => {}
            Some(_) => unknown.push(format!("{rel} (edited)")),
            None => unknown.push(rel),
        }
    }
    if unknown.is_empty() {
        Ok(Rendering::Ours(hashes))
    } else {
        Err(foreign(format!(
            "it holds files that are not (or no longer) the rendering: {}",
            unknown.join(", ")
        )))
    }
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push((
                    rel.to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

pub fn read_on_disk(path: &Path) -> std::io::Result<OnDisk> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OnDisk::Absent),
        Err(e) => return Err(e),
    };
    let t = meta.file_type();
    Ok(if t.is_symlink() {
        OnDisk::Symlink(std::fs::read_link(path)?.to_string_lossy().into_owned())
    } else if t.is_file() {
        OnDisk::File(std::fs::read(path)?)
    } else if t.is_dir() {
        OnDisk::Other("directory")
    } else {
        OnDisk::Other("special file")
    })
}

/// The plan, as a reader checks it before anything happens.
/// The plan for scripts (`apply --dry-run --json`): each step, the files it changes and the
/// commands it runs, in order.
pub fn plan_json(plan: &ApplyPlan, root: &Root, timeout: Duration) -> String {
    let steps: Vec<serde_json::Value> = plan
        .steps
        .iter()
        .map(|p| {
            let files: Vec<serde_json::Value> = match &p.step {
                Step::Install(part) => plan
                    .files
                    .iter()
                    .filter(|f| f.part == *part)
                    .map(|f| serde_json::json!({"change": f.change.word(), "path": f.path}))
                    .collect(),
                _ => Vec::new(),
            };
            let commands: Vec<String> = commands(&p.step, root, timeout)
                .iter()
                .map(|c| c.line())
                .collect();
            serde_json::json!({
                "step": describe(&p.step),
                "files": files,
                "commands": commands,
            })
        })
        .collect();
    let report = serde_json::json!({
        "changes": !plan.is_empty(),
        "steps": steps,
    });
    format!("{report:#}")
}

pub fn plan_text(plan: &ApplyPlan, root: &Root, timeout: Duration, dry_run: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if plan.is_empty() {
        let _ = write!(
            s,
            "plan: no changes, nothing {}restarted",
            if dry_run { "would be " } else { "" }
        );
        return s;
    }
    let _ = writeln!(s, "plan{}:", if dry_run { " (dry run)" } else { "" });
    for (n, p) in plan.steps.iter().enumerate() {
        let _ = writeln!(s, "  {}. {}", n + 1, describe(&p.step));
        let cmds = commands(&p.step, root, timeout);
        match &p.step {
            Step::Install(part) => {
                for f in plan.files.iter().filter(|f| f.part == *part) {
                    let _ = writeln!(s, "       {} {}", f.change.word(), f.path);
                }
            }
            Step::Render => {
                let _ = writeln!(s, "       {}", rendering_text(&plan.rendering));
            }
            Step::Database(_) => {
                let _ = writeln!(s, "       $ {}", cmds[0].line());
                let _ = writeln!(s, "       $ {}", cmds[1].line());
                let _ = writeln!(
                    s,
                    "       $ {}   (when the role is missing)",
                    cmds[2].line()
                );
                let _ = writeln!(
                    s,
                    "       $ {}   (when the database is missing)",
                    cmds[3].line()
                );
            }
            Step::Mattermost { .. } => {
                let _ = writeln!(
                    s,
                    "       $ {}   (waits at most {} s)",
                    cmds[0].line(),
                    timeout.as_secs()
                );
            }
            _ => {
                for c in cmds {
                    let _ = writeln!(s, "       $ {}", c.line());
                }
            }
        }
    }
    for n in &plan.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    let _ = write!(
        s,
        "  Mattermost: {}",
        match plan.steps.iter().find_map(|p| match p.step {
            Step::Mattermost { first } => Some(first),
            _ => None,
        }) {
            Some(true) => "started",
            Some(false) => "restarted",
            None => "not restarted (nothing it reads changes)",
        }
    );
    s
}

/// The rendered files that change, in one line.
fn rendering_text(changes: &[(String, plan::Change)]) -> String {
    if changes.iter().all(|(_, c)| *c == plan::Change::Create) {
        return format!("{} new files", changes.len());
    }
    changes
        .iter()
        .map(|(rel, c)| format!("{} {rel}", c.word()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The doctor's checks, as a short table; never fails apply.
fn doctor_summary(config: &Plan, files: &ConfigArgs) {
    println!("doctor:");
    let args = DoctorArgs {
        config: files.clone(),
        send_to: None,
        json: false,
        only: Vec::new(),
        token_file: None,
        // Peer authentication: the database check reruns as the service user.
        as_user: true,
        net: NetArgs {
            ca_file: None,
            timeout: 10,
        },
    };
    let roots = match super::tls::trusted_roots(None) {
        Ok(r) => r,
        Err(e) => {
            println!("  skipped: {e:#}");
            return;
        }
    };
    let ctx = super::doctor::Ctx {
        plan: config,
        args: &args,
        roots,
        timeout: args.net.timeout(),
    };
    let outcomes = super::doctor::run_all(&ctx, &CheckName::ALL, std::io::stderr().is_terminal());
    print!("{}", super::doctor::table(&outcomes));
    if outcomes
        .iter()
        .any(|o| o.status == super::doctor::Status::Fail)
    {
        println!("apply finished; the doctor found problems above (`gitlab-mattermost doctor` checks again)");
    }
}

#[cfg(test)]
mod tests;
