//! Mattermost settings: derived from the typed sections, or written free-form, each checked
//! against the catalogue and rendered to the text Mattermost parses from its environment.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{key, writable_dirs, Credential, LocalMode, Report, SecretUse, Site};
use crate::catalogue::{is_secret_env_name, Catalogue, MattermostVersion, Setting, SettingType};
use crate::diag::Diagnostic;
use crate::schema::{Config, DatabaseKind, FileDriver};
use crate::sources::KeyPath;
use crate::syntax::names::{self, Host};
use crate::syntax::{dsn, paths};

/// Who set a setting: a typed section (which owns it) or the free-form table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Owner {
    Typed(String),
    /// Implied by a typed section (the integrations need it) but the free-form table may
    /// override it: the integration then fails in Mattermost as the admin chose.
    Implied(String),
    FreeForm,
}

/// One resolved setting.
#[derive(Debug, Clone)]
pub(super) struct SettingValue {
    pub value: Value,
    /// The environment text; `None` when the value comes from a secret file.
    pub rendered: Option<String>,
    pub owner: Owner,
    /// The config key that set it, for error positions.
    pub origin: KeyPath,
}

pub(super) struct Builder<'r, 'a> {
    pub report: &'r mut Report<'a>,
    /// The catalogue of the Mattermost version the config targets.
    pub catalogue: &'static Catalogue,
    /// By environment variable name.
    pub values: BTreeMap<String, SettingValue>,
    pub credentials: BTreeMap<String, Credential>,
    pub warnings: super::Warnings,
}

impl<'r, 'a> Builder<'r, 'a> {
    pub fn new(report: &'r mut Report<'a>, catalogue: &'static Catalogue) -> Self {
        Builder {
            report,
            catalogue,
            values: BTreeMap::new(),
            credentials: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Set a setting from a typed section (`from` is the config key it comes from).
    fn typed(&mut self, path: &str, value: Value, from: &str) {
        let Some(setting) = self.catalogue.by_path(path) else {
            (self.report)(
                Diagnostic::new(
                    from,
                    format!("internal error: {path} is not in the settings catalogue"),
                ),
                &key(from),
            );
            return;
        };
        match setting_env_value(setting, &value) {
            Ok(rendered) => {
                self.values.insert(
                    setting.env_var.to_string(),
                    SettingValue {
                        value,
                        rendered: Some(rendered),
                        owner: Owner::Typed(from.to_string()),
                        origin: key(from),
                    },
                );
            }
            Err(msg) => (self.report)(Diagnostic::new(from, msg), &key(from)),
        }
    }

    /// A setting a typed section needs, which `settings` may override.
    fn implied(&mut self, path: &str, value: Value, from: &str) {
        self.typed(path, value, from);
        if let Some(setting) = Catalogue::get().by_path(path) {
            if let Some(v) = self.values.get_mut(setting.env_var) {
                v.owner = Owner::Implied(from.to_string());
            }
        }
    }

    /// Several typed settings at once: (setting, value, config key it comes from).
    fn typed_all<const N: usize>(&mut self, settings: [(&str, Value, &str); N]) {
        for (path, value, from) in settings {
            self.typed(path, value, from);
        }
    }

    /// A secret file feeding a setting (`from` is the config key naming the file).
    fn secret(
        &mut self,
        path: &str,
        credential: &str,
        file: &str,
        how: fn(String) -> SecretUse,
        owner: Owner,
    ) {
        let Some(setting) = self.catalogue.by_path(path) else {
            return;
        };
        self.values.insert(
            setting.env_var.to_string(),
            SettingValue {
                value: Value::Null,
                rendered: None,
                owner,
                origin: Vec::new(),
            },
        );
        let entry = self
            .credentials
            .entry(credential.to_string())
            .or_insert_with(|| Credential {
                name: credential.to_string(),
                path: file.to_string(),
                uses: Vec::new(),
            });
        entry.uses.push(how(setting.env_var.to_string()));
    }
}

/// Render a JSON value as the environment text Mattermost parses for this setting's type,
/// or say what was expected.
pub fn setting_env_value(setting: &Setting, value: &Value) -> Result<String, String> {
    let expected = || {
        format!(
            "expected {}, found {}",
            setting.ty.describe(),
            super::short(value)
        )
    };
    match (setting.ty, value) {
        (SettingType::Bool, Value::Bool(b)) => Ok(b.to_string()),
        (SettingType::Bool, Value::String(s)) if s == "true" || s == "false" => Ok(s.clone()),
        (SettingType::Int | SettingType::Int64, Value::Number(n)) if n.is_i64() => {
            let v = n.as_i64().unwrap_or_default();
            if setting.ty == SettingType::Int && i32::try_from(v).is_err() {
                Err(format!("expected an integer within ±2147483647, found {v}"))
            } else {
                Ok(v.to_string())
            }
        }
        (SettingType::Int | SettingType::Int64, Value::String(s)) if s.parse::<i64>().is_ok() => {
            Ok(s.clone())
        }
        (SettingType::String, Value::String(s)) => Ok(s.clone()),
        (SettingType::String, Value::Number(n)) => Ok(n.to_string()),
        (SettingType::String, Value::Bool(b)) => Ok(b.to_string()),
        (SettingType::StringList, Value::Array(items)) => {
            let mut words = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => words.push(s.clone()),
                    _ => {
                        return Err(format!(
                            "expected a list of strings without spaces (Mattermost splits this setting on spaces), found {}",
                            super::short(item)
                        ))
                    }
                }
            }
            Ok(words.join(" "))
        }
        (SettingType::StringList, Value::String(s)) => {
            Ok(s.split_whitespace().collect::<Vec<_>>().join(" "))
        }
        (SettingType::Json, Value::Object(_) | Value::Array(_)) => Ok(value.to_string()),
        (SettingType::Json, Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => Ok(v.to_string()),
            Err(e) => Err(format!("expected JSON, found {s:?} ({e})")),
        },
        (SettingType::Nested, _) => Err(format!(
            "{} is a section: set its fields as {}.<Field>",
            setting.path(),
            setting.path()
        )),
        _ => Err(expected()),
    }
}

