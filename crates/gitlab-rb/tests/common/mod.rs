//! Shared helpers: a canonical text rendering of parse results, so fixture
//! expectations can state the exact structure (every value and position) in
//! a readable file next to the fixture.

#![allow(dead_code)]

use gitlab_rb::{Parsed, Skipped, Spanned, Statement, Value};
use std::fmt::Write;
use std::path::{Path, PathBuf};

pub fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// The `.rb` files of a fixture directory, sorted.
pub fn fixtures(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir(kind))
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rb"))
        .collect();
    files.sort();
    files
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Renders statements and skipped entries, one per line, with positions.
pub fn render(parsed: &Parsed) -> String {
    let mut out = String::new();
    for s in &parsed.statements {
        render_statement(&mut out, s);
    }
    for s in &parsed.skipped {
        render_skipped(&mut out, s);
    }
    out
}

fn render_statement(out: &mut String, s: &Statement) {
    match s {
        Statement::Call { name, args, pos } => {
            let _ = writeln!(out, "{}:{} call {name}", pos.line, pos.column);
            for a in args {
                render_value(out, a, 1);
            }
        }
        Statement::Assign {
            target,
            keys,
            value,
            pos,
        } => {
            let keys: String = keys.iter().map(|k| format!("[{k:?}]")).collect();
            let _ = writeln!(out, "{}:{} assign {target}{keys} =", pos.line, pos.column);
            render_value(out, value, 1);
        }
    }
}

fn render_skipped(out: &mut String, s: &Skipped) {
    let _ = writeln!(out, "{}:{} skipped: {}", s.pos.line, s.pos.column, s.reason);
    for line in s.text.lines() {
        let _ = writeln!(out, "  | {line}");
    }
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

fn render_value(out: &mut String, v: &Spanned<Value>, depth: usize) {
    let head = format!("{}{}:{} ", indent(depth), v.pos.line, v.pos.column);
    match &v.value {
        Value::Array(items) => {
            let _ = writeln!(out, "{head}[");
            for i in items {
                render_value(out, i, depth + 1);
            }
            let _ = writeln!(out, "{}]", indent(depth));
        }
        Value::Hash(pairs) => {
            let _ = writeln!(out, "{head}{{");
            for (k, val) in pairs {
                let _ = writeln!(out, "{}key:", indent(depth + 1));
                render_value(out, k, depth + 2);
                let _ = writeln!(out, "{}value:", indent(depth + 1));
                render_value(out, val, depth + 2);
            }
            let _ = writeln!(out, "{}}}", indent(depth));
        }
        scalar => {
            let _ = writeln!(out, "{head}{}", scalar_text(scalar));
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        Value::Int(n) => format!("int {n}"),
        Value::Float(f) => format!("float {f:?}"),
        Value::Bool(b) => b.to_string(),
        Value::Nil => "nil".into(),
        Value::Symbol(s) => format!(":{s:?}"),
        Value::Array(_) | Value::Hash(_) => unreachable!("containers are rendered by render_value"),
    }
}

/// Compares `actual` with the `.expected` file beside `rb`; with
/// `UPDATE_EXPECT=1` in the environment the file is (re)written instead, for
/// review in the diff.
pub fn check_expected(rb: &Path, actual: &str) {
    let expected_path = rb.with_extension("expected");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, actual).expect("write expected");
        return;
    }
    let expected = read(&expected_path);
    assert_eq!(
        actual,
        expected,
        "{} does not match {}",
        rb.display(),
        expected_path.display()
    );
}
