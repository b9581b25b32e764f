//! `mattermost_nginx[...]`: Omnibus's Mattermost vhost, mapped onto the `nginx` section.
//!
//! Keys with a schema field are carried there; directives the rendered vhost does not write
//! itself go into `nginx.server_config`; values the vhost already fixes (and that would clash
//! as duplicate directives) or that it cannot express are dropped with the reason.

use serde_json::Value;

use super::mapping;
use super::rb::ruby_to_s;
use super::report::{Origin, Section};
use super::{Ctx, RbValue};

/// Omnibus defaults of keys the vhost writes itself with the same value.
const SAME_AS_VHOST: &[(&str, &str, &str)] = &[
    ("ssl_protocols", "TLSv1.2 TLSv1.3", "ssl_protocols"),
    (
        "ssl_prefer_server_ciphers",
        "off",
        "ssl_prefer_server_ciphers",
    ),
    (
        "ssl_session_cache",
        "shared:SSL:10m",
        "ssl_session_cache (as shared:gitlab_mattermost:10m)",
    ),
    ("ssl_session_timeout", "1d", "ssl_session_timeout"),
    (
        "hsts_max_age",
        "63072000",
        "Strict-Transport-Security max-age=63072000 with https",
    ),
    (
        "referrer_policy",
        "strict-origin-when-cross-origin",
        "Referrer-Policy",
    ),
    ("proxy_connect_timeout", "300", "proxy_connect_timeout 300s"),
    ("http2_enabled", "true", "http2 with https"),
];

/// Keys with nothing to carry, and why.
const NOT_CARRIED: &[(&str, &str)] = &[
    ("ssl_session_tickets", "Omnibus's Mattermost vhost never rendered it either"),
    ("log_format", "the vhost logs to /var/log/nginx/gitlab_mattermost_access.log in nginx's default format"),
    ("log_format_escape", "the vhost logs in nginx's default format"),
    ("error_log_level", "the vhost logs errors at level error to /var/log/nginx/gitlab_mattermost_error.log"),
    ("log_directory", "the vhost logs to /var/log/nginx"),
    ("dir", "Omnibus's nginx working directory"),
    ("proxy_protocol", "the vhost cannot add `proxy_protocol` to its listen lines; terminate the PROXY protocol in front of it"),
    ("hsts_include_subdomains", "the vhost's Strict-Transport-Security header has no includeSubDomains; add it to the server config of a host that owns the parent domain"),
];

/// Directives the vhost does not write: carried into `nginx.server_config` when set.
const EXTRA_DIRECTIVES: &[(&str, &str)] = &[
    ("ssl_ciphers", "ssl_ciphers"),
    ("ssl_client_certificate", "ssl_client_certificate"),
    ("ssl_verify_client", "ssl_verify_client"),
    ("ssl_verify_depth", "ssl_verify_depth"),
    ("ssl_dhparam", "ssl_dhparam"),
    ("ssl_ecdh_curve", "ssl_ecdh_curve"),
    ("ssl_password_file", "ssl_password_file"),
    ("real_ip_header", "real_ip_header"),
    ("real_ip_recursive", "real_ip_recursive"),
];

/// Omnibus defaults of the extra directives: left out (nginx's own default is close enough
/// and the vhost stays readable); anything else is carried.
const EXTRA_DEFAULTS: &[(&str, &str)] = &[
    ("ssl_ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"),
    ("ssl_verify_depth", "1"),
];

