//! The compiler: read, layer and validate one typed config, and render everything a Mattermost
//! server needs from it (environment file, systemd unit, sysusers.d/tmpfiles.d, nginx vhost);
//! plus `exec`, which the unit runs at every start. Nothing here talks to a network: the
//! importers and the operations commands are crates of their own, built on this one.

// The schema and the settings catalogue live in a crate of their own (compiled apart: a lower
// peak of memory); they are part of the compiler's API here as before.
pub use gitlab_mattermost_catalogue::{catalogue, nixos_options, reference, schema};
// Reading config files (bounded reads, TOML/JSON/Nix with positions, layering) and the
// diagnostics they produce: a crate of their own for the same reason.
pub use gitlab_mattermost_sources as sources;
pub use gitlab_mattermost_sources::diag;

pub mod config_args;
pub mod exec;
pub mod files;
pub mod lifecycle;
pub mod output;
pub mod render;
pub mod syntax;
pub mod validate;

use std::path::PathBuf;

/// Read, layer and validate config files plus `--set` overrides.
pub fn load(files: &[PathBuf], sets: &[String]) -> Result<validate::Plan, diag::Diagnostics> {
    let mut errors = diag::Diagnostics::default();
    let mut layers = Vec::new();
    for f in files {
        match sources::read_file(f) {
            Ok(l) => layers.push(l),
            Err(d) => errors.push(d),
        }
    }
    match sources::parse_overrides(sets) {
        Ok(l) if !sets.is_empty() => layers.push(l),
        Ok(_) => {}
        Err(e) => errors.0.extend(e.0),
    }
    // A file that cannot be parsed does not hide the problems of the others: they are
    // checked too, without the checks the broken file could have satisfied.
    let input = if errors.is_empty() {
        validate::Input::Complete
    } else {
        validate::Input::Partial
    };
    let layered = match sources::Layered::merge(layers) {
        Ok(l) => l,
        Err(e) => {
            errors.0.extend(e.0);
            return Err(errors);
        }
    };
    tracing::debug!(sources = ?layered.sources(), "merged config layers");
    match validate::validate_input(&layered, input) {
        Ok(plan) if errors.is_empty() => Ok(plan),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.0.extend(e.0);
            Err(errors)
        }
    }
}
