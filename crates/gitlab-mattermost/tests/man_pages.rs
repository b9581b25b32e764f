//! `man --out DIR`: a page for every page the others refer to, each one that groff reads
//! without a warning.

// The full command: the pages describe it.
#![cfg(feature = "full")]

mod common;

use common::bin;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command as Process;

fn write_pages(dir: &Path) -> std::process::Output {
    bin()
        .arg("man")
        .arg("--out")
        .arg(dir)
        .output()
        .expect("run")
}

/// `name(section)` references in a page, with roff's `\-` read as `-`.
fn references(page: &str) -> BTreeSet<String> {
    let text = page.replace("\\-", "-");
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(at) = text[start..].find("gitlab-mattermost") {
        let begin = start + at;
        let mut end = begin;
        while end < bytes.len()
            && (bytes[end].is_ascii_alphanumeric() || b"-._".contains(&bytes[end]))
        {
            end += 1;
        }
        let name = text[begin..end].trim_end_matches(['.', ',']);
        let rest = text[end..].trim_start_matches([' ', '"']);
        if let Some(section) = rest.strip_prefix('(').and_then(|r| r.chars().next()) {
            if section.is_ascii_digit() {
                found.insert(format!("{name}.{section}"));
            }
        }
        start = end.max(begin + 1);
    }
    found
}

#[test]
fn every_page_referred_to_is_written_and_reads_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("man");
    let out = write_pages(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let written: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for needed in [
        "gitlab-mattermost.1",
        "gitlab-mattermost-render.1",
        "gitlab-mattermost-apply.1",
        "gitlab-mattermost-integrations-sync.1",
        "gitlab-mattermost.toml.5",
    ] {
        assert!(written.contains(needed), "{needed} missing: {written:?}");
    }
    let mut referred = BTreeSet::new();
    for name in &written {
        let page = std::fs::read_to_string(dir.join(name)).expect("read page");
        referred.extend(references(&page));
    }
    assert!(referred.len() > 10, "{referred:?}");
    let missing: Vec<_> = referred.difference(&written).collect();
    assert!(
        missing.is_empty(),
        "pages referred to but not written: {missing:?}"
    );

    let config =
        std::fs::read_to_string(dir.join("gitlab-mattermost.toml.5")).expect("config page");
    for section in [".SH FILES", ".SH ENVIRONMENT", ".SH EXIT STATUS"] {
        assert!(config.contains(section), "{section}");
    }

    // groff as man(1) runs it (preconv for UTF-8), with every warning on: none may be printed.
    if Process::new("groff").arg("--version").output().is_err() {
        eprintln!("SKIPPED: groff is not installed: the pages are not rendered");
        return;
    }
    for name in &written {
        let rendered = Process::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join(name))
            .output()
            .expect("groff");
        assert!(rendered.status.success(), "{name}");
        let warnings = String::from_utf8_lossy(&rendered.stderr);
        assert!(warnings.trim().is_empty(), "{name}: {warnings}");
    }
}

#[test]
fn an_existing_directory_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("man");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("gitlab-mattermost.1"), "mine").expect("write");
    let out = write_pages(&dir);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
    assert_eq!(
        std::fs::read_to_string(dir.join("gitlab-mattermost.1")).expect("read"),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&dir).expect("read dir").count(), 1);
}
