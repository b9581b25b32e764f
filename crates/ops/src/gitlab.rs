//! `gitlab register`: create or keep the OAuth application "GitLab Mattermost" through
//! GitLab's Applications API (`/api/v4/applications`, admin only), and keep
//! `gitlab.id_file`/`gitlab.secret_file` consistent with it.
//!
//! The API has no update endpoint and never returns a secret after creation. An existing
//! application may be in use elsewhere: the Omnibus server this one replaces signs in with
//! the application it registered, and stays the rollback target. So an existing application
//! is never changed or deleted unless asked:
//! - a changed site URL or scope gets a new application beside the old one, which stays
//!   until `--delete-old` names it;
//! - an application whose secret we do not have is left alone (the run stops and says what
//!   to copy) unless `--rotate` asks for a new secret
//!   (`POST /applications/:id/renew-secret`, GitLab 16.11+; older GitLab: a new application).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::json;

use super::args::RegisterArgs;
use super::http::{self, Answer};
use super::{files, tls};
use crate::config_args::ConfigArgs;
use crate::diag::{Diagnostic, Diagnostics};
use crate::output::target::{inspect_owned_file, same_path};
use crate::output::Input;
use crate::validate::Plan;

/// The name GitLab shows in Admin > Applications and on the consent page.
pub const APP_NAME: &str = "GitLab Mattermost";
/// The only scope Mattermost's GitLab sign-in needs (it reads `/api/v4/user`).
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

    /// The scopes GitLab reports (a list; a space-separated string in some answers), or
    /// `None` when this GitLab does not list them (before 17.x the list leaves them out).
    pub fn scopes(&self) -> Option<BTreeSet<String>> {
        match &self.scopes {
            Some(serde_json::Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|s| s.as_str())
                    .flat_map(str::split_whitespace)
                    .map(str::to_string)
                    .collect(),
            ),
            Some(serde_json::Value::String(s)) => {
                Some(s.split_whitespace().map(str::to_string).collect())
            }
            _ => None,
        }
    }

    /// Whether it looks like a Mattermost sign-in application: named like ours, or
    /// redirecting to Mattermost's GitLab callback. Only those may be deleted on request.
    pub fn is_mattermost(&self) -> bool {
        self.application_name == APP_NAME
            || self.redirect_uris().iter().any(|u| {
                u.ends_with("/signup/gitlab/complete") || u.ends_with("/login/gitlab/complete")
            })
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
/// API here, the project integrations in [`crate::integrations`].
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
        let apps: Vec<Application> = self.parse("GET", "/applications", &a)?;
        for app in &apps {
            check_client_id(&app.application_id).map_err(|why| {
                anyhow!(
                    "GET {}: {why}; nothing was changed",
                    self.url("/applications")
                )
            })?;
        }
        Ok(apps)
    }

    /// Create the application; the answer is the only time GitLab reveals the secret.
    /// `scopes` are space-separated and must not be blank (GitLab refuses that).
    pub fn create(&self, uris: &[String], scopes: &str) -> Result<(Application, Secret)> {
        let body = json!({
            "name": APP_NAME,
            // Doorkeeper splits redirect URIs on whitespace; Omnibus used CRLF too.
            "redirect_uri": uris.join("\n"),
            "scopes": scopes,
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
        let checked = check_client_id(&w.app.application_id).and_then(|()| {
            // Never shown: only what is wrong with it.
            if secret.chars().all(|c| c.is_ascii_graphic()) {
                Ok(())
            } else {
                Err(format!(
                    "the secret of application {} (id {}) holds blanks, control characters or non-ASCII characters, which no OAuth secret has",
                    w.app.application_id, w.app.id
                ))
            }
        });
        if let Err(why) = checked {
            bail!(
                "unexpected answer from GitLab to {method} {}: {why}; nothing was written to gitlab.id_file or gitlab.secret_file (delete the application in GitLab's Admin > Applications if nothing uses it)",
                self.url(path)
            );
        }
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

    /// Delete an application; one already gone is fine (the goal is reached).
    pub fn delete(&self, app: &Application) -> Result<()> {
        let path = format!("/applications/{}", app.id);
        let a = self.send("DELETE", &path, None)?;
        match a.status {
            200 | 202 | 204 | 404 => Ok(()),
            _ => Err(self.refuse("DELETE", &path, &a)),
        }
    }
}

/// The longest OAuth client id accepted (Doorkeeper's are 64 hex digits).
const CLIENT_ID_MAX: usize = 128;

/// An OAuth client id (`application_id`) as GitLab issues them: letters, digits, `-` and `_`.
/// Anything else (a newline, a quote, a blank) is refused before it is written to
/// gitlab.id_file or printed inside a command to paste.
pub fn check_client_id(id: &str) -> Result<(), String> {
    let plain = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !id.is_empty() && id.len() <= CLIENT_ID_MAX && plain {
        Ok(())
    } else {
        Err(format!(
            "GitLab answered an application id {id:?}, which is not an OAuth client id (1 to {CLIENT_ID_MAX} letters, digits, `-` or `_`); it is not used"
        ))
    }
}

/// The files a command reads besides the secret files the config names
/// ([`secret_files_except`]): the config files, `--token-file` and `--ca-file`.
pub fn read_inputs(
    config: &ConfigArgs,
    token_file: Option<&Path>,
    ca_file: Option<&Path>,
) -> Vec<Input> {
    let mut inputs: Vec<Input> = config
        .files
        .iter()
        .map(|f| Input::new(f, "a config file given on the command line"))
        .collect();
    if let Some(t) = token_file {
        inputs.push(Input::new(t, "the token file (--token-file)"));
    }
    if let Some(c) = ca_file {
        inputs.push(Input::new(c, "the CA file (--ca-file)"));
    }
    inputs
}

/// The secret files the config names other than for `variable`: every use of a file is its
/// role, and a file with another role is never written over.
pub fn secret_files_except(plan: &Plan, variable: Option<&str>) -> Vec<Input> {
    use crate::validate::SecretUse;
    plan.credentials
        .iter()
        .filter(|c| {
            !c.uses
                .iter()
                .all(|u| matches!((u, variable), (SecretUse::Variable(v), Some(w)) if v == w))
        })
        .map(|c| {
            Input::new(
                &c.path,
                "a secret file the config reads for another setting",
            )
        })
        .collect()
}

/// Check gitlab.id_file and gitlab.secret_file before anything is asked of GitLab: each is
/// a file of its own (not a config file, the token, the other one, another secret file of
/// the config, a file `integrations sync` writes), a regular file or none yet. Every
/// refusal at once, exit 2.
pub fn check_outputs(plan: &Plan, args: &RegisterArgs) -> Result<(), Diagnostics> {
    let g = &plan.config.gitlab;
    let (Some(id_file), Some(secret_file)) = (&g.id_file, &g.secret_file) else {
        return Ok(());
    };
    let (id_file, secret_file) = (Path::new(id_file), Path::new(secret_file));
    let read = read_inputs(
        &args.config,
        Some(&args.token_file),
        args.net.ca_file.as_deref(),
    );
    let written_by_sync = crate::integrations::written_files(plan)
        .into_iter()
        .map(|(what, path)| Input::new(path, what));
    let mut d = Diagnostics::default();
    for (key, path, variable, other) in [
        (
            "gitlab.id_file",
            id_file,
            "MM_GITLABSETTINGS_ID",
            Input::new(secret_file, "gitlab.secret_file, where the secret goes"),
        ),
        (
            "gitlab.secret_file",
            secret_file,
            "MM_GITLABSETTINGS_SECRET",
            Input::new(id_file, "gitlab.id_file, where the application id goes"),
        ),
    ] {
        if key == "gitlab.secret_file" && same_path(id_file, secret_file) {
            // Reported once, for gitlab.id_file.
            continue;
        }
        let mut others = read.clone();
        others.push(other);
        others.extend(secret_files_except(plan, Some(variable)));
        others.extend(written_by_sync.clone());
        if let Err(e) = inspect_owned_file(key, path, &others) {
            d.push(e);
        }
    }
    d.into_result(())
}

/// What the config asks of the application.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// The redirect URIs Mattermost sends for the site URL.
    pub uris: BTreeSet<String>,
    /// `gitlab.scope` as a set; empty is what Omnibus registered.
    pub scopes: BTreeSet<String>,
}

impl Wanted {
    pub fn new(uris: &[String], scope: &str) -> Wanted {
        Wanted {
            uris: uris.iter().cloned().collect(),
            scopes: scope.split_whitespace().map(str::to_string).collect(),
        }
    }

    /// Why `app` does not fit, or `None` when it does. Extra redirect URIs are fine: GitLab
    /// accepts any listed one. The scopes must be the ones gitlab.scope asks, no more and no
    /// fewer: an application without scopes (as Omnibus registered it) grants whatever is
    /// requested, one with scopes refuses a request beyond them. When this GitLab does not
    /// list scopes they are taken to fit rather than add an application needlessly.
    pub fn misfit(&self, app: &Application) -> Option<String> {
        let mut why = Vec::new();
        let has = app.redirect_uris();
        let missing: Vec<&str> = self.uris.difference(&has).map(String::as_str).collect();
        if !missing.is_empty() {
            why.push(format!("it lacks redirect URI(s) {}", missing.join(" ")));
        }
        match app.scopes() {
            Some(s) if s != self.scopes => why.push(format!(
                "its scopes are {}, gitlab.scope asks {}",
                show_scopes(&s),
                show_scopes(&self.scopes)
            )),
            _ => {}
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    pub fn fits(&self, app: &Application) -> bool {
        self.misfit(app).is_none()
    }
}

fn show_scopes(s: &BTreeSet<String>) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(" ")
    }
}

/// What `register` will do, decided from GitLab's list and the files alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The id file names an application that fits, and the secret file exists.
    UpToDate(Application),
    /// No application fits and the id file names none GitLab has: create one.
    Create,
    /// The application the id file names does not fit (the site URL or gitlab.scope
    /// changed): create a new one beside it. The old one stays: the old server, and a
    /// rollback to it, still sign in with it.
    CreateBeside(Application),
    /// `--rotate`: a new secret for this application (the one the id file names, or one
    /// that fits, adopted).
    Renew(Application),
    /// Stop: the id file names this application, which fits, but the secret file is
    /// missing. A new secret would cut off whoever signs in with the current one.
    SecretMissing(Application),
    /// Stop: no id file (or it names an application GitLab does not have), but this one
    /// fits. Adopting it needs its secret, which GitLab never shows again.
    Found(Application),
}

