//! `gitlab-mattermost import`: turn a GitLab Omnibus `gitlab.rb` (and optionally Mattermost's
//! `config.json`) into a config `render` accepts unchanged, with a report of everything that
//! was carried, derived, skipped or dropped. [`nixpkgs`] does the same for the configuration
//! of nixpkgs' NixOS module `services.mattermost`.
//!
//! The steps: parse gitlab.rb (the `gitlab-rb` crate) and flatten it into entries; offer every
//! Mattermost setting found (Omnibus keys, `mattermost['env']`, pre-11.0 keys, config.json)
//! to a [`bag::Bag`] that knows Omnibus's precedence; lift the winners into the typed sections
//! ([`typed`]), map `mattermost_nginx[...]` ([`nginx`]); put the rest into free-form
//! `settings`; run the compiler's own validation on the result; write secrets and emit.

pub mod bag;
pub mod config_json;
pub mod dsn;
pub mod emit;
pub mod explain;
pub mod gitlab_sso;
pub mod legacy;
pub mod mapping;
pub mod nginx;
pub mod nixpkgs;
pub mod omnibus_root;
pub mod rb;
pub mod report;
pub mod report_json;
pub mod secrets;
pub mod sign_in;
pub mod smtp;
pub mod typed;
pub mod versions;

// The compiler's modules, under the names this crate's code has always used.
use gitlab_mattermost_core::{
    catalogue, diag, lifecycle, nixos_options, output, render, schema, sources, syntax, validate,
};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Map, Value};

use self::bag::{Bag, Candidate, Layer};
use self::emit::OutputFormat;
use self::legacy::Resolution;
use self::mapping::MmKey;
use self::rb::{Entry, RbKey};
use self::report::{Origin, Report, Section};
use self::secrets::Secrets;
use crate::catalogue::Catalogue;
use crate::diag::{Diagnostic, Diagnostics};

/// Arguments of `gitlab-mattermost import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The Omnibus gitlab.rb to import (usually /etc/gitlab/gitlab.rb).
    #[arg(
        value_name = "GITLAB_RB",
        required_unless_present_any = ["nixpkgs_module", "omnibus_root"],
        conflicts_with = "nixpkgs_module"
    )]
    pub gitlab_rb: Option<PathBuf>,
    /// Read an Omnibus host's files under DIR (`/` on the old host, or a copy of its files):
    /// etc/gitlab/gitlab.rb, var/opt/gitlab/mattermost/config.json, the GitLab version, the
    /// account's ids, and the secrets Omnibus generated from the env directory,
    /// gitlab-secrets.json or etc/gitlab/config_backup (GitLab 19 removed them from
    /// gitlab-secrets.json). Needs --secrets-dir.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "nixpkgs_module",
        requires = "secrets_dir"
    )]
    pub omnibus_root: Option<PathBuf>,
    /// Import nixpkgs' NixOS module `services.mattermost` instead: its configuration as JSON,
    /// from `nix eval --json .#nixosConfigurations.HOST.config.services.mattermost`. Run it
    /// as root on the host, so that its environmentFile can be read and split.
    #[arg(long, value_name = "FILE.json", conflicts_with = "config_json")]
    pub nixpkgs_module: Option<PathBuf>,
    /// Mattermost's config.json (usually /var/opt/gitlab/mattermost/config.json): settings
    /// that differ from Mattermost's defaults are carried too.
    #[arg(long, value_name = "CONFIG_JSON")]
    pub config_json: Option<PathBuf>,
    /// Output format: the compiler's config file (toml, nix, json) or a NixOS module for
    /// `services.gitlab-mattermost` (nixos).
    #[arg(long, value_enum, default_value = "toml")]
    pub format: OutputFormat,
    /// Write each secret found to its own file here (mode 0600) and reference it; without
    /// it the config references /etc/gitlab-mattermost-secrets/… and the report says what to
    /// put there.
    #[arg(long, value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// The GitLab version the Omnibus package had (e.g. the content of
    /// /opt/gitlab/embedded/service/gitlab-rails/VERSION): the report says which Mattermost it
    /// bundled and what the move to the supported line (11.7, the default) needs.
    #[arg(long, value_name = "X.Y[.Z]", conflicts_with = "nixpkgs_module")]
    pub gitlab_version: Option<String>,
    /// How GitLab sign-in goes on when the old server had it and the target line's Team
    /// Edition does not offer it (11): required then, refused with the choices when missing.
    #[arg(long, value_enum, value_name = "CHOICE")]
    pub gitlab_sign_in: Option<sign_in::SignInChoice>,
    /// Write the config here (atomically) instead of printing it. Never over an input or an
    /// existing file with other content.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of text on stderr (each section's items
    /// with where they came from, the counts, and the files written); needs --out, as stdout
    /// then holds the report.
    #[arg(long, requires = "out")]
    pub json: bool,
}

