//! Bad input: every case exits 2, names the key path (and the file position where the value
//! is), and leaves an earlier good output untouched.

mod common;

use common::*;

const HTTPS: &str = "external_url = \"https://mm.example.com\"\n[nginx]\ncertificate = \"/c.pem\"\ncertificate_key = \"/k.pem\"\n";
const HTTP: &str = "external_url = \"http://mm.example.com\"\n";

struct Case {
    name: &'static str,
    ext: &'static str,
    text: String,
    /// Substrings the error output must contain (key path first).
    expect: Vec<&'static str>,
}

fn case(
    name: &'static str,
    ext: &'static str,
    text: impl Into<String>,
    expect: &[&'static str],
) -> Case {
    Case {
        name,
        ext,
        text: text.into(),
        expect: expect.to_vec(),
    }
}

fn http(rest: &str) -> String {
    format!("{HTTP}{rest}")
}

/// A config with one incoming webhook `ci` (lines 1-8); `rest` starts on line 9.
const INTEGRATIONS: &str = "external_url = \"http://mm.example.com\"\n[gitlab]\nurl = \"https://gitlab.example.com\"\n[integrations]\nowner = \"admin\"\n[integrations.incoming_webhooks.ci]\nteam = \"eng\"\nchannel = \"town-square\"\n";

fn integrations(rest: &str) -> String {
    format!("{INTEGRATIONS}{rest}")
}

/// A project `group/app` posting to `ci`, with a slash command set by `slash` (line 9 on).
fn slash(slash: &str) -> String {
    integrations(&format!(
        "[integrations.gitlab_projects.\"group/app\"]\nwebhook = \"ci\"\nslash_commands = {{ enable = true{slash} }}\n"
    ))
}

fn cases() -> Vec<Case> {
    vec![
        case("missing external_url", "toml", "[listen]\nport = 8065\n", &["missing required key \"external_url\""]),
        case("ftp url", "toml", "external_url = \"ftp://mm.example.com\"\n", &["bad.toml:1:16: external_url:", "expected an http or https URL"]),
        case("url with path", "toml", "external_url = \"https://mm.example.com/chat\"\n", &["external_url:", "expected no path"]),
        case("site_url with path", "toml", "external_url = \"http://mm.example.com\"\nsite_url = \"https://chat.example.com/mm\"\n", &["bad.toml:2:12: site_url:", "expected no path"]),
        case("site_url scheme", "toml", "external_url = \"http://mm.example.com\"\nsite_url = \"chat.example.com:443\"\n", &["bad.toml:2:12: site_url:", "expected an http or https URL"]),
        case("not a url", "toml", "external_url = \"mattermost\"\n", &["external_url:", "expected a URL"]),
        case("port not a number", "toml", http("[smtp]\nport = \"abc\"\n"), &["bad.toml:3:8: smtp.port:", "expected an integer", "found \"abc\""]),
        case("port too large", "toml", http("[listen]\nport = 70000\n"), &["bad.toml:3:8: listen.port:", "expected at most 65535"]),
        case("port in quotes", "toml", http("[smtp]\nport = \"587\"\n"), &["bad.toml:3:8: smtp.port:", "expected an integer", "hint: drop the quotes around 587"]),
        // The hint fits JSON too (it once said `port = 587`, which is TOML).
        case("port in quotes, JSON", "json", "{\"external_url\": \"http://mm.example.com\",\n \"smtp\": {\"port\": \"587\"}}", &["bad.json:2:19: smtp.port:", "expected an integer", "hint: drop the quotes around 587"]),
        case("enum value in another case", "toml", http("[smtp]\nconnection_security = \"starttls\"\n"), &["smtp.connection_security:", "hint: did you mean \"STARTTLS\"? (case matters)"]),
        case("unknown section", "toml", http("[smtpp]\nserver = \"x\"\n"), &["bad.toml:2:2: smtpp:", "unknown key `smtpp`", "did you mean `smtp`?"]),
        case("unknown key", "toml", http("[smtp]\nservr = \"x\"\n"), &["bad.toml:3:1: smtp.servr:", "did you mean `server`?"]),
        case("inline smtp password", "toml", http("[smtp]\npassword = \"hunter2\"\n"), &["bad.toml:3:12: smtp.password:", "never written inline", "smtp.password_file"]),
        case("inline gitlab secret", "toml", http("[gitlab]\nsecret = \"s\"\n"), &["gitlab.secret:", "gitlab.secret_file"]),
        case("inline database password", "json", "{\"external_url\": \"http://mm.example.com\",\n \"database\": {\"password\": \"p\"}}", &["bad.json:2:27: database.password:", "database.password_file"]),
        case("setting typo", "toml", http("[settings.ServiceSettings]\nSiteURLL = \"x\"\n"), &["settings.ServiceSettings.SiteURLL:", "not a Mattermost setting", "did you mean `ServiceSettings.SiteURL`?"]),
        case("mm name typo", "toml", http("[settings]\nMM_SERVICESETTINGS_MAXIMUMLOGINATEMPTS = 3\n"), &["settings.MM_SERVICESETTINGS_MAXIMUMLOGINATEMPTS:", "did you mean `MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS`?"]),
        case("setting wrong type", "toml", http("[settings]\nMM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS = \"ten\"\n"), &["bad.toml:3:43: settings.MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS:", "expected an integer, found \"ten\""]),
        case("setting bool wrong", "toml", http("[settings.ServiceSettings]\nEnableLocalMode = \"yes\"\n"), &["settings.ServiceSettings.EnableLocalMode:", "expected a boolean"]),
        case("batching interval free-form", "toml", http("[settings.EmailSettings]\nEmailBatchingInterval = 10\n"), &["EmailSettings.EmailBatchingInterval:", "expected at least 30, found 10", "email_batching_interval"]),
        case("batching interval typed", "toml", http("[smtp]\nenable = true\nserver = \"s\"\nfeedback_email = \"a@b.c\"\n[smtp.batching]\nenable = true\ninterval = 5\n"), &["bad.toml:8:12: EmailSettings.EmailBatchingInterval:", "expected at least 30"]),
        case("connection security", "toml", http("[smtp]\nconnection_security = \"SSL\"\n"), &["bad.toml:3:23: smtp.connection_security:", "expected one of \"\", \"TLS\", \"STARTTLS\""]),
        case("driver derived", "toml", http("[settings.SqlSettings]\nDriverName = \"mysql\"\n"), &["settings.SqlSettings.DriverName:", "derived from `database.kind`"]),
        case("secret setting inline", "toml", http("[settings.GitLabSettings]\nSecret = \"s\"\n"), &["settings.GitLabSettings.Secret:", "holds a secret", "setting_files"]),
        case("https without certificate", "toml", "external_url = \"https://mm.example.com\"\n", &["nginx.certificate:", "https is on"]),
        case("redirect on the https port", "toml", format!("{HTTPS}listen_port = 8443\nredirect_http_to_https = true\nredirect_http_port = 8443\n"), &["nginx.redirect_http_port:", "cannot listen on the https port 8443"]),
        case("dot database name", "toml", http("[database]\nname = \"..\"\n"), &["bad.toml:3:8: database.name:", "cannot be `.` or `..`"]),
        case("relative directory", "toml", http("[directories]\ndata = \"var/lib/mm\"\n"), &["bad.toml:3:8: directories.data:", "expected an absolute path"]),
        case("root uid", "toml", http("[account]\nuid = 0\n"), &["bad.toml:3:7: account.uid:", "must not run as root"]),
        case("port zero", "toml", http("[listen]\nport = 0\n"), &["bad.toml:3:8: listen.port:", "expected at least 1, found 0"]),
        case("negative uid", "toml", http("[account]\nuid = -5\n"), &["bad.toml:3:7: account.uid:", "expected at least 1"]),
        case("bad listen address", "toml", http("[listen]\naddress = \"bad host!\"\n"), &["bad.toml:3:11: listen.address:", "expected a host name"]),
        case("mm var in environment", "toml", http("[environment]\nMM_SERVICESETTINGS_SITEURL = \"x\"\n"), &["environment.MM_SERVICESETTINGS_SITEURL:", "go in `settings`"]),
        case("body size", "toml", http("[nginx]\nclient_max_body_size = \"lots\"\n"), &["nginx.client_max_body_size:", "expected a size"]),
        case("listen address name", "toml", http("[nginx]\nlisten_addresses = [\"localhost\"]\n"), &["bad.toml:3:21: nginx.listen_addresses.0:", "bracketed IPv6"]),
        case("gitlab incomplete", "toml", http("[gitlab]\nenable = true\n"), &["gitlab.url:", "gitlab.id:", "gitlab.secret_file:"]),
        case("smtp without server", "toml", http("[smtp]\nenable = true\nfeedback_email = \"a@b.c\"\n"), &["smtp.server:", "no SMTP server"]),
        case("smtp auth without password", "toml", http("[smtp]\nenable = true\nserver = \"s\"\nauth = true\nusername = \"u\"\nfeedback_email = \"a@b.c\"\n"), &["smtp.password_file:", "no password file"]),
        case("external db without host", "toml", http("[database]\nkind = \"external\"\npassword_file = \"/p\"\n"), &["database.host:", "needs a host"]),
        case("db kind enum", "toml", http("[database]\nkind = \"mysql\"\n"), &["bad.toml:3:8: database.kind:", "expected one of \"local\", \"external\""]),
        case("s3 without bucket", "toml", http("[file_storage]\ndriver = \"s3\"\n"), &["file_storage.bucket:", "needs a bucket"]),
        case("toml syntax", "toml", "external_url = \"http://x\"\n[smtp\nport = 1\n", &["bad.toml:2:", "invalid TOML"]),
        case("json syntax", "json", "{\n  \"external_url\": \"http://x\",\n}", &["bad.json:2:29:", "invalid JSON", "Trailing commas"]),
        case("nix let", "nix", "let u = \"http://x\"; in\n{ external_url = u; }", &["bad.nix:1:1:", "`let … in` needs evaluation", "nix-instantiate --eval --strict --json"]),
        case("nix import", "nix", "{\n  external_url = \"http://x\";\n  smtp = import ./smtp.nix;\n}", &["bad.nix:3:10:", "`import` needs evaluation"]),
        case("nix interpolation", "nix", "{\n  external_url = \"http://${host}\";\n}", &["bad.nix:2:", "interpolation"]),
        case("site name too long", "toml", http("[settings.TeamSettings]\nSiteName = \"0123456789012345678901234567890123456789\"\n"), &["TeamSettings.SiteName:", "at most 30 characters"]),
        case("unknown setting file", "toml", http("[setting_files]\n\"Nope.Thing\" = \"/run/secrets/x\"\n"), &["setting_files.Nope.Thing:", "not a Mattermost setting"]),
        case("sslmode", "toml", http("[database]\nsslmode = \"sometimes\"\n"), &["database.sslmode:", "expected one of disable"]),
        case("password length rule", "toml", http("[settings.PasswordSettings]\nMinimumLength = 100\n"), &["PasswordSettings.MinimumLength:", "expected 5 to 72, found 100"]),
        case("site url derived", "toml", http("[settings]\n\"ServiceSettings.SiteURL\" = \"http://other\"\n"), &["settings.ServiceSettings.SiteURL:", "derived from `external_url`"]),
        case("list with spaces", "toml", http("[settings.ServiceSettings]\nTrustedProxyIPHeader = [\"X-Forwarded-For\", \"has space\"]\n"), &["settings.ServiceSettings.TrustedProxyIPHeader:", "without spaces"]),
        case("top level not a table", "json", "[1, 2]", &["bad.json:1:1:", "top level must be a table"]),
        // Mattermost's own limits (model/incoming_webhook.go and model/command.go `IsValid`,
        // which count bytes), refused by `check` rather than by Mattermost at `sync`.
        case("webhook display name bytes", "toml", integrations(&format!("display_name = \"{}\"\n", "é".repeat(33))), &["bad.toml:9:16: integrations.incoming_webhooks.ci.display_name:", "at most 64 bytes, found 66 (33 characters"]),
        case("webhook description", "toml", integrations(&format!("description = \"{}\"\n", "d".repeat(501))), &["bad.toml:9:15: integrations.incoming_webhooks.ci.description:", "at most 500 bytes, found 501"]),
        case("webhook username", "toml", integrations(&format!("username = \"{}\"\n", "u".repeat(65))), &["bad.toml:9:12: integrations.incoming_webhooks.ci.username:", "at most 64 bytes, found 65"]),
        case("webhook icon url", "json", format!("{{\"external_url\": \"http://mm.example.com\", \"gitlab\": {{\"url\": \"https://gitlab.example.com\"}},\n \"integrations\": {{\"owner\": \"admin\", \"incoming_webhooks\": {{\"ci\": {{\"team\": \"eng\", \"channel\": \"town-square\",\n  \"icon_url\": \"https://x.example.com/{}\"}}}}}}}}", "i".repeat(1010)), &["bad.json:3:15: integrations.incoming_webhooks.ci.icon_url:", "at most 1024 bytes, found 1032"]),
        case("trigger bytes", "toml", slash(&format!(", trigger = \"{}\"", "ü".repeat(65))), &["bad.toml:11:45: integrations.gitlab_projects.group/app.slash_commands.trigger:", "1-128 bytes, found 130"]),
        case("trigger capitalised", "toml", slash(", trigger = \"Deploy\""), &["bad.toml:11:45: integrations.gitlab_projects.group/app.slash_commands.trigger:", "saved as \"deploy\"", "changed on every run", "write it in lower case: \"deploy\""]),
        case("trigger built in", "toml", slash(", trigger = \"me\""), &["bad.toml:11:45: integrations.gitlab_projects.group/app.slash_commands.trigger:", "/me is one of Mattermost's built-in commands"]),
        case("default trigger built in", "toml", integrations("[integrations.gitlab_projects.\"group/away\"]\nwebhook = \"ci\"\nslash_commands = { enable = true }\n"), &["bad.toml:11:18: integrations.gitlab_projects.group/away.slash_commands.trigger:", "/away is one of Mattermost's built-in commands", "(the default, the project's name)"]),
        case("trigger characters on 11", "toml", slash(", trigger = \"déploy\""), &["bad.toml:11:45: integrations.gitlab_projects.group/app.slash_commands.trigger:", "Mattermost 11 takes a command word of A-Z"]),
        case("dot dot project path", "toml", integrations("[integrations.gitlab_projects.\"group/../app\"]\nwebhook = \"ci\"\n"), &["bad.toml:9:31: integrations.gitlab_projects.group/../app:", "found \"..\" in \"group/../app\""]),
        case("dots inside a project path part", "toml", integrations("[integrations.gitlab_projects.\"group/a..b\"]\nwebhook = \"ci\"\n"), &["bad.toml:9:31: integrations.gitlab_projects.group/a..b:", "nor `..` inside one"]),
        case("unknown extension", "ini", "external_url = http://x\n", &["bad.ini:", "unknown config format", "*.toml, *.json or *.nix"]),
        case("yaml", "yaml", "external_url: http://x\n", &["bad.yaml:", "YAML is not read", "convert it to JSON", "bad.json"]),
        // What a plain http site would silently ignore, and a port Mattermost's string type lets through.
        case("certificate on an http site", "toml", http("[nginx]\ncertificate = \"/c.pem\"\ncertificate_key = \"/k.pem\"\n"), &["bad.toml:3:15: nginx.certificate:", "external_url is http://mm.example.com, so nginx serves plain http on port 80 and never loads nginx.certificate", "hint: use https:// in external_url, or drop the certificate"]),
        case("redirect on an http site", "toml", http("[nginx]\nredirect_http_to_https = true\n"), &["bad.toml:3:26: nginx.redirect_http_to_https:", "redirects nothing: nginx.redirect_http_to_https is ignored", "hint: use https:// in external_url"]),
        case("certificate with nginx.https = false", "toml", format!("{HTTPS}https = false\n"), &["bad.toml:3:15: nginx.certificate:", "nginx.https = false, so nginx serves plain http on port 443", "hint: set nginx.https = true"]),
        case("smtp port in words", "toml", http("[settings]\n\"EmailSettings.SMTPPort\" = \"five-eight-seven\"\n"), &["bad.toml:3:28: settings.EmailSettings.SMTPPort:", "expected a port number from 1 to 65535, found \"five-eight-seven\"", "hint: write the port as a number"]),
        case("smtp port out of range", "toml", http("[settings.EmailSettings]\nSMTPPort = 70000\n"), &["bad.toml:3:12: settings.EmailSettings.SMTPPort:", "found \"70000\""]),
    ]
}

#[test]
fn every_bad_config_exits_2_names_the_key_and_keeps_earlier_output() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("full.toml"), &out, &[]);
    let before = read_tree(&out);
    let mut failures = Vec::new();
    for c in &cases {
        let dir = tempfile::tempdir_in(tmp.path()).unwrap();
        let file = write(dir.path(), &format!("bad.{}", c.ext), &c.text);
        let o = bin()
            .current_dir(dir.path())
            .arg("render")
            .arg(file.file_name().unwrap())
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
        if o.status.code() != Some(2) {
            failures.push(format!(
                "{}: exit {:?}, stderr:\n{stderr}",
                c.name,
                o.status.code()
            ));
            continue;
        }
        for want in &c.expect {
            if !stderr.contains(want) {
                failures.push(format!("{}: missing {want:?} in:\n{stderr}", c.name));
            }
        }
        if !stderr.contains("nothing was written") {
            failures.push(format!("{}: no summary line in:\n{stderr}", c.name));
        }
        let after = read_tree(&out);
        let changed: Vec<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|f| before.get(*f) != after.get(*f))
            .collect();
        assert!(
            changed.is_empty(),
            "{}: earlier output changed: {changed:?}",
            c.name
        );
    }
    // No leftovers beside the output directory either.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary directories left: {leftovers:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(
        tmp.path(),
        "many.toml",
        "external_url = \"http://mm.example.com\"\n[smtp]\nport = \"x\"\npassword = \"p\"\n[listen]\nport = -1\n[settings]\nMM_NOPE = 1\n",
    );
    let o = bin().arg("check").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
    // Inline secrets, schema errors and the settings checks come in one run.
    for key in [
        "smtp.password:",
        "smtp.port:",
        "listen.port:",
        "settings.MM_NOPE:",
    ] {
        assert!(stderr.contains(key), "{key} missing in:\n{stderr}");
    }
    assert!(stderr.contains("4 errors found"), "{stderr}");
}