impl Action {
    /// The existing application the files keep naming after the run.
    fn kept(&self) -> Option<&Application> {
        match self {
            Action::UpToDate(a) | Action::Renew(a) => Some(a),
            _ => None,
        }
    }
}

/// Decide what to do. An existing application's secret is renewed only when `rotate` asks:
/// without its secret the run stops instead (see `refusal`).
pub fn decide(
    apps: &[Application],
    id_in_file: Option<&str>,
    secret_present: bool,
    wanted: &Wanted,
    rotate: bool,
) -> Action {
    let mine = id_in_file.and_then(|id| apps.iter().find(|a| a.application_id == id));
    match mine {
        Some(m) if !wanted.fits(m) => Action::CreateBeside(m.clone()),
        Some(m) if rotate => Action::Renew(m.clone()),
        Some(m) if !secret_present => Action::SecretMissing(m.clone()),
        Some(m) => Action::UpToDate(m.clone()),
        // The newest that fits rather than a duplicate.
        None => match apps.iter().filter(|a| wanted.fits(a)).max_by_key(|a| a.id) {
            Some(m) if rotate => Action::Renew(m.clone()),
            Some(m) => Action::Found(m.clone()),
            None => Action::Create,
        },
    }
}

/// Where the id and secret go, and what the application must be, from the config.
struct Target {
    gitlab_url: String,
    id_file: PathBuf,
    secret_file: PathBuf,
    /// In the order Mattermost lists them (sign-up, login), for `create`.
    uris: Vec<String>,
    wanted: Wanted,
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
                .with_hint("set gitlab.secret_file = \"/etc/gitlab-mattermost-secrets/gitlab-secret\""),
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
    let uris = redirect_uris(&plan.site_url.url);
    Ok(Target {
        gitlab_url: url.clone(),
        id_file: id_file.into(),
        secret_file: secret_file.into(),
        wanted: Wanted::new(&uris, &g.scope),
        uris,
    })
}

