//! The configuration schema: the single source of truth for option names, defaults and docs.
//!
//! The JSON Schema (`gitlab-mattermost schema`), the NixOS options file, the README's config
//! reference and the validation of every input file are all derived from these types, so a
//! field added here appears everywhere at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A path to a file holding a secret. The file is read by systemd (`LoadCredential=`) when the
/// service starts; its content never appears in a rendered file, a unit or a log.
pub type SecretFile = String;

/// The whole configuration of one Mattermost server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[cfg_attr(
    feature = "schemars",
    schemars(title = "gitlab-mattermost configuration")
)]
pub struct Config {
    /// The URL nginx serves, e.g. `https://mattermost.example.com`. It becomes the nginx
    /// server name and listen port, decides whether nginx serves https, and is Mattermost's
    /// `ServiceSettings.SiteURL` unless `site_url` is set. Scheme http or https, a host, no path.
    #[cfg_attr(feature = "schemars", schemars(example = "example_external_url"))]
    pub external_url: String,

    /// The URL users open, when it differs from `external_url` (an outer load balancer or
    /// proxy in front of nginx, another host name or port). It becomes Mattermost's
    /// `ServiceSettings.SiteURL`: the links in mail, the GitLab OAuth redirect URIs and the
    /// scheme and port nginx forwards follow it, while the nginx server name, listen port and
    /// certificates follow `external_url`. Default: `external_url`. Scheme http or https, a
    /// host, no path.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_site_url"))]
    pub site_url: Option<String>,

    /// Where Mattermost itself listens; nginx proxies to it.
    #[serde(default)]
    pub listen: Listen,

    /// The system account Mattermost runs as.
    #[serde(default)]
    pub account: Account,

    /// Mattermost's directories.
    #[serde(default)]
    pub directories: Directories,

    /// The Mattermost installation the service starts.
    #[serde(default)]
    pub mattermost: Installation,

    /// Sign-in with GitLab (OAuth 2).
    #[serde(default)]
    pub gitlab: GitLab,

    /// Outgoing mail.
    #[serde(default)]
    pub smtp: Smtp,

    /// The PostgreSQL database.
    #[serde(default)]
    pub database: Database,

    /// Where uploaded files are kept.
    #[serde(default)]
    pub file_storage: FileStorage,

    /// The nginx reverse proxy in front of Mattermost.
    #[serde(default)]
    pub nginx: Nginx,

    /// Extra environment variables for the Mattermost process, e.g. `http_proxy`, `https_proxy`,
    /// `no_proxy`, `SSL_CERT_DIR`. `MM_*` names belong in `settings`; secrets (a proxy URL
    /// with a password, `AWS_SECRET_ACCESS_KEY`) in `environment_files`.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_environment"))]
    pub environment: BTreeMap<String, String>,

    /// Extra environment variables whose value is a secret, read from a file at service
    /// start: variable name to file path. For a proxy with a password
    /// (`https_proxy = "http://user:password@proxy:3128"`) or a cloud SDK's secret key; the
    /// file holds the whole value.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_environment_files"))]
    pub environment_files: BTreeMap<String, SecretFile>,

    /// Any other Mattermost setting, as `Category.Field` (nested tables) or as its `MM_*`
    /// variable name. Every name and value is checked against Mattermost's own catalogue.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_settings"))]
    pub settings: BTreeMap<String, serde_json::Value>,

    /// Mattermost settings whose value is a secret, read from a file at service start:
    /// setting name (`Category.Field` or `MM_*`) to file path.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_setting_files"))]
    pub setting_files: BTreeMap<String, SecretFile>,

    /// GitLab notifications and slash commands in Mattermost: incoming webhooks and the
    /// GitLab projects posting to them, made real by `gitlab-mattermost integrations sync`.
    /// The Mattermost settings they need (`ServiceSettings.EnableIncomingWebhooks`,
    /// `EnableCommands`, `EnablePostUsernameOverride`, `EnablePostIconOverride`,
    /// `AllowedUntrustedInternalConnections`) follow; `settings` overrides them.
    #[serde(default)]
    pub integrations: Integrations,

    /// Scheduled backups: `gitlab-mattermost backup` run by a systemd timer, keeping the
    /// newest `keep` backups in `directory`. Off unless `schedule` is set.
    #[serde(default)]
    pub backup: Backup,

