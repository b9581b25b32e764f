//! Mattermost's real settings: every name Mattermost reads, its type and its default.
//!
//! Mattermost silently ignores unknown `MM_*` variables and values it cannot parse, so every
//! setting the compiler emits is looked up here first. The table is `data/mattermost-settings.tsv`
//! (its header names the upstream source).

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The type of a setting's value, as Mattermost parses it from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    Bool,
    /// Go `int` (64-bit on the platforms Mattermost ships for, but values are bounded by i32
    /// in practice; we accept i64).
    Int,
    Int64,
    String,
    /// `[]string`: space-separated in the environment.
    StringList,
    /// JSON-encoded value (maps, raw JSON, lists of structs).
    Json,
    /// A nested struct: its fields are separate settings (`Category.Struct.Field`).
    Nested,
}

impl SettingType {
    fn from_go(go: &str) -> SettingType {
        match go.trim_start_matches('*') {
            "bool" => SettingType::Bool,
            "int" => SettingType::Int,
            "int64" => SettingType::Int64,
            "string" => SettingType::String,
            "[]string" => SettingType::StringList,
            t if t.starts_with("map[") || t.starts_with("[]") || t.starts_with("json.") => {
                SettingType::Json
            }
            _ => SettingType::Nested,
        }
    }

    /// A short human name, used in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            SettingType::Bool => "a boolean (true or false)",
            SettingType::Int => "an integer",
            SettingType::Int64 => "a 64-bit integer",
            SettingType::String => "a string",
            SettingType::StringList => "a list of strings without spaces",
            SettingType::Json => "a JSON value (object or list)",
            SettingType::Nested => "a section of settings",
        }
    }
}

/// One Mattermost setting.
#[derive(Debug, Clone)]
pub struct Setting {
    /// `ServiceSettings`
    pub category: String,
    /// `SiteURL`, or `Struct.Field` for nested settings.
    pub field: String,
    pub go_type: String,
    pub ty: SettingType,
    /// Default as written in Mattermost's source (Go literal).
    pub default: String,
    /// `MM_SERVICESETTINGS_SITEURL`
    pub env_var: String,
    pub notes: String,
}

impl Setting {
    /// `ServiceSettings.SiteURL`
    pub fn path(&self) -> String {
        format!("{}.{}", self.category, self.field)
    }

    /// Settings that hold a secret by their name: never inline, never in a rendered file.
    pub fn is_secret(&self) -> bool {
        is_secret_env_name(&self.env_var)
    }
}

/// Whether an `MM_*` name holds a secret (PASSWORD, SECRET, KEY, SALT, DATASOURCE and friends).
pub fn is_secret_env_name(env_var: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "PASSWORD",
        "SECRET",
        "KEY",
        "SALT",
        "DATASOURCE",
        "DATASOURCEREPLICAS",
        "DATASOURCESEARCHREPLICAS",
        "TOKEN",
    ];
    // Keys named *KEY that are not secrets: paths to key files and public keys are fine.
    const NOT_SECRET: &[&str] = &[
        "MM_SERVICESETTINGS_TLSKEYFILE",
        "MM_SAMLSETTINGS_PRIVATEKEYFILE",
        "MM_SAMLSETTINGS_PUBLICCERTIFICATEFILE",
        "MM_LDAPSETTINGS_PRIVATEKEYFILE",
        "MM_ELASTICSEARCHSETTINGS_CLIENTKEY",
    ];
    !NOT_SECRET.contains(&env_var) && SUFFIXES.iter().any(|s| env_var.ends_with(s))
}

/// The whole catalogue, indexed by environment variable name.
pub struct Catalogue {
    by_env: BTreeMap<String, Setting>,
    /// Lower-cased `category.field` to env var, for case-insensitive lookups.
    by_path: BTreeMap<String, String>,
}

const TSV: &str = include_str!("../data/mattermost-settings.tsv");