#[test]
fn errors_name_the_file_a_layered_value_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let base = write(tmp.path(), "base.toml", HTTPS);
    let site = write(
        tmp.path(),
        "site.json",
        "{\n  \"smtp\": {\n    \"port\": \"x\"\n  }\n}",
    );
    let o = bin()
        .current_dir(tmp.path())
        .args(["check", "base.toml", "site.json"])
        .output()
        .unwrap();
    let _ = (base, site);
    assert_eq!(o.status.code(), Some(2));
    let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
    assert!(stderr.contains("site.json:3:13: smtp.port:"), "{stderr}");
    let o = bin()
        .current_dir(tmp.path())
        .args(["check", "base.toml", "--set", "smtp.port=x"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("--set #1: smtp.port:"));
}

#[test]
fn integration_limits_are_all_reported_at_once_by_check() {
    let tmp = tempfile::tempdir().unwrap();
    let text = integrations(&format!(
        "display_name = \"{}\"\ndescription = \"{}\"\n\
         [integrations.gitlab_projects.\"group/app\"]\nwebhook = \"ci\"\n\
         slash_commands = {{ enable = true, trigger = \"Deploy\" }}\n\
         [integrations.gitlab_projects.\"group/join\"]\nwebhook = \"ci\"\n\
         slash_commands = {{ enable = true }}\n\
         [integrations.gitlab_projects.\"group/../x\"]\nwebhook = \"ci\"\n",
        "n".repeat(65),
        "é".repeat(251),
    ));
    let file = write(tmp.path(), "many.toml", &text);
    let o = bin().arg("check").arg(&file).output().unwrap();
    let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for want in [
        "many.toml:9:16: integrations.incoming_webhooks.ci.display_name:",
        "many.toml:10:15: integrations.incoming_webhooks.ci.description: Mattermost takes a webhook description of at most 500 bytes, found 502",
        "many.toml:13:45: integrations.gitlab_projects.group/app.slash_commands.trigger:",
        "many.toml:16:18: integrations.gitlab_projects.group/join.slash_commands.trigger:",
        "many.toml:17:31: integrations.gitlab_projects.group/../x:",
        "5 errors found",
    ] {
        assert!(stderr.contains(want), "{want:?} missing in:\n{stderr}");
    }
}

