//! From the merged tree to a typed [`Config`]: every problem with the shape of the input
//! (inline secrets, wrong types, unknown keys, bad enum values, floats for integers), and a
//! config to run the remaining checks on even when some values could not be read.
//!
//! A value that cannot be read is reported and then taken out of the tree, so its default
//! applies for the rest of validation. Its key path is remembered as unreadable: the checks
//! that combine values of that section are skipped (they would judge a default the user did
//! not write), while every other check still runs.

use std::collections::BTreeSet;

use serde_json::Value;

use super::json_schema::{self, Kind, SchemaError};
use super::{is_secret_path_key, key, Input, Report};
use crate::diag::Diagnostic;
use crate::schema::{self, Config};
use crate::sources::KeyPath;

/// Stand-in for an `external_url` that is missing or unreadable, so the other checks run.
/// Nothing is rendered from it: its absence is already an error.
const PLACEHOLDER_URL: &str = "https://external-url.invalid";

/// Read the merged tree into a config, reporting every problem on the way. The paths of
/// values that could not be read are added to `unreadable`.
pub(super) fn read_config(
    merged: &Value,
    input: Input,
    unreadable: &mut BTreeSet<KeyPath>,
    report: &mut Report,
) -> Option<Config> {
    // One report per key path; a problem with the whole file (a missing key) has no path.
    let mut note = |d: Diagnostic, p: &[String], unreadable: &mut BTreeSet<KeyPath>| {
        if p.is_empty() || unreadable.insert(p.to_vec()) {
            report(d, p);
        }
    };
    inline_secrets(merged, &mut |d, p| note(d, p, unreadable));
    // Fast path: a config that deserializes needs no schema run (compiling the JSON Schema
    // validator costs more than everything else together). Otherwise the schema finds every
    // problem at once, where serde would stop at the first.
    match serde_json::from_value::<Config>(merged.clone()) {
        Ok(config) if unreadable.is_empty() => return Some(config),
        _ => {}
    }
    schema_errors(merged, input, &mut |d, p| note(d, p, unreadable));
    integer_floats(merged, &mut |d, p| note(d, p, unreadable));
    repair(merged, unreadable, &mut |d, p| report(d, p))
}

/// Secrets written inline are refused with the exact file key to use instead.
fn inline_secrets(merged: &Value, report: &mut Report) {
    for (inline, file_key) in schema::INLINE_SECRET_KEYS {
        let path = key(inline);
        if pointer(merged, &path).is_some() {
            report(
                Diagnostic::new(*inline, "secrets are never written inline: they would land in rendered files and the Nix store")
                    .with_hint(format!(
                        "write the value to a root-only file (e.g. `install -m 0600 /dev/stdin /etc/gitlab-mattermost-secrets/{}`) and set `{file_key}` to its path",
                        inline.replace('.', "-")
                    )),
                &path,
            );
        }
    }
}

fn pointer<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |node, k| node.get(k))
}

/// Take the unreadable values out and deserialize what is left; whatever serde still
/// refuses is reported at its key path and taken out too, until the config reads.
fn repair(
    merged: &Value,
    unreadable: &mut BTreeSet<KeyPath>,
    report: &mut Report,
) -> Option<Config> {
    let mut tree = merged.clone();
    for path in unreadable.iter() {
        remove(&mut tree, path);
    }
    // Each round takes one value out; a config has far fewer values than this.
    for _ in 0..256 {
        if unreadable.contains(&key("external_url"))
            || tree.get("external_url").is_none_or(|u| !u.is_string())
        {
            unreadable.insert(key("external_url"));
            if let Value::Object(map) = &mut tree {
                map.insert("external_url".into(), Value::String(PLACEHOLDER_URL.into()));
            }
        }
        let error = match serde_path_to_error::deserialize::<_, Config>(tree.clone()) {
            Ok(config) => return Some(config),
            Err(e) => e,
        };
        let path: KeyPath = error
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        if path.is_empty() || !remove(&mut tree, &path) {
            report(
                Diagnostic::new("", format!("invalid configuration: {}", error.inner())),
                &[],
            );
            return None;
        }
        if !unreadable.iter().any(|u| path.starts_with(u)) {
            let message = if is_secret_path_key(&path) {
                "expected a file path (the value is not shown: it may be the secret itself)"
                    .to_string()
            } else {
                error.inner().to_string()
            };
            report(Diagnostic::new(path.join("."), message), &path);
        }
        unreadable.insert(path);
    }
    None
}

/// Remove the value at `path`; a list item takes the whole list with it (the indices of the
/// other items would shift). Whether anything was removed.
fn remove(tree: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let Some(parent) = parents.iter().try_fold(&mut *tree, |node, k| match node {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    }) else {
        return false;
    };
    match parent {
        Value::Object(m) => m.remove(last).is_some(),
        Value::Array(_) => remove(tree, parents),
        _ => false,
    }
}

/// JSON Schema validation of the merged tree: wrong types, unknown keys, bad enum values.
/// With [`Input::Partial`] (a file could not be read), missing keys are not reported: the
/// unreadable file may have set them.
fn schema_errors(merged: &Value, input: Input, report: &mut Report) {
    let schema = schema::json_schema();
    for err in json_schema::errors(schema, merged) {
        if input == Input::Partial && matches!(err.kind, Kind::Required(_)) {
            continue;
        }
        for (path, d) in describe_schema_error(schema, &err) {
            report(d, &path);
        }
    }
}

