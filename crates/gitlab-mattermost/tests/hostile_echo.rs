//! A hostile server echoes what it was sent: nothing secret we sent may come back out in
//! what we print, whatever the server answers (GitLab error pages echoing the request
//! headers, an SMTP server echoing the AUTH credentials).

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread;

use base64::Engine;
use support::*;

const TOKEN: &str = "glpat-CANARY-echo-token-7c1d";
const SMTP_USER: &str = "mattermost@example.test";
const SMTP_PASSWORD: &str = "CANARY-smtp-echo-pass-41b0";

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every form of `secret` that must not be printed.
fn assert_absent(secret: &str, text: &str) {
    let forms = [
        secret.to_string(),
        b64(secret.as_bytes()),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        hex(secret.as_bytes()),
        hex(secret.as_bytes()).to_uppercase(),
    ];
    for f in forms {
        assert!(!text.contains(&f), "{f:?} was printed:\n{text}");
    }
}

/// An HTTP server answering every request with `status` and a body that echoes the
/// request's PRIVATE-TOKEN header (as is, base64 and hex) and then the whole request.
fn echo_http(status: u16) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("an HTTP port");
    let url = format!("http://{}", server.server_addr());
    thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let token = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("PRIVATE-TOKEN"))
                .map(|h| h.value.as_str().to_string())
                .unwrap_or_default();
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let headers: Vec<String> = req.headers().iter().map(|h| h.to_string()).collect();
            let page = format!(
                "{{\"error\":\"bad request: token {token} / {} / {}\",\"echo\":\"{} {}\\n{}\\n{body}\"}}",
                b64(token.as_bytes()),
                hex(token.as_bytes()),
                req.method(),
                req.url(),
                headers.join("\\n"),
            );
            let _ = req.respond(tiny_http::Response::from_string(page).with_status_code(status));
        }
    });
    url
}

fn register(gitlab_url: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"https://chat.example.test\"\n\
             [gitlab]\nenable = true\nallow_team_edition_route = true\nurl = \"{gitlab_url}\"\n\
             id_file = \"{s}/gitlab-id\"\nsecret_file = \"{s}/gitlab-secret\"\n\
             [nginx]\nenable = false\n",
            s = dir.path().join("secrets").display()
        ),
    )
    .unwrap();
    let token = dir.path().join("token");
    write_file(&token, TOKEN, 0o600);
    let o = run(&[
        "gitlab",
        "register",
        config.to_str().unwrap(),
        "--token-file",
        token.to_str().unwrap(),
        "--timeout",
        "5",
    ]);
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), format!("{out}\n{err}"))
}

#[test]
fn a_gitlab_error_page_echoing_the_token_does_not_print_it() {
    for status in [400, 404, 500] {
        let url = echo_http(status);
        let (code, printed) = register(&url);
        assert_ne!(code, 0, "HTTP {status} must fail:\n{printed}");
        assert_absent(TOKEN, &printed);
        assert!(
            printed.contains(&format!("{status}")) && printed.contains("[redacted]"),
            "HTTP {status}: the error still shows the server's answer, redacted:\n{printed}"
        );
    }
}

/// An SMTP server offering AUTH PLAIN and LOGIN (as `mechanism` says) that rejects the
/// credentials, echoing what it was sent and the password it decoded from it.
fn echo_smtp(mechanism: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("an SMTP port");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream);
        let mut say = |s: &str| {
            let _ = out.write_all(format!("{s}\r\n").as_bytes());
        };
        say("220 echo.example.test ESMTP");
        let mut line = String::new();
        while {
            line.clear();
            lines.read_line(&mut line).unwrap_or(0) > 0
        } {
            let l = line.trim_end().to_string();
            let decoded = |s: &str| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                    .unwrap_or_default()
            };
            if l.starts_with("EHLO") {
                say("250-echo.example.test");
                say(&format!("250 AUTH {mechanism}"));
            } else if let Some(blob) = l.strip_prefix("AUTH PLAIN ") {
                say(&format!("535-5.7.8 you sent {blob}"));
                say(&format!(
                    "535 5.7.8 which is {} ({})",
                    decoded(blob),
                    hex(decoded(blob).as_bytes())
                ));
            } else if l == "AUTH LOGIN" {
                say("334 VXNlcm5hbWU6");
            } else if l.starts_with("QUIT") {
                say("221 bye");
                return;
            } else if decoded(&l) == SMTP_USER {
                say(&format!("334 {l} UGFzc3dvcmQ6"));
            } else {
                say(&format!("535-5.7.8 you sent {l}"));
                say(&format!("535 5.7.8 which is {}", decoded(&l)));
            }
        }
    });
    port
}

fn doctor_smtp(dir: &Path, port: u16) -> String {
    let pw = dir.join(format!("smtp-password-{port}"));
    write_file(&pw, SMTP_PASSWORD, 0o600);
    let config = dir.join(format!("site-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            "external_url = \"http://chat.example.test\"\n[nginx]\nenable = false\n\
             [smtp]\nenable = true\nserver = \"127.0.0.1\"\nport = {port}\n\
             username = \"{SMTP_USER}\"\npassword_file = \"{}\"\nauth = true\n\
             connection_security = \"\"\nfeedback_email = \"{SMTP_USER}\"\n",
            pw.display()
        ),
    )
    .unwrap();
    let o = run(&[
        "-vvv",
        "doctor",
        config.to_str().unwrap(),
        "--only",
        "smtp",
        "--json",
        "--timeout",
        "3",
    ]);
    let (out, err) = text(&o);
    format!("{out}\n{err}")
}

#[test]
fn an_smtp_reply_echoing_the_credentials_does_not_print_them() {
    let dir = tempfile::tempdir().unwrap();
    for mechanism in ["PLAIN", "LOGIN"] {
        let port = echo_smtp(mechanism);
        let printed = doctor_smtp(dir.path(), port);
        assert_absent(SMTP_PASSWORD, &printed);
        assert_absent(&format!("\0{SMTP_USER}\0{SMTP_PASSWORD}"), &printed);
        assert!(
            printed.contains("rejected the credentials") && printed.contains("[redacted]"),
            "AUTH {mechanism}: the rejection is reported, its echo redacted:\n{printed}"
        );
    }
}
