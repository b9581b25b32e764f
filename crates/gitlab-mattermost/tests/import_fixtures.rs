//! Every gitlab.rb fixture: the good ones import into a config `check` accepts, with what
//! cannot be imported reported by line; the broken ones fail with exit 2 naming the line
//! and column written in their `# expect-error-at: L:C` header.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn bin() -> Command {
    Command::cargo_bin("gitlab-mattermost").expect("binary is built")
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb")
        .join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rb"))
        .collect();
    v.sort();
    v
}

fn report_of(path: &Path) -> (String, String) {
    let out = bin()
        .arg("import")
        .arg(path)
        .args(["--gitlab-sign-in", "team-route"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_good_fixture_imports_into_a_config_check_accepts() {
    let good = fixtures("good");
    assert!(good.len() >= 18, "{} good fixtures", good.len());
    for path in good {
        let (config, report) = report_of(&path);
        for section in [
            "carried",
            "derived",
            "secrets",
            "skipped",
            "dropped",
            "renamed/removed settings",
        ] {
            assert!(
                report.contains(&format!("\n{section} (")),
                "{}: no {section} section",
                path.display()
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("imported.toml");
        std::fs::write(&file, &config).expect("write");
        bin().arg("check").arg(&file).assert().success();
    }
}

#[test]
fn every_broken_fixture_names_its_line_and_column() {
    let bad = fixtures("bad");
    assert!(bad.len() >= 10, "{} broken fixtures", bad.len());
    for path in bad {
        let text = std::fs::read_to_string(&path).expect("readable");
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect-error-at: "))
            .unwrap_or_else(|| panic!("{} has no expect-error-at header", path.display()));
        let (line, column) = expected.split_once(':').expect("L:C");
        let out = bin()
            .arg("import")
            .arg(&path)
            .args(["--gitlab-sign-in", "team-route"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(
            out.stdout.is_empty(),
            "{}: printed a config",
            path.display()
        );
        assert!(
            stderr.contains(&format!("{}:{line}:{column}: ", path.display())),
            "{}: expected {line}:{column} in {stderr}",
            path.display()
        );
        assert!(
            stderr.contains("invalid gitlab.rb: "),
            "{}: {stderr}",
            path.display()
        );
    }
}

fn good(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb/good")
        .join(name)
}

#[test]
fn dynamic_ruby_is_skipped_by_line_and_the_rest_imported() {
    let path = good("dynamic-ruby-skipped.rb");
    let (config, report) = report_of(&path);
    for (line, why) in [
        (3, "uses ENV['MATTERMOST_GITLAB_SECRET']"),
        (4, "assigns the local variable `domain`"),
        (5, "string interpolation"),
        (6, "`if … end` is conditional"),
        (9, "calls File.read"),
    ] {
        let item = format!("{}:{line}:1 statement: ", path.display());
        let found = report.lines().find(|l| l.contains(&item));
        assert!(
            found.is_some_and(|l| l.contains(why)),
            "line {line}: {report}"
        );
    }
    assert!(report.contains("statement text not shown: it may hold a secret"));
    assert!(config.contains("ShowFullName = false"), "{config}");
}

#[test]
fn typos_and_unknown_keys_are_never_dropped_silently() {
    let path = good("unknown-and-typos.rb");
    let (_, report) = report_of(&path);
    for expected in [
        "gitlab.rb:3:1 mattermost['service_maximum_login_attempt']: MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPT is not a Mattermost setting (Mattermost would silently ignore it); did you mean MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS?",
        "gitlab.rb:4:1 mattermost['email_smtp_sever']: MM_EMAILSETTINGS_SMTPSEVER is not a Mattermost setting",
        "did you mean MM_EMAILSETTINGS_SMTPSERVER?",
        "gitlab.rb:5:1 mattermost['uidd']: not an Omnibus key",
        "did you mean mattermost['uid']?",
        "mattermost['env']['MM_SERVICESETTINGS_SITEURLL']: MM_SERVICESETTINGS_SITEURLL is not a Mattermost setting",
        "mattermost['env']['MM_TEAMSETTINGS_MAXUSERSPERTEAM']: TeamSettings.MaxUsersPerTeam (MM_TEAMSETTINGS_MAXUSERSPERTEAM): Mattermost could not parse this value: expected an integer, found \"many\"",
        "gitlab.rb:7:1 mattermost_nginx['listen_prot']: not a key of Omnibus's Mattermost vhost",
        "did you mean mattermost_nginx['listen_port']?",
        "gitlab.rb line 8: nginx[...]: GitLab's own vhost",
        "gitlab.rb line 9: gitlab_rails[...]: configures GitLab, not Mattermost",
    ] {
        // Positions name the file as given, whatever it is called.
        let expected = expected.replace("gitlab.rb", &path.display().to_string());
        assert!(report.contains(&expected), "missing {expected:?} in\n{report}");
    }
}

#[test]
fn values_mattermost_would_refuse_are_reported_with_their_line() {
    let path = good("bad-values-reported.rb");
    let (config, report) = report_of(&path);
    let at = |rest: &str| format!("{}:{rest}", path.display());
    assert!(report.contains(&at("3:1 mattermost['service_maximum_login_attempts']: ServiceSettings.MaximumLoginAttempts (MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS): Mattermost could not parse this value: expected an integer, found \"ten\"")), "{report}");
    assert!(report.contains(&at("4:1 mattermost['team_max_users_per_team']: settings.TeamSettings.MaxUsersPerTeam: the config would be refused: expected at least 1, found 0")), "{report}");
    assert!(report.contains(&at("5:1 mattermost['sql_driver_name']: SqlSettings.DriverName \"mysql\": only PostgreSQL is supported")), "{report}");
    assert!(
        report.contains(&at("6:1 mattermost['uid']: \"abc\" is not a numeric id")),
        "{report}"
    );
    assert!(!config.contains("MaxUsersPerTeam"), "{config}");
}

#[test]
fn precedence_follows_omnibus() {
    let path = good("env-precedence.rb");
    let (config, report) = report_of(&path);
    let at = |rest: &str| format!("{}:{rest}", path.display());
    assert!(config.contains("SiteName = \"From env\""), "{config}");
    assert!(config.contains("MaximumLoginAttempts = 7"), "{config}");
    assert!(config.contains("GODEBUG = \"tlsmlkem=0\""), "{config}");
    assert!(!config.contains("SSL_CERT_DIR"), "{config}");
    assert!(!config.contains("AWS_SECRET_ACCESS_KEY"), "{config}");
    assert!(config.contains("\"SqlSettings.AtRestEncryptKey\" = \"/etc/gitlab-mattermost-secrets/sqlsettings-atrestencryptkey\""));
    assert!(
        report.contains(&at(&format!(
            "4:1 mattermost['team_site_name']: set again at {}:5:1",
            path.display()
        ))),
        "{report}"
    );
    assert!(
        report.contains("mattermost['env'] overrides a pre-11.0 key"),
        "{report}"
    );
    assert!(
        report.contains(
            "SSL_CERT_DIR=/opt/gitlab/embedded/ssl/certs/: points into the Omnibus package"
        ),
        "{report}"
    );
}

#[test]
fn renamed_settings_are_carried_under_their_new_name() {
    let (config, report) = report_of(&good("renamed-and-removed.rb"));
    assert!(
        config.contains("EmailNotificationContentsType = \"generic\""),
        "{config}"
    );
    for (key, env) in [
        (
            "ratelimit_enable_ratelimiter",
            "[settings.RateLimitSettings]\nEnable = true",
        ),
        ("localization_server_locale", "DefaultServerLocale = \"de\""),
        ("localization_client_locale", "DefaultClientLocale = \"de\""),
        ("support_email", "SupportEmail = \"help@example.com\""),
        (
            "service_user_access_tokens",
            "EnableUserAccessTokens = true",
        ),
        ("log_console_enable", "EnableConsole = false"),
        (
            "service_lets_encrypt_cert_cache_file",
            "LetsEncryptCertificateCacheFile = \"./config/letsencrypt.cache\"",
        ),
        ("email_enable_batching", "EnableEmailBatching = true"),
        (
            "email_batching_buffer_size",
            "EmailBatchingBufferSize = 512",
        ),
    ] {
        assert!(config.contains(env), "{key}: {env} missing in\n{config}");
    }
    for removed in [
        "mattermost['webrtc_gateway_stun_uri']: MM_WEBRTCSETTINGS_STUN_URI: WebRTC was removed",
        "mattermost['webrtc_gateway_turn_sharedkey']: MM_WEBRTCSETTINGS_TURN_SHAREDKEY: WebRTC was removed",
        "mattermost['service_enable_apiv3']: MM_SERVICESETTINGS_ENABLEAPIV3: API v3 was removed",
        "mattermost['service_image_proxy_type']: MM_SERVICESETTINGS_IMAGEPROXYTYPE: moved to ImageProxySettings.ImageProxyType",
        "mattermost['email_notification_content_type']: MM_EMAILSETTINGS_NOTIFICATIONCONTENTTYPE: the Omnibus doc's name; Mattermost calls it EmailNotificationContentsType",
    ] {
        assert!(report.contains(removed), "missing {removed:?} in\n{report}");
    }
    assert!(
        report.contains("mattermost['email_invite_salt']: generated by Omnibus but not passed"),
        "{report}"
    );
}

#[test]
fn one_line_statements_hex_and_block_comments() {
    let (config, _) = report_of(&good("one-line-semicolons.rb"));
    assert!(config.contains("SiteName = \"Semi\""), "{config}");
    assert!(config.contains("gid = 1234"), "{config}");
    assert!(config.contains("EnableAPITeamDeletion = false"), "{config}");
    assert!(!config.contains("commented out"), "{config}");
}

#[test]
fn custom_paths_are_kept_and_package_paths_replaced() {
    let (config, report) = report_of(&good("custom-paths-and-listen.rb"));
    assert!(
        config.contains("directory = \"/srv/mattermost/files\""),
        "{config}"
    );
    assert!(
        config.contains("plugins = \"/srv/mattermost/plugins\""),
        "{config}"
    );
    assert!(
        config.contains("logs = \"/var/log/mattermost\""),
        "{config}"
    );
    assert!(
        config.contains("address = \"127.0.0.2\"\nport = 9065"),
        "{config}"
    );
    assert!(
        config.contains("[account]\ngroup = \"mm\"\nuser = \"mm\""),
        "{config}"
    );
    assert!(
        config.contains("name = \"chat\"\nuser = \"mm\""),
        "{config}"
    );
    assert!(
        report.contains("Omnibus used /var/log/gitlab/mattermost/, inside the package tree"),
        "{report}"
    );
}

#[test]
fn symbols_quotes_and_env_keys() {
    let (config, _) = report_of(&good("symbols-and-quotes.rb"));
    assert!(
        config.contains("SiteName = \"Team \\\"Chat\\\"\""),
        "{config}"
    );
    assert!(config.contains("EnableLinkPreviews = true"), "{config}");
    assert!(config.contains("MaxUsersPerTeam = 500"), "{config}");
    assert!(
        config.contains("http_proxy = \"http://proxy.example.com:3128\""),
        "{config}"
    );
    assert!(
        config.contains("no_proxy = \"localhost,127.0.0.1\""),
        "{config}"
    );
    assert!(
        config.contains("AllowedUntrustedInternalConnections = \"gitlab.internal 10.0.0.0/8\""),
        "{config}"
    );
}