    /// Whether something writes the secret files again at every boot (sops-nix, agenix; the
    /// NixOS module sets it). Without it `check` warns about a secret file under `/run`,
    /// `/tmp` or `/dev/shm`, which are emptied at boot: Mattermost would then fail at
    /// `LoadCredential=` after the next reboot.
    #[serde(default)]
    pub secrets_provisioned_at_boot: bool,
}

/// Where Mattermost listens (`ServiceSettings.ListenAddress`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Listen {
    /// Address Mattermost binds to. Keep it on loopback when nginx is in front.
    #[serde(default = "default_listen_address")]
    pub address: String,
    /// TCP port Mattermost binds to.
    #[serde(default = "default_listen_port")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 65535)))]
    pub port: u16,
}

/// The system account (user and group) Mattermost runs as.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Account {
    /// User name.
    #[serde(default = "default_account_name")]
    pub user: String,
    /// Group name.
    #[serde(default = "default_account_name")]
    pub group: String,
    /// Fixed numeric user id; leave unset to let the system choose. Set it when migrating so
    /// copied files keep their owner.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 4294967294u32)))]
    pub uid: Option<u32>,
    /// Fixed numeric group id; leave unset to let the system choose.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 4294967294u32)))]
    pub gid: Option<u32>,
}

/// Mattermost's directories. All must be absolute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Directories {
    /// State directory (the service's working directory).
    #[serde(default = "default_data_dir")]
    pub data: String,
    /// Log directory (`LogSettings.FileLocation`).
    #[serde(default = "default_log_dir")]
    pub logs: String,
    /// Directory holding `config.json` (Mattermost's own, editable in the System Console).
    #[serde(default = "default_config_dir")]
    pub config: String,
    /// Server plugins (`PluginSettings.Directory`).
    #[serde(default = "default_plugin_dir")]
    pub plugins: String,
    /// Web app plugins (`PluginSettings.ClientDirectory`).
    #[serde(default = "default_client_plugin_dir")]
    pub client_plugins: String,
}

/// The Mattermost installation that the service runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Installation {
    /// Directory of a Mattermost release (holds `bin/mattermost`, `client/`, `i18n/`,
    /// `templates/`, `fonts/`). The NixOS module sets it to the package.
    #[serde(default = "default_install_dir")]
    pub install_dir: String,
    /// Path of the `gitlab-mattermost` binary used as the unit's `ExecStart=` wrapper.
    #[serde(default = "default_wrapper")]
    pub wrapper: String,
    /// Path of Mattermost's command-line client, run by `gitlab-mattermost mmctl`; default
    /// `<install_dir>/bin/mmctl` (where a release tarball has it).
    #[serde(default)]
    pub mmctl: Option<String>,
    /// The Mattermost release line the server runs: `"11.7"` (the current Extended Support
    /// Release, supported until 2027-05-15; the default) or `"10.11"` (the ESR Omnibus shipped
    /// last, out of support since 2026-08-15: refused unless `allow_end_of_life`). `"11.x"`
    /// is read as `"11.7"`. Settings are checked against that version's catalogue (one it
    /// lacks is refused, since Mattermost would silently ignore it) and its facts: settings
    /// that stop it from starting, the PostgreSQL it needs, what GitLab sign-in needs.
    #[serde(default)]
    pub version: MattermostVersion,
    /// Run a Mattermost line past its end of life knowingly: it gets no security fixes. Every
    /// `check` and `apply` then warns. Meant for the weeks of a move, not as a resting state.
    #[serde(default)]
    pub allow_end_of_life: bool,
    /// Which Mattermost build runs: `"team"` (Team Edition, what Omnibus and nixpkgs ship; the
    /// default) or `"enterprise"` (the Enterprise build: with `license_file` a licensed server,
    /// without one the free "Entry" tier). From 11.0 GitLab sign-in is an Enterprise feature.
    #[serde(default)]
    pub edition: Edition,
    /// Enterprise only: a file holding the Mattermost licence (a secret: read at start with
    /// `LoadCredential=`, handed to Mattermost as `MM_LICENSE`, never copied anywhere).
    #[serde(default)]
    pub license_file: Option<String>,
}

/// Which Mattermost build runs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Edition {
    /// Team Edition (open source; what Omnibus and nixpkgs ship).
    #[default]
    Team,
    /// The Enterprise build, licensed or (without a licence) the free Entry tier.
    Enterprise,
}

