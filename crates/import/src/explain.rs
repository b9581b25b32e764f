//! `gitlab-mattermost explain KEY`: what a gitlab.rb key, an `MM_*` variable, a
//! `Category.Field` setting, a bare field name or a key of this config is, what it maps to, its
//! type and default, and where that knowledge comes from (Mattermost's settings catalogue,
//! the Omnibus key table, the config's schema).

use std::fmt::Write as _;

use crate::catalogue::{best_match, Catalogue, MattermostVersion, Setting};
use crate::diag::{Diagnostic, Diagnostics};
use crate::legacy::{self, Resolution};
use crate::mapping::{self, MmKey, OmnibusKey};

/// Arguments of `gitlab-mattermost explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// `mattermost['email_enable_batching']`, `email_enable_batching`, `MM_SERVICESETTINGS_SITEURL`,
    /// `ServiceSettings.SiteURL`, a bare field name (`SiteURL`) or a key of this config
    /// (`smtp.port`).
    #[arg(value_name = "KEY")]
    pub key: String,
}

const CATALOGUE_SOURCE: &str =
    "Mattermost settings catalogue (data/mattermost-settings-<version>.tsv, generated from Mattermost's model)";
const OMNIBUS_SOURCE: &str =
    "Omnibus key table (data/omnibus-gitlab-rb-keys.tsv, from gitlabhq/omnibus-gitlab before 19.0)";

/// Explain `key`, or say it is unknown with the closest names.
pub fn explain(key: &str) -> Result<String, Diagnostics> {
    let key = key.trim();
    // The default version's entry first; a setting only another version has is explained too.
    let found = MattermostVersion::ALL
        .into_iter()
        .rev()
        .chain([MattermostVersion::default()])
        .rev()
        .find_map(|v| Catalogue::of(v).lookup(key));
    if let Some(s) = found {
        return Ok(setting_text(s));
    }
    if let Some(text) = config_key_text(key) {
        return Ok(text);
    }
    if let Some(text) = bare_field_text(key) {
        return Ok(text);
    }
    if crate::catalogue::is_env_style(key) {
        if let Some(text) = moved_text(key) {
            return Ok(text);
        }
    }
    for candidate in rb_spellings(key) {
        if let Some(text) = rb_key_text(&candidate) {
            return Ok(text);
        }
    }
    Err(unknown(key))
}

