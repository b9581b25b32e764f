//! The three places the old module took Mattermost settings from besides its typed options:
//! `settings` (config.json's shape, in the Nix store), `environment` (the unit's
//! `Environment=`, in the store too) and `environmentFile` (read by systemd as root).
//!
//! `MM_*` variables are settings and go through the catalogue. Other variables are plain
//! environment; those that may be secrets (every one in the environment file, and the ones
//! in `environment` whose names say so) go to one root-only file in systemd's
//! `EnvironmentFile=` syntax, loaded by a drop-in, since the config's `environment` is written
//! in clear.

use serde_json::Value;

use super::layers::{Candidate, Layer};
use super::options::EnvFile;
use super::{Module, Run};
use crate::catalogue::{is_env_style, is_secret_env_name, Catalogue, SettingType};
use crate::legacy::{self, Resolution};
use crate::render::env_file;
use crate::report::{Origin, Section};
use crate::secrets::Secret;

/// Read `settings`, `environment` and `environmentFile`.
pub fn read(run: &mut Run) {
    settings(run);
    let mut private = Vec::new();
    environment(run, &mut private);
    environment_file(run, &mut private);
    private_environment(run, private);
}

/// A variable kept out of the config: name, value and where it came from.
type Private = (String, String, Origin);

fn settings(run: &mut Run) {
    match run.module.take("settings") {
        Some(Value::Object(categories)) if categories.is_empty() => {
            run.report(Section::Carried, "settings", "none: nothing to carry");
        }
        Some(Value::Object(categories)) => {
            for (category, value) in &categories {
                walk(run, category, value);
            }
        }
        None => {}
        Some(other) => run.report(
            Section::Dropped,
            "settings",
            format!("expected an attribute set, found {other}; not imported"),
        ),
    }
}

/// A `settings` entry: a category, a nested struct or a setting.
fn walk(run: &mut Run, path: &str, value: &Value) {
    let catalogue = Catalogue::get();
    let origin = Module::origin(&format!("settings.{path}"));
    match catalogue.lookup(path) {
        Some(s) if s.ty != SettingType::Nested => {
            if value.is_null() {
                run.ctx.report.add(
                    Section::Dropped,
                    Some(origin),
                    "null: unset, Mattermost's default applies",
                );
                return;
            }
            let candidate = Candidate {
                via: None,
                value: value.clone(),
                origin,
                layer: Layer::Settings,
                implicit: false,
                in_store: true,
            };
            run.layers.offer(s, candidate, &mut run.ctx.report);
        }
        found => {
            let category = !path.contains('.')
                && catalogue
                    .iter()
                    .any(|s| s.category.eq_ignore_ascii_case(path));
            match value.as_object() {
                Some(map) if found.is_some() || category => {
                    for (key, inner) in map {
                        walk(run, &format!("{path}.{key}"), inner);
                    }
                }
                _ => {
                    let hint = catalogue
                        .suggest(path)
                        .map(|s| format!("; did you mean {s}?"))
                        .unwrap_or_default();
                    run.ctx.report.add(
                        Section::Dropped,
                        Some(origin),
                        format!("{path} is not a Mattermost setting (Mattermost ignores it){hint}"),
                    );
                }
            }
        }
    }
}

fn environment(run: &mut Run, private: &mut Vec<Private>) {
    let variables = match run.module.take("environment") {
        Some(Value::Object(map)) => map,
        None => return,
        Some(other) => {
            run.report(
                Section::Dropped,
                "environment",
                format!("expected an attribute set, found {other}; not imported"),
            );
            return;
        }
    };
    if variables.is_empty() {
        run.report(Section::Carried, "environment", "none: nothing to carry");
    }
    for (name, value) in variables {
        let text = match value {
            Value::String(s) => s,
            Value::Null => continue,
            other => other.to_string(),
        };
        let origin = Module::origin(&format!("environment.{name}"));
        if is_env_style(&name) {
            setting_variable(run, &name, text, origin, Layer::Environment, true);
        } else if mmctl(run, &name, &origin) {
        } else if is_secret_env_name(&name) {
            run.ctx.report.add(Section::Derived, Some(origin.clone()), format!("{name} looks like a secret, and services.mattermost.environment put it in the Nix store: it goes to the private environment file (see below); change it after the move"));
            private.push((name, text, origin));
        } else {
            run.ctx
                .set_out(&["environment", &name], Value::String(text.clone()));
            run.ctx.report.add(
                Section::Carried,
                Some(origin),
                format!("environment.{name} = {}", Value::String(text)),
            );
        }
    }
}

