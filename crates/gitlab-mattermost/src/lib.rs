//! The `gitlab-mattermost` command: a thin shell (argument parsing, exit codes) over the
//! workspace's crates, each with one job:
//! - `gitlab-mattermost-core`: the compiler and `exec`;
//! - `gitlab-mattermost-backup`: backup, restore and the upgrade guard;
//! - `gitlab-mattermost-import` (feature `full`): the importers and `explain`;
//! - `gitlab-mattermost-ops` (feature `full`): apply, doctor, register, integrations, mmctl,
//!   migrate.
//!
//! Their modules are re-exported here under the paths the command and its tests use.

pub mod cli;

pub use gitlab_mattermost_core::{
    catalogue, diag, exec, files, lifecycle, load, nixos_options, output, reference, render,
    schema, sources, syntax, validate,
};
#[cfg(feature = "full")]
pub use gitlab_mattermost_import::{self as import, explain};
#[cfg(feature = "full")]
pub use gitlab_mattermost_ops as ops;
