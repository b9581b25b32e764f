//! The NixOS option declarations of `services.gitlab-mattermost`, generated from the schema.
//!
//! `nixos-modules/options.nix` is the output of [`render_options_nix`], committed so that the
//! NixOS module needs no build step, and checked by `tests/nixos_options.rs` so that it cannot
//! drift from [`crate::schema`]: a field added to the schema becomes a NixOS option with the
//! same type, default, description and example.
//!
//! NixOS names typed options in camelCase, so every schema field becomes the camelCase form
//! of its snake_case name ([`camel_case`]: `external_url` is `externalUrl`,
//! `smtp.batching.buffer_size` is `smtp.batching.bufferSize`). Only the keys of free-form
//! attribute sets (`settings`, `settingFiles`, `environment`, `nginx.proxyHeaders`) stay as
//! written: they are Mattermost's, the environment's or nginx's names (RFC 42). The module
//! hands the compiler its configuration under the compiler's names through
//! `nixos-modules/names.nix`, which [`render_names_nix`] generates from the same walk, so the
//! two spellings cannot drift apart either.
//!
//! The output is formatted the way nixfmt (RFC 166 style) formats it, so `nixfmt --check`
//! accepts the generated file as it is.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Header of the generated file. `types.nix` holds the hand-written `secretFile` type.
const HEADER: &str = r#"# Generated from the configuration schema (crates/catalogue/src/schema.rs).
# Do not edit: run `cargo run -- nixos-options > nixos-modules/options.nix`.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  inherit (import ./types.nix { inherit lib; }) secretFile;
  cfg = config.services.gitlab-mattermost;
in
{
"#;

/// Options whose NixOS default is a Nix expression rather than the schema default: the
/// module runs Mattermost and the compiler from the Nix store.
const NIX_DEFAULTS: &[(&str, &str)] = &[
    ("mattermost.install_dir", "\"${cfg.package}\""),
    (
        "mattermost.wrapper",
        "\"${cfg.compilerPackage}/bin/gitlab-mattermost\"",
    ),
];

/// Markers for the line breaks of a multi-line enum, replaced once the indentation is known.
const ENUM_BREAK: &str = "\u{1}";
const ENUM_END: &str = "\u{2}";

/// Widest line of generated text, the indentation included.
const WIDTH: usize = 100;

/// Header of the generated name map.
const NAMES_HEADER: &str = r#"# Generated from the configuration schema (crates/catalogue/src/schema.rs).
# Do not edit: run `cargo run -- nixos-options --names > nixos-modules/names.nix`.
#
# The compiler's name of every option declared in options.nix: an option maps to the
# compiler's key, a section to { name = <the compiler's key>; options = <its map>; }. The
# module hands the compiler its configuration under these names (lib.nix, `project`).
"#;

/// Renders `nixos-modules/options.nix`.
pub fn render_options_nix() -> String {
    let root = schema_root();
    let names = Names::of(root);
    let mut out = String::from(HEADER);
    out.push_str("  options.services.gitlab-mattermost = {\n");
    let mut path = Vec::new();
    emit_properties(root, root, &names, &mut path, 2, &mut out);
    out.push_str("  };\n}\n");
    out
}

/// Renders `nixos-modules/names.nix`: the NixOS option names mapped to the compiler's.
pub fn render_names_nix() -> String {
    let root = schema_root();
    let mut out = String::from(NAMES_HEADER);
    emit_names(root, root, 0, &mut out);
    out.push('\n');
    out
}

/// Whether the option at `path` (the compiler's names) names a file whose content is secret
/// (or, for the private key, must not be copied into the world-readable Nix store): such
/// options take an absolute path as a string and the module asserts that it is not a Nix path.
pub fn is_secret_path(path: &[String]) -> bool {
    let last = path.last().map(String::as_str).unwrap_or_default();
    last.ends_with("_file")
        || path.first().map(String::as_str) == Some("setting_files")
        || (path.len() == 2 && path[0] == "nginx" && last == "certificate_key")
}

fn schema_root() -> &'static Value {
    crate::schema::json_schema()
}

