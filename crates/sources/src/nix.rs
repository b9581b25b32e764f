//! Nix attribute-set input: literal data only, parsed with rnix (NixOS's own parser).
//!
//! Anything that needs evaluation (`let`, functions, `import`, `with`, interpolation, ...) is
//! refused with the construct's name and line: such files should be evaluated to JSON first.

use std::collections::BTreeMap;
use std::ops::Range;

use rnix::ast::{self, HasEntry, InterpolPart, LiteralKind, UnaryOpKind};
use rowan::ast::AstNode;
use serde_json::{Map, Value};

use super::{KeyPath, ParseFailure, SpanMaps};
use crate::diag::{LineIndex, Pos};

const EVAL_HINT: &str = "only literal data is read from .nix files; evaluate it to JSON first: \
nix-instantiate --eval --strict --json FILE.nix > config.json";

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

pub(super) fn parse(text: &str, (spans, key_spans): SpanMaps) -> Result<Value, ParseFailure> {
    let parsed = rnix::Root::parse(text);
    if let Some(err) = parsed.errors().first() {
        return Err(syntax_error(text, err));
    }
    let root = parsed.tree();
    let expr = root.expr().ok_or_else(|| {
        (
            Pos { line: 1, column: 1 },
            "the file is empty".to_string(),
            None,
        )
    })?;
    let mut conv = Converter {
        index: LineIndex::new(text),
        spans,
        key_spans,
    };
    conv.expr(&expr, &mut Vec::new())
}

fn syntax_error(text: &str, err: &rnix::ParseError) -> ParseFailure {
    use rnix::ParseError as E;
    let offset = match err {
        E::Unexpected(r)
        | E::UnexpectedExtra(r)
        | E::UnexpectedWanted(_, r, _)
        | E::UnexpectedDoubleBind(r)
        | E::DuplicatedArgs(r, _) => usize::from(r.start()),
        _ => text.len(),
    };
    (
        Pos::from_offset(text, offset),
        format!("invalid Nix: {err}"),
        None,
    )
}

struct Converter<'a> {
    index: LineIndex<'a>,
    /// Where each value is (the name, for an attribute set over several lines or a name
    /// that only leads to others, as in `a.b = 1`).
    spans: &'a mut BTreeMap<KeyPath, Range<usize>>,
    /// Where each name is.
    key_spans: &'a mut BTreeMap<KeyPath, Range<usize>>,
}

fn range(node: &impl AstNode) -> Range<usize> {
    let r = node.syntax().text_range();
    usize::from(r.start())..usize::from(r.end())
}