/// `MMCTL_*` configure mmctl, not Mattermost.
fn mmctl(run: &mut Run, name: &str, origin: &Origin) -> bool {
    if !name.to_ascii_uppercase().starts_with("MMCTL_") {
        return false;
    }
    run.ctx.report.add(
        Section::Dropped,
        Some(origin.clone()),
        format!("{name} configures mmctl, not Mattermost: mattermost-admin sets what it needs"),
    );
    true
}

/// An `MM_*` variable: the setting it names, at `layer`.
fn setting_variable(
    run: &mut Run,
    name: &str,
    value: String,
    origin: Origin,
    layer: Layer,
    in_store: bool,
) {
    let setting = match legacy::resolve(name) {
        Resolution::Known(s) => s,
        Resolution::Renamed { to, note } => {
            run.ctx.report.add(
                Section::Renamed,
                Some(origin.clone()),
                format!("{name}: {note}; carried as {}", to.path()),
            );
            to
        }
        Resolution::Removed { note } => {
            run.ctx.report.add(
                Section::Renamed,
                Some(origin),
                format!("{name}: {note}; not carried"),
            );
            return;
        }
        Resolution::Unknown { suggestion } => {
            let hint = suggestion
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            run.ctx.report.add(
                Section::Dropped,
                Some(origin),
                format!("{name} is not a Mattermost setting (Mattermost ignores it){hint}"),
            );
            return;
        }
    };
    let candidate = Candidate {
        via: None,
        value: Value::String(value),
        origin,
        layer,
        implicit: false,
        in_store,
    };
    run.layers.offer(setting, candidate, &mut run.ctx.report);
}

/// The environment file: read when this host can (as root on the old host), split into
/// settings and secret files; otherwise the report says what it must hold.
fn environment_file(run: &mut Run, private: &mut Vec<Private>) {
    let Some(path) = run.module.string("environmentFile", &mut run.ctx.report) else {
        run.report(
            Section::Carried,
            "environmentFile",
            "not set: nothing to read",
        );
        return;
    };
    let in_store = path.starts_with("/nix/store/");
    if in_store {
        run.report(Section::Derived, "environmentFile", format!("{path} is in the Nix store, where every local user can read it: change every secret in it after the move"));
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            unreadable(run, &path, e.to_string());
            return;
        }
    };
    let variables = match env_file::parse(&text) {
        Ok(v) => v,
        Err(e) => {
            // The parser's messages name a line, never a value.
            unreadable(run, &path, format!("not in EnvironmentFile= syntax: {e}"));
            return;
        }
    };
    run.report(
        Section::Carried,
        "environmentFile",
        format!(
            "{path}: read, {} variable(s); each is listed with what became of it",
            variables.len()
        ),
    );
    run.facts.env_file = Some(EnvFile {
        path: path.clone(),
        unreadable: None,
    });
    for (name, value) in variables {
        let origin = Module::origin(&format!("environmentFile {path} {name}"));
        if is_env_style(&name) {
            setting_variable(run, &name, value, origin, Layer::EnvironmentFile, in_store);
        } else if !mmctl(run, &name, &origin) {
            private.push((name, value, origin));
        }
    }
}

fn unreadable(run: &mut Run, path: &str, why: String) {
    run.report(Section::Derived, "environmentFile", format!("{path} could not be read here ({why}): run the import again as root on the host, where its MM_* variables are split into settings and secret files. Until then, the secrets section names what this config needs from it; any other variable in it is not carried"));
    run.facts.env_file = Some(EnvFile {
        path: path.to_string(),
        unreadable: Some(why),
    });
}

/// Variables that are not Mattermost settings and may be secrets: one root-only file,
/// loaded with `EnvironmentFile=` by a drop-in of the unit (systemd reads it as root; the
/// `exec` wrapper passes the environment on to Mattermost).
fn private_environment(run: &mut Run, private: Vec<Private>) {
    if private.is_empty() {
        return;
    }
    let names: Vec<&str> = private.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut text = String::new();
    for (name, value, origin) in &private {
        text.push_str(&format!("{name}={}\n", env_file::quote(value)));
        run.ctx.report.add(
            Section::Carried,
            Some(origin.clone()),
            format!("{name}: into the private environment file (value not shown)"),
        );
    }
    let path = run.ctx.secrets.add(Secret {
        file: "environment".into(),
        what: format!(
            "the variables {} in systemd EnvironmentFile= syntax (NAME=value lines)",
            names.join(", ")
        ),
        origin: private.first().map(|(_, _, o)| o.clone()),
        value: Some(text),
        how_to_get: None,
    });
    run.extra(
        Module::origin("environmentFile"),
        &["systemd", "services", "mattermost", "serviceConfig", "EnvironmentFile"],
        Value::String(path),
        "the environment variables that are not Mattermost settings, kept out of the rendered files",
    );
}
