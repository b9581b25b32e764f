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
