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
        "`schema` does not print docs/gitlab-mattermost.schema.json (crates/catalogue/tests/schema_file.rs keeps that file equal to what the types derive)"
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

/// Lines without the indentation they all share (empty lines stay empty).
fn dedented(lines: &[&str]) -> Vec<String> {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                l[indent..].trim_end().to_string()
            }
        })
        .collect()
}

/// Whether `needle`'s lines are consecutive lines of `haystack`, both without their common
/// indentation.
fn shown_in(needle: &[&str], haystack: &[&str]) -> bool {
    let needle = dedented(needle);
    !needle.is_empty()
        && haystack.len() >= needle.len()
        && (0..=haystack.len() - needle.len())
            .any(|at| dedented(&haystack[at..at + needle.len()]) == needle)
}

/// The ```nix blocks of a Markdown file: the line above each (its marker, if any), the line
/// number of its fence and its lines.
fn nix_blocks(markdown: &str) -> Vec<(String, usize, Vec<&str>)> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let fence = lines[at].trim();
        if !fence.starts_with("```") {
            at += 1;
            continue;
        }
        let end = (at + 1..lines.len())
            .find(|&i| lines[i].trim() == "```")
            .unwrap_or(lines.len());
        if fence == "```nix" {
            let above = if at == 0 { "" } else { lines[at - 1].trim() };
            blocks.push((above.to_string(), at + 1, lines[at + 1..end].to_vec()));
        }
        at = end + 1;
    }
    blocks
}

/// Every Nix snippet of the README and the docs is evaluated: the line above it is
/// `<!-- evaluated: examples/nixos/FILE -->`, FILE shows the snippet as it is (or, for a flake
/// such as the README's, the snippet shows FILE as its module), both without their common
/// indentation, and checks/eval/hosts.nix evaluates FILE as a host, with the module, in
/// checks/eval/run and in the flake's module-eval check.
#[test]
fn every_nix_snippet_in_the_docs_is_an_evaluated_host() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // hosts.nix without its comments.
    let hosts: String = std::fs::read_to_string(root.join("checks/eval/hosts.nix"))
        .expect("checks/eval/hosts.nix")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut docs = vec![root.join("README.md")];
    let mut guides: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    guides.sort();
    docs.extend(guides);
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let name = doc.strip_prefix(&root).unwrap_or(doc).display().to_string();
        let text = std::fs::read_to_string(doc).expect("a Markdown file");
        for (above, line, block) in nix_blocks(&text) {
            checked += 1;
            let Some(file) = above
                .strip_prefix("<!-- evaluated: ")
                .and_then(|rest| rest.strip_suffix(" -->"))
                .map(str::trim)
            else {
                problems.push(format!(
                    "{name}:{line}: a Nix snippet without `<!-- evaluated: examples/nixos/FILE -->` right above it"
                ));
                continue;
            };
            if !file.starts_with("examples/nixos/") || file.contains("..") {
                problems.push(format!(
                    "{name}:{line}: `{file}` is not a file under examples/nixos/"
                ));
                continue;
            }
            let Ok(module) = std::fs::read_to_string(root.join(file)) else {
                problems.push(format!("{name}:{line}: {file} does not exist"));
                continue;
            };
            let module: Vec<&str> = module.lines().collect();
            let flake_around_it = block.iter().any(|l| l.trim_start().starts_with("outputs"))
                && shown_in(&module, &block);
            if !shown_in(&block, &module) && !flake_around_it {
                problems.push(format!(
                    "{name}:{line}: the snippet differs from {file}; the snippet is:\n{}",
                    block.join("\n")
                ));
            }
            if !hosts.contains(&format!("../../{file};"))
                && !hosts.contains(&format!("../../{file}\n"))
            {
                problems.push(format!(
                    "{name}:{line}: checks/eval/hosts.nix does not evaluate {file}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 10, "only {checked} Nix snippets found");
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