/// A key of this project's own config (`smtp.port`, `external_url`): its type, default and
/// meaning from the schema, and the Mattermost settings it sets.
fn config_key_text(key: &str) -> Option<String> {
    if key.is_empty() || key.contains(['[', '\'', '"']) {
        return None;
    }
    let schema = crate::schema::json_schema();
    let mut node = schema;
    for part in key.split('.') {
        node = crate::schema::resolve_ref(schema, node)
            .get("properties")?
            .get(part)?;
    }
    let node = crate::schema::resolve_ref(schema, node);
    let mut out = String::new();
    let _ = writeln!(out, "{key}  (a key of this config)");
    if let Some(t) = node.get("type") {
        let t = match t {
            serde_json::Value::Array(ts) => ts
                .iter()
                .filter_map(|t| t.as_str())
                .filter(|t| *t != "null")
                .collect::<Vec<_>>()
                .join(" or "),
            other => other.as_str().unwrap_or_default().to_string(),
        };
        let _ = writeln!(out, "  type: {t}");
    }
    if let Some(values) = node.get("enum").and_then(|e| e.as_array()) {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let _ = writeln!(out, "  one of: {}", values.join(", "));
    }
    if let Some(default) = node.get("default") {
        let _ = writeln!(out, "  default: {default}");
    }
    let sets = settings_set_by(key);
    if !sets.is_empty() {
        let _ = writeln!(out, "  sets: {}", sets.join(", "));
    }
    if let Some(about) = node.get("description").and_then(|d| d.as_str()) {
        let _ = writeln!(
            out,
            "  about: {}",
            about.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let _ = writeln!(
        out,
        "  source: the config's schema (crates/catalogue/src/schema.rs; docs/config-reference.md)"
    );
    Some(out)
}

/// The Mattermost settings a config key (or the section it opens) is rendered into.
fn settings_set_by(key: &str) -> Vec<String> {
    Catalogue::get()
        .iter()
        .filter(|s| {
            mapping::typed_owner(&s.path()).is_some_and(|owner| {
                owner.starts_with(&format!("{key} ("))
                    || owner
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                        .any(|word| word == key || word.starts_with(&format!("{key}.")))
            })
        })
        .map(|s| format!("{} ({})", s.path(), s.env_var))
        .collect()
}

/// A bare field name (`MaximumLoginAttempts`): the setting of that name, or every category
/// that has one.
fn bare_field_text(key: &str) -> Option<String> {
    if key.contains(['.', '[', '\'']) || crate::catalogue::is_env_style(key) {
        return None;
    }
    let matches: Vec<&Setting> = Catalogue::get()
        .iter()
        .filter(|s| s.field.eq_ignore_ascii_case(key))
        .collect();
    match matches.as_slice() {
        [] => None,
        [one] => Some(setting_text(one)),
        many => {
            let mut out = format!("{key} is a field of several categories:\n");
            for s in many {
                let _ = writeln!(out, "  {}  ({})", s.path(), s.env_var);
            }
            let _ = writeln!(
                out,
                "  explain one of them: gitlab-mattermost explain {}",
                many[0].path()
            );
            Some(out)
        }
    }
}

/// The gitlab.rb keys a bare or quoted name may stand for.
fn rb_spellings(key: &str) -> Vec<String> {
    if key.contains('[') || !key.contains('_') || key.contains('.') {
        return vec![mapping::canonical(key)];
    }
    vec![
        key.to_string(),
        format!("mattermost['{key}']"),
        format!("mattermost_nginx['{key}']"),
    ]
}

fn rb_key_text(key: &str) -> Option<String> {
    let row = mapping::find(key);
    let inner = key
        .strip_prefix("mattermost['")
        .and_then(|k| k.strip_suffix("']"));
    let mut out = String::new();
    let _ = writeln!(out, "{key}  (gitlab.rb key)");
    if let Some(r) = row {
        omnibus_row(&mut out, r);
    }
    let handled = match inner {
        Some(k) => mm_key(&mut out, k),
        None => false,
    };
    if row.is_none() && !handled {
        return None;
    }
    if row.is_none() && inner.is_some() {
        let _ = writeln!(out, "  source: Omnibus doc \"Upgrading GitLab Mattermost from versions prior to 11.0\" and config.json.erb before 11.0");
    }
    if let Some(imp) = import_of_rb(key) {
        let _ = writeln!(out, "  import: {imp}");
    }
    Some(out)
}

fn omnibus_row(out: &mut String, r: &OmnibusKey) {
    let _ = writeln!(out, "  Omnibus default: {}", r.default);
    let _ = writeln!(out, "  Omnibus maps it to: {}", r.maps_to);
    let _ = writeln!(out, "  note: {}", r.note);
    let _ = writeln!(
        out,
        "  source: {OMNIBUS_SOURCE}; tags in [..] name the Omnibus files"
    );
}

/// A `mattermost['<k>']`: an Omnibus setting key or a pre-11.0 key.
fn mm_key(out: &mut String, k: &str) -> bool {
    match mapping::mattermost_key(k) {
        Some(MmKey::Setting(path)) => {
            if let Some(s) = Catalogue::get().by_path(path) {
                let _ = writeln!(
                    out,
                    "  maps to: {} ({}), passed by Omnibus in the environment",
                    s.path(),
                    s.env_var
                );
                indent(out, &setting_text(s));
            }
            true
        }
        Some(MmKey::Account(field)) => {
            let _ = writeln!(out, "  maps to: account.{field} (the system account)");
            true
        }
        Some(MmKey::Special) | Some(MmKey::Drop(_)) => true,
        None => legacy_key(out, k),
    }
}

fn legacy_key(out: &mut String, k: &str) -> bool {
    let Some(name) = legacy::legacy_env_name(k) else {
        return false;
    };
    let _ = writeln!(
        out,
        "  pre-11.0 key: {} via {} (Omnibus ≥ 11.0 no longer passed it to Mattermost; import translates it)",
        name.env_var, name.how
    );
    match legacy::resolve(&name.env_var) {
        Resolution::Known(s) => indent(out, &setting_text(s)),
        Resolution::Renamed { to, note } => {
            let _ = writeln!(out, "  renamed: {note}");
            indent(out, &setting_text(to));
        }
        Resolution::Removed { note } => {
            let _ = writeln!(out, "  removed: {note}");
        }
        Resolution::Unknown { suggestion } => {
            let hint = suggestion
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {} is not a Mattermost setting{hint}", name.env_var);
            return false;
        }
    }
    true
}

/// What `import` does with a key, in one line.
fn import_of_rb(key: &str) -> Option<String> {
    let k = key.strip_prefix("mattermost['")?.strip_suffix("']")?;
    Some(match mapping::mattermost_key(k)? {
        MmKey::Drop(why) => format!("not carried: {why}"),
        MmKey::Special => match k {
            "env" => "MM_* entries become settings (checked like any setting); other variables go to `environment`; Omnibus's SSL_CERT_DIR is not carried".into(),
            "enable" => "nothing to carry: the service runs whenever the config is rendered".into(),
            "database_name" => "database.name".into(),
            "service_use_ssl" => "nginx.https when it differs from the external URL's scheme".into(),
            _ => "listen.address and listen.port (ServiceSettings.ListenAddress)".into(),
        },
        MmKey::Account(f) => format!("account.{f}"),
        MmKey::Setting(path) => mapping::typed_owner(path)
            .map(|o| format!("{o} (typed section)"))
            .unwrap_or_else(|| format!("settings.{path}")),
    })
}

fn indent(out: &mut String, text: &str) {
    for l in text.lines() {
        let _ = writeln!(out, "  {l}");
    }
}

fn setting_text(s: &Setting) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}  ({})", s.path(), s.env_var);
    let _ = writeln!(out, "  type: {} ({})", s.go_type, s.ty.describe());
    let _ = writeln!(out, "  default: {}", s.default);
    versions_text(&mut out, s);
    line_facts_text(&mut out, s);
    let place = match mapping::typed_owner(&s.path()) {
        Some(owner) => format!("{owner} (typed section)"),
        None if s.is_secret() => format!(
            "setting_files.\"{}\" (a secret: a file path, never the value)",
            s.path()
        ),
        None => format!("settings.{}", s.path()),
    };
    let _ = writeln!(out, "  config key: {place}");
    if !s.notes.is_empty() {
        let _ = writeln!(out, "  notes: {}", s.notes);
    }
    let rb: Vec<String> = legacy::EXCEPTIONS
        .iter()
        .filter(|(_, env, _)| *env == s.env_var)
        .map(|(k, _, src)| format!("mattermost['{k}'] (pre-11.0, {src})"))
        .chain(omnibus_keys_for(s))
        .collect();
    if !rb.is_empty() {
        let _ = writeln!(out, "  gitlab.rb: {}", rb.join(", "));
    }
    let _ = writeln!(out, "  source: {CATALOGUE_SOURCE}");
    out
}

