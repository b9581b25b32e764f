//! What the targeted Mattermost line allows (see [`crate::lifecycle`]): its support, the
//! settings that stop it from starting, and what GitLab sign-in needs in each edition.

use std::collections::BTreeMap;

use super::settings::SettingValue;
use super::Report;
use crate::catalogue::env_name_of_path;
use crate::diag::Diagnostic;
use crate::lifecycle::{self, Date, GitLabSignIn};
use crate::schema::{Config, Edition};

/// The path users open to sign in with GitLab through Team Edition's route (nginx sends it on
/// to `/oauth/gitlab/login`). Not a Mattermost route, so no release of Mattermost takes it.
pub const TEAM_EDITION_SIGN_IN_PATH: &str = "/gitlab-sign-in";
/// The route Team Edition 11 still answers (undocumented).
pub const GITLAB_LOGIN_ROUTE: &str = "/oauth/gitlab/login";

/// How GitLab sign-in reaches users, once the checks below passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// No GitLab sign-in.
    Off,
    /// The apps show a GitLab button (10.x, or the Enterprise build).
    Button,
    /// Team Edition on 11: no button; users open [`TEAM_EDITION_SIGN_IN_PATH`].
    TeamEditionRoute,
}

/// Checks support, start-refusing settings and edition rules; returns how GitLab sign-in
/// reaches users.
pub(super) fn check(
    config: &Config,
    values: &BTreeMap<String, SettingValue>,
    report: &mut Report,
    warnings: &mut super::Warnings,
) -> SignIn {
    support(config, report, warnings);
    start_refusals(config, values, report);
    licence(config, report);
    gitlab_sign_in(config, report, warnings)
}

fn support(config: &Config, report: &mut Report, warnings: &mut super::Warnings) {
    let m = &config.mattermost;
    let line = lifecycle::line(m.version);
    let today = match lifecycle::today() {
        Ok(today) => today,
        Err(problem) => {
            report(Diagnostic::new("", problem), &[]);
            return;
        }
    };
    let target = lifecycle::supported_target(today);
    match lifecycle::ended(m.version, today) {
        Some(end) if !m.allow_end_of_life => report(
            Diagnostic::new(
                "mattermost.version",
                format!(
                    "{} reached its end of life on {end}: it gets no security fixes",
                    line.name
                ),
            )
            .with_hint(format!(
                "move to mattermost.version = \"{}\" ({}, supported until {}; run at least {}; \
                 `gitlab-mattermost apply` backs up and upgrades), or keep it knowingly for the \
                 weeks of a move with mattermost.allow_end_of_life = true",
                target.version, target.name, target.support_ends, target.minimum_patch
            )),
            &["mattermost".into(), "version".into()],
        ),
        Some(end) => super::warn(
            warnings,
            "mattermost.version",
            end_of_life_warning(line.name, end, target),
        ),
        None => {}
    }
}

fn end_of_life_warning(name: &str, end: Date, target: &lifecycle::Line) -> String {
    format!(
        "mattermost.version: {name} reached its end of life on {end} and gets no security fixes \
         (mattermost.allow_end_of_life = true); move to \"{}\" ({}, supported until {})",
        target.version, target.name, target.support_ends
    )
}

/// Values the line refuses to start with: Mattermost would exit at start, after the old
/// server was stopped.
fn start_refusals(config: &Config, values: &BTreeMap<String, SettingValue>, report: &mut Report) {
    let line = lifecycle::line(config.mattermost.version);
    for refusal in line.refuses_to_start {
        let Some(value) = values.get(&env_name_of_path(refusal.setting)) else {
            continue;
        };
        let Some(rendered) = &value.rendered else {
            continue;
        };
        if refusal.refuses.matches(rendered) {
            let k = value.origin.join(".");
            report(
                Diagnostic::new(
                    k,
                    format!(
                        "`{} = {rendered}`: {} refuses to start with it ({})",
                        refusal.setting, line.name, refusal.why
                    ),
                )
                .with_hint(format!("remove it; {} has no such choice", line.name)),
                &value.origin,
            );
        }
    }
}

