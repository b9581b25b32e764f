//! Generated extra environment variables: each config is refused (naming the variable) or
//! every value comes back intact through `mattermost.env`, read by the reader `exec` uses
//! and by the real `exec` handing them to a program. The reader refuses what is not an
//! assignment, naming the line.

mod common;
mod readback;

use std::collections::BTreeMap;
use std::process::Command;

use gitlab_mattermost::syntax::{env_file, names};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use readback::{any_string, compile, file, keys};
use serde_json::json;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z_][a-z0-9_]{0,12}",
        1 => "[A-Z_][A-Z0-9_]{0,12}",
        1 => any_string(8),
        1 => prop::sample::select(&["export FOO", "MY VAR", "A-B", "1A", "MM_X", "AWS_SECRET_ACCESS_KEY"][..]).prop_map(str::to_string),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => any_string(40),
        1 => prop::sample::select(&["", " ", "\\", "\"", "'", "$HOME", "${X}", "`id`", "a\nb", "\\\n"][..]).prop_map(str::to_string),
    ]
}

/// Why the environment may be refused, per key.
fn allowed(env: &BTreeMap<String, String>) -> Vec<String> {
    env.iter()
        .filter(|(k, v)| {
            !names::is_env_name(k)
                || k.to_ascii_uppercase().starts_with("MM_")
                || names::is_secret_variable_name(k)
                || v.contains("://") && url::Url::parse(v).is_ok_and(|u| u.password().is_some())
                || !v.contains("://")
                    && url::Url::parse(&format!("http://{v}")).is_ok_and(|u| u.password().is_some())
                || env_file::entry_problem(k, v).is_some()
        })
        .map(|(k, _)| format!("environment.{k}"))
        .collect()
}

/// Refused as it should be (`Ok(None)`), or the rendered env file.
fn render(env: &BTreeMap<String, String>) -> Result<Option<String>, TestCaseError> {
    let config = json!({ "external_url": "http://chat.example.com", "environment": env });
    match compile(&config, "/etc/gitlab-mattermost") {
        Ok((_, files)) => {
            prop_assert!(allowed(env).is_empty(), "accepted {env:?}");
            Ok(Some(file(&files, "mattermost.env")))
        }
        Err(d) => {
            let allowed = allowed(env);
            let named = keys(&d);
            prop_assert!(!allowed.is_empty(), "refused {env:?}: {d}");
            prop_assert!(
                named.iter().all(|k| allowed.contains(k)),
                "refused {named:?}, expected only {allowed:?}: {d}"
            );
            Ok(None)
        }
    }
}

fn env_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(name(), value(), 1..5)
}

#[test]
fn generated_variables_are_refused_or_read_back_by_the_exec_reader() {
    readback::run(512, 100, env_map(), |env| {
        let Some(text) = render(&env)? else {
            return Ok(false);
        };
        let read: BTreeMap<String, String> = env_file::parse(&text)
            .map_err(TestCaseError::fail)?
            .into_iter()
            .collect();
        for (k, v) in &env {
            prop_assert_eq!(read.get(k), Some(v), "{} in\n{}", k, text);
        }
        Ok(true)
    });
}

#[test]
fn exec_hands_generated_variables_to_the_program_intact() {
    let scratch = tempfile::tempdir().expect("tempdir");
    readback::run(32, 5, env_map(), |env| {
        let Some(text) = render(&env)? else {
            return Ok(false);
        };
        let path = common::write(scratch.path(), "mattermost.env", &text);
        let o = Command::new(common::bin_path())
            .arg("exec")
            .arg("--env-file")
            .arg(&path)
            .args(["--", "/usr/bin/env", "-0"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got: BTreeMap<String, String> = String::from_utf8_lossy(&o.stdout)
            .split('\0')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in &env {
            prop_assert_eq!(got.get(k), Some(v), "{}", k);
        }
        Ok(true)
    });
}

/// Lines that are not `NAME=value` with a valid name, among valid ones: the reader refuses
/// the file and names the first bad line.
#[test]
fn the_reader_names_the_line_of_a_bad_name() {
    readback::run(
        512,
        512,
        (
            prop::collection::vec(("[A-Z_][A-Z0-9_]{0,8}", "[a-z0-9]{0,8}"), 0..4),
            prop_oneof![
                "[a-z]{1,4} [A-Z]{1,4}",
                "[A-Z]{1,4}-[A-Z]{1,4}",
                "[0-9][A-Z]{0,4}",
                Just("export FOO".to_string()),
                "[A-Z]{1,3}[.$!:ü][A-Z]{1,3}",
            ],
        ),
        |(good, bad)| {
            let mut text = String::new();
            for (k, v) in &good {
                text.push_str(&format!("{k}={v}\n"));
            }
            text.push_str(&format!("{bad}=1\n"));
            let err = env_file::parse(&text).expect_err("a bad name");
            let line = good.len() + 1;
            prop_assert!(err.starts_with(&format!("line {line}:")), "{err}");
            Ok(true)
        },
    );
}

/// systemd's `EnvironmentFile=` reader (`parse_env_file_internal`, src/basic/env-file.c)
/// ends a line at any byte of `NEWLINE` ("\n\r"): a bare carriage return separates two
/// assignments exactly as a line feed does, ends a comment, and after a backslash outside
/// quotes is a continuation eaten whole; inside quotes it is kept (and `\` before it stays,
/// since only `\` + LF is a continuation there). Each row is what systemd reads from the
/// bytes; the reader `exec` uses must read the same.
#[test]
fn a_carriage_return_ends_a_line_as_in_systemd() {
    let rows: &[(&str, &[(&str, &str)])] = &[
        ("A=1\rB=2", &[("A", "1"), ("B", "2")]),
        ("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]),
        ("A=1 \t\rB=2", &[("A", "1"), ("B", "2")]),
        ("A=\rB=2", &[("A", ""), ("B", "2")]),
        ("# note\rA=1", &[("A", "1")]),
        ("; note\\\rA=1", &[("A", "1")]),
        ("A=x\\\rB=2", &[("A", "xB=2")]),
        ("A=x\\\r\nB=2", &[("A", "x"), ("B", "2")]),
        ("A=\"x\ry\"\rB=2", &[("A", "x\ry"), ("B", "2")]),
        ("A=\"x\\\ry\"", &[("A", "x\\\ry")]),
        ("A='x\ry'\rB=2", &[("A", "x\ry"), ("B", "2")]),
    ];
    for (bytes, systemd) in rows {
        let read = env_file::parse(bytes).unwrap_or_else(|e| panic!("{bytes:?}: {e}"));
        let expected: Vec<(String, String)> = systemd
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(read, expected, "{bytes:?}");
    }
    // Lines are counted as an editor shows them: a lone CR and a CRLF are one line end each.
    let e = env_file::parse("A=1\rB=2\r\nC=3\rnot an assignment\r").expect_err("refused");
    assert!(e.starts_with("line 4:"), "{e}");
    let e = env_file::decode(b"A=1\rB=2\r\n\xff").expect_err("not UTF-8");
    assert!(e.starts_with("line 3:"), "{e}");
}