impl Converter<'_> {
    fn pos(&self, node: &impl AstNode) -> Pos {
        self.index
            .pos(usize::from(node.syntax().text_range().start()))
    }

    fn needs_eval(&self, node: &impl AstNode, what: &str) -> ParseFailure {
        (
            self.pos(node),
            format!("{what} needs evaluation"),
            Some(EVAL_HINT.to_string()),
        )
    }

    fn expr(&mut self, e: &ast::Expr, path: &mut KeyPath) -> Result<Value, ParseFailure> {
        if path.len() > MAX_DEPTH {
            return Err((self.pos(e), "nesting is too deep".into(), None));
        }
        use ast::Expr as E;
        match e {
            E::AttrSet(set) => self.attr_set(set, path),
            E::List(list) => self.list(list, path),
            E::Str(s) => self.string(s).map(Value::String),
            E::Literal(l) => self.literal(l),
            E::Ident(i) => self.ident(i),
            E::Paren(p) => match p.expr() {
                Some(inner) => self.expr(&inner, path),
                None => Err((self.pos(p), "empty parentheses".into(), None)),
            },
            E::UnaryOp(op) => self.negate(op),
            E::PathAbs(_) | E::PathRel(_) | E::PathHome(_) => self.path(e),
            E::PathSearch(_) => Err(self.needs_eval(e, "a search path like <nixpkgs>")),
            E::LetIn(_) | E::LegacyLet(_) => Err(self.needs_eval(e, "`let … in`")),
            E::Lambda(_) => Err(self.needs_eval(e, "a function")),
            E::Apply(a) => Err(self.needs_eval(a, &apply_name(a))),
            E::With(_) => Err(self.needs_eval(e, "`with`")),
            E::IfElse(_) => Err(self.needs_eval(e, "`if … then … else`")),
            E::Select(_) => Err(self.needs_eval(e, "an attribute selection (`a.b`)")),
            E::BinOp(_) => Err(self.needs_eval(e, "an operator expression")),
            E::Assert(_) => Err(self.needs_eval(e, "`assert`")),
            E::HasAttr(_) => Err(self.needs_eval(e, "`?` (has attribute)")),
            E::CurPos(_) => Err(self.needs_eval(e, "`__curPos`")),
            E::Root(_) | E::Error(_) => Err((self.pos(e), "unexpected syntax".into(), None)),
        }
    }

    fn attr_set(&mut self, set: &ast::AttrSet, path: &mut KeyPath) -> Result<Value, ParseFailure> {
        if set.rec_token().is_some() {
            return Err(self.needs_eval(set, "`rec { … }`"));
        }
        if let Some(inherit) = set.inherits().next() {
            return Err(self.needs_eval(&inherit, "`inherit`"));
        }
        let mut map = Map::new();
        for entry in set.attrpath_values() {
            let attrpath = entry
                .attrpath()
                .ok_or_else(|| (self.pos(&entry), "missing attribute name".to_string(), None))?;
            let mut keys = Vec::new();
            for attr in attrpath.attrs() {
                keys.push((self.attr_name(&attr)?, range(&attr)));
            }
            let value_expr = entry.value().ok_or_else(|| {
                (
                    self.pos(&entry),
                    "missing value after `=`".to_string(),
                    None,
                )
            })?;
            let depth = path.len();
            let value_span = range(&value_expr);
            let one_line =
                self.index.pos(value_span.start).line == self.index.pos(value_span.end).line;
            let last = keys.len().saturating_sub(1);
            for (i, (k, name)) in keys.iter().enumerate() {
                path.push(k.clone());
                let value =
                    if i == last && (one_line || !matches!(value_expr, ast::Expr::AttrSet(_))) {
                        value_span.clone()
                    } else {
                        name.clone()
                    };
                self.spans.entry(path.clone()).or_insert(value);
                self.key_spans.entry(path.clone()).or_insert(name.clone());
            }
            let value = self.expr(&value_expr, path)?;
            path.truncate(depth);
            let names: Vec<String> = keys.into_iter().map(|(k, _)| k).collect();
            insert_nested(&mut map, &names, value).map_err(|m| (self.pos(&entry), m, None))?;
        }
        Ok(Value::Object(map))
    }

    fn attr_name(&self, attr: &ast::Attr) -> Result<String, ParseFailure> {
        match attr {
            ast::Attr::Ident(i) => Ok(i.to_string()),
            ast::Attr::Str(s) => self.string(s),
            ast::Attr::Dynamic(d) => Err(self.needs_eval(d, "a dynamic attribute name `${…}`")),
        }
    }

    fn list(&mut self, list: &ast::List, path: &mut KeyPath) -> Result<Value, ParseFailure> {
        let mut items = Vec::new();
        for (i, item) in list.items().enumerate() {
            path.push(i.to_string());
            self.spans.insert(path.clone(), range(&item));
            items.push(self.expr(&item, path)?);
            path.pop();
        }
        Ok(Value::Array(items))
    }

    fn string(&self, s: &ast::Str) -> Result<String, ParseFailure> {
        let mut out = String::new();
        for part in s.normalized_parts() {
            match part {
                InterpolPart::Literal(text) => out.push_str(&text),
                InterpolPart::Interpolation(i) => {
                    return Err(self.needs_eval(&i, "string interpolation `${…}`"))
                }
            }
        }
        Ok(out)
    }

    fn literal(&self, l: &ast::Literal) -> Result<Value, ParseFailure> {
        let bad = |what: &str| (self.pos(l), format!("invalid {what}: {l}"), None);
        match l.kind() {
            LiteralKind::Integer(i) => i.value().map(Value::from).map_err(|_| bad("integer")),
            LiteralKind::Float(f) => f
                .value()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad("float")),
            LiteralKind::Uri(u) => Ok(Value::String(u.to_string())),
        }
    }

    fn ident(&self, i: &ast::Ident) -> Result<Value, ParseFailure> {
        match i.to_string().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "null" => Ok(Value::Null),
            name => Err(self.needs_eval(i, &format!("the variable `{name}`"))),
        }
    }

    fn negate(&self, op: &ast::UnaryOp) -> Result<Value, ParseFailure> {
        let inner = op.expr();
        match (op.operator(), inner) {
            (Some(UnaryOpKind::Negate), Some(ast::Expr::Literal(l))) => match self.literal(&l)? {
                Value::Number(n) if n.is_i64() => Ok(Value::from(-n.as_i64().unwrap_or(0))),
                Value::Number(n) => Ok(n
                    .as_f64()
                    .and_then(|f| serde_json::Number::from_f64(-f))
                    .map_or(Value::Null, Value::Number)),
                _ => Err(self.needs_eval(op, "negating a non-number")),
            },
            _ => Err(self.needs_eval(op, "an operator expression")),
        }
    }

    fn path(&self, e: &ast::Expr) -> Result<Value, ParseFailure> {
        let text = e.syntax().text().to_string();
        if text.contains("${") {
            return Err(self.needs_eval(e, "path interpolation `${…}`"));
        }
        Ok(Value::String(text))
    }
}

