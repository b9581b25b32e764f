//! Secrets: a canary written into every secret file must appear in no rendered file and no
//! log line at any verbosity, and `exec` must deliver it to the program.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const CANARY: &str = "canary-7f3a9c1e-do-not-leak";

/// Secret files (each holding a distinct canary) and a config that uses all of them.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let names = [
        "gitlab-id",
        "gitlab-secret",
        "smtp-password",
        "db-password",
        "s3-key",
        "at-rest-key",
        "https-proxy",
    ];
    for n in names {
        std::fs::write(secrets.join(n), format!("{CANARY}-{n}\n")).unwrap();
    }
    let s = |n: &str| secrets.join(n).display().to_string();
    let config = write(
        dir,
        "secrets.toml",
        &format!(
            r#"external_url = "http://mattermost.example.com"
[gitlab]
enable = true
allow_team_edition_route = true
url = "https://gitlab.example.com"
id_file = "{}"
secret_file = "{}"
[smtp]
enable = true
server = "smtp.example.com"
auth = true
username = "mm"
password_file = "{}"
feedback_email = "mm@example.com"
[database]
kind = "external"
host = "db.example.com"
password_file = "{}"
[file_storage]
driver = "s3"
bucket = "mm"
access_key_id = "AKIAEXAMPLE"
secret_access_key_file = "{}"
[setting_files]
"SqlSettings.AtRestEncryptKey" = "{}"
[environment_files]
https_proxy = "{}"
"#,
            s("gitlab-id"),
            s("gitlab-secret"),
            s("smtp-password"),
            s("db-password"),
            s("s3-key"),
            s("at-rest-key"),
            s("https-proxy")
        ),
    );
    (config, secrets)
}

#[test]
fn secrets_never_reach_rendered_files_or_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, _) = setup(tmp.path());
    let out = tmp.path().join("out");
    for verbosity in ["-v", "-vv", "-vvv"] {
        for cmd in [&["render"][..], &["check"][..], &["env"][..]] {
            let mut c = bin();
            c.args(cmd)
                .arg(verbosity)
                .arg(&config)
                .env("RUST_LOG", "trace");
            if cmd == ["render"] {
                c.arg("--out").arg(&out);
            }
            let o = c.output().unwrap();
            assert!(
                o.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                !all.contains(CANARY),
                "{cmd:?} {verbosity} printed a secret:\n{all}"
            );
        }
    }
    for (name, bytes) in read_tree(&out) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(CANARY),
            "{name} holds a secret"
        );
    }
}

#[test]
fn exec_delivers_each_secret_to_the_program_and_replaces_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, secrets) = setup(tmp.path());
    let out = tmp.path().join("out");
    render(&config, &out, &[]);
    let unit = std::fs::read_to_string(out.join("systemd/mattermost.service")).unwrap();

    // Play systemd: copy each LoadCredential= file into a credentials directory, then run the
    // ExecStart= arguments with `env` as the program.
    let creds = tmp.path().join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    for line in unit
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
    {
        let (name, path) = line.split_once(':').unwrap();
        std::fs::copy(path, creds.join(name)).unwrap();
    }
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut args: Vec<String> = exec_start.split(' ').map(str::to_string).collect();
    args.remove(0); // the wrapper path, which is the test binary here
    let dash = args.iter().position(|a| a == "--").unwrap();
    args.truncate(dash + 1);
    args.push("env".into());
    let env_file = out.join("mattermost.env");
    let env_arg = args.iter().position(|a| a == "--env-file").unwrap() + 1;
    args[env_arg] = env_file.display().to_string();

    let o = Command::new(bin_path())
        .args(&args)
        .env_clear()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let env = String::from_utf8(o.stdout).unwrap();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} not set in:\n{env}"))
            .to_string()
    };
    assert_eq!(var("MM_GITLABSETTINGS_ID"), format!("{CANARY}-gitlab-id"));
    assert_eq!(
        var("MM_GITLABSETTINGS_SECRET"),
        format!("{CANARY}-gitlab-secret")
    );
    assert_eq!(
        var("MM_EMAILSETTINGS_SMTPPASSWORD"),
        format!("{CANARY}-smtp-password")
    );
    assert_eq!(
        var("MM_FILESETTINGS_AMAZONS3SECRETACCESSKEY"),
        format!("{CANARY}-s3-key")
    );
    assert_eq!(
        var("MM_SQLSETTINGS_ATRESTENCRYPTKEY"),
        format!("{CANARY}-at-rest-key")
    );
    assert_eq!(var("https_proxy"), format!("{CANARY}-https-proxy"));
    assert_eq!(
        var("MM_SQLSETTINGS_DATASOURCE"),
        format!("postgres://mattermost:{CANARY}-db-password@db.example.com:5432/mattermost?sslmode=require&connect_timeout=10")
    );
    assert_eq!(
        var("MM_SERVICESETTINGS_SITEURL"),
        "http://mattermost.example.com"
    );
    let _ = secrets;
}

#[test]
fn exec_replaces_itself_instead_of_spawning_a_child() {
    // `sh -c 'echo $$; echo $PPID'`: with exec, the shell's PID is the wrapper's PID, so the
    // shell's parent is this test process, not a leftover wrapper.
    let o = Command::new(bin_path())
        .args(["exec", "--", "sh", "-c", "echo $PPID"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let ppid: u32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert_eq!(ppid, std::process::id());
}

#[test]
fn exec_fails_clearly_on_a_missing_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |creds: Option<&Path>| {
        let mut c = Command::new(bin_path());
        c.args([
            "exec",
            "--credential",
            "smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD",
            "--",
            "true",
        ]);
        match creds {
            Some(dir) => c.env("CREDENTIALS_DIRECTORY", dir),
            None => c.env_remove("CREDENTIALS_DIRECTORY"),
        };
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(1));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let stderr = run(Some(tmp.path()));
    assert!(
        stderr.contains("credential \"smtp_password\" is missing"),
        "{stderr}"
    );
    assert!(run(None).contains("$CREDENTIALS_DIRECTORY is not set"));
}

#[test]
fn env_file_values_survive_the_round_trip_through_exec() {
    let tmp = tempfile::tempdir().unwrap();
    let awkward = "quote \" back\\slash $HOME `tick` and\nnewline";
    let config = write(
        tmp.path(),
        "c.toml",
        &format!(
            "external_url = \"http://mm.example.com\"\n[environment]\nAWKWARD = {}\n",
            toml_string(awkward)
        ),
    );
    let out = tmp.path().join("out");
    render(&config, &out, &[]);
    let o = Command::new(bin_path())
        .arg("exec")
        .arg("--env-file")
        .arg(out.join("mattermost.env"))
        .args(["--", "sh", "-c", "printf '%s' \"$AWKWARD\""])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), awkward);
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
