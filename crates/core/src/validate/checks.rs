//! Checks of one value each: that it can be written into every file it lands in (see
//! [`crate::syntax`]), and that it means what it seems to. They run on every value that
//! could be read, whatever else is wrong with the config.

use super::{is_secret_path_key, key, Report, Site};
use crate::diag::Diagnostic;
use crate::schema::Config;
use crate::sources::KeyPath;
use crate::syntax::names::{self, Host};
use crate::syntax::{dsn, nginx, paths, systemd};

/// Every per-value check.
pub(super) fn all(config: &Config, report: &mut Report) {
    check_paths(config, report);
    check_account(config, report);
    check_ports(config, report);
    check_hosts(config, report);
    check_database(config, report);
    check_gitlab_urls(config, report);
    check_nginx(config, report);
    check_acme_webroot(config, report);
    check_environment(config, report);
    check_backup(config, report);
}

fn at(path: &[&str]) -> KeyPath {
    path.iter().map(|s| s.to_string()).collect()
}

/// A site URL (`external_url`, `site_url`, named `name`): http or https, an RFC 1123 host
/// name or an IP address, no path, query, fragment or credentials.
pub(super) fn site(name: &str, raw: &str, report: &mut Report) -> Option<Site> {
    let k = key(name);
    let fail = |report: &mut Report, msg: String| {
        report(
            Diagnostic::new(name, msg).with_hint("write it like https://mattermost.example.com"),
            &k,
        );
        None
    };
    let url = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => return fail(report, format!("expected a URL, found {raw:?} ({e})")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return fail(
            report,
            format!(
                "expected an http or https URL, found scheme {:?}",
                url.scheme()
            ),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the password is the point of the message.
        return fail(
            report,
            "expected no user name or password in the URL (the value is not shown)".into(),
        );
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => match Host::parse(d) {
            Ok(_) => d.to_string(),
            Err(e) => return fail(report, format!("{e}, found the host {d:?}")),
        },
        // As the URL writes it, so nginx names the host exactly as SiteURL does.
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
            url.host_str().unwrap_or_default().to_string()
        }
        None => return fail(report, format!("expected a URL with a host, found {raw:?}")),
    };
    if !matches!(url.path(), "" | "/") {
        return fail(
            report,
            format!(
                "expected no path (Mattermost is served at the root), found {:?}",
                url.path()
            ),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return fail(report, "expected no query or fragment in the URL".into());
    }
    let https = url.scheme() == "https";
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    // `url` drops default ports (`:443`), which matters: an explicit default port in SiteURL
    // broke GitLab's redirect-URI match for many Omnibus users.
    let text = url.as_str().trim_end_matches('/').to_string();
    Some(Site {
        url: text,
        https,
        host,
        port,
    })
}

/// Say what is wrong with a path value; a secret's path is never echoed (it may be the
/// secret itself, pasted into the wrong key).
fn path_problem(path: &KeyPath, value: &str, problem: &str) -> Diagnostic {
    let dotted = path.join(".");
    if is_secret_path_key(path) {
        Diagnostic::new(
            dotted,
            format!("{problem}; the value is not shown, in case it is the secret itself"),
        )
        .with_hint("set it to the path of a root-only file holding the secret")
    } else {
        Diagnostic::new(dotted, format!("{problem}, found {value:?}"))
    }
}

/// Directories, programs and secret files: absolute paths every target can carry.
fn check_paths(config: &Config, report: &mut Report) {
    let d = &config.directories;
    let mut paths: Vec<(KeyPath, &str)> = vec![
        (at(&["directories", "data"]), &d.data),
        (at(&["directories", "logs"]), &d.logs),
        (at(&["directories", "config"]), &d.config),
        (at(&["directories", "plugins"]), &d.plugins),
        (at(&["directories", "client_plugins"]), &d.client_plugins),
        (
            at(&["mattermost", "install_dir"]),
            &config.mattermost.install_dir,
        ),
        (at(&["mattermost", "wrapper"]), &config.mattermost.wrapper),
        (at(&["database", "socket_dir"]), &config.database.socket_dir),
    ];
    let optional = [
        (at(&["mattermost", "mmctl"]), &config.mattermost.mmctl),
        (
            at(&["mattermost", "license_file"]),
            &config.mattermost.license_file,
        ),
        (at(&["gitlab", "id_file"]), &config.gitlab.id_file),
        (at(&["gitlab", "secret_file"]), &config.gitlab.secret_file),
        (at(&["smtp", "password_file"]), &config.smtp.password_file),
        (
            at(&["database", "password_file"]),
            &config.database.password_file,
        ),
        (
            at(&["file_storage", "secret_access_key_file"]),
            &config.file_storage.secret_access_key_file,
        ),
        (
            at(&["file_storage", "directory"]),
            &config.file_storage.directory,
        ),
        (at(&["nginx", "certificate"]), &config.nginx.certificate),
        (
            at(&["nginx", "certificate_key"]),
            &config.nginx.certificate_key,
        ),
        (at(&["nginx", "acme_webroot"]), &config.nginx.acme_webroot),
    ];
    for (k, v) in &optional {
        if let Some(v) = v {
            paths.push((k.clone(), v));
        }
    }
    for (name, file) in &config.setting_files {
        paths.push((vec!["setting_files".into(), name.clone()], file));
    }
    for (name, file) in &config.environment_files {
        paths.push((vec!["environment_files".into(), name.clone()], file));
    }
    // The service's own directories: tmpfiles.d creates and chowns them, the unit may write
    // into them (the socket directory too).
    let owned = |k: &KeyPath| {
        k.first().is_some_and(|s| s == "directories")
            || k == &at(&["file_storage", "directory"])
            || k == &at(&["database", "socket_dir"])
    };
    for (k, v) in &paths {
        let problem = if owned(k) {
            paths::service_directory_problem(v)
        } else {
            paths::problem(v)
        };
        if let Some(problem) = problem {
            report(path_problem(k, v, &problem), k);
        }
    }
    // The data directory is the account's home in /etc/passwd, whose fields `:` separates.
    if d.data.contains(':') {
        let k = at(&["directories", "data"]);
        report(
            path_problem(
                &k,
                &d.data,
                "the data directory is the account's home in /etc/passwd and cannot contain `:`",
            ),
            &k,
        );
    }
    if let Some(problem) = systemd::program_problem(&config.mattermost.wrapper) {
        let k = at(&["mattermost", "wrapper"]);
        report(path_problem(&k, &config.mattermost.wrapper, problem), &k);
    }
}

/// The service account: names systemd-sysusers accepts, never root or nobody.
fn check_account(config: &Config, report: &mut Report) {
    let a = &config.account;
    for (k, name) in [("account.user", &a.user), ("account.group", &a.group)] {
        if let Some(problem) = names::system_name_problem(name) {
            report(
                Diagnostic::new(k, format!("{problem}, found {name:?}")),
                &key(k),
            );
        }
    }
    for (k, id) in [("account.uid", a.uid), ("account.gid", a.gid)] {
        if let Some(problem) = id.and_then(names::system_id_problem) {
            report(
                Diagnostic::new(k, problem).with_hint("leave it unset to let the system choose"),
                &key(k),
            );
        }
    }
}

/// Port 0 passes serde (the schema's minimum is skipped on the fast path).
fn check_ports(config: &Config, report: &mut Report) {
    let ports = [
        ("listen.port", Some(config.listen.port)),
        ("smtp.port", Some(config.smtp.port)),
        ("database.port", Some(config.database.port)),
        (
            "nginx.redirect_http_port",
            Some(config.nginx.redirect_http_port),
        ),
        ("nginx.listen_port", config.nginx.listen_port),
    ];
    for (k, v) in ports {
        if v == Some(0) {
            report(Diagnostic::new(k, "expected at least 1, found 0"), &key(k));
        }
    }
}

fn host_problem(k: &KeyPath, value: &str, report: &mut Report) {
    if let Err(e) = Host::parse(value) {
        report(
            Diagnostic::new(k.join("."), format!("{e}, found {value:?}")),
            k,
        );
    }
}

/// Host names that land in nginx, DSNs and Mattermost's own connections.
fn check_hosts(config: &Config, report: &mut Report) {
    let listen = &config.listen.address;
    // An empty address makes Mattermost listen on every interface.
    if !listen.is_empty() {
        host_problem(&key("listen.address"), listen, report);
    }
    if let Some(server) = config.smtp.server.as_deref().filter(|s| !s.is_empty()) {
        host_problem(&key("smtp.server"), server, report);
    }
    let endpoint = &config.file_storage.endpoint;
    let k = key("file_storage.endpoint");
    if endpoint.contains('@') {
        report(secret_in_url(&k, "file_storage.secret_access_key_file"), &k);
    } else if let Err(e) = names::parse_host_port(endpoint, 443) {
        report(
            Diagnostic::new(
                "file_storage.endpoint",
                format!("expected host or host:port, found {endpoint:?}: {e}"),
            ),
            &k,
        );
    }
}

/// The database's names, hosts and TLS mode, each of which goes into a DSN.
fn check_database(config: &Config, report: &mut Report) {
    let db = &config.database;
    let problems = [
        (
            "database.name",
            &db.name,
            dsn::database_name_problem(&db.name),
        ),
        ("database.user", &db.user, dsn::name_problem(&db.user)),
    ];
    for (k, v, problem) in problems {
        if let Some(problem) = problem {
            report(
                Diagnostic::new(k, format!("{problem}, found {v:?}")),
                &key(k),
            );
        }
    }
    if let Some(host) = &db.host {
        host_problem(&key("database.host"), host, report);
    }
    for (i, replica) in db.read_replicas.iter().enumerate() {
        if let Err(e) = names::parse_host_port(replica, db.port) {
            let k = vec!["database".into(), "read_replicas".into(), i.to_string()];
            report(
                Diagnostic::new(
                    k.join("."),
                    format!("expected host or host:port, found {replica:?}: {e}"),
                ),
                &k,
            );
        }
    }
    if !SSLMODES.contains(&db.sslmode.as_str()) {
        report(
            Diagnostic::new(
                "database.sslmode",
                format!(
                    "expected one of {}, found {:?}",
                    SSLMODES.join(", "),
                    db.sslmode
                ),
            )
            .with_hint("libpq's sslmode values"),
            &key("database.sslmode"),
        );
    }
}

/// libpq's `sslmode` values.
pub(super) const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// A credential inside a URL: refused like an inline secret, with where to put it.
fn secret_in_url(k: &KeyPath, file_key: &str) -> Diagnostic {
    Diagnostic::new(
        k.join("."),
        "a user name and password inside a URL would be written into the rendered files in clear (the value is not shown)",
    )
    .with_hint(format!(
        "write the whole value to a root-only file (e.g. `install -m 0600 /dev/stdin /etc/gitlab-mattermost-secrets/…`) and set `{file_key}` to its path"
    ))
}

/// Whether `value` is a URL with a password in it. A value without a scheme is read the way
/// Go reads proxy variables: as `http://` + value.
pub(super) fn has_url_password(value: &str) -> bool {
    let parsed = if value.contains("://") {
        url::Url::parse(value)
    } else {
        url::Url::parse(&format!("http://{value}"))
    };
    parsed.is_ok_and(|u| u.password().is_some())
}

/// GitLab's URLs: http or https with a host, never credentials.
fn check_gitlab_urls(config: &Config, report: &mut Report) {
    let g = &config.gitlab;
    for (k, v) in [
        ("gitlab.url", &g.url),
        ("gitlab.auth_endpoint", &g.auth_endpoint),
        ("gitlab.token_endpoint", &g.token_endpoint),
        ("gitlab.user_api_endpoint", &g.user_api_endpoint),
    ] {
        let Some(v) = v else { continue };
        let path = key(k);
        match url::Url::parse(v) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => report(
                Diagnostic::new(
                    k,
                    "expected no user name or password in the URL: GitLab's URL is written into the rendered files in clear (the value is not shown)",
                )
                .with_hint("sign-in uses the OAuth application: set gitlab.secret_file to its secret"),
                &path,
            ),
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => report(
                Diagnostic::new(k, format!("expected an http or https URL, found {v:?}"))
                    .with_hint("e.g. https://gitlab.example.com"),
                &path,
            ),
        }
    }
}