fn apply_name(a: &ast::Apply) -> String {
    match a.lambda() {
        Some(ast::Expr::Ident(i)) if i.to_string() == "import" => "`import`".into(),
        Some(f) => format!("a function call (`{}`)", f.syntax().text()),
        None => "a function call".into(),
    }
}

/// Insert `value` at `keys` in `map`, merging with sets from earlier `a.b = …;` lines.
fn insert_nested(
    map: &mut Map<String, Value>,
    keys: &[String],
    value: Value,
) -> Result<(), String> {
    let Some((first, rest)) = keys.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        return match (map.get_mut(first), value) {
            (Some(Value::Object(existing)), Value::Object(new)) => {
                for (k, v) in new {
                    insert_nested(existing, std::slice::from_ref(&k), v)?;
                }
                Ok(())
            }
            (Some(_), _) => Err(format!("attribute `{first}` is defined twice")),
            (None, v) => {
                map.insert(first.clone(), v);
                Ok(())
            }
        };
    }
    let child = map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(child) => insert_nested(child, rest, value),
        _ => Err(format!("attribute `{first}` is defined twice")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> Result<Value, ParseFailure> {
        parse(text, (&mut BTreeMap::new(), &mut BTreeMap::new()))
    }

    #[test]
    fn literal_data_parses() {
        let v = eval(
            r#"{
  a.b = 1; a.c = "x";
  list = [ true false null (-2) 1.5 /etc/x ];
  multi = ''
    line one
      two
  '';
  "quoted key" = "esc\"aped\n";
}"#,
        )
        .expect("parses");
        assert_eq!(v["a"]["b"], 1);
        assert_eq!(v["a"]["c"], "x");
        assert_eq!(
            v["list"],
            serde_json::json!([true, false, null, -2, 1.5, "/etc/x"])
        );
        assert_eq!(v["multi"], "line one\n  two\n");
        assert_eq!(v["quoted key"], "esc\"aped\n");
    }

    #[test]
    fn evaluation_is_refused_with_line() {
        for (text, what, line) in [
            ("{\n a = let x = 1; in x;\n}", "`let … in`", 2),
            ("{ a = import ./x.nix; }", "`import`", 1),
            ("{\n\n a = \"${foo}\";\n}", "interpolation", 3),
            ("x: { }", "function", 1),
            ("with lib; { }", "`with`", 1),
            ("{ a = b; }", "variable `b`", 1),
        ] {
            let (pos, msg, hint) = eval(text).expect_err(text);
            assert!(msg.contains(what), "{msg}");
            assert_eq!(pos.line, line, "{text}");
            assert!(hint.is_some_and(|h| h.contains("nix-instantiate --eval --strict --json")));
        }
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (pos, msg, _) = eval("{\n  a = 1\n}").expect_err("missing ;");
        assert!(msg.starts_with("invalid Nix"), "{msg}");
        assert_eq!(pos.line, 3);
    }

    #[test]
    fn duplicate_attributes_are_refused() {
        assert!(eval("{ a = 1; a = 2; }").is_err());
        assert!(eval("{ a.b = 1; a = 2; }").is_err());
    }
}
