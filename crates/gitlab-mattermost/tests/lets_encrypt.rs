//! Let's Encrypt on a plain host: `nginx.acme_webroot` serves the ACME challenges on the
//! plain-http server (the redirect server with https), tmpfiles.d creates the webroot, `check`
//! refuses a webroot nothing serves, and `import` carries what Omnibus's Let's Encrypt meant.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, outcome, write};

const WEBROOT: &str = "/var/lib/gitlab-mattermost/acme";

fn render_config(toml: &str) -> (i32, String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "config.toml", toml);
    let out = dir.path().join("out");
    let (code, _, stderr) = outcome(
        bin()
            .arg("render")
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs"),
    );
    (code, stderr, out, dir)
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("rendered file")
}

/// The text of the `server` block that holds `needle`.
fn server_with<'a>(vhost: &'a str, needle: &str) -> &'a str {
    vhost
        .split("\nserver {")
        .skip(1)
        .find(|s| s.contains(needle))
        .unwrap_or_else(|| panic!("no server block with {needle:?} in\n{vhost}"))
}

const CHALLENGE: &str = "location ^~ /.well-known/acme-challenge/ {";

#[test]
fn https_the_redirect_server_serves_the_challenge_before_redirecting() {
    let (code, err, out, _dir) = render_config(&format!(
        "external_url = \"https://chat.example.com\"\n[nginx]\ncertificate = \"/etc/letsencrypt/live/chat.example.com/fullchain.pem\"\n\
         certificate_key = \"/etc/letsencrypt/live/chat.example.com/privkey.pem\"\nredirect_http_to_https = true\nacme_webroot = \"{WEBROOT}\"\n"
    ));
    assert_eq!(code, 0, "{err}");
    let vhost = read(&out, "nginx/mattermost.conf");
    let redirect = server_with(&vhost, "return 301");
    let at = redirect.find(CHALLENGE).expect("challenge location");
    assert!(
        at < redirect.find("location / {").expect("redirect"),
        "{redirect}"
    );
    assert!(redirect.contains(&format!("root {WEBROOT};")), "{redirect}");
    // The https server proxies everything to Mattermost.
    assert!(
        !server_with(&vhost, "ssl_certificate").contains(CHALLENGE),
        "{vhost}"
    );
    // NixOS and other owners of the server block serve challenges themselves.
    assert!(!read(&out, "nginx/locations.conf").contains("acme"));
    let tmpfiles = read(&out, "tmpfiles.d/mattermost.conf");
    assert!(
        tmpfiles.contains(&format!("d {WEBROOT} 0755 root root - -\n")),
        "{tmpfiles}"
    );
}

#[test]
fn plain_http_the_site_server_serves_the_challenge() {
    let (code, err, out, _dir) = render_config(
        "external_url = \"http://chat.example.com\"\n[nginx]\nacme_webroot = \"/srv/acme root\"\n",
    );
    assert_eq!(code, 0, "{err}");
    let vhost = read(&out, "nginx/mattermost.conf");
    let site = server_with(&vhost, "proxy_pass");
    assert!(site.contains(CHALLENGE), "{vhost}");
    assert!(site.contains("root \"/srv/acme root\";"), "{vhost}");
    let tmpfiles = read(&out, "tmpfiles.d/mattermost.conf");
    assert!(
        tmpfiles.contains("d \"/srv/acme root\" 0755 root root - -\n")
            || tmpfiles.contains("d /srv/acme\\x20root 0755 root root - -\n"),
        "{tmpfiles}"
    );
}

#[test]
fn without_the_setting_nothing_changes() {
    let (code, err, out, _dir) = render_config(
        "external_url = \"https://chat.example.com\"\n[nginx]\ncertificate = \"/c.pem\"\ncertificate_key = \"/k.pem\"\nredirect_http_to_https = true\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(!read(&out, "nginx/mattermost.conf").contains("acme"));
    assert!(!read(&out, "tmpfiles.d/mattermost.conf").contains("root root"));
}

fn check(toml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "bad.toml", toml);
    let (code, _, stderr) = outcome(bin().arg("check").arg(&config).output().expect("runs"));
    (code, stderr)
}

