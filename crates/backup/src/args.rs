//! Command-line arguments of `backup` and `restore`.

use std::path::PathBuf;

use clap::Args;

use crate::config_args::ConfigArgs;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Directory to create the backup in (a new dated subdirectory).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    // The help text names a directory pattern, not HTML.
    #[allow(rustdoc::invalid_html_tags)]
    /// After a complete backup, keep only the N newest complete backups `backup` made in DIR
    /// (mattermost-backup-<date> directories with a manifest); nothing else there is touched.
    #[arg(long, value_name = "N")]
    pub keep: Option<std::num::NonZeroUsize>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A backup directory written by `gitlab-mattermost backup`.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "omnibus_database",
        conflicts_with_all = ["omnibus_database", "omnibus_files"]
    )]
    pub from: Option<PathBuf>,
    /// Instead of --from: the database dump of GitLab's Omnibus Mattermost backup
    /// (`pg_dump mattermost_production | gzip > mattermost_dbdump_DATE.sql.gz`). Restored as
    /// the config's database role, which ends up owning every object. Needs --omnibus-files.
    #[arg(long, value_name = "FILE", requires = "omnibus_files")]
    pub omnibus_database: Option<PathBuf>,
    /// With --omnibus-database: the files archive of that backup (`tar -zcvf
    /// mattermost_data_DATE.gz -C /var/opt/gitlab/mattermost data config.json`). data/ goes
    /// into the files directory, config.json into the config directory.
    #[arg(long, value_name = "FILE", requires = "omnibus_database")]
    pub omnibus_files: Option<PathBuf>,
    /// Restore over a database that has tables and over existing files (the files are moved
    /// aside, not deleted). With --omnibus-database a local database is dropped and created
    /// again first (the dump cannot replace objects).
    #[arg(long)]
    pub force: bool,
}