impl Edition {
    pub fn as_str(self) -> &'static str {
        match self {
            Edition::Team => "team",
            Edition::Enterprise => "enterprise",
        }
    }
}

/// A supported Mattermost release line, each with its own settings catalogue.
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum MattermostVersion {
    // The 10.11 Extended Support Release (ended 2026-08-15).
    #[serde(rename = "10.11")]
    V10_11,
    // The 11.7 Extended Support Release (the 11 line).
    #[default]
    #[serde(rename = "11.7", alias = "11.x")]
    V11_7,
}

impl MattermostVersion {
    /// Every supported version, oldest first.
    pub const ALL: [MattermostVersion; 2] = [MattermostVersion::V10_11, MattermostVersion::V11_7];

    /// As written in a config: `10.11`, `11.7`.
    pub fn as_str(self) -> &'static str {
        match self {
            MattermostVersion::V10_11 => "10.11",
            MattermostVersion::V11_7 => "11.7",
        }
    }
}

impl std::fmt::Display for MattermostVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Installation {
    /// The `mattermost` server binary the unit starts.
    pub fn server_binary(&self) -> String {
        format!("{}/bin/mattermost", self.install_dir.trim_end_matches('/'))
    }

    /// The `mmctl` client: as configured, else beside the server binary.
    pub fn mmctl_binary(&self) -> String {
        self.mmctl
            .clone()
            .unwrap_or_else(|| format!("{}/bin/mmctl", self.install_dir.trim_end_matches('/')))
    }
}

/// Sign-in with GitLab. GitLab's endpoints are derived from `url` unless set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct GitLab {
    /// Offer "Sign in with GitLab" (`GitLabSettings.Enable`).
    #[serde(default)]
    pub enable: bool,
    /// GitLab's base URL, e.g. `https://gitlab.example.com`.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_gitlab_url"))]
    pub url: Option<String>,
    /// Authorization endpoint; default `<url>/oauth/authorize`.
    #[serde(default)]
    pub auth_endpoint: Option<String>,
    /// Token endpoint; default `<url>/oauth/token`.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// User API endpoint; default `<url>/api/v4/user`.
    #[serde(default)]
    pub user_api_endpoint: Option<String>,
    /// OAuth application id (GitLab's "Application ID"). Not a secret; use `id_file` when a
    /// registration step writes it.
    #[serde(default)]
    pub id: Option<String>,
    /// File holding the OAuth application id (written by `gitlab-mattermost gitlab register`).
    #[serde(default)]
    pub id_file: Option<SecretFile>,
    /// File holding the OAuth application secret.
    #[serde(default)]
    pub secret_file: Option<SecretFile>,
    /// OAuth scope requested, space-separated. `read_user` is what Mattermost needs and what
    /// the application `gitlab register` creates allows. An empty scope is what Omnibus
    /// requested and fits the application Omnibus registered (one without scopes): GitLab
    /// then grants its default, `api`, more than Mattermost needs. Against an application
    /// that has scopes, an empty request falls back to `api`, which that application does
    /// not allow, and the login fails. `gitlab register` keeps an application only when its
    /// scopes are exactly these (none, for an empty scope).
    #[serde(default = "default_gitlab_scope")]
    pub scope: String,
    /// Team Edition on the 11 line only: rely on the route Team Edition still answers,
    /// `/oauth/gitlab/login`, though 11.0 moved GitLab sign-in to the Enterprise build and no
    /// app shows a GitLab button. nginx then serves a stable sign-in link, `/gitlab-sign-in`,
    /// that leads there, and `doctor` checks that the route still answers. Undocumented by
    /// Mattermost: any release may close it.
    #[serde(default)]
    pub allow_team_edition_route: bool,
}

