//! `mmctl`: Mattermost's command-line client in local mode, as the service user, over the
//! socket the rendered unit gives Mattermost.
//!
//! Local mode needs no login or token: whoever can open the socket is a system admin. The
//! socket is Mattermost's own (mode 0600, owned by the service user), and `mmctl --local`
//! refuses a socket its caller does not own unless the caller is root, so the client runs as
//! the service user: from root the privileges are dropped (supplementary groups cleared, then
//! the group, then the user) in this process, which then becomes mmctl (`execve`), so mmctl's
//! exit code is the command's.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Result};
use clap::Args;

use super::users;
use crate::config_args::ConfigArgs;
use crate::validate::Plan;

#[derive(Debug, Args)]
pub struct MmctlArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// mmctl's arguments (after `--`), e.g. `user list` or `config get SqlSettings.DriverName`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<OsString>,
}

/// Variables passed through from the caller: the terminal, the language, mmctl's own
/// settings. Everything else (root's HOME, XDG directories, secrets in the caller's
/// environment) stays behind.
const PASSED_THROUGH: &[&str] = &["TERM", "LANG", "LANGUAGE", "TZ", "NO_COLOR", "COLUMNS"];

/// The environment variable mmctl reads the local-mode socket's path from.
pub const SOCKET_VARIABLE: &str = "MMCTL_LOCAL_SOCKET_PATH";

/// Who runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub euid: u32,
}

/// The service account, as the system knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAccount {
    pub uid: u32,
    pub gid: u32,
}

/// Exactly what is executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<OsString>,
    /// The whole environment (nothing else is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// The account to switch to first; `None` when the caller already is the service user.
    pub switch_to: Option<ServiceAccount>,
}

/// Check everything that can be checked, then become mmctl.
pub fn run(plan: &Plan, args: &MmctlArgs) -> Result<Infallible> {
    let caller = Caller {
        euid: users::effective_uid(),
    };
    let account = &plan.config.account;
    let service = users::lookup(&account.user).map(|u| ServiceAccount {
        uid: u.uid,
        gid: users::lookup_group(&account.group).unwrap_or(u.gid),
    });
    let inv = prepare(plan, &args.args, caller, service, std::env::vars_os())?;
    tracing::info!(program = %inv.program.display(), args = ?inv.args, switch_to = ?inv.switch_to, "running mmctl");
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().cloned());
    if let Some(a) = inv.switch_to {
        // std drops the supplementary groups (setgroups(0)), then calls setgid and setuid
        // before the exec: the same order runuser uses, in this process.
        cmd.gid(a.gid).uid(a.uid);
    }
    let e = cmd.exec();
    bail!("cannot run {}: {e}", inv.program.display())
}

/// Decide what to run; every refusal says what to do instead.
pub fn prepare(
    plan: &Plan,
    mmctl_args: &[OsString],
    caller: Caller,
    service: Option<ServiceAccount>,
    caller_env: impl Iterator<Item = (OsString, OsString)>,
) -> Result<Invocation> {
    let c = &plan.config;
    let user = &c.account.user;
    let Some(local) = &plan.local_mode else {
        bail!(
            "local mode is off, so mmctl has no socket to talk to: the config sets settings.ServiceSettings.EnableLocalMode = false (it is on by default); remove that line, then run `gitlab-mattermost apply`"
        );
    };
    let switch_to = match service {
        Some(a) if caller.euid == a.uid => None,
        Some(a) if caller.euid == 0 => Some(a),
        None if caller.euid == 0 => bail!(
            "the service user {user} does not exist yet: run `gitlab-mattermost apply` first (it creates the account)"
        ),
        _ => bail!(
            "run it as root or as {user}: the local-mode socket is {user}'s alone (e.g. `sudo gitlab-mattermost mmctl CONFIG -- ARGS`)"
        ),
    };
    let program = PathBuf::from(c.mattermost.mmctl_binary());
    match std::fs::metadata(&program) {
        Ok(_) if super::files::is_executable_file(&program) => {}
        Ok(_) => bail!(
            "{} is not an executable file (mattermost.mmctl; by default <mattermost.install_dir>/bin/mmctl)",
            program.display()
        ),
        Err(e) => bail!(
            "mmctl not found at {} ({e}): Mattermost's release tarball has it in bin/ beside the server; set mattermost.mmctl to where it is",
            program.display()
        ),
    }
    let unit = "mattermost.service";
    match std::fs::metadata(&local.socket) {
        Ok(m) if m.file_type().is_socket() => {}
        Ok(_) => bail!(
            "{} is not a socket: is another program using that path? Mattermost creates the socket when it starts in local mode",
            local.socket
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no local-mode socket at {}: Mattermost is not running, or it runs without local mode (after enabling it, run `gitlab-mattermost apply`). Check with `systemctl status {unit}`",
            local.socket
        ),
        Err(e) => bail!("cannot reach the local-mode socket {}: {e}", local.socket),
    }
    let mut args = vec![OsString::from("--local")];
    args.extend(mmctl_args.iter().cloned());
    Ok(Invocation {
        program,
        args,
        env: environment(plan, caller_env),
        switch_to,
    })
}

