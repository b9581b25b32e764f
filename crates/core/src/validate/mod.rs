//! From layered input to a validated, resolved plan — or every problem at once.
//!
//! Steps: read the merged tree into the typed [`Config`] (inline secrets, the JSON Schema,
//! integers; see `reading.rs`), check every value for the files it lands in (`checks.rs`),
//! derive Mattermost settings from the typed sections and add the free-form ones (each
//! checked against the catalogue), check what combines several values (`sections.rs`) and
//! Mattermost's own rules, and the environment the program will get. A problem never stops
//! the checks that do not depend on it; nothing is written unless all of this passes.

mod checks;
pub mod integrations;
mod json_schema;
pub mod lines;
mod pitfalls;
mod reading;
mod rules;
mod sections;
mod settings;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics, Excerpt, Severity};
use crate::schema::{Config, FileDriver};
use crate::sources::{KeyPath, Layered};
use crate::syntax::env_file;

pub use settings::setting_env_value;

/// How a secret file reaches Mattermost.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretUse {
    /// The file's content becomes the variable's value.
    Variable(String),
    /// The file's content is a password inserted into every DSN URL in the variable.
    PasswordInto(String),
}

/// One secret file read at service start through systemd's `LoadCredential=`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Credential {
    /// Credential name (`LoadCredential=NAME:PATH`).
    pub name: String,
    /// The file on the host.
    pub path: String,
    pub uses: Vec<SecretUse>,
}

/// A parsed site URL (`external_url` or `site_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Without a trailing slash.
    pub url: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
}

/// Mattermost's local mode (`mmctl --local`): where its socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMode {
    /// `ServiceSettings.LocalModeSocketLocation`.
    pub socket: String,
    /// The unit's `RuntimeDirectory=` (a name under `/run`) holding the socket; `None` when
    /// the config put the socket into one of the service's own directories.
    pub runtime_directory: Option<String>,
}

/// A validated configuration with everything derived from it: what the renderers consume.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Config,
    /// `external_url`: what nginx serves (server name, listen port, certificates).
    pub site: Site,
    /// `site_url`, else `external_url`: the URL users open, Mattermost's `SiteURL` (links in
    /// mail, OAuth redirect URIs, the scheme and port forwarded to Mattermost).
    pub site_url: Site,
    /// Whether nginx serves https.
    pub https: bool,
    /// Local mode, when `ServiceSettings.EnableLocalMode` is on.
    pub local_mode: Option<LocalMode>,
    /// Non-secret environment: `MM_*` settings and extra variables, sorted.
    pub env: BTreeMap<String, String>,
    /// Secret files, sorted by credential name.
    pub credentials: Vec<Credential>,
    /// Non-fatal remarks, each at the value it is about when that is known.
    pub warnings: Vec<Diagnostic>,
    /// How GitLab sign-in reaches users (a button, or Team Edition's route on 11).
    pub sign_in: lines::SignIn,
}

/// Whether every input file could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Every file was read: all checks run.
    Complete,
    /// A file could not be parsed (its error is reported too): missing keys and the checks
    /// that combine several values are skipped, since that file may have set them.
    Partial,
}

/// Warnings found, each with the key path of the value it is about (empty: none).
pub(crate) type Warnings = Vec<(Diagnostic, KeyPath)>;

/// A warning about the value at `path` (dotted, as in messages).
fn warn(warnings: &mut Warnings, path: &str, text: impl Into<String>) {
    let path = if path.is_empty() {
        Vec::new()
    } else {
        key(path)
    };
    warnings.push((Diagnostic::warning("", text), path));
}

/// What validation knows about the input beyond the config itself.
pub(crate) struct Context<'a> {
    /// The input, to find where a warning's value is.
    layered: &'a Layered,
    /// Key paths whose value could not be read (reported already).
    unreadable: &'a BTreeSet<KeyPath>,
    /// Key paths a check has refused so far.
    refused: &'a RefCell<BTreeSet<KeyPath>>,
    input: Input,
}

impl Context<'_> {
    /// Whether checks combining values of `section` may run: every file was read, and every
    /// value of the section was read and accepted.
    fn section(&self, section: &str) -> bool {
        let in_section = |p: &KeyPath| p.first().is_some_and(|s| s == section);
        self.input == Input::Complete
            && !self.unreadable.iter().any(in_section)
            && !self.refused.borrow().iter().any(in_section)
    }
}

/// Validate layered input into a plan.
pub fn validate(layered: &Layered) -> Result<Plan, Diagnostics> {
    validate_input(layered, Input::Complete)
}

