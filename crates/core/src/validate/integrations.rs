//! The integrations section: names Mattermost and GitLab accept, references that resolve, and
//! what `integrations sync` needs (an owner, GitLab's URL).
//!
//! Names are checked here because they land in URLs (`/teams/name/<team>`), file names
//! (`webhook-<name>.url`) and Mattermost's own validation (a trigger word has no spaces):
//! a bad one found by `sync` would leave half of the integrations applied.

use super::{Context, Report};
use crate::diag::Diagnostic;
use crate::schema::{Config, Integrations, MattermostVersion};
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

/// Mattermost's limits on what `sync` sends, from its model at the versions this tool targets
/// (`server/public` v0.1.16 for 10.11 and v0.2.1 for 11.7, `model/incoming_webhook.go` and
/// `model/command.go`, `IsValid`). Go's `len` counts bytes, so these are byte lengths: 64
/// bytes are 64 ASCII letters but only 21 three-byte ones.
pub mod limits {
    /// `IncomingWebhook.IsValid`: `len(o.DisplayName) > 64`.
    pub const WEBHOOK_DISPLAY_NAME: usize = 64;
    /// `IncomingWebhook.IsValid`: `len(o.Description) > 500`.
    pub const WEBHOOK_DESCRIPTION: usize = 500;
    /// `IncomingWebhook.IsValid`: `len(o.Username) > 64`.
    pub const WEBHOOK_USERNAME: usize = 64;
    /// `IncomingWebhook.IsValid`: `len(o.IconURL) > 1024`.
    pub const WEBHOOK_ICON_URL: usize = 1024;
    /// `Command.IsValid`: `MinTriggerLength` and `MaxTriggerLength`.
    pub const TRIGGER_MIN: usize = 1;
    pub const TRIGGER_MAX: usize = 128;
}

/// The triggers of Mattermost's built-in commands (`server/channels/app/slashcommands`, each
/// provider's `Cmd…` constant, and `app.CmdCustomStatusTrigger`), the same in the 10.11 and
/// 11 lines. `App.createCommand` refuses a custom command whose trigger is one of them
/// ("This trigger word is already in use"). Some are only registered with a setting or a
/// licence (`echo` and `test` with `EnableTesting`, `exportlink`, `marketplace`,
/// `secure-connection`), which a later change to `settings` can bring in: they are refused
/// too.
pub const BUILT_IN_TRIGGERS: &[&str] = &[
    "away",
    "code",
    "collapse",
    "dnd",
    "echo",
    "expand",
    "exportlink",
    "groupmsg",
    "header",
    "help",
    "invite",
    "invite_people",
    "join",
    "kick",
    "leave",
    "logout",
    "marketplace",
    "me",
    "msg",
    "mute",
    "offline",
    "online",
    "open",
    "purpose",
    "remove",
    "rename",
    "search",
    "secure-connection",
    "settings",
    "share-channel",
    "shortcuts",
    "shrug",
    "status",
    "test",
];

/// A value longer than Mattermost takes, in bytes (what Go's `len` counts).
fn too_long(what: &str, value: &str, max: usize) -> Option<String> {
    let n = value.len();
    (n > max).then(|| {
        let chars = value.chars().count();
        if chars == n {
            format!("Mattermost takes a {what} of at most {max} bytes, found {n}")
        } else {
            format!(
                "Mattermost takes a {what} of at most {max} bytes, found {n} ({chars} characters; \
                 a non-ASCII character takes 2 to 4 bytes)"
            )
        }
    })
}

/// A slash command's word, as `Command.IsValid` and `App.createCommand` take it: 1 to 128
/// bytes, no leading `/`, no space (11.7 also allows only `A-Z a-z 0-9 _ . / -`: its
/// `validCommandTriggerChars`), not a built-in command's, and in lower case (Mattermost
/// lower-cases the trigger when it saves the command, so a capitalised one would differ from
/// what is stored on every `sync` and be "updated" each time).
pub fn trigger_problem(trigger: &str, version: MattermostVersion) -> Option<(String, String)> {
    let hint = "e.g. `project` for /project".to_string();
    let n = trigger.len();
    if !(limits::TRIGGER_MIN..=limits::TRIGGER_MAX).contains(&n) {
        return Some((
            format!(
                "Mattermost takes a command word of {}-{} bytes, found {n} in {trigger:?}",
                limits::TRIGGER_MIN,
                limits::TRIGGER_MAX
            ),
            hint,
        ));
    }
    if trigger.starts_with('/') || trigger.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some((
            format!("expected a command word without a leading `/` or spaces, found {trigger:?}"),
            hint,
        ));
    }
    if version >= MattermostVersion::V11_7
        && !trigger
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
    {
        return Some((
            format!(
                "Mattermost 11 takes a command word of A-Z, a-z, 0-9, `_`, `.`, `/` and `-` only, \
                 found {trigger:?}"
            ),
            hint,
        ));
    }
    let lower = trigger.to_lowercase();
    if lower != trigger {
        return Some((
            format!(
                "Mattermost stores command words in lower case, so {trigger:?} would be saved as \
                 {lower:?} and `integrations sync` would find it changed on every run"
            ),
            format!("write it in lower case: {lower:?}"),
        ));
    }
    if BUILT_IN_TRIGGERS.contains(&trigger) {
        return Some((
            format!(
                "/{trigger} is one of Mattermost's built-in commands; Mattermost refuses a \
                 custom command with its word"
            ),
            "set slash_commands.trigger to another word, e.g. the project's full name".into(),
        ));
    }
    None
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
    if !ok {
        return Some(format!(
            "expected a GitLab project path like `group/project`, found {path:?}"
        ));
    }
    // GitLab refuses `.` and `..` as a group or project path, and consecutive special
    // characters in a path: the API answers 404 for such a project.
    parts
        .iter()
        .find(|p| *p == &"." || p.contains(".."))
        .map(|p| {
            format!("GitLab takes no `.` or `..` as a path part, nor `..` inside one, found {p:?} in {path:?}")
        })
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
            } else if let Some(p) = too_long("profile picture URL", icon, limits::WEBHOOK_ICON_URL)
            {
                refuse(
                    report,
                    field("icon_url"),
                    p,
                    "link a shorter URL of the picture",
                );
            }
        }
        let texts = [
            (
                "display_name",
                "display name",
                w.display_name.as_deref(),
                limits::WEBHOOK_DISPLAY_NAME,
            ),
            (
                "description",
                "description",
                Some(w.description.as_str()),
                limits::WEBHOOK_DESCRIPTION,
            ),
            (
                "username",
                "user name",
                w.username.as_deref(),
                limits::WEBHOOK_USERNAME,
            ),
        ];
        for (f, what, value, max) in texts {
            if let Some(p) = value.and_then(|v| too_long(&format!("webhook {what}"), v, max)) {
                refuse(
                    report,
                    field(f),
                    p,
                    "shorten it: Mattermost refuses the webhook at `integrations sync` otherwise",
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
            if let Some((problem, hint)) = trigger_problem(&trigger, config.mattermost.version) {
                let problem = if s.trigger.is_none() {
                    format!("{problem} (the default, the project's name)")
                } else {
                    problem
                };
                refuse(report, field("slash_commands.trigger"), problem, &hint);
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
            // Mattermost compares triggers after lower-casing them (`App.createCommand`).
            let word = trigger.to_lowercase();
            if let Some(other) = triggers.insert((team.clone(), word), path) {
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
