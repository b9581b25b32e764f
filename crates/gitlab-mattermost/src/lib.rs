//! gitlab-mattermost: compile one typed config into everything a Mattermost server needs.

pub mod catalogue;
pub mod diag;
pub mod schema;
pub mod sources;