/// Settings derived from the typed sections; `site_url` is the URL users open.
pub(super) fn derive(config: &Config, site_url: &Site, b: &mut Builder) {
    use serde_json::json;
    let from = if config.site_url.is_some() {
        "site_url"
    } else {
        "external_url"
    };
    b.typed("ServiceSettings.SiteURL", json!(site_url.url), from);
    let listen = &config.listen;
    // An address that is not one was reported (at listen.address) by the value checks.
    let host = match Host::parse(&listen.address) {
        Ok(h) => Some(h.for_url()),
        Err(_) if listen.address.is_empty() => Some(String::new()),
        Err(_) => None,
    };
    if let Some(host) = host {
        b.typed(
            "ServiceSettings.ListenAddress",
            json!(format!("{host}:{}", listen.port)),
            "listen.address",
        );
    }

    let dirs = &config.directories;
    // A path the value checks refused is not derived into a setting (its error is enough).
    for (setting, dir, from) in [
        ("LogSettings.FileLocation", &dirs.logs, "directories.logs"),
        (
            "PluginSettings.Directory",
            &dirs.plugins,
            "directories.plugins",
        ),
        (
            "PluginSettings.ClientDirectory",
            &dirs.client_plugins,
            "directories.client_plugins",
        ),
    ] {
        if paths::problem(dir).is_none() {
            b.typed(setting, json!(dir), from);
        }
    }

    derive_database(config, b);
    derive_files(config, b);
    derive_gitlab(config, b);
    derive_smtp(config, b);
    derive_local_mode(b);
    derive_integrations(config, b);
    derive_telemetry(b);
}

/// Local mode on unless `settings` turns it off (`"ServiceSettings.EnableLocalMode" = false`):
/// `mmctl`, `integrations sync` and `status` reach Mattermost through its socket, and from
/// Mattermost 11 there is no other admin command line. The socket is only reachable by root
/// and the service user (its directory is the unit's `RuntimeDirectory=`, mode 0750).
fn derive_local_mode(b: &mut Builder) {
    b.implied(
        "ServiceSettings.EnableLocalMode",
        serde_json::json!(true),
        "settings",
    );
}

/// Mattermost sends diagnostics and usage data to Mattermost, Inc. unless told not to. Off
/// unless `settings` turns it on (`"LogSettings.EnableDiagnostics" = true`), as nixpkgs'
/// module has it; the security fix alerts keep Mattermost's default (on), as there.
fn derive_telemetry(b: &mut Builder) {
    b.implied(
        "LogSettings.EnableDiagnostics",
        serde_json::json!(false),
        "settings",
    );
}