/// Outgoing mail (`EmailSettings`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Smtp {
    /// Configure mail at all; when false Mattermost's own defaults stay.
    #[serde(default)]
    pub enable: bool,
    /// SMTP server host name.
    #[serde(default)]
    pub server: Option<String>,
    /// SMTP server port (25, 465 for TLS, 587 for STARTTLS).
    #[serde(default = "default_smtp_port")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 65535)))]
    pub port: u16,
    /// User name for SMTP authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the SMTP password.
    #[serde(default)]
    pub password_file: Option<SecretFile>,
    /// Authenticate to the server (`EnableSMTPAuth`).
    #[serde(default)]
    pub auth: bool,
    /// Connection security: `""` (none), `"TLS"` (implicit, usually port 465) or `"STARTTLS"`
    /// (usually port 587).
    #[serde(default)]
    pub connection_security: ConnectionSecurity,
    /// Accept any server certificate. Only for testing.
    #[serde(default)]
    pub skip_server_certificate_verification: bool,
    /// Sender name of notification mail.
    #[serde(default = "default_feedback_name")]
    pub feedback_name: String,
    /// Sender address of notification mail.
    #[serde(default)]
    pub feedback_email: Option<String>,
    /// Send email notifications.
    #[serde(default = "default_true")]
    pub send_notifications: bool,
    /// Let users sign in with email and password.
    #[serde(default = "default_true")]
    pub enable_sign_in_with_email: bool,
    /// Let users sign up with email and password.
    #[serde(default = "default_true")]
    pub enable_sign_up_with_email: bool,
    /// Batch notification mail.
    #[serde(default)]
    pub batching: EmailBatching,
}

/// Mattermost's email connection security values.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ConnectionSecurity {
    #[default]
    #[serde(rename = "")]
    None,
    #[serde(rename = "TLS")]
    Tls,
    #[serde(rename = "STARTTLS")]
    StartTls,
}

impl ConnectionSecurity {
    /// The value Mattermost expects.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionSecurity::None => "",
            ConnectionSecurity::Tls => "TLS",
            ConnectionSecurity::StartTls => "STARTTLS",
        }
    }
}

/// Email batching (`EnableEmailBatching`, `EmailBatchingInterval`, `EmailBatchingBufferSize`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct EmailBatching {
    /// Batch notifications into one mail per interval. Needs `external_url`.
    #[serde(default)]
    pub enable: bool,
    /// Seconds between batches; at least 30.
    #[serde(default = "default_batching_interval")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 0, max = 4294967295u32)))]
    pub interval: u32,
    /// Most notifications held per batch.
    #[serde(default = "default_batching_buffer")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 0, max = 4294967295u32)))]
    pub buffer_size: u32,
}

/// The database. `local` uses PostgreSQL on this host over its unix socket with peer
/// authentication (no password); `external` connects over TCP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Database {
    /// `local` (unix socket, peer auth) or `external` (TCP, password file).
    #[serde(default)]
    pub kind: DatabaseKind,
    /// Database name.
    #[serde(default = "default_account_name")]
    pub name: String,
    /// Database role. With `local`, it must equal the account user (peer auth).
    #[serde(default = "default_account_name")]
    pub user: String,
    /// Directory of PostgreSQL's unix socket (`local` only).
    #[serde(default = "default_socket_dir")]
    pub socket_dir: String,
    /// Database host (`external` only).
    #[serde(default)]
    pub host: Option<String>,
    /// Database port.
    #[serde(default = "default_pg_port")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 65535)))]
    pub port: u16,
    /// File holding the database password (`external` only).
    #[serde(default)]
    pub password_file: Option<SecretFile>,
    /// libpq `sslmode` (`external` only): disable, allow, prefer, require, verify-ca, verify-full.
    #[serde(default = "default_sslmode")]
    pub sslmode: String,
    /// Read replica hosts (`host` or `host:port`), same name, user, password and sslmode.
    #[serde(default)]
    pub read_replicas: Vec<String>,
}

/// Where the database is.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DatabaseKind {
    #[default]
    Local,
    External,
}

/// Where uploaded files are kept (`FileSettings`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FileStorage {
    /// `local` (a directory) or `s3` (an S3-compatible bucket).
    #[serde(default)]
    pub driver: FileDriver,
    /// Directory for `local` storage; default `<directories.data>/data`.
    #[serde(default)]
    pub directory: Option<String>,
    /// S3 bucket.
    #[serde(default)]
    pub bucket: Option<String>,
    /// S3 endpoint host, e.g. `s3.amazonaws.com` or `minio.example.com:9000`.
    #[serde(default = "default_s3_endpoint")]
    pub endpoint: String,
    /// S3 region.
    #[serde(default)]
    pub region: Option<String>,
    /// S3 access key id (not a secret on its own).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// File holding the S3 secret access key.
    #[serde(default)]
    pub secret_access_key_file: Option<SecretFile>,
    /// Talk https to the S3 endpoint.
    #[serde(default = "default_true")]
    pub ssl: bool,
}

/// File storage drivers.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FileDriver {
    #[default]
    Local,
    #[serde(rename = "s3")]
    S3,
}

