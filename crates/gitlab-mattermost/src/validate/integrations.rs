//! The integrations section: names Mattermost and GitLab accept, references that resolve, and
//! what `integrations sync` needs (an owner, GitLab's URL).
//!
//! Names are checked here because they land in URLs (`/teams/name/<team>`), file names
//! (`webhook-<name>.url`) and Mattermost's own validation (a trigger word has no spaces):
//! a bad one found by `sync` would leave half of the integrations applied.

use super::{Context, Report};
use crate::diag::Diagnostic;
use crate::schema::{Config, Integrations};
use crate::sources::KeyPath;
use crate::syntax::paths;

fn at(parts: &[&str]) -> KeyPath {
    parts.iter().map(|s| s.to_string()).collect()
}

fn refuse(report: &mut Report, path: KeyPath, msg: String, hint: &str) {
    report(Diagnostic::new(path.join("."), msg).with_hint(hint), &path);
}

/// Mattermost's team and channel URL names: lower-case letters, digits, `-` and `_`
/// (what the API's `/teams/name/…/channels/name/…` routes match), 1 to 64 characters.
pub fn url_name_problem(name: &str) -> Option<String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    (!ok).then(|| {
        format!("expected a Mattermost URL name (1-64 of a-z, 0-9, `-`, `_`), found {name:?}")
    })
}

/// A webhook's name becomes a file name and an identifier in the state file.
pub fn webhook_name_problem(name: &str) -> Option<String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (!ok).then(|| format!("expected a name of 1-64 of A-Z, a-z, 0-9, `-`, `_`, found {name:?}"))
}

/// A slash command's word: Mattermost refuses a leading `/`, spaces and more than 128
/// characters.
pub fn trigger_problem(trigger: &str) -> Option<String> {
    let ok = (1..=128).contains(&trigger.chars().count())
        && !trigger.starts_with('/')
        && !trigger.chars().any(|c| c.is_whitespace() || c.is_control());
    (!ok).then(|| {
        format!(
            "expected a command word without `/` or spaces (1-128 characters), found {trigger:?}"
        )
    })
}

/// A GitLab project path: `group/project` (subgroups allowed), no empty parts.
pub fn project_path_problem(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let ok = parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    (!ok).then(|| format!("expected a GitLab project path like `group/project`, found {path:?}"))
}

/// The trigger word of a project's slash command: as set, else the project's name.
pub fn trigger_of(project_path: &str, set: Option<&str>) -> String {
    set.map(str::to_string).unwrap_or_else(|| {
        project_path
            .rsplit('/')
            .next()
            .unwrap_or(project_path)
            .to_ascii_lowercase()
    })
}