/// What the declared integrations need from Mattermost: incoming webhooks, slash commands,
/// the overrides the webhooks and projects use, and GitLab's host reachable for the commands
/// (Mattermost refuses to call private addresses unless they are listed).
fn derive_integrations(config: &Config, b: &mut Builder) {
    use serde_json::json;
    let i = &config.integrations;
    if !i.incoming_webhooks.is_empty() {
        b.implied(
            "ServiceSettings.EnableIncomingWebhooks",
            json!(true),
            "integrations.incoming_webhooks",
        );
        // `integrations sync` reaches Mattermost over the local-mode socket.
        b.implied(
            "ServiceSettings.EnableLocalMode",
            json!(true),
            "integrations.incoming_webhooks",
        );
    }
    let names_user = i.incoming_webhooks.values().any(|w| w.username.is_some())
        || i.gitlab_projects.values().any(|p| p.username.is_some());
    if names_user {
        b.implied(
            "ServiceSettings.EnablePostUsernameOverride",
            json!(true),
            "integrations",
        );
    }
    if i.incoming_webhooks.values().any(|w| w.icon_url.is_some()) {
        b.implied(
            "ServiceSettings.EnablePostIconOverride",
            json!(true),
            "integrations.incoming_webhooks",
        );
    }
    if i.gitlab_projects.values().any(|p| p.slash_commands.enable) {
        b.implied(
            "ServiceSettings.EnableCommands",
            json!(true),
            "integrations.gitlab_projects",
        );
        if let Some(host) = gitlab_host(config) {
            b.implied(
                "ServiceSettings.AllowedUntrustedInternalConnections",
                json!(host),
                "gitlab.url",
            );
        }
    }
}

/// The host name of `gitlab.url`, when it is a URL with one.
pub(crate) fn gitlab_host(config: &Config) -> Option<String> {
    let url = url::Url::parse(config.gitlab.url.as_deref()?).ok()?;
    url.host_str().map(str::to_string)
}

/// A free-form `AllowedUntrustedInternalConnections` that leaves out GitLab's host, while
/// slash commands need Mattermost to call GitLab: said, not refused (GitLab may have a public
/// address, which needs no entry).
pub(super) fn untrusted_connections_warning(config: &Config, b: &mut Builder) {
    let needs = config
        .integrations
        .gitlab_projects
        .values()
        .any(|p| p.slash_commands.enable);
    let (Some(host), true) = (gitlab_host(config), needs) else {
        return;
    };
    let Some(v) = b
        .values
        .get("MM_SERVICESETTINGS_ALLOWEDUNTRUSTEDINTERNALCONNECTIONS")
    else {
        return;
    };
    let listed = v.rendered.as_deref().unwrap_or_default();
    if v.owner == Owner::FreeForm
        && !listed
            .split([' ', ','])
            .any(|h| h.eq_ignore_ascii_case(&host))
    {
        b.warnings.push((
            Diagnostic::warning("", format!(
                "settings: ServiceSettings.AllowedUntrustedInternalConnections ({listed:?}) does not list {host}: if GitLab's address is private, Mattermost refuses to call its slash command trigger"
            )),
            v.origin.clone(),
        ));
    }
}

fn derive_database(config: &Config, b: &mut Builder) {
    use serde_json::json;
    let db = &config.database;
    b.typed("SqlSettings.DriverName", json!("postgres"), "database.kind");
    // Names, hosts and paths that cannot be written into a DSN were reported by the value
    // checks; no DSN is derived from them.
    if dsn::database_name_problem(&db.name).is_some() || dsn::name_problem(&db.user).is_some() {
        return;
    }
    match db.kind {
        DatabaseKind::Local => {
            if paths::problem(&db.socket_dir).is_some() {
                return;
            }
            // Peer authentication over the unix socket: no password anywhere.
            let url = dsn::socket(&db.user, &db.socket_dir, db.port, &db.name);
            b.typed("SqlSettings.DataSource", json!(url), "database");
        }
        DatabaseKind::External => {
            let Some(Ok(host)) = db.host.as_deref().map(Host::parse) else {
                return;
            };
            let url =
                |host: &Host, port: u16| dsn::tcp(&db.user, host, port, &db.name, &db.sslmode);
            b.typed(
                "SqlSettings.DataSource",
                json!(url(&host, db.port)),
                "database.host",
            );
            let replicas: Option<Vec<String>> = db
                .read_replicas
                .iter()
                .map(|r| {
                    names::parse_host_port(r, db.port)
                        .ok()
                        .map(|(h, p)| url(&h, p))
                })
                .collect();
            if let Some(replicas) = replicas.filter(|r| !r.is_empty()) {
                b.typed(
                    "SqlSettings.DataSourceReplicas",
                    json!(replicas),
                    "database.read_replicas",
                );
            }
            if let Some(file) = &db.password_file {
                let mut cred = Credential {
                    name: "database_password".into(),
                    path: file.clone(),
                    uses: vec![SecretUse::PasswordInto("MM_SQLSETTINGS_DATASOURCE".into())],
                };
                if !db.read_replicas.is_empty() {
                    cred.uses.push(SecretUse::PasswordInto(
                        "MM_SQLSETTINGS_DATASOURCEREPLICAS".into(),
                    ));
                }
                b.credentials.insert(cred.name.clone(), cred);
            }
        }
    }
}