fn describe_schema_error(schema: &Value, err: &SchemaError) -> Vec<(KeyPath, Diagnostic)> {
    let path = &err.path;
    let dotted = path.join(".");
    // Never echo what is written where a secret's path belongs: it may be the secret.
    let found = if is_secret_path_key(path) {
        kind_of(&err.instance)
    } else {
        super::short(&err.instance)
    };
    let one = |msg: String| vec![(path.clone(), Diagnostic::new(dotted.clone(), msg))];
    match &err.kind {
        Kind::AdditionalProperties(unexpected) => unexpected
            .iter()
            // Inline secrets already have their own, more helpful, error.
            .filter(|name| {
                let full = if dotted.is_empty() {
                    (*name).clone()
                } else {
                    format!("{dotted}.{name}")
                };
                !schema::INLINE_SECRET_KEYS.iter().any(|(k, _)| *k == full)
            })
            .map(|name| {
                let mut p = path.clone();
                p.push(name.clone());
                let known = known_properties(schema, path);
                let mut d =
                    Diagnostic::new(p.join("."), format!("unknown key `{name}`")).about_the_key();
                if let Some(s) = crate::catalogue::best_match(name, known.iter().cloned()) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                } else if !known.is_empty() {
                    d = d.with_hint(format!("known keys here: {}", known.join(", ")));
                }
                (p, d)
            })
            .collect(),
        Kind::Type(types) => {
            let mut d = one(format!("expected {}, found {found}", type_name(types)));
            if let Some(hint) = unquote_hint(types, &err.instance, path) {
                d[0].1 = d[0].1.clone().with_hint(hint);
            }
            d
        }
        Kind::Enum(options) => {
            let mut d = one(format!(
                "expected one of {}, found {found}",
                enum_list(options)
            ));
            if let Some(right) = same_but_case(options, &err.instance) {
                d[0].1 = d[0]
                    .1
                    .clone()
                    .with_hint(format!("did you mean {right}? (case matters)"));
            }
            d
        }
        Kind::Minimum(limit) => one(format!(
            "expected at least {}, found {found}",
            number(limit)
        )),
        Kind::Maximum(limit) => one(format!("expected at most {}, found {found}", number(limit))),
        Kind::Required(property) => one(format!("missing required key {property}")),
        _ if is_secret_path_key(path) => one(format!("expected a file path, found {found}")),
        _ => one(err.describe()),
    }
}

/// A number or boolean written as a string (`port = "587"`, `"port": "587"`): say to drop the
/// quotes, in words that fit every syntax the value may come from (TOML, JSON, Nix). Never for
/// a secret's path (its value is not shown).
fn unquote_hint(types: &[String], found: &Value, path: &KeyPath) -> Option<String> {
    let text = found.as_str()?.trim();
    if is_secret_path_key(path) {
        return None;
    }
    let fits = |t: &str| match t {
        "integer" => text.parse::<i64>().is_ok(),
        "number" => text.parse::<f64>().is_ok(),
        "boolean" => text == "true" || text == "false",
        _ => false,
    };
    types
        .iter()
        .any(|t| fits(t))
        .then(|| format!("drop the quotes around {text}"))
}

/// The allowed value a string matches but for case (`"starttls"` for `"STARTTLS"`).
fn same_but_case(options: &Value, found: &Value) -> Option<String> {
    let found = found.as_str()?;
    options
        .as_array()?
        .iter()
        .find(|o| {
            o.as_str()
                .is_some_and(|o| o != found && o.eq_ignore_ascii_case(found))
        })
        .map(Value::to_string)
}

/// What kind of value `v` is, without the value.
fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
    .to_string()
}

/// Schema limits are floats (`0.0`); show whole numbers as integers.
fn number(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => v.to_string(),
    }
}

/// The JSON types a value may have, in words (`null` left out: it means "unset").
fn type_name(types: &[String]) -> String {
    let one = |t: &str| match t {
        "integer" => "an integer".to_string(),
        "boolean" => "a boolean (true or false)".to_string(),
        "string" => "a string".to_string(),
        "object" => "a table".to_string(),
        "array" => "a list".to_string(),
        "null" => "nothing (null)".to_string(),
        other => format!("a {other}"),
    };
    match types {
        [single] => one(single),
        many => many
            .iter()
            .filter(|t| *t != "null")
            .map(|t| one(t))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn enum_list(options: &Value) -> String {
    match options {
        Value::Array(items) => items
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Property names allowed at `path` in the schema, for did-you-mean hints.
fn known_properties(schema: &Value, path: &[String]) -> Vec<String> {
    let mut node = schema;
    for k in path {
        let Some(next) = schema::resolve_ref(schema, node)
            .get("properties")
            .and_then(|p| p.get(k))
        else {
            return vec![];
        };
        node = next;
    }
    schema::resolve_ref(schema, node)
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Integers written as floats (`port = 587.0`): JSON Schema counts a float without a
/// fraction as an integer, serde does not, and the typed config has no floats at all.
fn integer_floats(merged: &Value, report: &mut Report) {
    let schema = schema::json_schema();
    walk_floats(schema, schema, merged, &mut Vec::new(), report);
}

fn walk_floats(root: &Value, node: &Value, value: &Value, path: &mut KeyPath, report: &mut Report) {
    let node = schema::resolve_ref(root, node);
    let wants_integer = match node.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    };
    match value {
        Value::Number(n) if wants_integer && n.is_f64() => report(
            Diagnostic::new(path.join("."), format!("expected an integer, found {n}"))
                .with_hint("write it without a decimal point"),
            path,
        ),
        Value::Object(map) => {
            for (k, v) in map {
                let child = node
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(child) = child {
                    path.push(k.clone());
                    walk_floats(root, child, v, path, report);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = node.get("items").filter(|i| i.is_object()) {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk_floats(root, child, v, path, report);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}