#[test]
fn check_refuses_a_webroot_nothing_serves() {
    let (code, err) = check("external_url = \"http://chat.example.com\"\n[nginx]\nenable = false\nacme_webroot = \"/srv/acme\"\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("nginx.acme_webroot:") && err.contains("nginx.enable = false"),
        "{err}"
    );
    assert!(
        err.contains("hint: set nginx.enable = true, or drop nginx.acme_webroot"),
        "{err}"
    );

    let (code, err) = check("external_url = \"https://chat.example.com\"\n[nginx]\ncertificate = \"/c.pem\"\ncertificate_key = \"/k.pem\"\nacme_webroot = \"/srv/acme\"\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("nginx.acme_webroot:")
            && err.contains("nothing answers the ACME challenges on plain http"),
        "{err}"
    );
    assert!(
        err.contains("hint: set nginx.redirect_http_to_https = true"),
        "{err}"
    );

    let (code, err) = check("external_url = \"https://chat.example.com\"\n[nginx]\ncertificate = \"/c.pem\"\ncertificate_key = \"/k.pem\"\nredirect_http_to_https = true\nacme_webroot = \"relative/acme\"\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("nginx.acme_webroot:") && err.contains("expected an absolute path"),
        "{err}"
    );

    let (code, err) = check(
        "external_url = \"http://chat.example.com\"\n[nginx]\nacme_webroot = \"/srv/$acme\"\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("nginx.acme_webroot:") && err.contains("variable"),
        "{err}"
    );

    // An http-only site serves the challenges on its own server.
    let (code, err) = check(
        "external_url = \"http://chat.example.com\"\n[nginx]\nacme_webroot = \"/srv/acme\"\n",
    );
    assert_eq!(code, 0, "{err}");
}

// ---- import -------------------------------------------------------------------------

#[cfg(feature = "full")]
fn import(name: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb/good")
        .join(name);
    let (code, config, report) = outcome(
        bin()
            .arg("import")
            .arg(&path)
            .args(["--gitlab-sign-in", "team-route"])
            .output()
            .expect("runs"),
    );
    assert_eq!(code, 0, "{report}");
    (config, report)
}

#[cfg(feature = "full")]
#[test]
fn lets_encrypt_on_becomes_certbot_with_the_webroot() {
    let (config, report) = import("lets-encrypt-on.rb");
    for line in [
        "acme_webroot = \"/var/lib/gitlab-mattermost/acme\"",
        "certificate = \"/etc/letsencrypt/live/mattermost.example.com/fullchain.pem\"",
        "certificate_key = \"/etc/letsencrypt/live/mattermost.example.com/privkey.pem\"",
        "redirect_http_to_https = true",
    ] {
        assert!(config.contains(line), "{line} not in\n{config}");
    }
    for text in [
        "lets-encrypt-on.rb:5:1 letsencrypt['enable'] = true",
        "certbot certonly --standalone -d mattermost.example.com",
        "certbot certonly --webroot -w /var/lib/gitlab-mattermost/acme -d mattermost.example.com --deploy-hook \"systemctl reload nginx\"",
        "never `certbot --nginx`",
        "mattermost.example.com as an alternative name",
    ] {
        assert!(report.contains(text), "{text} not in\n{report}");
    }
}

#[cfg(feature = "full")]
#[test]
fn lets_encrypt_unset_with_https_is_on_as_in_omnibus() {
    let (config, report) = import("colocated-auto-oauth.rb");
    assert!(
        config.contains("acme_webroot = \"/var/lib/gitlab-mattermost/acme\""),
        "{config}"
    );
    assert!(
        report.contains("letsencrypt['enable'] is unset and external_url is https"),
        "{report}"
    );
}

