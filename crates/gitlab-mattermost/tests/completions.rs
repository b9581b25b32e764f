//! Shell completions, run in the shells themselves: past the first word too.

// The full command: completions describe it.
#![cfg(feature = "full")]

mod common;

use common::bin;
use std::process::Command as Process;

fn script(shell: &str) -> String {
    let out = bin().args(["completions", shell]).output().expect("run");
    assert!(out.status.success(), "{shell}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// What bash offers for the words typed so far (the last one being completed).
fn bash_offers(script_path: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_gitlab__mattermost gitlab-mattermost '{}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script_path.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = Process::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_options() {
    if Process::new("bash").arg("--version").output().is_err() {
        eprintln!("SKIPPED: bash is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("gitlab-mattermost.bash");
    std::fs::write(&path, script("bash")).expect("write script");
    let cases: &[(&[&str], &str)] = &[
        (&["gitlab-mattermost", "ren"], "render"),
        (&["gitlab-mattermost", "render", "--o"], "--out"),
        (&["gitlab-mattermost", "integrations", "s"], "sync"),
        (
            &["gitlab-mattermost", "integrations", "sync", "--dry"],
            "--dry-run",
        ),
        (
            &["gitlab-mattermost", "migrate", "export", "--f"],
            "--final",
        ),
        (&["gitlab-mattermost", "doctor", "--only", "sm"], "smtp"),
    ];
    for (words, expected) in cases {
        let offers = bash_offers(&path, words);
        assert!(
            offers.iter().any(|o| o == expected),
            "{words:?}: expected {expected} among {offers:?}"
        );
    }
}

#[test]
fn zsh_and_fish_read_their_scripts() {
    for (shell, check) in [("zsh", &["-n"][..]), ("fish", &["--no-execute"][..])] {
        if Process::new(shell).arg("--version").output().is_err() {
            eprintln!("SKIPPED: {shell} is not installed: its completion script is not read");
            continue;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("script");
        std::fs::write(&path, script(shell)).expect("write script");
        let out = Process::new(shell)
            .args(check)
            .arg(&path)
            .output()
            .expect("shell");
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// What fish offers for a command line (`complete -C`, as pressing Tab does), with the
/// generated script loaded.
fn fish_offers(script_path: &std::path::Path, line: &str) -> Vec<String> {
    let program = format!("source '{}'; complete -C '{line}'", script_path.display());
    let out = Process::new("fish")
        .args(["--no-config", "-c", &program])
        .output()
        .expect("fish");
    assert!(
        out.status.success(),
        "fish: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn fish_completes_subcommands_nested_subcommands_and_options() {
    if Process::new("fish").arg("--version").output().is_err() {
        eprintln!("SKIPPED: fish is not installed: its completion is not run");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("gitlab-mattermost.fish");
    std::fs::write(&path, script("fish")).expect("write script");
    for (line, expected) in [
        ("gitlab-mattermost imp", "import"),
        ("gitlab-mattermost sta", "status"),
        ("gitlab-mattermost integrations sy", "sync"),
        ("gitlab-mattermost integrations sync --dry", "--dry-run"),
        ("gitlab-mattermost backup --ke", "--keep"),
    ] {
        let offers = fish_offers(&path, line);
        assert!(
            offers.iter().any(|o| o == expected),
            "{line:?}: expected {expected} among {offers:?}"
        );
    }
}

/// The command line after zsh completed it once (Tab in an interactive zsh on a pseudo-
/// terminal, the generated function on `fpath`, `compinit` loaded), escape sequences removed.
fn zsh_completed(function_dir: &std::path::Path, line: &str) -> String {
    let driver = format!(
        r#"zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; fpath=({dir} $fpath); autoload -U compinit; compinit -u -D; zstyle ":completion:*" menu no; gitlab-mattermost() {{ :; }}'
zpty -w -n z $'{line}\t'
sleep 1
out=""
while zpty -r -t z chunk; do out+=$chunk; done
print -r -- "$out"
zpty -d z
"#,
        dir = function_dir.display(),
    );
    let out = Process::new("zsh")
        .args(["-f", "-c", &driver])
        .output()
        .expect("zsh");
    let text = String::from_utf8_lossy(&out.stdout);
    // CSI sequences (colours, cursor moves) and the backspaces of zsh's line editor.
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if n.is_ascii_alphabetic() || n == '~' {
                            break;
                        }
                    }
                }
            }
            '\u{8}' => {
                plain.pop();
            }
            '\r' => {}
            c => plain.push(c),
        }
    }
    plain.lines().last().unwrap_or("").trim_end().to_string()
}

#[test]
fn zsh_completes_subcommands_nested_subcommands_and_options() {
    if Process::new("zsh").arg("--version").output().is_err() {
        eprintln!("SKIPPED: zsh is not installed: its completion is not run");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("_gitlab-mattermost"), script("zsh")).expect("write");
    for (line, expected) in [
        ("gitlab-mattermost imp", "gitlab-mattermost import"),
        (
            "gitlab-mattermost integrations sy",
            "gitlab-mattermost integrations sync",
        ),
        (
            "gitlab-mattermost integrations sync --dry",
            "gitlab-mattermost integrations sync --dry-run",
        ),
    ] {
        let shown = zsh_completed(tmp.path(), line);
        assert!(
            shown.ends_with(expected),
            "{line:?}: zsh completed it to {shown:?}, expected {expected:?}"
        );
    }
}
