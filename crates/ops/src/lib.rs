//! Operations on a configured host: registering the OAuth application in GitLab, checking
//! that every outside dependency answers (`doctor`), showing what runs and answers
//! (`status`), and backing up or restoring the database, uploaded files and `config.json`.
//!
//! Everything here talks to real services, so errors are worded for the person at the
//! terminal: one line saying what failed and, where we know it, how to fix it.

pub mod apply;
pub mod args;
pub mod doctor;
pub mod gitlab;
pub mod http;
pub mod integrations;
pub mod logs;
pub mod migrate;
pub mod mmctl;
pub mod status;
pub mod tls;

// What the service's start needs lives in its own crate (the lean binary links it).
pub use gitlab_mattermost_backup::{backup, tools, users};
pub use gitlab_mattermost_core::files;

// The compiler's modules, under the names this crate's code has always used.
#[cfg(test)]
use gitlab_mattermost_core::load;
use gitlab_mattermost_core::{config_args, diag, lifecycle, output, render, schema, validate};
