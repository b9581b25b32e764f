//! From layered input to a validated, resolved plan — or every problem at once.
//!
//! Steps: refuse inline secrets (with how to move them); check the merged tree against the
//! JSON Schema of [`Config`]; deserialize; derive Mattermost settings from the typed sections;
//! add free-form settings (each checked against the catalogue); apply Mattermost's own
//! validation rules. Nothing is written unless all of this passes.

mod rules;
mod settings;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics};
use crate::schema::{self, Config, DatabaseKind, FileDriver};
use crate::sources::{KeyPath, Layered};

pub use settings::setting_env_value;

/// How a secret file reaches Mattermost.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretUse {
    /// The file's content becomes the variable's value.
    Variable(String),
    /// The file's content is a password inserted into every DSN URL in the variable.
    PasswordInto(String),
}

/// One secret file read at service start through systemd's `LoadCredential=`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Credential {
    /// Credential name (`LoadCredential=NAME:PATH`).
    pub name: String,
    /// The file on the host.
    pub path: String,
    pub uses: Vec<SecretUse>,
}

/// A parsed site URL (`external_url` or `site_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Without a trailing slash.
    pub url: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
}

/// Mattermost's local mode (`mmctl --local`): where its socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMode {
    /// `ServiceSettings.LocalModeSocketLocation`.
    pub socket: String,
    /// The unit's `RuntimeDirectory=` (a name under `/run`) holding the socket; `None` when
    /// the config put the socket into one of the service's own directories.
    pub runtime_directory: Option<String>,
}

/// A validated configuration with everything derived from it: what the renderers consume.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Config,
    /// `external_url`: what nginx serves (server name, listen port, certificates).
    pub site: Site,
    /// `site_url`, else `external_url`: the URL users open, Mattermost's `SiteURL` (links in
    /// mail, OAuth redirect URIs, the scheme and port forwarded to Mattermost).
    pub site_url: Site,
    /// Whether nginx serves https.
    pub https: bool,
    /// Local mode, when `ServiceSettings.EnableLocalMode` is on.
    pub local_mode: Option<LocalMode>,
    /// Non-secret environment: `MM_*` settings and extra variables, sorted.
    pub env: BTreeMap<String, String>,
    /// Secret files, sorted by credential name.
    pub credentials: Vec<Credential>,
    /// Non-fatal remarks (logged as warnings).
    pub warnings: Vec<String>,
}

/// Validate layered input into a plan.
pub fn validate(layered: &Layered) -> Result<Plan, Diagnostics> {
    let mut errors = Diagnostics::default();
    let locate = |mut d: Diagnostic, path: &[String]| {
        if let Some(origin) = layered.origin(path) {
            d = d.at(origin);
        }
        d
    };

    inline_secrets(&layered.merged, &mut |d, p| errors.push(locate(d, p)));
    // Fast path: a config that deserializes needs no schema run (compiling the JSON Schema
    // validator costs more than everything else together). Otherwise the schema finds every
    // problem at once, where serde would stop at the first.
    let parsed = serde_json::from_value::<Config>(layered.merged.clone());
    if parsed.is_err() || !errors.is_empty() {
        schema_errors(&layered.merged, &mut |d, p| errors.push(locate(d, p)));
    }
    let config = match parsed {
        Ok(c) if errors.is_empty() => c,
        Ok(_) => return Err(errors),
        Err(e) => {
            if errors.is_empty() {
                errors.push(Diagnostic::new("", format!("invalid configuration: {e}")));
            }
            return Err(errors);
        }
    };
    let mut report = |d: Diagnostic, p: &[String]| errors.push(locate(d, p));
    let plan = resolve(config, &mut report);
    match plan {
        Some(plan) if errors.is_empty() => Ok(plan),
        _ => Err(errors),
    }
}

type Report<'a> = dyn FnMut(Diagnostic, &[String]) + 'a;

fn key(s: &str) -> KeyPath {
    s.split('.').map(str::to_string).collect()
}

