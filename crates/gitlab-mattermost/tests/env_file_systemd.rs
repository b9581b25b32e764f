//! The environment-file reader `exec` uses against systemd's own `EnvironmentFile=` reader,
//! `parse_env_file_internal` in systemd's src/basic/env-file.c (a state machine: PRE_KEY,
//! KEY, PRE_VALUE, VALUE, VALUE_ESCAPE, SINGLE_QUOTE_VALUE, DOUBLE_QUOTE_VALUE, COMMENT).
//! Each row gives what systemd reads from the text; ours reads exactly that, or refuses the
//! file naming the line and why, where systemd's reading is surprising. It never reads
//! something else.
//!
//! Where `systemd-analyze` can be pointed at a file of ours as the os-release file
//! (`SYSTEMD_OS_RELEASE`; `ConditionOSRelease=` reads it with the same
//! `parse_env_file_internal`), every row's systemd column is checked against systemd itself.

mod common;

use std::process::Command;

use gitlab_mattermost::syntax::env_file;

/// What our reader does with a row.
enum Ours {
    /// Reads what systemd reads.
    Same,
    /// Refuses: the line named, and a word of the reason.
    Refused(usize, &'static str),
}

struct Row {
    text: &'static str,
    /// What systemd reads (before `exec` drops names that are not variable names).
    systemd: &'static [(&'static str, &'static str)],
    /// Readings systemd does not give (the plausible misreadings), checked against systemd
    /// where it can be run.
    not: &'static [(&'static str, &'static str)],
    ours: Ours,
}

const fn row(
    text: &'static str,
    systemd: &'static [(&'static str, &'static str)],
    not: &'static [(&'static str, &'static str)],
    ours: Ours,
) -> Row {
    Row {
        text,
        systemd,
        not,
        ours,
    }
}

fn rows() -> Vec<Row> {
    use Ours::*;
    vec![
        // PRE_VALUE: a quote opens a quoted part where a value starts; its closing quote
        // leads back to PRE_VALUE, so a part right after it (quoted or not) is joined.
        row("A=\"x\"y\n", &[("A", "xy")], &[], Same),
        row("A=\"x\"'y'\n", &[("A", "xy")], &[], Same),
        row("A=\"x\"\\\ny\n", &[("A", "xy")], &[], Same),
        // ...and PRE_VALUE skips blank space, so text after a closing quote and a space is
        // joined without the space, a `#` included: refused.
        row(
            "A=\"x\" y\n",
            &[("A", "xy")],
            &[("A", "x y"), ("A", "x")],
            Refused(1, "closing quote"),
        ),
        row(
            "B=1\nA=\"x\" # note\n",
            &[("B", "1"), ("A", "x# note")],
            &[("A", "x")],
            Refused(2, "closing quote"),
        ),
        // Blank space after a closing quote, up to the line end, is only skipped.
        row("A=\"x\"  \nB=1\n", &[("A", "x"), ("B", "1")], &[], Same),
        // VALUE: inside unquoted text a quote is an ordinary character.
        row("A=x\"y z\"\n", &[("A", "x\"y z\"")], &[("A", "xy z")], Same),
        row("A=x 'y'\n", &[("A", "x 'y'")], &[("A", "x y")], Same),
        // VALUE_ESCAPE: a backslash keeps the next character, a quote too, which then does
        // not open a quoted part.
        row("A=\\\"x\"\n", &[("A", "\"x\"")], &[], Same),
        // VALUE: no comments after a value; trailing blank space is chomped, inner kept.
        row("A=x # y  \n", &[("A", "x # y")], &[("A", "x")], Same),
        row("  B = x y  \n", &[("B", "x y")], &[], Same),
        // A continuation where the value starts leaves VALUE_ESCAPE for VALUE, so the next
        // line's leading blank space is kept.
        row("A=\\\n  y\n", &[("A", "  y")], &[("A", "y")], Same),
        // WHITESPACE is " \t\n\r" only: a no-break space, an em space or a vertical tab is an
        // ordinary character, kept in a value wherever it is...
        row(
            "A= \u{a0}v\u{a0} \n",
            &[("A", "\u{a0}v\u{a0}")],
            &[("A", "v")],
            Same,
        ),
        row("A=x\u{2003}\n", &[("A", "x\u{2003}")], &[("A", "x")], Same),
        row("A=\tx\u{b}\n", &[("A", "x\u{b}")], &[("A", "x")], Same),
        // ...and part of a name (KEY strips only WHITESPACE), which is then no variable name
        // (`exec` drops it): refused rather than read as `A`.
        row(
            "\u{a0}A=1\n",
            &[("\u{a0}A", "1")],
            &[("A", "1")],
            Refused(1, "ASCII"),
        ),
        row(
            "B=2\nA\u{2003}=1\n",
            &[("B", "2"), ("A\u{2003}", "1")],
            &[("A", "1")],
            Refused(2, "not a variable name"),
        ),
        row(
            "\u{c}A=1\n",
            &[("\u{c}A", "1")],
            &[("A", "1")],
            Refused(1, "not a variable name"),
        ),
        // KEY: a line end before `=` drops the line without a word: refused.
        row(
            "B=1\nFOO\nA=2\n",
            &[("B", "1"), ("A", "2")],
            &[],
            Refused(2, "has no `=`"),
        ),
        row("B=1\nFOO", &[("B", "1")], &[], Refused(2, "has no `=`")),
        // DOUBLE_QUOTE_VALUE at the end of the file: systemd keeps what it read, and a quote
        // left open takes the rest of the file: refused.
        row(
            "A=\"open\nB=1\n",
            &[("A", "open\nB=1\n")],
            &[("B", "1")],
            Refused(3, "unterminated double quote (opened on line 1)"),
        ),
        // DOUBLE_QUOTE_VALUE_ESCAPE: `\` keeps `"\`$`, eats a line feed, stays before
        // anything else.
        row("A=\"a\\$b\\\nc\\d\"\n", &[("A", "a$bc\\d")], &[], Same),
    ]
}

#[test]
fn the_reader_reads_as_systemd_or_refuses_the_line() {
    for r in rows() {
        let read = env_file::parse(r.text);
        match r.ours {
            Ours::Same => {
                let expected: Vec<(String, String)> = r
                    .systemd
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(read, Ok(expected), "{:?}", r.text);
            }
            Ours::Refused(line, why) => {
                let err = read.expect_err(r.text);
                assert!(
                    err.starts_with(&format!("line {line}:")) && err.contains(why),
                    "{:?}: {err}",
                    r.text
                );
            }
        }
    }
}

/// `exec` names the file and the line of a refusal, and runs nothing.
#[test]
fn exec_names_the_file_and_line_it_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let path = common::write(tmp.path(), "site.env", "B=1\nA=\"x\" y\n");
    let marker = tmp.path().join("ran");
    let o = Command::new(common::bin_path())
        .arg("exec")
        .arg("--env-file")
        .arg(&path)
        .args(["--", "/usr/bin/touch"])
        .arg(&marker)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: line 2: text after a closing quote",
            path.display()
        )),
        "{stderr}"
    );
    assert!(!marker.exists(), "the program ran");
}

