//! JSON input (strict: what `builtins.toJSON` and editors produce), with key positions.

use std::collections::BTreeMap;

use jsonc_parser::ast::{ObjectPropName, Value as Ast};
use jsonc_parser::{parse_to_ast, CollectOptions, ParseOptions};
use serde_json::{Map, Value};

use super::{KeyPath, ParseFailure, ReadProblem};
use crate::diag::{LineIndex, Pos};

pub(super) fn parse(
    text: &str,
    positions: &mut BTreeMap<KeyPath, Pos>,
    problems: &mut Vec<ReadProblem>,
) -> Result<Value, ParseFailure> {
    let strict = ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    // A UTF-8 byte order mark, which some Windows editors write: RFC 8259 lets a parser
    // ignore it, and the TOML reader already does. Positions are counted after it, as
    // editors (which hide it) show them.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let index = LineIndex::new(text);
    let parsed = parse_to_ast(text, &CollectOptions::default(), &strict).map_err(|e| {
        let at = e.range().start;
        match stray_bom(text, at) {
            Some((message, hint)) => (index.pos(at), format!("invalid JSON: {message}"), hint),
            None => (index.pos(at), format!("invalid JSON: {}", e.kind()), None),
        }
    })?;
    let ast = parsed.value.ok_or_else(|| {
        (
            Pos { line: 1, column: 1 },
            "the file is empty".to_string(),
            None,
        )
    })?;
    let mut path = Vec::new();
    convert(&index, &ast, &mut path, positions, problems)
}

/// A byte order mark where a parser stopped: a second one at the start, or one in the middle
/// of the text (two files joined with `cat`), which the parser's own message ("Unexpected
/// token") does not name, the character being invisible in an editor.
pub(super) fn stray_bom(text: &str, offset: usize) -> Option<(String, Option<String>)> {
    text.get(offset..)?.starts_with('\u{feff}').then(|| {
        (
            "an invisible byte order mark (U+FEFF, bytes EF BB BF) is here".to_string(),
            Some(
                "remove it: save the file as UTF-8 without BOM (one BOM at the very start is \
                 accepted)"
                    .to_string(),
            ),
        )
    })
}

fn convert(
    text: &LineIndex,
    ast: &Ast,
    path: &mut KeyPath,
    positions: &mut BTreeMap<KeyPath, Pos>,
    problems: &mut Vec<ReadProblem>,
) -> Result<Value, ParseFailure> {
    Ok(match ast {
        Ast::StringLit(s) => Value::String(s.value.to_string()),
        Ast::NumberLit(n) => {
            let v: Value = serde_json::from_str(n.value).map_err(|e| {
                (
                    text.pos(n.range.start),
                    format!("invalid number {}: {e}", n.value),
                    None,
                )
            })?;
            v
        }
        Ast::BooleanLit(b) => Value::Bool(b.value),
        Ast::NullKeyword(_) => Value::Null,
        Ast::Array(a) => {
            let mut items = Vec::with_capacity(a.elements.len());
            for (i, el) in a.elements.iter().enumerate() {
                path.push(i.to_string());
                positions.insert(path.clone(), text.pos(range_start(el)));
                items.push(convert(text, el, path, positions, problems)?);
                path.pop();
            }
            Value::Array(items)
        }
        Ast::Object(o) => {
            let mut map = Map::new();
            for prop in &o.properties {
                let name = match &prop.name {
                    ObjectPropName::String(s) => s.value.to_string(),
                    ObjectPropName::Word(w) => w.value.to_string(),
                };
                path.push(name.clone());
                let pos = text.pos(prop.range.start);
                if map.contains_key(&name) {
                    // JSON readers disagree on which one wins; TOML and Nix refuse it too.
                    let first = positions.get(path.as_slice()).copied().unwrap_or(pos);
                    problems.push(ReadProblem {
                        path: path.clone(),
                        pos,
                        message: format!(
                            "the key `{name}` is given twice (first at line {}, column {})",
                            first.line, first.column
                        ),
                        hint: "keep one of them".into(),
                    });
                } else {
                    positions.insert(path.clone(), pos);
                }
                let v = convert(text, &prop.value, path, positions, problems)?;
                path.pop();
                map.insert(name, v);
            }
            Value::Object(map)
        }
    })
}

fn range_start(v: &Ast) -> usize {
    match v {
        Ast::StringLit(s) => s.range.start,
        Ast::NumberLit(n) => n.range.start,
        Ast::BooleanLit(b) => b.range.start,
        Ast::NullKeyword(n) => n.range.start,
        Ast::Array(a) => a.range.start,
        Ast::Object(o) => o.range.start,
    }
}
