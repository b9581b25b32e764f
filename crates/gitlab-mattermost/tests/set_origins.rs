//! Every refusal of a `--set` names it the same way, `--set #N` (N counting the `--set`
//! options from 1) then the key: whether the override cannot be read at all or its value
//! fails validation. A `--set` has no line and column to give.

mod common;

use common::*;

const HTTP: &str = "external_url = \"http://mm.example.com\"\n[smtp]\nport = 25\n";

/// `check` of a valid file with `sets`; exit code and stderr.
fn check(sets: &[&str]) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let base = write(tmp.path(), "base.toml", HTTP);
    let mut cmd = bin();
    cmd.arg("check").arg(&base);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let o = cmd.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_set_value_failing_validation_is_named_by_its_number() {
    let cases: &[(&[&str], &[&str])] = &[
        // Wrong type.
        (
            &["smtp.server=mail.example.com", "smtp.port=abc"],
            &["error: --set #2: smtp.port: expected an integer, found \"abc\""],
        ),
        // Out of range.
        (
            &["smtp.server=mail.example.com", "listen.port=70000"],
            &["error: --set #2: listen.port: expected at most 65535"],
        ),
        // An unknown key; and a section only a --set made.
        (
            &["smtp.server=x", "smtp.servr=y", "smtpp.server=z"],
            &[
                "error: --set #2: smtp.servr: unknown key",
                "error: --set #3: smtpp: unknown key `smtpp`",
            ],
        ),
    ];
    for (sets, wants) in cases {
        let (code, stderr) = check(sets);
        assert_eq!(code, Some(2), "{sets:?}: {stderr}");
        for want in *wants {
            assert!(
                stderr.contains(want),
                "{sets:?}: {want:?} missing:\n{stderr}"
            );
        }
        // No line:column made up for an option.
        assert!(!stderr.contains("--set:"), "{sets:?}: {stderr}");
    }
}

#[test]
fn the_later_of_two_sets_of_one_key_is_named() {
    let (code, stderr) = check(&["smtp.port=587", "smtp.port=99999"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("error: --set #2: smtp.port: expected at most 65535"),
        "{stderr}"
    );
    assert!(!stderr.contains("--set #1"), "{stderr}");
}