/// Why an import failed.
#[derive(Debug)]
pub enum ImportError {
    /// The input is wrong (syntax error, no URL, a config render would refuse): exit 2.
    Invalid(Diagnostics),
    /// Reading or writing failed: exit 1.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for ImportError {
    fn from(e: anyhow::Error) -> Self {
        ImportError::Other(e)
    }
}

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    /// The config, as emitted.
    pub text: String,
    pub config: Map<String, Value>,
    pub report: Report,
    /// Every secret value found (never in `text`; tests check that).
    pub secret_values: Vec<String>,
    /// `--secrets-dir`, absolute, and the files to write there (path, value).
    pub secrets_dir: Option<PathBuf>,
    pub secret_files: Vec<(PathBuf, String)>,
}

/// Run the command: import, check every output, write the secret files and the config (or
/// print it), print the report on stderr.
pub fn run(args: &ImportArgs) -> Result<(), ImportError> {
    let imported = import(args)?;
    check_outputs(args, &imported)?;
    if let Some(dir) = &imported.secrets_dir {
        secrets::write_files(dir, &imported.secret_files).map_err(refused_or_other)?;
    }
    match &args.out {
        Some(path) => {
            // Checked above; created only if still nothing is there, so that of runs racing
            // for the same file one wins and the others are refused (or find its bytes).
            crate::output::create_file_exclusively("--out", path, imported.text.as_bytes(), 0o644)
                .map_err(refused_or_other)?;
        }
        None => print!("{}", imported.text),
    }
    if args.json {
        println!("{}", report_json::render(args, &imported));
    } else {
        eprintln!("{}", imported.report);
    }
    Ok(())
}

/// A refusal met while writing (another run created the file meanwhile) is invalid input
/// (exit 2), like the ones found before.
fn refused_or_other(e: anyhow::Error) -> ImportError {
    match e.downcast::<Diagnostics>() {
        Ok(d) => ImportError::Invalid(d),
        Err(e) => ImportError::Other(e),
    }
}

/// Every output is checked before anything is written, and every refusal reported at once:
/// the config file and the secret files are only ever created (an existing file is left
/// when it already holds the same bytes), never over an input, and `--secrets-dir` must be
/// a directory.
fn check_outputs(args: &ImportArgs, imported: &Imported) -> Result<(), ImportError> {
    use crate::output::{collect_refusals, target, Input};
    let mut inputs = Vec::new();
    if let Some(rb) = &args.gitlab_rb {
        inputs.push(Input::new(rb, "the gitlab.rb"));
    }
    if let Some(c) = &args.config_json {
        inputs.push(Input::new(c, "the config.json"));
    }
    let root_files = args.omnibus_root.as_ref().map(|root| {
        [
            root.join(omnibus_root::GITLAB_RB),
            root.join(omnibus_root::CONFIG_JSON),
        ]
    });
    for f in root_files.iter().flatten() {
        inputs.push(Input::new(f, "a file of the Omnibus host"));
    }
    let mut refused = Diagnostics::default();
    if let Some(dir) = &imported.secrets_dir {
        let usable = collect_refusals(
            target::inspect_parent_dir("--secrets-dir", dir),
            &mut refused,
        )?;
        // The files are only checked in a directory that can hold them.
        let files = match usable {
            Some(()) => imported.secret_files.as_slice(),
            None => &[],
        };
        for (path, value) in files {
            let check = target::inspect_file_target(
                "--secrets-dir",
                path,
                value.as_bytes(),
                &inputs,
                target::Parent::Created,
            );
            collect_refusals(check, &mut refused)?;
        }
    }
    if let Some(out) = &args.out {
        let out_abs = std::path::absolute(out).unwrap_or_else(|_| out.clone());
        if imported.secret_files.iter().any(|(p, _)| *p == out_abs) {
            refused.push(target::refusal(
                "--out",
                out.display(),
                "is also where a secret file is written",
                "write the config outside --secrets-dir",
            ));
        }
        let check = target::inspect_file_target(
            "--out",
            out,
            imported.text.as_bytes(),
            &inputs,
            target::Parent::MustExist,
        );
        collect_refusals(check, &mut refused)?;
    }
    refused.into_result(()).map_err(ImportError::Invalid)
}

