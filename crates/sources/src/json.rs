//! JSON input (strict: what `builtins.toJSON` and editors produce), with key positions.

use std::collections::BTreeMap;
use std::ops::Range;

use jsonc_parser::ast::{ObjectPropName, Value as Ast};
use jsonc_parser::{parse_to_ast, CollectOptions, ParseOptions};
use serde_json::{Map, Value};

use super::{KeyPath, ParseFailure, ReadProblem};
use crate::diag::{LineIndex, Pos};

pub(super) fn parse(
    text: &str,
    (spans, names): super::SpanMaps,
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
    // A UTF-8 byte order mark at the start (RFC 8259 lets a parser ignore it) was taken off
    // by `parse_text`: a second one is an error.
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
    let mut keys = BTreeMap::new();
    let mut out = Spans {
        values: spans,
        names,
        keys: &mut keys,
    };
    convert(&index, &ast, &mut path, &mut out, problems)
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

/// Where each value is (of its name for an object) and where each key's name is.
struct Spans<'a> {
    values: &'a mut BTreeMap<KeyPath, Range<usize>>,
    names: &'a mut BTreeMap<KeyPath, Range<usize>>,
    keys: &'a mut BTreeMap<KeyPath, Pos>,
}

fn convert(
    text: &LineIndex,
    ast: &Ast,
    path: &mut KeyPath,
    spans: &mut Spans,
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
                spans.values.insert(path.clone(), range(el));
                items.push(convert(text, el, path, spans, problems)?);
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
                let name_range = match &prop.name {
                    ObjectPropName::String(s) => s.range.start..s.range.end,
                    ObjectPropName::Word(w) => w.range.start..w.range.end,
                };
                if map.contains_key(&name) {
                    // JSON readers disagree on which one wins; TOML and Nix refuse it too.
                    let first = spans.keys.get(path.as_slice()).copied().unwrap_or(pos);
                    problems.push(ReadProblem {
                        path: path.clone(),
                        pos,
                        span: Some(name_range),
                        message: format!(
                            "the key `{name}` is given twice (first at line {}, column {})",
                            first.line, first.column
                        ),
                        hint: "keep one of them".into(),
                    });
                } else {
                    spans.keys.insert(path.clone(), pos);
                    // An object spread over several lines is placed at its name, as a TOML
                    // table is (rather than showing every line of it).
                    let value = match &prop.value {
                        Ast::Object(o)
                            if text.pos(o.range.start).line != text.pos(o.range.end).line =>
                        {
                            name_range.clone()
                        }
                        v => range(v),
                    };
                    spans.values.insert(path.clone(), value);
                    spans.names.insert(path.clone(), name_range);
                }
                let v = convert(text, &prop.value, path, spans, problems)?;
                path.pop();
                map.insert(name, v);
            }
            Value::Object(map)
        }
    })
}

fn range(v: &Ast) -> Range<usize> {
    let r = match v {
        Ast::StringLit(s) => s.range,
        Ast::NumberLit(n) => n.range,
        Ast::BooleanLit(b) => b.range,
        Ast::NullKeyword(n) => n.range,
        Ast::Array(a) => a.range,
        Ast::Object(o) => o.range,
    };
    r.start..r.end
}
