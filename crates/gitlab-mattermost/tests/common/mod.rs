//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name)
}

/// The compiler binary, as a command.
pub fn bin() -> Command {
    Command::cargo_bin("gitlab-mattermost").expect("binary is built")
}

pub fn bin_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("gitlab-mattermost")
}

/// Every file under `dir`, by relative path.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("readable dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).expect("readable file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Whether an external tool is installed; prints why a test is skipped when not.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        // Straight to stderr: the test harness captures `eprintln!` of passing tests, and a
        // skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: `{tool}` is not installed (the CI script installs it)"
        );
    }
    found
}

/// Write `text` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).expect("write");
    p
}

/// Render `config` into `out` with a fixed install dir; panics on failure.
pub fn render(config: &Path, out: &Path, extra: &[&str]) {
    let o = bin()
        .arg("render")
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(["--install-dir", "/etc/gitlab-mattermost"])
        .args(extra)
        .output()
        .expect("runs");
    assert!(
        o.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