/// Import without printing anything.
pub fn import(args: &ImportArgs) -> Result<Imported, ImportError> {
    let root_defaults = match (&args.nixpkgs_module, &args.omnibus_root) {
        (None, Some(root)) => Some(omnibus_root::defaults(root).map_err(ImportError::Invalid)?),
        _ => None,
    };
    let gitlab_rb = match (&args.nixpkgs_module, &args.gitlab_rb, &root_defaults) {
        (Some(module), _, _) => return nixpkgs::import(module, args),
        (None, Some(gitlab_rb), _) => gitlab_rb,
        (None, None, Some(d)) => &d.gitlab_rb,
        (None, None, None) => {
            return Err(ImportError::Invalid(
                Diagnostic::new("", "nothing to import")
                    .with_hint("give a gitlab.rb, or --nixpkgs-module FILE.json")
                    .into(),
            ))
        }
    };
    let source = gitlab_rb.display().to_string();
    // Bytes, not text: gitlab.rb files are often not UTF-8, and Ruby only decodes code.
    let bytes = std::fs::read(gitlab_rb).with_context(|| format!("cannot read {source}"))?;
    let parsed = rb::parse_source(&source, &bytes)?;
    let config_json_path = args
        .config_json
        .as_ref()
        .or_else(|| root_defaults.as_ref()?.config_json.as_ref());
    let config_json = match config_json_path {
        Some(p) => Some(read_config_json(p)?),
        None => None,
    };
    let gitlab_version = args
        .gitlab_version
        .as_deref()
        .or_else(|| root_defaults.as_ref()?.gitlab_version.as_deref());
    let mut ctx = Ctx::new(&source, args.secrets_dir.as_deref())?;
    ctx.omnibus_root = args.omnibus_root.clone();
    for s in &parsed.skipped {
        ctx.skipped(s);
    }
    let (entries, problems) = rb::entries(&parsed.statements);
    for (pos, msg) in problems {
        let origin = Origin::rb(&ctx.file, pos, "call");
        ctx.report.add(Section::Dropped, Some(origin), msg);
    }
    target_version(&mut ctx, gitlab_version)?;
    ctx.collect(&entries);
    ctx.overridden_dynamically(&entries);
    ctx.offer_omnibus_defaults();
    ctx.offer_mattermost_keys();
    ctx.offer_env();
    if let Some((file, c)) = &config_json {
        config_json::import(file, c, &mut ctx.bag, &mut ctx.report);
    }
    let bag = std::mem::take(&mut ctx.bag);
    let mut resolved = bag.resolve(&mut ctx.report);
    typed::lift(&mut ctx, &mut resolved)?;
    nginx::map(&mut ctx);
    typed::free_form(&mut ctx, resolved);
    sign_in::apply(&mut ctx, args.gitlab_sign_in)?;
    if let Some(root) = &args.omnibus_root {
        omnibus_root::fill_secrets(&mut ctx, root).map_err(ImportError::Invalid)?;
        let user = typed::account_user(&ctx);
        omnibus_root::account_ids(&mut ctx, root, &user);
    }
    ctx.validate_output()?;
    ctx.secrets.finish(&mut ctx.report);
    let next = if args.format == OutputFormat::Nixos {
        "Review it with the import report, then import it into the host configuration."
    } else {
        "Review it with the import report, then: gitlab-mattermost check FILE"
    };
    let header = vec![
        format!("Imported by `gitlab-mattermost import` from {source}."),
        next.into(),
    ];
    let text = emit::emit(&ctx.out, args.format, &header);
    Ok(Imported {
        text,
        secrets_dir: ctx.secrets.dir().map(Path::to_path_buf),
        secret_files: ctx.secrets.files(),
        secret_values: ctx.secrets.values().map(str::to_string).collect(),
        config: ctx.out,
        report: ctx.report,
    })
}

/// `mattermost.version` from `--gitlab-version` (the Mattermost that GitLab bundled), or the
/// default with a note that gitlab.rb does not tell.
fn target_version(ctx: &mut Ctx, gitlab_version: Option<&str>) -> Result<(), ImportError> {
    let Some(text) = gitlab_version else {
        ctx.report.add(
            Section::Derived,
            None,
            format!(
                "Mattermost version: gitlab.rb does not say which GitLab (and so which bundled Mattermost) ran; \
                 the config targets the supported default mattermost.version = \"{}\" (run 11.7.3 or later: GitLab 18.6 to 18.11 \
                 bundled 10.11, from whose 10.11.17 on earlier 11 releases break the database). \
                 Give --gitlab-version \"$(cat /opt/gitlab/embedded/service/gitlab-rails/VERSION)\" to say what ran",
                crate::schema::MattermostVersion::default()
            ),
        );
        return Ok(());
    };
    let target = versions::target_for(text)
        .map_err(|msg| ImportError::Invalid(Diagnostic::new("--gitlab-version", msg).into()))?;
    ctx.set_out(
        &["mattermost", "version"],
        Value::String(target.version.as_str().to_string()),
    );
    ctx.report.add(Section::Derived, None, target.note);
    Ok(())
}