/// nginx: listen addresses, sizes, headers, certificate paths and raw lines, each written so
/// that it stays the one argument or block it is meant to be.
fn check_nginx(config: &Config, report: &mut Report) {
    let n = &config.nginx;
    let size_ok = {
        let s = n
            .client_max_body_size
            .trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
    };
    if !size_ok {
        report(
            Diagnostic::new(
                "nginx.client_max_body_size",
                format!(
                    "expected a size like 100m, 512k or 0, found {:?}",
                    n.client_max_body_size
                ),
            ),
            &key("nginx.client_max_body_size"),
        );
    }
    for (i, addr) in n.listen_addresses.iter().enumerate() {
        let ok = addr == "*"
            || addr.parse::<std::net::Ipv4Addr>().is_ok()
            || addr
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        if !ok {
            let mut p = key("nginx.listen_addresses");
            p.push(i.to_string());
            report(
                Diagnostic::new(format!("nginx.listen_addresses.{i}"), format!("expected `*`, an IPv4 address or a bracketed IPv6 address like [::], found {addr:?}")),
                &p,
            );
        }
    }
    for (name, value) in &n.proxy_headers {
        let mut p = key("nginx.proxy_headers");
        p.push(name.clone());
        let bad_name = name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if bad_name {
            report(
                Diagnostic::new(
                    p.join("."),
                    format!(
                        "expected a header name of letters, digits, `-` and `_`, found {name:?}"
                    ),
                )
                .about_the_key(),
                &p,
            );
        } else if let Some(problem) = nginx::header_value_problem(value) {
            report(
                Diagnostic::new(p.join("."), format!("{problem}, found {value:?}")),
                &p,
            );
        }
    }
    for (k, v) in [
        ("nginx.certificate", &n.certificate),
        ("nginx.certificate_key", &n.certificate_key),
        ("nginx.acme_webroot", &n.acme_webroot),
    ] {
        let path = key(k);
        // A path that is not a path at all was reported with the other paths.
        if let Some(problem) = v
            .as_deref()
            .filter(|v| paths::problem(v).is_none())
            .and_then(nginx::literal_problem)
        {
            report(
                path_problem(&path, v.as_deref().unwrap_or_default(), problem),
                &path,
            );
        }
    }
    if let Some((line, problem)) = nginx::raw_block_problem(&n.server_config) {
        report(
            Diagnostic::new(
                "nginx.server_config",
                format!("line {line} of the raw lines: {problem}"),
            )
            .with_hint("these lines go inside the server block: keep every `{` and quote closed and end each directive with `;`"),
            &key("nginx.server_config"),
        );
    }
}

