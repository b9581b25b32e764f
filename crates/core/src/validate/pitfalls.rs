//! Values each valid on its own that, together, do not do what they seem to: a certificate
//! nginx never loads, a port that speaks another TLS mode, credentials nothing sends.
//!
//! What the rendering would silently ignore is an error (the admin believes it is in
//! effect); what works but is likely a mistake or a risk is a warning. Like the checks in
//! [`super::sections`], they only judge sections whose every value could be read.

use std::collections::BTreeMap;

use super::settings::SettingValue;
use super::{key, Context, Report};
use crate::diag::Diagnostic;
use crate::schema::{Config, ConnectionSecurity};
use crate::syntax::names::Host;

pub(super) fn check(
    config: &Config,
    https: Option<bool>,
    values: &BTreeMap<String, SettingValue>,
    ctx: &Context,
    report: &mut Report,
    warnings: &mut super::Warnings,
) {
    if ctx.section("nginx") && ctx.section("external_url") {
        plain_http(config, https, report);
    }
    if ctx.section("nginx") && ctx.section("listen") {
        around_nginx(config, warnings);
    }
    if ctx.section("smtp") {
        smtp(config, warnings);
    }
    if ctx.section("gitlab") {
        gitlab_scope(config, warnings);
    }
    unverified_mail(values, warnings);
}

/// nginx serving plain http renders neither the certificate nor the redirect (see
/// `render::nginx`): an admin who set them believes the site is served over TLS.
fn plain_http(config: &Config, https: Option<bool>, report: &mut Report) {
    let n = &config.nginx;
    // Unknown (a broken external_url) or https: nothing is ignored.
    if !n.enable || https != Some(false) {
        return;
    }
    let url = url::Url::parse(&config.external_url).ok();
    let port = n
        .listen_port
        .or_else(|| url.as_ref().and_then(|u| u.port_or_known_default()))
        .unwrap_or(80);
    // Either the URL's scheme or an explicit nginx.https = false turned TLS off; the hint
    // names the way to turn it on, then dropping what `dropped` names.
    let explicit = n.https == Some(false);
    let why = if explicit {
        "nginx.https = false".to_string()
    } else {
        format!("external_url is {}", config.external_url)
    };
    let hint = |dropped: &str| {
        if explicit {
            format!("set nginx.https = true for nginx to serve TLS, or drop {dropped} (TLS ends before nginx)")
        } else {
            format!("use https:// in external_url, or drop {dropped}")
        }
    };
    // What turned TLS off, shown beside the value it makes ignored.
    let off: (&[&str], &str) = if explicit {
        (&["nginx", "https"], "TLS off here")
    } else {
        (&["external_url"], "plain http here")
    };
    let cert_key = if n.certificate.is_some() {
        Some("nginx.certificate")
    } else if n.certificate_key.is_some() {
        Some("nginx.certificate_key")
    } else {
        None
    };
    if let Some(k) = cert_key {
        report(
            Diagnostic::new(
                k,
                format!(
                    "{why}, so nginx serves plain http on port {port} and never loads nginx.certificate or nginx.certificate_key"
                ),
            )
            .with_hint(hint("the certificate"))
            .also(off.0, off.1),
            &key(k),
        );
    }
    if n.redirect_http_to_https {
        let k = "nginx.redirect_http_to_https";
        report(
            Diagnostic::new(
                k,
                format!(
                    "{why}, so nginx serves plain http on port {port} and redirects nothing: nginx.redirect_http_to_https is ignored"
                ),
            )
            .with_hint(hint("nginx.redirect_http_to_https"))
            .also(off.0, off.1),
            &key(k),
        );
    }
}

/// Mattermost listening on every interface behind nginx: it is then reachable directly,
/// around nginx's TLS, headers and limits.
fn around_nginx(config: &Config, warnings: &mut super::Warnings) {
    if !config.nginx.enable {
        return;
    }
    let address = &config.listen.address;
    // An empty address makes Mattermost listen on every interface too.
    let everywhere = address.is_empty()
        || match Host::parse(address) {
            Ok(Host::V4(a)) => a.is_unspecified(),
            Ok(Host::V6(a)) => a.is_unspecified(),
            _ => false,
        };
    if everywhere {
        super::warn(warnings, "listen.address", format!(
            "listen.address = {address:?} makes Mattermost listen on every interface while nginx is in front of it: \
             port {} is then reachable directly, around nginx; set listen.address = \"127.0.0.1\" \
             (or leave it unset) unless another host must reach Mattermost directly",
            config.listen.port
        ));
    }
}