/// Map every `mattermost_nginx[...]` key, the proxy headers and the https decision.
pub fn map(ctx: &mut Ctx) {
    let mut keys = std::mem::take(&mut ctx.nginx);
    let https = https(ctx, &mut keys);
    let mut server_config: Vec<String> = Vec::new();
    if let Some(rv) = keys.remove("enable") {
        bool_key(ctx, &rv, &["nginx", "enable"]);
    }
    let le = lets_encrypt(ctx, &keys, https);
    if let Some(rv) = ctx.facts.get("letsencrypt['enable']").cloned() {
        let text = match (&rv.value, le.is_some()) {
            (_, true) => "Mattermost's certificate comes from certbot on the new host (see derived)",
            (gitlab_rb::Value::Bool(true), false) => "for GitLab's certificate; Mattermost keeps its own certificate, or serves plain http",
            _ => "Let's Encrypt was off: nothing of it to carry",
        };
        carried(ctx, &rv, text.into());
    }
    certificates(ctx, &mut keys, https, le.is_some());
    let redirect = keys.remove("redirect_http_to_https");
    if let Some(why) = &le {
        acme(ctx, why, redirect.as_ref());
    }
    if let Some(rv) = redirect {
        // Without https there is nothing to redirect to: the compiler refuses a redirect it
        // would ignore, so it is reported here like the certificates.
        if !https && matches!(rv.value, gitlab_rb::Value::Bool(true)) {
            dropped(ctx, &rv, "not used: nginx serves plain http".into());
        } else {
            bool_key(ctx, &rv, &["nginx", "redirect_http_to_https"]);
        }
    }
    for (key, field) in [
        ("redirect_http_to_https_port", "redirect_http_port"),
        ("listen_port", "listen_port"),
        ("proxy_read_timeout", "proxy_read_timeout"),
    ] {
        if let Some(rv) = keys.remove(key) {
            number_key(ctx, &rv, &["nginx", field]);
        }
    }
    listen_addresses(ctx, keys.remove("listen_addresses"));
    body_size(ctx, keys.remove("client_max_body_size"));
    headers(ctx);
    if let Some(rv) = keys.remove("custom_gitlab_mattermost_server_config") {
        let text = ruby_to_s(&rv.value);
        if !text.trim().is_empty() {
            server_config.push(text.trim_end().to_string());
            carried(ctx, &rv, "nginx.server_config (appended verbatim)".into());
        }
    }
    for (key, rv) in keys {
        extra_key(ctx, &key, &rv, https, &mut server_config);
    }
    if !server_config.is_empty() {
        let mut text = server_config.join("\n");
        text.push('\n');
        ctx.set_out(&["nginx", "server_config"], Value::String(text));
    }
}

fn carried(ctx: &mut Ctx, rv: &RbValue, text: String) {
    ctx.report
        .add(Section::Carried, Some(rv.origin.clone()), text);
}

fn dropped(ctx: &mut Ctx, rv: &RbValue, text: String) {
    ctx.report
        .add(Section::Dropped, Some(rv.origin.clone()), text);
}

