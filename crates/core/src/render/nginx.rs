//! The nginx reverse proxy: `nginx/http.conf` (upstream and the websocket `map`, for the
//! `http` block), `nginx/locations.conf` (only the `location` blocks, for hosts where
//! something else owns the server block, like NixOS's nginx module) and
//! `nginx/mattermost.conf` (everything, to drop into `conf.d/`).

use std::collections::BTreeMap;

use crate::syntax::nginx::arg;
use crate::validate::lines::{SignIn, GITLAB_LOGIN_ROUTE, TEAM_EDITION_SIGN_IN_PATH};
use crate::validate::Plan;

/// The `http`-level pieces: the upstream with keepalive and the `Connection` header map.
pub fn http_conf(plan: &Plan) -> String {
    let l = &plan.config.listen;
    let host = match l.address.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        a if a.contains(':') && !a.starts_with('[') => format!("[{a}]"),
        a => a.to_string(),
    };
    format!(
        "# {header}\n\
         upstream gitlab_mattermost {{\n    server {host}:{port};\n    keepalive 32;\n}}\n\n\
         # Websocket upgrades pass `Connection: upgrade`; everything else keeps the upstream\n\
         # connection alive (an empty value drops the header).\n\
         map $http_upgrade $gitlab_mattermost_connection {{\n    default upgrade;\n    '' '';\n}}\n",
        header = super::HEADER,
        port = l.port
    )
}

