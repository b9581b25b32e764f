//! Inputs that never end: a FIFO, `/dev/zero` or an oversized file where a config, secret or
//! environment file belongs, and servers that accept a connection and then stall, drip or
//! flood. Every case must end on its own well within a deadline the test enforces by
//! killing the child, and say what was refused.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// How long any case may run before the test kills it and fails.
const DEADLINE: Duration = Duration::from_secs(10);

struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Run the binary with `args` (and `env`), killing it and failing the test when it has not
/// exited within `limit`.
fn run_within(args: &[&str], env: &[(&str, &Path)], limit: Duration) -> Finished {
    let start = Instant::now();
    let mut cmd = Command::new(bin_path());
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    // Drained in threads so a chatty child cannot block on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`gitlab-mattermost {}` still ran after {limit:?}: killed",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        code: status.code(),
        stdout: out.join().expect("stdout thread"),
        stderr: err.join().expect("stderr thread"),
        took: start.elapsed(),
    }
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

// ---- files ------------------------------------------------------------------------------

#[test]
fn a_fifo_config_is_refused_by_check_and_render_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("site.toml");
    mkfifo(&fifo);
    let out = dir.path().join("out");
    let f = fifo.to_str().unwrap();
    for args in [
        vec!["check", f],
        vec!["render", f, "--out", out.to_str().unwrap()],
    ] {
        let r = run_within(&args, &[], DEADLINE);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(f) && r.stderr.contains("FIFO"),
            "{args:?} names the file and what it is: {}",
            r.stderr
        );
    }
}

#[test]
fn a_device_or_oversized_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A link to a device: links are followed, and what they point at is judged.
    let zero = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let r = run_within(&["check", zero.to_str().unwrap()], &[], DEADLINE);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("character device"), "{}", r.stderr);

    let big = dir.path().join("big.toml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(17 << 20).unwrap();
    let r = run_within(&["check", big.to_str().unwrap()], &[], DEADLINE);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("larger than 16 MiB"), "{}", r.stderr);

    // A link to a regular config is read as the config.
    let real = dir.path().join("real.toml");
    std::fs::write(&real, "external_url = \"http://mm.example.com\"\n").unwrap();
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let r = run_within(&["check", link.to_str().unwrap()], &[], DEADLINE);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

fn register_config(dir: &Path) -> PathBuf {
    let secrets = dir.join("secrets");
    let path = dir.join("site.toml");
    std::fs::write(
        &path,
        format!(
            "external_url = \"https://chat.example.test\"\n\
             [gitlab]\nenable = true\nallow_team_edition_route = true\nurl = \"http://127.0.0.1:9\"\n\
             id_file = \"{s}/gitlab-id\"\nsecret_file = \"{s}/gitlab-secret\"\n\
             [nginx]\nenable = false\n",
            s = secrets.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn token_files_that_are_devices_fifos_or_huge_are_refused_fast() {
    let dir = tempfile::tempdir().unwrap();
    let config = register_config(dir.path());
    let fifo = dir.path().join("token-fifo");
    mkfifo(&fifo);
    let huge = dir.path().join("token-huge");
    std::fs::write(&huge, vec![b'x'; 100 << 10]).unwrap();
    for (token, what) in [
        (Path::new("/dev/zero"), "character device"),
        (fifo.as_path(), "FIFO"),
        (huge.as_path(), "larger than 64 KiB"),
    ] {
        let r = run_within(
            &[
                "gitlab",
                "register",
                config.to_str().unwrap(),
                "--token-file",
                token.to_str().unwrap(),
                "--timeout",
                "2",
            ],
            &[],
            DEADLINE,
        );
        assert_ne!(r.code, Some(0), "{}", r.stderr);
        assert!(
            r.stderr.contains(token.to_str().unwrap()) && r.stderr.contains(what),
            "{}: {}",
            token.display(),
            r.stderr
        );
        assert!(r.took < Duration::from_secs(5), "took {:?}", r.took);
    }
}

#[test]
fn a_password_file_that_is_dev_zero_fails_the_database_check_fast() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        "external_url = \"http://chat.example.test\"\n[database]\nkind = \"external\"\n\
         host = \"127.0.0.1\"\nport = 9\npassword_file = \"/dev/zero\"\nsslmode = \"disable\"\n",
    )
    .unwrap();
    let r = run_within(
        &[
            "doctor",
            config.to_str().unwrap(),
            "--only",
            "database",
            "--json",
            "--timeout",
            "2",
        ],
        &[],
        DEADLINE,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let v = check_json(&r.stdout, "database");
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("/dev/zero") && problems.contains("character device"),
        "{problems}"
    );
}

/// `exec` with `--env-file env` and `--credential c=MM_C` from `creds`; must refuse.
fn exec_refuses(env: &Path, creds: &Path, expect: &[&str]) {
    let r = run_within(
        &[
            "exec",
            "--env-file",
            env.to_str().unwrap(),
            "--credential",
            "c=MM_C",
            "--",
            "true",
        ],
        &[("CREDENTIALS_DIRECTORY", creds)],
        DEADLINE,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    for e in expect {
        assert!(r.stderr.contains(e), "{e}: {}", r.stderr);
    }
}

#[test]
fn exec_refuses_fifo_and_device_environment_files_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("c"), "secret\n").unwrap();
    let good_env = dir.path().join("good.env");
    std::fs::write(&good_env, "A=1\n").unwrap();

    let fifo_env = dir.path().join("fifo.env");
    mkfifo(&fifo_env);
    exec_refuses(&fifo_env, &creds, &[fifo_env.to_str().unwrap(), "FIFO"]);
    exec_refuses(
        Path::new("/dev/zero"),
        &creds,
        &["/dev/zero", "character device"],
    );
    let big_env = dir.path().join("big.env");
    std::fs::write(&big_env, vec![b'#'; (1 << 20) + 1]).unwrap();
    exec_refuses(&big_env, &creds, &["larger than 1 MiB"]);

    let fifo_creds = dir.path().join("fifo-credentials");
    std::fs::create_dir(&fifo_creds).unwrap();
    mkfifo(&fifo_creds.join("c"));
    exec_refuses(&good_env, &fifo_creds, &["credential \"c\"", "FIFO"]);
    let zero_creds = dir.path().join("zero-credentials");
    std::fs::create_dir(&zero_creds).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_creds.join("c")).unwrap();
    exec_refuses(
        &good_env,
        &zero_creds,
        &["credential \"c\"", "character device"],
    );
}

