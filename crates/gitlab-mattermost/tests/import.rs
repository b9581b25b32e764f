//! `gitlab-mattermost import` end to end: the Omnibus documentation's own examples, import →
//! render round trips, byte-identical output from every format, and secrets (canaries).

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn bin() -> Command {
    Command::cargo_bin("gitlab-mattermost").expect("binary is built")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb/good")
        .join(name)
}

fn config_json() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config-json/config.json")
}

struct Run {
    config: String,
    report: String,
}

fn import(name: &str, args: &[&str]) -> Run {
    let out = bin()
        .arg("import")
        .arg(fixture(name))
        .args(args)
        // The old servers signed in with GitLab; on 11 the import needs to be told how it goes on.
        .args(sign_in_choice(args))
        .output()
        .expect("runs");
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "import {name} failed:\n{report}");
    Run {
        config: String::from_utf8_lossy(&out.stdout).into_owned(),
        report,
    }
}

/// Write `config` as `file` in `dir`, render it with a fixed install dir, return the files.
fn render(dir: &Path, file: &str, config: &str) -> BTreeMap<String, Vec<u8>> {
    let path = dir.join(file);
    std::fs::write(&path, config).expect("write config");
    let out = dir.join(format!("rendered-{file}"));
    let r = bin()
        .arg("render")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(["--install-dir", "/etc/gitlab-mattermost"])
        .output()
        .expect("runs");
    assert!(
        r.status.success(),
        "render refused the imported {file}:\n{}\n{config}",
        String::from_utf8_lossy(&r.stderr)
    );
    read_tree(&out)
}

fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("inside").display().to_string();
                files.insert(rel, std::fs::read(&p).expect("readable file"));
            }
        }
    }
    files
}

/// The rendered mattermost.env as a map.
fn env_of(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(&files["mattermost.env"]).into_owned();
    gitlab_mattermost::render::env_file::parse(&text)
        .expect("env file parses")
        .into_iter()
        .collect()
}

