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

/// What a finished run gave: its exit code (-1 when a signal ended it), stdout and stderr.
pub fn outcome(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run the binary with `args` to the end: [`outcome`].
pub fn run<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> (i32, String, String) {
    outcome(bin().args(args).output().expect("the binary runs"))
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

/// Everything observable about a path, without following symlinks: its type, mode, owner,
/// inode, link text, device number, and for a directory every entry below it with its
/// bytes. `shallow` leaves out what is inside a directory (for `/`, `/proc`, `/dev/shm`,
/// whose contents other processes change).
#[derive(Debug, PartialEq, Eq)]
pub enum Snapshot {
    Missing,
    Entry {
        kind: String,
        mode: u32,
        uid: u32,
        ino: u64,
        rdev: u64,
        link: Option<PathBuf>,
        bytes: Option<Vec<u8>>,
        children: BTreeMap<String, Snapshot>,
    },
}

pub fn snapshot(path: &Path, shallow: bool) -> Snapshot {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Snapshot::Missing;
    };
    let t = meta.file_type();
    let kind = if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_char_device() {
        "char"
    } else if t.is_block_device() {
        "block"
    } else {
        "socket"
    };
    let mut children = BTreeMap::new();
    if t.is_dir() && !shallow {
        for e in std::fs::read_dir(path).expect("readable dir").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            children.insert(name, snapshot(&e.path(), false));
        }
    }
    Snapshot::Entry {
        kind: kind.into(),
        mode: meta.mode(),
        uid: meta.uid(),
        ino: meta.ino(),
        rdev: meta.rdev(),
        link: t
            .is_symlink()
            .then(|| std::fs::read_link(path).expect("link")),
        bytes: t
            .is_file()
            .then(|| std::fs::read(path).expect("readable file")),
        children,
    }
}

/// The staging directories of `dir` (`.NAME.new-*`) beside it.
pub fn staging_dirs(dir: &Path) -> Vec<PathBuf> {
    let name = dir
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".{name}.new-");
    let parent = dir.parent().expect("a parent");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// The diagnostics in `stderr` one line each, as `error: FILE:LINE:COLUMN: key: message` (the
/// place taken from the ` --> ` line under the message), so a test can check that one message
/// has the position and key it expects. The excerpt and `= hint:` lines, and every other
/// line, are kept as they are.
#[allow(dead_code)]
pub fn diagnostic_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let place = lines
            .get(i + 1)
            .and_then(|l| l.trim_start().strip_prefix("--> "));
        let head = ["error: ", "warning: "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match (head, place) {
            (Some((severity, rest)), Some(place)) => {
                out.push(format!("{severity}{place}: {rest}"));
                i += 2;
            }
            _ => {
                out.push(line.to_string());
                i += 1;
            }
        }
    }
    out.join("\n")
}