/// Whether nginx serves https: `listen_https`, else `mattermost['service_use_ssl']`, else
/// the external URL's scheme (Omnibus's order).
fn https(ctx: &mut Ctx, keys: &mut std::collections::BTreeMap<String, RbValue>) -> bool {
    let scheme_https = ctx
        .out
        .get("external_url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.starts_with("https://"));
    let use_ssl = ctx.mm.remove("service_use_ssl");
    let explicit = keys.remove("listen_https").or(use_ssl.clone());
    if let (Some(a), Some(b)) = (&explicit, &use_ssl) {
        if a.origin != b.origin {
            dropped(
                ctx,
                b,
                "service_use_ssl: mattermost_nginx['listen_https'] decides".into(),
            );
        }
    }
    let Some(rv) = explicit else {
        return scheme_https;
    };
    let gitlab_rb::Value::Bool(b) = rv.value else {
        if !matches!(rv.value, gitlab_rb::Value::Nil) {
            dropped(
                ctx,
                &rv,
                "expected true or false; the external URL's scheme decides".into(),
            );
        }
        return scheme_https;
    };
    if b == scheme_https {
        carried(
            ctx,
            &rv,
            format!("nginx.https: {b}, as the external URL's scheme implies"),
        );
    } else {
        ctx.set_out(&["nginx", "https"], Value::Bool(b));
        let why = if b {
            "nginx serves https anyway"
        } else {
            "TLS ends before nginx"
        };
        carried(
            ctx,
            &rv,
            format!("nginx.https = {b} (the external URL's scheme says {scheme_https}; {why})"),
        );
    }
    b
}

fn bool_key(ctx: &mut Ctx, rv: &RbValue, path: &[&str]) {
    match rv.value {
        gitlab_rb::Value::Bool(b) => {
            ctx.set_out(path, Value::Bool(b));
            carried(ctx, rv, format!("{} = {b}", path.join(".")));
        }
        _ => dropped(
            ctx,
            rv,
            format!(
                "expected true or false, found {}",
                super::rb::kind(&rv.value)
            ),
        ),
    }
}

fn number_key(ctx: &mut Ctx, rv: &RbValue, path: &[&str]) {
    let n = match &rv.value {
        gitlab_rb::Value::Int(n) => Some(*n),
        gitlab_rb::Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    };
    match n
        .filter(|n| (0..=65535).contains(n) || path.last() == Some(&"proxy_read_timeout"))
        .filter(|n| *n >= 0)
    {
        Some(n) => {
            ctx.set_out(path, Value::from(n));
            carried(ctx, rv, format!("{} = {n}", path.join(".")));
        }
        None => dropped(
            ctx,
            rv,
            format!("expected a number, found {}", super::rb::kind(&rv.value)),
        ),
    }
}

/// Where certbot's webroot goes on the new host when Omnibus used Let's Encrypt.
pub const ACME_WEBROOT: &str = "/var/lib/gitlab-mattermost/acme";

/// Mattermost's host name, from the external URL being built.
fn mattermost_host(ctx: &Ctx) -> String {
    ctx.out
        .get("external_url")
        .and_then(Value::as_str)
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// Whether Omnibus served Mattermost a Let's Encrypt certificate, and why it is taken to.
///
/// `LetsEncryptHelper.add_service_alt_name` did so for an https `mattermost_external_url`
/// without a certificate of its own (no `mattermost_nginx['ssl_certificate']`): it made the
/// Mattermost host an alternative name on GitLab's certificate. Let's Encrypt was on with
/// `letsencrypt['enable'] = true`, and when unset for an https `external_url` (Omnibus turned
/// it on unless GitLab's own certificate file existed, which gitlab.rb cannot tell). With
/// `--omnibus-root`, an existing `/etc/gitlab/ssl/<mattermost host>.crt` says it was not.
fn lets_encrypt(
    ctx: &Ctx,
    keys: &std::collections::BTreeMap<String, RbValue>,
    https: bool,
) -> Option<String> {
    let scheme_https = |u: Option<&str>| u.is_some_and(|u| u.starts_with("https://"));
    let mm_https = scheme_https(ctx.out.get("external_url").and_then(Value::as_str));
    if !https
        || !mm_https
        || keys.contains_key("ssl_certificate")
        || keys.contains_key("ssl_certificate_key")
    {
        return None;
    }
    // add_service_alt_name left a certificate of Mattermost's own in place.
    if let Some(root) = &ctx.omnibus_root {
        let own = format!("etc/gitlab/ssl/{}.crt", mattermost_host(ctx));
        if root.join(own).exists() {
            return None;
        }
    }
    match ctx
        .facts
        .get("letsencrypt['enable']")
        .map(|rv| (&rv.value, &rv.origin))
    {
        Some((gitlab_rb::Value::Bool(true), origin)) => Some(format!("{origin} = true")),
        Some((gitlab_rb::Value::Nil, _)) | None => {
            let gitlab = ctx
                .calls
                .get("external_url")
                .and_then(|rv| match &rv.value {
                    gitlab_rb::Value::Str(s) => Some(s.as_str()),
                    _ => None,
                });
            scheme_https(gitlab).then(|| {
                "letsencrypt['enable'] is unset and external_url is https, so Omnibus turned Let's Encrypt on (unless GitLab's own certificate file existed: then set letsencrypt['enable'] = false in gitlab.rb and import again)".to_string()
            })
        }
        Some(_) => None,
    }
}

/// What Let's Encrypt meant, carried to the new host: the webroot, the redirect server that
/// serves it (Omnibus turned the redirect on unless the key was set), and what to run there.
fn acme(ctx: &mut Ctx, why: &str, redirect: Option<&RbValue>) {
    let host = mattermost_host(ctx);
    let origin = Some(Origin::Omnibus("Let's Encrypt".into()));
    if redirect.is_some_and(|rv| !matches!(rv.value, gitlab_rb::Value::Bool(true))) {
        ctx.report.add(Section::Derived, origin, format!("nginx.acme_webroot is not set: {why}, but mattermost_nginx['redirect_http_to_https'] is not true, and Let's Encrypt's challenges arrive on plain http; to renew with certbot, set nginx.redirect_http_to_https = true and nginx.acme_webroot = {ACME_WEBROOT:?}"));
        return;
    }
    ctx.set_out(
        &["nginx", "acme_webroot"],
        Value::String(ACME_WEBROOT.into()),
    );
    if redirect.is_none() {
        ctx.set_out(&["nginx", "redirect_http_to_https"], Value::Bool(true));
    }
    let redirect_text = if redirect.is_none() {
        " and nginx.redirect_http_to_https = true (Omnibus turned it on for Let's Encrypt)"
    } else {
        ""
    };
    ctx.report.add(
        Section::Derived,
        origin,
        format!(
            "nginx.acme_webroot = {ACME_WEBROOT:?}{redirect_text}: {why}; the plain-http server serves Let's Encrypt's challenges from it, as Omnibus's did from /var/opt/gitlab/nginx/www/\n\
             next steps on the new host, once {host} resolves to it: nginx cannot load the vhost before the certificate exists (apply stops at `nginx -t`), so get the first one with certbot's own server while port 80 is free, then move renewals to the webroot:\n\
             \x20 systemctl stop nginx; certbot certonly --standalone -d {host}\n\
             \x20 gitlab-mattermost apply <config>\n\
             \x20 certbot certonly --webroot -w {ACME_WEBROOT} -d {host} --deploy-hook \"systemctl reload nginx\" --force-renewal\n\
             never `certbot --nginx`: apply owns the site file and refuses to write over one it did not make"
        ),
    );
}

/// With https, Omnibus defaulted the certificate to /etc/gitlab/ssl/<host>.crt and .key; with
/// Let's Encrypt the files certbot writes for the Mattermost host take their place.
fn certificates(
    ctx: &mut Ctx,
    keys: &mut std::collections::BTreeMap<String, RbValue>,
    https: bool,
    lets_encrypt: bool,
) {
    let host = mattermost_host(ctx);
    for (key, field, ext) in [
        ("ssl_certificate", "certificate", "crt"),
        ("ssl_certificate_key", "certificate_key", "key"),
    ] {
        let rv = keys.remove(key);
        if !https {
            if let Some(rv) = rv {
                dropped(ctx, &rv, "not used: nginx serves plain http".into());
            }
            continue;
        }
        match rv {
            Some(rv) => {
                let path = ruby_to_s(&rv.value);
                ctx.set_out(&["nginx", field], Value::String(path.clone()));
                carried(ctx, &rv, format!("nginx.{field} = {path:?}"));
            }
            None if lets_encrypt => {
                let file = if ext == "crt" {
                    "fullchain.pem"
                } else {
                    "privkey.pem"
                };
                let path = format!("/etc/letsencrypt/live/{host}/{file}");
                ctx.set_out(&["nginx", field], Value::String(path.clone()));
                ctx.report.add(Section::Derived, Some(Origin::Omnibus("Let's Encrypt".into())), format!("nginx.{field} = {path:?}: under Let's Encrypt Omnibus served Mattermost with GitLab's certificate ({host} as an alternative name), which stays with GitLab; this is where certbot puts {host}'s own"));
            }
            None => {
                let path = format!("/etc/gitlab/ssl/{host}.{ext}");
                ctx.set_out(&["nginx", field], Value::String(path.clone()));
                ctx.report.add(Section::Derived, Some(Origin::Omnibus("https default certificate".into())), format!("nginx.{field} = {path:?}: Omnibus's default for an https mattermost_external_url without Let's Encrypt (copy the files from the old host)"));
            }
        }
    }
}

fn listen_addresses(ctx: &mut Ctx, rv: Option<RbValue>) {
    let Some(rv) = rv else { return };
    let list: Option<Vec<Value>> = match &rv.value {
        gitlab_rb::Value::Array(items) => items
            .iter()
            .map(|i| match &i.value {
                gitlab_rb::Value::Str(s) => {
                    Some(Value::String(if s.contains(':') && !s.starts_with('[') {
                        format!("[{s}]")
                    } else {
                        s.clone()
                    }))
                }
                _ => None,
            })
            .collect(),
        _ => None,
    };
    match list {
        Some(l) => {
            ctx.set_out(&["nginx", "listen_addresses"], Value::Array(l.clone()));
            carried(
                ctx,
                &rv,
                format!("nginx.listen_addresses = {}", Value::Array(l)),
            );
        }
        None => dropped(ctx, &rv, "expected an array of addresses".into()),
    }
}

/// Omnibus's default was 0 (no limit); the compiler's is 100m, so make Omnibus's explicit.
fn body_size(ctx: &mut Ctx, rv: Option<RbValue>) {
    let Some(rv) = rv else {
        ctx.set_out(
            &["nginx", "client_max_body_size"],
            Value::String("0".into()),
        );
        ctx.report.add(Section::Derived, Some(Origin::Omnibus("default mattermost_nginx['client_max_body_size'] = 0".into())), "nginx.client_max_body_size = \"0\" (no limit, as Omnibus had; Mattermost's FileSettings.MaxFileSize still limits uploads)".to_string());
        return;
    };
    let text = ruby_to_s(&rv.value);
    ctx.set_out(
        &["nginx", "client_max_body_size"],
        Value::String(text.clone()),
    );
    carried(ctx, &rv, format!("nginx.client_max_body_size = {text:?}"));
}

/// `proxy_set_headers`: nil removes a header (as Omnibus did); Upgrade and Connection are
/// the vhost's own business (it upgrades websockets itself).
fn headers(ctx: &mut Ctx) {
    for (name, rv) in std::mem::take(&mut ctx.proxy_headers) {
        if name.eq_ignore_ascii_case("Upgrade") || name.eq_ignore_ascii_case("Connection") {
            dropped(ctx, &rv, format!("{name}: the vhost sets it for websockets itself (Omnibus's $connection_upgrade map does not exist there)"));
            continue;
        }
        let value = match &rv.value {
            gitlab_rb::Value::Nil => String::new(),
            v => ruby_to_s(v),
        };
        let bad_name = name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if bad_name || value.contains(['\n', ';', '"']) {
            dropped(ctx, &rv, format!("{name}: a header name of letters, digits and dashes and a value without `;`, quotes or newlines is needed"));
            continue;
        }
        let what = if value.is_empty() {
            "removes the header".to_string()
        } else {
            format!("= {value:?}")
        };
        ctx.set_out(&["nginx", "proxy_headers", &name], Value::String(value));
        carried(ctx, &rv, format!("nginx.proxy_headers.{name} {what}"));
    }
}

/// Every other key: the same as the vhost, an extra directive, or not carried.
fn extra_key(ctx: &mut Ctx, key: &str, rv: &RbValue, https: bool, server_config: &mut Vec<String>) {
    let value = ruby_to_s(&rv.value);
    if matches!(rv.value, gitlab_rb::Value::Nil) {
        dropped(ctx, rv, "nil: the default applies".into());
    } else if let Some((_, default, what)) = SAME_AS_VHOST.iter().find(|(k, _, _)| *k == key) {
        if value == *default {
            dropped(
                ctx,
                rv,
                format!("Omnibus's default; the vhost writes {what} itself"),
            );
        } else {
            dropped(ctx, rv, format!("{value:?}: the vhost writes {what} itself and a second directive is an nginx error; no schema field sets it yet"));
        }
    } else if let Some((_, why)) = NOT_CARRIED.iter().find(|(k, _)| *k == key) {
        dropped(ctx, rv, (*why).to_string());
    } else if let Some((_, directive)) = EXTRA_DIRECTIVES.iter().find(|(k, _)| *k == key) {
        extra_directive(ctx, key, directive, &value, rv, https, server_config);
    } else if key == "real_ip_trusted_addresses" {
        let addrs: Vec<String> = match &rv.value {
            gitlab_rb::Value::Array(items) => items.iter().map(|i| ruby_to_s(&i.value)).collect(),
            v => vec![ruby_to_s(v)],
        };
        for a in addrs.iter().filter(|a| !a.is_empty()) {
            server_config.push(format!(
                "set_real_ip_from {a}; # mattermost_nginx['real_ip_trusted_addresses']"
            ));
        }
        carried(
            ctx,
            rv,
            format!(
                "nginx.server_config: set_real_ip_from for {} address(es)",
                addrs.len()
            ),
        );
    } else if key == "proxy_custom_buffer_size" {
        server_config.push(format!("proxy_buffers 8 {value}; # mattermost_nginx['proxy_custom_buffer_size']\nproxy_buffer_size {value};"));
        carried(ctx, rv, format!("nginx.server_config: proxy_buffers 8 {value}; proxy_buffer_size {value} (the websocket location keeps its own)"));
    } else if key == "ssl_conf_command" {
        let cmds: Vec<String> = match &rv.value {
            gitlab_rb::Value::Array(items) => items.iter().map(|i| ruby_to_s(&i.value)).collect(),
            v => vec![ruby_to_s(v)],
        };
        if https {
            for c in &cmds {
                server_config.push(format!(
                    "ssl_conf_command {c}; # mattermost_nginx['ssl_conf_command']"
                ));
            }
            carried(
                ctx,
                rv,
                format!(
                    "nginx.server_config: {} ssl_conf_command line(s)",
                    cmds.len()
                ),
            );
        } else {
            dropped(ctx, rv, "not used: nginx serves plain http".into());
        }
    } else {
        let hint = crate::catalogue::best_match(
            &format!("mattermost_nginx['{key}']"),
            mapping::omnibus_keys()
                .iter()
                .filter(|k| k.key.starts_with("mattermost_nginx"))
                .map(|k| k.key.clone()),
        )
        .map(|s| format!("; did you mean {s}?"))
        .unwrap_or_default();
        dropped(
            ctx,
            rv,
            format!(
                "not a key of Omnibus's Mattermost vhost (Omnibus would have ignored it){hint}"
            ),
        );
    }
}

fn extra_directive(
    ctx: &mut Ctx,
    key: &str,
    directive: &str,
    value: &str,
    rv: &RbValue,
    https: bool,
    server_config: &mut Vec<String>,
) {
    let tls_only = key.starts_with("ssl_");
    if tls_only && !https {
        dropped(ctx, rv, "not used: nginx serves plain http".into());
    } else if EXTRA_DEFAULTS.iter().any(|(k, d)| *k == key && *d == value) {
        dropped(
            ctx,
            rv,
            "Omnibus's default; nginx's own default applies".into(),
        );
    } else if value.contains(['\n', ';', '{', '}']) {
        dropped(ctx, rv, format!("{directive}: a value with `;`, braces or newlines cannot be written as one directive"));
    } else {
        let v = match &rv.value {
            gitlab_rb::Value::Bool(true) => "on".to_string(),
            gitlab_rb::Value::Bool(false) => "off".to_string(),
            _ if value.contains(char::is_whitespace) || key == "ssl_ciphers" => {
                format!("'{value}'")
            }
            _ => value.to_string(),
        };
        server_config.push(format!("{directive} {v}; # mattermost_nginx['{key}']"));
        carried(ctx, rv, format!("nginx.server_config: {directive} {v};"));
    }
}
