//! Values valid on their own that do not do what they seem to: `check` says so. What the
//! rendering would ignore is refused (see bad_configs.rs); what works but is likely a mistake
//! or a risk is a warning, and the config is still accepted (exit 0).

mod common;

use std::process::Output;

use common::*;

const HTTP: &str = "external_url = \"http://mm.example.com\"\n";

/// A complete mail section (lines 2-5); `rest` goes on inside `[smtp]`.
fn smtp(rest: &str) -> String {
    format!("{HTTP}[smtp]\nenable = true\nserver = \"smtp.example.com\"\nfeedback_email = \"mm@example.com\"\n{rest}")
}

fn check(text: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "site.toml", text);
    let o = bin().arg("check").arg(&file).output().unwrap();
    let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
    (o, stderr)
}

/// Accepted, with `want` in a warning.
fn warns(text: &str, want: &str) {
    let (o, stderr) = check(text);
    assert_eq!(o.status.code(), Some(0), "{text}\n{stderr}");
    assert!(
        stderr.contains("warning: ") && stderr.contains(want),
        "{want:?} missing for\n{text}in:\n{stderr}"
    );
}

/// Accepted, without `unwanted` anywhere.
fn quiet(text: &str, unwanted: &str) {
    let (o, stderr) = check(text);
    assert_eq!(o.status.code(), Some(0), "{text}\n{stderr}");
    assert!(
        !stderr.contains(unwanted),
        "{unwanted:?} for\n{text}in:\n{stderr}"
    );
}

#[test]
fn a_tls_mode_that_does_not_fit_the_smtp_port_is_a_warning() {
    warns(
        &smtp("port = 465\nconnection_security = \"STARTTLS\"\n"),
        "smtp.connection_security = \"STARTTLS\" on port 465: servers usually speak implicit TLS on 465 (\"TLS\") and STARTTLS on 587",
    );
    warns(
        &smtp("port = 587\nconnection_security = \"TLS\"\n"),
        "smtp.connection_security = \"TLS\" on port 587",
    );
    warns(
        &smtp("port = 587\nconnection_security = \"TLS\"\n"),
        "set smtp.connection_security = \"STARTTLS\", or the port that fits it",
    );
    // The usual pairings, and ports the pairing says nothing about.
    for (port, security) in [
        (465, "TLS"),
        (587, "STARTTLS"),
        (25, "STARTTLS"),
        (2525, "TLS"),
    ] {
        quiet(
            &smtp(&format!(
                "port = {port}\nconnection_security = \"{security}\"\n"
            )),
            "smtp.connection_security",
        );
    }
}

#[test]
fn smtp_credentials_without_auth_are_a_warning() {
    warns(
        &smtp("auth = false\nusername = \"mm\"\npassword_file = \"/etc/gitlab-mattermost-secrets/smtp\"\n"),
        "smtp.username and smtp.password_file are ignored: smtp.auth is false, so Mattermost sends mail without logging in; set smtp.auth = true to authenticate, or remove them",
    );
    warns(
        &smtp("username = \"mm\"\n"),
        "smtp.username is ignored: smtp.auth is false",
    );
    quiet(
        &smtp("auth = true\nusername = \"mm\"\npassword_file = \"/etc/gitlab-mattermost-secrets/smtp\"\n"),
        "ignored",
    );
}

#[test]
fn an_empty_gitlab_scope_is_a_warning() {
    let gitlab = |scope: &str| {
        format!(
            "{HTTP}[gitlab]\nenable = true\nallow_team_edition_route = true\nurl = \"https://gitlab.example.com\"\n\
             id = \"app\"\nsecret_file = \"/etc/gitlab-mattermost-secrets/gitlab-secret\"\n{scope}"
        )
    };
    let want = "gitlab.scope is empty: GitLab then grants its default scope, `api` (full API access), which works only with an application registered without scopes";
    warns(&gitlab("scope = \"\"\n"), want);
    warns(
        &gitlab("scope = \" \"\n"),
        "Leave gitlab.scope unset for \"read_user\"",
    );
    quiet(&gitlab(""), "gitlab.scope");
    quiet(&gitlab("scope = \"read_user\"\n"), "gitlab.scope");
}