/// config.json and the name it is reported under (the path as given).
fn read_config_json(path: &Path) -> Result<(Arc<str>, Value), ImportError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
    let invalid = |pos: Option<diag::Pos>, msg: String| {
        ImportError::Invalid(
            Diagnostic::new("", msg)
                .at(diag::Origin {
                    source: source.clone(),
                    pos,
                })
                .into(),
        )
    };
    // JSON is UTF-8 by definition (RFC 8259); Mattermost writes nothing else.
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
        let byte = bytes.get(e.valid_up_to()).copied().unwrap_or_default();
        invalid(
            Some(diag::Pos::from_offset(&valid, valid.len())),
            format!("byte 0x{byte:02X} is not valid UTF-8, which JSON requires; is this Mattermost's config.json?"),
        )
    })?;
    let value = config_json::parse(text).map_err(|msg| invalid(None, msg))?;
    Ok((source.as_str().into(), value))
}

/// A value from gitlab.rb with where it was written.
#[derive(Debug, Clone)]
pub struct RbValue {
    pub value: gitlab_rb::Value,
    pub origin: Origin,
}

/// Everything one import works on.
pub struct Ctx {
    /// The gitlab.rb path as given, for every position in the report.
    pub file: Arc<str>,
    pub report: Report,
    pub bag: Bag,
    pub secrets: Secrets,
    /// The config being built.
    pub out: Map<String, Value>,
    /// Free-form settings placed in `out`, by env var: where each came from.
    placed: BTreeMap<String, (Vec<String>, Origin)>,
    /// DSL calls: `external_url`, `mattermost_external_url`.
    pub calls: BTreeMap<String, RbValue>,
    /// `mattermost['<key>']`, last assignment wins.
    pub mm: BTreeMap<String, RbValue>,
    /// `mattermost['env']` entries, in order.
    pub env: Vec<(String, RbValue)>,
    /// `mattermost_nginx['<key>']`.
    pub nginx: BTreeMap<String, RbValue>,
    /// `mattermost_nginx['proxy_set_headers']` entries, in order.
    pub proxy_headers: Vec<(String, RbValue)>,
    /// Keys of other sections that change what Omnibus derived (`gitlab_rails['enable']`...).
    pub facts: BTreeMap<String, RbValue>,
    /// Statements that could not be evaluated, with the key each would have set.
    pub dynamic: Vec<Dynamic>,
    /// `--omnibus-root`: the old host's files, where certificate files can be looked at.
    pub omnibus_root: Option<PathBuf>,
}

/// A statement that sets a key but could not be evaluated statically.
#[derive(Debug, Clone)]
pub struct Dynamic {
    /// The key as displayed elsewhere: `mattermost_external_url`, `mattermost['x']`.
    pub key: String,
    pub origin: Origin,
    /// Why it was skipped, e.g. "uses string interpolation (…), which cannot be …".
    pub reason: String,
    /// The statement's source text.
    pub text: String,
    /// Whether its text must not be shown (it may hold a secret).
    pub may_hold_secret: bool,
}

/// Keys outside `mattermost[...]` that Omnibus's derivations read.
const FACTS: &[&str] = &[
    "gitlab_rails['mattermost_host']",
    "gitlab_rails['enable']",
    "puma['enable']",
    "postgresql['sql_mattermost_user']",
    "postgresql['port']",
    "package['generate_secrets_json_file']",
    "letsencrypt['enable']",
];

impl Ctx {
    fn new(source: &str, secrets_dir: Option<&Path>) -> Result<Ctx, ImportError> {
        Ok(Ctx {
            file: source.into(),
            report: Report::new(source),
            bag: Bag::default(),
            secrets: Secrets::new(secrets_dir)?,
            out: Map::new(),
            placed: BTreeMap::new(),
            calls: BTreeMap::new(),
            mm: BTreeMap::new(),
            env: Vec::new(),
            nginx: BTreeMap::new(),
            proxy_headers: Vec::new(),
            facts: BTreeMap::new(),
            dynamic: Vec::new(),
            omnibus_root: None,
        })
    }

    /// A statement the parser could not read statically. Its text is shown unless it may
    /// hold a secret.
    fn skipped(&mut self, s: &gitlab_rb::Skipped) {
        let lower = s.text.to_ascii_lowercase();
        let risky = ["password", "secret", "key", "salt", "data_source", "token"]
            .iter()
            .any(|w| lower.contains(w));
        let first_line = s.text.lines().next().unwrap_or("");
        let text = if risky {
            format!(
                "{} (statement text not shown: it may hold a secret)",
                s.reason
            )
        } else if s.text.lines().count() > 1 {
            format!("{}: `{first_line} …`", s.reason)
        } else {
            format!("{}: `{first_line}`", s.reason)
        };
        let origin = Origin::rb(&self.file, s.pos, "statement");
        if let Some(key) = &s.key {
            self.dynamic.push(Dynamic {
                key: key.clone(),
                origin: Origin::rb(&self.file, s.pos, key),
                reason: s.reason.clone(),
                text: s.text.clone(),
                may_hold_secret: risky,
            });
        }
        self.report.add(Section::Skipped, Some(origin), text);
    }