/// The nginx reverse proxy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Nginx {
    /// Render the nginx vhost.
    #[serde(default = "default_true")]
    pub enable: bool,
    /// Install the vhost into this host's nginx (`apply`: Debian's sites-available and
    /// sites-enabled, else conf.d; NixOS: `services.nginx`). `false` only renders it, to
    /// `/etc/gitlab-mattermost/nginx/mattermost.conf`, for another nginx to include — GitLab
    /// Omnibus's, when Mattermost stays on the host that runs GitLab:
    /// `nginx['custom_nginx_config'] = "include /etc/gitlab-mattermost/nginx/mattermost.conf;"`.
    #[serde(default = "default_true")]
    pub install: bool,
    /// Serve https; default: the scheme of `external_url`. Set false when TLS ends at a load
    /// balancer in front of nginx.
    #[serde(default)]
    pub https: Option<bool>,
    /// Certificate (full chain) path; required when https.
    #[serde(default)]
    pub certificate: Option<String>,
    /// Private key path; required when https. Read by nginx, never copied.
    #[serde(default)]
    pub certificate_key: Option<String>,
    /// Also listen on plain http and redirect to https.
    #[serde(default)]
    pub redirect_http_to_https: bool,
    /// Port of the http redirect server.
    #[serde(default = "default_http_port")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 65535)))]
    pub redirect_http_port: u16,
    /// Directory for ACME http-01 challenges, e.g. `/var/lib/gitlab-mattermost/acme`, for
    /// `certbot certonly --webroot -w <dir>`: the plain-http server (with https, the redirect
    /// server, before it redirects) serves `/.well-known/acme-challenge/` from it, and
    /// tmpfiles.d creates it (root, 0755). Unset: no challenge location. On NixOS use
    /// `nginx.enableACME` or `nginx.useACMEHost` instead.
    #[serde(default)]
    pub acme_webroot: Option<String>,
    /// Port nginx listens on; default: the port of `external_url`.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 65535)))]
    pub listen_port: Option<u16>,
    /// Addresses nginx listens on.
    #[serde(default = "default_listen_addresses")]
    pub listen_addresses: Vec<String>,
    /// Largest request body (`client_max_body_size`); `0` means unlimited.
    #[serde(default = "default_body_size")]
    pub client_max_body_size: String,
    /// `proxy_read_timeout` in seconds.
    #[serde(default = "default_read_timeout")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 0, max = 4294967295u32)))]
    pub proxy_read_timeout: u32,
    /// Extra or overriding `proxy_set_header` lines (name to value); an empty value removes
    /// a default header.
    #[serde(default)]
    pub proxy_headers: BTreeMap<String, String>,
    /// Raw nginx lines appended inside the server block.
    #[serde(default)]
    pub server_config: String,
}

/// GitLab's Mattermost integrations, declared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Integrations {
    /// The Mattermost user (user name) who owns the webhooks and slash commands `sync`
    /// creates; Mattermost's local mode has no user of its own. Required when any webhook is
    /// declared.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_integrations_owner"))]
    pub owner: Option<String>,
    /// Root-only directory where `sync` writes each webhook's URL (it embeds the webhook's
    /// secret key) and what it manages (`state.json`), so that reruns update rather than
    /// duplicate, and only what it created is ever pruned.
    #[serde(default = "default_integrations_dir")]
    pub state_directory: String,
    /// Incoming webhooks by name (the name GitLab projects refer to).
    #[serde(default)]
    pub incoming_webhooks: BTreeMap<String, IncomingWebhook>,
    /// GitLab projects by path (`group/project`) with GitLab's "Mattermost notifications"
    /// integration, and optionally its "Mattermost slash commands".
    #[serde(default)]
    pub gitlab_projects: BTreeMap<String, GitLabProject>,
}

/// A Mattermost incoming webhook.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct IncomingWebhook {
    /// Team name (the URL name, e.g. `engineering`).
    pub team: String,
    /// Channel name in the team (the URL name, e.g. `town-square`): where posts go.
    pub channel: String,
    /// Name shown in Integrations > Incoming Webhooks; default: the webhook's name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description shown in Integrations > Incoming Webhooks.
    #[serde(default)]
    pub description: String,
    /// User name posts appear under (needs `ServiceSettings.EnablePostUsernameOverride`,
    /// which is then set).
    #[serde(default)]
    pub username: Option<String>,
    /// Profile picture URL of posts (needs `ServiceSettings.EnablePostIconOverride`, which is
    /// then set).
    #[serde(default)]
    pub icon_url: Option<String>,
    /// Post only to `channel`, whatever channel a payload names (GitLab's channel fields
    /// are then ignored).
    #[serde(default)]
    pub lock_to_channel: bool,
    /// Where `sync` writes the webhook URL (mode 0600); default
    /// `webhook-<name>.url` in `integrations.state_directory`.
    #[serde(default)]
    pub url_file: Option<SecretFile>,
}