/// The administrator's token, from `--token-file`. A file that cannot be read is bad input
/// (exit 2): nothing was sent or written yet.
fn token_from(path: &Path) -> Result<String> {
    files::read_secret(path).map_err(|e| {
        let refusal = Diagnostic::new("--token-file", format!("{e:#}")).with_hint(
            "write a personal access token (scope api) of a GitLab administrator to a root-only file, e.g. `install -m 0600 /dev/stdin /root/gitlab-admin-token`",
        );
        Diagnostics::from(refusal).into()
    })
}

/// Run `gitlab register`; the report goes to stdout, one line per fact.
pub fn register(plan: &Plan, args: &RegisterArgs) -> Result<()> {
    check_outputs(plan, args)?;
    let t = target(plan)?;
    let token = Secret(token_from(&args.token_file)?);
    let roots = tls::trusted_roots(args.net.ca_file.as_deref())?;
    let api = Api::new(&t.gitlab_url, token, &roots, args.net.timeout());

    let apps = api.list()?;
    let id_in_file = files::read_optional(&t.id_file)?;
    let secret_present = files::read_optional(&t.secret_file)?.is_some();
    let action = decide(
        &apps,
        id_in_file.as_deref(),
        secret_present,
        &t.wanted,
        args.rotate,
    );
    tracing::info!(?action, "decided");

    // Every refusal comes before GitLab or the files change.
    let stale = id_in_file
        .as_deref()
        .filter(|id| !apps.iter().any(|a| a.application_id == *id));
    if let Some(why) = refusal(&t, &action, stale) {
        bail!("{why}");
    }
    let doomed = match args.delete_old.as_deref() {
        Some(which) => Some(doomed(&apps, which, &action)?),
        None => None,
    };
    if let Some(id) = stale {
        println!(
            "note: gitlab.id_file names application {id}, which GitLab does not have (deleted?)"
        );
    }

    let (app, old) = match action {
        Action::UpToDate(app) => {
            println!(
                "up to date: application {} (\"{}\", id {}) has this site's redirect URIs and the scopes gitlab.scope asks ({}); nothing changed",
                app.application_id,
                app.application_name,
                app.id,
                show_scopes(&t.wanted.scopes)
            );
            (app, None)
        }
        Action::Create => (create_new(&api, &t)?, None),
        Action::CreateBeside(old) => {
            println!(
                "application {} (id {}), which gitlab.id_file names, does not fit: {}; GitLab's API cannot change an application, so a new one goes beside it",
                old.application_id,
                old.id,
                t.wanted.misfit(&old).unwrap_or_default()
            );
            (create_new(&api, &t)?, Some(old))
        }
        Action::Renew(old) => renew(&api, &t, old, id_in_file.as_deref())?,
        // `refusal` stopped these above.
        Action::SecretMissing(_) | Action::Found(_) => bail!("internal: unhandled refusal"),
    };

    let mut mentioned = BTreeSet::from([app.id]);
    if let Some(d) = &doomed {
        delete_old(&api, &app, d)?;
        mentioned.insert(d.id);
    }
    if let Some(old) = old.filter(|o| !mentioned.contains(&o.id)) {
        println!(
            "kept application {} (id {}): it still works with its own secret, for the old server and a rollback to it. Once nothing signs in with it, rerun with --delete-old {} or delete it in GitLab's Admin > Applications",
            old.application_id, old.id, old.id
        );
        mentioned.insert(old.id);
    }
    report_leftovers(&apps, &t.wanted, &mentioned);
    print_next_steps(plan, &t, &app);
    Ok(())
}