/// Per-value checks: run on whatever could be read.
pub(super) fn check_values(config: &Config, report: &mut Report) {
    let i = &config.integrations;
    if let Some(p) = paths::problem(&i.state_directory) {
        refuse(
            report,
            at(&["integrations", "state_directory"]),
            p,
            "e.g. /var/lib/gitlab-mattermost/integrations",
        );
    }
    for (name, w) in &i.incoming_webhooks {
        let base = ["integrations", "incoming_webhooks", name.as_str()];
        let field = |f: &str| {
            let mut p = at(&base);
            p.push(f.to_string());
            p
        };
        if let Some(p) = webhook_name_problem(name) {
            refuse(
                report,
                at(&base),
                format!("webhook name: {p}"),
                "projects refer to it by this name; e.g. `ci`",
            );
        }
        for (f, v) in [("team", &w.team), ("channel", &w.channel)] {
            if let Some(p) = url_name_problem(v) {
                refuse(report, field(f), p, "the name in the channel's URL, e.g. `town-square` in /team/channels/town-square");
            }
        }
        if let Some(url_file) = &w.url_file {
            if let Some(p) = paths::problem(url_file) {
                refuse(
                    report,
                    field("url_file"),
                    p,
                    "e.g. /var/lib/gitlab-mattermost/integrations/ci.url",
                );
            }
        }
        if let Some(icon) = &w.icon_url {
            if !url::Url::parse(icon).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                refuse(
                    report,
                    field("icon_url"),
                    format!("expected an http or https URL, found {icon:?}"),
                    "e.g. https://gitlab.example.com/assets/gitlab_logo.png",
                );
            }
        }
    }
    for (path, p) in &i.gitlab_projects {
        let base = ["integrations", "gitlab_projects", path.as_str()];
        let field = |f: &str| {
            let mut k = at(&base);
            k.extend(f.split('.').map(str::to_string));
            k
        };
        if let Some(problem) = project_path_problem(path) {
            refuse(
                report,
                at(&base),
                problem,
                "the path in the project's URL, e.g. `group/project`",
            );
        }
        if let Some(c) = &p.channel {
            if let Some(problem) = url_name_problem(c) {
                refuse(
                    report,
                    field("channel"),
                    problem,
                    "a channel's URL name in the webhook's team",
                );
            }
        }
        let s = &p.slash_commands;
        if let Some(team) = &s.team {
            if let Some(problem) = url_name_problem(team) {
                refuse(
                    report,
                    field("slash_commands.team"),
                    problem,
                    "a team's URL name",
                );
            }
        }
        if s.enable {
            let trigger = trigger_of(path, s.trigger.as_deref());
            if let Some(problem) = trigger_problem(&trigger) {
                refuse(
                    report,
                    field("slash_commands.trigger"),
                    problem,
                    "e.g. `project` for /project",
                );
            }
        }
    }
}

/// Checks combining values: references resolve, `sync` has what it needs.
pub(super) fn check_section(config: &Config, ctx: &Context, report: &mut Report) {
    if !ctx.section("integrations") {
        return;
    }
    let i: &Integrations = &config.integrations;
    let anything = !i.incoming_webhooks.is_empty() || !i.gitlab_projects.is_empty();
    if anything && i.owner.as_deref().is_none_or(str::is_empty) {
        refuse(
            report,
            at(&["integrations", "owner"]),
            "webhooks and slash commands need an owner, a Mattermost user, but none is set".into(),
            "set integrations.owner to the user name of a Mattermost user (e.g. a bot or an admin)",
        );
    }
    if !i.gitlab_projects.is_empty() && config.gitlab.url.is_none() && ctx.section("gitlab") {
        refuse(
            report,
            at(&["gitlab", "url"]),
            "GitLab projects are declared in integrations.gitlab_projects but GitLab's URL is not set".into(),
            "set gitlab.url = \"https://gitlab.example.com\"",
        );
    }
    let mut triggers: std::collections::BTreeMap<(String, String), &str> = Default::default();
    for (path, p) in &i.gitlab_projects {
        let base = ["integrations", "gitlab_projects", path.as_str(), "webhook"];
        let Some(hook) = i.incoming_webhooks.get(&p.webhook) else {
            let known: Vec<&str> = i.incoming_webhooks.keys().map(String::as_str).collect();
            refuse(
                report,
                at(&base),
                format!(
                    "no incoming webhook {:?} is declared (declared: {})",
                    p.webhook,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
                "declare it under integrations.incoming_webhooks, or name one that is",
            );
            continue;
        };
        if p.slash_commands.enable {
            let team = p
                .slash_commands
                .team
                .clone()
                .unwrap_or_else(|| hook.team.clone());
            let trigger = trigger_of(path, p.slash_commands.trigger.as_deref());
            if let Some(other) = triggers.insert((team.clone(), trigger.clone()), path) {
                refuse(
                    report,
                    at(&[
                        "integrations",
                        "gitlab_projects",
                        path.as_str(),
                        "slash_commands",
                        "trigger",
                    ]),
                    format!("/{trigger} in team {team} is also the slash command of {other}"),
                    "give one of them another slash_commands.trigger",
                );
            }
        }
    }
}
