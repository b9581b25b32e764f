//! The GitLab OAuth check: the endpoints Mattermost uses answer, GitLab accepts the
//! application id and secret, the redirect URIs match what GitLab has (with --token-file),
//! and nginx forwards the site URL's scheme (else Mattermost builds redirect URIs GitLab
//! rejects).
//!
//! An unauthenticated request to GitLab's authorize endpoint is sent to the sign-in page
//! before the client is looked at, so the id is verified where GitLab does reveal it: the
//! token endpoint answers `invalid_client` for an unknown id or wrong secret, and
//! `invalid_grant` for a known client with our made-up code.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Ctx, Outcome, Steps};
use crate::files;
use crate::gitlab::{self, Api, Secret};
use crate::http::{self, Answer};
use crate::render::nginx;
use crate::validate::lines::{SignIn, GITLAB_LOGIN_ROUTE, TEAM_EDITION_SIGN_IN_PATH};

struct Endpoints {
    authorize: String,
    token: String,
    user: String,
}

/// The endpoints exactly as Mattermost gets them (derived once, in validation).
fn endpoints(ctx: &Ctx) -> Endpoints {
    let env = |k: &str| ctx.plan.env.get(k).cloned().unwrap_or_default();
    Endpoints {
        authorize: env("MM_GITLABSETTINGS_AUTHENDPOINT"),
        token: env("MM_GITLABSETTINGS_TOKENENDPOINT"),
        user: env("MM_GITLABSETTINGS_USERAPIENDPOINT"),
    }
}

type Problem = (String, String);

/// Why a probe failed: no answer at all, or a wrong one.
enum Probe {
    Unreachable(Problem),
    Wrong(Problem),
}

impl From<Problem> for Probe {
    fn from(p: Problem) -> Probe {
        Probe::Wrong(p)
    }
}

pub fn check(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    let g = &ctx.plan.config.gitlab;
    if !g.enable {
        return Outcome::skipped("gitlab.enable is false");
    }
    let e = endpoints(ctx);
    let agent = http::agent(&ctx.roots, ctx.timeout);
    let uris = gitlab::redirect_uris(&ctx.plan.site_url.url);
    let mut problems: Vec<Problem> = Vec::new();
    let id = match application_id(ctx) {
        Ok(id) => Some(id),
        Err(p) => {
            problems.push(p);
            None
        }
    };

    steps.doing("asking the authorize endpoint");
    match probe_authorize(&agent, ctx, &e.authorize, id.as_deref(), &uris[0]) {
        Ok(()) => steps.done(format!("authorize endpoint answers ({})", e.authorize)),
        // GitLab is unreachable: the other endpoints would only repeat it.
        Err(Probe::Unreachable(p)) => return Outcome::failures(vec![p]),
        Err(Probe::Wrong(p)) => problems.push(p),
    }
    if let Some(id) = &id {
        steps.doing("asking the token endpoint");
        match probe_token(&agent, ctx, &e.token, id, &uris[0]) {
            Ok(()) => steps.done(format!(
                "token endpoint accepts application {id} and its secret"
            )),
            Err(Probe::Unreachable(p) | Probe::Wrong(p)) => problems.push(p),
        }
    }
    steps.doing("asking the user endpoint");
    match probe_user(&agent, ctx, &e.user) {
        Ok(()) => steps.done(format!("user endpoint answers ({})", e.user)),
        Err(Probe::Unreachable(p) | Probe::Wrong(p)) => problems.push(p),
    }
    match (&id, &ctx.args.token_file) {
        (Some(id), Some(token_file)) => match compare_redirect_uris(ctx, token_file, id, &uris) {
            Ok(()) => steps.done("GitLab has the redirect URIs Mattermost sends"),
            Err(p) => problems.push(p),
        },
        _ => steps.done("redirect URIs not compared with GitLab's (give --token-file)"),
    }
    if ctx.plan.sign_in == SignIn::TeamEditionRoute {
        steps.doing("following the Team Edition sign-in route");
        match probe_team_edition_route(&agent, ctx, &e.authorize) {
            Ok(()) => steps.done(format!(
                "{TEAM_EDITION_SIGN_IN_PATH} leads through {GITLAB_LOGIN_ROUTE} to GitLab's authorize endpoint"
            )),
            Err(Probe::Unreachable(p) | Probe::Wrong(p)) => problems.push(p),
        }
    }
    match scheme_forwarded(ctx) {
        Ok(Some(s)) => steps.done(format!(
            "nginx forwards X-Forwarded-Proto {s}, as {} says",
            url_key(ctx.plan)
        )),
        Ok(None) => {
            steps.done("nginx is not rendered: make sure the proxy sends X-Forwarded-Proto")
        }
        Err(p) => problems.push(p),
    }
    if problems.is_empty() {
        Outcome::pass(format!(
            "{}: endpoints answer, application {} accepted",
            base_of(&e.authorize),
            id.unwrap_or_default()
        ))
    } else {
        Outcome::failures(problems)
    }
}