// ---- servers ----------------------------------------------------------------------------

/// Accept and say nothing, keeping the connection open.
fn silent(mut conn: TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn the_database_check_times_out_against_a_server_that_never_answers() {
    let port = serve_each(silent);
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("db-password");
    write_file(&pw, "pw", 0o600);
    let config = dir.path().join("site.toml");
    for sslmode in ["disable", "require"] {
        std::fs::write(
            &config,
            format!(
                "external_url = \"http://chat.example.test\"\n[database]\nkind = \"external\"\n\
                 host = \"127.0.0.1\"\nport = {port}\npassword_file = \"{}\"\nsslmode = \"{sslmode}\"\n",
                pw.display()
            ),
        )
        .unwrap();
        // --timeout 1: the whole check may take 3 s.
        let r = run_within(
            &[
                "doctor",
                config.to_str().unwrap(),
                "--only",
                "database",
                "--json",
                "--timeout",
                "1",
            ],
            &[],
            DEADLINE,
        );
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        let v = check_json(&r.stdout, "database");
        assert_eq!(v["status"], "fail", "{v}");
        assert!(v["problems"].to_string().contains("timed out"), "{v}");
        assert!(r.took >= Duration::from_secs(2), "took {:?}", r.took);
    }
}

/// Run the SMTP check against a plain server on `port` with `--timeout 2` (the whole check
/// may take 6 s); its problems.
fn smtp_check(port: u16) -> (String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"http://chat.example.test\"\n[nginx]\nenable = false\n\
             [smtp]\nenable = true\nserver = \"127.0.0.1\"\nport = {port}\nauth = false\n\
             connection_security = \"\"\nfeedback_email = \"mm@example.test\"\n"
        ),
    )
    .unwrap();
    let r = run_within(
        &[
            "doctor",
            config.to_str().unwrap(),
            "--only",
            "smtp",
            "--json",
            "--timeout",
            "2",
        ],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let v = check_json(&r.stdout, "smtp");
    assert_eq!(v["status"], "fail", "{v}");
    (v["problems"].to_string(), r.took)
}

/// A greeting one byte a second, never finished.
fn drip(mut conn: TcpStream) {
    for b in b"220-".iter().chain(std::iter::repeat(&b'x')) {
        if conn.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A 300 MiB greeting line.
fn huge_banner(mut conn: TcpStream) {
    let chunk = vec![b'x'; 64 << 10];
    if conn.write_all(b"220 ").is_err() {
        return;
    }
    for _ in 0..(300 << 20) / chunk.len() {
        if conn.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// `220-` continuation lines without end.
fn endless_continuation(mut conn: TcpStream) {
    while conn.write_all(b"220-still greeting\r\n").is_ok() {}
}

#[test]
fn the_smtp_check_times_out_on_a_greeting_sent_a_byte_at_a_time() {
    let (problems, took) = smtp_check(serve_each(drip));
    assert!(problems.contains("timed out"), "{problems}");
    assert!(problems.contains("within 6s"), "{problems}");
    assert!(took < Duration::from_secs(12), "took {took:?}");
}

#[test]
fn the_smtp_check_refuses_a_huge_banner() {
    let (problems, took) = smtp_check(serve_each(huge_banner));
    assert!(problems.contains("longer than 4096 bytes"), "{problems}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn the_smtp_check_refuses_endless_continuation_lines() {
    let (problems, took) = smtp_check(serve_each(endless_continuation));
    assert!(problems.contains("more than 128 lines"), "{problems}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
