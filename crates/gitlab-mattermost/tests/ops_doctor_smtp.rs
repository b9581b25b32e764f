//! The SMTP check of `doctor` against a real SMTP server (aiosmtpd) in plain, STARTTLS and
//! implicit-TLS modes, with AUTH.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::path::{Path, PathBuf};

use support::certs::{self, Pair};
use support::smtp::{self, SmtpServer};
use support::*;

const USER: &str = "mattermost@example.test";
const PASSWORD: &str = "CANARY-smtp-pass-9f3a";

struct Fixture {
    dir: tempfile::TempDir,
    ca: Pair,
    leaf: Pair,
    py: &'static str,
}

fn fixture() -> Option<Fixture> {
    if !have("openssl") {
        skip("openssl is not installed");
        return None;
    }
    let Some(py) = smtp::python() else {
        skip("python3 with aiosmtpd is not installed (the CI script installs python3-aiosmtpd)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = certs::ca(dir.path(), "Mail CA");
    let leaf = certs::leaf(dir.path(), "mail", &["localhost"], &ca, 30, false);
    Some(Fixture { dir, ca, leaf, py })
}

impl Fixture {
    fn server(&self, mode: &str) -> SmtpServer {
        SmtpServer::start(
            self.py,
            self.dir.path(),
            mode,
            &self.leaf.cert,
            &self.leaf.key,
            USER,
            PASSWORD,
        )
    }

    fn config(&self, port: u16, security: &str, password: &str) -> PathBuf {
        let pw = self
            .dir
            .path()
            .join(format!("smtp-password-{port}-{}", security.len()));
        write_file(&pw, password, 0o600);
        let path = self
            .dir
            .path()
            .join(format!("site-{port}-{}.toml", security.len()));
        std::fs::write(
            &path,
            format!(
                "external_url = \"http://chat.example.test\"\n[nginx]\nenable = false\n\
                 [smtp]\nenable = true\nserver = \"localhost\"\nport = {port}\n\
                 username = \"{USER}\"\npassword_file = \"{}\"\nauth = true\n\
                 connection_security = \"{security}\"\nfeedback_email = \"{USER}\"\n",
                pw.display()
            ),
        )
        .unwrap();
        path
    }

    /// Run the SMTP check (at the highest verbosity, to prove nothing leaks there either).
    fn doctor(
        &self,
        config: &Path,
        trust: bool,
        extra: &[&str],
    ) -> (i32, serde_json::Value, String) {
        let ca = self.ca.cert.to_str().unwrap().to_string();
        let mut args = vec![
            "-vvv",
            "doctor",
            config.to_str().unwrap(),
            "--only",
            "smtp",
            "--json",
            "--timeout",
            "3",
        ];
        if trust {
            args.extend(["--ca-file", ca.as_str()]);
        }
        args.extend_from_slice(extra);
        let o = run(&args);
        let (out, err) = text(&o);
        assert!(
            !out.contains(PASSWORD) && !err.contains(PASSWORD),
            "the password leaked:\n{out}\n{err}"
        );
        (o.status.code().unwrap_or(-1), check_json(&out, "smtp"), err)
    }
}

fn problems(v: &serde_json::Value) -> String {
    serde_json::to_string(&v["problems"]).unwrap()
}

#[test]
fn plain_smtp_with_auth_sends_a_real_test_mail() {
    let Some(f) = fixture() else { return };
    let server = f.server("plain");
    let config = f.config(server.port, "", PASSWORD);
    let (code, v, err) = f.doctor(&config, true, &["--send-to", "admin@example.test"]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["status"], "pass", "{v}");
    assert!(v["summary"].as_str().unwrap().contains("AUTH PLAIN"), "{v}");
    let mails = server.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["to"][0], "admin@example.test");
    assert_eq!(mails[0]["from"], USER);
    assert_eq!(mails[0]["auth"], true);
    assert!(mails[0]["data"]
        .as_str()
        .unwrap()
        .contains("gitlab-mattermost doctor"));
}

#[test]
fn starttls_with_auth_passes() {
    let Some(f) = fixture() else { return };
    let server = f.server("starttls");
    let config = f.config(server.port, "STARTTLS", PASSWORD);
    let (code, v, err) = f.doctor(&config, true, &[]);
    assert_eq!(code, 0, "{v}\n{err}");
    let steps = v["steps"].to_string();
    assert!(
        steps.contains("STARTTLS")
            && steps.contains("EHLO over TLS")
            && steps.contains("AUTH PLAIN"),
        "{v}"
    );
    assert!(server.mails().is_empty(), "no mail without --send-to");
}

#[test]
fn implicit_tls_with_auth_passes() {
    let Some(f) = fixture() else { return };
    let server = f.server("tls");
    let config = f.config(server.port, "TLS", PASSWORD);
    let (code, v, err) = f.doctor(&config, true, &["--send-to", "ops@example.test"]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert!(v["steps"].to_string().contains("implicit TLS"), "{v}");
    assert_eq!(server.mails().len(), 1);
}

#[test]
fn a_wrong_password_is_reported_without_showing_it() {
    let Some(f) = fixture() else { return };
    let server = f.server("starttls");
    let config = f.config(server.port, "STARTTLS", "CANARY-wrong-password");
    let (code, v, err) = f.doctor(&config, true, &[]);
    assert_eq!(code, 1);
    assert_eq!(v["status"], "fail");
    let p = problems(&v);
    assert!(
        p.contains("rejected the credentials") && p.contains("password in"),
        "{p}"
    );
    assert!(
        !v.to_string().contains("CANARY-wrong-password") && !err.contains("CANARY-wrong-password")
    );
}

#[test]
fn starttls_against_an_implicit_tls_port_gets_the_tls_hint() {
    let Some(f) = fixture() else { return };
    let server = f.server("tls");
    let config = f.config(server.port, "STARTTLS", PASSWORD);
    let (code, v, _) = f.doctor(&config, true, &[]);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(
        p.contains("no SMTP greeting") && p.contains("connection_security = \\\"TLS\\\""),
        "{p}"
    );
}

#[test]
fn implicit_tls_against_a_starttls_port_gets_the_starttls_hint() {
    let Some(f) = fixture() else { return };
    let server = f.server("starttls");
    let config = f.config(server.port, "TLS", PASSWORD);
    let (code, v, _) = f.doctor(&config, true, &[]);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(p.contains("plain text") && p.contains("STARTTLS"), "{p}");
}

#[test]
fn no_encryption_where_auth_needs_starttls_says_so() {
    let Some(f) = fixture() else { return };
    let server = f.server("starttls");
    let config = f.config(server.port, "", PASSWORD);
    let (code, v, _) = f.doctor(&config, true, &[]);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(p.contains("STARTTLS"), "{p}");
}

#[test]
fn an_untrusted_server_certificate_names_the_ca_problem() {
    let Some(f) = fixture() else { return };
    let server = f.server("starttls");
    let config = f.config(server.port, "STARTTLS", PASSWORD);
    let (code, v, _) = f.doctor(&config, false, &[]);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(
        p.contains("CA this host does not trust") && p.contains("--ca-file"),
        "{p}"
    );
}

#[test]
fn a_closed_port_is_a_connection_failure() {
    let Some(f) = fixture() else { return };
    let config = f.config(free_port(), "STARTTLS", PASSWORD);
    let (code, v, _) = f.doctor(&config, true, &[]);
    assert_eq!(code, 1);
    assert!(problems(&v).contains("cannot connect"), "{v}");
}
