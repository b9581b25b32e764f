//! `status` and doctor's service and ping checks against real processes: a stand-in
//! Mattermost answering /api/v4/system/ping, the rendered vhost in this host's nginx, this
//! host's PostgreSQL, and systemd (not PID 1 here, so the unit line says why it cannot ask;
//! a `systemctl` stand-in on PATH gives the answers a real systemd gives).

// The full command: these tests run the operations.
#![cfg(feature = "full")]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::pg::{self, TempDb};
use support::*;

const NGINX: &str = "/usr/sbin/nginx";
const RELEASE: &str = "11.4.0";

// ---- the stand-ins ------------------------------------------------------------------

/// A stand-in Mattermost: every request gets the ping's answer, with the release header
/// Mattermost sends.
fn start_mattermost() -> u16 {
    serve_each(answer_ping)
}

fn answer_ping(stream: TcpStream) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let body = r#"{"ActiveSearchBackend":"database","status":"OK"}"#;
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Version-Id: {RELEASE}.17577345183.a7d8e.false\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A `systemctl` on PATH that answers `show` as systemd does for a unit in `state`.
fn fake_systemctl(dir: &Path, active: &str, sub: &str, pid: u32) -> PathBuf {
    let bin = dir.join("fakebin");
    write_file(
        &bin.join("systemctl"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = show ] || exit 1\n\
             echo LoadState=loaded\necho ActiveState={active}\necho SubState={sub}\n\
             echo MainPID={pid}\necho 'ActiveEnterTimestamp=Mon 2026-12-07 13:00:00 UTC'\n"
        ),
        0o755,
    );
    bin
}

struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers before it exits.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let stopped = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The rendered vhost of `config` in a private nginx, listening on `port`.
fn start_nginx(config: &Path, port: u16) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rendered = d.join("rendered");
    let o = run(&[
        "render",
        config.to_str().unwrap(),
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "render: {}", text(&o).1);
    std::fs::create_dir_all("/var/log/nginx").unwrap();
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    let p = d.display();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n    access_log {p}/access.log;\n\
             client_body_temp_path {p}/tmp/body;\n    proxy_temp_path {p}/tmp/proxy;\n\
             fastcgi_temp_path {p}/tmp/fastcgi;\n    uwsgi_temp_path {p}/tmp/uwsgi;\n    scgi_temp_path {p}/tmp/scgi;\n\
             include {}/nginx/mattermost.conf;\n}}\n",
            rendered.display()
        ),
    )
    .unwrap();
    let args = [
        "-p".to_string(),
        format!("{p}/"),
        "-c".into(),
        d.join("nginx.conf").display().to_string(),
        "-e".into(),
        d.join("error.log").display().to_string(),
    ];
    let child = Command::new(NGINX)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx { child, _dir: dir };
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return nginx;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

/// A site: the config (service user `postgres`, which peer authentication maps to the
/// `postgres` role), the stand-in Mattermost and, when asked, nginx in front of it.
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    _nginx: Option<Nginx>,
}

fn site(with_nginx: bool, db: &str) -> Site {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // The database check reruns as the service user, who reads the config.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let upstream = start_mattermost();
    let port = free_port();
    let config = dir.path().join("site.toml");
    write_file(
        &config,
        &format!(
            "external_url = \"http://localhost:{port}\"\n\
             [listen]\naddress = \"127.0.0.1\"\nport = {upstream}\n\
             [nginx]\nlisten_addresses = [\"127.0.0.1\"]\n\
             [account]\nuser = \"postgres\"\ngroup = \"postgres\"\n\
             [database]\nname = \"{db}\"\nuser = \"postgres\"\nsocket_dir = \"{}\"\n",
            pg::SOCKET_DIR
        ),
        0o644,
    );
    let nginx = with_nginx.then(|| start_nginx(&config, port));
    Site {
        dir,
        config,
        _nginx: nginx,
    }
}

fn ready() -> bool {
    if !is_root() {
        skip("the status tests run nginx and PostgreSQL as root");
        return false;
    }
    if !have(NGINX) {
        skip("nginx (/usr/sbin/nginx) is not installed (the CI script installs nginx-light)");
        return false;
    }
    match pg::available() {
        Ok(()) => true,
        Err(reason) => {
            skip(&reason);
            false
        }
    }
}