/// In which supported Mattermost versions the setting exists (`mattermost.version`), and
/// where its type or default differs from the one shown.
fn versions_text(out: &mut String, s: &Setting) {
    let name = s.env_var;
    let has: Vec<MattermostVersion> = Catalogue::versions_with(name);
    let lacks: Vec<&str> = MattermostVersion::ALL
        .into_iter()
        .filter(|v| !has.contains(v))
        .map(MattermostVersion::as_str)
        .collect();
    let list: Vec<&str> = has.iter().map(|v| v.as_str()).collect();
    let _ = if lacks.is_empty() {
        writeln!(out, "  versions: Mattermost {}", list.join(", "))
    } else {
        writeln!(
            out,
            "  versions: Mattermost {} only (not in {}: checked configs with that mattermost.version refuse it)",
            list.join(", "),
            lacks.join(", ")
        )
    };
    for v in has {
        let Some(other) = Catalogue::of(v).by_env(name) else {
            continue;
        };
        if other.default != s.default || other.go_type != s.go_type {
            let _ = writeln!(
                out,
                "  in {v}: type {}, default {}",
                other.go_type, other.default
            );
        }
    }
    for v in Catalogue::versions_with(name) {
        let _ = writeln!(out, "  catalogue {v}: {}", Catalogue::of(v).source());
    }
}