/// Secrets written inline are refused with the exact file key to use instead.
fn inline_secrets(merged: &Value, report: &mut Report) {
    for (inline, file_key) in schema::INLINE_SECRET_KEYS {
        let path = key(inline);
        if pointer(merged, &path).is_some() {
            report(
                Diagnostic::new(*inline, "secrets are never written inline: they would land in rendered files and the Nix store")
                    .with_hint(format!(
                        "write the value to a root-only file (e.g. `install -m 0600 /dev/stdin /run/secrets/{}`) and set `{file_key}` to its path",
                        inline.replace('.', "-")
                    )),
                &path,
            );
        }
    }
}

fn pointer<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |node, k| node.get(k))
}

/// JSON Schema validation of the merged tree: wrong types, unknown keys, bad enum values.
fn schema_errors(merged: &Value, report: &mut Report) {
    let schema = match serde_json::to_value(schema::json_schema()) {
        Ok(s) => s,
        Err(e) => {
            report(
                Diagnostic::new("", format!("internal error: schema: {e}")),
                &[],
            );
            return;
        }
    };
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => {
            report(
                Diagnostic::new("", format!("internal error: schema: {e}")),
                &[],
            );
            return;
        }
    };
    for err in validator.iter_errors(merged) {
        let path = split_pointer(&err.instance_path().to_string());
        for (path, d) in describe_schema_error(&schema, &path, &err) {
            report(d, &path);
        }
    }
}

fn split_pointer(p: &str) -> KeyPath {
    p.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn describe_schema_error(
    schema: &Value,
    path: &KeyPath,
    err: &jsonschema::ValidationError,
) -> Vec<(KeyPath, Diagnostic)> {
    use jsonschema::error::ValidationErrorKind as K;
    let dotted = path.join(".");
    let found = short(err.instance());
    let one = |msg: String| vec![(path.clone(), Diagnostic::new(dotted.clone(), msg))];
    match err.kind() {
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            // Inline secrets already have their own, more helpful, error.
            .filter(|name| {
                let full = if dotted.is_empty() {
                    (*name).clone()
                } else {
                    format!("{dotted}.{name}")
                };
                !schema::INLINE_SECRET_KEYS.iter().any(|(k, _)| *k == full)
            })
            .map(|name| {
                let mut p = path.clone();
                p.push(name.clone());
                let known = known_properties(schema, path);
                let mut d = Diagnostic::new(p.join("."), format!("unknown key `{name}`"));
                if let Some(s) = crate::catalogue::best_match(name, known.iter().cloned()) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                } else if !known.is_empty() {
                    d = d.with_hint(format!("known keys here: {}", known.join(", ")));
                }
                (p, d)
            })
            .collect(),
        K::Type { kind } => one(format!("expected {}, found {found}", type_name(kind))),
        K::Enum { options } => one(format!(
            "expected one of {}, found {found}",
            enum_list(options)
        )),
        K::Minimum { limit } => one(format!(
            "expected at least {}, found {found}",
            number(limit)
        )),
        K::Maximum { limit } => one(format!("expected at most {}, found {found}", number(limit))),
        K::Required { property } => one(format!("missing required key {property}")),
        _ => one(format!("{err}")),
    }
}

/// Schema limits are floats (`0.0`); show whole numbers as integers.
fn number(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => v.to_string(),
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Object(_) => "a table".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    use jsonschema::error::TypeKind;
    let one = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "integer" => "an integer".to_string(),
        "boolean" => "a boolean (true or false)".to_string(),
        "string" => "a string".to_string(),
        "object" => "a table".to_string(),
        "array" => "a list".to_string(),
        "null" => "nothing (null)".to_string(),
        other => format!("a {other}"),
    };
    match kind {
        TypeKind::Single(t) => one(t),
        TypeKind::Multiple(ts) => {
            let names: Vec<String> = ts
                .iter()
                .filter(|t| t.to_string() != "null")
                .map(|t| one(&t))
                .collect();
            names.join(" or ")
        }
    }
}

