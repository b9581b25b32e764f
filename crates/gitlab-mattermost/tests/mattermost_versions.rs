//! `mattermost.version`: settings are checked against the catalogue of the Mattermost version
//! the server runs; `explain` says which versions have a setting; the importer maps the GitLab
//! version to the Mattermost it bundled; the committed catalogues are what the generator
//! writes from Mattermost's model.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

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
    diagnostic_lines(&String::from_utf8_lossy(&o.stderr))
}

/// The 10.11 line, knowingly past its end of life.
fn on_10(rest: &str) -> String {
    format!("{HTTP}[mattermost]\nversion = \"10.11\"\nallow_end_of_life = true\n{rest}")
}

fn on_11(rest: &str) -> String {
    format!("{HTTP}[mattermost]\nversion = \"11.7\"\n{rest}")
}

fn check_on(dir: &Path, text: &str, today: &str) -> Output {
    let file = write(dir, "site.toml", text);
    bin()
        .arg("check")
        .arg(file)
        .env("GITLAB_MATTERMOST_TODAY", today)
        .output()
        .expect("runs")
}

#[test]
fn the_default_target_is_the_supported_esr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "site.toml", HTTP);
    let o = bin().arg("env").arg(file).output().expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    // 11.7's catalogue: a setting 11 added is rendered, so the default is the 11 line.
    let o = check(
        dir.path(),
        &format!("{HTTP}[settings.ServiceSettings]\nExperimentalStrictCSRFEnforcement = true\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // "11.x", the old name of the 11 line, still reads as 11.7.
    let o = check(
        dir.path(),
        &format!("{HTTP}[mattermost]\nversion = \"11.x\"\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_line_past_its_end_of_life_is_refused_unless_the_config_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ten = format!("{HTTP}[mattermost]\nversion = \"10.11\"\n");
    // The last day of support: accepted without a word.
    let o = check_on(dir.path(), &ten, "2026-08-15");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("end of life"), "{}", stderr(&o));
    // The day after: exit 2, at the key, saying what to do; nothing else is printed as valid.
    let o = check_on(dir.path(), &ten, "2026-08-16");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:3:11: mattermost.version: Mattermost 10.11 ESR reached its end of life on 2026-08-15"),
        "{err}"
    );
    assert!(err.contains("mattermost.version = \"11.7\""), "{err}");
    assert!(err.contains("11.7.3"), "{err}");
    assert!(err.contains("mattermost.allow_end_of_life = true"), "{err}");
    // Said explicitly: accepted, and warned at every check.
    let o = check_on(dir.path(), &on_10(""), "2026-12-07");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "site.toml:3:11: mattermost.version: Mattermost 10.11 ESR reached its end of life on 2026-08-15"
        ) && err.contains("warning: "),
        "{err}"
    );
    // 11.7 too, once its day has passed.
    let o = check_on(dir.path(), HTTP, "2027-05-16");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Mattermost 11.7 ESR reached its end of life on 2027-05-15"));
    // A malformed day is an error, not a silent clock.
    let o = check_on(dir.path(), HTTP, "2026-02-30");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("GITLAB_MATTERMOST_TODAY"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_setting_only_11_has_is_refused_for_10_11_with_the_version_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = check(
        dir.path(),
        &on_10("[settings.ServiceSettings]\nExperimentalStrictCSRFEnforcement = true\n"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:6:1: settings.ServiceSettings.ExperimentalStrictCSRFEnforcement:"),
        "{err}"
    );
    assert!(
        err.contains("does not exist in Mattermost 10.11 (added in Mattermost 11.7)"),
        "{err}"
    );
    assert!(err.contains("mattermost.version"), "{err}");

    // The environment spelling is refused the same way.
    let o = check(
        dir.path(),
        &on_10("[settings]\nMM_AUTOTRANSLATIONSETTINGS_ENABLE = true\n"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:6:1: settings.MM_AUTOTRANSLATIONSETTINGS_ENABLE: `MM_AUTOTRANSLATIONSETTINGS_ENABLE` does not exist in Mattermost 10.11 (added in Mattermost 11.7)"),
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
        err.contains("site.toml:5:1: settings.ServiceSettings.StrictCSRFEnforcement: `ServiceSettings.StrictCSRFEnforcement` does not exist in Mattermost 11.7 (removed in Mattermost 11.7; it exists in 10.11)"),
        "{err}"
    );
    let o = check(dir.path(), &on_10(removed));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A whole category 11 dropped: each field is reported.
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

/// Measured on an 11.4 build: these make 11 exit at start (10.10 starts with all three).
#[test]
fn settings_that_stop_11_from_starting_are_refused_for_11_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (setting, why) in [
        (
            "[settings.TeamSettings]\nExperimentalViewArchivedChannels = false\n",
            "`TeamSettings.ExperimentalViewArchivedChannels = false`: Mattermost 11.7 ESR refuses to start with it",
        ),
        (
            "[settings.ExperimentalSettings]\nClientSideCertEnable = true\n",
            "`ExperimentalSettings.ClientSideCertEnable = true`: Mattermost 11.7 ESR refuses to start with it",
        ),
    ] {
        let o = check(dir.path(), &on_11(setting));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        // At the value: after `Name = ` on line 5.
        let line = setting.lines().nth(1).unwrap_or_default();
        let column = line.find('=').map_or(0, |i| i + 3);
        assert!(
            err.contains(&format!("site.toml:5:{column}: settings.")),
            "{err}"
        );
        assert!(err.contains(why), "{err}");
        let o = check(dir.path(), &on_10(setting));
        assert!(!stderr(&o).contains("refuses to start"), "{}", stderr(&o));
    }
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
    assert!(err.contains("site.toml:3:11: mattermost.version:"), "{err}");
    assert!(err.contains("10.11") && err.contains("11.7"), "{err}");
}

const GITLAB: &str = "[gitlab]\nenable = true\nurl = \"https://gitlab.example.com\"\nid_file = \"/etc/gitlab-mattermost-secrets/gitlab-id\"\nsecret_file = \"/etc/gitlab-mattermost-secrets/gitlab-secret\"\n";

#[test]
fn gitlab_sign_in_on_11_team_edition_is_a_choice_the_config_makes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Team Edition (the default) with GitLab: refused, naming every choice.
    let o = check(dir.path(), &on_11(GITLAB));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("site.toml:5:10: gitlab.enable: Mattermost 11.7 ESR Team Edition does not offer GitLab sign-in"), "{err}");
    for choice in [
        "mattermost.edition = \"enterprise\"",
        "Entry",
        "gitlab.allow_team_edition_route = true",
        "gitlab.enable = false",
    ] {
        assert!(err.contains(choice), "{choice}: {err}");
    }
    // The undocumented route, acknowledged: accepted, and the warning says what users get.
    let o = check(
        dir.path(),
        &on_11(&format!("{GITLAB}allow_team_edition_route = true\n")),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("shows no \"Sign in with GitLab\" button in any app"),
        "{err}"
    );
    assert!(err.contains("/gitlab-sign-in"), "{err}");
    // Enterprise without a licence: Entry, whose limits are stated.
    let o = check(
        dir.path(),
        &format!("{HTTP}[mattermost]\nedition = \"enterprise\"\n{GITLAB}"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("Mattermost Entry") && err.contains("10,000 messages"),
        "{err}"
    );
    // Enterprise with a licence: nothing to say.
    let licensed = format!(
        "{HTTP}[mattermost]\nedition = \"enterprise\"\nlicense_file = \"/etc/gitlab-mattermost-secrets/mattermost.mattermost-license\"\n{GITLAB}"
    );
    let o = check(dir.path(), &licensed);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning: "), "{}", stderr(&o));
    // A licence on Team Edition is refused: Team Edition would ignore it.
    let o = check(
        dir.path(),
        &format!("{HTTP}[mattermost]\nlicense_file = \"/etc/gitlab-mattermost-secrets/l\"\n"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("mattermost.license_file: a licence needs the Enterprise build"));
    // On 10.11 every edition has GitLab sign-in.
    let o = check(dir.path(), &on_10(GITLAB));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("Team Edition"), "{}", stderr(&o));
}

#[test]
fn the_licence_reaches_mattermost_only_as_a_credential() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "site.toml",
        &format!("{HTTP}[mattermost]\nedition = \"enterprise\"\nlicense_file = \"/etc/gitlab-mattermost-secrets/mattermost.mattermost-license\"\n"),
    );
    let out = dir.path().join("rendered");
    let o = bin()
        .arg("render")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    let unit = std::fs::read_to_string(out.join("systemd/mattermost.service")).expect("unit");
    assert!(
        unit.contains("LoadCredential=mattermost_license:/etc/gitlab-mattermost-secrets/mattermost.mattermost-license"),
        "{unit}"
    );
    assert!(
        unit.contains("--credential mattermost_license=MM_LICENSE"),
        "{unit}"
    );
    let env = std::fs::read_to_string(out.join("mattermost.env")).expect("env");
    assert!(
        !env.contains("MM_LICENSE"),
        "the licence is never in the env file: {env}"
    );
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
        both.contains("  versions: Mattermost 10.11, 11.7\n"),
        "{both}"
    );
    let only_11 = explain("MM_SERVICESETTINGS_EXPERIMENTALSTRICTCSRFENFORCEMENT");
    assert!(
        only_11.contains("  versions: Mattermost 11.7 only (not in 10.11"),
        "{only_11}"
    );
    let only_10 = explain("ServiceSettings.StrictCSRFEnforcement");
    assert!(
        only_10.contains("  versions: Mattermost 10.11 only (not in 11.7"),
        "{only_10}"
    );
    assert!(
        only_10.contains("catalogue 10.11: github.com/mattermost/mattermost/server/public v0.1.16"),
        "{only_10}"
    );
    // The line facts: what 11 refuses to start with, a default it changed.
    let archived = explain("TeamSettings.ExperimentalViewArchivedChannels");
    assert!(
        archived.contains("  Mattermost 11.7 ESR: refuses to start with = false (11.0 made archived channels always viewable)"),
        "{archived}"
    );
    let idle = explain("SqlSettings.MaxIdleConns");
    assert!(
        idle.contains("  Mattermost 11.7 ESR: default changed from 20 to 50"),
        "{idle}"
    );
    // Where the default changed between versions, both are shown.
    let conns = explain("SqlSettings.MaxOpenConns");
    assert!(conns.contains("  default: 100\n"), "{conns}");
    assert!(
        conns.contains("  in 10.11: type *int, default 300\n"),
        "{conns}"
    );
}