/// What a line's facts say about the setting: values it refuses to start with, a default it
/// changed (crate::lifecycle).
fn line_facts_text(out: &mut String, s: &Setting) {
    let path = s.path();
    for line in &crate::lifecycle::LINES {
        for r in line.refuses_to_start.iter().filter(|r| r.setting == path) {
            let what = match r.refuses {
                crate::lifecycle::Refuses::Value(v) => format!("= {v}"),
                crate::lifecycle::Refuses::AnyBut(v) => format!("other than {v}"),
            };
            let _ = writeln!(
                out,
                "  {}: refuses to start with {what} ({}); `check` refuses it",
                line.name, r.why
            );
        }
        for c in line.changed_defaults.iter().filter(|c| c.setting == path) {
            let _ = writeln!(
                out,
                "  {}: default changed from {} to {}",
                line.name, c.before, c.after
            );
        }
    }
}

fn omnibus_keys_for(s: &Setting) -> Vec<String> {
    mapping::omnibus_keys()
        .iter()
        .filter(|k| k.maps_to.contains(s.env_var) || k.maps_to.contains(&format!("{} ", s.path())))
        .map(|k| format!("{} (Omnibus)", k.key))
        .collect()
}

fn moved_text(key: &str) -> Option<String> {
    match legacy::resolve(key) {
        Resolution::Renamed { to, note } => {
            Some(format!("{key}  (renamed)\n  {note}\n{}", setting_text(to)))
        }
        Resolution::Removed { note } => Some(format!("{key}  (removed)\n  {note}\n")),
        _ => None,
    }
}

fn unknown(key: &str) -> Diagnostics {
    let catalogue = Catalogue::get();
    let rb_names = mapping::omnibus_keys().iter().flat_map(|k| {
        let bare = k
            .key
            .split_once("['")
            .map(|(_, r)| r.trim_end_matches("']").to_string());
        std::iter::once(k.key.clone()).chain(bare)
    });
    let legacy_names = legacy::EXCEPTIONS.iter().map(|(k, _, _)| (*k).to_string());
    let rb_names = rb_names.chain(legacy_names);
    let bare = key
        .trim_start_matches("mattermost['")
        .trim_end_matches("']");
    let suggestion = catalogue
        .suggest(key)
        .or_else(|| best_match(bare, rb_names))
        .or_else(
            || match legacy::legacy_env_name(bare).map(|n| legacy::resolve(&n.env_var)) {
                Some(Resolution::Unknown { suggestion }) => suggestion,
                _ => None,
            },
        );
    let mut d = Diagnostic::new(
        "",
        format!("`{key}` is not a gitlab.rb key of Omnibus's Mattermost, an MM_* variable, a Category.Field setting, a field name or a key of this config"),
    );
    d = match suggestion {
        Some(s) => d.with_hint(format!("did you mean `{s}`?")),
        None => d.with_hint("try a setting like ServiceSettings.SiteURL, MM_SERVICESETTINGS_SITEURL, SiteURL, mattermost['service_site_url'] or a config key like smtp.port"),
    };
    d.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_each_spelling() {
        let a = explain("mattermost['email_enable_batching']").expect("known");
        let b = explain("email_enable_batching").expect("known");
        assert_eq!(a, b);
        assert!(a.contains("EmailSettings.EnableEmailBatching"), "{a}");
        assert!(a.contains("exception table (Omnibus doc table)"), "{a}");
        assert!(a.contains("default: false"), "{a}");
        let c = explain("MM_SERVICESETTINGS_SITEURL").expect("known");
        assert!(c.contains("config key: site_url, else external_url"), "{c}");
        assert!(
            c.contains("mattermost['service_site_url'] (Omnibus)"),
            "{c}"
        );
        let d = explain("mattermost_nginx[\"listen_port\"]").expect("known");
        assert!(d.contains("Omnibus default"), "{d}");
    }

    #[test]
    fn unknown_names_get_a_suggestion() {
        let e = explain("MM_SERVICESETTINGS_SITEURLL").expect_err("unknown");
        assert!(
            e.to_string().contains("MM_SERVICESETTINGS_SITEURL`?"),
            "{e}"
        );
        let e = explain("email_enable_batchin").expect_err("unknown");
        assert!(e.to_string().contains("did you mean"), "{e}");
    }

    #[test]
    fn removed_settings_say_what_replaced_them() {
        let w = explain("webrtc_enable").expect("explained");
        assert!(w.contains("Calls plugin"), "{w}");
    }
}
