//! `gitlab register`: create, adopt, rotate or replace the OAuth application "GitLab
//! Mattermost" through GitLab's Applications API (`/api/v4/applications`, admin only), and
//! keep `gitlab.id_file`/`gitlab.secret_file` consistent with it.
//!
//! The API has no update endpoint and never returns a secret after creation, so:
//! - a changed site URL is handled by creating a new application, writing its id and
//!   secret, then deleting the old one (files never point at a deleted application);
//! - an existing application whose secret we do not have gets a new secret
//!   (`POST /applications/:id/renew-secret`, GitLab 16.11+), or is replaced on older GitLab.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::json;

use super::args::RegisterArgs;
use super::http::{self, Answer};
use super::{files, tls};
use crate::diag::{Diagnostic, Diagnostics};
use crate::validate::Plan;

/// The name GitLab shows in Admin > Applications and on the consent page.
pub const APP_NAME: &str = "GitLab Mattermost";
/// The only scope Mattermost's GitLab sign-in needs.
pub const SCOPE: &str = "read_user";

/// An OAuth application as GitLab lists it (never with its secret).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Application {
    /// Numeric id, used in API paths.
    pub id: u64,
    /// The OAuth client id (`uid`), what Mattermost calls `GitLabSettings.Id`.
    pub application_id: String,
    #[serde(default)]
    pub application_name: String,
    /// Redirect URIs separated by whitespace.
    #[serde(default)]
    pub callback_url: String,
    #[serde(default)]
    pub confidential: Option<bool>,
    #[serde(default)]
    pub scopes: Option<serde_json::Value>,
}