#[test]
fn the_limits_are_mattermosts_not_stricter() {
    // Right at Mattermost's limits, in lower case, not a built-in: accepted. 10.11 takes any
    // trigger character but a space; 11.7 only A-Z a-z 0-9 _ . / -.
    let tmp = tempfile::tempdir().unwrap();
    let text = |version: &str, trigger: &str| {
        format!(
            "{}[mattermost]\nversion = \"{version}\"\nallow_end_of_life = true\n",
            integrations(&format!(
                "display_name = \"{}\"\ndescription = \"{}\"\nusername = \"{}\"\n\
                 [integrations.gitlab_projects.\"group/app\"]\nwebhook = \"ci\"\n\
                 slash_commands = {{ enable = true, trigger = \"{trigger}\" }}\n\
                 [integrations.gitlab_projects.\"group/my.app\"]\nwebhook = \"ci\"\n\
                 slash_commands = {{ enable = true }}\n",
                "é".repeat(32),
                "d".repeat(500),
                "u".repeat(64),
            ))
        )
    };
    for (version, trigger, ok) in [
        ("11.7", "t".repeat(128), true),
        ("11.7", "gitlab/deploy-1.x_y".to_string(), true),
        ("11.7", "déploy".to_string(), false),
        ("10.11", "déploy".to_string(), true),
        ("10.11", "me".to_string(), false),
    ] {
        let file = write(tmp.path(), "edge.toml", &text(version, &trigger));
        let o = bin().arg("check").arg(&file).output().unwrap();
        let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            o.status.success(),
            ok,
            "{version} /{trigger}: exit {:?}\n{stderr}",
            o.status.code()
        );
    }
}

