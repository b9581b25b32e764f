//! `gitlab-mattermost psql`: psql on the configured database, connected as the service would
//! be, against this host's real PostgreSQL (peer authentication over its socket).

// The full command: psql is an operation.
#![cfg(feature = "full")]

mod common;

use common::{bin, outcome};
use std::process::Command as Process;

const MINIMAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/minimal.toml");

/// A local database whose service account exists here: PostgreSQL's own.
const AS_POSTGRES: &[&str] = &[
    "--set",
    "account.user=postgres",
    "--set",
    "account.group=postgres",
    "--set",
    "database.user=postgres",
    "--set",
    "database.name=postgres",
];

fn usable() -> Option<&'static str> {
    let root = Process::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        return Some("not root: peer authentication as the service account needs root");
    }
    if Process::new("psql").arg("--version").output().is_err() {
        return Some("psql is not installed");
    }
    let ready = Process::new("pg_isready")
        .args(["-h", "/run/postgresql"])
        .output()
        .ok()?;
    if !ready.status.success() {
        return Some("no PostgreSQL answers on /run/postgresql");
    }
    None
}

fn psql(args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .arg("psql")
        .arg(MINIMAL)
        .args(AS_POSTGRES)
        .arg("--")
        .args(args)
        .output()
        .expect("run");
    outcome(out)
}

#[test]
fn psql_connects_as_the_service_and_passes_its_exit_code_on() {
    if let Some(why) = usable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let (code, out, err) = psql(&["-tAc", "SELECT current_user || ' ' || current_database()"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "postgres postgres", "{err}");

    let (code, _, err) = psql(&[
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        "SELECT * FROM no_such_table",
    ]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("no_such_table"), "{err}");
}
