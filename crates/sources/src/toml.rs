//! TOML input, with where every value is.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::{Map, Value};
use toml_edit::{Document, Item, Table};

use super::{KeyPath, ParseFailure, ReadProblem};
use crate::diag::{LineIndex, Pos};

pub(super) fn parse(
    text: &str,
    (spans, key_spans): super::SpanMaps,
    problems: &mut Vec<ReadProblem>,
) -> Result<Value, ParseFailure> {
    // A UTF-8 byte order mark at the start was taken off by `parse_text`: a second one is an
    // error.
    let index = LineIndex::new(text);
    let doc = Document::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        // toml_edit reads past a stray byte order mark and stops a little later: look for one
        // on the line it stopped at.
        let line_start = text
            .get(..offset)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line_end = text
            .get(offset..)
            .and_then(|t| t.find('\n'))
            .map_or(text.len(), |i| offset + i);
        let bom = text
            .get(line_start..line_end)
            .and_then(|line| line.find('\u{feff}'))
            .map(|i| line_start + i);
        if let Some((at, (message, hint))) =
            bom.and_then(|at| super::json::stray_bom(text, at).map(|m| (at, m)))
        {
            return (index.pos(at), format!("invalid TOML: {message}"), hint);
        }
        let message = e.message().trim().to_string();
        (index.pos(offset), format!("invalid TOML: {message}"), None)
    })?;
    let mut r = Reader {
        text: &index,
        spans,
        key_spans,
        problems,
    };
    Ok(r.table(doc.as_table(), &mut Vec::new()))
}

/// A `--set` key path: TOML's dotted-key syntax, so a quoted part may hold dots
/// (`integrations.gitlab_projects."my.group/app".webhook`); a key TOML cannot read (an
/// unquoted `group/app`) is split at its dots. `None` when a quote is left open.
pub(super) fn parse_key_path(key: &str) -> Option<Vec<String>> {
    match toml_edit::Key::parse(key) {
        Ok(parts) => Some(parts.iter().map(|k| k.get().to_string()).collect()),
        Err(_) if key.contains(['"', '\'']) => None,
        Err(_) => Some(key.split('.').map(str::to_string).collect()),
    }
}

/// Parse a single TOML value (for `--set`), e.g. `587`, `true`, `"x"`, `[1, 2]`. A date-time
/// is not a value here: the text is taken as a string instead.
pub(super) fn parse_value(raw: &str) -> Option<Value> {
    let doc = Document::parse(format!("v = {raw}")).ok()?;
    let item = doc.as_table().get("v")?;
    let mut problems = Vec::new();
    let mut r = Reader {
        text: &LineIndex::new(raw),
        spans: &mut BTreeMap::new(),
        key_spans: &mut BTreeMap::new(),
        problems: &mut problems,
    };
    let value = r.item_value(item, &mut Vec::new());
    problems.is_empty().then_some(value)
}

struct Reader<'a, 't> {
    text: &'a LineIndex<'t>,
    /// Where each value is: the value itself, or the name of a table.
    spans: &'a mut BTreeMap<KeyPath, Range<usize>>,
    /// Where each key's name is.
    key_spans: &'a mut BTreeMap<KeyPath, Range<usize>>,
    problems: &'a mut Vec<ReadProblem>,
}

impl Reader<'_, '_> {
    /// Where a value is; an inline table spread over several lines is placed at its key
    /// instead, as a table is (rather than showing every line of it).
    fn value_span(&self, v: &toml_edit::Value) -> Option<Range<usize>> {
        let span = v.span()?;
        let one_line = self
            .text
            .pos(span.start)
            .line
            .eq(&self.text.pos(span.end).line);
        (one_line || !v.is_inline_table()).then_some(span)
    }

    fn table(&mut self, t: &Table, path: &mut KeyPath) -> Value {
        let mut map = Map::new();
        for (key, item) in t.iter() {
            path.push(key.to_string());
            let value = match item {
                Item::Value(v) => self.value_span(v),
                _ => None,
            };
            let name = t.key(key).and_then(|k| k.span());
            if let Some(span) = value.or_else(|| name.clone()) {
                self.spans.insert(path.clone(), span);
            }
            if let Some(span) = name {
                self.key_spans.insert(path.clone(), span);
            }
            map.insert(key.to_string(), self.item_value(item, path));
            path.pop();
        }
        Value::Object(map)
    }

    fn item_value(&mut self, item: &Item, path: &mut KeyPath) -> Value {
        match item {
            Item::None => Value::Null,
            Item::Table(t) => self.table(t, path),
            Item::ArrayOfTables(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, t)| {
                        path.push(i.to_string());
                        let v = self.table(t, path);
                        path.pop();
                        v
                    })
                    .collect(),
            ),
            Item::Value(v) => self.value(v, path),
        }
    }

    fn value(&mut self, v: &toml_edit::Value, path: &mut KeyPath) -> Value {
        use toml_edit::Value as T;
        match v {
            T::String(s) => Value::String(s.value().clone()),
            T::Integer(i) => Value::from(*i.value()),
            T::Float(f) => {
                serde_json::Number::from_f64(*f.value()).map_or(Value::Null, Value::Number)
            }
            T::Boolean(b) => Value::Bool(*b.value()),
            T::Datetime(d) => {
                // No setting takes a date: an unquoted date is a mistake, not text.
                let span = v
                    .span()
                    .or_else(|| self.spans.get(path.as_slice()).cloned());
                let pos = span
                    .as_ref()
                    .map_or(Pos { line: 1, column: 1 }, |s| self.text.pos(s.start));
                self.problems.push(ReadProblem {
                    path: path.clone(),
                    pos,
                    span,
                    message: format!(
                        "expected a string, number or boolean, found the TOML date-time {}",
                        d.value()
                    ),
                    hint: format!("write it in quotes (\"{}\") if it is text", d.value()),
                });
                Value::String(d.value().to_string())
            }
            T::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, item)| {
                        path.push(i.to_string());
                        if let Some(span) = item.span() {
                            self.spans.insert(path.clone(), span);
                        }
                        let v = self.value(item, path);
                        path.pop();
                        v
                    })
                    .collect(),
            ),
            T::InlineTable(t) => {
                let mut map = Map::new();
                for (key, item) in t.iter() {
                    path.push(key.to_string());
                    let value = self.value_span(item);
                    let name = t.key(key).and_then(|k| k.span());
                    if let Some(span) = value.or_else(|| name.clone()) {
                        self.spans.insert(path.clone(), span);
                    }
                    if let Some(span) = name {
                        self.key_spans.insert(path.clone(), span);
                    }
                    map.insert(key.to_string(), self.value(item, path));
                    path.pop();
                }
                Value::Object(map)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn set_keys_are_dotted_toml_keys() {
        assert_eq!(parse_key_path("smtp.port"), parts(&["smtp", "port"]));
        assert_eq!(
            parse_key_path(r#"integrations.gitlab_projects."my.group/app".webhook"#),
            parts(&["integrations", "gitlab_projects", "my.group/app", "webhook"])
        );
        assert_eq!(
            parse_key_path("integrations.gitlab_projects.group/app.webhook"),
            parts(&["integrations", "gitlab_projects", "group/app", "webhook"])
        );
        assert_eq!(parse_key_path(r#"a."open"#), None);
    }
}
