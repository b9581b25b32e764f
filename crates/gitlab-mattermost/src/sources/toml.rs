//! TOML input, with the position of every key.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use toml_edit::{Document, Item, Table};

use super::{KeyPath, ParseFailure};
use crate::diag::{LineIndex, Pos};

pub(super) fn parse(
    text: &str,
    positions: &mut BTreeMap<KeyPath, Pos>,
) -> Result<Value, ParseFailure> {
    let index = LineIndex::new(text);
    let doc = Document::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let message = e.message().trim().to_string();
        (index.pos(offset), format!("invalid TOML: {message}"), None)
    })?;
    let mut path = Vec::new();
    Ok(table(&index, doc.as_table(), &mut path, positions))
}

/// Parse a single TOML value (for `--set`), e.g. `587`, `true`, `"x"`, `[1, 2]`.
pub(super) fn parse_value(raw: &str) -> Option<Value> {
    let doc = Document::parse(format!("v = {raw}")).ok()?;
    let item = doc.as_table().get("v")?;
    Some(item_value(
        &LineIndex::new(raw),
        item,
        &mut Vec::new(),
        &mut BTreeMap::new(),
    ))
}

fn table(
    text: &LineIndex,
    t: &Table,
    path: &mut KeyPath,
    positions: &mut BTreeMap<KeyPath, Pos>,
) -> Value {
    let mut map = Map::new();
    for (key, item) in t.iter() {
        path.push(key.to_string());
        if let Some(span) = t.key(key).and_then(|k| k.span()) {
            positions.insert(path.clone(), text.pos(span.start));
        }
        map.insert(key.to_string(), item_value(text, item, path, positions));
        path.pop();
    }
    Value::Object(map)
}

fn item_value(
    text: &LineIndex,
    item: &Item,
    path: &mut KeyPath,
    positions: &mut BTreeMap<KeyPath, Pos>,
) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Table(t) => table(text, t, path, positions),
        Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, t)| {
                    path.push(i.to_string());
                    let v = table(text, t, path, positions);
                    path.pop();
                    v
                })
                .collect(),
        ),
        Item::Value(v) => value(text, v, path, positions),
    }
}

fn value(
    text: &LineIndex,
    v: &toml_edit::Value,
    path: &mut KeyPath,
    positions: &mut BTreeMap<KeyPath, Pos>,
) -> Value {
    use toml_edit::Value as T;
    match v {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(i) => Value::from(*i.value()),
        T::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(Value::Null, Value::Number),
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, item)| {
                    path.push(i.to_string());
                    if let Some(span) = item.span() {
                        positions.insert(path.clone(), text.pos(span.start));
                    }
                    let v = value(text, item, path, positions);
                    path.pop();
                    v
                })
                .collect(),
        ),
        T::InlineTable(t) => {
            let mut map = Map::new();
            for (key, item) in t.iter() {
                path.push(key.to_string());
                if let Some(span) = t.key(key).and_then(|k| k.span()) {
                    positions.insert(path.clone(), text.pos(span.start));
                }
                map.insert(key.to_string(), value(text, item, path, positions));
                path.pop();
            }
            Value::Object(map)
        }
    }
}