fn derive_files(config: &Config, b: &mut Builder) {
    use serde_json::json;
    let f = &config.file_storage;
    let dir = f
        .directory
        .clone()
        .unwrap_or_else(|| format!("{}/data", config.directories.data.trim_end_matches('/')));
    // Mattermost appends a slash to a local files directory when it loads its config; render
    // it so that the effective setting is exactly the rendered one.
    let dir = format!("{}/", dir.trim_end_matches('/'));
    match f.driver {
        FileDriver::Local => {
            b.typed(
                "FileSettings.DriverName",
                json!("local"),
                "file_storage.driver",
            );
            if paths::problem(&dir).is_none() {
                b.typed(
                    "FileSettings.Directory",
                    json!(dir),
                    "file_storage.directory",
                );
            }
        }
        FileDriver::S3 => {
            b.typed(
                "FileSettings.DriverName",
                json!("amazons3"),
                "file_storage.driver",
            );
            b.typed(
                "FileSettings.AmazonS3Bucket",
                json!(f.bucket.clone().unwrap_or_default()),
                "file_storage.bucket",
            );
            b.typed(
                "FileSettings.AmazonS3Endpoint",
                json!(f.endpoint),
                "file_storage.endpoint",
            );
            b.typed("FileSettings.AmazonS3SSL", json!(f.ssl), "file_storage.ssl");
            if let Some(region) = &f.region {
                b.typed(
                    "FileSettings.AmazonS3Region",
                    json!(region),
                    "file_storage.region",
                );
            }
            if let Some(id) = &f.access_key_id {
                b.typed(
                    "FileSettings.AmazonS3AccessKeyId",
                    json!(id),
                    "file_storage.access_key_id",
                );
            }
            if let Some(file) = &f.secret_access_key_file {
                b.secret(
                    "FileSettings.AmazonS3SecretAccessKey",
                    "s3_secret_access_key",
                    file,
                    SecretUse::Variable,
                    Owner::Typed("file_storage.secret_access_key_file".into()),
                );
            }
        }
    }
}

fn derive_gitlab(config: &Config, b: &mut Builder) {
    use serde_json::json;
    let g = &config.gitlab;
    if !g.enable {
        return;
    }
    let base = g.url.as_deref().unwrap_or("").trim_end_matches('/');
    let endpoint = |own: &Option<String>, suffix: &str| {
        own.clone().unwrap_or_else(|| format!("{base}{suffix}"))
    };
    b.typed("GitLabSettings.Enable", json!(true), "gitlab.enable");
    b.typed("GitLabSettings.Scope", json!(g.scope), "gitlab.scope");
    b.typed(
        "GitLabSettings.AuthEndpoint",
        json!(endpoint(&g.auth_endpoint, "/oauth/authorize")),
        "gitlab.url",
    );
    b.typed(
        "GitLabSettings.TokenEndpoint",
        json!(endpoint(&g.token_endpoint, "/oauth/token")),
        "gitlab.url",
    );
    b.typed(
        "GitLabSettings.UserAPIEndpoint",
        json!(endpoint(&g.user_api_endpoint, "/api/v4/user")),
        "gitlab.url",
    );
    if let Some(id) = &g.id {
        b.typed("GitLabSettings.Id", json!(id), "gitlab.id");
    }
    let owner = || Owner::Typed("gitlab".into());
    if let Some(file) = &g.id_file {
        b.secret(
            "GitLabSettings.Id",
            "gitlab_id",
            file,
            SecretUse::Variable,
            owner(),
        );
    }
    if let Some(file) = &g.secret_file {
        b.secret(
            "GitLabSettings.Secret",
            "gitlab_secret",
            file,
            SecretUse::Variable,
            owner(),
        );
    }
}