impl Application {
    pub fn redirect_uris(&self) -> BTreeSet<String> {
        self.callback_url
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// Whether the scopes include `read_user` (GitLab returns a list; older ones a string).
    pub fn has_scope(&self, scope: &str) -> bool {
        match &self.scopes {
            Some(serde_json::Value::Array(a)) => a.iter().any(|s| s.as_str() == Some(scope)),
            Some(serde_json::Value::String(s)) => s.split_whitespace().any(|s| s == scope),
            // Not reported: assume it is fine rather than replace an application needlessly.
            _ => true,
        }
    }
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The redirect URIs Mattermost sends for a site URL (sign-up and login).
pub fn redirect_uris(site_url: &str) -> Vec<String> {
    let base = site_url.trim_end_matches('/');
    vec![
        format!("{base}/signup/gitlab/complete"),
        format!("{base}/login/gitlab/complete"),
    ]
}

/// GitLab's REST API (`<gitlab.url>/api/v4`) with a personal access token: the Applications
/// API here, the project integrations in [`crate::ops::integrations`].
pub struct Api {
    agent: ureq::Agent,
    /// `https://gitlab.example.com/api/v4`
    base: String,
    token: Secret,
    timeout: Duration,
}

impl Api {
    pub fn new(
        gitlab_url: &str,
        token: Secret,
        roots: &[rustls::pki_types::CertificateDer<'static>],
        timeout: Duration,
    ) -> Api {
        Api {
            agent: http::agent(roots, timeout),
            base: format!("{}/api/v4", gitlab_url.trim_end_matches('/')),
            token,
            timeout,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One request (`GET`, `DELETE`, `POST` or `PUT`, with a JSON body or none) and GitLab's
    /// answer, whatever its status; an error only when no answer came.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer> {
        let url = self.url(path);
        let token = self.token.0.as_str();
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("PRIVATE-TOKEN", token).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("PRIVATE-TOKEN", token)
                .call(),
            ("PUT", b) => self
                .agent
                .put(&url)
                .header("PRIVATE-TOKEN", token)
                .send_json(b.cloned().unwrap_or(serde_json::Value::Null)),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("PRIVATE-TOKEN", token)
                .send_json(b),
            (_, None) => self
                .agent
                .post(&url)
                .header("PRIVATE-TOKEN", token)
                .send_empty(),
        };
        let answer = result
            .and_then(http::answer)
            .map_err(|e| anyhow!(http::describe_transport(&e, &url, self.timeout)))?;
        tracing::debug!(method, path, status = answer.status, "GitLab answered");
        Ok(answer)
    }

    /// Turn a non-success answer into one line naming the likely cause.
    fn refuse(&self, method: &str, path: &str, a: &Answer) -> anyhow::Error {
        let what = format!("{method} {}", self.url(path));
        match a.status {
            401 => anyhow!(
                "GitLab rejected the token (401 Unauthorized for {what}): it is wrong, expired \
                 or revoked; create a personal access token with scope `api` as an administrator"
            ),
            403 if a.body.contains("insufficient_scope") => {
                anyhow!("the token lacks scope `api` (403 for {what}): create one with scope `api`")
            }
            403 => anyhow!(
                "the token's user is not a GitLab administrator (403 Forbidden for {what}): the \
                 Applications API needs an administrator's token"
            ),
            404 => anyhow!(
                "GitLab has no {what} (404): is gitlab.url GitLab's base URL? ({})",
                a.excerpt()
            ),
            s => anyhow!(
                "unexpected answer from GitLab to {what}: HTTP {s} {}",
                a.excerpt()
            ),
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(
        &self,
        method: &str,
        path: &str,
        a: &Answer,
    ) -> Result<T> {
        // Never echo a successful body: it may hold the secret.
        serde_json::from_str(&a.body).map_err(|e| {
            anyhow!(
                "unexpected answer from GitLab to {method} {}: HTTP {} but not the expected \
                 JSON ({e}); is gitlab.url GitLab's base URL?",
                self.url(path),
                a.status
            )
        })
    }

    /// All instance-wide applications.
    pub fn list(&self) -> Result<Vec<Application>> {
        let a = self.send("GET", "/applications", None)?;
        if a.status != 200 {
            return Err(self.refuse("GET", "/applications", &a));
        }
        self.parse("GET", "/applications", &a)
    }

    /// Create the application; the answer is the only time GitLab reveals the secret.
    pub fn create(&self, uris: &[String]) -> Result<(Application, Secret)> {
        let body = json!({
            "name": APP_NAME,
            // Doorkeeper splits redirect URIs on whitespace; Omnibus used CRLF too.
            "redirect_uri": uris.join("\n"),
            "scopes": SCOPE,
            "confidential": true,
        });
        let a = self.send("POST", "/applications", Some(&body))?;
        if !matches!(a.status, 200 | 201) {
            return Err(self.refuse("POST", "/applications", &a));
        }
        self.with_secret("POST", "/applications", &a)
    }

    fn with_secret(&self, method: &str, path: &str, a: &Answer) -> Result<(Application, Secret)> {
        #[derive(Deserialize)]
        struct WithSecret {
            #[serde(flatten)]
            app: Application,
            secret: Option<String>,
        }
        let w: WithSecret = self.parse(method, path, a)?;
        let secret = w.secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            anyhow!(
                "unexpected answer from GitLab to {method} {}: no secret in it",
                self.url(path)
            )
        })?;
        Ok((w.app, Secret(secret)))
    }

    /// Issue a new secret. `Ok(None)` when this GitLab has no renew endpoint (before 16.11).
    pub fn renew_secret(&self, app: &Application) -> Result<Option<(Application, Secret)>> {
        let path = format!("/applications/{}/renew-secret", app.id);
        let a = self.send("POST", &path, None)?;
        match a.status {
            200 | 201 => self.with_secret("POST", &path, &a).map(Some),
            // A missing route says `404 Not Found`; a missing application names it.
            404 if !a.body.contains("Application") => Ok(None),
            _ => Err(self.refuse("POST", &path, &a)),
        }
    }

    /// Delete an application; one already gone is fine.
    pub fn delete(&self, app: &Application) -> Result<()> {
        let path = format!("/applications/{}", app.id);
        let a = self.send("DELETE", &path, None)?;
        match a.status {
            200 | 202 | 204 | 404 => Ok(()),
            _ => Err(self.refuse("DELETE", &path, &a)),
        }
    }
}

/// What `register` will do, decided from GitLab's list and the id file alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The id file names an application with the right redirect URIs and scope, and the
    /// secret file exists: nothing to do.
    UpToDate(Application),
    /// No application for this site exists: create one.
    Create,
    /// The application is right but we need its secret: rotation asked for, the secret file
    /// is missing, or the application was found by its redirect URIs (no id file).
    Renew(Application),
    /// The application the id file names has other redirect URIs or scopes (the external
    /// URL changed): create a new one, write it, delete the old.
    Replace(Application),
}

/// Decide what to do. `others` are further applications with the same redirect URIs
/// (duplicates made by hand or by older tools), reported but left alone.
pub fn decide(
    apps: &[Application],
    id_in_file: Option<&str>,
    secret_present: bool,
    wanted: &BTreeSet<String>,
    rotate: bool,
) -> (Action, Vec<Application>) {
    let fits = |a: &Application| &a.redirect_uris() == wanted && a.has_scope(SCOPE);
    let mine = id_in_file.and_then(|id| apps.iter().find(|a| a.application_id == id));
    let action = match mine {
        Some(m) if !fits(m) => Action::Replace(m.clone()),
        Some(m) if rotate || !secret_present => Action::Renew(m.clone()),
        Some(m) => Action::UpToDate(m.clone()),
        None => match apps.iter().filter(|a| fits(a)).max_by_key(|a| a.id) {
            // Adopt the newest matching application instead of creating a duplicate.
            Some(m) => Action::Renew(m.clone()),
            None => Action::Create,
        },
    };
    let chosen = match &action {
        Action::UpToDate(a) | Action::Renew(a) | Action::Replace(a) => Some(a.id),
        Action::Create => None,
    };
    let others = apps
        .iter()
        .filter(|a| Some(a.id) != chosen && fits(a))
        .cloned()
        .collect();
    (action, others)
}

/// Where the id and secret go, from the config.
struct Target {
    gitlab_url: String,
    id_file: PathBuf,
    secret_file: PathBuf,
    uris: Vec<String>,
}

/// What `register` needs from the config, reported like any invalid input (exit 2).
pub fn check_config(plan: &Plan) -> Result<(), Diagnostics> {
    let g = &plan.config.gitlab;
    let mut d = Diagnostics::default();
    if g.url.is_none() {
        d.push(
            Diagnostic::new("gitlab.url", "`gitlab register` needs GitLab's base URL")
                .with_hint("set gitlab.url = \"https://gitlab.example.com\""),
        );
    }
    if g.id_file.is_none() {
        d.push(
            Diagnostic::new(
                "gitlab.id_file",
                "`gitlab register` writes the application id to gitlab.id_file, which is not set",
            )
            .with_hint("set gitlab.id_file (and remove gitlab.id)"),
        );
    }
    if g.secret_file.is_none() {
        d.push(
            Diagnostic::new("gitlab.secret_file", "`gitlab register` writes the application secret to gitlab.secret_file, which is not set")
                .with_hint("set gitlab.secret_file = \"/run/secrets/mattermost/gitlab-secret\""),
        );
    }
    if d.is_empty() {
        Ok(())
    } else {
        Err(d)
    }
}

fn target(plan: &Plan) -> Result<Target> {
    let g = &plan.config.gitlab;
    let (Some(url), Some(id_file), Some(secret_file)) = (&g.url, &g.id_file, &g.secret_file) else {
        bail!("gitlab.url, gitlab.id_file and gitlab.secret_file must be set");
    };
    Ok(Target {
        gitlab_url: url.clone(),
        id_file: id_file.into(),
        secret_file: secret_file.into(),
        uris: redirect_uris(&plan.site_url.url),
    })
}

/// Run `gitlab register`; the report goes to stdout, one line per fact.
pub fn register(plan: &Plan, args: &RegisterArgs) -> Result<()> {
    let t = target(plan)?;
    let token = Secret(files::read_secret(&args.token_file).context("--token-file")?);
    let roots = tls::trusted_roots(args.net.ca_file.as_deref())?;
    let api = Api::new(&t.gitlab_url, token, &roots, args.net.timeout());

    let apps = api.list()?;
    let id_in_file = files::read_optional(&t.id_file)?;
    let secret_present = files::read_optional(&t.secret_file)?.is_some();
    let wanted: BTreeSet<String> = t.uris.iter().cloned().collect();
    let (action, others) = decide(
        &apps,
        id_in_file.as_deref(),
        secret_present,
        &wanted,
        args.rotate,
    );
    tracing::info!(?action, "decided");

    let app = match action {
        Action::UpToDate(app) => {
            println!(
                "up to date: application {} (\"{}\", id {}) already has the redirect URIs; nothing changed",
                app.application_id, app.application_name, app.id
            );
            app
        }
        Action::Create => {
            let (app, secret) = api.create(&t.uris)?;
            write_pair(&t, &app, &secret)?;
            println!(
                "created application {} (\"{APP_NAME}\", id {}) in {}",
                app.application_id, app.id, t.gitlab_url
            );
            report_strays(&apps, &wanted);
            app
        }
        Action::Renew(old) => renew(&api, &t, old, id_in_file.as_deref())?,
        Action::Replace(old) => {
            let app = replace(&api, &t, &old)?;
            println!(
                "the redirect URIs changed: created application {} (id {}) and deleted the old one ({}, id {}); GitLab's API cannot update redirect URIs",
                app.application_id, app.id, old.application_id, old.id
            );
            app
        }
    };
    for o in &others {
        println!(
            "note: application {} (\"{}\", id {}) has the same redirect URIs; delete it in Admin > Applications if unused",
            o.application_id, o.application_name, o.id
        );
    }
    print_next_steps(plan, &t, &app);
    Ok(())
}

/// New secret for an application we keep (rotation, adoption, lost secret file).
fn renew(api: &Api, t: &Target, old: Application, id_in_file: Option<&str>) -> Result<Application> {
    let adopting = id_in_file != Some(old.application_id.as_str());
    match api.renew_secret(&old)? {
        Some((app, secret)) => {
            write_pair(t, &app, &secret)?;
            if adopting {
                println!(
                    "adopted existing application {} (id {}): GitLab never shows a secret twice, so it got a new one",
                    app.application_id, app.id
                );
            } else {
                println!(
                    "issued a new secret for application {} (id {})",
                    app.application_id, app.id
                );
            }
            Ok(app)
        }
        None => {
            let app = replace(api, t, &old)?;
            println!(
                "this GitLab cannot renew secrets (no /renew-secret, before 16.11): replaced application {} with {} (id {})",
                old.application_id, app.application_id, app.id
            );
            Ok(app)
        }
    }
}

/// Create a new application, point the files at it, then delete the old one. In this order a
/// failure at any step leaves the files naming an application that exists.
fn replace(api: &Api, t: &Target, old: &Application) -> Result<Application> {
    let (app, secret) = api.create(&t.uris)?;
    write_pair(t, &app, &secret)?;
    api.delete(old).with_context(|| {
        format!(
            "the new application {} is in place, but the old one (id {}) could not be deleted",
            app.application_id, old.id
        )
    })?;
    Ok(app)
}

/// Secret first, then id: after a crash in between, the id file still names the old
/// application, whose redirect URIs make the next run adopt and renew the new one.
fn write_pair(t: &Target, app: &Application, secret: &Secret) -> Result<()> {
    files::write_secret(&t.secret_file, &secret.0)?;
    files::write_secret(&t.id_file, &app.application_id)?;
    println!(
        "wrote {} and {} (mode 0600)",
        t.id_file.display(),
        t.secret_file.display()
    );
    Ok(())
}

/// Applications named like ours but for another URL: likely this server's old registration.
fn report_strays(apps: &[Application], wanted: &BTreeSet<String>) {
    for a in apps
        .iter()
        .filter(|a| a.application_name == APP_NAME && &a.redirect_uris() != wanted)
    {
        println!(
            "note: application {} (id {}) is also named \"{APP_NAME}\" but redirects to {}; delete it if it belonged to this server",
            a.application_id,
            a.id,
            a.redirect_uris().into_iter().collect::<Vec<_>>().join(" ")
        );
    }
}

fn print_next_steps(plan: &Plan, t: &Target, app: &Application) {
    println!("  redirect URIs: {}", t.uris.join(" "));
    println!("  scope: {SCOPE}, confidential");
    println!(
        "GitLab's API cannot mark an application trusted (trusted skips the consent page); on the GitLab host run as GitLab's user:"
    );
    println!(
        "  gitlab-rails runner \"Authn::OauthApplication.find_by!(uid: '{}').update!(trusted: true)\"",
        app.application_id
    );
    let scope = &plan.config.gitlab.scope;
    if scope == SCOPE {
        println!("Mattermost requests scope {SCOPE} (gitlab.scope), as the application allows.");
    } else {
        println!(
            "warning: gitlab.scope is {scope:?} but the application only allows {SCOPE}: set gitlab.scope = \"{SCOPE}\""
        );
    }
    if !plan.config.gitlab.enable {
        println!("note: gitlab.enable is false: set it to true to offer \"Sign in with GitLab\"");
    }
}