/// One GitLab project's Mattermost integrations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct GitLabProject {
    /// The incoming webhook (its name in `integrations.incoming_webhooks`) GitLab posts to.
    pub webhook: String,
    /// Channel for every event instead of the webhook's (GitLab's `channel` and
    /// `<event>_channel` fields); ignored by a webhook locked to its channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// User name of GitLab's posts (needs `ServiceSettings.EnablePostUsernameOverride`,
    /// which is then set).
    #[serde(default)]
    pub username: Option<String>,
    /// The events GitLab notifies (GitLab's trigger names).
    #[serde(default = "default_gitlab_events")]
    pub events: Vec<GitLabEvent>,
    /// Notify only failed pipelines.
    #[serde(default = "default_true")]
    pub notify_only_broken_pipelines: bool,
    /// Branches whose push and pipeline events are notified.
    #[serde(default)]
    pub branches_to_be_notified: BranchesToBeNotified,
    /// A Mattermost slash command for this project (GitLab's "Mattermost slash commands").
    #[serde(default)]
    pub slash_commands: SlashCommands,
}

/// The events of GitLab's Mattermost notifications (its `SUPPORTED_EVENTS`; GitLab has no
/// alert events for Mattermost, and only its newest releases have work items, so those are not
/// offered).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum GitLabEvent {
    Push,
    TagPush,
    Issue,
    ConfidentialIssue,
    MergeRequest,
    Note,
    ConfidentialNote,
    Pipeline,
    WikiPage,
    Deployment,
    Incident,
}

impl GitLabEvent {
    pub const ALL: [GitLabEvent; 11] = [
        GitLabEvent::Push,
        GitLabEvent::TagPush,
        GitLabEvent::Issue,
        GitLabEvent::ConfidentialIssue,
        GitLabEvent::MergeRequest,
        GitLabEvent::Note,
        GitLabEvent::ConfidentialNote,
        GitLabEvent::Pipeline,
        GitLabEvent::WikiPage,
        GitLabEvent::Deployment,
        GitLabEvent::Incident,
    ];

    /// GitLab's API field switching the event on (`push_events`, `issues_events`, …).
    pub fn events_field(self) -> &'static str {
        match self {
            GitLabEvent::Push => "push_events",
            GitLabEvent::TagPush => "tag_push_events",
            GitLabEvent::Issue => "issues_events",
            GitLabEvent::ConfidentialIssue => "confidential_issues_events",
            GitLabEvent::MergeRequest => "merge_requests_events",
            GitLabEvent::Note => "note_events",
            GitLabEvent::ConfidentialNote => "confidential_note_events",
            GitLabEvent::Pipeline => "pipeline_events",
            GitLabEvent::WikiPage => "wiki_page_events",
            GitLabEvent::Deployment => "deployment_events",
            GitLabEvent::Incident => "incident_events",
        }
    }

    /// GitLab's API field of the event's channel (`push_channel`, `issue_channel`, …).
    pub fn channel_field(self) -> &'static str {
        match self {
            GitLabEvent::Push => "push_channel",
            GitLabEvent::TagPush => "tag_push_channel",
            GitLabEvent::Issue => "issue_channel",
            GitLabEvent::ConfidentialIssue => "confidential_issue_channel",
            GitLabEvent::MergeRequest => "merge_request_channel",
            GitLabEvent::Note => "note_channel",
            GitLabEvent::ConfidentialNote => "confidential_note_channel",
            GitLabEvent::Pipeline => "pipeline_channel",
            GitLabEvent::WikiPage => "wiki_page_channel",
            GitLabEvent::Deployment => "deployment_channel",
            GitLabEvent::Incident => "incident_channel",
        }
    }
}

/// GitLab's `branches_to_be_notified`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BranchesToBeNotified {
    All,
    #[default]
    Default,
    Protected,
    DefaultAndProtected,
}