/// `nginx.acme_webroot` needs the vhost's plain-http server, where ACME's http-01
/// challenges arrive: nginx must be on, and with https the redirect server must exist.
fn check_acme_webroot(config: &Config, report: &mut Report) {
    let n = &config.nginx;
    if n.acme_webroot.is_none() {
        return;
    }
    let k = "nginx.acme_webroot";
    if !n.enable {
        report(
            Diagnostic::new(
                k,
                "nginx.enable = false, so no vhost serves the ACME challenges from nginx.acme_webroot",
            )
            .with_hint("set nginx.enable = true, or drop nginx.acme_webroot and serve /.well-known/acme-challenge/ from the web server in front of Mattermost"),
            &key(k),
        );
        return;
    }
    // Unknown when external_url is broken (reported there): nothing to judge.
    let https = n.https.or_else(|| {
        url::Url::parse(&config.external_url)
            .ok()
            .map(|u| u.scheme() == "https")
    });
    if https == Some(true) && !n.redirect_http_to_https {
        report(
            Diagnostic::new(
                k,
                "nginx serves only https, so nothing answers the ACME challenges on plain http, where they arrive",
            )
            .with_hint("set nginx.redirect_http_to_https = true: its plain-http server serves /.well-known/acme-challenge/ from nginx.acme_webroot before redirecting"),
            &key(k),
        );
    }
}

