//! `import --omnibus-root`: an Omnibus host's files laid out in a scratch root, before and
//! after GitLab 19 removed the `mattermost` section from gitlab-secrets.json. Secrets must come
//! from where copies survive, be refused when absent, `null` or too short, and never show in
//! the config or the report.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::json;

const KEY_OLD: &str = "0123456789abcdef0123456789abcdef";
const KEY_NEW: &str = "fedcba9876543210fedcba9876543210";
const APP_ID: &str = "canary-app-id-0a1b2c";
const APP_SECRET: &str = "canary-app-secret-3d4e5f";

fn bin() -> Command {
    Command::cargo_bin("gitlab-mattermost").expect("binary is built")
}

/// A scratch Omnibus host: gitlab.rb naming GitLab and Mattermost on one node, and the
/// `mattermost` account as the OS created it.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let host = Host {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        host.write(
            "etc/gitlab/gitlab.rb",
            "external_url 'https://gitlab.example.com'\n\
             mattermost_external_url 'https://mattermost.example.com'\n",
        );
        host.write(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\n\
             git:x:995:995::/var/opt/gitlab:/bin/sh\n\
             mattermost:x:996:994::/var/opt/gitlab/mattermost:/usr/sbin/nologin\n",
        );
        host
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// gitlab-secrets.json as GitLab 18 left it (`Some`) or as 19 rewrote it (`None`).
    fn secrets_json(&self, mattermost: Option<serde_json::Value>) {
        let mut doc = json!({"gitlab_rails": {"secret_key_base": "not-ours"}});
        if let Some(m) = mattermost {
            doc["mattermost"] = m;
        }
        self.write("etc/gitlab/gitlab-secrets.json", &doc.to_string());
    }

    /// A configuration backup as `gitlab-ctl backup-etc` makes it: `tar --absolute-names` of
    /// /etc/gitlab, entries named `/etc/gitlab/…`.
    fn config_backup(&self, epoch: u64, mattermost: serde_json::Value) {
        let staging = tempfile::tempdir().expect("tempdir");
        let etc = staging.path().join("etc/gitlab");
        std::fs::create_dir_all(&etc).expect("mkdir");
        std::fs::write(etc.join("gitlab.rb"), "# old\n").expect("write");
        let doc = json!({"gitlab_rails": {}, "mattermost": mattermost});
        std::fs::write(etc.join("gitlab-secrets.json"), doc.to_string()).expect("write");
        let dir = self.path("etc/gitlab/config_backup");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let tar = dir.join(format!("gitlab_config_{epoch}_2026_05_20.tar"));
        let strip = format!("s,^{},,", staging.path().display());
        let status = std::process::Command::new("tar")
            .arg("--absolute-names")
            .args(["--transform", &strip])
            .arg("-cf")
            .arg(&tar)
            .arg(&etc)
            .status()
            .expect("tar runs");
        assert!(status.success());
        let listed = std::process::Command::new("tar")
            .arg("-tPf")
            .arg(&tar)
            .output()
            .expect("tar runs");
        assert!(
            String::from_utf8_lossy(&listed.stdout).contains("/etc/gitlab/gitlab-secrets.json"),
            "the backup is laid out as Omnibus's: {}",
            String::from_utf8_lossy(&listed.stdout)
        );
    }

    /// Omnibus's env directory: one file per variable, no trailing newline.
    fn env_dir(&self, vars: &[(&str, &str)]) {
        for (name, value) in vars {
            self.write(&format!("opt/gitlab/etc/mattermost/env/{name}"), value);
        }
    }

    fn import(&self, secrets_dir: &Path) -> Output {
        bin()
            .arg("import")
            .arg("--omnibus-root")
            .arg(self.root())
            .arg("--secrets-dir")
            .arg(secrets_dir)
            .args(["--gitlab-sign-in", "team-route"])
            .output()
            .expect("runs")
    }
}

fn all_mattermost_secrets(key: &str) -> serde_json::Value {
    json!({
        "email_invite_salt": "x", "file_public_link_salt": "y",
        "sql_at_rest_encrypt_key": key, "gitlab_id": APP_ID, "gitlab_secret": APP_SECRET,
        "register_as_oauth_app": true, "gitlab_enable": true
    })
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn assert_no_secret_in(text: &str) {
    for s in [KEY_OLD, KEY_NEW, APP_ID, APP_SECRET] {
        // The application id is not secret, but it is written to a file, not the config.
        assert!(!text.contains(s), "{s} leaked:\n{text}");
    }
}

fn success(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "import failed:\n{stderr}");
    (stdout, stderr)
}