    /// A later statement that could not be evaluated sets the same key as an imported one:
    /// in Ruby the later one wins, so the imported value may not be what Omnibus used.
    fn overridden_dynamically(&mut self, entries: &[Entry]) {
        for e in entries {
            let key = e.key.to_string();
            let later = self
                .dynamic
                .iter()
                .rev()
                .find(|d| d.key == key && line_of(&d.origin) > e.pos.line)
                .map(|d| d.origin.clone());
            if let Some(later) = later {
                self.report.add(
                    Section::Derived,
                    Some(Origin::rb(&self.file, e.pos, &key)),
                    format!("imported as written here, but {later} sets it again with a value that cannot be evaluated; Ruby used that one, so check the imported value"),
                );
            }
        }
    }

    /// Sort entries into the maps above; everything else is listed as not Mattermost's.
    fn collect(&mut self, entries: &[Entry]) {
        let mut others: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for e in entries {
            let rv = RbValue {
                value: e.value.value.clone(),
                origin: Origin::rb(&self.file, e.pos, &e.key),
            };
            match &e.key {
                RbKey::Call(name)
                    if name == "external_url" || name == "mattermost_external_url" =>
                {
                    self.set_once(Slot::Call, name, rv)
                }
                RbKey::Call(name) => others.entry(name.clone()).or_default().push(e.pos.line),
                RbKey::Index { target, keys } => {
                    let full = e.key.to_string();
                    match (target.as_str(), keys.as_slice()) {
                        ("mattermost", [k]) if k == "env" => self.replace_hash(Slot::Env, rv),
                        ("mattermost", [k, name]) if k == "env" => {
                            self.env.push((name.clone(), rv))
                        }
                        ("mattermost", [k]) => self.set_once(Slot::Mm, k, rv),
                        ("mattermost_nginx", [k]) if k == "proxy_set_headers" => {
                            self.replace_hash(Slot::Headers, rv)
                        }
                        ("mattermost_nginx", [k, name]) if k == "proxy_set_headers" => {
                            self.proxy_headers.push((name.clone(), rv))
                        }
                        ("mattermost_nginx", [k]) => self.set_once(Slot::Nginx, k, rv),
                        ("mattermost" | "mattermost_nginx", _) => self.report.add(
                            Section::Dropped,
                            Some(rv.origin),
                            "Omnibus reads no nested key here; not imported",
                        ),
                        _ if FACTS.contains(&full.as_str()) => self.set_once(Slot::Fact, &full, rv),
                        _ => others
                            .entry(format!("{target}[...]"))
                            .or_default()
                            .push(e.pos.line),
                    }
                }
            }
        }
        for (what, lines) in others {
            let lines: Vec<String> = lines.iter().map(u32::to_string).collect();
            let why = if what == "nginx[...]" {
                "GitLab's own vhost; Omnibus never applied nginx[...] to Mattermost's (mattermost_nginx[...] is imported)"
            } else {
                "configures GitLab, not Mattermost"
            };
            self.report.add(
                Section::Dropped,
                None,
                format!(
                    "{} line{} {}: {what}: {why}; not imported",
                    self.file,
                    if lines.len() == 1 { "" } else { "s" },
                    lines.join(", ")
                ),
            );
        }
    }

    fn set_once(&mut self, slot: Slot, key: &str, rv: RbValue) {
        let map = match slot {
            Slot::Call => &mut self.calls,
            Slot::Mm => &mut self.mm,
            Slot::Nginx => &mut self.nginx,
            Slot::Fact => &mut self.facts,
            Slot::Env | Slot::Headers => return,
        };
        let later = rv.origin.clone();
        if let Some(old) = map.insert(key.to_string(), rv) {
            self.report.add(
                Section::Dropped,
                Some(old.origin),
                format!("set again at {later}; the later value wins, as in Ruby"),
            );
        }
    }