/// The request headers sent to Mattermost: Omnibus's defaults, the scheme forced from the
/// URL users open (`site_url`, else `external_url`; so a proxy in front cannot make
/// Mattermost think it is on http), then the user's overrides (an empty value removes a
/// header).
fn proxy_headers(plan: &Plan) -> BTreeMap<String, String> {
    // What the browser sees, which is what Mattermost compares with: behind an outer load
    // balancer that is `site_url`, not the vhost nginx serves.
    let public = &plan.site_url;
    let scheme = if public.https { "https" } else { "http" };
    // `$host` (not the client's raw `$http_host`, which gixy flags as spoofable), plus the
    // public URL's port when it is not the scheme's default: what browsers send, so
    // Mattermost's same-origin check of websockets matches.
    let default_port = if public.https { 443 } else { 80 };
    let host = if public.port == default_port {
        "$host".to_string()
    } else {
        format!("$host:{}", public.port)
    };
    let mut h: BTreeMap<String, String> = [
        ("Host", host.as_str()),
        ("X-Real-IP", "$remote_addr"),
        ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
        ("X-Forwarded-Proto", scheme),
        ("X-Frame-Options", "SAMEORIGIN"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if public.https {
        h.insert("X-Forwarded-Ssl".into(), "on".into());
    }
    for (k, v) in &plan.config.nginx.proxy_headers {
        if v.is_empty() {
            h.remove(k);
        } else {
            h.insert(k.clone(), v.clone());
        }
    }
    h
}

fn header_lines(plan: &Plan, indent: &str) -> String {
    proxy_headers(plan)
        .iter()
        .map(|(k, v)| format!("{indent}proxy_set_header {} {};\n", arg(k), arg(v)))
        .collect()
}

/// The `location` blocks: the websocket endpoint and everything else.
pub fn locations_conf(plan: &Plan) -> String {
    format!("# {}\n{}", super::HEADER, locations(plan, ""))
}

fn locations(plan: &Plan, indent: &str) -> String {
    let n = &plan.config.nginx;
    let i = indent;
    let headers = header_lines(plan, &format!("{i}    "));
    let gzip = if plan.https {
        // Compression of secrets over TLS enables BREACH; Omnibus turned it off too.
        format!("{i}    gzip off;\n")
    } else {
        String::new()
    };
    format!(
        "{i}location ~ /api/v[0-9]+/(users/)?websocket$ {{\n\
         {i}    proxy_set_header Upgrade $http_upgrade;\n\
         {i}    proxy_set_header Connection $gitlab_mattermost_connection;\n\
         {headers}\
         {i}    client_max_body_size {body};\n\
         {i}    proxy_buffers 256 16k;\n\
         {i}    proxy_buffer_size 16k;\n\
         {i}    client_body_timeout 60s;\n\
         {i}    send_timeout 300s;\n\
         {i}    lingering_timeout 5s;\n\
         {i}    proxy_connect_timeout 90s;\n\
         {i}    proxy_send_timeout 300s;\n\
         {i}    proxy_read_timeout {read}s;\n\
         {i}    proxy_http_version 1.1;\n\
         {i}    proxy_pass http://gitlab_mattermost;\n\
         {i}}}\n\n\
         {sign_in}\
         {i}location / {{\n\
         {i}    proxy_set_header Connection $gitlab_mattermost_connection;\n\
         {headers}\
         {i}    client_max_body_size {body};\n\
         {gzip}\
         {i}    proxy_read_timeout {read}s;\n\
         {i}    proxy_connect_timeout 300s;\n\
         {i}    proxy_redirect off;\n\
         {i}    proxy_http_version 1.1;\n\
         {i}    proxy_pass http://gitlab_mattermost;\n\
         {i}}}\n",
        body = n.client_max_body_size,
        read = n.proxy_read_timeout,
        sign_in = team_edition_sign_in(plan, i),
    )
}

/// Team Edition on 11 shows no GitLab button: a stable link to the route it still answers.
/// The redirect stays relative, so it works behind an outer load balancer too.
fn team_edition_sign_in(plan: &Plan, i: &str) -> String {
    if plan.sign_in != SignIn::TeamEditionRoute {
        return String::new();
    }
    format!(
        "{i}# Sign in with GitLab on Team Edition 11 (no button in the apps): gitlab.allow_team_edition_route.\n\
         {i}location = {TEAM_EDITION_SIGN_IN_PATH} {{\n\
         {i}    absolute_redirect off;\n\
         {i}    return 302 {GITLAB_LOGIN_ROUTE}$is_args$args;\n\
         {i}}}\n\n"
    )
}

/// A complete configuration for an nginx `http` block (e.g. `conf.d/mattermost.conf`).
pub fn full_conf(plan: &Plan) -> String {
    let n = &plan.config.nginx;
    let host = &plan.site.host;
    let port = n.listen_port.unwrap_or(plan.site.port);
    let mut s = http_conf(plan);
    s.push('\n');
    s.push_str("server {\n");
    for addr in &n.listen_addresses {
        let ssl = if plan.https { " ssl http2" } else { "" };
        s.push_str(&format!("    listen {addr}:{port}{ssl};\n"));
    }
    s.push_str(&format!("    server_name {};\n", arg(host)));
    s.push_str("    server_tokens off;\n");
    s.push_str(&format!(
        "    client_max_body_size {};\n",
        n.client_max_body_size
    ));
    if plan.https {
        let cert = n.certificate.as_deref().unwrap_or_default();
        let key = n.certificate_key.as_deref().unwrap_or_default();
        s.push_str(&format!(
            "    ssl_certificate {};\n\
             \x20   ssl_certificate_key {};\n\
             \x20   ssl_protocols TLSv1.2 TLSv1.3;\n\
             \x20   ssl_prefer_server_ciphers off;\n\
             \x20   ssl_session_cache shared:gitlab_mattermost:10m;\n\
             \x20   ssl_session_timeout 1d;\n\
             \x20   add_header Strict-Transport-Security \"max-age=63072000\" always;\n",
            arg(cert),
            arg(key)
        ));
    }
    s.push_str("    add_header Referrer-Policy strict-origin-when-cross-origin always;\n");
    s.push_str("    access_log /var/log/nginx/gitlab_mattermost_access.log;\n");
    s.push_str("    error_log /var/log/nginx/gitlab_mattermost_error.log error;\n\n");
    if !plan.https {
        s.push_str(&acme_challenge(plan));
    }
    s.push_str(&locations(plan, "    "));
    if !n.server_config.trim().is_empty() {
        s.push('\n');
        for l in n.server_config.trim_end().lines() {
            s.push_str(&format!("    {l}\n"));
        }
    }
    s.push_str("}\n");
    if plan.https && n.redirect_http_to_https {
        let target = if port == 443 {
            format!("https://{host}")
        } else {
            format!("https://{host}:{port}")
        };
        s.push_str("\nserver {\n");
        for addr in &n.listen_addresses {
            s.push_str(&format!("    listen {addr}:{};\n", n.redirect_http_port));
        }
        s.push_str(&format!(
            "    server_name {};\n    server_tokens off;\n",
            arg(host)
        ));
        s.push_str(&acme_challenge(plan));
        s.push_str(&format!(
            "    location / {{\n        return 301 {};\n    }}\n}}\n",
            arg(&format!("{target}$request_uri"))
        ));
    }
    s
}

/// With `nginx.acme_webroot`, the plain-http server answers ACME http-01 challenges from it
/// (`certbot certonly --webroot`), ahead of the proxy and of the redirect to https: `^~`
/// keeps the regular-expression locations away, and a missing token is a 404 from nginx.
fn acme_challenge(plan: &Plan) -> String {
    let Some(webroot) = &plan.config.nginx.acme_webroot else {
        return String::new();
    };
    format!(
        "    # ACME http-01 challenges: certbot certonly --webroot -w <nginx.acme_webroot>.\n\
         \x20   location ^~ /.well-known/acme-challenge/ {{\n\
         \x20       root {};\n\
         \x20       default_type text/plain;\n\
         \x20       try_files $uri =404;\n\
         \x20   }}\n\n",
        arg(webroot)
    )
}
