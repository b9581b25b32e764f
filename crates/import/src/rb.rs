//! gitlab.rb statements as flat `key = value` entries, and Ruby literals as JSON.
//!
//! The `gitlab-rb` crate parses the Ruby subset; this module only flattens what it returns:
//! `mattermost['env']['X'] = v` and `mattermost['env'] = {'X' => v}` both become entries
//! the importer can look up by key, each with the line it came from.

use std::fmt;

use gitlab_rb::{Pos, Spanned, Statement, Value};
use serde_json::Value as Json;

/// A gitlab.rb key: a DSL call (`external_url 'x'`) or an index assignment (`mattermost['k']`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RbKey {
    Call(String),
    Index { target: String, keys: Vec<String> },
}

impl RbKey {
    pub fn index(target: &str, key: &str) -> RbKey {
        RbKey::Index {
            target: target.to_string(),
            keys: vec![key.to_string()],
        }
    }

    /// The receiver (`mattermost`) or the call name (`external_url`).
    pub fn target(&self) -> &str {
        match self {
            RbKey::Call(name) => name,
            RbKey::Index { target, .. } => target,
        }
    }
}

impl fmt::Display for RbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RbKey::Call(name) => write!(f, "{name}"),
            RbKey::Index { target, keys } => {
                write!(f, "{target}")?;
                for k in keys {
                    write!(f, "['{k}']")?;
                }
                Ok(())
            }
        }
    }
}

/// One statically known assignment or call.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: RbKey,
    pub value: Spanned<Value>,
    pub pos: Pos,
}

/// Parse the bytes of a gitlab.rb (UTF-8 unless a magic comment says otherwise; bad bytes
/// only matter outside comments). Every error names the file, line and column (exit 2).
pub fn parse_source(source: &str, bytes: &[u8]) -> Result<gitlab_rb::Parsed, super::ImportError> {
    gitlab_rb::parse_bytes(bytes).map_err(|errors| {
        let mut all = crate::diag::Diagnostics::default();
        for e in errors {
            let pos = crate::diag::Pos {
                line: e.pos.line as usize,
                column: e.pos.column as usize,
            };
            all.push(
                crate::diag::Diagnostic::new("", format!("invalid gitlab.rb: {}", e.message))
                    .at(crate::diag::Origin {
                        source: source.to_string(),
                        pos: Some(pos),
                    })
                    .with_hint("fix it at that line and column, then import again"),
            );
        }
        super::ImportError::Invalid(all)
    })
}

/// Flatten parsed statements into entries, in source order. A call keeps its first
/// argument (every Omnibus DSL call takes one); extra arguments are returned as problems.
pub fn entries(statements: &[Statement]) -> (Vec<Entry>, Vec<(Pos, String)>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for s in statements {
        match s {
            Statement::Call { name, args, pos } => match args.as_slice() {
                [one] => out.push(Entry {
                    key: RbKey::Call(name.clone()),
                    value: one.clone(),
                    pos: *pos,
                }),
                [] => problems.push((*pos, format!("`{name}` without an argument"))),
                [first, ..] => {
                    problems.push((
                        *pos,
                        format!(
                            "`{name}` with {} arguments; only the first is used",
                            args.len()
                        ),
                    ));
                    out.push(Entry {
                        key: RbKey::Call(name.clone()),
                        value: first.clone(),
                        pos: *pos,
                    });
                }
            },
            Statement::Assign {
                target,
                keys,
                value,
                pos,
            } => out.push(Entry {
                key: RbKey::Index {
                    target: target.clone(),
                    keys: keys.clone(),
                },
                value: value.clone(),
                pos: *pos,
            }),
        }
    }
    (out, problems)
}

/// A hash key as text: strings and symbols are the same key to Omnibus (it stringifies them).
pub fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) | Value::Symbol(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A Ruby literal as JSON. `nil` becomes JSON null (the caller decides what unset means).
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Str(s) | Value::Symbol(s) => Json::String(s.clone()),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Bool(b) => Json::Bool(*b),
        Value::Nil => Json::Null,
        Value::Array(items) => Json::Array(items.iter().map(|i| to_json(&i.value)).collect()),
        Value::Hash(pairs) => {
            let mut map = serde_json::Map::new();
            for (k, v) in pairs {
                let key = key_text(&k.value).unwrap_or_else(|| to_json(&k.value).to_string());
                map.insert(key, to_json(&v.value));
            }
            Json::Object(map)
        }
    }
}

/// How Omnibus turns a value into environment text: Ruby's `to_s` (nil is empty).
pub fn ruby_to_s(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Symbol(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Nil => String::new(),
        other => to_json(other).to_string(),
    }
}

/// A short description of a value's kind, for messages that must not show the value.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Str(_) => "a string",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Nil => "nil",
        Value::Symbol(_) => "a symbol",
        Value::Array(_) => "an array",
        Value::Hash(_) => "a hash",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_display_like_ruby() {
        assert_eq!(
            RbKey::index("mattermost", "env").to_string(),
            "mattermost['env']"
        );
        assert_eq!(
            RbKey::Call("external_url".into()).to_string(),
            "external_url"
        );
    }

    #[test]
    fn literals_become_json() {
        let parsed =
            gitlab_rb::parse("x['a'] = {'k' => [1, true, nil], s: :sym}\n").expect("valid ruby");
        let (entries, problems) = entries(&parsed.statements);
        assert!(problems.is_empty());
        assert_eq!(
            to_json(&entries[0].value.value),
            serde_json::json!({"k": [1, true, null], "s": "sym"})
        );
    }
}