/// Run the binary with PATH starting at `path_first` when given.
fn run_with(args: &[&str], path_first: Option<&Path>) -> (i32, String, String) {
    let mut cmd = Command::new(bin_path());
    cmd.args(args).env_remove("RUST_LOG");
    if let Some(dir) = path_first {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    let o = cmd.output().unwrap();
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
}

// ---- status -------------------------------------------------------------------------

#[test]
fn status_is_ok_when_everything_answers_and_says_why_systemd_cannot_be_asked() {
    if !ready() {
        return;
    }
    let db = TempDb::new("status");
    let s = site(true, &db.name);
    let cfg = s.config.to_str().unwrap();

    // No systemd here: the unit line says so, and so the exit code is 1.
    let (code, out, err) = run_with(&["status", cfg, "--timeout", "5"], None);
    assert_eq!(code, 1, "{out}\n{err}");
    let unit = line(&out, "unit");
    assert!(
        unit.starts_with("FAIL") && unit.contains("cannot ask systemd:"),
        "{out}"
    );
    for name in ["version", "direct", "nginx", "database"] {
        assert!(line(&out, name).starts_with("OK"), "{name}:\n{out}\n{err}");
    }
    assert!(line(&out, "version").contains(&format!("Mattermost {RELEASE}")));
    assert!(line(&out, "direct").contains("http://127.0.0.1:"), "{out}");
    assert!(line(&out, "nginx").contains("http://localhost:"), "{out}");
    let server = pg::psql("postgres", "SHOW server_version").unwrap();
    assert!(
        line(&out, "database").contains(&format!("PostgreSQL {server}")),
        "{out}"
    );
    assert!(out.contains("status: down: unit"), "{out}");

    // With systemd's answer for a running unit, everything is up: exit 0.
    let fake = fake_systemctl(s.dir.path(), "active", "running", 4242);
    let (code, out, err) = run_with(&["status", cfg, "--timeout", "5"], Some(&fake));
    assert_eq!(code, 0, "{out}\n{err}");
    let unit = line(&out, "unit");
    assert!(
        unit.starts_with("OK") && unit.contains("mattermost.service active (running), pid 4242"),
        "{out}"
    );
    assert!(out.contains("status: everything is up"), "{out}");

    // --json: the same lines, for scripts.
    let (code, out, _) = run_with(&["status", cfg, "--json", "--timeout", "5"], Some(&fake));
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["version"], RELEASE, "{v}");
    assert_eq!(v["unit"]["active_state"], "active", "{v}");
    assert_eq!(v["unit"]["main_pid"], 4242, "{v}");
    let names: Vec<&str> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["unit", "version", "direct", "nginx", "database"],
        "{v}"
    );
    assert!(
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "ok"),
        "{v}"
    );
}

#[test]
fn status_exits_1_naming_what_is_down() {
    if !ready() {
        return;
    }
    // Mattermost answers directly, but nginx is not running and the unit is stopped.
    let s = site(false, "postgres");
    let cfg = s.config.to_str().unwrap();
    let fake = fake_systemctl(s.dir.path(), "inactive", "dead", 0);
    let (code, out, err) = run_with(&["status", cfg, "--timeout", "3"], Some(&fake));
    assert_eq!(code, 1, "{out}\n{err}");
    let unit = line(&out, "unit");
    assert!(
        unit.starts_with("FAIL") && unit.contains("mattermost.service inactive (dead)"),
        "{out}"
    );
    assert!(out.contains("systemctl start mattermost.service"), "{out}");
    assert!(line(&out, "direct").starts_with("OK"), "{out}");
    let nginx = line(&out, "nginx");
    assert!(
        nginx.starts_with("FAIL") && nginx.contains("connection refused"),
        "{out}"
    );
    assert!(out.contains("status: down: unit, nginx"), "{out}");

    let (code, out, _) = run_with(&["status", cfg, "--json", "--timeout", "3"], Some(&fake));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["ok"], false);
    let nginx = &v["lines"][3];
    assert_eq!(nginx["name"], "nginx");
    assert_eq!(nginx["status"], "fail");
    assert!(nginx["fix"].as_str().unwrap().contains("nginx -t"), "{v}");
}

