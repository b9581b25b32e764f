//! Every Mattermost setting the inputs set, from every source, and which one was in effect.
//!
//! Omnibus's order decides: `mattermost['env']` is merged last, over the variables Omnibus
//! generated from its own keys; both are environment variables, which Mattermost reads over
//! config.json; pre-11.0 keys were no longer passed at all after 11.0, so config.json (what
//! the System Console wrote) wins over them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::report::{Origin, Report, Section};
use crate::catalogue::{Catalogue, Setting, SettingType};
use crate::validate::setting_env_value;

/// How strong a source of values is: the importers' layers, weakest first.
pub trait Precedence: Copy + Ord + std::fmt::Debug {
    /// The source, as the report names it when it overrides another.
    fn describe(self) -> &'static str;
}

/// Where a candidate value comes from in an Omnibus installation, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// A pre-11.0 `mattermost['<section>_<key>']`.
    Legacy,
    /// A value in config.json.
    ConfigJson,
    /// A variable Omnibus generated (from its keys or its defaults).
    Omnibus,
    /// An `MM_*` entry of `mattermost['env']`.
    Env,
}

impl Precedence for Layer {
    fn describe(self) -> &'static str {
        match self {
            Layer::Legacy => "a pre-11.0 key",
            Layer::ConfigJson => "config.json",
            Layer::Omnibus => "a variable Omnibus generated",
            Layer::Env => "mattermost['env']",
        }
    }
}

/// One value for one setting.
#[derive(Debug, Clone)]
pub struct Candidate<L = Layer> {
    pub value: Value,
    pub origin: Origin,
    pub layer: L,
    /// A default the source chose by itself rather than something the user wrote: not
    /// reported when overridden.
    pub implicit: bool,
    /// How the input's key became this setting (e.g. the pre-11.0 rule), for the report.
    pub via: Option<String>,
    /// Whether the value sat in the world-readable Nix store: a secret there is reported as
    /// exposed.
    pub in_store: bool,
}

/// Candidates per setting, by environment variable name.
#[derive(Debug)]
pub struct Bag<L = Layer> {
    by_env: BTreeMap<String, Vec<Candidate<L>>>,
}

impl<L> Default for Bag<L> {
    fn default() -> Self {
        Bag {
            by_env: BTreeMap::new(),
        }
    }
}

/// The winning value of each setting, by environment variable name.
pub type Resolved<L = Layer> = BTreeMap<String, Candidate<L>>;

impl<L: Precedence> Bag<L> {
    /// Offer a value for `setting`; it is type-checked first, and a value Mattermost could
    /// not parse is reported (with where it came from) instead of kept.
    pub fn offer(&mut self, setting: &Setting, candidate: Candidate<L>, report: &mut Report) {
        match normalize(setting, &candidate.value) {
            Ok(value) => {
                self.by_env
                    .entry(setting.env_var.to_string())
                    .or_default()
                    .push(Candidate { value, ..candidate });
            }
            Err(msg) => report.add(
                Section::Dropped,
                Some(candidate.origin),
                format!(
                    "{} ({}): Mattermost could not parse this value: {msg}",
                    setting.path(),
                    setting.env_var
                ),
            ),
        }
    }

    /// Offer a value for `Category.Field`, which must be in the catalogue.
    pub fn offer_path(&mut self, path: &str, candidate: Candidate<L>, report: &mut Report) {
        if let Some(setting) = Catalogue::get().by_path(path) {
            self.offer(setting, candidate, report);
        }
    }

    /// The strongest candidate of each setting (the later one within a layer, as the last
    /// assignment wins); every overridden one the user wrote is reported as not in effect.
    pub fn resolve(self, report: &mut Report) -> Resolved<L> {
        let mut out = BTreeMap::new();
        for (env, mut list) in self.by_env {
            // Stable sort: equal layers keep source order, so the last one wins.
            list.sort_by_key(|c| c.layer);
            let Some(winner) = list.pop() else { continue };
            let name = Catalogue::get()
                .by_env(&env)
                .map_or(env.clone(), Setting::path);
            for loser in list.into_iter().filter(|c| !c.implicit) {
                let why = if loser.layer == winner.layer {
                    "set again later".to_string()
                } else {
                    format!(
                        "{} overrides {}",
                        winner.layer.describe(),
                        loser.layer.describe()
                    )
                };
                report.add(
                    Section::Dropped,
                    Some(loser.origin),
                    format!(
                        "{name}: not in effect: {why} (the value in effect comes from {})",
                        winner.origin
                    ),
                );
            }
            out.insert(env, winner);
        }
        out
    }
}

/// Check that Mattermost can parse `value` for this setting, and store it in its natural
/// JSON type (`"10"` for an integer setting becomes 10) so the config reads naturally.
pub fn normalize(setting: &Setting, value: &Value) -> Result<Value, String> {
    setting_env_value(setting, value)?;
    Ok(match (setting.ty, value) {
        (SettingType::Bool, Value::String(s)) => Value::Bool(s == "true"),
        (SettingType::Int | SettingType::Int64, Value::String(s)) => {
            s.parse::<i64>().map_or_else(|_| value.clone(), Value::from)
        }
        (SettingType::String, Value::Number(n)) => Value::String(n.to_string()),
        (SettingType::String, Value::Bool(b)) => Value::String(b.to_string()),
        (SettingType::Json, Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| value.clone())
        }
        _ => value.clone(),
    })
}

/// How a value is shown in the report: secrets never are.
pub fn show(setting: &Setting, value: &Value) -> String {
    if setting.is_secret() {
        return "<secret>".into();
    }
    let s = value.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(path: &str) -> &'static Setting {
        Catalogue::get().by_path(path).expect("known setting")
    }

    fn cand(v: Value, layer: Layer, line: u32) -> Candidate {
        Candidate {
            value: v,
            origin: Origin::rb(&"site.rb".into(), gitlab_rb::Pos::new(line, 1), "k"),
            layer,
            implicit: false,
            via: None,
            in_store: false,
        }
    }

    #[test]
    fn env_beats_config_json_beats_legacy() {
        let mut report = Report::new("t");
        let mut bag = Bag::default();
        let s = setting("ServiceSettings.MaximumLoginAttempts");
        bag.offer(s, cand("10".into(), Layer::Env, 1), &mut report);
        bag.offer(s, cand(5.into(), Layer::Legacy, 2), &mut report);
        bag.offer(s, cand(7.into(), Layer::ConfigJson, 3), &mut report);
        let resolved = bag.resolve(&mut report);
        assert_eq!(resolved[s.env_var].value, Value::from(10));
        assert_eq!(report.dropped.len(), 2);
    }

    #[test]
    fn unparseable_values_are_reported_not_kept() {
        let mut report = Report::new("t");
        let mut bag = Bag::default();
        let s = setting("ServiceSettings.MaximumLoginAttempts");
        bag.offer(s, cand("ten".into(), Layer::Env, 4), &mut report);
        assert!(bag.resolve(&mut report).is_empty());
        assert!(report.dropped[0].to_string().contains("site.rb:4:1 k"));
    }

    #[test]
    fn secrets_are_never_shown() {
        assert_eq!(
            show(setting("EmailSettings.SMTPPassword"), &"pw".into()),
            "<secret>"
        );
        assert_eq!(show(setting("TeamSettings.SiteName"), &"x".into()), "\"x\"");
    }
}
