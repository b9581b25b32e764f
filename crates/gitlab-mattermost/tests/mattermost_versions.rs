//! `mattermost.version`: settings are checked against the catalogue of the Mattermost version
//! the server runs; `explain` says which versions have a setting; the importer maps the GitLab
//! version to the Mattermost it bundled; the committed catalogues are what the generator
//! writes from Mattermost's model.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

const HTTP: &str = "external_url = \"http://mm.example.com\"\n";

fn check(dir: &Path, text: &str) -> Output {
    let file = write(dir, "site.toml", text);
    bin().arg("check").arg(file).output().expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn on_11(rest: &str) -> String {
    format!("{HTTP}[mattermost]\nversion = \"11.x\"\n{rest}")
}

#[test]
fn a_setting_only_11_has_is_refused_for_10_11_with_the_version_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = check(
        dir.path(),
        &format!("{HTTP}[settings.ServiceSettings]\nExperimentalStrictCSRFEnforcement = true\n"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:3:1: settings.ServiceSettings.ExperimentalStrictCSRFEnforcement:"),
        "{err}"
    );
    assert!(
        err.contains("does not exist in Mattermost 10.11 (added in Mattermost 11.x)"),
        "{err}"
    );
    assert!(err.contains("mattermost.version"), "{err}");

    // The environment spelling is refused the same way.
    let o = check(
        dir.path(),
        &format!("{HTTP}[settings]\nMM_AUTOTRANSLATIONSETTINGS_ENABLE = true\n"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:3:1: settings.MM_AUTOTRANSLATIONSETTINGS_ENABLE: `MM_AUTOTRANSLATIONSETTINGS_ENABLE` does not exist in Mattermost 10.11 (added in Mattermost 11.x)"),
        "{err}"
    );
}

#[test]
fn the_same_setting_is_accepted_for_11() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = check(
        dir.path(),
        &on_11("[settings.ServiceSettings]\nExperimentalStrictCSRFEnforcement = true\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_setting_11_removed_is_refused_there_and_accepted_for_10_11() {
    let dir = tempfile::tempdir().expect("tempdir");
    let removed = "[settings.ServiceSettings]\nStrictCSRFEnforcement = true\n";
    let o = check(dir.path(), &on_11(removed));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:5:1: settings.ServiceSettings.StrictCSRFEnforcement: `ServiceSettings.StrictCSRFEnforcement` does not exist in Mattermost 11.x (removed in Mattermost 11.x; it exists in 10.11)"),
        "{err}"
    );
    let o = check(dir.path(), &format!("{HTTP}{removed}"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A whole category 11.x dropped: each field is reported.
    let o = check(
        dir.path(),
        &on_11(
            "[settings.NotificationLogSettings]\nEnableConsole = true\nConsoleLevel = \"INFO\"\n",
        ),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:5:1: settings.NotificationLogSettings.EnableConsole:"),
        "{err}"
    );
    assert!(
        err.contains("site.toml:6:1: settings.NotificationLogSettings.ConsoleLevel:"),
        "{err}"
    );
    assert!(err.contains("2 errors found"), "{err}");
}

#[test]
fn a_rule_11_added_applies_to_11_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hide = "[settings.TeamSettings]\nExperimentalViewArchivedChannels = false\n";
    let o = check(dir.path(), &format!("{HTTP}{hide}"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = check(dir.path(), &on_11(hide));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("experimental_view_archived_channels.app_error"),
        "{err}"
    );
}

#[test]
fn an_unknown_version_is_refused_with_the_supported_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = check(
        dir.path(),
        &format!("{HTTP}[mattermost]\nversion = \"9.11\"\n"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("site.toml:3:1: mattermost.version:"), "{err}");
    assert!(err.contains("10.11") && err.contains("11.x"), "{err}");
}

const GITLAB: &str = "[gitlab]\nenable = true\nurl = \"https://gitlab.example.com\"\nid_file = \"/run/secrets/gitlab-id\"\nsecret_file = \"/run/secrets/gitlab-secret\"\n";

#[test]
fn gitlab_sign_in_on_11_warns_about_the_licence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = check(dir.path(), &on_11(GITLAB));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("WARN"), "{err}");
    assert!(
        err.contains(
            "gitlab.enable: Mattermost 11.x offers \"Sign in with GitLab\" only with a licence"
        ),
        "{err}"
    );
    // On 10.11, or with a licence, nothing to say.
    let o = check(dir.path(), &format!("{HTTP}{GITLAB}"));
    assert_eq!(o.status.code(), Some(0));
    assert!(!stderr(&o).contains("licence"), "{}", stderr(&o));
    let licensed = format!(
        "{GITLAB}[settings.ServiceSettings]\nLicenseFileLocation = \"/var/lib/mattermost/mattermost.mattermost-license\"\n"
    );
    let o = check(dir.path(), &on_11(&licensed));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("licence"), "{}", stderr(&o));
}

fn explain(key: &str) -> String {
    let o = bin().args(["explain", key]).output().expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn explain_says_which_versions_have_a_setting() {
    let both = explain("ServiceSettings.SiteURL");
    assert!(
        both.contains("  versions: Mattermost 10.11, 11.x\n"),
        "{both}"
    );
    let only_11 = explain("MM_SERVICESETTINGS_EXPERIMENTALSTRICTCSRFENFORCEMENT");
    assert!(
        only_11.contains("  versions: Mattermost 11.x only (not in 10.11"),
        "{only_11}"
    );
    let only_10 = explain("ServiceSettings.StrictCSRFEnforcement");
    assert!(
        only_10.contains("  versions: Mattermost 10.11 only (not in 11.x"),
        "{only_10}"
    );
    assert!(
        only_10.contains("catalogue 10.11: github.com/mattermost/mattermost/server/public v0.1.16"),
        "{only_10}"
    );
    // Where the default changed between versions, both are shown.
    let conns = explain("SqlSettings.MaxOpenConns");
    assert!(conns.contains("  default: 300\n"), "{conns}");
    assert!(
        conns.contains("  in 11.x: type *int, default 100\n"),
        "{conns}"
    );
}

fn import_rb(args: &[&str]) -> (String, String) {
    let rb = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb/good/colocated-auto-oauth.rb");
    let o = bin()
        .arg("import")
        .arg(rb)
        .args(args)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    (String::from_utf8_lossy(&o.stdout).into_owned(), stderr(&o))
}

#[test]
fn import_maps_the_gitlab_version_to_the_mattermost_it_bundled() {
    let (config, report) = import_rb(&["--gitlab-version", "18.2.1"]);
    assert!(
        config.contains("[mattermost]\nversion = \"10.11\"\n"),
        "{config}"
    );
    assert!(
        report.contains("GitLab 18.2 bundled Mattermost 10.9: mattermost.version = \"10.11\""),
        "{report}"
    );
    let (_, report) = import_rb(&["--gitlab-version", "18.7.0-ee"]);
    assert!(
        report.contains("GitLab 18.7 bundled Mattermost 10.11: mattermost.version = \"10.11\""),
        "{report}"
    );
    // Without it, gitlab.rb does not tell: the default, said so.
    let (config, report) = import_rb(&[]);
    assert!(!config.contains("version ="), "{config}");
    assert!(
        report.contains("gitlab.rb does not say which GitLab"),
        "{report}"
    );
    let rb = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb/good/colocated-auto-oauth.rb");
    let o = bin()
        .arg("import")
        .arg(rb)
        .args(["--gitlab-version", "latest"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--gitlab-version: expected a GitLab version"));
}

/// The committed catalogues are what tools/catalogue-gen writes from Mattermost's model.
/// Needs Go and the pinned modules (module cache or proxy); skipped without them.
#[test]
fn committed_catalogues_match_the_generator() {
    if !have("go") {
        return;
    }
    let tool = repo_root().join("tools/catalogue-gen");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let dir = tempfile::tempdir().expect("tempdir");
    for (version, modfile) in [("10.11", "go.mod"), ("11.x", "go.11.x.mod")] {
        let exe = dir.path().join(format!("gen-{version}"));
        let build = Command::new("go")
            .current_dir(&tool)
            .env("GOFLAGS", "-mod=readonly")
            .arg("build")
            .arg(format!("-modfile={modfile}"))
            .arg("-o")
            .arg(&exe)
            .arg(".")
            .output()
            .expect("go runs");
        if !build.status.success() {
            eprintln!(
                "SKIPPED: cannot build tools/catalogue-gen with {modfile} (the pinned Mattermost module is neither cached nor downloadable): {}",
                String::from_utf8_lossy(&build.stderr).lines().last().unwrap_or("")
            );
            return;
        }
        let run = Command::new(&exe)
            .arg(version)
            .output()
            .expect("generator runs");
        assert!(run.status.success(), "{}", stderr(&run));
        let committed =
            std::fs::read_to_string(data.join(format!("mattermost-settings-{version}.tsv")))
                .expect("committed catalogue");
        assert!(
            String::from_utf8_lossy(&run.stdout) == committed,
            "data/mattermost-settings-{version}.tsv is stale: run tools/catalogue-gen/regenerate.sh"
        );
    }
}
