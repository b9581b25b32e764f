//! Command-line arguments of the operations commands (wired into the command's `cli::Command`).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::config_args::ConfigArgs;

/// `gitlab …` subcommands.
#[derive(Debug, Subcommand)]
pub enum GitlabCommand {
    /// Create the OAuth application "GitLab Mattermost" in GitLab, or keep the one in use.
    #[command(after_help = "Examples:\n  \
        gitlab-mattermost gitlab register /etc/gitlab-mattermost.toml \\\n    \
        --token-file /root/gitlab-admin-token\n  \
        # months later, once the old server is gone:\n  \
        gitlab-mattermost gitlab register /etc/gitlab-mattermost.toml \\\n    \
        --token-file /root/gitlab-admin-token --delete-old 7\n\n\
        Needs a personal access token (scope api) of a GitLab administrator. Writes the\n\
        application id and secret to gitlab.id_file and gitlab.secret_file (mode 0600).\n\n\
        An application fits when it has the redirect URIs of the site URL (site_url, else\n\
        external_url; more are fine) and the scopes gitlab.scope asks (\"\" for the one\n\
        Omnibus registered). Reruns change nothing while the one the id file names fits.\n\n\
        An application in use is never changed or deleted unless asked: the old server\n\
        (Omnibus) and a rollback to it sign in with it. GitLab's API cannot update an\n\
        application, so a changed site URL or gitlab.scope gets a new one and the old one\n\
        stays until --delete-old names it. GitLab never shows a secret twice, so when the\n\
        id file names an application but the secret file is missing, or no id file exists\n\
        but an application fits, the run stops: copy the files the old server used (an\n\
        Omnibus import: gitlab-id and gitlab-secret in its secrets directory), or pass\n\
        --rotate, which cuts the old server off.")]
    Register(RegisterArgs),
}

/// Network settings shared by the commands that talk to servers.
#[derive(Debug, Args, Clone)]
pub struct NetArgs {
    /// Also trust the CA certificates in FILE (PEM), besides the system store. SSL_CERT_FILE
    /// and SSL_CERT_DIR replace the system store, as for most TLS clients.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for each network step.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

impl NetArgs {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.max(1))
    }
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// File holding a GitLab administrator's personal access token (scope api).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// Issue a new application secret and rewrite gitlab.secret_file; also adopts an
    /// application that fits when gitlab.id_file is missing. Whatever signs in with the
    /// current secret (the old server, a rollback to it) stops working.
    #[arg(long)]
    pub rotate: bool,
    /// Delete application APP (its id or Application ID, as the notes and Admin >
    /// Applications show) after the files are written: an old one kept for the old server,
    /// once nothing signs in with it. Refused for the application the files name and for
    /// applications that are not Mattermost sign-in ones.
    #[arg(long, value_name = "APP")]
    pub delete_old: Option<String>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// The checks `doctor` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum CheckName {
    Smtp,
    Certificates,
    Oauth,
    Database,
    Secrets,
    Host,
    Service,
    Ping,
}

impl CheckName {
    pub const ALL: [CheckName; 8] = [
        CheckName::Smtp,
        CheckName::Certificates,
        CheckName::Oauth,
        CheckName::Database,
        CheckName::Secrets,
        CheckName::Host,
        CheckName::Service,
        CheckName::Ping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Smtp => "smtp",
            CheckName::Certificates => "certificates",
            CheckName::Oauth => "oauth",
            CheckName::Database => "database",
            CheckName::Secrets => "secrets",
            CheckName::Host => "host",
            CheckName::Service => "service",
            CheckName::Ping => "ping",
        }
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Also send a real test mail to ADDRESS.
    #[arg(long, value_name = "ADDRESS")]
    pub send_to: Option<String>,
    /// Print the results as JSON on stdout (no table, no progress).
    #[arg(long)]
    pub json: bool,
    /// Run only these checks (repeatable).
    #[arg(long, value_name = "CHECK", value_enum)]
    pub only: Vec<CheckName>,
    /// A GitLab administrator's token (FILE): also compare the application's redirect URIs
    /// with what GitLab has.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Run the database check as the service user (account.user), as peer authentication
    /// needs. Requires root.
    #[arg(long)]
    pub as_user: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// `status`: one line each for the unit, the version, the ping directly and through nginx,
/// and the database.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the result as JSON on stdout (ok, and each line with its status and summary);
    /// the exit code is the same.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

pub use gitlab_mattermost_backup::args::{BackupArgs, RestoreArgs};
