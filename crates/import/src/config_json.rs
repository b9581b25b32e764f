//! Mattermost's own config.json: every setting that differs from Mattermost's default is a
//! candidate for the import; the rest is listed as dropped (at its default) in one line.

use std::sync::Arc;

use serde_json::Value;

use super::bag::{Bag, Candidate, Layer};
use super::legacy::{self, Resolution};
use super::mapping::OMNIBUS_ENV_OWNED;
use super::report::{Origin, Report, Section};
use crate::catalogue::{Catalogue, Setting, SettingType};

/// Parse config.json text; a syntax error names line and column.
pub fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        format!(
            "line {}, column {}: invalid JSON: {e}",
            e.line(),
            e.column()
        )
    })
}

/// Plugin settings and states: Mattermost's own, kept in config.json.
const PLUGIN_OWNED: [&str; 2] = ["PluginSettings.Plugins", "PluginSettings.PluginStates"];

/// Offer every non-default setting of config.json (read from `file`) to the bag.
pub fn import(file: &Arc<str>, config: &Value, bag: &mut Bag, report: &mut Report) {
    let mut defaults = Vec::new();
    let Some(categories) = config.as_object() else {
        report.add(
            Section::Dropped,
            Some(Origin::config_json(file, "(top level)")),
            "config.json is not a JSON object; nothing imported from it",
        );
        return;
    };
    for (category, value) in categories {
        walk(file, category, value, bag, report, &mut defaults);
    }
    if !defaults.is_empty() {
        defaults.sort();
        report.add(
            Section::Dropped,
            Some(Origin::config_json(file, "(many)")),
            format!(
                "{} settings at Mattermost's default value (not carried; the default applies anyway): {}",
                defaults.len(),
                defaults.join(", ")
            ),
        );
    }
}

fn walk(
    file: &Arc<str>,
    path: &str,
    value: &Value,
    bag: &mut Bag,
    report: &mut Report,
    defaults: &mut Vec<String>,
) {
    let catalogue = Catalogue::get();
    if PLUGIN_OWNED.iter().any(|p| p.eq_ignore_ascii_case(path)) {
        // Never carried, never printed: they may hold plugin secrets, and the environment
        // would lock them (the compiler refuses them in `settings`).
        report.add(
            Section::Skipped,
            Some(Origin::config_json(file, path)),
            format!(
                "{path}: stays in config.json, Mattermost's own (System Console > Plugins); copy config.json to the new \
                 host and plugins keep their states and settings, secrets included"
            ),
        );
        return;
    }
    match catalogue.lookup(path) {
        Some(s) if s.ty != SettingType::Nested => {
            let origin = Origin::config_json(file, path);
            leaf(s, origin, value, bag, report, defaults)
        }
        found => {
            let is_category = !path.contains('.')
                && catalogue
                    .iter()
                    .any(|s| s.category.eq_ignore_ascii_case(path));
            match value.as_object() {
                Some(map) if found.is_some() || is_category => {
                    for (k, v) in map {
                        walk(file, &format!("{path}.{k}"), v, bag, report, defaults);
                    }
                }
                _ => unknown(Origin::config_json(file, path), path, value, report),
            }
        }
    }
}

fn leaf(
    setting: &'static Setting,
    origin: Origin,
    value: &Value,
    bag: &mut Bag,
    report: &mut Report,
    defaults: &mut Vec<String>,
) {
    if value.is_null() || is_default(setting, value) {
        defaults.push(setting.path());
        return;
    }
    if OMNIBUS_ENV_OWNED.contains(&setting.path().as_str()) {
        report.add(
            Section::Dropped,
            Some(origin),
            format!(
                "{}: Omnibus always set {} in the environment (from gitlab.rb, gitlab-secrets.json or its default), which overrides config.json, so this value was not in effect",
                setting.path(),
                setting.env_var
            ),
        );
        return;
    }
    bag.offer(
        setting,
        Candidate {
            in_store: false,
            value: value.clone(),
            origin,
            layer: Layer::ConfigJson,
            implicit: false,
            via: None,
        },
        report,
    );
}

/// A setting name today's Mattermost does not know (an older config.json keeps removed ones).
fn unknown(origin: Origin, path: &str, value: &Value, report: &mut Report) {
    let origin = Some(origin);
    let mut env = format!("MM_{}", path.replace('.', "_").to_ascii_uppercase());
    if value.is_object() {
        // A whole removed section: match the removed prefix.
        env.push('_');
    }
    match legacy::resolve(&env) {
        Resolution::Removed { note } => report.add(Section::Renamed, origin, format!("{path}: {note}")),
        Resolution::Renamed { to, note } => report.add(
            Section::Renamed,
            origin,
            format!("{path}: {note}; set {} by hand if you need it (value not carried from config.json)", to.path()),
        ),
        Resolution::Known(_) | Resolution::Unknown { .. } if value.is_null() => {}
        Resolution::Known(_) | Resolution::Unknown { .. } => {
            let hint = Catalogue::get()
                .suggest(path)
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            report.add(
                Section::Dropped,
                origin,
                format!("{path}: not a setting of this Mattermost version (it would be ignored){hint}"),
            );
        }
    }
}

/// Whether a config.json value equals the catalogue's default (a Go literal, mostly JSON).
fn is_default(setting: &Setting, value: &Value) -> bool {
    let Ok(default) = serde_json::from_str::<Value>(setting.default.trim()) else {
        return false;
    };
    match (&default, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        // Mattermost writes integers of string settings as strings and vice versa.
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a)) => {
            *a == b.to_string()
        }
        _ => default == *value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_non_defaults_are_offered() {
        let config = json!({
            "ServiceSettings": {"MaximumLoginAttempts": 20, "ReadTimeout": 300, "SiteURL": "https://x"},
            "TeamSettings": {"SiteName": "Mattermost", "MaxUsersPerTeam": 500},
            "WebrtcSettings": {"Enable": false},
            "BogusSettings": {"X": 1},
        });
        let mut bag = Bag::default();
        let mut report = Report::new("t");
        import(&"config.json".into(), &config, &mut bag, &mut report);
        let resolved = bag.resolve(&mut report);
        assert_eq!(
            resolved.keys().cloned().collect::<Vec<_>>(),
            [
                "MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS",
                "MM_TEAMSETTINGS_MAXUSERSPERTEAM"
            ]
        );
        let dropped = report.texts(Section::Dropped).join("\n");
        assert!(dropped.contains("ServiceSettings.ReadTimeout"), "{dropped}");
        assert!(
            dropped.contains("ServiceSettings.SiteURL: Omnibus always set"),
            "{dropped}"
        );
        assert!(dropped.contains("BogusSettings"), "{dropped}");
        assert!(report.texts(Section::Renamed)[0].contains("Calls plugin"));
    }
}