/// Why the run must stop before changing anything, as the lines that say what to do.
fn refusal(t: &Target, action: &Action, stale: Option<&str>) -> Option<String> {
    let cut_off = "whatever signs in with the current secret (the old server, a rollback to it) stops working";
    match action {
        Action::SecretMissing(app) => Some(format!(
            "application {} (id {}), which gitlab.id_file names, fits, but gitlab.secret_file ({}) is missing, and GitLab never shows a secret again. Nothing was changed. Either:\n  \
             - copy the secret the old server uses into {} (mode 0600) and rerun: after an Omnibus import it is gitlab-secret in the import's secrets directory, or on the Omnibus host `jq -r .mattermost.gitlab_secret /etc/gitlab/gitlab-secrets.json`;\n  \
             - or rerun with --rotate to issue a new secret: {cut_off}.",
            app.application_id,
            app.id,
            t.secret_file.display(),
            t.secret_file.display(),
        )),
        Action::Found(app) => {
            let why = match stale {
                Some(id) => format!(
                    "gitlab.id_file ({}) names application {id}, which GitLab does not have",
                    t.id_file.display()
                ),
                None => format!("gitlab.id_file ({}) is missing", t.id_file.display()),
            };
            Some(format!(
                "application {} (\"{}\", id {}) already has this site's redirect URIs, but {why}, and GitLab never shows a secret again. Nothing was changed. Either:\n  \
                 - copy the id and secret the old server uses into {} and {} (mode 0600) and rerun: after an Omnibus import they are gitlab-id and gitlab-secret in the import's secrets directory, or on the Omnibus host `jq -r .mattermost.gitlab_id /etc/gitlab/gitlab-secrets.json` (and `.mattermost.gitlab_secret`);\n  \
                 - or rerun with --rotate to adopt it with a new secret: {cut_off}.",
                app.application_id,
                app.application_name,
                app.id,
                t.id_file.display(),
                t.secret_file.display(),
            ))
        }
        Action::Create => blank_scope(t, "no application fits"),
        Action::CreateBeside(old) => blank_scope(
            t,
            &format!(
                "application {} (id {}), which gitlab.id_file names, does not fit ({})",
                old.application_id,
                old.id,
                t.wanted.misfit(old).unwrap_or_default()
            ),
        ),
        Action::UpToDate(_) | Action::Renew(_) => None,
    }
}

