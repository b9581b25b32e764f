//! Every Mattermost setting the old module set, from every place it could come from, and
//! which one Mattermost saw. nixpkgs' order decides: the module derives settings from its
//! typed options, `settings` is merged over them (`recursiveUpdate`), and the unit's
//! environment overrides config.json, `EnvironmentFile=` last (systemd reads it after
//! `Environment=`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::bag::normalize;
use super::super::report::{Origin, Report, Section};
use crate::catalogue::{Catalogue, Setting};

/// Where a value comes from, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// What the module derived from a typed option (`siteUrl` is `ServiceSettings.SiteURL`).
    Option,
    /// `services.mattermost.settings`.
    Settings,
    /// `services.mattermost.environment`.
    Environment,
    /// `services.mattermost.environmentFile`.
    EnvironmentFile,
}

impl Layer {
    fn describe(self) -> &'static str {
        match self {
            Layer::Option => "the module's own value",
            Layer::Settings => "services.mattermost.settings",
            Layer::Environment => "services.mattermost.environment",
            Layer::EnvironmentFile => "services.mattermost.environmentFile",
        }
    }
}

/// One value for one setting.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub value: Value,
    pub origin: Origin,
    pub layer: Layer,
    /// A value the module chose by itself (a directory under dataDir): not reported when
    /// something overrides it.
    pub implicit: bool,
    /// Whether the value was in the world-readable Nix store (everything but a readable
    /// environment file outside it): a secret there is reported as exposed.
    pub in_store: bool,
}

/// Candidates per setting, by environment variable name.
#[derive(Debug, Default)]
pub struct Layers {
    by_env: BTreeMap<String, Vec<Candidate>>,
}

/// The winning value of each setting, by environment variable name.
pub type Resolved = BTreeMap<String, Candidate>;

impl Layers {
    /// Offer a value; one Mattermost could not parse is reported (with its origin) instead.
    pub fn offer(&mut self, setting: &Setting, candidate: Candidate, report: &mut Report) {
        match normalize(setting, &candidate.value) {
            Ok(value) => self
                .by_env
                .entry(setting.env_var.to_string())
                .or_default()
                .push(Candidate { value, ..candidate }),
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
    pub fn offer_path(&mut self, path: &str, candidate: Candidate, report: &mut Report) {
        if let Some(setting) = Catalogue::get().by_path(path) {
            self.offer(setting, candidate, report);
        }
    }

    /// The strongest candidate of each setting; every overridden one that was not the
    /// module's own choice is reported as not in effect.
    pub fn resolve(self, report: &mut Report) -> Resolved {
        let mut out = BTreeMap::new();
        for (env, mut list) in self.by_env {
            // Stable: within a layer the later offer wins.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(value: Value, layer: Layer) -> Candidate {
        Candidate {
            value,
            origin: Origin::Nixos(format!("{layer:?}")),
            layer,
            implicit: false,
            in_store: true,
        }
    }

    #[test]
    fn the_environment_file_beats_the_environment_beats_settings_beats_options() {
        let mut report = Report::new("t");
        let mut layers = Layers::default();
        let path = "TeamSettings.SiteName";
        for (value, layer) in [
            ("file", Layer::EnvironmentFile),
            ("option", Layer::Option),
            ("env", Layer::Environment),
            ("settings", Layer::Settings),
        ] {
            layers.offer_path(path, candidate(value.into(), layer), &mut report);
        }
        let resolved = layers.resolve(&mut report);
        assert_eq!(
            resolved["MM_TEAMSETTINGS_SITENAME"].value,
            Value::from("file")
        );
        assert_eq!(report.dropped.len(), 3, "{report}");
        assert!(report.to_string().contains(
            "not in effect: services.mattermost.environmentFile overrides services.mattermost.settings"
        ));
    }

    #[test]
    fn values_mattermost_cannot_parse_are_dropped_and_an_overridden_default_is_not_reported() {
        let mut report = Report::new("t");
        let mut layers = Layers::default();
        let path = "ServiceSettings.MaximumLoginAttempts";
        layers.offer_path(path, candidate("ten".into(), Layer::Settings), &mut report);
        let mut default = candidate(5.into(), Layer::Option);
        default.implicit = true;
        layers.offer_path(path, default, &mut report);
        layers.offer_path(path, candidate("7".into(), Layer::Environment), &mut report);
        let resolved = layers.resolve(&mut report);
        assert_eq!(
            resolved["MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS"].value,
            Value::from(7)
        );
        assert_eq!(report.dropped.len(), 1, "{report}");
        assert!(report.dropped[0].text.contains("could not parse"));
    }
}
