//! The service's data on disk: `backup` and `restore` (its own backups, and the database dump
//! and files archive of GitLab's Omnibus backups), and the upgrade guard the unit runs before
//! every start, which backs up before a new Mattermost release migrates the database. Built on
//! the compiler (`gitlab-mattermost-core`); no network client: it runs PostgreSQL's own tools.

pub mod args;
pub mod backup;
pub mod guard;
pub mod paths;
pub mod tools;
pub mod upgrade;
pub mod users;

// The compiler's modules, under the names this crate's code has always used.
#[cfg(test)]
use gitlab_mattermost_core::load;
use gitlab_mattermost_core::{config_args, diag, lifecycle, output, schema, validate};