/// mmctl's environment: a fixed PATH, the service user's identity and home (the data
/// directory, as in the unit), the socket, and the caller's terminal and language.
fn environment(
    plan: &Plan,
    caller_env: impl Iterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let c = &plan.config;
    let mut env: Vec<(OsString, OsString)> = caller_env
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            PASSED_THROUGH.contains(&k.as_ref())
                || k.starts_with("LC_")
                || (k.starts_with("MMCTL_") && k != SOCKET_VARIABLE)
        })
        .collect();
    let socket = plan
        .local_mode
        .as_ref()
        .map(|l| l.socket.clone())
        .unwrap_or_default();
    for (k, v) in [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("HOME", c.directories.data.as_str()),
        ("USER", c.account.user.as_str()),
        ("LOGNAME", c.account.user.as_str()),
        (SOCKET_VARIABLE, socket.as_str()),
    ] {
        env.push((k.into(), v.into()));
    }
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &[&str]) -> Plan {
        let mut sets = vec![
            "settings.ServiceSettings.EnableLocalMode=true".to_string(),
            "mattermost.mmctl=/bin/sh".to_string(),
        ];
        sets.extend(extra.iter().map(|s| s.to_string()));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "external_url = \"http://mm.example.com\"\n").unwrap();
        crate::load(&[file], &sets).expect("valid")
    }

    const SERVICE: ServiceAccount = ServiceAccount { uid: 990, gid: 991 };

    fn refusal(plan: &Plan, euid: u32, service: Option<ServiceAccount>) -> String {
        prepare(plan, &[], Caller { euid }, service, std::iter::empty())
            .map(|i| format!("unexpectedly prepared {i:?}"))
            .unwrap_or_else(|e| format!("{e:#}"))
    }

    #[test]
    fn local_mode_off_is_refused_first() {
        let p = plan(&["settings.ServiceSettings.EnableLocalMode=false"]);
        assert!(refusal(&p, 0, Some(SERVICE)).contains("local mode is off"));
    }

    #[test]
    fn only_root_and_the_service_user_may_run_it() {
        let p = plan(&[]);
        let e = refusal(&p, 1000, Some(SERVICE));
        assert!(e.contains("run it as root or as mattermost"), "{e}");
        let e = refusal(&p, 0, None);
        assert!(e.contains("does not exist yet"), "{e}");
    }

    #[test]
    fn a_missing_mmctl_names_where_it_looked() {
        let p = plan(&["mattermost.mmctl=/nonexistent/bin/mmctl"]);
        let e = refusal(&p, 0, Some(SERVICE));
        assert!(
            e.contains("mmctl not found at /nonexistent/bin/mmctl"),
            "{e}"
        );
        let p = plan(&[
            "mattermost.install_dir=/nonexistent/mm",
            "mattermost.mmctl=/",
        ]);
        assert!(refusal(&p, 0, Some(SERVICE)).contains("/ is not an executable file"));
    }

    #[test]
    fn the_default_mmctl_is_beside_the_server() {
        let p = plan(&["mattermost.install_dir=/srv/mm/"]);
        let mut c = p.config.mattermost.clone();
        c.mmctl = None;
        assert_eq!(c.mmctl_binary(), "/srv/mm/bin/mmctl");
    }

    #[test]
    fn a_missing_socket_says_mattermost_is_not_running() {
        let p = plan(&[]);
        let e = refusal(&p, 0, Some(SERVICE));
        assert!(
            e.contains("no local-mode socket at /run/mattermost/mattermost_local.socket")
                && e.contains("systemctl status mattermost.service"),
            "{e}"
        );
    }

    #[test]
    fn the_environment_is_the_service_users_not_the_callers() {
        let p = plan(&[]);
        let caller: Vec<(OsString, OsString)> = [
            ("HOME", "/root"),
            ("TERM", "xterm"),
            ("LC_TIME", "C"),
            ("MMCTL_JSON", "true"),
            ("MMCTL_LOCAL_SOCKET_PATH", "/elsewhere"),
            ("AWS_SECRET_ACCESS_KEY", "CANARY"),
        ]
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let env = environment(&p, caller.into_iter());
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("HOME").as_deref(), Some("/var/lib/mattermost"));
        assert_eq!(get("USER").as_deref(), Some("mattermost"));
        assert_eq!(
            get(SOCKET_VARIABLE).as_deref(),
            Some("/run/mattermost/mattermost_local.socket")
        );
        assert_eq!(get("TERM").as_deref(), Some("xterm"));
        assert_eq!(get("LC_TIME").as_deref(), Some("C"));
        assert_eq!(get("MMCTL_JSON").as_deref(), Some("true"));
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), None);
        assert_eq!(env.iter().filter(|(k, _)| k == SOCKET_VARIABLE).count(), 1);
    }
}