fn base_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_string())
}

fn application_id(ctx: &Ctx) -> Result<String, Problem> {
    let g = &ctx.plan.config.gitlab;
    if let Some(id) = &g.id {
        return Ok(id.clone());
    }
    let file = g.id_file.clone().unwrap_or_default();
    files::read_secret(Path::new(&file)).map_err(|e| {
        (
            format!("no application id: {e:#}"),
            "run `gitlab-mattermost gitlab register` to create the application and write the file"
                .into(),
        )
    })
}

fn send(
    agent: &ureq::Agent,
    ctx: &Ctx,
    url: &str,
    req: impl FnOnce(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, Probe> {
    req(agent).and_then(http::answer).map_err(|e| {
        let line = http::describe_transport(&e, url, ctx.timeout);
        let fix = if line.contains("CA") {
            "Mattermost must trust GitLab's CA too: add it to the system store (or SSL_CERT_FILE in `environment`)".to_string()
        } else {
            "check gitlab.url and that this host can reach GitLab".to_string()
        };
        Probe::Unreachable((line, fix))
    })
}

/// Without a GitLab session the authorize endpoint redirects to sign-in (302) or shows a
/// page (200). An error redirect or page naming `invalid_client` means GitLab refused the id.
fn probe_authorize(
    agent: &ureq::Agent,
    ctx: &Ctx,
    url: &str,
    id: Option<&str>,
    redirect: &str,
) -> Result<(), Probe> {
    let scope = ctx.plan.config.gitlab.scope.as_str();
    let mut full = url::Url::parse(url).map_err(|e| {
        (
            format!("gitlab authorize endpoint {url:?}: {e}"),
            "fix gitlab.url".to_string(),
        )
    })?;
    full.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", id.unwrap_or("gitlab-mattermost-doctor"))
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", scope)
        .append_pair("state", "gitlab-mattermost-doctor");
    let a = send(agent, ctx, url, |ag| ag.get(full.as_str()).call())?;
    let refused = a
        .location
        .as_deref()
        .unwrap_or("")
        .contains("invalid_client")
        || a.body.contains("invalid_client");
    let result: Result<(), Problem> = match a.status {
        _ if refused && id.is_some() => Err((
            format!(
                "GitLab's authorize endpoint refused application id {}",
                id.unwrap_or_default()
            ),
            "run `gitlab-mattermost gitlab register`".into(),
        )),
        200 | 302 | 303 => Ok(()),
        s => Err((
            format!("the authorize endpoint {url} answered HTTP {s}"),
            "check gitlab.url (GitLab's base URL) or gitlab.auth_endpoint".into(),
        )),
    };
    result.map_err(Probe::Wrong)
}

/// Exchange a made-up code: `invalid_grant` proves GitLab knows the client and its secret.
fn probe_token(
    agent: &ureq::Agent,
    ctx: &Ctx,
    url: &str,
    id: &str,
    redirect: &str,
) -> Result<(), Probe> {
    let file = ctx
        .plan
        .config
        .gitlab
        .secret_file
        .clone()
        .unwrap_or_default();
    let secret = Secret(files::read_secret(Path::new(&file)).map_err(|e| {
        (
            format!("no application secret: {e:#}"),
            format!(
                "copy the secret the application in gitlab.id_file has into {file} (mode 0600; after an Omnibus import it is gitlab-secret in the import's secrets directory), or run `gitlab-mattermost gitlab register --rotate` to issue a new one (whatever else signs in with the old secret, such as an old server, then no longer can)"
            ),
        )
    })?);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "gitlab-mattermost-doctor-invalid-code"),
        ("client_id", id),
        ("client_secret", secret.0.as_str()),
        ("redirect_uri", redirect),
    ];
    let a = send(agent, ctx, url, |ag| ag.post(url).send_form(form))?;
    let error = a
        .json()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_default();
    let result: Result<(), Problem> = match (a.status, error.as_str()) {
        (400, "invalid_grant") => Ok(()),
        (_, "invalid_client") => Err((
            format!("GitLab does not accept application id {id} with the secret in {file} (invalid_client)"),
            format!(
                "copy the secret application {id} really has into {file} (mode 0600; after an Omnibus import it is gitlab-secret in the import's secrets directory, on the Omnibus host `jq -r .mattermost.gitlab_secret /etc/gitlab/gitlab-secrets.json`), or run `gitlab-mattermost gitlab register --rotate` to issue a new secret (whatever else signs in with the old one, such as an old server, then no longer can); then restart Mattermost"
            ),
        )),
        (s, e) => Err((
            format!("the token endpoint {url} answered HTTP {s} {e}"),
            "check gitlab.url or gitlab.token_endpoint".into(),
        )),
    };
    result.map_err(Probe::Wrong)
}

