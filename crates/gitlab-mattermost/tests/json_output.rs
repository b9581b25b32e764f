//! `check --json` and `env --json`: what scripts read, parsed back as JSON; the same exit codes.

mod common;

use common::bin;
use serde_json::Value;

fn run(args: &[&str]) -> (i32, Value) {
    let out = bin().args(args).output().expect("run");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn check_json_lists_every_problem_with_its_position() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("site.toml");
    std::fs::write(
        &config,
        "external_url = \"http://chat.example.com\"\n[smtp]\nport = \"five\"\n",
    )
    .expect("write");
    let path = config.to_string_lossy().into_owned();
    let (code, report) = run(&["check", "--json", &path, "--set", "listen.port=99999"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["valid"], Value::Bool(false));
    let errors = report["errors"].as_array().expect("errors");
    let port = errors
        .iter()
        .find(|e| e["key"] == "smtp.port")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(port["source"], Value::from(path.clone()));
    assert_eq!(port["line"].as_u64(), Some(3), "{report:#}");
    // The value's column: `port = "five"`.
    assert_eq!(port["column"].as_u64(), Some(8), "{report:#}");
    let set = errors
        .iter()
        .find(|e| e["key"] == "listen.port")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(set["source"], "--set #1", "{report:#}");

    let (code, report) = run(&[
        "check",
        "--json",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/minimal.toml"),
    ]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["valid"], Value::Bool(true));
    assert_eq!(report["errors"], Value::Array(vec![]));
}

#[test]
fn env_json_names_secret_files_never_their_content() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret = tmp.path().join("smtp-password");
    std::fs::write(&secret, "canary-7f3a9 do not print\n").expect("write");
    let config = tmp.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"http://chat.example.com\"\n[smtp]\nenable = true\nserver = \"mail.example.com\"\nport = 587\nconnection_security = \"STARTTLS\"\nusername = \"mattermost\"\npassword_file = \"{}\"\nfeedback_email = \"chat@example.com\"\n",
            secret.display()
        ),
    )
    .expect("write");
    let out = bin()
        .args(["env", "--json"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("canary-7f3a9"), "{text}");
    let report: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        report["environment"]["MM_SERVICESETTINGS_SITEURL"],
        "http://chat.example.com"
    );
    let secrets = report["secrets"].as_array().expect("secrets");
    assert!(
        secrets
            .iter()
            .any(|s| s["variable"] == "MM_EMAILSETTINGS_SMTPPASSWORD"
                && s["file"] == secret.display().to_string().as_str()),
        "{report:#}"
    );
}
