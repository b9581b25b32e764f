//! Operations on a configured host: registering the OAuth application in GitLab, checking
//! that every outside dependency answers (`doctor`), and backing up or restoring the
//! database, uploaded files and `config.json`.
//!
//! Everything here talks to real services, so errors are worded for the person at the
//! terminal: one line saying what failed and, where we know it, how to fix it.

pub mod apply;
pub mod args;
pub mod backup;
pub mod doctor;
pub mod files;
pub mod gitlab;
pub mod http;
pub mod integrations;
pub mod migrate;
pub mod mmctl;
pub mod tls;
pub mod tools;
pub mod users;
