//! Every Mattermost setting the old module set, from every place it could come from, and
//! which one Mattermost saw. nixpkgs' order decides: the module derives settings from its
//! typed options, `settings` is merged over them (`recursiveUpdate`), and the unit's
//! environment overrides config.json, `EnvironmentFile=` last (systemd reads it after
//! `Environment=`).

use super::super::bag::{self, Precedence};

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

impl Precedence for Layer {
    fn describe(self) -> &'static str {
        match self {
            Layer::Option => "the module's own value",
            Layer::Settings => "services.mattermost.settings",
            Layer::Environment => "services.mattermost.environment",
            Layer::EnvironmentFile => "services.mattermost.environmentFile",
        }
    }
}

/// One value for one setting; `in_store` is true for everything but a readable environment
/// file outside the store, `implicit` for a value the module chose by itself (a directory
/// under dataDir).
pub type Candidate = bag::Candidate<Layer>;

/// Candidates per setting, in nixpkgs' order.
pub type Layers = bag::Bag<Layer>;

/// The winning value of each setting, by environment variable name.
pub type Resolved = bag::Resolved<Layer>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Origin, Report};
    use serde_json::Value;

    fn candidate(value: Value, layer: Layer) -> Candidate {
        Candidate {
            value,
            origin: Origin::Nixos(format!("{layer:?}")),
            layer,
            implicit: false,
            via: None,
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