impl Catalogue {
    /// The catalogue, parsed once.
    pub fn get() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| Catalogue::parse(TSV))
    }

    fn parse(tsv: &str) -> Catalogue {
        let mut by_env = BTreeMap::new();
        let mut by_path = BTreeMap::new();
        let rows = tsv
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .skip(1); // header
        for line in rows {
            let cols: Vec<&str> = line.split('\t').collect();
            let col = |i: usize| cols.get(i).copied().unwrap_or("").to_string();
            let setting = Setting {
                category: col(0),
                field: col(1),
                go_type: col(2),
                ty: SettingType::from_go(&col(2)),
                default: col(3),
                env_var: col(4),
                notes: col(5),
            };
            let env = if setting.ty == SettingType::Nested {
                // `MM_X_Y_<FIELD>`: index the prefix; fields are resolved on lookup.
                setting.env_var.trim_end_matches("_<FIELD>").to_string()
            } else {
                setting.env_var.clone()
            };
            by_path.insert(setting.path().to_lowercase(), env.clone());
            by_env.insert(env, setting);
        }
        Catalogue { by_env, by_path }
    }

    /// Every setting, sorted by environment variable name.
    pub fn iter(&self) -> impl Iterator<Item = &Setting> {
        self.by_env.values()
    }

    /// Look a setting up by `MM_*` name (case-insensitive).
    pub fn by_env(&self, name: &str) -> Option<&Setting> {
        self.by_env.get(&name.to_ascii_uppercase())
    }

    /// Look a setting up by `Category.Field` (case-insensitive, like Mattermost's own
    /// environment lookup).
    pub fn by_path(&self, path: &str) -> Option<&Setting> {
        let env = self.by_path.get(&path.to_lowercase())?;
        self.by_env.get(env)
    }

    /// Look a setting up by either spelling.
    pub fn lookup(&self, name: &str) -> Option<&Setting> {
        if name.len() > 3 && name[..3].eq_ignore_ascii_case("MM_") {
            self.by_env(name)
        } else {
            self.by_path(name)
        }
    }

    /// The closest known names, for "did you mean" hints.
    pub fn suggest(&self, name: &str) -> Option<String> {
        let env_style = name.len() > 3 && name[..3].eq_ignore_ascii_case("MM_");
        let wanted = name.to_lowercase();
        let candidates = self.by_env.values().map(|s| {
            if env_style {
                s.env_var.clone()
            } else {
                s.path()
            }
        });
        best_match(&wanted, candidates)
    }
}

/// The candidate closest to `wanted` (compared case-insensitively), if it is close enough to
/// be a plausible typo.
pub fn best_match(wanted: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    let wanted = wanted.to_lowercase();
    candidates
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(&wanted, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_every_row_of_the_source() {
        let rows = TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count()
            - 1;
        assert_eq!(rows, 633);
        assert_eq!(Catalogue::get().iter().count(), 633);
    }

    #[test]
    fn lookups_by_both_spellings_agree() {
        let c = Catalogue::get();
        let a = c.by_env("MM_SERVICESETTINGS_SITEURL").map(Setting::path);
        let b = c.by_path("servicesettings.siteurl").map(Setting::path);
        assert_eq!(a.as_deref(), Some("ServiceSettings.SiteURL"));
        assert_eq!(a, b);
        assert_eq!(
            c.by_path("EmailSettings.EmailBatchingInterval")
                .map(|s| s.ty),
            Some(SettingType::Int)
        );
        assert_eq!(
            c.by_path("SqlSettings.DataSourceReplicas").map(|s| s.ty),
            Some(SettingType::StringList)
        );
    }

    #[test]
    fn typos_get_a_suggestion() {
        let c = Catalogue::get();
        assert_eq!(
            c.suggest("MM_SERVICESETTINGS_SITEURLL").as_deref(),
            Some("MM_SERVICESETTINGS_SITEURL")
        );
        assert_eq!(
            c.suggest("ServiceSettings.MaximumLoginAttempt").as_deref(),
            Some("ServiceSettings.MaximumLoginAttempts")
        );
        assert_eq!(c.suggest("Completely.Different"), None);
    }

    #[test]
    fn secret_names_are_recognised() {
        assert!(is_secret_env_name("MM_GITLABSETTINGS_SECRET"));
        assert!(is_secret_env_name("MM_SQLSETTINGS_DATASOURCE"));
        assert!(is_secret_env_name("MM_EMAILSETTINGS_SMTPPASSWORD"));
        assert!(is_secret_env_name("MM_SQLSETTINGS_ATRESTENCRYPTKEY"));
        assert!(!is_secret_env_name("MM_SERVICESETTINGS_TLSKEYFILE"));
        assert!(!is_secret_env_name("MM_SERVICESETTINGS_SITEURL"));
    }
}