fn licence(config: &Config, report: &mut Report) {
    let m = &config.mattermost;
    if m.license_file.is_some() && m.edition == Edition::Team {
        report(
            Diagnostic::new(
                "mattermost.license_file",
                "a licence needs the Enterprise build: Team Edition ignores it",
            )
            .with_hint(
                "set mattermost.edition = \"enterprise\" and install the Enterprise release",
            ),
            &["mattermost".into(), "license_file".into()],
        );
    }
}

fn gitlab_sign_in(config: &Config, report: &mut Report, warnings: &mut super::Warnings) -> SignIn {
    let g = &config.gitlab;
    let m = &config.mattermost;
    let line = lifecycle::line(m.version);
    if !g.enable {
        if g.allow_team_edition_route {
            super::warn(
                warnings,
                "gitlab.allow_team_edition_route",
                "gitlab.allow_team_edition_route has no effect while gitlab.enable is false",
            );
        }
        return SignIn::Off;
    }
    match (line.gitlab_sign_in, m.edition) {
        (GitLabSignIn::EveryEdition, _) => {
            route_unused(
                g.allow_team_edition_route,
                line.name,
                "every edition",
                warnings,
            );
            SignIn::Button
        }
        (GitLabSignIn::EnterpriseOnly, Edition::Enterprise) => {
            route_unused(
                g.allow_team_edition_route,
                line.name,
                "the Enterprise build",
                warnings,
            );
            if m.license_file.is_none() {
                super::warn(
                    warnings,
                    "mattermost.edition",
                    format!(
                    "mattermost.edition = \"enterprise\" without mattermost.license_file runs as \
                     Mattermost Entry: GitLab sign-in is included, but users see only the newest \
                     10,000 messages (older ones stay in the database, hidden; `gitlab-mattermost \
                     doctor` counts them) and it is meant for fewer than 50 users ({})",
                    line.name
                ),
                );
            }
            SignIn::Button
        }
        (GitLabSignIn::EnterpriseOnly, Edition::Team) if g.allow_team_edition_route => {
            super::warn(warnings, "gitlab.allow_team_edition_route", format!(
                "gitlab: {} Team Edition shows no \"Sign in with GitLab\" button in any app (web, \
                 desktop, mobile); users sign in at <site>{TEAM_EDITION_SIGN_IN_PATH}, which nginx \
                 sends to the undocumented route {GITLAB_LOGIN_ROUTE}. GitLab's own Mattermost \
                 features keep working. Any Mattermost release may close the route: `gitlab-mattermost \
                 doctor` checks it",
                line.name
            ));
            SignIn::TeamEditionRoute
        }
        (GitLabSignIn::EnterpriseOnly, Edition::Team) => {
            report(
                Diagnostic::new(
                    "gitlab.enable",
                    format!(
                        "{} Team Edition does not offer GitLab sign-in (11.0 moved it to the \
                         Enterprise build)",
                        line.name
                    ),
                )
                .with_hint(
                    "choose one: mattermost.edition = \"enterprise\" with mattermost.license_file \
                     (licensed) or without it (Entry: free, GitLab sign-in included, only the newest \
                     10,000 messages visible); or gitlab.allow_team_edition_route = true (no GitLab \
                     button anywhere, users sign in through a link nginx serves, the route is \
                     undocumented and may close); or gitlab.enable = false",
                ),
                &["gitlab".into(), "enable".into()],
            );
            SignIn::Off
        }
    }
}

fn route_unused(allowed: bool, line: &str, offered_by: &str, warnings: &mut super::Warnings) {
    if allowed {
        super::warn(warnings, "gitlab.allow_team_edition_route", format!(
            "gitlab.allow_team_edition_route has no effect: {line} offers GitLab sign-in in {offered_by}"
        ));
    }
}