fn enum_list(options: &Value) -> String {
    match options {
        Value::Array(items) => items
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Property names allowed at `path` in the schema, for did-you-mean hints.
fn known_properties(schema: &Value, path: &[String]) -> Vec<String> {
    let mut node = schema;
    for k in path {
        let Some(next) = schema::resolve_ref(schema, node)
            .get("properties")
            .and_then(|p| p.get(k))
        else {
            return vec![];
        };
        node = next;
    }
    schema::resolve_ref(schema, node)
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Derive everything from a deserialized config; `None` when a problem prevents it.
fn resolve(config: Config, report: &mut Report) -> Option<Plan> {
    let site = parse_site("external_url", &config.external_url, report);
    let site_url = match &config.site_url {
        Some(raw) => parse_site("site_url", raw, report),
        None => site.clone(),
    };
    let (site, site_url) = (site?, site_url?);
    let https = config.nginx.https.unwrap_or(site.https);
    let mut b = settings::Builder::new(report);

    check_paths(&config, b.report);
    check_ranges(&config, b.report);
    settings::derive(&config, &site_url, &mut b);
    settings::free_form(&config, &mut b);
    let local_mode = settings::local_mode(&config, &mut b);
    check_nginx(&config, https, b.report);
    check_sections(&config, b.report);
    rules::check(&b.values, b.report);

    let settings::Builder {
        values,
        credentials,
        warnings,
        ..
    } = b;
    let mut env = BTreeMap::new();
    for (env_var, sv) in &values {
        if let Some(text) = &sv.rendered {
            env.insert(env_var.clone(), text.clone());
        }
    }
    for (name, value) in &config.environment {
        env.insert(name.clone(), value.clone());
    }
    Some(Plan {
        config,
        site,
        site_url,
        https,
        local_mode,
        env,
        credentials: credentials.into_values().collect(),
        warnings,
    })
}

/// A site URL (`external_url`, `site_url`): http or https, a host, no path, query or
/// credentials.
fn parse_site(name: &str, raw: &str, report: &mut Report) -> Option<Site> {
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
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return fail(report, format!("expected a URL with a host, found {raw:?}"));
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
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return fail(
            report,
            "expected no query, fragment or credentials in the URL".into(),
        );
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
        host: host.to_string(),
        port,
    })
}

/// The directories the unit may write to (`ReadWritePaths=`, besides its runtime directory
/// and the database socket), sorted.
pub fn writable_dirs(config: &Config) -> Vec<String> {
    let d = &config.directories;
    let mut rw = vec![
        d.data.clone(),
        d.logs.clone(),
        d.config.clone(),
        d.plugins.clone(),
        d.client_plugins.clone(),
    ];
    if config.file_storage.driver == FileDriver::Local {
        if let Some(dir) = &config.file_storage.directory {
            rw.push(dir.clone());
        }
    }
    rw.sort();
    rw.dedup();
    rw
}

fn is_safe_path(p: &str) -> bool {
    p.starts_with('/')
        && !p
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
}

/// Directories and secret files must be absolute paths that are safe to write into units.
fn check_paths(config: &Config, report: &mut Report) {
    let d = &config.directories;
    let mut paths: Vec<(&str, &str)> = vec![
        ("directories.data", &d.data),
        ("directories.logs", &d.logs),
        ("directories.config", &d.config),
        ("directories.plugins", &d.plugins),
        ("directories.client_plugins", &d.client_plugins),
        ("mattermost.install_dir", &config.mattermost.install_dir),
        ("mattermost.wrapper", &config.mattermost.wrapper),
    ];
    let optional = [
        ("mattermost.mmctl", &config.mattermost.mmctl),
        ("gitlab.id_file", &config.gitlab.id_file),
        ("gitlab.secret_file", &config.gitlab.secret_file),
        ("smtp.password_file", &config.smtp.password_file),
        ("database.password_file", &config.database.password_file),
        (
            "file_storage.secret_access_key_file",
            &config.file_storage.secret_access_key_file,
        ),
        ("file_storage.directory", &config.file_storage.directory),
        ("nginx.certificate", &config.nginx.certificate),
        ("nginx.certificate_key", &config.nginx.certificate_key),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            paths.push((k, v));
        }
    }
    for (k, v) in paths {
        if !is_safe_path(v) {
            report(
                Diagnostic::new(
                    k,
                    format!("expected an absolute path without spaces or quotes, found {v:?}"),
                ),
                &key(k),
            );
        }
    }
    for (name, path) in &config.setting_files {
        if !is_safe_path(path) {
            let mut p = key("setting_files");
            p.push(name.clone());
            report(
                Diagnostic::new(
                    format!("setting_files.{name}"),
                    format!("expected an absolute path without spaces or quotes, found {path:?}"),
                ),
                &p,
            );
        }
    }
}

