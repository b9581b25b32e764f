//! `migrate`: move an Omnibus Mattermost's data (database, files, plugins, config.json) onto
//! a host this tool configures, and prove nothing was lost.
//!
//! Two halves meet in a *bundle* directory:
//! - `migrate export` on the old host copies the files into the bundle, incrementally, with a
//!   SHA-256 of each; run it while Mattermost still serves (pre-sync), then again with
//!   `--final` once it is stopped: only the delta is copied, and the database is dumped
//!   (custom format, without owners or privileges) with an exact row count of every table.
//! - The bundle travels (`rsync -a --delete`, again only the delta), or stays where it is when
//!   old and new are the same host.
//! - `migrate import` on the new host checks every checksum, restores the dump so that the
//!   service role owns every object, copies the files owned by the service account, and
//!   compares both sides: rows per table, every file's checksum and owner, config.json.
//!
//! Nothing on the old host is changed, so it stays the rollback target.

pub mod bundle;
pub mod export;
pub mod import;
pub mod pg;
pub mod tree;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config_args::ConfigArgs;

/// `migrate …` subcommands.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// On the old (Omnibus) host: copy files into a bundle; with --final, also dump the database.
    #[command(after_help = "Examples (old host, as root):\n  \
        # Mattermost running: the pre-sync\n  \
        gitlab-mattermost migrate export --to /var/tmp/mattermost-move\n  \
        # Mattermost stopped: the delta and the database\n  \
        gitlab-ctl stop mattermost\n  \
        gitlab-mattermost migrate export --to /var/tmp/mattermost-move --final\n\n\
        Reads /var/opt/gitlab/mattermost/{data,plugins,client-plugins,config.json} under\n\
        --omnibus-root and the database over Omnibus's socket as gitlab-psql. Refuses --final while\n\
        any session is connected to the database (Mattermost still running). Changes nothing on\n\
        the old host. A second run copies only what changed (size or modification time).")]
    Export(ExportArgs),
    /// On the new host: restore a final bundle as the config says, then verify both sides.
    #[command(
        after_help = "Example (new host, as root, before the first `apply`):\n  \
        gitlab-mattermost migrate import /etc/gitlab-mattermost.toml --from /var/tmp/mattermost-move\n\n\
        Verifies the bundle's checksums, creates the role and database when missing (a database\n\
        holding tables is refused), restores the dump so that database.user owns every object,\n\
        copies data, plugins, client-plugins and config.json owned by the service account (the\n\
        config's account.uid/gid; the ids must be free or already that account's), then compares\n\
        rows per table, files and owners with what the old host exported (exit 1 on any\n\
        difference). A bundle without --final copies only the files (a pre-sync on this side).\n\
        Then `gitlab-mattermost apply` starts Mattermost."
    )]
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The old host's root: `/`, or a copy of its files.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub omnibus_root: PathBuf,
    /// The bundle directory: created (mode 0700), or a bundle of an earlier run.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Mattermost is stopped: copy the last changes and dump the database.
    #[arg(long = "final")]
    pub final_pass: bool,
    /// Omnibus's PostgreSQL socket directory.
    #[arg(long, value_name = "DIR", default_value = "/var/opt/gitlab/postgresql")]
    pub pg_host: String,
    #[arg(long, value_name = "PORT", default_value_t = 5432)]
    pub pg_port: u16,
    /// The operating-system account peer authentication maps to a superuser.
    #[arg(long, value_name = "USER", default_value = "gitlab-psql")]
    pub pg_user: String,
    #[arg(long, value_name = "NAME", default_value = "mattermost_production")]
    pub database: String,
    /// Where pg_dump and psql are: Omnibus's own (matching its server) when present, else PATH.
    #[arg(long, value_name = "DIR", default_value = "/opt/gitlab/embedded/bin")]
    pub pg_bin: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The bundle `migrate export` wrote (copied here, or on this host already).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    // The help text names a file pattern, not HTML.
    #[allow(rustdoc::invalid_html_tags)]
    /// Where the verification report goes (JSON); default
    /// /var/lib/gitlab-mattermost/migrations/verification-<UTC>.json.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// For tests only: where the record of what was placed lives (default
    /// /var/lib/gitlab-mattermost).
    #[arg(long, value_name = "DIR", hide = true, default_value = STATE_DIR)]
    pub state_dir: PathBuf,
}

/// The state directory shared with `apply`.
pub const STATE_DIR: &str = "/var/lib/gitlab-mattermost";

/// Human sizes for progress lines.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