/// Team Edition 11: the sign-in link nginx serves must redirect to Mattermost's
/// `/oauth/gitlab/login`, and that must still redirect to GitLab's authorize endpoint (the
/// undocumented route a release may close).
fn probe_team_edition_route(agent: &ureq::Agent, ctx: &Ctx, authorize: &str) -> Result<(), Probe> {
    let site = ctx.plan.site_url.url.trim_end_matches('/');
    let link = format!("{site}{TEAM_EDITION_SIGN_IN_PATH}");
    let a = send(agent, ctx, &link, |ag| ag.get(&link).call())?;
    let to_route = a.location.as_deref().is_some_and(|l| {
        l.starts_with(GITLAB_LOGIN_ROUTE) || l.starts_with(&format!("{site}{GITLAB_LOGIN_ROUTE}"))
    });
    if !(matches!(a.status, 301 | 302 | 303 | 307) && to_route) {
        return Err(Probe::Wrong((
            format!(
                "{link} answered HTTP {} {}, not a redirect to {GITLAB_LOGIN_ROUTE}",
                a.status,
                a.location.as_deref().unwrap_or("")
            ),
            "run `gitlab-mattermost apply` (nginx serves the link when gitlab.allow_team_edition_route is on)".into(),
        )));
    }
    let route = format!("{site}{GITLAB_LOGIN_ROUTE}");
    let a = send(agent, ctx, &route, |ag| ag.get(&route).call())?;
    let to_gitlab = a
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with(authorize));
    if matches!(a.status, 301 | 302 | 303 | 307) && to_gitlab {
        Ok(())
    } else {
        Err(Probe::Wrong((
            format!(
                "Mattermost's {GITLAB_LOGIN_ROUTE} answered HTTP {} {} instead of redirecting to {authorize}: \
                 this Team Edition build may have closed the route",
                a.status,
                a.location.as_deref().unwrap_or("")
            ),
            "GitLab sign-in then needs the Enterprise build: set mattermost.edition = \"enterprise\" \
             (with mattermost.license_file, or without it as Mattermost Entry)"
                .into(),
        )))
    }
}