fn derive_smtp(config: &Config, b: &mut Builder) {
    use serde_json::json;
    let s = &config.smtp;
    if !s.enable {
        return;
    }
    b.typed_all([
        (
            "EmailSettings.SendEmailNotifications",
            json!(s.send_notifications),
            "smtp.send_notifications",
        ),
        (
            "EmailSettings.SMTPServer",
            json!(s.server.clone().unwrap_or_default()),
            "smtp.server",
        ),
        (
            "EmailSettings.SMTPPort",
            json!(s.port.to_string()),
            "smtp.port",
        ),
        ("EmailSettings.EnableSMTPAuth", json!(s.auth), "smtp.auth"),
        (
            "EmailSettings.ConnectionSecurity",
            json!(s.connection_security.as_str()),
            "smtp.connection_security",
        ),
        (
            "EmailSettings.SkipServerCertificateVerification",
            json!(s.skip_server_certificate_verification),
            "smtp.skip_server_certificate_verification",
        ),
        (
            "EmailSettings.FeedbackName",
            json!(s.feedback_name),
            "smtp.feedback_name",
        ),
        (
            "EmailSettings.EnableSignInWithEmail",
            json!(s.enable_sign_in_with_email),
            "smtp.enable_sign_in_with_email",
        ),
        (
            "EmailSettings.EnableSignUpWithEmail",
            json!(s.enable_sign_up_with_email),
            "smtp.enable_sign_up_with_email",
        ),
        (
            "EmailSettings.EnableEmailBatching",
            json!(s.batching.enable),
            "smtp.batching.enable",
        ),
        (
            "EmailSettings.EmailBatchingInterval",
            json!(s.batching.interval),
            "smtp.batching.interval",
        ),
        (
            "EmailSettings.EmailBatchingBufferSize",
            json!(s.batching.buffer_size),
            "smtp.batching.buffer_size",
        ),
    ]);
    if let Some(user) = &s.username {
        b.typed("EmailSettings.SMTPUsername", json!(user), "smtp.username");
    }
    if let Some(email) = &s.feedback_email {
        b.typed(
            "EmailSettings.FeedbackEmail",
            json!(email),
            "smtp.feedback_email",
        );
    }
    if let Some(file) = &s.password_file {
        b.secret(
            "EmailSettings.SMTPPassword",
            "smtp_password",
            file,
            SecretUse::Variable,
            Owner::Typed("smtp.password_file".into()),
        );
    }
}

/// Extra variables read from secret files: each a credential whose content becomes the
/// variable. Names that are not variables were reported by the value checks.
pub(super) fn environment_files(config: &Config, b: &mut Builder) {
    for (name, file) in &config.environment_files {
        let usable = names::is_env_name(name)
            && !name.to_ascii_uppercase().starts_with("MM_")
            && !config.environment.contains_key(name);
        if usable {
            let credential = format!("env_{name}");
            b.credentials.insert(
                credential.clone(),
                Credential {
                    name: credential,
                    path: file.clone(),
                    uses: vec![SecretUse::Variable(name.clone())],
                },
            );
        }
    }
}

/// The Mattermost licence, when the config names its file: Mattermost reads `MM_LICENSE`
/// before any other source of a licence (channels/app/platform/license.go), so the file is a
/// credential like any secret and never lands in the database dump, config.json or the store.
pub(super) fn licence(config: &Config, b: &mut Builder) {
    if let Some(file) = &config.mattermost.license_file {
        b.credentials.insert(
            LICENCE_CREDENTIAL.to_string(),
            Credential {
                name: LICENCE_CREDENTIAL.to_string(),
                path: file.clone(),
                uses: vec![SecretUse::Variable("MM_LICENSE".into())],
            },
        );
    }
}

const LICENCE_CREDENTIAL: &str = "mattermost_license";

