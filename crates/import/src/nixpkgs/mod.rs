//! `gitlab-mattermost import --nixpkgs-module FILE.json`: the configuration of nixpkgs' NixOS
//! module `services.mattermost` (as `nix eval --json …config.services.mattermost` prints it,
//! defaults included, derivations as store paths) into a config `render` accepts, through the
//! same validation, secret files and report as the `gitlab.rb` importer.
//!
//! The aim is an in-place takeover: the imported config keeps the account (nixpkgs gives the
//! user and group `mattermost` the fixed id 254), every directory and the database, so that
//! replacing one module by the other changes no file owner and moves no data.
//!
//! The steps: `options.rs` reads every typed option of the old module and offers the
//! Mattermost settings the module derived from them; `settings`, `environment` and
//! `environmentFile` offer theirs on top (`layers.rs`, in the order in which they overrode each
//! other); `lift.rs` turns the winners into the typed sections and free-form settings.

mod layers;
mod lift;
mod options;
mod settings;

use std::path::Path;

use anyhow::Context;
use serde_json::{Map, Value};

use self::layers::Layers;
use super::emit::{self, OutputFormat};
use super::report::{Origin, Section};
use super::{Ctx, ImportArgs, ImportError, Imported};
use crate::diag::{self, Diagnostic};

/// The option path prefix every origin in the report starts with.
const PREFIX: &str = "services.mattermost";

/// Import the JSON at `path` with the output options of `args`.
pub fn import(path: &Path, args: &ImportArgs) -> Result<Imported, ImportError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {source}"))?;
    let root = parse(&source, &text)?;
    let ctx = Ctx::new(&source, args.secrets_dir.as_deref())?;
    let mut run = Run {
        ctx,
        module: Module::new(root),
        layers: Layers::default(),
        extra: Vec::new(),
        facts: options::Facts::default(),
    };
    options::read(&mut run)?;
    settings::read(&mut run);
    let resolved = std::mem::take(&mut run.layers).resolve(&mut run.ctx.report);
    lift::lift(&mut run, resolved)?;
    run.module.report_unknown(&mut run.ctx.report);
    super::sign_in::apply(&mut run.ctx, args.gitlab_sign_in)?;
    run.ctx.validate_output()?;
    run.ctx.secrets.finish(&mut run.ctx.report);
    let text = output(&run, args.format, &source);
    Ok(Imported {
        text,
        secrets_dir: run.ctx.secrets.dir().map(std::path::Path::to_path_buf),
        secret_files: run.ctx.secrets.files(),
        secret_values: run.ctx.secrets.values().map(str::to_string).collect(),
        config: run.ctx.out,
        report: run.ctx.report,
    })
}