    /// `mattermost['env'] = {…}` replaces what earlier statements put there.
    fn replace_hash(&mut self, slot: Slot, rv: RbValue) {
        let gitlab_rb::Value::Hash(pairs) = &rv.value else {
            self.report.add(
                Section::Dropped,
                Some(rv.origin),
                format!(
                    "expected a hash, found {}; not imported",
                    rb::kind(&rv.value)
                ),
            );
            return;
        };
        let list = match slot {
            Slot::Env => &mut self.env,
            _ => &mut self.proxy_headers,
        };
        for (name, old) in list.drain(..) {
            self.report.add(
                Section::Dropped,
                Some(old.origin),
                format!("{name}: replaced by the hash assigned at {}", rv.origin),
            );
        }
        for (k, v) in pairs {
            let Some(name) = rb::key_text(&k.value) else {
                self.report.add(
                    Section::Dropped,
                    Some(Origin::rb(&self.file, k.pos, "hash key")),
                    "a hash key that is not a string or symbol; not imported",
                );
                continue;
            };
            let key = match &rv.origin {
                Origin::Rb { key, .. } => format!("{key}['{name}']"),
                other => other.to_string(),
            };
            list.push((
                name,
                RbValue {
                    value: v.value.clone(),
                    origin: Origin::rb(&self.file, k.pos, key),
                },
            ));
        }
    }

    /// What Omnibus set without being asked, as the weakest candidates.
    fn offer_omnibus_defaults(&mut self) {
        let defaults = [
            ("ServiceSettings.EnableAPITeamDeletion", Value::Bool(true), "default mattermost['service_enable_api_team_deletion'] = true (GitLab deletes the teams it created)"),
            ("TeamSettings.SiteName", Value::from("GitLab Mattermost"), "default mattermost['team_site_name']"),
        ];
        for (path, value, what) in defaults {
            if let Some(s) = Catalogue::get().by_path(path) {
                self.bag.offer(
                    s,
                    Candidate {
                        in_store: false,
                        value,
                        origin: Origin::Omnibus(what.into()),
                        layer: Layer::Omnibus,
                        implicit: true,
                        via: None,
                    },
                    &mut self.report,
                );
            }
        }
    }

    /// `mattermost['<key>']`: Omnibus's own keys, then the pre-11.0 rule for the rest.
    fn offer_mattermost_keys(&mut self) {
        let mm = std::mem::take(&mut self.mm);
        let mut keep = BTreeMap::new();
        for (key, rv) in mm {
            match mapping::mattermost_key(&key) {
                Some(MmKey::Setting(path)) => self.offer_path(path, &rv, Layer::Omnibus, None),
                Some(MmKey::Account(_) | MmKey::Special) => {
                    keep.insert(key, rv);
                }
                Some(MmKey::Drop(why)) => {
                    if key == "register_as_oauth_app" {
                        // Still a fact: false means Omnibus never registered the application.
                        self.facts
                            .insert("mattermost['register_as_oauth_app']".into(), rv.clone());
                    }
                    self.report.add(Section::Dropped, Some(rv.origin), why)
                }
                None => self.offer_legacy(&key, &rv),
            }
        }
        self.mm = keep;
    }

    fn offer_path(&mut self, path: &str, rv: &RbValue, layer: Layer, via: Option<String>) {
        let Some(setting) = Catalogue::get().by_path(path) else {
            return;
        };
        if matches!(rv.value, gitlab_rb::Value::Nil) {
            self.report.add(
                Section::Dropped,
                Some(rv.origin.clone()),
                format!("{path}: nil means unset; Omnibus's or Mattermost's default applies"),
            );
            return;
        }
        self.bag.offer(
            setting,
            Candidate {
                in_store: false,
                value: rb::to_json(&rv.value),
                origin: rv.origin.clone(),
                layer,
                implicit: false,
                via,
            },
            &mut self.report,
        );
    }

    /// A key Omnibus ≥ 11.0 no longer passed: translate it by the documented rule.
    fn offer_legacy(&mut self, key: &str, rv: &RbValue) {
        let Some(name) = legacy::legacy_env_name(key) else {
            let hint = crate::catalogue::best_match(
                &format!("mattermost['{key}']"),
                mapping::omnibus_keys().iter().map(|k| k.key.clone()),
            )
            .map(|s| format!("; did you mean {s}?"))
            .unwrap_or_default();
            self.report.add(
                Section::Dropped,
                Some(rv.origin.clone()),
                format!("not an Omnibus key, and no pre-11.0 section prefix (service_, team_, sql_, log_, file_, email_, …){hint}"),
            );
            return;
        };
        let via = format!(
            "pre-11.0 key, by {}; Omnibus ≥ 11.0 no longer passed it to Mattermost",
            name.how
        );
        self.resolve_name(&name.env_var, rv, Layer::Legacy, Some(via));
    }