/// The NixOS spelling of a schema field: snake_case to camelCase (`access_key_id` becomes
/// `accessKeyId`, `s3_bucket` becomes `s3Bucket`). A name without `_` is already one.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            // A leading `_` has no word before it to join; keep the name readable.
            upper = !out.is_empty();
            continue;
        }
        if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A configuration in the compiler's names (as `import` builds it), in the NixOS module's:
/// every key the schema declares becomes its camelCase option name; keys inside free-form
/// attribute sets (Mattermost settings, variable names, header names) are kept.
pub fn to_nixos_names(config: &Map<String, Value>) -> Map<String, Value> {
    let root = schema_root();
    rename_object(root, root, config)
}

fn rename_object(schema: &Value, root: &Value, config: &Map<String, Value>) -> Map<String, Value> {
    let properties = schema.get("properties").and_then(Value::as_object);
    let mut out = Map::new();
    for (key, value) in config {
        let Some(property) = properties.and_then(|p| p.get(key)) else {
            // Not a declared field: a free-form key (or one the module will reject anyway).
            out.insert(key.clone(), value.clone());
            continue;
        };
        let resolved = crate::schema::resolve_ref(root, property);
        let value = match (value, submodule_of(resolved, root)) {
            (Value::Object(inner), _) if resolved.get("properties").is_some() => {
                Value::Object(rename_object(resolved, root, inner))
            }
            // A map of sections (`integrations.incoming_webhooks`): its keys are names the
            // user chose, each value a section.
            (Value::Object(entries), Some(element)) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::Object(inner) => {
                                Value::Object(rename_object(element, root, inner))
                            }
                            other => other.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            (other, _) => other.clone(),
        };
        out.insert(camel_case(key), value);
    }
    out
}

/// The section every value of a map of sections has (`incoming_webhooks.<name>`): a NixOS
/// `attrsOf (submodule …)`.
fn submodule_of<'a>(schema: &'a Value, root: &'a Value) -> Option<&'a Value> {
    let element = schema
        .get("additionalProperties")
        .filter(|v| v.is_object())?;
    let resolved = crate::schema::resolve_ref(root, element);
    resolved.get("properties").is_some().then_some(resolved)
}

/// Every option and section path in the compiler's names (`external_url`,
/// `gitlab.id_file`, `smtp.batching`), to recognise references to them in descriptions.
struct Names {
    paths: std::collections::BTreeSet<String>,
}

impl Names {
    fn of(root: &Value) -> Names {
        fn walk(object: &Value, root: &Value, prefix: &str, paths: &mut Vec<String>) {
            let Some(properties) = object.get("properties").and_then(Value::as_object) else {
                return;
            };
            let mut seen: Vec<(String, &String)> = Vec::new();
            for name in properties.keys() {
                let camel = camel_case(name);
                if let Some((_, other)) = seen.iter().find(|(c, _)| *c == camel) {
                    panic!("schema fields {other} and {name} under `{prefix}` are both the NixOS option {camel}");
                }
                seen.push((camel, name));
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                let resolved = crate::schema::resolve_ref(root, &properties[name]);
                walk(resolved, root, &path, paths);
                paths.push(path);
            }
        }
        let mut paths = Vec::new();
        walk(root, root, "", &mut paths);
        Names {
            paths: paths.into_iter().collect(),
        }
    }

    /// Rewrites references to other options inside `code spans` into their NixOS names: a
    /// path from the top (`external_url`, `gitlab.id_file`) or the name of a sibling option
    /// (`id_file` in `gitlab.id`'s text). The option's own name is left alone: in its own
    /// description it is the name of what it sets (`client_max_body_size` is nginx's
    /// directive).
    fn describe(&self, text: &str, path: &[String], siblings: &[String]) -> String {
        let own = path.last().map(String::as_str).unwrap_or_default();
        let mut out = String::with_capacity(text.len());
        for (i, part) in text.split('`').enumerate() {
            if i > 0 {
                out.push('`');
            }
            if i % 2 == 0 {
                out.push_str(part);
            } else {
                out.push_str(&self.rename_references(part, own, siblings));
            }
        }
        out
    }