/// A variable name at `key` that is not one, or that is a Mattermost setting (`MM_…`), which
/// belongs in `settings_section` instead (`mattermost` says so).
fn variable_name_problem(
    key: &str,
    name: &str,
    mattermost: &str,
    settings_section: &str,
) -> Option<Diagnostic> {
    if !names::is_env_name(name) {
        Some(
            Diagnostic::new(
                key,
                "expected a variable name of letters, digits and underscores, not starting with a digit",
            )
            .about_the_key(),
        )
    } else if name.to_ascii_uppercase().starts_with("MM_") {
        Some(
            Diagnostic::new(key, mattermost)
                .with_hint(format!("move it to {settings_section}.{name}"))
                .about_the_key(),
        )
    } else {
        None
    }
}

/// Extra variables: valid names, no Mattermost settings (they belong in `settings`), and no
/// secrets (they belong in `environment_files`).
fn check_environment(config: &Config, report: &mut Report) {
    for (name, value) in &config.environment {
        let p = vec!["environment".to_string(), name.clone()];
        let dotted = p.join(".");
        let mattermost = "Mattermost settings go in `settings`, where they are checked";
        if let Some(d) = variable_name_problem(&dotted, name, mattermost, "settings") {
            report(d, &p);
        } else if names::is_secret_variable_name(name) || has_url_password(value) {
            let what = if has_url_password(value) {
                "holds a password inside its URL"
            } else {
                "is a secret by its name"
            };
            report(
                Diagnostic::new(
                    dotted,
                    format!("{name} {what}, and `environment` is written into mattermost.env in clear (the value is not shown)"),
                )
                .with_hint(format!(
                    "write the whole value to a root-only file (e.g. `install -m 0600 /dev/stdin /etc/gitlab-mattermost-secrets/{name}`) and set environment_files.{name} to its path"
                )),
                &p,
            );
        }
    }
    for name in config.environment_files.keys() {
        let p = vec!["environment_files".to_string(), name.clone()];
        let dotted = p.join(".");
        let mattermost = "Mattermost settings read from files go in `setting_files`";
        if let Some(d) = variable_name_problem(&dotted, name, mattermost, "setting_files") {
            report(d, &p);
        } else if config.environment.contains_key(name) {
            report(
                Diagnostic::new(dotted, format!("{name} is also set in `environment`"))
                    .with_hint("keep one of them"),
                &p,
            );
        }
    }
}