#[test]
fn status_refuses_a_bad_config_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("site.toml");
    write_file(&cfg, "external_url = \"not a url\"\n", 0o644);
    let (code, out, err) = run_with(&["status", cfg.to_str().unwrap()], None);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("external_url"), "{err}");
    assert!(out.is_empty(), "{out}");
    let (code, _, _) = run_with(
        &["status", "/nonexistent/gitlab-mattermost.toml", "--json"],
        None,
    );
    assert_eq!(code, 2);
}

// ---- doctor -------------------------------------------------------------------------

#[test]
fn doctor_checks_the_unit_and_the_ping_directly_and_through_nginx() {
    if !ready() {
        return;
    }
    let s = site(true, "postgres");
    let cfg = s.config.to_str().unwrap();
    let args = [
        "doctor",
        cfg,
        "--only",
        "service",
        "--only",
        "ping",
        "--json",
        "--timeout",
        "5",
    ];
    let (code, out, err) = run_with(&args, None);
    assert_eq!(code, 1, "{out}\n{err}");
    let ping = check_json(&out, "ping");
    assert_eq!(ping["status"], "pass", "{ping}");
    let summary = ping["summary"].as_str().unwrap();
    assert!(
        summary.contains("directly at http://127.0.0.1:")
            && summary.contains("through nginx at http://localhost:")
            && summary.contains(RELEASE),
        "{summary}"
    );
    let service = check_json(&out, "service");
    assert_eq!(service["status"], "fail");
    assert!(
        service["summary"]
            .as_str()
            .unwrap()
            .contains("cannot ask systemd:"),
        "{service}"
    );

    let fake = fake_systemctl(s.dir.path(), "active", "running", 77);
    let (code, out, _) = run_with(&args, Some(&fake));
    assert_eq!(code, 0, "{out}");
    assert_eq!(check_json(&out, "service")["status"], "pass", "{out}");
}

#[test]
fn doctor_fails_the_ping_when_nginx_does_not_answer() {
    if !ready() {
        return;
    }
    let s = site(false, "postgres");
    let cfg = s.config.to_str().unwrap();
    let (code, out, _) = run_with(
        &["doctor", cfg, "--only", "ping", "--json", "--timeout", "3"],
        None,
    );
    assert_eq!(code, 1, "{out}");
    let ping = check_json(&out, "ping");
    assert_eq!(ping["status"], "fail");
    let problems = ping["problems"].to_string();
    assert!(
        problems.contains("http://localhost:") && problems.contains("nginx -t"),
        "{problems}"
    );
    // Mattermost itself answered: only the way through nginx is named.
    assert_eq!(ping["problems"].as_array().unwrap().len(), 1, "{problems}");
}

// ---- help, man page, completion -------------------------------------------------------

#[test]
fn status_is_an_admin_command_with_a_man_page_and_completion() {
    let o = run(&["--help"]);
    let help = text(&o).0;
    let listed = help.split_once("Options:").unwrap().0;
    assert!(listed.contains("\n  status "), "{help}");
    assert!(help.contains("gitlab-mattermost status"), "{help}");
    let o = run(&["status", "--help"]);
    let (sub, _) = text(&o);
    assert!(
        sub.contains("Exit codes: 0")
            && sub.contains("--json")
            && sub.contains("gitlab-ctl status"),
        "{sub}"
    );

    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man");
    let o = run(&["man", "--out", man.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    let page = std::fs::read_to_string(man.join("gitlab-mattermost-status.1")).unwrap();
    assert!(page.contains("gitlab\\-ctl status"), "{page}");

    if !have("bash") {
        return skip("bash is not installed");
    }
    let o = run(&["completions", "bash"]);
    let script = dir.path().join("completion.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let offers = |words: &[&str]| {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let cword = words.len() - 1;
        let program = format!(
            "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_gitlab__mattermost gitlab-mattermost '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script.display(),
            quoted.join(" "),
            words[cword],
            words[cword - 1],
        );
        let o = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let offers_status = offers(&["gitlab-mattermost", "sta"]);
    assert!(
        offers_status.iter().any(|o| o == "status"),
        "{offers_status:?}"
    );
    let offers_json = offers(&["gitlab-mattermost", "status", "--j"]);
    assert!(offers_json.iter().any(|o| o == "--json"), "{offers_json:?}");
}
