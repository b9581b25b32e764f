//! gitlab-mattermost: compile one typed config into everything a Mattermost server needs.

pub mod catalogue;
pub mod cli;
pub mod diag;
pub mod exec;
pub mod explain;
pub mod import;
pub mod nixos_options;
pub mod ops;
pub mod output;
pub mod reference;
pub mod render;
pub mod schema;
pub mod sources;
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
    if !errors.is_empty() {
        return Err(errors);
    }
    let layered = sources::Layered::merge(layers)?;
    tracing::debug!(sources = ?layered.sources(), "merged config layers");
    validate::validate(&layered)
}
