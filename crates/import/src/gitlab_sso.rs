//! GitLab sign-in as both importers carry it: the OAuth endpoints fold into `gitlab.url` when
//! they are what it derives, and the application id is a value (it is no secret) or a file
//! to fill.

use serde_json::Value;

use super::report::{Origin, Section};
use super::secrets::Secret;
use super::Ctx;

/// GitLab's OAuth endpoints as Mattermost settings, their key in the `gitlab` section, and the
/// path each has under GitLab's URL.
const ENDPOINTS: [(&str, &str, &str); 3] = [
    (
        "GitLabSettings.AuthEndpoint",
        "auth_endpoint",
        "/oauth/authorize",
    ),
    (
        "GitLabSettings.TokenEndpoint",
        "token_endpoint",
        "/oauth/token",
    ),
    (
        "GitLabSettings.UserAPIEndpoint",
        "user_api_endpoint",
        "/api/v4/user",
    ),
];

/// One endpoint as an input gave it.
pub struct Endpoint {
    key: &'static str,
    suffix: &'static str,
    given: Option<(String, Origin)>,
}

/// Every endpoint, each taken out of the input by its setting path (`take` returns the
/// value as a string and where it came from).
pub fn take_endpoints(mut take: impl FnMut(&str) -> Option<(String, Origin)>) -> Vec<Endpoint> {
    ENDPOINTS
        .iter()
        .map(|(path, key, suffix)| Endpoint {
            key,
            suffix,
            given: take(path),
        })
        .collect()
}

/// GitLab's URL as the first endpoint given names it (`https://gitlab.example.com/oauth/authorize`
/// → `https://gitlab.example.com`).
pub fn url_from_endpoints(endpoints: &[Endpoint]) -> Option<String> {
    endpoints.iter().find_map(|e| {
        let url = url::Url::parse(&e.given.as_ref()?.0).ok()?;
        Some(url.origin().ascii_serialization()).filter(|o| o != "null")
    })
}

/// Write each endpoint given that `gitlab_url` does not derive; report every one.
pub fn carry_endpoints(ctx: &mut Ctx, gitlab_url: Option<&str>, endpoints: Vec<Endpoint>) {
    for e in endpoints {
        let Some((v, origin)) = e.given else { continue };
        let text = if gitlab_url.is_some_and(|b| format!("{b}{}", e.suffix) == v) {
            format!("gitlab.{}: {v:?} is what gitlab.url derives", e.key)
        } else {
            ctx.set_out(&["gitlab", e.key], Value::String(v.clone()));
            format!("gitlab.{} = {v:?}", e.key)
        };
        ctx.report.add(Section::Carried, Some(origin), text);
    }
}

/// The OAuth application id: carried when an input gave it, otherwise a file to fill, with
/// `how_to_get` saying where its value is.
pub fn carry_application_id(
    ctx: &mut Ctx,
    given: Option<(String, Origin)>,
    origin: &Origin,
    how_to_get: String,
) {
    match given {
        Some((id, from)) => {
            ctx.set_out(&["gitlab", "id"], Value::String(id.clone()));
            ctx.report.add(
                Section::Carried,
                Some(from),
                format!("gitlab.id = {id:?} (the application id is not a secret)"),
            );
        }
        None => {
            let p = ctx.secrets.add(Secret {
                file: "gitlab-id".into(),
                what: "the GitLab OAuth application id".into(),
                origin: Some(origin.clone()),
                value: None,
                how_to_get: Some(how_to_get),
            });
            ctx.set_out(&["gitlab", "id_file"], Value::String(p));
        }
    }
}
