//! `logs` and `tail`: the unit's journal through this host's own journalctl.

// The full command: logs are an operation.
#![cfg(feature = "full")]

mod common;

use common::{bin, have};

#[test]
fn logs_runs_journalctl_on_the_unit() {
    if !have("journalctl") {
        return;
    }
    // An empty journal directory: journalctl runs with the unit's filter and finds nothing.
    let journal = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .args(["logs", "-n", "5", "--", "--no-pager", "--directory"])
        .arg(journal.path())
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("No entries"), "{text}");
}

#[test]
fn without_journalctl_logs_says_what_is_missing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .args(["tail"])
        .env("PATH", empty.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("journalctl") && err.contains("mattermost.service"),
        "{err}"
    );
}
