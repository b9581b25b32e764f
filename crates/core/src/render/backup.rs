//! Scheduled backups (`backup.schedule`): `systemd/gitlab-mattermost-backup.service`, which
//! runs `gitlab-mattermost backup --keep N --to DIR` once, its timer, and the tmpfiles.d line
//! that creates the backup directory (root's, mode 0700: backups hold the secret files).
//!
//! The service runs as root: it reads the database as the service account (peer
//! authentication; `backup` switches to it for `pg_dump`) and files only that account and root
//! may read. Everything but the backup directory is read-only to it.

use super::UnitFile;
use crate::schema::DatabaseKind;
use crate::syntax::systemd::{exec_arg, exec_program, literal, word};
use crate::validate::Plan;

/// The unit names, as installed.
pub const SERVICE: &str = "gitlab-mattermost-backup.service";
pub const TIMER: &str = "gitlab-mattermost-backup.timer";

/// The rendered files, by path relative to the output directory.
pub const SERVICE_FILE: &str = "systemd/gitlab-mattermost-backup.service";
pub const TIMER_FILE: &str = "systemd/gitlab-mattermost-backup.timer";
pub const TMPFILES_FILE: &str = "tmpfiles.d/gitlab-mattermost-backup.conf";

/// How the backup service names the config: the files and `--set` overrides the config was
/// given to `apply` with. Empty: the command's own default (`$GITLAB_MATTERMOST_CONFIG`, else
/// `/etc/gitlab-mattermost.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigInvocation {
    /// Config files, absolute.
    pub files: Vec<String>,
    /// `--set KEY=VALUE` overrides, in order.
    pub sets: Vec<String>,
}

/// The three files, when `backup.schedule` is set.
pub fn render(plan: &Plan, config: &ConfigInvocation) -> Option<[(&'static str, String); 3]> {
    let schedule = plan.config.backup.schedule.as_ref()?;
    Some([
        (SERVICE_FILE, service(plan, config)),
        (TIMER_FILE, timer(plan, schedule)),
        (TMPFILES_FILE, tmpfiles(plan)),
    ])
}

/// Hardening of the backup service. It keeps root's access to every file (it copies the
/// service's files and secret files) and the network (an external database); the rest goes.
const HARDENING: &[&str] = &[
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "KeyringMode=private",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "RestrictNamespaces=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallErrorNumber=EPERM",
    "CapabilityBoundingSet=~CAP_SYS_ADMIN CAP_SYS_MODULE CAP_SYS_PTRACE CAP_SYS_BOOT CAP_SYS_TIME CAP_SYS_RAWIO CAP_NET_ADMIN CAP_MKNOD CAP_SYS_TTY_CONFIG CAP_WAKE_ALARM CAP_LINUX_IMMUTABLE CAP_BPF CAP_SYSLOG",
];

fn service(plan: &Plan, config: &ConfigInvocation) -> String {
    let c = &plan.config;
    let b = &c.backup;
    let mut u = UnitFile::new(&format!(
        "Back up Mattermost for {} (database, files, config.json, plugins, secret files)",
        literal(&plan.site_url.url)
    ));
    if c.database.kind == DatabaseKind::Local {
        u.line("After=network-online.target postgresql.service");
    } else {
        u.line("After=network-online.target");
    }
    u.line("Wants=network-online.target");
    u.line("");
    u.line("[Service]");
    u.line("Type=oneshot");
    u.line(&format!("ExecStart={}", exec_start(plan, config)));
    // The backups hold the secret files: nothing in them for anyone but root.
    u.line("UMask=0077");
    u.line("Nice=19");
    u.line("IOSchedulingClass=idle");
    u.line(&format!("ReadWritePaths={}", word(&b.directory)));
    if c.database.kind == DatabaseKind::Local {
        u.line(&format!("ReadWritePaths={}", word(&c.database.socket_dir)));
    }
    for h in HARDENING {
        u.line(h);
    }
    u.into_string()
}

/// `ExecStart=`: `<wrapper> backup --keep N --to DIR [CONFIG…] [--set KEY=VALUE…]`.
fn exec_start(plan: &Plan, config: &ConfigInvocation) -> String {
    let b = &plan.config.backup;
    let mut args = vec![
        "backup".to_string(),
        "--keep".into(),
        b.keep.to_string(),
        "--to".into(),
        b.directory.clone(),
    ];
    for s in &config.sets {
        args.push("--set".into());
        args.push(s.clone());
    }
    if !config.files.is_empty() {
        // After `--`: a config file whose name starts with `-` stays a file.
        args.push("--".into());
        args.extend(config.files.iter().cloned());
    }
    let mut s = exec_program(&plan.config.mattermost.wrapper);
    for a in &args {
        s.push(' ');
        s.push_str(&exec_arg(a));
    }
    s
}

fn timer(plan: &Plan, schedule: &str) -> String {
    let mut u = UnitFile::new(&format!(
        "Back up Mattermost for {} on schedule",
        literal(&plan.site_url.url)
    ));
    u.line("");
    u.line("[Timer]");
    // The schedule is checked to be one line of calendar characters; `%` cannot occur.
    u.line(&format!("OnCalendar={}", literal(schedule)));
    // A run missed while the host was off is made up at the next boot.
    u.line("Persistent=true");
    u.line("RandomizedDelaySec=10min");
    u.line("");
    u.line("[Install]");
    u.line("WantedBy=timers.target");
    u.into_string()
}

fn tmpfiles(plan: &Plan) -> String {
    format!(
        "# {}\nd {} 0700 root root - -\n",
        super::HEADER,
        word(&plan.config.backup.directory)
    )
}