impl BranchesToBeNotified {
    /// The value GitLab expects.
    pub fn as_str(self) -> &'static str {
        match self {
            BranchesToBeNotified::All => "all",
            BranchesToBeNotified::Default => "default",
            BranchesToBeNotified::Protected => "protected",
            BranchesToBeNotified::DefaultAndProtected => "default_and_protected",
        }
    }
}

/// A Mattermost slash command that GitLab answers (GitLab's "Mattermost slash commands"
/// integration): Mattermost's command token goes into GitLab, GitLab's trigger URL into
/// Mattermost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SlashCommands {
    /// Create the slash command and GitLab's integration.
    #[serde(default)]
    pub enable: bool,
    /// Team the command is in; default: the webhook's team.
    #[serde(default)]
    pub team: Option<String>,
    /// The command word (`/<trigger>`); default: the project's name (last path part).
    #[serde(default)]
    pub trigger: Option<String>,
    /// User name of the command's answers.
    #[serde(default = "default_slash_username")]
    pub username: String,
    /// Offer the command in autocomplete.
    #[serde(default = "default_true")]
    pub auto_complete: bool,
}

/// Scheduled backups of the same scope as `gitlab-mattermost backup`: the database,
/// uploaded files, `config.json`, plugins and secret files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Backup {
    /// When to back up: a systemd calendar expression (`OnCalendar=`, see
    /// `systemd.time(7)`), e.g. `"daily"`, `"*-*-* 03:30:00"`, `"Mon..Fri 02:00"`. Renders
    /// `gitlab-mattermost-backup.service` and its timer (a missed run is made up at the next
    /// boot); unset: no scheduled backups.
    #[serde(default)]
    #[cfg_attr(feature = "schemars", schemars(example = "example_backup_schedule"))]
    pub schedule: Option<String>,
    /// How many of the scheduled backups to keep (`backup --keep`): after a complete backup
    /// the older ones beyond this number are removed. Partial backups, upgrade backups and
    /// other files in `directory` are never touched.
    #[serde(default = "default_backup_keep")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 1000)))]
    pub keep: u32,
    /// Where the backups go (`backup --to`), each in a `mattermost-backup-<UTC date>`
    /// directory. tmpfiles.d creates it, root's, mode 0700: the backups hold the secret files.
    #[serde(default = "default_backup_dir")]
    pub directory: String,
}

macro_rules! default_fn {
    ($($name:ident: $ty:ty = $value:expr;)*) => {
        $(fn $name() -> $ty { $value.into() })*
    };
}

default_fn! {
    default_listen_address: String = "127.0.0.1";
    default_listen_port: u16 = 8065u16;
    default_account_name: String = "mattermost";
    default_data_dir: String = "/var/lib/mattermost";
    default_log_dir: String = "/var/log/mattermost";
    default_config_dir: String = "/var/lib/mattermost/config";
    default_plugin_dir: String = "/var/lib/mattermost/plugins";
    default_client_plugin_dir: String = "/var/lib/mattermost/client-plugins";
    default_install_dir: String = "/opt/mattermost";
    default_wrapper: String = "/usr/bin/gitlab-mattermost";
    default_gitlab_scope: String = "read_user";
    default_smtp_port: u16 = 25u16;
    default_feedback_name: String = "Mattermost";
    default_true: bool = true;
    default_batching_interval: u32 = 30u32;
    default_batching_buffer: u32 = 256u32;
    default_socket_dir: String = "/run/postgresql";
    default_pg_port: u16 = 5432u16;
    default_sslmode: String = "require";
    default_s3_endpoint: String = "s3.amazonaws.com";
    default_http_port: u16 = 80u16;
    default_body_size: String = "100m";
    default_read_timeout: u32 = 3600u32;
    default_integrations_dir: String = "/var/lib/gitlab-mattermost/integrations";
    default_slash_username: String = "GitLab";
    default_backup_keep: u32 = 7u32;
    default_backup_dir: String = "/var/backups/gitlab-mattermost";
}

#[cfg(feature = "schemars")]
fn example_backup_schedule() -> &'static str {
    "daily"
}

fn default_gitlab_events() -> Vec<GitLabEvent> {
    vec![
        GitLabEvent::Push,
        GitLabEvent::TagPush,
        GitLabEvent::Issue,
        GitLabEvent::MergeRequest,
        GitLabEvent::Note,
        GitLabEvent::Pipeline,
        GitLabEvent::WikiPage,
    ]
}