/// https needs a certificate and a key; listen addresses and body size must be sane.
fn check_nginx(config: &Config, https: bool, report: &mut Report) {
    let n = &config.nginx;
    if !n.enable {
        return;
    }
    if https {
        for (k, v) in [
            ("nginx.certificate", &n.certificate),
            ("nginx.certificate_key", &n.certificate_key),
        ] {
            if v.is_none() {
                report(
                    Diagnostic::new(
                        k,
                        "https is on (from external_url or nginx.https) but no path is set",
                    )
                    .with_hint(format!(
                        "set `{k}`, or `nginx.https = false` when TLS ends before nginx"
                    )),
                    &key("nginx"),
                );
            }
        }
    }
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
        let bad_name = name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if bad_name || value.contains(['\n', ';', '"']) {
            let mut p = key("nginx.proxy_headers");
            p.push(name.clone());
            report(
                Diagnostic::new(format!("nginx.proxy_headers.{name}"), "expected a header name of letters, digits and dashes, and a value without `;`, quotes or newlines"),
                &p,
            );
        }
    }
}

/// Values serde accepts but the schema's ranges refuse (checked here because the fast path
/// skips the schema): port 0, and uid/gid 0, which would run Mattermost as root.
fn check_ranges(config: &Config, report: &mut Report) {
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
    for (k, v) in [
        ("account.uid", config.account.uid),
        ("account.gid", config.account.gid),
    ] {
        if v == Some(0) {
            report(
                Diagnostic::new(k, "expected at least 1, found 0")
                    .with_hint("Mattermost must not run as root"),
                &key(k),
            );
        }
    }
}

