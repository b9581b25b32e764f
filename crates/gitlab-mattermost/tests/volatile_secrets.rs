//! A secret file on a directory emptied at boot is warned about, unless the config says the
//! files are provisioned at every boot.

mod common;

use common::{bin, outcome};

fn check(extra: &[&str]) -> (i32, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("site.toml");
    std::fs::write(
        &config,
        "external_url = \"http://chat.example.com\"\n[database]\nkind = \"external\"\nhost = \"db.example.com\"\npassword_file = \"/run/secrets/db-password\"\n[smtp]\nenable = true\nserver = \"mail.example.com\"\nport = 587\nconnection_security = \"STARTTLS\"\nusername = \"chat\"\npassword_file = \"/etc/gitlab-mattermost-secrets/smtp-password\"\nfeedback_email = \"chat@example.com\"\n",
    )
    .expect("write");
    let (code, _, err) = outcome(
        bin()
            .arg("check")
            .arg(&config)
            .args(extra)
            .output()
            .expect("run"),
    );
    (code, err)
}

#[test]
fn a_secret_under_run_is_warned_about_and_a_persistent_one_is_not() {
    let (code, err) = check(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("/run/secrets/db-password is a secret file on a directory emptied at boot"),
        "{err}"
    );
    assert!(!err.contains("smtp-password is a secret file"), "{err}");
}

#[test]
fn secrets_provisioned_at_boot_silence_the_warning() {
    let (code, err) = check(&["--set", "secrets_provisioned_at_boot=true"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("emptied at boot"), "{err}");
}