    /// Offer a value for a variable name, or say why it cannot be.
    fn resolve_name(&mut self, env_var: &str, rv: &RbValue, layer: Layer, via: Option<String>) {
        match legacy::resolve(env_var) {
            Resolution::Known(s) => {
                let path = s.path();
                self.offer_path(&path, rv, layer, via);
            }
            Resolution::Renamed { to, note } => {
                self.report.add(
                    Section::Renamed,
                    Some(rv.origin.clone()),
                    format!("{env_var}: {note}; carried as {}", to.path()),
                );
                let path = to.path();
                let note = match via {
                    Some(v) => format!("{v}; renamed to {path}"),
                    None => format!("renamed to {path}"),
                };
                self.offer_path(&path, rv, layer, Some(note));
            }
            Resolution::Removed { note } => self.report.add(
                Section::Renamed,
                Some(rv.origin.clone()),
                format!("{env_var}: {note}; not carried"),
            ),
            Resolution::Unknown { suggestion } => {
                let hint = suggestion
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_else(|| "; `gitlab-mattermost explain NAME` looks names up".into());
                self.report.add(
                    Section::Dropped,
                    Some(rv.origin.clone()),
                    format!("{env_var} is not a Mattermost setting (Mattermost would silently ignore it){hint}"),
                );
            }
        }
    }

    /// `mattermost['env']`: `MM_*` entries are settings; the rest is extra environment.
    fn offer_env(&mut self) {
        let mut last: Vec<(String, RbValue)> = Vec::new();
        for (name, rv) in std::mem::take(&mut self.env) {
            if let Some(i) = last.iter().position(|(n, _)| *n == name) {
                let (_, old) = last.remove(i);
                self.report.add(
                    Section::Dropped,
                    Some(old.origin),
                    format!("{name}: set again at {}; the later value wins", rv.origin),
                );
            }
            last.push((name, rv));
        }
        for (name, rv) in &last {
            if matches!(rv.value, gitlab_rb::Value::Nil) {
                self.report.add(
                    Section::Dropped,
                    Some(rv.origin.clone()),
                    format!("{name}: nil; Omnibus would have written an empty variable"),
                );
            } else if crate::catalogue::is_env_style(name) {
                // Omnibus wrote `value.to_s` into the variable's file: import that text.
                let text = RbValue {
                    value: gitlab_rb::Value::Str(rb::ruby_to_s(&rv.value)),
                    origin: rv.origin.clone(),
                };
                self.resolve_name(name, &text, Layer::Env, None);
            } else {
                self.extra_env(name, rv);
            }
        }
        self.omnibus_env_defaults(&last);
    }

    /// A non-`MM_*` variable: carried into `environment` unless it is Omnibus's own path, a
    /// secret by its name, or not a valid name.
    fn extra_env(&mut self, name: &str, rv: &RbValue) {
        let value = rb::ruby_to_s(&rv.value);
        let origin = Some(rv.origin.clone());
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        let upper = name.to_ascii_uppercase();
        if !valid {
            self.report.add(
                Section::Dropped,
                origin,
                format!("{name}: not a valid variable name (letters, digits, underscores)"),
            );
        } else if name == "SSL_CERT_DIR" && mapping::is_omnibus_path(&value) {
            self.report.add(Section::Dropped, origin, format!("SSL_CERT_DIR={value}: points into the Omnibus package, which goes away; Mattermost uses the system's CA store (put the certificates of /etc/gitlab/trusted-certs there, e.g. update-ca-certificates or security.pki.certificateFiles on NixOS)"));
        } else if crate::syntax::names::is_secret_variable_name(name)
            || ["PASSWORD", "SECRET", "TOKEN", "KEY"]
                .iter()
                .any(|s| upper.ends_with(s))
        {
            self.report.add(Section::Dropped, origin, format!("{name}: looks like a secret, and extra variables are written into the rendered env file in clear; not carried: write the value to a root-only file and set environment_files.{name} to its path"));
        } else if url::Url::parse(&value).is_ok_and(|u| u.password().is_some()) {
            // `check` refuses it in `environment`: it would be readable in mattermost.env.
            self.report.add(Section::Dropped, origin, format!("{name} holds a password inside its URL; not carried: write the whole value to a root-only file and set environment_files.{name} to its path"));
        } else {
            self.set_out(&["environment", name], Value::String(value.clone()));
            self.report.add(
                Section::Carried,
                origin,
                format!("environment.{name} = {}", Value::String(value)),
            );
        }
    }