/// Without a token the user endpoint must ask for one (401); anything else is not GitLab.
fn probe_user(agent: &ureq::Agent, ctx: &Ctx, url: &str) -> Result<(), Probe> {
    let a = send(agent, ctx, url, |ag| ag.get(url).call())?;
    let result: Result<(), Problem> = match a.status {
        401 => Ok(()),
        s => Err((
            format!(
                "the user endpoint {url} answered HTTP {s} without a token (GitLab answers 401)"
            ),
            "check gitlab.url or gitlab.user_api_endpoint".into(),
        )),
    };
    result.map_err(Probe::Wrong)
}

fn compare_redirect_uris(
    ctx: &Ctx,
    token_file: &Path,
    id: &str,
    uris: &[String],
) -> Result<(), Problem> {
    let g = &ctx.plan.config.gitlab;
    let token = files::read_secret(token_file).map_err(|e| {
        (
            format!("--token-file: {e:#}"),
            "give a readable token file".to_string(),
        )
    })?;
    let api = Api::new(
        g.url.as_deref().unwrap_or_default(),
        Secret(token),
        &ctx.roots,
        ctx.timeout,
    );
    let apps = api.list().map_err(|e| {
        (
            format!("{e:#}"),
            "give an administrator's token with scope api".to_string(),
        )
    })?;
    let Some(app) = apps.iter().find(|a| a.application_id == id) else {
        return Err((
            format!("GitLab has no application with id {id}"),
            "run `gitlab-mattermost gitlab register`".into(),
        ));
    };
    // More redirect URIs are fine (GitLab accepts any listed one), as `gitlab register`
    // takes them to fit: an application may also serve an old server's URL.
    let wanted: BTreeSet<String> = uris.iter().cloned().collect();
    let has = app.redirect_uris();
    if wanted.is_subset(&has) {
        Ok(())
    } else {
        let missing: Vec<_> = wanted.difference(&has).cloned().collect();
        Err((
            format!("GitLab's application {id} lacks redirect URI(s) {} (it has {})", missing.join(" "), has.into_iter().collect::<Vec<_>>().join(" ")),
            "run `gitlab-mattermost gitlab register`: it adds an application with this site's redirect URIs beside this one, which stays for whatever still signs in with it (an old server) until `--delete-old` names it; then restart Mattermost".into(),
        ))
    }
}

/// The config key of the URL users open: `site_url` when set, else `external_url`.
fn url_key(plan: &crate::validate::Plan) -> &'static str {
    if plan.config.site_url.is_some() {
        "site_url"
    } else {
        "external_url"
    }
}

/// The `X-Forwarded-Proto` the rendered vhost sends, compared with the URL users open.
fn scheme_forwarded(ctx: &Ctx) -> Result<Option<String>, Problem> {
    let plan = ctx.plan;
    if !plan.config.nginx.enable {
        return Ok(None);
    }
    let conf = nginx::full_conf(plan);
    let forwarded = conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("proxy_set_header X-Forwarded-Proto "))
        .map(|v| v.trim_end_matches(';').trim_matches('"').to_string())
        .next();
    let want = if plan.site_url.https { "https" } else { "http" };
    let url_key = url_key(plan);
    match forwarded.as_deref() {
        Some(v) if v == want => Ok(Some(v.to_string())),
        Some("$scheme") if plan.https == plan.site_url.https => Ok(Some("$scheme".into())),
        Some(v) => Err((
            format!("{url_key} is {want} but nginx forwards X-Forwarded-Proto {v}: Mattermost would build {v} redirect URIs that GitLab rejects"),
            format!("remove nginx.proxy_headers.X-Forwarded-Proto (the vhost forwards the scheme of {url_key})"),
        )),
        None => Err((
            format!("nginx does not forward X-Forwarded-Proto ({url_key} is {want})"),
            "remove the empty nginx.proxy_headers.X-Forwarded-Proto override".into(),
        )),
    }
}