fn smtp(config: &Config, warnings: &mut super::Warnings) {
    let s = &config.smtp;
    if !s.enable {
        return;
    }
    // Port 465 is implicit TLS (RFC 8314), 587 submission with STARTTLS (RFC 6409): the
    // other mode on either port fails the handshake or hangs until the timeout.
    let fits = match (s.connection_security, s.port) {
        (ConnectionSecurity::StartTls, 465) => Some("\"TLS\""),
        (ConnectionSecurity::Tls, 587) => Some("\"STARTTLS\""),
        _ => None,
    };
    if let Some(fits) = fits {
        let text = format!(
            "smtp.connection_security = {:?} on port {}: servers usually speak implicit TLS on 465 \
             (\"TLS\") and STARTTLS on 587, so sending mail would likely fail; set \
             smtp.connection_security = {fits}, or the port that fits it",
            s.connection_security.as_str(),
            s.port
        );
        warnings.push((
            Diagnostic::warning("", text).also(&["smtp", "port"], format!("port {}", s.port)),
            key("smtp.connection_security"),
        ));
    }
    if !s.auth {
        let set: Vec<&str> = [
            ("smtp.username", s.username.is_some()),
            ("smtp.password_file", s.password_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        if !set.is_empty() {
            let mut d = Diagnostic::warning(
                "",
                format!(
                "{} {} ignored: smtp.auth is false, so Mattermost sends mail without logging in; \
                 set smtp.auth = true to authenticate, or remove {}",
                set.join(" and "),
                if set.len() == 1 { "is" } else { "are" },
                if set.len() == 1 { "it" } else { "them" },
            ),
            );
            for other in set.iter().skip(1) {
                d = d.also(
                    &key(other).iter().map(String::as_str).collect::<Vec<_>>(),
                    "ignored too",
                );
            }
            warnings.push((d.also(&["smtp", "auth"], "smtp.auth is false"), key(set[0])));
        }
    }
}

/// An empty scope is not refused: it is what Omnibus requested, and it fits the application
/// Omnibus registered (one without scopes), so imports keep it. Against any application that
/// has scopes, GitLab falls back to `api` and the sign-in fails.
fn gitlab_scope(config: &Config, warnings: &mut super::Warnings) {
    let g = &config.gitlab;
    if g.enable && g.scope.trim().is_empty() {
        super::warn(
            warnings,
            "gitlab.scope",
            "gitlab.scope is empty: GitLab then grants its default scope, `api` (full API access), \
             which works only with an application registered without scopes, as Omnibus registered it; \
             with any other application GitLab sign-in fails. Leave gitlab.scope unset for \"read_user\" \
             and run `gitlab-mattermost gitlab register` to get an application with that scope"
        );
    }
}

/// Skipping the server's certificate check, from the smtp section or a free-form setting:
/// mail and the SMTP password go out over TLS to whoever answers.
fn unverified_mail(values: &BTreeMap<String, SettingValue>, warnings: &mut super::Warnings) {
    let Some(v) = values.get("MM_EMAILSETTINGS_SKIPSERVERCERTIFICATEVERIFICATION") else {
        return;
    };
    if v.rendered.as_deref() == Some("true") {
        let at = if v.origin.is_empty() {
            "EmailSettings.SkipServerCertificateVerification".to_string()
        } else {
            v.origin.join(".")
        };
        warnings.push((Diagnostic::warning("", format!(
            "{at} = true: mail (and the SMTP password) goes out over TLS without checking the server's \
             certificate, so whoever can intercept the connection can read them; remove it once the server has a \
             certificate the host trusts"
        )), v.origin.clone()));
    }
}

/// Directories emptied at every boot on Debian and most systemd hosts (tmpfs).
const VOLATILE: &[&str] = &["/run/", "/var/run/", "/tmp/", "/dev/shm/"];

/// A secret file on a tmpfs is gone after the next reboot, and Mattermost then fails at
/// `LoadCredential=`: a warning per file, unless the config says the files are provisioned
/// at every boot.
pub(super) fn volatile_secrets<'a>(
    credentials: impl Iterator<Item = &'a super::Credential>,
    merged: &serde_json::Value,
    warnings: &mut super::Warnings,
) {
    let mut paths: Vec<&str> = credentials
        .map(|c| c.path.as_str())
        .filter(|p| VOLATILE.iter().any(|v| p.starts_with(v)))
        .collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let text = format!(
            "{path} is a secret file on a directory emptied at boot: after the next reboot it is gone and Mattermost fails at LoadCredential=. Keep secret files on persistent storage (e.g. /etc/gitlab-mattermost-secrets/, root-only), or set secrets_provisioned_at_boot = true when something writes them at every boot (sops-nix, agenix)"
        );
        // Placed at the first key naming the file.
        let at = key_naming(merged, path, &mut Vec::new()).unwrap_or_default();
        warnings.push((Diagnostic::warning("", text), at));
    }
}

/// The first key path (in the config's order) whose value is `file` and that holds the path
/// of a secret.
fn key_naming(
    value: &serde_json::Value,
    file: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    use serde_json::Value;
    match value {
        Value::String(s) if s == file && super::is_secret_path_key(path) => Some(path.clone()),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            path.push(k.clone());
            let found = key_naming(v, file, path);
            path.pop();
            found
        }),
        _ => None,
    }
}