    /// Omnibus's default env hash is merged under the user's: say what happens to it.
    fn omnibus_env_defaults(&mut self, set: &[(String, RbValue)]) {
        let has = |n: &str| set.iter().any(|(k, _)| k == n);
        if !has("SSL_CERT_DIR") {
            self.report.add(Section::Derived, Some(Origin::Omnibus("default mattermost['env']".into())), "SSL_CERT_DIR=/opt/gitlab/embedded/ssl/certs/ is not carried: it points into the Omnibus package; Mattermost uses the system's CA store, so add custom CAs (from /etc/gitlab/trusted-certs) there");
        }
        if !has("GODEBUG") {
            self.report.add(Section::Derived, Some(Origin::Omnibus("default mattermost['env']".into())), "GODEBUG=tlsmlkem=0 is not carried: Omnibus 18.2 added it to turn off post-quantum TLS key exchange for middleboxes that choke on it; set environment.GODEBUG = \"tlsmlkem=0\" if TLS to GitLab or SMTP breaks");
        }
    }

    /// Set a value in the config being built.
    pub fn set_out(&mut self, path: &[&str], value: Value) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut node = &mut self.out;
        for p in parents {
            let entry = node
                .entry((*p).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(next) = entry else { return };
            node = next;
        }
        node.insert((*last).to_string(), value);
    }

    /// Remove a value (and parents left empty).
    fn remove_out(&mut self, path: &[String]) {
        fn rec(map: &mut Map<String, Value>, path: &[String]) {
            let Some((first, rest)) = path.split_first() else {
                return;
            };
            if rest.is_empty() {
                map.remove(first);
                return;
            }
            if let Some(Value::Object(child)) = map.get_mut(first) {
                rec(child, rest);
                if child.is_empty() {
                    map.remove(first);
                }
            }
        }
        rec(&mut self.out, path);
    }

    /// Remember which config path holds a free-form setting, for validation messages.
    pub fn placed(&mut self, env_var: &str, path: Vec<String>, origin: Origin) {
        self.placed.insert(env_var.to_string(), (path, origin));
    }

    /// Run the compiler's own validation on the result. A free-form setting Mattermost would
    /// refuse is dropped (and reported with where it came from); anything else is an error.
    fn validate_output(&mut self) -> Result<(), ImportError> {
        for _ in 0..8 {
            let diags = match validate_config(&self.out) {
                Ok(()) => return Ok(()),
                Err(d) => d,
            };
            let mut unresolved = Diagnostics::default();
            let mut progress = false;
            for d in diags.0 {
                match self.placed_for(&d.key) {
                    Some((env, path, origin)) => {
                        let hint = d
                            .hint
                            .as_deref()
                            .map(|h| format!(" ({h})"))
                            .unwrap_or_default();
                        self.report.add(
                            Section::Dropped,
                            Some(origin.clone()),
                            format!(
                                "{}: the config would be refused: {}{hint}",
                                path.join("."),
                                d.message
                            ),
                        );
                        // It is not carried after all: the report must not say both.
                        let dotted = format!("{} =", path.join("."));
                        let quoted = match path.as_slice() {
                            [first, name] if first == "setting_files" => {
                                format!("setting_files.\"{name}\" =")
                            }
                            _ => dotted.clone(),
                        };
                        let tag = format!("({env})");
                        self.report.carried.retain(|i| {
                            i.origin.as_ref() != Some(&origin)
                                || !(i.text.contains(&tag)
                                    || i.text.starts_with(&dotted)
                                    || i.text.starts_with(&quoted))
                        });
                        self.remove_out(&path);
                        self.placed.remove(&env);
                        progress = true;
                    }
                    None => unresolved.push(d),
                }
            }
            if !unresolved.is_empty() {
                return Err(ImportError::Invalid(unresolved));
            }
            if !progress {
                break;
            }
        }
        validate_config(&self.out).map_err(ImportError::Invalid)
    }

    /// The free-form setting a diagnostic is about: its key is `settings.A.B`, `A.B` or a
    /// `setting_files` entry.
    fn placed_for(&self, key: &str) -> Option<(String, Vec<String>, Origin)> {
        let name = key
            .strip_prefix("settings.")
            .or_else(|| key.strip_prefix("setting_files."))
            .unwrap_or(key);
        let setting = Catalogue::get().lookup(name)?;
        let (path, origin) = self.placed.get(setting.env_var)?;
        Some((setting.env_var.to_string(), path.clone(), origin.clone()))
    }
}

fn line_of(o: &Origin) -> u32 {
    match o {
        Origin::Rb { line, .. } => *line,
        _ => 0,
    }
}

enum Slot {
    Call,
    Mm,
    Nginx,
    Fact,
    Env,
    Headers,
}

/// Validate a config exactly as `check` and `render` would.
pub fn validate_config(config: &Map<String, Value>) -> Result<(), Diagnostics> {
    let text = serde_json::to_string(config).unwrap_or_default();
    let layer = crate::sources::parse_text("imported config", crate::sources::Format::Json, &text)
        .map_err(Diagnostics::from)?;
    let layered = crate::sources::Layered::merge(vec![layer])?;
    crate::validate::validate(&layered).map(|_| ())
}