fn import_and_render(name: &str) -> (Run, BTreeMap<String, String>) {
    let run = import(name, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = render(dir.path(), "imported.toml", &run.config);
    let env = env_of(&files);
    (run, env)
}

/// The variables of the documented pre-11.0 translation, as Mattermost will see them.
const DOC_TRANSLATION: &[(&str, &str)] = &[
    ("MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS", "10"),
    ("MM_TEAMSETTINGS_TEAMMATENAMEDISPLAY", "full_name"),
    ("MM_SQLSETTINGS_MAXIDLECONNS", "10"),
    ("MM_LOGSETTINGS_FILELEVEL", "INFO"),
    ("MM_FILESETTINGS_ENABLEFILEATTACHMENTS", "true"),
    ("MM_RATELIMITSETTINGS_MEMORYSTORESIZE", "10000"),
    (
        "MM_SUPPORTSETTINGS_TERMSOFSERVICELINK",
        "/static/help/terms.html",
    ),
    ("MM_PRIVACYSETTINGS_SHOWEMAILADDRESS", "true"),
    (
        "MM_LOCALIZATIONSETTINGS_AVAILABLELOCALES",
        "en,es,fr,ja,pt-BR",
    ),
];

#[test]
fn doc_pre_11_block_becomes_every_documented_variable() {
    let (run, env) = import_and_render("doc-pre-11-block.rb");
    for (k, v) in DOC_TRANSLATION {
        assert_eq!(env.get(*k).map(String::as_str), Some(*v), "{k}");
    }
    // The exception table's name, not the doc example's slip (BATCHINGINTERVAL).
    assert_eq!(env["MM_EMAILSETTINGS_EMAILBATCHINGINTERVAL"], "30");
    assert!(!env.contains_key("MM_EMAILSETTINGS_BATCHINGINTERVAL"));
    // WebRTC is gone: reported with what replaced it, not carried.
    assert!(!env.keys().any(|k| k.starts_with("MM_WEBRTC")));
    assert!(run
        .report
        .contains("mattermost['webrtc_enable']: MM_WEBRTCSETTINGS_ENABLE"));
    assert!(run.report.contains("Calls plugin"));
    assert!(run.report.contains("pre-11.0 key, by the rule"));
}

#[test]
fn doc_env_translation_is_checked_variable_by_variable() {
    let (run, env) = import_and_render("doc-pre-11-env.rb");
    for (k, v) in DOC_TRANSLATION {
        assert_eq!(env.get(*k).map(String::as_str), Some(*v), "{k}");
    }
    // The doc's MM_EMAILSETTINGS_BATCHINGINTERVAL is a name Mattermost ignores: reported with
    // its line and the real name, not carried.
    assert!(!env.contains_key("MM_EMAILSETTINGS_BATCHINGINTERVAL"));
    assert!(!env.contains_key("MM_EMAILSETTINGS_EMAILBATCHINGINTERVAL"));
    assert!(
        run.report.contains(&format!("{}:13:21 mattermost['env']['MM_EMAILSETTINGS_BATCHINGINTERVAL']: MM_EMAILSETTINGS_BATCHINGINTERVAL is not a Mattermost setting (Mattermost would silently ignore it); did you mean MM_EMAILSETTINGS_EMAILBATCHINGINTERVAL?", fixture("doc-pre-11-env.rb").display())),
        "{}",
        run.report
    );
    assert!(run
        .report
        .contains("mattermost['env']['MM_WEBRTCSETTINGS_ENABLE']: MM_WEBRTCSETTINGS_ENABLE: WebRTC was removed"));
    // Both doc examples describe the same server, except for the doc's slip.
    let (_, block) = import_and_render("doc-pre-11-block.rb");
    let mut block = block;
    block.remove("MM_EMAILSETTINGS_EMAILBATCHINGINTERVAL");
    assert_eq!(block, env);
}

fn check_smtp(name: &str, port: &str, security: &str, sign_in: &str, canary: &str) {
    let (run, env) = import_and_render(name);
    let expect = [
        ("MM_EMAILSETTINGS_SMTPSERVER", "smtp.example.com"),
        ("MM_EMAILSETTINGS_SMTPPORT", port),
        ("MM_EMAILSETTINGS_CONNECTIONSECURITY", security),
        ("MM_EMAILSETTINGS_ENABLESMTPAUTH", "true"),
        ("MM_EMAILSETTINGS_SMTPUSERNAME", "username"),
        ("MM_EMAILSETTINGS_FEEDBACKNAME", "GitLab Mattermost"),
        ("MM_EMAILSETTINGS_FEEDBACKEMAIL", "email@example.com"),
        ("MM_EMAILSETTINGS_SENDEMAILNOTIFICATIONS", "true"),
        ("MM_EMAILSETTINGS_ENABLESIGNINWITHEMAIL", sign_in),
        ("MM_EMAILSETTINGS_ENABLESIGNUPWITHEMAIL", "false"),
        (
            "MM_EMAILSETTINGS_SKIPSERVERCERTIFICATEVERIFICATION",
            "false",
        ),
    ];
    for (k, v) in expect {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{name}: {k}");
    }
    // The password is a secret: a file reference, never a value.
    assert!(!env.contains_key("MM_EMAILSETTINGS_SMTPPASSWORD"));
    assert!(run
        .config
        .contains("password_file = \"/etc/gitlab-mattermost-secrets/smtp-password\""));
    assert!(run
        .report
        .contains("create /etc/gitlab-mattermost-secrets/smtp-password"));
    assert!(!run.config.contains(canary) && !run.report.contains(canary));
}

#[test]
fn doc_smtp_without_tls() {
    check_smtp(
        "doc-smtp-no-tls.rb",
        "465",
        "",
        "false",
        "CANARY-smtp-password-1",
    );
}

#[test]
fn doc_smtp_with_tls() {
    check_smtp(
        "doc-smtp-tls.rb",
        "587",
        "TLS",
        "true",
        "CANARY-smtp-password-2",
    );
}

#[test]
fn doc_proxy_env_goes_to_the_extra_environment() {
    let (run, env) = import_and_render("doc-proxy-env.rb");
    assert_eq!(env["HTTP_PROXY"], "my_proxy");
    assert_eq!(env["HTTPS_PROXY"], "my_proxy");
    assert_eq!(env["NO_PROXY"], "my_no_proxy");
    assert!(run.config.contains("[environment]"));
    assert!(run
        .report
        .contains("SSL_CERT_DIR=/opt/gitlab/embedded/ssl/certs/ is not carried"));
}

#[test]
fn doc_uid_gid_are_kept_for_the_copied_data() {
    let run = import("doc-uid-gid.rb", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = render(dir.path(), "imported.toml", &run.config);
    let sysusers = String::from_utf8_lossy(&files["sysusers.d/mattermost.conf"]).into_owned();
    assert!(sysusers.contains("1234"), "{sysusers}");
    let ids = String::from_utf8_lossy(&files["ids.json"]).into_owned();
    assert!(ids.contains("1234"), "{ids}");
    assert!(run
        .report
        .contains("account.uid = 1234 (kept so the copied data directory keeps its owner)"));
}

#[test]
fn toml_nix_and_json_render_byte_identical_files() {
    for name in [
        "doc-pre-11-block.rb",
        "doc-smtp-tls.rb",
        "heredoc-server-config.rb",
        "symbols-and-quotes.rb",
        "external-db.rb",
        "colocated-auto-oauth.rb",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rendered = Vec::new();
        for format in ["toml", "nix", "json"] {
            let run = import(name, &["--format", format]);
            rendered.push(render(
                dir.path(),
                &format!("imported.{format}"),
                &run.config,
            ));
        }
        assert_eq!(rendered[0], rendered[1], "{name}: toml vs nix");
        assert_eq!(rendered[0], rendered[2], "{name}: toml vs json");
    }
}

/// Every canary in the good fixtures and config.json.
fn canaries() -> Vec<String> {
    let mut out = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("gitlab-rb/good"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.push(config_json());
    for f in files {
        let text = std::fs::read_to_string(f).expect("readable");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("CANARY") {
            let tail = &rest[i..];
            let end = tail.find(['"', '\'', '@']).unwrap_or(tail.len());
            out.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    assert!(out.len() >= 12, "{out:?}");
    out
}

#[test]
fn no_secret_reaches_the_config_the_report_or_rendered_files() {
    let canaries = canaries();
    let names: Vec<String> = std::fs::read_dir(fixture(""))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for name in names {
        for extra in [
            vec![],
            vec![
                "--config-json".to_string(),
                config_json().display().to_string(),
            ],
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let secrets = dir.path().join("secrets");
            let mut args: Vec<String> = extra.clone();
            args.extend(["--secrets-dir".to_string(), secrets.display().to_string()]);
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = import(&name, &argv);
            let files = render(dir.path(), "imported.toml", &run.config);
            for c in &canaries {
                assert!(
                    !run.config.contains(c.as_str()),
                    "{name}: {c} in the config"
                );
                assert!(
                    !run.report.contains(c.as_str()),
                    "{name}: {c} in the report"
                );
                for (f, bytes) in &files {
                    assert!(
                        !String::from_utf8_lossy(bytes).contains(c.as_str()),
                        "{name}: {c} in rendered {f}"
                    );
                }
            }
        }
    }
}

#[test]
fn secrets_dir_holds_each_secret_in_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("s");
    let s = secrets.display().to_string();
    let run = import("external-db.rb", &["--secrets-dir", &s]);
    let pw = secrets.join("database-password");
    assert_eq!(
        std::fs::read_to_string(&pw).expect("written"),
        "CANARY db pass 4"
    );
    let mode = std::fs::metadata(&pw).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(run
        .config
        .contains(&format!("password_file = \"{}\"", pw.display())));
    assert!(run.report.contains("written (mode 0600)"));
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&secrets)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn external_database_and_replicas() {
    let (run, env) = import_and_render("external-db.rb");
    let dsn = &env["MM_SQLSETTINGS_DATASOURCE"];
    assert!(
        dsn.starts_with("postgres://mm_role@db.example.net:5433/mattermost?sslmode=verify-full"),
        "{dsn}"
    );
    assert!(env["MM_SQLSETTINGS_DATASOURCEREPLICAS"].contains("replica.example.net:5433"));
    assert!(run
        .config
        .contains("read_replicas = [\"replica.example.net:5433\"]"));
}

#[test]
fn colocated_gitlab_gets_the_oauth_omnibus_registered() {
    let (run, env) = import_and_render("colocated-auto-oauth.rb");
    assert_eq!(env["MM_GITLABSETTINGS_ENABLE"], "true");
    assert_eq!(
        env["MM_GITLABSETTINGS_AUTHENDPOINT"],
        "https://gitlab.example.com/oauth/authorize"
    );
    assert_eq!(
        env["MM_GITLABSETTINGS_USERAPIENDPOINT"],
        "https://gitlab.example.com/api/v4/user"
    );
    assert_eq!(env["MM_GITLABSETTINGS_SCOPE"], "");
    assert_eq!(
        env["MM_SERVICESETTINGS_ALLOWEDUNTRUSTEDINTERNALCONNECTIONS"],
        "gitlab.example.com"
    );
    assert_eq!(env["MM_SERVICESETTINGS_ENABLEAPITEAMDELETION"], "true");
    assert_eq!(env["MM_TEAMSETTINGS_SITENAME"], "GitLab Mattermost");
    assert!(run
        .report
        .contains("jq -r .mattermost.gitlab_secret /etc/gitlab/gitlab-secrets.json"));
    assert!(run
        .report
        .contains("jq -r .mattermost.gitlab_id /etc/gitlab/gitlab-secrets.json"));
    assert!(run
        .report
        .contains("jq -r .mattermost.sql_at_rest_encrypt_key"));
    // The local-database role question, answered in the report.
    assert!(run
        .report
        .contains("Omnibus connected as role \"gitlab_mattermost\""));
    assert!(run.report.contains("--no-owner --role=mattermost"));
    // No letsencrypt['enable'] with an https external_url: Omnibus's Let's Encrypt served it.
    assert!(run
        .config
        .contains("certificate = \"/etc/letsencrypt/live/mattermost.example.com/fullchain.pem\""));
    assert!(run.config.contains(
        "certificate_key = \"/etc/letsencrypt/live/mattermost.example.com/privkey.pem\""
    ));
}

#[test]
fn manual_oauth_on_a_separate_server() {
    let (run, env) = import_and_render("manual-oauth.rb");
    assert_eq!(env["MM_GITLABSETTINGS_ID"], "12345656");
    assert_eq!(
        env["MM_GITLABSETTINGS_TOKENENDPOINT"],
        "https://git.example.org/oauth/token"
    );
    assert!(run.config.contains("url = \"https://git.example.org\""));
    assert!(run.config.contains("id = \"12345656\""));
    // gitlab_rails['enable'] = false: no automatic registration, no GitLab host appended.
    assert!(!env.contains_key("MM_SERVICESETTINGS_ALLOWEDUNTRUSTEDINTERNALCONNECTIONS"));
    let line5 = format!(
        "{} line 5: redis[...]: configures GitLab, not Mattermost",
        fixture("manual-oauth.rb").display()
    );
    assert!(run.report.contains(&line5), "{}", run.report);
}

#[test]
fn nginx_keys_reach_the_vhost() {
    let run = import("heredoc-server-config.rb", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = render(dir.path(), "imported.toml", &run.config);
    let conf = String::from_utf8_lossy(&files["nginx/mattermost.conf"]).into_owned();
    assert!(
        conf.contains("location ^~ /foo-namespace/bar-project/raw/ {"),
        "{conf}"
    );
    assert!(conf.contains("set_real_ip_from 10.0.0.0/8;"), "{conf}");
    assert!(
        conf.contains("ssl_dhparam /etc/gitlab/ssl/dhparams.pem;"),
        "{conf}"
    );
    assert!(
        conf.contains("ssl_certificate /etc/gitlab/ssl/mattermost-nginx.crt;"),
        "{conf}"
    );
    assert!(conf.contains("client_max_body_size 250m;"), "{conf}");
    assert!(
        conf.contains("return 301 https://mattermost.example.com$request_uri;"),
        "{conf}"
    );
    assert!(
        !conf.contains("X-Frame-Options"),
        "nil removes the header: {conf}"
    );
    assert!(run
        .report
        .contains("Upgrade: the vhost sets it for websockets itself"));
    assert!(run.report.contains("hsts_include_subdomains']: the vhost's Strict-Transport-Security header has no includeSubDomains"));
}

#[test]
fn external_tls_termination_turns_nginx_https_off() {
    let run = import("external-tls-termination.rb", &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = render(dir.path(), "imported.toml", &run.config);
    let conf = String::from_utf8_lossy(&files["nginx/mattermost.conf"]).into_owned();
    assert!(
        conf.contains("listen 0.0.0.0:80;") && conf.contains("listen [::]:80;"),
        "{conf}"
    );
    assert!(!conf.contains("ssl_certificate"), "{conf}");
    let env = env_of(&files);
    assert_eq!(
        env["MM_SERVICESETTINGS_SITEURL"],
        "https://mattermost.example.com"
    );
}

#[test]
fn a_service_site_url_that_differs_becomes_site_url() {
    let run = import("site-url-behind-load-balancer.rb", &[]);
    assert!(
        run.config
            .contains("site_url = \"https://chat.example.com\""),
        "{}",
        run.config
    );
    assert!(
        run.report.contains(
            "site-url-behind-load-balancer.rb:5:1 mattermost['service_site_url']: site_url = \"https://chat.example.com\""
        ),
        "{}",
        run.report
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let files = render(dir.path(), "imported.toml", &run.config);
    assert_eq!(
        env_of(&files)["MM_SERVICESETTINGS_SITEURL"],
        "https://chat.example.com"
    );
    // nginx keeps serving the vhost Omnibus served.
    let conf = String::from_utf8_lossy(&files["nginx/mattermost.conf"]).into_owned();
    assert!(
        conf.contains("server_name mattermost.internal.example.com;"),
        "{conf}"
    );
    assert!(conf.contains("listen 0.0.0.0:8080;"), "{conf}");
    assert!(conf.contains("X-Forwarded-Proto https;"), "{conf}");
}

#[test]
fn config_json_settings_are_carried_or_dropped_with_a_reason() {
    let cj = config_json().display().to_string();
    let run = import("s3-storage-from-config-json.rb", &["--config-json", &cj]);
    let dir = tempfile::tempdir().expect("tempdir");
    let env = env_of(&render(dir.path(), "imported.toml", &run.config));
    assert_eq!(env["MM_FILESETTINGS_DRIVERNAME"], "amazons3");
    assert_eq!(env["MM_FILESETTINGS_AMAZONS3BUCKET"], "mattermost-files");
    assert_eq!(env["MM_FILESETTINGS_AMAZONS3PATHPREFIX"], "chat");
    assert_eq!(env["MM_EMAILSETTINGS_SMTPSERVER"], "smtp.example.com");
    assert_eq!(env["MM_EMAILSETTINGS_CONNECTIONSECURITY"], "STARTTLS");
    assert_eq!(env["MM_TEAMSETTINGS_MAXUSERSPERTEAM"], "200");
    // Omnibus's environment overrode config.json for SiteName: the Omnibus value stays.
    assert_eq!(env["MM_TEAMSETTINGS_SITENAME"], "GitLab Mattermost");
    assert!(run.report.contains("config.json TeamSettings.SiteName: TeamSettings.SiteName: Omnibus always set MM_TEAMSETTINGS_SITENAME"));
    assert!(run
        .report
        .contains("settings at Mattermost's default value (not carried"));
    assert!(run
        .report
        .contains("config.json BogusSettings: BogusSettings: not a setting"));
    assert!(run
        .report
        .contains("config.json WebrtcSettings: WebrtcSettings: WebRTC was removed"));
    assert!(run.config.contains("\"FileSettings.PublicLinkSalt\" = "));
    assert!(!env.contains_key("MM_FILESETTINGS_PUBLICLINKSALT"));
}

#[test]
fn out_writes_the_same_config_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mattermost.nix");
    let printed = import("doc-smtp-tls.rb", &["--format", "nix"]).config;
    bin()
        .arg("import")
        .arg(fixture("doc-smtp-tls.rb"))
        .args(["--format", "nix", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    assert_eq!(std::fs::read_to_string(&out).expect("written"), printed);
    assert!(printed.starts_with("# Imported by `gitlab-mattermost import` from "));
}

#[test]
fn a_missing_url_is_invalid_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = dir.path().join("gitlab.rb");
    std::fs::write(&rb, "mattermost['uid'] = 5\n").expect("write");
    bin()
        .arg("import")
        .arg(&rb)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("sets no mattermost_external_url"));
}

#[test]
fn explain_accepts_every_spelling_and_suggests_on_typos() {
    for key in [
        "mattermost['email_enable_batching']",
        "email_enable_batching",
        "MM_EMAILSETTINGS_ENABLEEMAILBATCHING",
        "EmailSettings.EnableEmailBatching",
    ] {
        bin()
            .args(["explain", key])
            .assert()
            .success()
            .stdout(predicates::str::contains(
                "EmailSettings.EnableEmailBatching",
            ))
            .stdout(predicates::str::contains("default: false"))
            .stdout(predicates::str::contains(
                "source: Mattermost settings catalogue",
            ));
    }
    bin()
        .args(["explain", "mattermost_external_url"])
        .assert()
        .success()
        .stdout(predicates::str::contains("source: Omnibus key table"));
    bin()
        .args(["explain", "EmailSettings.NotificationContentType"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("did you mean"));
    bin()
        .args(["explain", "MM_EMAILSETTINGS_NOTIFICATIONCONTENTTYPE"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "EmailSettings.EmailNotificationContentsType",
        ));
}

/// `--gitlab-sign-in team-route` unless the test gives a choice itself.
fn sign_in_choice(args: &[&str]) -> Vec<&'static str> {
    if args.contains(&"--gitlab-sign-in") {
        Vec::new()
    } else {
        vec!["--gitlab-sign-in", "team-route"]
    }
}

/// Plugin settings and states stay in config.json: never carried into the config (a plugin's
/// secrets would reach the rendered environment, and the environment would lock every plugin),
/// never printed; a config that sets them is refused.
#[test]
fn plugin_settings_stay_in_config_json_and_are_refused_in_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let cj = dir.path().join("config.json");
    std::fs::write(
        &cj,
        r#"{"PluginSettings": {"Enable": true,
            "Plugins": {"com.github.manland.mattermost-plugin-gitlab": {"gitlaburl": "https://gitlab.example.com",
                "gitlaboauthclientsecret": "canary-plugin-oauth-secret", "webhooksecret": "canary-plugin-webhook-secret",
                "encryptionkey": "canary-plugin-encryption-key"}},
            "PluginStates": {"com.github.manland.mattermost-plugin-gitlab": {"Enable": true}}}}"#,
    )
    .unwrap();
    let run = import(
        "colocated-auto-oauth.rb",
        &["--config-json", cj.to_str().unwrap()],
    );
    for canary in [
        "canary-plugin-oauth-secret",
        "canary-plugin-webhook-secret",
        "canary-plugin-encryption-key",
    ] {
        assert!(!run.config.contains(canary), "{}", run.config);
        assert!(!run.report.contains(canary), "{}", run.report);
    }
    assert!(!run.config.contains("Plugins"), "{}", run.config);
    assert!(
        run.report
            .contains("PluginSettings.Plugins: stays in config.json")
            && run
                .report
                .contains("PluginSettings.PluginStates: stays in config.json"),
        "{}",
        run.report
    );

    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        "external_url = \"http://chat.example.com\"\n[settings.PluginSettings.PluginStates]\n\"com.github.manland.mattermost-plugin-gitlab\" = { Enable = true }\n",
    )
    .unwrap();
    let o = bin().arg("check").arg(&config).output().expect("runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("PluginSettings.PluginStates stays Mattermost's own"),
        "{err}"
    );
}
