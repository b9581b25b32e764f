//! `gitlab-mattermost mmctl`: the exact program, arguments, environment and account it runs,
//! seen by a stand-in mmctl that prints them, and the refusals.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

/// A stand-in for mmctl: prints who it runs as, its arguments and environment, exits 7.
const FAKE_MMCTL: &str = r#"#!/bin/sh
echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"
echo "args=$*"
echo "socket=$MMCTL_LOCAL_SOCKET_PATH"
echo "home=$HOME"
echo "canary=${GM_TEST_CANARY:-unset}"
exit 7
"#;

struct Host {
    /// Under /tmp, readable by everyone: the config and the stand-in mmctl.
    public: tempfile::TempDir,
    /// The data directory, holding the socket (the config may not put it under /tmp).
    data: tempfile::TempDir,
    config: PathBuf,
    socket: PathBuf,
    _listener: Option<UnixListener>,
}

fn open_dir(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A config for `user`/`group` with local mode on and the socket in the data directory;
/// the socket exists when `listening`.
fn host(user: &str, group: &str, listening: bool) -> Host {
    let public = tempfile::tempdir().unwrap();
    open_dir(public.path());
    let data = tempfile::tempdir_in(socket_parent()).unwrap();
    open_dir(data.path());
    let mmctl = public.path().join("mmctl");
    write_file(&mmctl, FAKE_MMCTL, 0o755);
    let socket = data.path().join("mm.sock");
    let listener = listening.then(|| UnixListener::bind(&socket).unwrap());
    let config = public.path().join("site.toml");
    write_file(
        &config,
        &format!(
            "external_url = \"http://mm.example.com\"\n\
             [account]\nuser = \"{user}\"\ngroup = \"{group}\"\n\
             [database]\nuser = \"{user}\"\n\
             [directories]\ndata = \"{data}\"\n\
             [mattermost]\nmmctl = \"{mmctl}\"\n\
             [settings.ServiceSettings]\nEnableLocalMode = true\nLocalModeSocketLocation = \"{socket}\"\n",
            data = data.path().display(),
            mmctl = mmctl.display(),
            socket = socket.display(),
        ),
        0o644,
    );
    Host {
        public,
        data,
        config,
        socket,
        _listener: listener,
    }
}

/// Run the binary, as another account (uid, gid) when given.
fn mmctl(h: &Host, as_account: Option<(u32, u32)>, args: &[&str]) -> Output {
    let mut cmd = match as_account {
        Some((u, g)) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={u}"),
                &format!("--regid={g}"),
                "--clear-groups",
                "--",
            ])
            .arg(bin_path());
            c
        }
        None => Command::new(bin_path()),
    };
    cmd.arg("mmctl")
        .arg(&h.config)
        .arg("--")
        .args(args)
        .env("GM_TEST_CANARY", "leaked")
        .env_remove("RUST_LOG")
        .current_dir(h.public.path())
        .output()
        .expect("runs")
}

/// Root, and the `www-data` account and group (Debian's; `nobody` is refused as a service user), or the reason to skip.
fn can_switch_users() -> Option<(u32, u32)> {
    if !is_root() {
        skip("mmctl tests switch users: run them as root");
        return None;
    }
    if !have("setpriv") {
        skip("setpriv (util-linux) is not installed");
        return None;
    }
    let id = |args: &[&str]| -> Option<u32> {
        let o = Command::new("getent").args(args).output().ok()?;
        String::from_utf8_lossy(&o.stdout)
            .split(':')
            .nth(2)?
            .parse()
            .ok()
    };
    match (id(&["passwd", "www-data"]), id(&["group", "www-data"])) {
        (Some(u), Some(g)) => Some((u, g)),
        _ => {
            skip("no www-data account on this host (Debian's nginx packages make it)");
            None
        }
    }
}

#[test]
fn as_root_it_becomes_the_service_user_and_execs_mmctl_local() {
    let Some((uid, gid)) = can_switch_users() else {
        return;
    };
    let h = host("www-data", "www-data", true);
    let o = mmctl(&h, None, &["user", "list", "--all"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(7), "mmctl's exit code:\n{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("uid={uid} gid={gid} groups={gid}").as_str(),
            "args=--local user list --all",
            &format!("socket={}", h.socket.display()),
            &format!("home={}", h.data.path().display()),
            "canary=unset",
        ],
        "{err}"
    );
}

#[test]
fn the_service_user_itself_runs_mmctl_without_switching() {
    let Some((uid, gid)) = can_switch_users() else {
        return;
    };
    let h = host("www-data", "www-data", true);
    let o = mmctl(&h, Some((uid, gid)), &["team", "list"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(7), "{out}\n{err}");
    assert!(out.starts_with(&format!("uid={uid} ")), "{out}");
    assert!(out.contains("args=--local team list\n"), "{out}");
}

#[test]
fn another_user_is_refused() {
    let Some(nobody) = can_switch_users() else {
        return;
    };
    // The service user is `daemon`; www-data is neither it nor root.
    let h = host("daemon", "daemon", true);
    let o = mmctl(&h, Some(nobody), &["user", "list"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.is_empty(), "mmctl ran: {out}");
    assert!(err.contains("run it as root or as daemon"), "{err}");
}

#[test]
fn a_missing_socket_says_mattermost_is_not_running() {
    if can_switch_users().is_none() {
        return;
    }
    let h = host("www-data", "www-data", false);
    let o = mmctl(&h, None, &["user", "list"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.is_empty(), "mmctl ran: {out}");
    assert!(
        err.contains(&format!("no local-mode socket at {}", h.socket.display()))
            && err.contains("Mattermost is not running")
            && err.contains("systemctl status mattermost.service"),
        "{err}"
    );
}

#[test]
fn a_missing_mmctl_names_where_it_looked() {
    let h = host("www-data", "www-data", true);
    std::fs::remove_file(h.public.path().join("mmctl")).unwrap();
    let o = mmctl(&h, None, &["user", "list"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    // Checked after the caller, so a non-root run is refused for that first.
    if is_root() {
        assert!(
            err.contains(&format!(
                "mmctl not found at {}",
                h.public.path().join("mmctl").display()
            )),
            "{err}"
        );
    } else {
        assert!(err.contains("run it as root or as www-data"), "{err}");
    }
}