/// GitLab's API refuses an application without scopes; only Omnibus (through Rails)
/// registered one. `None` when a new application can be created.
fn blank_scope(t: &Target, need: &str) -> Option<String> {
    t.wanted.scopes.is_empty().then(|| {
        format!(
            "{need}, so a new application is needed, but gitlab.scope is \"\" and GitLab's API cannot create an application without scopes (only Omnibus registered one so). Nothing was changed. Set gitlab.scope = \"{SCOPE}\", the scope Mattermost needs, and rerun."
        )
    })
}

/// The application `--delete-old` names, checked before anything changes: GitLab has it, it
/// is a Mattermost sign-in application, and the files will not name it.
fn doomed(apps: &[Application], which: &str, action: &Action) -> Result<Application> {
    let which = which.trim();
    let Some(app) = apps
        .iter()
        .find(|a| a.id.to_string() == which || a.application_id == which)
    else {
        bail!(
            "--delete-old {which}: GitLab has no such application (give its id or Application ID, as GitLab's Admin > Applications and this command's notes show). Nothing was changed."
        );
    };
    if action.kept().is_some_and(|k| k.id == app.id) {
        bail!(
            "--delete-old {which}: application {} (id {}) is the one gitlab.id_file names and this server signs in with; it stays. Nothing was changed.",
            app.application_id,
            app.id
        );
    }
    if !app.is_mattermost() {
        bail!(
            "--delete-old {which}: application {} (\"{}\", id {}) is not a Mattermost sign-in application (another name, no Mattermost redirect URI). Nothing was changed; delete it in GitLab's Admin > Applications if you mean it.",
            app.application_id,
            app.application_name,
            app.id
        );
    }
    Ok(app.clone())
}

/// Delete what `--delete-old` named, after the files name `current`.
fn delete_old(api: &Api, current: &Application, old: &Application) -> Result<()> {
    api.delete(old).with_context(|| {
        format!(
            "the files name application {} (id {}), but application {} (id {}) could not be deleted",
            current.application_id, current.id, old.application_id, old.id
        )
    })?;
    println!(
        "deleted application {} (id {}), as --delete-old asked: whatever still signed in with it (an old server) no longer can",
        old.application_id, old.id
    );
    Ok(())
}

/// A new secret for an application we keep, only with `--rotate`. Returns the application
/// the files now name and, when this GitLab cannot renew, the one left beside it.
fn renew(
    api: &Api,
    t: &Target,
    old: Application,
    id_in_file: Option<&str>,
) -> Result<(Application, Option<Application>)> {
    let adopting = id_in_file != Some(old.application_id.as_str());
    match api.renew_secret(&old)? {
        Some((app, secret)) => {
            write_pair(t, &app, &secret)?;
            let what = if adopting {
                "adopted application"
            } else {
                "issued a new secret for application"
            };
            println!(
                "{what} {} (id {}), as --rotate asked: its previous secret no longer works, wherever it is still used",
                app.application_id, app.id
            );
            Ok((app, None))
        }
        None => {
            println!(
                "this GitLab cannot renew secrets (no /renew-secret, before 16.11): a new application replaces application {} (id {}) in the files",
                old.application_id, old.id
            );
            if let Some(why) = blank_scope(t, "the secret cannot be renewed") {
                bail!("{why}");
            }
            Ok((create_new(api, t)?, Some(old)))
        }
    }
}