#[test]
fn a_byte_order_mark_at_the_start_is_accepted_and_positions_ignore_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bom = "\u{feff}";
    let good_toml = write(
        tmp.path(),
        "good.toml",
        &format!("{bom}external_url = \"http://mm.example.com\"\n"),
    );
    let good_json = write(
        tmp.path(),
        "good.json",
        &format!("{bom}{{\"external_url\": \"http://mm.example.com\"}}"),
    );
    for f in [&good_toml, &good_json] {
        let o = bin().arg("check").arg(f).output().unwrap();
        assert!(
            o.status.success(),
            "{f:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A refusal on line 1 names the column an editor (which hides the mark) shows.
    for (name, text, want) in [
        (
            "bad.toml",
            format!("{bom}external_url = \"ftp://mm.example.com\"\n"),
            "bad.toml:1:16: external_url:",
        ),
        (
            "bad.json",
            format!("{bom}{{\"external_url\": \"ftp://mm.example.com\"}}"),
            "bad.json:1:18: external_url:",
        ),
    ] {
        let f = write(tmp.path(), name, &text);
        let o = bin().arg("check").arg(&f).output().unwrap();
        let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{want:?} missing in:\n{stderr}");
    }
}

#[test]
fn a_stray_byte_order_mark_is_named_where_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let bom = "\u{feff}";
    for (name, text, want) in [
        (
            "twice.json",
            format!("{bom}{bom}{{}}"),
            "twice.json:1:1: invalid JSON: an invisible byte order mark (U+FEFF",
        ),
        (
            "joined.json",
            format!("{{\"external_url\": \"http://mm.example.com\",\n {bom}\"x\": 1}}"),
            "joined.json:2:2: invalid JSON: an invisible byte order mark",
        ),
        (
            "joined.toml",
            format!("external_url = \"http://mm.example.com\"\n{bom}[smtp]\n"),
            "joined.toml:2:1: invalid TOML: an invisible byte order mark",
        ),
    ] {
        let f = write(tmp.path(), name, &text);
        let o = bin().arg("check").arg(&f).output().unwrap();
        let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{want:?} missing in:\n{stderr}");
        assert!(
            stderr.contains("save the file as UTF-8 without BOM"),
            "{stderr}"
        );
    }
}