fn import_rb(args: &[&str]) -> (String, String) {
    let rb = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb/good/colocated-auto-oauth.rb");
    let o = bin()
        .arg("import")
        .arg(rb)
        .args(["--gitlab-sign-in", "team-route"])
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
        config.contains("[mattermost]\nversion = \"11.7\"\n"),
        "{config}"
    );
    assert!(
        report.contains("GitLab 18.2 bundled Mattermost 10.9 (Team Edition), which is past its end of life: mattermost.version = \"11.7\""),
        "{report}"
    );
    let (_, report) = import_rb(&["--gitlab-version", "18.7.0-ee"]);
    assert!(
        report.contains("GitLab 18.7 bundled Mattermost 10.11 (Team Edition), which is past its end of life: mattermost.version = \"11.7\""),
        "{report}"
    );
    assert!(report.contains("11.7.3 or later"), "{report}");
    // GitLab 18.4 and 18.5 shipped 10.10, not 10.11.
    let (_, report) = import_rb(&["--gitlab-version", "18.5.1"]);
    assert!(
        report.contains("GitLab 18.5 bundled Mattermost 10.10"),
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
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalogue/data");
    let dir = tempfile::tempdir().expect("tempdir");
    for (version, modfile) in [("10.11", "go.mod"), ("11.7", "go.11.mod")] {
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
            "crates/catalogue/data/mattermost-settings-{version}.tsv is stale: run tools/catalogue-gen/regenerate.sh"
        );
    }
}