fn parse(source: &str, text: &str) -> Result<Map<String, Value>, ImportError> {
    let invalid = |message: String, pos: Option<diag::Pos>| {
        ImportError::Invalid(
            Diagnostic::new("", message)
                .with_hint("make it with: nix eval --json .#nixosConfigurations.HOST.config.services.mattermost > FILE.json")
                .at(diag::Origin {
                    source: source.to_string(),
                    pos,
                })
                .into(),
        )
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(invalid(
            format!(
                "expected the JSON object of services.mattermost, found {}",
                json_kind(&other)
            ),
            None,
        )),
        Err(e) => {
            let pos = diag::Pos {
                line: e.line(),
                column: e.column(),
            };
            // serde's message ends in "at line L column C", which the position already says.
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            Err(invalid(format!("invalid JSON: {message}"), Some(pos)))
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an attribute set",
    }
}

/// The config in the requested format; NixOS settings beside the module (`extra`) are only
/// written by the nixos format, the others have them in the report.
fn output(run: &Run, format: OutputFormat, source: &str) -> String {
    let mut header = vec![format!(
        "Imported by `gitlab-mattermost import --nixpkgs-module` from {source}."
    )];
    if format == OutputFormat::Nixos {
        header.push(
            "Review it with the import report, then put it in the host configuration in place of"
                .into(),
        );
        header.push("services.mattermost (docs/migrating-from-nixpkgs.md).".into());
        let extra: Vec<(Vec<String>, Value)> = run
            .extra
            .iter()
            .map(|e| (e.path.clone(), e.value.clone()))
            .collect();
        return emit::nixos(&run.ctx.out, &extra, &header);
    }
    header.push("Review it with the import report, then: gitlab-mattermost check FILE".into());
    emit::emit(&run.ctx.out, format, &header)
}

/// Everything one import works on.
pub(super) struct Run {
    pub ctx: Ctx,
    pub module: Module,
    pub layers: Layers,
    /// NixOS settings beside `services.gitlab-mattermost` that keep the host as it was.
    pub extra: Vec<Extra>,
    pub facts: options::Facts,
}

/// A NixOS setting outside `services.gitlab-mattermost`.
pub(super) struct Extra {
    pub path: Vec<String>,
    pub value: Value,
}

impl Run {
    /// Add a NixOS setting beside the module, and say so (the nixos format writes it; the
    /// others leave it to the reader).
    fn extra(&mut self, origin: Origin, path: &[&str], value: Value, why: &str) {
        let dotted = path.join(".");
        self.ctx.report.add(
            Section::Derived,
            Some(origin),
            format!("{dotted} = {value} beside the module (written by --format nixos; add it by hand otherwise): {why}"),
        );
        self.extra.push(Extra {
            path: path.iter().map(|s| s.to_string()).collect(),
            value,
        });
    }

    fn report(&mut self, section: Section, path: &str, text: impl Into<String>) {
        self.ctx
            .report
            .add(section, Some(Module::origin(path)), text);
    }
}

/// The old module's options, with a record of which ones were read: whatever is left over
/// is reported, so that no option goes unmentioned.
pub(super) struct Module {
    root: Map<String, Value>,
    read: std::collections::BTreeSet<String>,
}

/// Options whose value is an attribute set of the user's own names (taken whole).
const OPAQUE: &[&str] = &[
    "settings",
    // The alias of `settings`, printed with its value.
    "extraConfig",
    "environment",
    "database.extraConnectionOptions",
    "matterircd.parameters",
];

impl Module {
    fn new(root: Map<String, Value>) -> Module {
        Module {
            root,
            read: Default::default(),
        }
    }

    /// `services.mattermost.<path>`, for the report.
    pub fn origin(path: &str) -> Origin {
        Origin::Nixos(format!("{PREFIX}.{path}"))
    }

    /// The value of the option at `path` (dotted), marking it read. Missing or null: None.
    pub fn take(&mut self, path: &str) -> Option<Value> {
        self.read.insert(path.to_string());
        let mut node = self.root.get(path.split('.').next()?)?;
        for key in path.split('.').skip(1) {
            node = node.get(key)?;
        }
        Some(node.clone()).filter(|v| !v.is_null())
    }

    /// Whether the JSON has the option at `path` at all (null included), without marking it
    /// read: which options exist tells the module's version apart.
    pub fn has(&self, path: &str) -> bool {
        let mut keys = path.split('.');
        let Some(mut node) = keys.next().and_then(|k| self.root.get(k)) else {
            return false;
        };
        for key in keys {
            match node.get(key) {
                Some(inner) => node = inner,
                None => return false,
            }
        }
        true
    }

    /// A string option; another type is reported and treated as unset.
    pub fn string(&mut self, path: &str, report: &mut super::report::Report) -> Option<String> {
        match self.take(path)? {
            Value::String(s) => Some(s),
            other => {
                report.add(
                    Section::Dropped,
                    Some(Module::origin(path)),
                    format!(
                        "expected a string, found {}; not imported",
                        json_kind(&other)
                    ),
                );
                None
            }
        }
    }

    /// A boolean option; another type is reported and treated as unset.
    pub fn bool(&mut self, path: &str, report: &mut super::report::Report) -> Option<bool> {
        match self.take(path)? {
            Value::Bool(b) => Some(b),
            other => {
                report.add(
                    Section::Dropped,
                    Some(Module::origin(path)),
                    format!(
                        "expected a boolean, found {}; not imported",
                        json_kind(&other)
                    ),
                );
                None
            }
        }
    }

    /// Every option in the JSON that nothing read: nixpkgs may have added it since.
    fn report_unknown(&self, report: &mut super::report::Report) {
        let mut unknown = Vec::new();
        self.leaves(&self.root, "", &mut unknown);
        for path in unknown {
            let hint = options::alias_of(&path).map_or_else(
                || "not an option of services.mattermost this importer knows (nixpkgs may have added it); not imported: check what it does and set its equivalent by hand".to_string(),
                |new| format!("an alias nixpkgs keeps for the renamed option {new}, which is imported; nothing more to do"),
            );
            report.add(Section::Dropped, Some(Module::origin(&path)), hint);
        }
    }

    fn leaves(&self, node: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
        for (key, value) in node {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if self.read.contains(&path) {
                continue;
            }
            match value {
                Value::Object(inner) if !OPAQUE.contains(&path.as_str()) && !inner.is_empty() => {
                    self.leaves(inner, &path, out)
                }
                _ => out.push(path),
            }
        }
    }
}
