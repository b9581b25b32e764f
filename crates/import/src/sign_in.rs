//! GitLab sign-in on the line the import targets: on 11, Team Edition offers no GitLab button,
//! so an imported config that signs in with GitLab must say how it goes on. The importer
//! never chooses for the admin: `--gitlab-sign-in` does, and the report says what it means.

use serde_json::Value;

use super::report::Section;
use super::{Ctx, ImportError};
use crate::diag::Diagnostic;
use crate::lifecycle::{self, GitLabSignIn};
use crate::schema::MattermostVersion;

/// How GitLab sign-in goes on after the move (`--gitlab-sign-in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignInChoice {
    // `<site>` stands for the site URL in the help text, not HTML.
    #[allow(rustdoc::invalid_html_tags)]
    /// Team Edition, signing in through the undocumented route it still answers
    /// (`gitlab.allow_team_edition_route`): no GitLab button in any app, users open
    /// <site>/gitlab-sign-in. Any release may close the route.
    TeamRoute,
    /// The Enterprise build (`mattermost.edition = "enterprise"`): with a licence file a
    /// licensed server, without one Mattermost Entry (GitLab sign-in included; only the newest
    /// 10,000 messages visible).
    Enterprise,
    /// No GitLab sign-in (`gitlab.enable = false`): users who signed in with GitLab need
    /// another way in (password reset by an admin, or another sign-in method).
    Off,
}

/// Applies the choice when the imported config signs in with GitLab on a line whose Team
/// Edition does not offer it; refuses (exit 2) when no choice was given.
pub fn apply(ctx: &mut Ctx, choice: Option<SignInChoice>) -> Result<(), ImportError> {
    let enabled = ctx
        .out
        .get("gitlab")
        .and_then(|g| g.get("enable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let version = ctx
        .out
        .get("mattermost")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_str)
        .and_then(|v| serde_json::from_value::<MattermostVersion>(Value::String(v.into())).ok())
        .unwrap_or_default();
    let line = lifecycle::line(version);
    if !enabled || line.gitlab_sign_in == GitLabSignIn::EveryEdition {
        if let Some(choice) = choice {
            ctx.report.add(
                Section::Skipped,
                None,
                format!(
                    "--gitlab-sign-in {}: nothing to choose ({})",
                    name(choice),
                    if enabled {
                        "this line offers GitLab sign-in in every edition"
                    } else {
                        "GitLab sign-in is off"
                    }
                ),
            );
        }
        return Ok(());
    }
    let Some(choice) = choice else {
        return Err(ImportError::Invalid(
            Diagnostic::new(
                "--gitlab-sign-in",
                format!(
                    "the old server signed in with GitLab, and {} Team Edition does not offer GitLab sign-in: say how it goes on",
                    line.name
                ),
            )
            .with_hint(
                "--gitlab-sign-in team-route (Team Edition; no GitLab button, users open <site>/gitlab-sign-in; an undocumented route), \
                 --gitlab-sign-in enterprise (the Enterprise build: licensed with mattermost.license_file, else Mattermost Entry, \
                 free, only the newest 10,000 messages visible), or --gitlab-sign-in off",
            )
            .into(),
        ));
    };
    let note = match choice {
        SignInChoice::TeamRoute => {
            ctx.set_out(&["gitlab", "allow_team_edition_route"], Value::Bool(true));
            format!(
                "gitlab.allow_team_edition_route = true (--gitlab-sign-in team-route): {} Team Edition shows no GitLab button; \
                 users sign in at <site>/gitlab-sign-in, which leads to the undocumented /oauth/gitlab/login route; \
                 GitLab's own Mattermost features keep working; `gitlab-mattermost doctor` checks the route",
                line.name
            )
        }
        SignInChoice::Enterprise => {
            ctx.set_out(
                &["mattermost", "edition"],
                Value::String("enterprise".into()),
            );
            "mattermost.edition = \"enterprise\" (--gitlab-sign-in enterprise): install the Enterprise release; \
             set mattermost.license_file to your licence, or run it as Mattermost Entry (GitLab sign-in included, \
             only the newest 10,000 messages visible)"
                .to_string()
        }
        SignInChoice::Off => {
            ctx.set_out(&["gitlab", "enable"], Value::Bool(false));
            "gitlab.enable = false (--gitlab-sign-in off): users who signed in with GitLab cannot sign in until an \
             admin switches them to another method (`mmctl user change-password`, or `mmctl user migrate-auth`)"
                .to_string()
        }
    };
    ctx.report.add(Section::Derived, None, note);
    Ok(())
}

fn name(choice: SignInChoice) -> &'static str {
    match choice {
        SignInChoice::TeamRoute => "team-route",
        SignInChoice::Enterprise => "enterprise",
        SignInChoice::Off => "off",
    }
}