#[test]
fn gitlab_18_host_secrets_come_from_gitlab_secrets_json() {
    let host = Host::new();
    host.secrets_json(Some(all_mattermost_secrets(KEY_OLD)));
    let secrets = tempfile::tempdir().expect("tempdir");
    let dir = secrets.path().join("s");
    let (config, report) = success(&host.import(&dir));
    assert_eq!(read(&dir, "sqlsettings-atrestencryptkey"), KEY_OLD);
    assert_eq!(read(&dir, "gitlab-id"), APP_ID);
    assert_eq!(read(&dir, "gitlab-secret"), APP_SECRET);
    for f in ["sqlsettings-atrestencryptkey", "gitlab-id", "gitlab-secret"] {
        let mode = std::fs::metadata(dir.join(f))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    assert!(
        report.contains("gitlab-secrets.json .mattermost.sql_at_rest_encrypt_key"),
        "{report}"
    );
    // The account keeps the old host's numbers.
    assert!(config.contains("uid = 996"), "{config}");
    assert!(config.contains("gid = 994"), "{config}");
    assert!(config.contains("gitlab-id"), "{config}");
    assert_no_secret_in(&config);
    assert_no_secret_in(&report);
}

#[test]
fn gitlab_19_host_secrets_come_from_the_newest_config_backup() {
    let host = Host::new();
    host.secrets_json(None);
    host.config_backup(1_700_000_000, all_mattermost_secrets(KEY_OLD));
    host.config_backup(1_760_000_000, all_mattermost_secrets(KEY_NEW));
    let secrets = tempfile::tempdir().expect("tempdir");
    let (config, report) = success(&host.import(secrets.path()));
    assert_eq!(
        read(secrets.path(), "sqlsettings-atrestencryptkey"),
        KEY_NEW
    );
    assert_eq!(read(secrets.path(), "gitlab-secret"), APP_SECRET);
    assert!(
        report.contains("gitlab_config_1760000000_2026_05_20.tar"),
        "{report}"
    );
    assert!(report.contains("has no mattermost section"), "{report}");
    assert_no_secret_in(&config);
    assert_no_secret_in(&report);
}

#[test]
fn the_env_directory_wins_and_a_different_copy_is_reported() {
    let host = Host::new();
    host.secrets_json(Some(all_mattermost_secrets(KEY_OLD)));
    host.env_dir(&[
        ("MM_SQLSETTINGS_ATRESTENCRYPTKEY", KEY_NEW),
        ("MM_GITLABSETTINGS_ID", APP_ID),
        ("MM_GITLABSETTINGS_SECRET", APP_SECRET),
    ]);
    let secrets = tempfile::tempdir().expect("tempdir");
    let (_, report) = success(&host.import(secrets.path()));
    assert_eq!(
        read(secrets.path(), "sqlsettings-atrestencryptkey"),
        KEY_NEW
    );
    assert!(report.contains("also found, different"), "{report}");
    assert!(
        report.contains("MM_SQLSETTINGS_ATRESTENCRYPTKEY"),
        "{report}"
    );
    assert_no_secret_in(&report);
}

#[test]
fn null_short_and_missing_secrets_are_refused_naming_every_place_and_nothing_is_written() {
    let host = Host::new();
    // What the guide's `jq -r` made of a GitLab 19 host, and a key Mattermost refuses.
    host.secrets_json(None);
    host.env_dir(&[
        ("MM_SQLSETTINGS_ATRESTENCRYPTKEY", "0123456789"),
        ("MM_GITLABSETTINGS_SECRET", "null"),
    ]);
    let secrets = tempfile::tempdir().expect("tempdir");
    let dir = secrets.path().join("s");
    let out = host.import(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!dir.exists(), "nothing may be written");
    assert!(stderr.contains("SqlSettings.AtRestEncryptKey"), "{stderr}");
    assert!(stderr.contains("10 characters"), "{stderr}");
    assert!(stderr.contains("GitLabSettings.Secret"), "{stderr}");
    assert!(stderr.contains("\"null\""), "{stderr}");
    assert!(stderr.contains("GitLabSettings.Id"), "{stderr}");
    assert!(stderr.contains("no mattermost section"), "{stderr}");
    assert!(stderr.contains("no gitlab_config_*.tar"), "{stderr}");
    assert!(
        !stderr.contains("0123456789"),
        "never print a value: {stderr}"
    );
}

#[test]
fn values_in_gitlab_rb_are_kept_and_the_gitlab_version_is_read() {
    let host = Host::new();
    host.write(
        "etc/gitlab/gitlab.rb",
        &format!(
            "external_url 'https://gitlab.example.com'\n\
             mattermost_external_url 'https://mattermost.example.com'\n\
             mattermost['uid'] = 1234\n\
             mattermost['sql_at_rest_encrypt_key'] = '{KEY_NEW}'\n"
        ),
    );
    host.write(
        "opt/gitlab/embedded/service/gitlab-rails/VERSION",
        "18.11.2\n",
    );
    host.secrets_json(Some(all_mattermost_secrets(KEY_OLD)));
    let secrets = tempfile::tempdir().expect("tempdir");
    let (config, report) = success(&host.import(secrets.path()));
    assert_eq!(
        read(secrets.path(), "sqlsettings-atrestencryptkey"),
        KEY_NEW
    );
    assert!(config.contains("uid = 1234"), "{config}");
    assert!(config.contains("gid = 994"), "{config}");
    assert!(
        report.contains("10.11"),
        "the GitLab version names its Mattermost: {report}"
    );
}

#[test]
fn a_root_without_gitlab_rb_and_a_missing_secrets_dir_are_refused() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .arg("import")
        .arg("--omnibus-root")
        .arg(empty.path())
        .arg("--secrets-dir")
        .arg(empty.path().join("s"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("etc/gitlab/gitlab.rb"));
    let out = bin()
        .arg("import")
        .arg("--omnibus-root")
        .arg(empty.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secrets-dir"));
}