#[cfg(feature = "full")]
#[test]
fn lets_encrypt_off_keeps_omnibus_certificate_paths() {
    let (config, report) = import("lets-encrypt-off.rb");
    // Never dropped silently: the key is named in the report.
    assert!(
        report.contains("lets-encrypt-off.rb:4:1 letsencrypt['enable']: Let's Encrypt was off"),
        "{report}"
    );
    assert!(
        config.contains("certificate = \"/etc/gitlab/ssl/mattermost.example.com.crt\""),
        "{config}"
    );
    assert!(
        config.contains("certificate_key = \"/etc/gitlab/ssl/mattermost.example.com.key\""),
        "{config}"
    );
    assert!(
        !config.contains("acme_webroot") && !config.contains("redirect_http_to_https"),
        "{config}"
    );
    assert!(!report.contains("certbot"), "{report}");
}

#[cfg(feature = "full")]
#[test]
fn lets_encrypt_with_a_mattermost_certificate_keeps_it() {
    let (config, report) = import("lets-encrypt-own-certificate.rb");
    assert!(
        config.contains("certificate = \"/etc/ssl/mattermost/fullchain.pem\""),
        "{config}"
    );
    assert!(
        config.contains("certificate_key = \"/etc/ssl/mattermost/key.pem\""),
        "{config}"
    );
    assert!(
        !config.contains("acme_webroot") && !config.contains("letsencrypt"),
        "{config}"
    );
    assert!(!report.contains("certbot"), "{report}");
}

#[cfg(feature = "full")]
#[test]
fn lets_encrypt_with_the_redirect_turned_off_says_what_renewal_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\nletsencrypt['enable'] = true\nmattermost_nginx['redirect_http_to_https'] = false\n",
    );
    let (code, config, report) = outcome(
        bin()
            .arg("import")
            .arg(&rb)
            .args(["--gitlab-sign-in", "team-route"])
            .output()
            .expect("runs"),
    );
    assert_eq!(code, 0, "{report}");
    assert!(!config.contains("acme_webroot"), "{config}");
    assert!(
        config.contains("redirect_http_to_https = false"),
        "{config}"
    );
    assert!(report.contains("nginx.acme_webroot is not set"), "{report}");
    let out = dir.path().join("imported.toml");
    std::fs::write(&out, &config).expect("write");
    let (code, _, err) = outcome(bin().arg("check").arg(&out).output().expect("runs"));
    assert_eq!(code, 0, "{err}");
}

/// On the old host (`--omnibus-root`), Mattermost's own certificate file in /etc/gitlab/ssl
/// says Let's Encrypt never served it (add_service_alt_name only acts when it is missing).
#[cfg(feature = "full")]
#[test]
fn on_the_old_host_an_existing_mattermost_certificate_wins() {
    let import = |with_cert: bool| {
        let root = tempfile::tempdir().expect("tempdir");
        let put = |rel: &str, text: &str| {
            let p = root.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        put(
            "etc/gitlab/gitlab.rb",
            "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\n",
        );
        put(
            "etc/gitlab/gitlab-secrets.json",
            &serde_json::json!({"mattermost": {
                "sql_at_rest_encrypt_key": "k".repeat(32), "gitlab_id": "id-1", "gitlab_secret": "secret-1"
            }})
            .to_string(),
        );
        if with_cert {
            put("etc/gitlab/ssl/mattermost.example.com.crt", "not parsed\n");
        }
        let secrets = tempfile::tempdir().expect("tempdir");
        let (code, config, report) = outcome(
            bin()
                .arg("import")
                .arg("--omnibus-root")
                .arg(root.path())
                .arg("--secrets-dir")
                .arg(secrets.path())
                .args(["--gitlab-sign-in", "team-route"])
                .output()
                .expect("runs"),
        );
        assert_eq!(code, 0, "{report}");
        config
    };
    let config = import(true);
    assert!(
        config.contains("certificate = \"/etc/gitlab/ssl/mattermost.example.com.crt\""),
        "{config}"
    );
    assert!(!config.contains("acme_webroot"), "{config}");
    let config = import(false);
    assert!(
        config.contains(
            "certificate = \"/etc/letsencrypt/live/mattermost.example.com/fullchain.pem\""
        ),
        "{config}"
    );
    assert!(config.contains("acme_webroot"), "{config}");
}