/// The longest `backup.schedule` taken: calendar expressions are short.
const MAX_SCHEDULE: usize = 256;

/// Why `s` cannot be written as `OnCalendar=`, if it cannot: it must be one line of the
/// characters systemd's calendar expressions use (`systemd.time(7)`: weekdays, dates, times,
/// ranges, repetitions, a time zone), so nothing in it can end the line, join the next one or
/// be read as a specifier. Whether systemd understands it is then up to systemd (the tests
/// read it back with `systemd-analyze calendar`).
pub(crate) fn schedule_problem(s: &str) -> Option<String> {
    if s.trim().is_empty() {
        return Some(
            "expected a systemd calendar expression such as \"daily\", found an empty value".into(),
        );
    }
    if s.chars().any(char::is_control) {
        return Some(
            "a calendar expression is one line, without control characters such as a newline"
                .into(),
        );
    }
    if s.len() > MAX_SCHEDULE {
        return Some(format!(
            "expected a calendar expression of at most {MAX_SCHEDULE} bytes, found {}",
            s.len()
        ));
    }
    if s != s.trim() {
        return Some("expected no leading or trailing whitespace (systemd drops it)".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " *-:.,/~+_".contains(*c)))
    {
        return Some(format!(
            "expected a systemd calendar expression (letters, digits, spaces and * - : . , / ~ + _), found {c:?} in {s:?}"
        ));
    }
    None
}

/// `backup`: a schedule systemd can read, a number of backups to keep, and a directory of its
/// own (tmpfiles.d makes it root's, mode 0700) outside the directories a backup copies.
fn check_backup(config: &Config, report: &mut Report) {
    let b = &config.backup;
    if let Some(schedule) = &b.schedule {
        if let Some(problem) = schedule_problem(schedule) {
            let k = "backup.schedule";
            report(
                Diagnostic::new(k, problem)
                    .with_hint("e.g. \"daily\", \"*-*-* 03:30:00\" or \"Sun 04:00\"; `systemd-analyze calendar EXPR` shows when it runs"),
                &key(k),
            );
        }
    }
    if !(1..=1000).contains(&b.keep) {
        let k = "backup.keep";
        report(
            Diagnostic::new(
                k,
                format!("expected 1 to 1000 backups to keep, found {}", b.keep),
            ),
            &key(k),
        );
    }
    let k = at(&["backup", "directory"]);
    let dir = &b.directory;
    let problem = paths::service_directory_problem(dir).or_else(|| {
        (dir.trim_end_matches('/') == "/var/backups").then(|| {
            "a directory the system shares (tmpfiles.d would make it root-only); give the backups their own, e.g. /var/backups/gitlab-mattermost".to_string()
        })
    });
    if let Some(problem) = problem {
        report(path_problem(&k, dir, &problem), &k);
        return;
    }
    // A backup copies these: a backup inside one would copy the backups before it.
    let d = &config.directories;
    let files = config
        .file_storage
        .directory
        .clone()
        .unwrap_or_else(|| paths::join(&d.data, "data"));
    let mut copied = vec![
        ("directories.config", d.config.as_str()),
        ("directories.plugins", d.plugins.as_str()),
        ("directories.client_plugins", d.client_plugins.as_str()),
    ];
    if config.file_storage.driver == crate::schema::FileDriver::Local {
        copied.push(("file_storage.directory", files.as_str()));
    }
    let inside = |outer: &str| {
        let outer = outer.trim_end_matches('/');
        let dir = dir.trim_end_matches('/');
        dir == outer || dir.starts_with(&format!("{outer}/"))
    };
    if let Some((name, _)) = copied.iter().find(|(_, outer)| inside(outer)) {
        report(
            path_problem(
                &k,
                dir,
                &format!("the backups would lie inside {name}, which every backup copies"),
            )
            .with_hint("put them elsewhere, e.g. /var/backups/gitlab-mattermost"),
            &k,
        );
    }
}