const ENABLE_LOCAL_MODE: &str = "MM_SERVICESETTINGS_ENABLELOCALMODE";
const LOCAL_MODE_SOCKET: &str = "MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION";

/// Local mode's socket, once the free-form settings are in. Mattermost's default
/// (`/var/tmp/mattermost_local.socket`) would be inside the unit's private `/var/tmp`, out of
/// every admin's reach, so it defaults to the unit's runtime directory, `/run/<account.user>`
/// (one per service user, so two instances do not clash). A socket the config places itself
/// must be somewhere the unit can write and admins can see.
pub(super) fn local_mode(config: &Config, b: &mut Builder) -> Option<LocalMode> {
    let on = b
        .values
        .get(ENABLE_LOCAL_MODE)
        .and_then(|v| v.rendered.as_deref())
        == Some("true");
    if !on {
        return None;
    }
    let runtime = config.account.user.clone();
    let runtime_prefix = format!("/run/{runtime}/");
    let Some(set) = b.values.get(LOCAL_MODE_SOCKET) else {
        // A bad account name is reported as such; the socket named after it is no second
        // problem (local mode being on by default would otherwise repeat it as a setting's).
        if crate::syntax::names::system_name_problem(&runtime).is_some() {
            return None;
        }
        let socket = format!("{runtime_prefix}mattermost_local.socket");
        let from = b
            .values
            .get(ENABLE_LOCAL_MODE)
            .map(|v| v.origin.join("."))
            .unwrap_or_default();
        b.typed(
            "ServiceSettings.LocalModeSocketLocation",
            serde_json::json!(socket),
            &from,
        );
        return Some(LocalMode {
            socket,
            runtime_directory: Some(runtime),
        });
    };
    let socket = set.rendered.clone().unwrap_or_default();
    let origin = set.origin.clone();
    let problem = if let Some(problem) = paths::problem(&socket) {
        Some(format!("{problem}, found {socket:?}"))
    } else if socket.starts_with("/tmp/") || socket.starts_with("/var/tmp/") {
        Some(format!("{socket} is inside the unit's private /tmp (PrivateTmp=yes): no admin could reach the socket"))
    } else if !socket.starts_with(&runtime_prefix)
        && !writable_dirs(config)
            .iter()
            .any(|d| socket.starts_with(&format!("{}/", d.trim_end_matches('/'))))
    {
        Some(format!(
            "the unit cannot create {socket}: it may only write to {runtime_prefix} and {}",
            writable_dirs(config).join(", ")
        ))
    } else {
        None
    };
    if let Some(msg) = problem {
        (b.report)(
            Diagnostic::new(
                origin.join("."),
                format!("ServiceSettings.LocalModeSocketLocation: {msg}"),
            )
            .with_hint(format!(
                "leave it unset: it then is {runtime_prefix}mattermost_local.socket, where `gitlab-mattermost mmctl` finds it"
            )),
            &origin,
        );
    }
    Some(LocalMode {
        runtime_directory: socket.starts_with(&runtime_prefix).then_some(runtime),
        socket,
    })
}

/// A free-form setting name resolved against the catalogue.
enum Resolved<'s> {
    Leaf(&'s Setting),
    Section,
    Unknown,
}

