//! gitlab-mattermost: compile one typed config into everything a Mattermost server needs.

pub mod nixos_options;
pub mod schema;