/// Whether systemd, reading `file` as os-release, has `key` set to exactly `value`: an
/// fnmatch condition with every other character than letters and digits escaped (so
/// leading blank space counts), quoted for the condition's word splitting.
fn systemd_has(file: &std::path::Path, key: &str, value: &str) -> bool {
    let condition = if value.is_empty() {
        // Empty or unset: nothing matches `?*`.
        format!("{key}$=?*")
    } else {
        let pattern: String = value
            .chars()
            .flat_map(|c| {
                let escape = !c.is_ascii_alphanumeric();
                escape.then_some('\\').into_iter().chain([c])
            })
            .collect();
        format!("{key}$={pattern}")
    };
    let quoted = format!(
        "\"{}\"",
        condition.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let o = Command::new("systemd-analyze")
        .arg("condition")
        .arg(format!("ConditionOSRelease={quoted}"))
        .env("SYSTEMD_OS_RELEASE", file)
        .output()
        .expect("systemd-analyze runs");
    let matched = String::from_utf8_lossy(&o.stdout).contains("Conditions succeeded")
        || String::from_utf8_lossy(&o.stderr).contains("Conditions succeeded");
    if value.is_empty() {
        !matched
    } else {
        matched
    }
}

#[test]
fn the_systemd_column_is_what_systemd_reads() {
    if !common::have("systemd-analyze") {
        return common_skip("systemd-analyze is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = common::write(tmp.path(), "os-release", "GM_PROBE=yes\n");
    if !systemd_has(&file, "GM_PROBE", "yes") || systemd_has(&file, "GM_PROBE", "no") {
        return common_skip("systemd-analyze does not read SYSTEMD_OS_RELEASE");
    }
    for r in rows() {
        let file = common::write(tmp.path(), "os-release", r.text);
        for (k, v) in r.systemd {
            // A condition names only plain keys; the others are checked through `not`.
            if gitlab_mattermost::syntax::names::is_env_name(k) {
                assert!(
                    systemd_has(&file, k, v),
                    "{:?}: systemd has no {k}={v:?}",
                    r.text
                );
            }
        }
        for (k, v) in r.not {
            assert!(
                !systemd_has(&file, k, v),
                "{:?}: systemd has {k}={v:?}",
                r.text
            );
        }
    }
}

fn common_skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}
