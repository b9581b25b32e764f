//! Every command that reads a config finds it without an argument: $GITLAB_MATTERMOST_CONFIG,
//! else /etc/gitlab-mattermost.toml.

mod common;

use common::bin;

const FULL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/full.toml");

#[test]
fn the_config_comes_from_the_environment_variable() {
    let out = bin()
        .arg("env")
        .env("GITLAB_MATTERMOST_CONFIG", FULL)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("MM_SERVICESETTINGS_SITEURL="));
}

#[test]
fn without_either_the_config_is_etc_gitlab_mattermost_toml() {
    let default = std::path::Path::new("/etc/gitlab-mattermost.toml");
    if default.exists() {
        eprintln!("SKIPPED: {} exists on this host", default.display());
        return;
    }
    let out = bin()
        .arg("check")
        .env_remove("GITLAB_MATTERMOST_CONFIG")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/etc/gitlab-mattermost.toml"), "{err}");
}