    fn rename_references(&self, code: &str, own: &str, siblings: &[String]) -> String {
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
        let mut out = String::with_capacity(code.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            let refers = word.contains('_')
                && (self.paths.contains(word.as_str())
                    || (word != own && siblings.iter().any(|s| s == word)));
            if refers {
                let camel: Vec<String> = word.split('.').map(camel_case).collect();
                out.push_str(&camel.join("."));
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in code.chars() {
            if is_word(c) {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }
}

fn emit_names(object: &Value, root: &Value, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth + 1);
    let close = "  ".repeat(depth);
    out.push_str("{\n");
    for (name, property) in object
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let resolved = crate::schema::resolve_ref(root, property);
        let nix_name = attr_name(&camel_case(name));
        let compiler = format!("\"{}\"", escape_string(name));
        if resolved.get("properties").is_some() {
            let inner = "  ".repeat(depth + 2);
            let _ = writeln!(out, "{indent}{nix_name} = {{");
            let _ = writeln!(out, "{inner}name = {compiler};");
            let _ = write!(out, "{inner}options = ");
            emit_names(resolved, root, depth + 2, out);
            out.push_str(";\n");
            let _ = writeln!(out, "{indent}}};");
        } else if let Some(element) = submodule_of(resolved, root) {
            let inner = "  ".repeat(depth + 2);
            let _ = writeln!(out, "{indent}{nix_name} = {{");
            let _ = writeln!(out, "{inner}name = {compiler};");
            let _ = write!(out, "{inner}attrsOf = ");
            emit_names(element, root, depth + 2, out);
            out.push_str(";\n");
            let _ = writeln!(out, "{indent}}};");
        } else {
            let _ = writeln!(out, "{indent}{nix_name} = {compiler};");
        }
    }
    let _ = write!(out, "{close}}}");
}

fn emit_properties(
    object: &Value,
    root: &Value,
    names: &Names,
    path: &mut Vec<String>,
    depth: usize,
    out: &mut String,
) {
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    let siblings: Vec<String> = properties.keys().cloned().collect();
    let mut first = true;
    for (name, property) in properties {
        if !first {
            out.push('\n');
        }
        first = false;
        path.push(name.clone());
        let resolved = crate::schema::resolve_ref(root, property).clone();
        let indent = "  ".repeat(depth);
        let nix_name = attr_name(&camel_case(name));
        if resolved.get("properties").is_some() {
            if let Some(description) = description_of(property, &resolved) {
                let description = names.describe(&description, path, &siblings);
                for line in wrap(&description, WIDTH - indent.len() - 2) {
                    let _ = writeln!(out, "{indent}# {line}");
                }
            }
            let _ = writeln!(out, "{indent}{nix_name} = {{");
            emit_properties(&resolved, root, names, path, depth + 1, out);
            let _ = writeln!(out, "{indent}}};");
        } else if let Some(element) = submodule_of(&resolved, root) {
            let description = description_of(property, &resolved)
                .map(|d| names.describe(&d, path, &siblings))
                .unwrap_or_default();
            emit_submodule_option(
                &nix_name,
                element,
                root,
                names,
                path,
                description,
                depth,
                out,
            );
        } else {
            let description = description_of(property, &resolved)
                .map(|d| names.describe(&d, path, &siblings))
                .unwrap_or_default();
            emit_option(
                &nix_name,
                property,
                &resolved,
                path,
                description,
                depth,
                out,
            );
        }
        path.pop();
    }
}

/// A map of sections: `types.attrsOf (types.submodule { options = …; })`, formatted as
/// nixfmt formats it.
#[allow(clippy::too_many_arguments)]
fn emit_submodule_option(
    nix_name: &str,
    element: &Value,
    root: &Value,
    names: &Names,
    path: &mut Vec<String>,
    description: String,
    depth: usize,
    out: &mut String,
) {
    let indent = "  ".repeat(depth);
    let inner = "  ".repeat(depth + 1);
    let _ = writeln!(out, "{indent}{nix_name} = mkOption {{");
    let _ = writeln!(out, "{inner}type = types.attrsOf (");
    let _ = writeln!(out, "{inner}  types.submodule {{");
    let _ = writeln!(out, "{inner}    options = {{");
    path.push("<name>".to_owned());
    emit_properties(element, root, names, path, depth + 4, out);
    path.pop();
    let _ = writeln!(out, "{inner}    }};");
    let _ = writeln!(out, "{inner}  }}");
    let _ = writeln!(out, "{inner});");
    let _ = writeln!(out, "{inner}default = {{ }};");
    emit_description(&inner, &description, out);
    let _ = writeln!(out, "{indent}}};");
}

fn emit_option(
    nix_name: &str,
    property: &Value,
    resolved: &Value,
    path: &[String],
    mut description: String,
    depth: usize,
    out: &mut String,
) {
    let indent = "  ".repeat(depth);
    let inner = "  ".repeat(depth + 1);
    let _ = writeln!(out, "{indent}{nix_name} = mkOption {{");
    let ty = nix_type(resolved, path);
    let ty = match ty
        .strip_prefix("types.listOf (")
        .and_then(|r| r.strip_suffix(')'))
        .filter(|r| r.contains(ENUM_BREAK))
    {
        // A list of a multi-line enum: nixfmt breaks the parentheses too.
        Some(element) => {
            let element = element
                .replace(ENUM_BREAK, &format!("\n{inner}    "))
                .replace(ENUM_END, &format!("\n{inner}  ]"));
            format!("types.listOf (\n{inner}  {element}\n{inner})")
        }
        None => ty
            .replace(ENUM_BREAK, &format!("\n{inner}  "))
            .replace(ENUM_END, &format!("\n{inner}]")),
    };
    let _ = writeln!(out, "{inner}type = {ty};");
    let dotted = path.join(".");
    if let Some((_, expression)) = NIX_DEFAULTS.iter().find(|(p, _)| *p == dotted) {
        let _ = writeln!(out, "{inner}default = {expression};");
        let text = format!(
            "\"{}\"",
            escape_string(&expression.replace("cfg.", "config.services.gitlab-mattermost."))
        );
        let _ = writeln!(out, "{inner}defaultText = lib.literalExpression {text};");
    } else if let Some(default) = property.get("default").or_else(|| resolved.get("default")) {
        emit_binding(&inner, "default", default, out);
    }
    if let Some(variants) = enum_variants(resolved) {
        let documented: Vec<String> = variants
            .iter()
            .filter_map(|(value, doc)| {
                doc.as_ref()
                    .map(|doc| format!("- `{}`: {doc}", nix_literal_inline(value)))
            })
            .collect();
        if !documented.is_empty() {
            description.push_str("\n\n");
            description.push_str(&documented.join("\n"));
        }
    }
    emit_description(&inner, &description, out);
    if let Some(example) = property
        .get("examples")
        .or_else(|| resolved.get("examples"))
        .and_then(Value::as_array)
        .and_then(|examples| examples.first())
    {
        emit_binding(&inner, "example", example, out);
    }
    let _ = writeln!(out, "{indent}}};");
}

fn description_of(property: &Value, resolved: &Value) -> Option<String> {
    property
        .get("description")
        .or_else(|| resolved.get("description"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The values of a string enum with the doc comment of each, from either `enum` or a `oneOf`
/// of single-value enums (what schemars emits when the variants are documented).
fn enum_variants(schema: &Value) -> Option<Vec<(Value, Option<String>)>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(|v| (v.clone(), None)).collect());
    }
    let variants = schema.get("oneOf")?.as_array()?;
    variants
        .iter()
        .map(|variant| {
            let values = variant.get("enum")?.as_array()?;
            match values.as_slice() {
                [value] => Some((
                    value.clone(),
                    variant
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                )),
                _ => None,
            }
        })
        .collect()
}

fn types_of(schema: &Value) -> (Vec<String>, bool) {
    let names: Vec<String> = match schema.get("type") {
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let nullable = names.iter().any(|n| n == "null");
    (
        names.into_iter().filter(|n| n != "null").collect(),
        nullable,
    )
}

fn nix_type(schema: &Value, path: &[String]) -> String {
    let (names, nullable) = types_of(schema);
    let base = if let Some(variants) = enum_variants(schema) {
        let values: Vec<String> = variants
            .iter()
            .map(|(v, _)| nix_literal_inline(v))
            .collect();
        match values.as_slice() {
            [one] => format!("types.enum [ {one} ]"),
            // nixfmt puts the items of a list of two or more on lines of their own.
            _ => format!(
                "types.enum [{ENUM_BREAK}{}{ENUM_END}",
                values.join(ENUM_BREAK)
            ),
        }
    } else {
        match names.as_slice() {
            [name] if name == "string" => {
                if is_secret_path(path) {
                    "secretFile".to_owned()
                } else {
                    "types.str".to_owned()
                }
            }
            [name] if name == "boolean" => "types.bool".to_owned(),
            [name] if name == "integer" => integer_type(schema, path),
            [name] if name == "array" => {
                let items = schema.get("items").cloned().unwrap_or(Value::Bool(true));
                // An enum's items refer to its definition (`events`).
                let root = schema_root();
                let items = crate::schema::resolve_ref(root, &items).clone();
                format!("types.listOf {}", parenthesize(nix_type(&items, path)))
            }
            [name] if name == "object" => match schema.get("additionalProperties") {
                Some(Value::Object(values)) => {
                    let mut value_path = path.to_vec();
                    value_path.push("<name>".to_owned());
                    let element = nix_type(&Value::Object(values.clone()), &value_path);
                    format!("types.attrsOf {}", parenthesize(element))
                }
                // Free-form JSON: Mattermost's own settings, checked by the compiler.
                _ => "(pkgs.formats.json { }).type".to_owned(),
            },
            _ => panic!(
                "no NixOS type for the schema at {}: {schema}",
                path.join(".")
            ),
        }
    };
    if nullable {
        format!("types.nullOr {}", parenthesize(base))
    } else {
        base
    }
}

fn integer_type(schema: &Value, path: &[String]) -> String {
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    let is_port = path.last().is_some_and(|name| name.ends_with("port"));
    let (named, full_range) = match schema.get("format").and_then(Value::as_str) {
        Some("uint16") if is_port => ("types.port", Some((0.0, 65535.0))),
        Some("uint16") => ("types.ints.u16", Some((0.0, 65535.0))),
        Some("uint32") => ("types.ints.u32", Some((0.0, 4294967295.0))),
        Some("uint8") => ("types.ints.u8", Some((0.0, 255.0))),
        Some(format) if format.starts_with("uint") => ("types.ints.unsigned", None),
        _ => ("types.int", None),
    };
    match (number("minimum"), number("maximum")) {
        // A range narrower than the integer type's: keep it, the compiler enforces it too.
        (Some(min), Some(max)) if Some((min, max)) != full_range => {
            format!("types.ints.between {} {}", min as u64, max as u64)
        }
        _ => named.to_owned(),
    }
}

fn parenthesize(expression: String) -> String {
    if expression.contains(' ') && !expression.starts_with('(') {
        format!("({expression})")
    } else {
        expression
    }
}

fn emit_description(indent: &str, description: &str, out: &mut String) {
    let width = WIDTH - indent.len() - 2;
    let single = format!("{indent}description = \"{}\";", escape_string(description));
    if !description.contains('\n') && single.len() <= WIDTH {
        let _ = writeln!(out, "{single}");
        return;
    }
    let _ = writeln!(out, "{indent}description = ''");
    for paragraph in description.split('\n') {
        if paragraph.is_empty() {
            out.push('\n');
            continue;
        }
        for line in wrap(paragraph, width) {
            let _ = writeln!(out, "{indent}  {}", escape_indented(&line));
        }
    }
    let _ = writeln!(out, "{indent}'';");
}

/// Greedy word wrap; a word longer than the width stays whole on its own line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    // A list item's continuation lines would need indenting; keep items on one line.
    if text.starts_with("- ") {
        return vec![text.to_owned()];
    }
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `name = value;` with a value that may span several lines (nixfmt's layout: lists of two or
/// more items and non-empty attribute sets one entry per line).
fn emit_binding(indent: &str, name: &str, value: &Value, out: &mut String) {
    let _ = write!(out, "{indent}{name} = ");
    write_value(indent, value, out);
    out.push_str(";\n");
}

fn write_value(indent: &str, value: &Value, out: &mut String) {
    let inner = format!("{indent}  ");
    match value {
        Value::Array(items) if items.len() >= 2 => {
            out.push_str("[\n");
            for item in items {
                out.push_str(&inner);
                write_value(&inner, item, out);
                out.push('\n');
            }
            let _ = write!(out, "{indent}]");
        }
        Value::Array(items) => match items.first() {
            Some(item) if !matches!(item, Value::Object(m) if !m.is_empty()) => {
                let _ = write!(out, "[ {} ]", nix_literal_inline(item));
            }
            Some(item) => {
                out.push_str("[\n");
                out.push_str(&inner);
                write_value(&inner, item, out);
                let _ = write!(out, "\n{indent}]");
            }
            None => out.push_str("[ ]"),
        },
        Value::Object(map) if !map.is_empty() => write_attrs(indent, map, out),
        other => out.push_str(&nix_literal_inline(other)),
    }
}

fn write_attrs(indent: &str, map: &Map<String, Value>, out: &mut String) {
    let inner = format!("{indent}  ");
    out.push_str("{\n");
    for (key, value) in map {
        let _ = write!(out, "{inner}{} = ", attr_name(key));
        write_value(&inner, value, out);
        out.push_str(";\n");
    }
    let _ = write!(out, "{indent}}}");
}

/// A scalar or empty collection as a one-line Nix literal.
fn nix_literal_inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("\"{}\"", escape_string(s)),
        Value::Array(items) if items.is_empty() => "[ ]".to_owned(),
        Value::Object(map) if map.is_empty() => "{ }".to_owned(),
        other => panic!("not a one-line literal: {other}"),
    }
}

fn escape_string(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => escaped.push_str("\\$"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Escapes text for a `''` string: `''` becomes `'''` and `${` becomes `''${`.
fn escape_indented(s: &str) -> String {
    s.replace("''", "'''").replace("${", "''${")
}

const KEYWORDS: &[&str] = &[
    "assert", "else", "if", "in", "inherit", "let", "or", "rec", "then", "with",
];

fn attr_name(name: &str) -> String {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '\''))
        && !KEYWORDS.contains(&name);
    if valid {
        name.to_owned()
    } else {
        format!("\"{}\"", escape_string(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(dotted: &str) -> Vec<String> {
        dotted.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn every_file_key_replacing_an_inline_secret_is_a_secret_path() {
        for (_, file_key) in crate::schema::INLINE_SECRET_KEYS {
            assert!(is_secret_path(&path(file_key)), "{file_key}");
        }
        assert!(is_secret_path(&path("setting_files.<name>")));
        assert!(is_secret_path(&path("nginx.certificate_key")));
        assert!(!is_secret_path(&path("nginx.certificate")));
        assert!(!is_secret_path(&path("gitlab.id")));
    }

    #[test]
    fn secret_options_use_the_secret_file_type() {
        let nix = render_options_nix();
        for option in [
            "passwordFile = mkOption {\n        type = types.nullOr secretFile;",
            "secretFile = mkOption {\n        type = types.nullOr secretFile;",
            "settingFiles = mkOption {\n      type = types.attrsOf secretFile;",
            "certificateKey = mkOption {\n        type = types.nullOr secretFile;",
        ] {
            assert!(nix.contains(option), "missing:\n{option}\nin:\n{nix}");
        }
    }

    #[test]
    fn types_defaults_and_examples_follow_the_schema() {
        let nix = render_options_nix();
        for expected in [
            "port = mkOption {\n        type = types.ints.between 1 65535;\n        default = 8065;",
            "redirectHttpPort = mkOption {\n        type = types.ints.between 1 65535;\n        default = 80;",
            "uid = mkOption {\n        type = types.nullOr (types.ints.between 1 4294967294);\n        default = null;",
            "connectionSecurity = mkOption {\n        type = types.enum [\n          \"\"\n          \"TLS\"\n          \"STARTTLS\"\n        ];\n        default = \"\";",
            "kind = mkOption {\n        type = types.enum [\n          \"local\"\n          \"external\"\n        ];\n        default = \"local\";",
            "settings = mkOption {\n      type = (pkgs.formats.json { }).type;",
            "environment = mkOption {\n      type = types.attrsOf types.str;\n      default = { };",
            "readReplicas = mkOption {\n        type = types.listOf types.str;\n        default = [ ];",
            "interval = mkOption {\n          type = types.ints.u32;\n          default = 30;",
            "default = [\n          \"0.0.0.0\"\n          \"[::]\"\n        ];",
            "example = {\n        \"SqlSettings.AtRestEncryptKey\" = \"/etc/gitlab-mattermost-secrets/at-rest-key\";\n      };",
            "default = \"${cfg.package}\";",
        ] {
            assert!(nix.contains(expected), "missing:\n{expected}\nin:\n{nix}");
        }
        // externalUrl has no default: NixOS then asks for it.
        let external = nix.split("externalUrl = mkOption {").nth(1).unwrap();
        let external = external.split("};").next().unwrap();
        assert!(!external.contains("default ="), "{external}");
    }

    /// Every field of every schema definition, with the names of its section's fields.
    fn schema_fields() -> Vec<String> {
        let root = schema_root();
        root["definitions"]
            .as_object()
            .unwrap()
            .values()
            .chain([root])
            .flat_map(|d| d.get("properties").and_then(Value::as_object))
            .flat_map(|p| p.keys().cloned())
            .collect()
    }

    #[test]
    fn every_schema_field_is_an_option_under_its_camel_case_name() {
        let nix = render_options_nix();
        let names = render_names_nix();
        let mut missing = Vec::new();
        for name in schema_fields() {
            let camel = camel_case(&name);
            if !nix.contains(&format!(" {camel} = ")) {
                missing.push(format!("{name} (option {camel})"));
            }
            if !names.contains(&format!(" = \"{name}\";")) {
                missing.push(format!("{name} (in names.nix)"));
            }
        }
        assert!(missing.is_empty(), "no option for {missing:?}");
    }

    #[test]
    fn no_declared_option_or_section_has_an_underscore() {
        for line in render_options_nix().lines() {
            let Some((name, rest)) = line.trim_start().split_once(" = ") else {
                continue;
            };
            if rest.starts_with("mkOption {") || rest == "{" {
                assert!(!name.contains('_'), "snake_case option: {line}");
            }
        }
    }

    #[test]
    fn camel_case_joins_words() {
        for (snake, camel) in [
            ("external_url", "externalUrl"),
            ("id_file", "idFile"),
            (
                "skip_server_certificate_verification",
                "skipServerCertificateVerification",
            ),
            ("s3_bucket", "s3Bucket"),
            ("access_key_id", "accessKeyId"),
            ("site_url", "siteUrl"),
            ("version", "version"),
            ("a__b", "aB"),
            ("_private", "private"),
        ] {
            assert_eq!(camel_case(snake), camel);
        }
    }

    #[test]
    fn names_map_every_option_back_to_the_compiler() {
        let names = render_names_nix();
        for expected in [
            "  externalUrl = \"external_url\";\n",
            "  fileStorage = {\n    name = \"file_storage\";\n    options = {\n",
            "      accessKeyId = \"access_key_id\";\n",
            "      batching = {\n        name = \"batching\";\n        options = {\n          enable = \"enable\";\n          interval = \"interval\";\n          bufferSize = \"buffer_size\";\n",
            "  settingFiles = \"setting_files\";\n",
        ] {
            assert!(names.contains(expected), "missing:\n{expected}\nin:\n{names}");
        }
        assert!(names.ends_with("}\n"), "{names}");
    }

    #[test]
    fn descriptions_name_other_options_as_nixos_does() {
        // Descriptions are wrapped: compare the words.
        let nix = render_options_nix()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // A sibling and a path from the top are renamed...
        assert!(
            nix.contains("use `idFile` when a registration step writes it"),
            "{nix}"
        );
        assert!(nix.contains("Needs `externalUrl`."), "{nix}");
        // ...but an option's own name in its text is what it sets, here nginx's directive.
        assert!(
            nix.contains("Largest request body (`client_max_body_size`)"),
            "{nix}"
        );
        // Mattermost's names are not options.
        assert!(nix.contains("`ServiceSettings.SiteURL`"), "{nix}");
    }

    #[test]
    fn imported_configs_take_the_nixos_names_but_keep_free_form_keys() {
        let config = serde_json::json!({
            "external_url": "https://chat.example.com",
            "file_storage": {"access_key_id": "AKIA", "secret_access_key_file": "/run/s3"},
            "smtp": {"batching": {"buffer_size": 10}},
            "nginx": {"proxy_headers": {"X_Custom_Header": "1"}},
            "environment": {"https_proxy": "http://proxy:3128"},
            "settings": {"ServiceSettings": {"EnableLocalMode": true}},
            "setting_files": {"SqlSettings.AtRestEncryptKey": "/run/key"},
        });
        let Value::Object(config) = config else {
            unreachable!()
        };
        let renamed = Value::Object(to_nixos_names(&config));
        assert_eq!(
            renamed,
            serde_json::json!({
                "externalUrl": "https://chat.example.com",
                "fileStorage": {"accessKeyId": "AKIA", "secretAccessKeyFile": "/run/s3"},
                "smtp": {"batching": {"bufferSize": 10}},
                "nginx": {"proxyHeaders": {"X_Custom_Header": "1"}},
                "environment": {"https_proxy": "http://proxy:3128"},
                "settings": {"ServiceSettings": {"EnableLocalMode": true}},
                "settingFiles": {"SqlSettings.AtRestEncryptKey": "/run/key"},
            })
        );
    }

    #[test]
    fn strings_are_escaped_for_nix() {
        assert_eq!(escape_string(r#"a"b\c ${x} $y"#), r#"a\"b\\c \${x} $y"#);
        assert_eq!(escape_indented("'' ${x}"), "''' ''${x}");
        assert_eq!(
            attr_name("SqlSettings.AtRestEncryptKey"),
            "\"SqlSettings.AtRestEncryptKey\""
        );
        assert_eq!(
            attr_name("MM_TEAMSETTINGS_SITENAME"),
            "MM_TEAMSETTINGS_SITENAME"
        );
        assert_eq!(attr_name("in"), "\"in\"");
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            vec!["averyveryverylongword", "x"]
        );
    }
}
