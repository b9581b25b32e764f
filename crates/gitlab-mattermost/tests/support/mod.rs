//! Helpers for the operations tests: real servers started by the tests themselves.
#![allow(dead_code)]

pub mod certs;
pub mod gitlab_stub;
pub mod pg;
pub mod smtp;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The compiled binary.
pub fn bin_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gitlab-mattermost"))
}

/// Run the binary with `args`; stdout, stderr and the exit code.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin_path())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Whether a program is on PATH (or an absolute path that exists).
pub fn have(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).exists();
    }
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Print the skip line and tell the caller to return.
pub fn skip(reason: &str) {
    // Straight to stderr: the test harness captures `eprintln!` of passing tests, and a
    // skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// A server on 127.0.0.1 that runs `serve` on each connection it accepts, in a thread of its
/// own; its port.
pub fn serve_each(serve: fn(TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("a bound address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    port
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Write a file with a mode.
pub fn write_file(path: &Path, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn is_root() -> bool {
    rustix_like_geteuid() == 0
}

fn rustix_like_geteuid() -> u32 {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(u32::MAX)
}

/// Parse doctor's `--json` output and return the entry of one check.
pub fn check_json(stdout: &str, check: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed JSON ({e}): {stdout}"));
    v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"] == check).cloned())
        .unwrap_or_else(|| panic!("no {check} in {stdout}"))
}

/// Where a test's service data directory (and so a local-mode socket) can live: the compiler
/// refuses a socket under /tmp or /var/tmp (the unit's PrivateTmp= hides it), so a checkout
/// under /tmp puts it in /run instead (these tests run as root).
pub fn socket_parent() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if target.starts_with("/tmp") || target.starts_with("/var/tmp") {
        PathBuf::from("/run")
    } else {
        target
    }
}