/// Create an application for this site with gitlab.scope's scopes (checked not blank) and
/// point the files at it.
fn create_new(api: &Api, t: &Target) -> Result<Application> {
    let scopes = t
        .wanted
        .scopes
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let (app, secret) = api.create(&t.uris, &scopes)?;
    println!(
        "created application {} (\"{APP_NAME}\", id {}) in {}",
        app.application_id, app.id, t.gitlab_url
    );
    write_pair(t, &app, &secret).with_context(|| {
        format!(
            "application {} (id {}) was created but nothing uses it: delete it in GitLab's Admin > Applications",
            app.application_id, app.id
        )
    })?;
    Ok(app)
}

/// Secret first, then id, so the id file never names an application with another's
/// secret beside it. After a crash in between, the id file still names the previous
/// application (or none): the next run creates again or stops, and notes the orphan.
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

/// Other applications that look like this server's: ones that also fit (made by hand, by
/// older tools, or by a run cut short) and older registrations named like ours. Only
/// reported: an old server may still sign in with them.
fn report_leftovers(apps: &[Application], wanted: &Wanted, mentioned: &BTreeSet<u64>) {
    for a in apps.iter().filter(|a| !mentioned.contains(&a.id)) {
        match wanted.misfit(a) {
            None => println!(
                "note: application {} (\"{}\", id {}) also fits; if nothing signs in with it, rerun with --delete-old {} or delete it in GitLab's Admin > Applications",
                a.application_id, a.application_name, a.id, a.id
            ),
            Some(why) if a.application_name == APP_NAME => println!(
                "note: application {} (id {}) is also named \"{APP_NAME}\" but {why}: an earlier registration? Keep it while an old server may sign in with it, then rerun with --delete-old {}",
                a.application_id, a.id, a.id
            ),
            Some(_) => {}
        }
    }
}

