//! Files generated from the schema must match what is committed, so docs cannot drift.

mod common;

use common::*;

#[test]
fn config_reference_is_current() {
    let o = bin().arg("reference").output().unwrap();
    assert!(o.status.success());
    let committed = std::fs::read_to_string(repo_root().join("docs/config-reference.md")).unwrap();
    assert!(
        committed == String::from_utf8_lossy(&o.stdout),
        "docs/config-reference.md is stale: run `cargo run -- reference > docs/config-reference.md`"
    );
}

#[test]
fn json_schema_is_current() {
    let o = bin().arg("schema").output().unwrap();
    assert!(o.status.success());
    let committed =
        std::fs::read_to_string(repo_root().join("docs/gitlab-mattermost.schema.json")).unwrap();
    assert!(
        committed == String::from_utf8_lossy(&o.stdout),
        "docs/gitlab-mattermost.schema.json is stale: run `cargo run -- schema > docs/gitlab-mattermost.schema.json`"
    );
}

/// Every subcommand path of the command line (`["integrations", "sync"]`, …).
#[cfg(feature = "full")]
fn subcommand_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut p = prefix.to_vec();
            p.push(sub.get_name().to_string());
            walk(sub, &p, out);
            out.push(p);
        }
    }
    let mut out = vec![vec![]];
    walk(
        &<gitlab_mattermost::cli::Cli as clap::CommandFactory>::command(),
        &[],
        &mut out,
    );
    out
}

/// The help of the subcommand at `path`, wrapped at `width` columns.
#[cfg(feature = "full")]
fn help_at(path: &[String], width: usize) -> String {
    let mut cmd = <gitlab_mattermost::cli::Cli as clap::CommandFactory>::command()
        .term_width(width)
        .max_term_width(width);
    cmd.build();
    let mut at = &mut cmd;
    for name in path {
        at = at.find_subcommand_mut(name).expect("a subcommand");
        *at = at.clone().term_width(width).max_term_width(width);
    }
    at.render_help().to_string()
}

/// An example pasted line by line must not run half a command: every indented line of the
/// help as written (unwrapped) is a line of the help as shown at 100 columns, so no command
/// line was wrapped mid-command (long ones go on after a `\\`).
#[cfg(feature = "full")]
#[test]
fn help_examples_are_never_wrapped_mid_command() {
    for path in subcommand_paths() {
        let shown = help_at(&path, 100);
        let written = help_at(&path, 10_000);
        let shown_lines: std::collections::BTreeSet<&str> = shown.lines().collect();
        let examples = written
            .lines()
            .skip_while(|l| !l.starts_with("Example"))
            .filter(|l| l.starts_with("  "));
        for line in examples {
            assert!(
                shown_lines.contains(line),
                "`{}` --help wraps the example line `{line}` at 100 columns: end it, or go on after a backslash",
                path.join(" ")
            );
        }
    }
}

// Every command of the full command line.
#[cfg(feature = "full")]
#[test]
fn help_teaches_with_examples_and_man_and_completions_render() {
    // Every subcommand, nested ones (`gitlab register`) included.
    fn paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut p = prefix.to_vec();
            p.push(sub.get_name().to_string());
            if sub.has_subcommands() {
                paths(sub, &p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut subs = Vec::new();
    paths(
        &<gitlab_mattermost::cli::Cli as clap::CommandFactory>::command(),
        &[],
        &mut subs,
    );
    assert!(subs.len() >= 16, "{subs:?}");
    for sub in &subs {
        let sub = sub.join(" ");
        let o = bin().args(sub.split(' ')).arg("--help").output().unwrap();
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{sub} --help failed");
        assert!(
            help.contains("Example"),
            "{sub} --help has no example:\n{help}"
        );
    }
    let man = bin().arg("man").output().unwrap();
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH gitlab-mattermost"));
    for shell in ["bash", "zsh", "fish"] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("render"),
            "{shell}"
        );
    }
}

/// The `sh` blocks of a Markdown file, continuation lines joined.
#[cfg(feature = "full")]
fn sh_lines(markdown: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            inside = line.trim() == "```sh";
            continue;
        }
        if !inside {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    lines
}

/// Shell words of a simple command line (quotes, no expansions); a trailing comment dropped.
#[cfg(feature = "full")]
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '#') if !started => break,
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

// Every command of the full command line.
#[cfg(feature = "full")]
#[test]
fn every_command_line_in_the_guides_parses() {
    use clap::Parser;
    let mut checked = 0;
    for doc in [
        "getting-started.md",
        "migrating-from-omnibus.md",
        "operations.md",
    ] {
        let text = std::fs::read_to_string(repo_root().join("docs").join(doc)).unwrap();
        for line in sh_lines(&text) {
            let w = words(&line);
            if w.first().map(String::as_str) != Some("gitlab-mattermost") || line.contains('[') {
                continue;
            }
            if let Err(e) = gitlab_mattermost::cli::Cli::try_parse_from(&w) {
                panic!("docs/{doc}: `{line}` does not parse:\n{e}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} command lines found");
}

/// The README's NixOS snippet is examples/nixos/readme-module.nix, which the module's
/// evaluation checks evaluate (host `readme`): the README must show it as it is.
#[test]
fn the_readme_nixos_snippet_is_the_evaluated_module() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let module = std::fs::read_to_string(root.join("examples/nixos/readme-module.nix"))
        .expect("examples/nixos/readme-module.nix");
    let shown: String = module
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("        {l}\n")
            }
        })
        .collect();
    assert!(
        readme.contains(&shown),
        "README.md's NixOS snippet differs from examples/nixos/readme-module.nix:\n{shown}"
    );
}

/// The admin's commands are the list `--help` shows; the ones for units, packagers and
/// developers are named apart after it, and still answer.
#[cfg(feature = "full")]
#[test]
fn developer_commands_are_named_apart_from_the_admins() {
    let o = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    let (listed, rest) = help.split_once("Options:").expect("an Options section");
    for admin in [
        "render", "apply", "check", "doctor", "backup", "logs", "psql",
    ] {
        assert!(
            listed.contains(&format!("  {admin} ")),
            "{admin} not listed:\n{help}"
        );
    }
    let apart = rest
        .split_once("For units, packagers and developers")
        .expect("the developer commands named after the list")
        .1;
    for dev in [
        "exec",
        "upgrade-guard",
        "schema",
        "nixos-options",
        "reference",
        "completions",
        "man",
    ] {
        assert!(
            !listed.contains(&format!("\n  {dev} ")),
            "{dev} listed with the admin's:\n{help}"
        );
        assert!(apart.contains(dev), "{dev} not named:\n{help}");
        let sub = bin().args([dev, "--help"]).output().unwrap();
        assert!(sub.status.success(), "{dev} --help");
    }
}