fn resolve_name(catalogue: &'static Catalogue, name: &str) -> Resolved<'static> {
    match catalogue.lookup(name) {
        Some(s) if s.ty == SettingType::Nested => Resolved::Section,
        Some(s) => Resolved::Leaf(s),
        None => nested_field(catalogue, name).map_or(Resolved::Unknown, Resolved::Leaf),
    }
}

/// A field of a nested section (`MessageExportSettings.GlobalRelaySettings.CustomerType`):
/// the catalogue lists the section, not each field, so the field is taken as a string.
fn nested_field(catalogue: &'static Catalogue, name: &str) -> Option<&'static Setting> {
    let (parent, field) = name.rsplit_once('.')?;
    let section = catalogue
        .by_path(parent)
        .filter(|s| s.ty == SettingType::Nested)?;
    if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    // Leaked once per such setting and run: a handful of bytes, and it keeps `Setting`
    // borrowing from static data like the rest of the catalogue.
    let field: &'static str = Box::leak(format!("{}.{field}", section.field).into_boxed_str());
    let env_var: &'static str = Box::leak(
        format!(
            "{}_{}",
            section.env_var,
            field.rsplit('.').next().unwrap_or("").to_ascii_uppercase()
        )
        .into_boxed_str(),
    );
    Some(Box::leak(Box::new(Setting {
        category: section.category,
        field,
        go_type: "string (field of a nested section)",
        ty: SettingType::String,
        default: "",
        env_var,
        notes: section.notes,
    })))
}

/// Free-form settings: `MM_*` names, `Category.Field` keys, or nested tables.
pub(super) fn free_form(config: &Config, b: &mut Builder) {
    for (name, value) in &config.settings {
        let path = vec!["settings".to_string(), name.clone()];
        walk(name, value, &path, b);
    }
    for (name, file) in &config.setting_files {
        let path = vec!["setting_files".to_string(), name.clone()];
        match b.catalogue.lookup(name) {
            Some(s) if s.ty != SettingType::Nested => {
                if plugins_are_mattermosts(b, s, &path) || conflicts(b, s, &path) {
                    continue;
                }
                let credential = s.env_var.to_ascii_lowercase();
                b.secret(
                    &s.path(),
                    &credential,
                    file,
                    SecretUse::Variable,
                    Owner::FreeForm,
                );
            }
            _ => unknown(b, name, &path),
        }
    }
}

fn walk(name: &str, value: &Value, path: &KeyPath, b: &mut Builder) {
    match resolve_name(b.catalogue, name) {
        Resolved::Leaf(setting) => free_leaf(setting, value, path, b),
        Resolved::Section | Resolved::Unknown
            if value.is_object() && !name.to_ascii_uppercase().starts_with("MM_") =>
        {
            // A category of any supported version: its fields are then each reported with
            // the version that has them.
            let is_category = MattermostVersion::ALL.into_iter().any(|v| {
                Catalogue::of(v)
                    .iter()
                    .any(|s| s.category.eq_ignore_ascii_case(name))
            });
            let is_section = matches!(resolve_name(b.catalogue, name), Resolved::Section);
            if !is_category && !is_section {
                return unknown(b, name, path);
            }
            if let Some(map) = value.as_object() {
                for (field, v) in map {
                    let mut p = path.clone();
                    p.push(field.clone());
                    walk(&format!("{name}.{field}"), v, &p, b);
                }
            }
        }
        _ => unknown(b, name, path),
    }
}

fn unknown(b: &mut Builder, name: &str, path: &KeyPath) {
    // The name is what is wrong: it is pointed at.
    if let Some(d) = not_in_version(b.catalogue, name, path) {
        return (b.report)(d.about_the_key(), path);
    }
    let mut d = Diagnostic::new(
        path.join("."),
        format!("`{name}` is not a Mattermost setting (Mattermost would silently ignore it)"),
    )
    .about_the_key();
    if let Some(s) = b.catalogue.suggest(name) {
        d = d.with_hint(format!("did you mean `{s}`?"));
    } else {
        d = d.with_hint("`gitlab-mattermost explain NAME` looks names up; settings are `Category.Field` or `MM_CATEGORY_FIELD`");
    }
    (b.report)(d, path);
}

/// A setting (or category) that other supported versions have but the targeted one lacks:
/// say which version added or removed it.
fn not_in_version(catalogue: &Catalogue, name: &str, path: &KeyPath) -> Option<Diagnostic> {
    let target = catalogue.version();
    let known_in = Catalogue::versions_with(name);
    let other = *known_in.first()?;
    let change = if other > target {
        format!("added in Mattermost {other}")
    } else {
        format!("removed in Mattermost {target}; it exists in {other}")
    };
    let versions: Vec<&str> = known_in.iter().map(|v| v.as_str()).collect();
    Some(
        Diagnostic::new(
            path.join("."),
            format!(
                "`{name}` does not exist in Mattermost {target} ({change}): Mattermost {target} would silently ignore it"
            ),
        )
        .with_hint(format!(
            "it exists in {}; set `mattermost.version` to the version your server runs, or remove it",
            versions.join(", ")
        )),
    )
}

/// Plugin settings and states stay Mattermost's own (config.json, the System Console): set in
/// the environment, Mattermost re-applies the whole map at every start, so no plugin could be
/// enabled, disabled or configured any more, and a plugin's secrets would sit in the rendered
/// environment (and, on NixOS, the store).
const PLUGIN_OWNED: [&str; 2] = [
    "MM_PLUGINSETTINGS_PLUGINS",
    "MM_PLUGINSETTINGS_PLUGINSTATES",
];

fn plugins_are_mattermosts(b: &mut Builder, setting: &Setting, path: &KeyPath) -> bool {
    if !PLUGIN_OWNED.contains(&setting.env_var) {
        return false;
    }
    (b.report)(
        Diagnostic::new(
            path.join("."),
            format!(
                "{} stays Mattermost's own: set here it would be re-applied whole at every start, so no plugin \
                 could be enabled, disabled or configured in the System Console, and plugin secrets would sit in \
                 the rendered environment",
                setting.path()
            ),
        )
        .with_hint("remove it; plugins keep their settings and states in config.json (System Console > Plugins)"),
        path,
    );
    true
}

/// A typed section already sets this: say where to set it instead.
fn conflicts(b: &mut Builder, setting: &Setting, path: &KeyPath) -> bool {
    match b.values.get(setting.env_var).map(|v| v.owner.clone()) {
        // What the integrations imply gives way to the admin's own value.
        Some(Owner::Implied(_)) => false,
        Some(Owner::Typed(from)) => {
            (b.report)(
                Diagnostic::new(
                    path.join("."),
                    format!("{} is derived from `{from}`", setting.path()),
                )
                .with_hint(format!(
                    "set `{from}` instead, so there is one place for it"
                )),
                path,
            );
            true
        }
        Some(Owner::FreeForm) => {
            (b.report)(
                Diagnostic::new(
                    path.join("."),
                    format!(
                        "{} is set twice (as {} and another spelling)",
                        setting.path(),
                        setting.env_var
                    ),
                ),
                path,
            );
            true
        }
        None => false,
    }
}

fn free_leaf(setting: &'static Setting, value: &Value, path: &KeyPath, b: &mut Builder) {
    if plugins_are_mattermosts(b, setting, path) || conflicts(b, setting, path) {
        return;
    }
    if is_secret_env_name(setting.env_var)
        && !value.is_null()
        && value != &Value::String(String::new())
    {
        (b.report)(
            Diagnostic::new(path.join("."), format!("{} holds a secret and is never written inline", setting.path()))
                .with_hint(format!(
                    "write the value to a root-only file and set setting_files.\"{}\" = \"/etc/gitlab-mattermost-secrets/…\"",
                    setting.path()
                )),
            path,
        );
        return;
    }
    if value.as_str().is_some_and(super::checks::has_url_password) {
        (b.report)(
            Diagnostic::new(
                path.join("."),
                format!("{} holds a password inside its URL, which would be written into the rendered files in clear (the value is not shown)", setting.path()),
            )
            .with_hint(format!(
                "write the whole value to a root-only file and set setting_files.\"{}\" = \"/etc/gitlab-mattermost-secrets/…\"",
                setting.path()
            )),
            path,
        );
        return;
    }
    let rendered = match setting_env_value(setting, value) {
        Ok(rendered) => rendered,
        Err(msg) => {
            return (b.report)(
                Diagnostic::new(path.join("."), format!("{}: {msg}", setting.path())),
                path,
            )
        }
    };
    if let Some(problem) = port_problem(setting, &rendered) {
        return (b.report)(
            Diagnostic::new(path.join("."), format!("{}: {problem}", setting.path()))
                .with_hint("write the port as a number, e.g. 587"),
            path,
        );
    }
    b.values.insert(
        setting.env_var.to_string(),
        SettingValue {
            value: value.clone(),
            rendered: Some(rendered),
            owner: Owner::FreeForm,
            origin: path.clone(),
        },
    );
}

/// A setting that holds a port (its field ends in `Port`) must be a port number, whatever
/// its Go type: `SMTPPort` is a string in Mattermost's model, so the type alone lets
/// `"five-eight-seven"` through, and Mattermost only fails when it first sends mail.
fn port_problem(setting: &Setting, rendered: &str) -> Option<String> {
    if !setting.field.ends_with("Port")
        || !matches!(
            setting.ty,
            SettingType::String | SettingType::Int | SettingType::Int64
        )
    {
        return None;
    }
    let ok = !rendered.is_empty()
        && rendered.chars().all(|c| c.is_ascii_digit())
        && rendered
            .parse::<u32>()
            .is_ok_and(|p| (1..=65535).contains(&p));
    (!ok).then(|| format!("expected a port number from 1 to 65535, found {rendered:?}"))
}