fn print_next_steps(plan: &Plan, t: &Target, app: &Application) {
    println!("  redirect URIs: {}", t.uris.join(" "));
    let scopes = match app.scopes() {
        Some(s) => show_scopes(&s),
        None => format!(
            "{} (this GitLab does not list them: check in Admin > Applications)",
            show_scopes(&t.wanted.scopes)
        ),
    };
    let confidential = match app.confidential {
        Some(false) => "not confidential",
        _ => "confidential",
    };
    println!("  scopes: {scopes}, {confidential}");
    println!(
        "GitLab's API cannot mark an application trusted (trusted skips the consent page); on the GitLab host run as GitLab's user:"
    );
    println!(
        "  gitlab-rails runner \"Authn::OauthApplication.find_by!(uid: '{}').update!(trusted: true)\"",
        app.application_id
    );
    let scope = plan.config.gitlab.scope.as_str();
    if t.wanted.scopes.is_empty() {
        println!(
            "gitlab.scope is \"\", as Omnibus registered the application: without scopes GitLab grants its default, api, more than Mattermost needs. To narrow it, set gitlab.scope = \"{SCOPE}\" and rerun: a new application goes beside this one, which an old server keeps using."
        );
    } else if t.wanted.scopes.contains(SCOPE) || t.wanted.scopes.contains("api") {
        println!("Mattermost requests scope {scope} (gitlab.scope), as the application allows.");
    } else {
        println!(
            "warning: gitlab.scope is {scope:?}: Mattermost reads the signed-in user from /api/v4/user, which needs {SCOPE}; set gitlab.scope = \"{SCOPE}\""
        );
    }
    if !plan.config.gitlab.enable {
        println!("note: gitlab.enable is false: set it to true to offer \"Sign in with GitLab\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: u64, uris: &str, scopes: Option<&[&str]>) -> Application {
        Application {
            id,
            application_id: format!("uid{id}"),
            application_name: APP_NAME.into(),
            callback_url: uris.into(),
            confidential: Some(true),
            scopes: scopes.map(|s| serde_json::json!(s)),
        }
    }

    const SITE: &str = "https://chat.example.test";
    const URIS: &str = "https://chat.example.test/signup/gitlab/complete\r\nhttps://chat.example.test/login/gitlab/complete";

    fn wanted(scope: &str) -> Wanted {
        Wanted::new(&redirect_uris(SITE), scope)
    }

    #[test]
    fn an_omnibus_application_fits_an_empty_scope_only() {
        let omnibus = app(1, URIS, Some(&[]));
        assert!(wanted("").fits(&omnibus));
        assert_eq!(
            wanted("read_user").misfit(&omnibus).as_deref(),
            Some("its scopes are none, gitlab.scope asks read_user")
        );
        assert!(!wanted("").fits(&app(2, URIS, Some(&["read_user"]))));
    }

    #[test]
    fn extra_redirect_uris_fit_missing_ones_do_not() {
        let more = format!("{URIS} https://chat.example.test/other");
        assert!(wanted("read_user").fits(&app(1, &more, Some(&["read_user"]))));
        let moved = app(
            2,
            "https://old.example.test/signup/gitlab/complete https://old.example.test/login/gitlab/complete",
            Some(&["read_user"]),
        );
        let why = wanted("read_user").misfit(&moved).unwrap_or_default();
        assert!(
            why.contains("lacks redirect URI(s)") && why.contains("chat.example.test/login"),
            "{why}"
        );
    }

    #[test]
    fn unlisted_scopes_are_taken_to_fit() {
        assert!(wanted("read_user").fits(&app(1, URIS, None)));
        let spaced = Application {
            scopes: Some(serde_json::json!("read_user openid")),
            ..app(2, URIS, None)
        };
        assert!(wanted("openid read_user").fits(&spaced));
    }

    #[test]
    fn an_existing_secret_is_renewed_only_with_rotate() {
        let w = wanted("");
        let apps = [app(1, URIS, Some(&[]))];
        let mine = Some("uid1");
        assert_eq!(
            decide(&apps, mine, true, &w, false),
            Action::UpToDate(apps[0].clone())
        );
        assert_eq!(
            decide(&apps, mine, false, &w, false),
            Action::SecretMissing(apps[0].clone())
        );
        assert_eq!(
            decide(&apps, mine, false, &w, true),
            Action::Renew(apps[0].clone())
        );
        assert_eq!(
            decide(&apps, None, true, &w, false),
            Action::Found(apps[0].clone())
        );
        assert_eq!(
            decide(&apps, Some("gone"), true, &w, true),
            Action::Renew(apps[0].clone())
        );
    }

    #[test]
    fn a_misfit_gets_a_new_application_beside_it() {
        let apps = [app(1, URIS, Some(&[])), app(2, URIS, Some(&["read_user"]))];
        // The id file names the Omnibus one, gitlab.scope now asks read_user: even though
        // another one fits, it is not adopted (its secret is unknown) and nothing renews.
        assert_eq!(
            decide(&apps, Some("uid1"), true, &wanted("read_user"), true),
            Action::CreateBeside(apps[0].clone())
        );
        assert_eq!(
            decide(&[], None, false, &wanted("read_user"), false),
            Action::Create
        );
    }

    #[test]
    fn the_newest_application_that_fits_is_the_one_found() {
        let apps = [
            app(3, URIS, Some(&["read_user"])),
            app(9, URIS, Some(&["read_user"])),
            app(12, "https://other.example.test/cb", Some(&["read_user"])),
        ];
        assert_eq!(
            decide(&apps, None, false, &wanted("read_user"), false),
            Action::Found(apps[1].clone())
        );
    }

    #[test]
    fn only_plain_client_ids_are_accepted() {
        for ok in ["uid1", &"a1".repeat(32), "abc-DEF_123"] {
            assert!(check_client_id(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "a\nb",
            "a'b",
            "a\"b",
            "a b",
            "a/b",
            "é",
            &"a".repeat(129),
        ] {
            assert!(check_client_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn delete_old_keeps_what_the_files_name() {
        let apps = [
            app(1, URIS, Some(&["read_user"])),
            app(
                2,
                "https://old.example.test/login/gitlab/complete",
                Some(&[]),
            ),
            Application {
                application_name: "CI".into(),
                ..app(3, "https://ci.example.test/cb", Some(&["api"]))
            },
        ];
        let up = Action::UpToDate(apps[0].clone());
        assert!(doomed(&apps, "1", &up).is_err());
        assert!(doomed(&apps, "uid1", &up).is_err());
        assert_eq!(doomed(&apps, "2", &up).ok(), Some(apps[1].clone()));
        assert_eq!(doomed(&apps, " uid2\n", &up).ok(), Some(apps[1].clone()));
        assert!(doomed(&apps, "3", &up).is_err(), "not a Mattermost one");
        assert!(doomed(&apps, "4", &up).is_err());
        // Beside a new application, the old one may go in the same run.
        assert!(doomed(&apps, "1", &Action::CreateBeside(apps[0].clone())).is_ok());
    }
}