/// Validate layered input, knowing whether every file could be read.
pub fn validate_input(layered: &Layered, input: Input) -> Result<Plan, Diagnostics> {
    let mut errors = Diagnostics::default();
    let mut unreadable = BTreeSet::new();
    // Problems the readers noted without stopping (a TOML date-time, a JSON key twice).
    for layer in &layered.layers {
        for (path, d) in &layer.problems {
            unreadable.insert(path.clone());
            errors.push(d.clone());
        }
    }
    let plan = {
        let mut report = |d: Diagnostic, path: &[String]| {
            errors.push(locate(layered, d, path));
        };
        reading::read_config(&layered.merged, input, &mut unreadable, &mut report).and_then(
            |config| {
                let refused = RefCell::new(BTreeSet::new());
                let ctx = Context {
                    layered,
                    unreadable: &unreadable,
                    refused: &refused,
                    input,
                };
                let mut noting = |d: Diagnostic, path: &[String]| {
                    refused.borrow_mut().insert(path.to_vec());
                    report(d, path);
                };
                resolve(config, &ctx, &mut noting)
            },
        )
    };
    match plan {
        Some(plan) if errors.is_empty() => Ok(plan),
        _ => Err(in_source_order(errors, &layered.sources())),
    }
}

/// A problem found at key path `path`, with where the value is (unless the check placed it
/// itself) and where the other values it is about are.
fn locate(layered: &Layered, mut d: Diagnostic, path: &[String]) -> Diagnostic {
    if d.origin.is_none() && !(path.is_empty() && d.details.severity == Severity::Warning) {
        if let Some((origin, excerpt)) = layered.locate_value_or_key(path, d.details.about_key) {
            d = d.at(origin).with_excerpt(excerpt);
        }
    }
    for r in &mut d.details.related {
        // Only where it is set: a default has no place (a table holding it would mislead).
        let set = layered
            .layers
            .iter()
            .any(|l| l.positions.contains_key(&r.path));
        if let Some((origin, excerpt)) = layered.locate(&r.path).filter(|_| set) {
            r.origin = Some(origin);
            r.excerpt = excerpt;
        }
    }
    // The file's lines are shown only when none of them may hold a secret.
    let secret = |origin: &Option<crate::diag::Origin>, excerpt: &Option<Excerpt>| {
        origin
            .as_ref()
            .zip(excerpt.as_ref())
            .is_some_and(|(o, e)| shows_secret(layered, &o.source, e))
    };
    if secret(&d.origin, &d.details.excerpt) {
        d.details.excerpt = None;
    }
    let hidden = d.details.excerpt.is_none();
    for r in &mut d.details.related {
        if hidden || secret(&r.origin, &r.excerpt) {
            r.excerpt = None;
        }
    }
    d
}

/// Whether the lines `excerpt` shows of file `source` may hold a secret: by their text (see
/// [`crate::sources::may_hold_secret`]), or a value there belongs to a key holding the path
/// of a secret.
fn shows_secret(layered: &Layered, source: &str, excerpt: &Excerpt) -> bool {
    let lines = crate::sources::lines_of(&excerpt.text, &(excerpt.start..excerpt.end));
    if excerpt
        .text
        .get(lines.clone())
        .is_none_or(crate::sources::may_hold_secret)
    {
        return true;
    }
    layered
        .layers
        .iter()
        .filter(|l| l.source == source)
        .flat_map(|l| &l.spans)
        .filter(|(_, span)| span.start < lines.end.max(lines.start + 1) && span.end >= lines.start)
        .any(|(path, _)| (1..=path.len()).any(|n| is_secret_path_key(&path[..n])))
}

/// Diagnostics by file (in the order given), line and column; without a position last.
fn in_source_order(errors: Diagnostics, sources: &[&str]) -> Diagnostics {
    let mut all = errors.0;
    let rank = |d: &Diagnostic| match &d.origin {
        Some(o) => (
            sources
                .iter()
                .position(|s| *s == o.source)
                .unwrap_or(sources.len()),
            o.pos.map_or((usize::MAX, 0), |p| (p.line, p.column)),
        ),
        None => (usize::MAX, (usize::MAX, 0)),
    };
    all.sort_by_key(rank);
    let mut seen = BTreeSet::new();
    // The same problem twice (the same place, key, message and hint) is shown once.
    all.retain(|d| {
        seen.insert((
            d.origin.clone(),
            d.key.clone(),
            d.message.clone(),
            d.hint.clone(),
        ))
    });
    Diagnostics(all)
}

type Report<'a> = dyn FnMut(Diagnostic, &[String]) + 'a;

fn key(s: &str) -> KeyPath {
    s.split('.').map(str::to_string).collect()
}