#[cfg(feature = "schemars")]
fn example_integrations_owner() -> &'static str {
    "gitlab-integrations"
}

fn default_listen_addresses() -> Vec<String> {
    vec!["0.0.0.0".into(), "[::]".into()]
}

#[cfg(feature = "schemars")]
fn example_external_url() -> &'static str {
    "https://mattermost.example.com"
}
#[cfg(feature = "schemars")]
fn example_site_url() -> &'static str {
    "https://chat.example.com"
}
#[cfg(feature = "schemars")]
fn example_gitlab_url() -> &'static str {
    "https://gitlab.example.com"
}
#[cfg(feature = "schemars")]
fn example_environment() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([("https_proxy", "http://proxy.example.com:3128")])
}
#[cfg(feature = "schemars")]
fn example_environment_files() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([("https_proxy", "/etc/gitlab-mattermost-secrets/https-proxy")])
}
#[cfg(feature = "schemars")]
fn example_settings() -> serde_json::Value {
    serde_json::json!({"ServiceSettings": {"MaximumLoginAttempts": 10}, "MM_TEAMSETTINGS_SITENAME": "Chat"})
}
#[cfg(feature = "schemars")]
fn example_setting_files() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([(
        "SqlSettings.AtRestEncryptKey",
        "/etc/gitlab-mattermost-secrets/at-rest-key",
    )])
}

macro_rules! default_from_empty {
    ($($ty:ty),*) => {
        $(impl Default for $ty {
            fn default() -> Self {
                serde_json::from_value(serde_json::json!({}))
                    .expect("every field of this section has a default")
            }
        })*
    };
}

default_from_empty!(
    Listen,
    Account,
    Directories,
    Installation,
    GitLab,
    Smtp,
    EmailBatching,
    Database,
    FileStorage,
    Nginx,
    Integrations,
    SlashCommands,
    Backup
);

/// The JSON Schema of the configuration (`gitlab-mattermost schema`), as committed in
/// `docs/gitlab-mattermost.schema.json`.
///
/// Why a committed file and not schemars at run time: schemars and its derive macro (which
/// needs a second major version of syn) were a large part of what the lean compiler cost to
/// build, for a document that changes only when these types do. `generated_json_schema`
/// (feature `schemars`) is what schemars derives from the types; `tests/schema_file.rs` keeps
/// the two equal.
pub fn json_schema() -> &'static serde_json::Value {
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(SCHEMA_FILE)
            .expect("the committed schema is JSON (tests/schema_file.rs)")
    })
}

/// The text of `docs/gitlab-mattermost.schema.json`.
pub const SCHEMA_FILE: &str = include_str!("../../../docs/gitlab-mattermost.schema.json");

/// The JSON Schema schemars derives from these types (draft 7): what the committed file must
/// be (`GITLAB_MATTERMOST_UPDATE_SCHEMA=1 cargo test -p gitlab-mattermost-catalogue --test
/// schema_file` writes it).
#[cfg(feature = "schemars")]
pub fn generated_json_schema() -> schemars::schema::RootSchema {
    let settings = schemars::gen::SchemaSettings::draft07();
    settings.into_generator().into_root_schema_for::<Config>()
}

/// The definition a schema node stands for: follows `$ref` and the single-element `allOf`
/// that schemars wraps a referenced type in when the field has its own description or
/// default. A node that refers to nothing (or to something unknown) is returned as it is.
pub fn resolve_ref<'a>(
    root: &'a serde_json::Value,
    node: &'a serde_json::Value,
) -> &'a serde_json::Value {
    if let Some(target) = node
        .get("$ref")
        .and_then(serde_json::Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
        .and_then(|name| root.get("definitions")?.get(name))
    {
        return resolve_ref(root, target);
    }
    match node
        .get("allOf")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
    {
        Some([only]) => resolve_ref(root, only),
        _ => node,
    }
}

/// Inline secret keys people are likely to write, and the file key that replaces each.
/// Checked before schema validation so the error can say how to move the value.
pub const INLINE_SECRET_KEYS: &[(&str, &str)] = &[
    ("smtp.password", "smtp.password_file"),
    ("gitlab.secret", "gitlab.secret_file"),
    ("database.password", "database.password_file"),
    (
        "file_storage.secret_access_key",
        "file_storage.secret_access_key_file",
    ),
];