#[test]
fn an_unreadable_set_is_named_by_its_number_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let base = write(tmp.path(), "base.toml", HTTP);
    let o = bin()
        .arg("check")
        .arg(&base)
        .args([
            "--set",
            "smtp.port=25",
            "--set",
            "nope",
            "--set",
            "a.\"b=1",
            "--set",
            "smtp..port=1",
            "--set",
            "=x",
        ])
        .output()
        .unwrap();
    let stderr = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for want in [
        "error: --set #2: `--set nope` has no `=`",
        "error: --set #3: a.\"b: a quote in this --set key is not closed",
        "error: --set #4: smtp..port: empty key path element",
        "error: --set #5: empty key path element",
        "4 errors found",
    ] {
        assert!(stderr.contains(want), "{want:?} missing in:\n{stderr}");
    }
}

/// `--color` decides the colour of diagnostics, warnings and log lines: `always` colours them
/// off a terminal too (and over NO_COLOR: the flag is the user's latest word), `never` and
/// `auto` off a terminal do not. The tests' stderr is a pipe, not a terminal.
#[test]
fn color_flag_decides_the_colour_of_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = write(
        tmp.path(),
        "bad.toml",
        "external_url = \"ftp://mm.example.com\"\n",
    );
    let coloured = |config: &std::path::Path, args: &[&str], no_color: bool, want_code: i32| {
        let mut cmd = bin();
        cmd.arg("check").arg(config).args(args).env_remove("TERM");
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let (code, _, stderr) = outcome(cmd.output().expect("the binary runs"));
        assert_eq!(code, want_code, "{args:?}: {stderr}");
        stderr.contains('\u{1b}')
    };
    // An error.
    assert!(coloured(&bad, &["--color", "always"], false, 2));
    assert!(coloured(&bad, &["--color", "always"], true, 2));
    assert!(!coloured(&bad, &["--color", "never"], false, 2));
    assert!(!coloured(&bad, &["--color", "auto"], false, 2));
    assert!(!coloured(&bad, &[], false, 2));
    // A warning and an info log line (the full example warns about the Team Edition route).
    let full = example("full.toml");
    assert!(coloured(&full, &["-v", "--color", "always"], false, 0));
    assert!(!coloured(&full, &["-v", "--color", "never"], false, 0));
    assert!(!coloured(&full, &["-v"], false, 0));
}