#[test]
fn skipping_the_smtp_server_certificate_check_is_a_warning() {
    warns(
        &smtp("skip_server_certificate_verification = true\n"),
        "smtp.skip_server_certificate_verification = true: mail (and the SMTP password) goes out over TLS without checking the server's certificate",
    );
    warns(
        &format!("{HTTP}[settings.EmailSettings]\nSkipServerCertificateVerification = true\n"),
        "settings.EmailSettings.SkipServerCertificateVerification = true: mail",
    );
    quiet(&smtp(""), "without checking");
}

#[test]
fn mattermost_on_every_interface_behind_nginx_is_a_warning() {
    for address in ["0.0.0.0", "::", "[::]", ""] {
        warns(
            &format!("{HTTP}[listen]\naddress = \"{address}\"\n"),
            &format!("listen.address = {address:?} makes Mattermost listen on every interface while nginx is in front of it: port 8065 is then reachable directly, around nginx; set listen.address = \"127.0.0.1\""),
        );
    }
    quiet(
        &format!("{HTTP}[listen]\naddress = \"127.0.0.1\"\n"),
        "every interface",
    );
    // Without nginx in front, listening everywhere is how Mattermost is reached.
    quiet(
        &format!("{HTTP}[listen]\naddress = \"0.0.0.0\"\n[nginx]\nenable = false\n"),
        "every interface",
    );
}

#[test]
fn the_examples_raise_none_of_these() {
    for file in [
        example("full.toml"),
        example("minimal.toml"),
        example("full.json"),
        repo_root().join("checks/system/configs/second.toml"),
    ] {
        let o = bin().arg("check").arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{file:?}: {stderr}");
        for phrase in [
            "smtp.connection_security",
            "ignored",
            "gitlab.scope",
            "without checking",
            "every interface",
            "plain http",
        ] {
            assert!(!stderr.contains(phrase), "{file:?}: {phrase:?} in {stderr}");
        }
    }
}

/// `import` does not carry what `check` refuses: a port in words stays out of `settings`, a
/// redirect on a plain http site out of `nginx`, and the report says each was dropped.
#[cfg(feature = "full")]
#[test]
fn import_drops_what_check_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "mattermost_external_url 'http://mm.example.com'\n\
         mattermost['email_smtp_server'] = 'smtp.example.com'\n\
         mattermost['email_smtp_port'] = 'five-eight-seven'\n\
         mattermost['email_feedback_email'] = 'mm@example.com'\n\
         mattermost_nginx['redirect_http_to_https'] = true\n",
    );
    let o = bin().arg("import").arg(&rb).output().unwrap();
    let config = String::from_utf8_lossy(&o.stdout);
    let report = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{report}");
    assert!(!config.contains("SMTPPort"), "{config}");
    assert!(!config.contains("redirect_http_to_https"), "{config}");
    let (carried, dropped) = report.split_once("\ndropped").expect("a dropped section");
    assert!(
        dropped.contains("gitlab.rb:3:1 mattermost['email_smtp_port']: settings.EmailSettings.SMTPPort: the config would be refused: EmailSettings.SMTPPort: expected a port number from 1 to 65535, found \"five-eight-seven\""),
        "{report}"
    );
    assert!(
        dropped.contains(
            "gitlab.rb:5:1 mattermost_nginx['redirect_http_to_https']: not used: nginx serves plain http"
        ),
        "{report}"
    );
    assert!(!carried.contains("email_smtp_port"), "{report}");
    // What it made passes `check`.
    let file = write(dir.path(), "imported.toml", &config);
    let o = bin().arg("check").arg(&file).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
