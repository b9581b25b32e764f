//! The config-file arguments every command that reads a config shares.

use std::path::PathBuf;

use clap::Args;

/// Where the commands look for the config when none is given (and GITLAB_MATTERMOST_CONFIG is
/// not set), as Omnibus's commands read /etc/gitlab/gitlab.rb.
pub const DEFAULT_CONFIG: &str = "/etc/gitlab-mattermost.toml";

/// Config files and overrides, shared by the commands that read a config.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Config files (*.toml, *.json, *.nix); later files override earlier ones.
    #[arg(
        value_name = "CONFIG",
        env = "GITLAB_MATTERMOST_CONFIG",
        default_value = DEFAULT_CONFIG
    )]
    pub files: Vec<PathBuf>,

    /// Override one value, e.g. `--set smtp.port=587` (the value is read as TOML, else as a
    /// string; the key is a TOML dotted key, so quote a part holding dots:
    /// `--set 'integrations.gitlab_projects."my.group/app".username=GitLab'`). Applied after
    /// all files.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}
