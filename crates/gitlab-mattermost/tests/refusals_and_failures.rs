//! Bad input exits 2 before anything happens; a command that fails leaves nothing of its own
//! behind.

// The full command: these are operations.
#![cfg(feature = "full")]

mod common;

use std::path::Path;

const MINIMAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/minimal.toml");

/// The exit code and stderr.
fn run(args: &[&str]) -> (i32, String) {
    let (code, _, err) = common::run(args);
    (code, err)
}

#[test]
fn an_unreadable_token_file_is_bad_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-token");
    let id_file = tmp.path().join("id");
    let secret_file = tmp.path().join("secret");
    let (code, err) = run(&[
        "gitlab",
        "register",
        MINIMAL,
        "--set",
        "gitlab.url=https://gitlab.example.com",
        "--set",
        &format!("gitlab.id_file={}", id_file.display()),
        "--set",
        &format!("gitlab.secret_file={}", secret_file.display()),
        "--token-file",
        &missing.to_string_lossy(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--token-file") && err.contains("no-token"),
        "{err}"
    );
    assert!(!id_file.exists() && !secret_file.exists());
}

#[test]
fn a_missing_backup_is_bad_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-backup");
    let (code, err) = run(&["restore", MINIMAL, "--from", &missing.to_string_lossy()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--from") && err.contains("is not a backup directory"),
        "{err}"
    );
}

#[test]
fn a_failed_backup_leaves_no_directory_it_made() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let to = tmp.path().join("backups/mattermost");
    // An account no host has: the database dump is refused after the destination was made.
    let (code, err) = run(&[
        "backup",
        MINIMAL,
        "--set",
        "account.user=gmnosuchuser",
        "--set",
        "database.user=gmnosuchuser",
        "--to",
        &to.to_string_lossy(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("gmnosuchuser"), "{err}");
    assert!(
        !tmp.path().join("backups").exists(),
        "a failed backup left {}",
        to.display()
    );
    assert_eq!(std::fs::read_dir(tmp.path()).expect("read").count(), 0);

    // A directory that was there before stays, empty or not.
    std::fs::create_dir(tmp.path().join("kept")).expect("mkdir");
    let (code, _) = run(&[
        "backup",
        MINIMAL,
        "--set",
        "account.user=gmnosuchuser",
        "--set",
        "database.user=gmnosuchuser",
        "--to",
        &tmp.path().join("kept").to_string_lossy(),
    ]);
    assert_eq!(code, 1);
    assert!(Path::new(&tmp.path().join("kept")).is_dir());
}
