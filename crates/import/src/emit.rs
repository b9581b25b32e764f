//! Writing the imported config as TOML, Nix or JSON, keys sorted at every level so the same
//! input always gives the same bytes. All three are read back by the compiler's own sources
//! into the same tree, so they render identical files.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The output formats of `import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The compiler's config file in TOML.
    Toml,
    /// The compiler's config file as a Nix attribute set.
    Nix,
    /// The compiler's config file in JSON.
    Json,
    /// A NixOS module setting `services.gitlab-mattermost` (camelCase option names).
    Nixos,
}

/// Render `config` (a JSON object without nulls) in `format`. `header` becomes a comment
/// block in TOML and Nix; JSON has no comments.
pub fn emit(config: &Map<String, Value>, format: OutputFormat, header: &[String]) -> String {
    match format {
        OutputFormat::Toml => toml(config, header),
        OutputFormat::Nix => nix(config, header),
        OutputFormat::Json => json(config),
        OutputFormat::Nixos => nixos(config, &[], header),
    }
}

/// A NixOS module: `services.gitlab-mattermost`, enabled, with `config` under the module's
/// option names, and each of `extra` (a NixOS option path and its value) beside it.
pub fn nixos(
    config: &Map<String, Value>,
    extra: &[(Vec<String>, Value)],
    header: &[String],
) -> String {
    let mut service = Map::new();
    service.insert("enable".into(), Value::Bool(true));
    service.extend(crate::nixos_options::to_nixos_names(config));
    let mut out = comment_block("#", header);
    out.push_str("{\n");
    let _ = writeln!(
        out,
        "  services.gitlab-mattermost = {};",
        nix_value(&Value::Object(service), 1)
    );
    for (path, value) in extra {
        let path: Vec<String> = path.iter().map(|k| nix_key(k)).collect();
        let _ = writeln!(out, "  {} = {};", path.join("."), nix_value(value, 1));
    }
    out.push_str("}\n");
    out
}

fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<(&String, &Value)> = map.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn comment_block(prefix: &str, header: &[String]) -> String {
    header
        .iter()
        .map(|l| {
            if l.is_empty() {
                format!("{prefix}\n")
            } else {
                format!("{prefix} {l}\n")
            }
        })
        .collect()
}

// ---- TOML ----

fn toml(config: &Map<String, Value>, header: &[String]) -> String {
    let mut out = comment_block("#", header);
    toml_table(&mut out, &[], config);
    out
}

/// Plain keys of a table first, then its sub-tables as `[a.b]` sections (TOML requires
/// that order).
fn toml_table(out: &mut String, path: &[String], map: &Map<String, Value>) {
    let entries = sorted(map);
    let plain: Vec<_> = entries.iter().filter(|(_, v)| !v.is_object()).collect();
    let tables: Vec<_> = entries.iter().filter(|(_, v)| v.is_object()).collect();
    if !path.is_empty() && (!plain.is_empty() || tables.is_empty()) {
        let name: Vec<String> = path.iter().map(|k| toml_key(k)).collect();
        let _ = writeln!(out, "\n[{}]", name.join("."));
    }
    for (k, v) in plain {
        let _ = writeln!(out, "{} = {}", toml_key(k), toml_value(v));
    }
    for (k, v) in tables {
        let mut p = path.to_vec();
        p.push((*k).clone());
        if let Value::Object(m) = v {
            toml_table(out, &p, m);
        }
    }
}

fn toml_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        toml_string(k)
    }
}

fn toml_value(v: &Value) -> String {
    match v {
        Value::String(s) => toml_string(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(toml_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_value(v)))
                .collect();
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        // The importer never emits null; an empty string is the closest TOML has.
        Value::Null => "\"\"".into(),
    }
}

fn toml_string(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04X}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Integers as written; floats always with a fraction or exponent so they stay floats.
fn number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        let s = n.to_string();
        if s.contains(['.', 'e', 'E']) {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        n.to_string()
    }
}

// ---- Nix ----

fn nix(config: &Map<String, Value>, header: &[String]) -> String {
    let mut out = comment_block("#", header);
    out.push_str(&nix_value(&Value::Object(config.clone()), 0));
    out.push('\n');
    out
}

fn nix_value(v: &Value, depth: usize) -> String {
    let pad = "  ".repeat(depth + 1);
    let close = "  ".repeat(depth);
    match v {
        Value::String(s) => nix_string(s),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Number(n) => {
            let s = number(n);
            // A negative number inside a list would read as subtraction.
            if s.starts_with('-') {
                format!("({s})")
            } else {
                s
            }
        }
        Value::Array(items) if items.is_empty() => "[ ]".into(),
        Value::Array(items) => {
            let mut s = "[\n".to_string();
            for i in items {
                let _ = writeln!(s, "{pad}{}", nix_value(i, depth + 1));
            }
            s.push_str(&close);
            s.push(']');
            s
        }
        Value::Object(m) if m.is_empty() => "{ }".into(),
        Value::Object(m) => {
            let mut s = "{\n".to_string();
            for (k, v) in sorted(m) {
                let _ = writeln!(s, "{pad}{} = {};", nix_key(k), nix_value(v, depth + 1));
            }
            s.push_str(&close);
            s.push('}');
            s
        }
    }
}

fn nix_key(k: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or",
    ];
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '\''));
    if ident && !KEYWORDS.contains(&k) {
        k.to_string()
    } else {
        nix_string(k)
    }
}

fn nix_string(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            // `${` would start an interpolation.
            '$' if chars.peek() == Some(&'{') => q.push_str("\\$"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

// ---- JSON ----

fn json(config: &Map<String, Value>) -> String {
    let sorted = sort_value(&Value::Object(config.clone()));
    let mut s = serde_json::to_string_pretty(&sorted).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// serde_json keeps insertion order here (preserve_order), so sort explicitly.
fn sort_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in sorted(m) {
                out.insert(k.clone(), sort_value(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{parse_text, Format};
    use serde_json::json;

    fn sample() -> Map<String, Value> {
        let v = json!({
            "external_url": "https://mm.example.com",
            "settings": {"ServiceSettings": {"MaximumLoginAttempts": 10, "X": -1.5}},
            "setting_files": {"SqlSettings.AtRestEncryptKey": "/run/secrets/k"},
            "nginx": {"proxy_headers": {"X-Forwarded-Proto": "https"}, "server_config": "a \"${b}\"\n\tc\\d\n",
                      "listen_addresses": ["*", "[::]"]},
            "account": {"uid": 1234, "user": "mattermost"},
            "environment": {"if": "then"},
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_format_reads_back_to_the_same_tree() {
        let config = sample();
        let expected = Value::Object(config.clone());
        for (format, source) in [
            (OutputFormat::Toml, Format::Toml),
            (OutputFormat::Nix, Format::Nix),
            (OutputFormat::Json, Format::Json),
        ] {
            let text = emit(&config, format, &["imported".into()]);
            let layer = parse_text("x", source, &text)
                .unwrap_or_else(|d| panic!("{format:?} does not parse: {d}\n{text}"));
            assert_eq!(layer.value, expected, "{format:?}:\n{text}");
        }
    }

    #[test]
    fn output_is_sorted_and_has_a_header() {
        let text = emit(&sample(), OutputFormat::Toml, &["imported from x".into()]);
        assert!(text.starts_with("# imported from x\n"));
        let account = text.find("[account]").expect("account");
        let settings = text.find("[settings.ServiceSettings]").expect("settings");
        assert!(account < settings);
        assert!(text.contains("\"SqlSettings.AtRestEncryptKey\" = \"/run/secrets/k\""));
    }
}