/// Keys whose value is the path of a secret: what is written there is never echoed, since it
/// may be the secret itself, pasted into the wrong key.
pub(crate) fn is_secret_path_key(path: &[String]) -> bool {
    match path {
        [first, ..] if first == "setting_files" || first == "environment_files" => true,
        [a, b] if a == "nginx" && b == "certificate_key" => true,
        [.., last] => last.ends_with("_file"),
        [] => false,
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Object(_) => "a table".to_string(),
        Value::Array(_) => "a list".to_string(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// A stand-in for an external URL that could not be read, so the settings derived from it
/// (and the rules on them) can still be checked. Nothing is rendered from it.
fn placeholder_site() -> Site {
    Site {
        url: "https://external-url.invalid".into(),
        https: true,
        host: "external-url.invalid".into(),
        port: 443,
    }
}

/// Check and derive everything from a deserialized config; `None` when a problem prevents
/// a plan (it is reported).
fn resolve(config: Config, ctx: &Context, report: &mut Report) -> Option<Plan> {
    let site = if ctx.unreadable.contains(&key("external_url")) {
        None
    } else {
        checks::site("external_url", &config.external_url, report)
    };
    let site_url = match &config.site_url {
        Some(_) if ctx.unreadable.contains(&key("site_url")) => None,
        Some(raw) => checks::site("site_url", raw, report),
        None => site.clone(),
    };
    // Unknown when external_url is broken and nginx.https unset: the https checks wait.
    let https = config.nginx.https.or(site.as_ref().map(|s| s.https));
    checks::all(&config, report);
    integrations::check_values(&config, report);
    let catalogue = crate::catalogue::Catalogue::of(config.mattermost.version);
    let mut b = settings::Builder::new(report, catalogue);
    settings::derive(
        &config,
        site_url.as_ref().unwrap_or(&placeholder_site()),
        &mut b,
    );
    settings::free_form(&config, &mut b);
    settings::untrusted_connections_warning(&config, &mut b);
    settings::environment_files(&config, &mut b);
    settings::licence(&config, &mut b);
    let local_mode = settings::local_mode(&config, &mut b);
    sections::check(&config, https, ctx, b.report);
    pitfalls::check(&config, https, &b.values, ctx, b.report, &mut b.warnings);
    integrations::check_section(&config, ctx, b.report);
    rules::check(&b.values, catalogue, ctx.input == Input::Complete, b.report);

    let settings::Builder {
        values,
        credentials,
        mut warnings,
        report,
        catalogue: _,
    } = b;
    let sign_in = lines::check(&config, &values, report, &mut warnings);
    if !config.secrets_provisioned_at_boot {
        pitfalls::volatile_secrets(credentials.values(), &ctx.layered.merged, &mut warnings);
    }
    let env = environment(&config, &values, report);
    Some(Plan {
        https: https.unwrap_or(false),
        site: site?,
        config,
        site_url: site_url?,
        local_mode,
        env,
        credentials: credentials.into_values().collect(),
        warnings: warnings
            .into_iter()
            .map(|(d, path)| locate(ctx.layered, d, &path))
            .collect(),
        sign_in,
    })
}

/// The directories the unit may write to (`ReadWritePaths=`, besides its runtime directory
/// and the database socket), sorted.
pub fn writable_dirs(config: &Config) -> Vec<String> {
    let d = &config.directories;
    let mut rw = vec![
        d.data.clone(),
        d.logs.clone(),
        d.config.clone(),
        d.plugins.clone(),
        d.client_plugins.clone(),
    ];
    if config.file_storage.driver == FileDriver::Local {
        if let Some(dir) = &config.file_storage.directory {
            rw.push(dir.clone());
        }
    }
    rw.sort();
    rw.dedup();
    rw
}

/// The environment the program gets (settings and extra variables), each entry checked to
/// be one a program can receive.
fn environment(
    config: &Config,
    values: &BTreeMap<String, settings::SettingValue>,
    report: &mut Report,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut origins = BTreeMap::new();
    for (env_var, sv) in values {
        if let Some(text) = &sv.rendered {
            env.insert(env_var.clone(), text.clone());
            origins.insert(env_var.clone(), sv.origin.clone());
        }
    }
    for (name, value) in &config.environment {
        env.insert(name.clone(), value.clone());
        origins.insert(name.clone(), vec!["environment".into(), name.clone()]);
    }
    let mut total = 0;
    for (name, value) in &env {
        total += name.len() + value.len() + 2;
        if let Some(problem) = env_file::entry_problem(name, value) {
            let origin = origins.get(name).cloned().unwrap_or_default();
            let k = if origin.is_empty() {
                name.clone()
            } else {
                origin.join(".")
            };
            report(Diagnostic::new(k, format!("{name}: {problem}")), &origin);
        }
    }
    if total > env_file::MAX_TOTAL_BYTES {
        report(
            Diagnostic::new(
                "",
                format!(
                    "the environment is {total} bytes, more than the {} kept for it (the kernel passes at most about 2 MiB of arguments and environment to a program, and secrets are added at start)",
                    env_file::MAX_TOTAL_BYTES
                ),
            )
            .with_hint("move large values into Mattermost's config.json"),
            &[],
        );
    }
    env
}

#[cfg(test)]
mod tests;
