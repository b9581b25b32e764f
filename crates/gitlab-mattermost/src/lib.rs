//! gitlab-mattermost: compile one typed config into everything a Mattermost server needs.

pub mod catalogue;
pub mod cli;
pub mod diag;
pub mod exec;
pub mod explain;
pub mod import;
pub mod lifecycle;
pub mod nixos_options;
pub mod ops;
pub mod output;
pub mod reference;
pub mod render;
pub mod schema;
pub mod sources;
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