/// Cross-field requirements inside the typed sections.
fn check_sections(config: &Config, report: &mut Report) {
    let need = |report: &mut Report, cond: bool, k: &str, msg: &str, hint: &str| {
        if cond {
            report(
                Diagnostic::new(k, msg).with_hint(hint),
                &key(k.rsplit_once('.').map_or(k, |(p, _)| p)),
            );
        }
    };
    let g = &config.gitlab;
    if g.enable {
        let endpoints = [&g.auth_endpoint, &g.token_endpoint, &g.user_api_endpoint];
        need(
            report,
            g.url.is_none() && endpoints.iter().any(|e| e.is_none()),
            "gitlab.url",
            "GitLab sign-in is enabled but GitLab's URL is not set",
            "set gitlab.url = \"https://gitlab.example.com\" (the endpoints are derived from it)",
        );
        need(
            report,
            g.id.is_none() && g.id_file.is_none(),
            "gitlab.id",
            "GitLab sign-in is enabled but no application id is set",
            "set gitlab.id, or gitlab.id_file written by `gitlab-mattermost gitlab register`",
        );
        need(
            report,
            g.id.is_some() && g.id_file.is_some(),
            "gitlab.id_file",
            "both gitlab.id and gitlab.id_file are set",
            "keep one of them",
        );
        need(
            report,
            g.secret_file.is_none(),
            "gitlab.secret_file",
            "GitLab sign-in is enabled but no application secret file is set",
            "set gitlab.secret_file to a root-only file holding GitLab's application secret",
        );
        for (k, v) in [
            ("gitlab.url", &g.url),
            ("gitlab.auth_endpoint", &g.auth_endpoint),
            ("gitlab.token_endpoint", &g.token_endpoint),
            ("gitlab.user_api_endpoint", &g.user_api_endpoint),
        ] {
            if let Some(v) = v {
                let ok = url::Url::parse(v)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                need(
                    report,
                    !ok,
                    k,
                    &format!("expected an http or https URL, found {v:?}"),
                    "e.g. https://gitlab.example.com",
                );
            }
        }
    }
    let s = &config.smtp;
    if s.enable {
        need(
            report,
            s.server.as_deref().is_none_or(str::is_empty),
            "smtp.server",
            "mail is enabled but no SMTP server is set",
            "set smtp.server = \"smtp.example.com\"",
        );
        need(
            report,
            s.auth && s.username.is_none(),
            "smtp.username",
            "SMTP authentication is on but no user name is set",
            "set smtp.username, or smtp.auth = false",
        );
        need(
            report,
            s.auth && s.password_file.is_none(),
            "smtp.password_file",
            "SMTP authentication is on but no password file is set",
            "set smtp.password_file to a root-only file holding the password",
        );
        need(
            report,
            s.feedback_email.as_deref().is_none_or(|e| !e.contains('@')),
            "smtp.feedback_email",
            "mail is enabled but smtp.feedback_email is not an email address",
            "set smtp.feedback_email = \"mattermost@example.com\"",
        );
    }
    let db = &config.database;
    match db.kind {
        DatabaseKind::Local => {
            need(report, db.password_file.is_some() || db.host.is_some(), "database.kind",
                "a local database uses peer authentication over the unix socket: database.host and database.password_file are not used",
                "remove them, or set database.kind = \"external\"");
            need(
                report,
                db.user != config.account.user,
                "database.user",
                "peer authentication needs the database role to equal the service user",
                "set database.user to account.user, or use database.kind = \"external\"",
            );
        }
        DatabaseKind::External => {
            need(
                report,
                db.host.is_none(),
                "database.host",
                "an external database needs a host",
                "set database.host = \"db.example.com\"",
            );
            need(
                report,
                db.password_file.is_none(),
                "database.password_file",
                "an external database needs a password file",
                "set database.password_file to a root-only file holding the password",
            );
        }
    }
    const SSLMODES: &[&str] = &[
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ];
    need(
        report,
        !SSLMODES.contains(&db.sslmode.as_str()),
        "database.sslmode",
        &format!(
            "expected one of {}, found {:?}",
            SSLMODES.join(", "),
            db.sslmode
        ),
        "libpq's sslmode values",
    );
    let f = &config.file_storage;
    if f.driver == FileDriver::S3 {
        need(
            report,
            f.bucket.is_none(),
            "file_storage.bucket",
            "S3 storage needs a bucket",
            "set file_storage.bucket",
        );
        need(report, f.access_key_id.is_some() != f.secret_access_key_file.is_some(), "file_storage.secret_access_key_file",
            "set both file_storage.access_key_id and file_storage.secret_access_key_file, or neither (IAM role)", "S3 credentials come in pairs");
    }
    for (name, value) in &config.environment {
        let ok = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        let mut p = key("environment");
        p.push(name.clone());
        if !ok {
            report(
                Diagnostic::new(
                    format!("environment.{name}"),
                    "expected a variable name of letters, digits and underscores",
                ),
                &p,
            );
        } else if name.to_ascii_uppercase().starts_with("MM_") {
            report(
                Diagnostic::new(
                    format!("environment.{name}"),
                    "Mattermost settings go in `settings`, where they are checked",
                )
                .with_hint(format!("move it to settings.{name}")),
                &p,
            );
        } else if value.contains('\0') {
            report(
                Diagnostic::new(
                    format!("environment.{name}"),
                    "a value cannot contain a NUL byte",
                ),
                &p,
            );
        }
    }
}

#[cfg(test)]
mod tests;
