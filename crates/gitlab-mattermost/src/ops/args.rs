//! Command-line arguments of the operations commands (wired into [`crate::cli::Command`]).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::ConfigArgs;

/// `gitlab …` subcommands.
#[derive(Debug, Subcommand)]
pub enum GitlabCommand {
    /// Create or update the OAuth application "GitLab Mattermost" in GitLab.
    #[command(after_help = "Example:\n  \
        gitlab-mattermost gitlab register /etc/gitlab-mattermost.toml --token-file /root/gitlab-admin-token\n\n\
        Needs a personal access token (scope api) of a GitLab administrator. Writes the\n\
        application id and secret to gitlab.id_file and gitlab.secret_file (mode 0600).\n\
        Reruns change nothing while the application matches the config; a changed\n\
        site URL (site_url, else external_url) replaces the application (GitLab's API\n\
        cannot update redirect URIs).")]
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
    /// Issue a new application secret (and rewrite gitlab.secret_file).
    #[arg(long)]
    pub rotate: bool,
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
}

impl CheckName {
    pub const ALL: [CheckName; 6] = [
        CheckName::Smtp,
        CheckName::Certificates,
        CheckName::Oauth,
        CheckName::Database,
        CheckName::Secrets,
        CheckName::Host,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Smtp => "smtp",
            CheckName::Certificates => "certificates",
            CheckName::Oauth => "oauth",
            CheckName::Database => "database",
            CheckName::Secrets => "secrets",
            CheckName::Host => "host",
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

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Directory to create the backup in (a new dated subdirectory).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A backup directory written by `gitlab-mattermost backup`.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Restore over a database that has tables and over existing files (the files are moved
    /// aside, not deleted).
    #[arg(long)]
    pub force: bool,
}
