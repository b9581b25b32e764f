//! `check` and `render` report success the same way: one `ok:` line on stderr, nothing on
//! stdout (which scripts may read).

mod common;

const MINIMAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/minimal.toml");

/// Whether it succeeded, stdout and stderr.
fn run(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = common::run(args);
    (code == 0, out, err)
}

#[test]
fn check_and_render_end_with_an_ok_line_on_stderr() {
    let (ok, stdout, stderr) = run(&["check", MINIMAL]);
    assert!(ok && stdout.is_empty(), "{stdout}{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("ok: 1 file(s) valid"),
        "{stderr}"
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("rendered");
    let (ok, stdout, stderr) = run(&["render", MINIMAL, "--out", &out.to_string_lossy()]);
    assert!(ok && stdout.is_empty(), "{stdout}{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("ok: rendered ")
            && last.contains(&format!("files into {}", out.display())),
        "{stderr}"
    );
    assert!(last.contains("gitlab-mattermost apply"), "{stderr}");
}
