//! Reading config files (TOML, JSON, Nix) into layers, and layering them with figment; the
//! bounded reads every file goes through ([`bounded`]) and the diagnostics that point into
//! the files ([`diag`]). The compiler (`gitlab-mattermost-core`) re-exports this crate as its
//! `sources` module; it is a crate of its own so that each compiles in less memory.
//!
//! Each file becomes a JSON-like tree plus a map from key path to position, so that every
//! later error can name the file, line and column of the value it is about.

pub mod bounded;
pub mod diag;
mod json;
mod nix;
mod toml;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics, Excerpt, LineIndex, Origin, Pos};

/// A dotted key path, one element per nesting level.
pub type KeyPath = Vec<String>;

/// The source name of the `--set` overrides' layer.
pub const SET_SOURCE: &str = "--set";

/// One parsed input: a file, or the `--set` overrides.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The name used in messages: the file name as given, or `--set`.
    pub source: String,
    pub value: Value,
    /// Position of each key's value (of its name for a table, which has no one place).
    pub positions: BTreeMap<KeyPath, Pos>,
    /// The file's text (after a byte order mark), shown under messages; none for `--set`.
    pub text: Option<Arc<str>>,
    /// Byte range in `text` of each key's value (of its name for a table).
    pub spans: BTreeMap<KeyPath, Range<usize>>,
    /// Byte range in `text` of each key's name.
    pub key_spans: BTreeMap<KeyPath, Range<usize>>,
    /// Position of each key's name.
    pub key_positions: BTreeMap<KeyPath, Pos>,
    /// Values the reader could not take as they are but read on (a TOML date-time, a JSON
    /// key given twice): reported with every other problem, never alone.
    pub problems: Vec<(KeyPath, Diagnostic)>,
}

/// The file formats understood, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
    Nix,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            "nix" => Some(Format::Nix),
            _ => None,
        }
    }
}

/// A file whose extension names no format read here; YAML, which people reach for, is named
/// with a way to convert it.
fn unknown_format(path: &Path) -> Diagnostic {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    if extension.eq_ignore_ascii_case("yaml") || extension.eq_ignore_ascii_case("yml") {
        let json = path.with_extension("json");
        let (from, to) = (path.display(), json.display());
        return Diagnostic::new("", "YAML is not read (only TOML, JSON and Nix)").with_hint(format!(
            "convert it to JSON: `yq . {from} > {to}` (Debian's yq) or `yq -o=json . {from} > {to}` (Mike Farah's yq)"
        ));
    }
    Diagnostic::new("", "unknown config format").with_hint("name the file *.toml, *.json or *.nix")
}

/// Read and parse one config file.
pub fn read_file(path: &Path) -> Result<Layer, Diagnostic> {
    let source = path.display().to_string();
    let origin = || Origin {
        source: source.clone(),
        pos: None,
    };
    let format = Format::of(path).ok_or_else(|| unknown_format(path).at(origin()))?;
    // A config must be a regular file (a symbolic link to one is fine) of at most
    // CONFIG_LIMIT bytes: a FIFO or a device would block or never end.
    let bytes = crate::bounded::read_regular(path, crate::bounded::CONFIG_LIMIT).map_err(|e| {
        let d = Diagnostic::new("", format!("cannot read the file: {e}")).at(origin());
        match e {
            crate::bounded::ReadError::NotRegular(_) => {
                d.with_hint("name the config file itself, not a pipe, device or directory")
            }
            crate::bounded::ReadError::TooLarge { .. } => {
                d.with_hint("a config is a few KiB: check that this is the config file you meant")
            }
            _ => d,
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Diagnostic::new(
            "",
            format!(
                "cannot read the file: the byte at offset {} is not UTF-8 text",
                e.utf8_error().valid_up_to()
            ),
        )
        .at(origin())
    })?;
    parse_text(&source, format, &text)
}

/// Parse config text of a known format.
pub fn parse_text(source: &str, format: Format, text: &str) -> Result<Layer, Diagnostic> {
    let mut positions = BTreeMap::new();
    let mut spans = BTreeMap::new();
    let mut key_spans = BTreeMap::new();
    let mut found = Vec::new();
    // A UTF-8 byte order mark (some Windows editors write one) is not part of the text (one,
    // at the start): positions are counted after it, as editors (which hide it) show them.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parsed = match format {
        Format::Toml => toml::parse(text, (&mut spans, &mut key_spans), &mut found),
        Format::Json => json::parse(text, (&mut spans, &mut key_spans), &mut found),
        Format::Nix => nix::parse(text, (&mut spans, &mut key_spans)),
    };
    let shown: Option<Arc<str>> = Some(Arc::from(text));
    let index = LineIndex::new(text);
    positions.extend(spans.iter().map(|(k, r)| (k.clone(), index.pos(r.start))));
    let key_positions = key_spans
        .iter()
        .map(|(k, r)| (k.clone(), index.pos(r.start)))
        .collect();
    let excerpt = |pos: Pos, span: Option<&Range<usize>>| {
        let span = span
            .cloned()
            .unwrap_or_else(|| offset_of(text, pos)..offset_of(text, pos));
        let lines = text.get(lines_of(text, &span)).unwrap_or_default();
        if may_hold_secret(lines) {
            return None;
        }
        shown.as_ref().map(|t| Excerpt {
            text: t.clone(),
            start: span.start,
            end: span.end,
        })
    };
    let problems = found
        .into_iter()
        .map(|p: ReadProblem| {
            let d = Diagnostic::new(p.path.join("."), p.message)
                .at(Origin {
                    source: source.to_string(),
                    pos: Some(p.pos),
                })
                .with_excerpt(excerpt(p.pos, p.span.as_ref()));
            (p.path, d.with_hint(p.hint))
        })
        .collect();
    match parsed {
        Ok(value) if value.is_object() => Ok(Layer {
            source: source.to_string(),
            value,
            positions,
            text: shown.clone(),
            spans,
            key_spans,
            key_positions,
            problems,
        }),
        Ok(_) => Err(
            Diagnostic::new("", "the top level must be a table / attribute set").at(Origin {
                source: source.to_string(),
                pos: Some(Pos { line: 1, column: 1 }),
            }),
        ),
        Err((pos, message, hint)) => {
            let d = Diagnostic::new("", message)
                .at(Origin {
                    source: source.to_string(),
                    pos: Some(pos),
                })
                .with_excerpt(excerpt(pos, None));
            Err(match hint {
                Some(h) => d.with_hint(h),
                None => d,
            })
        }
    }
}

/// The whole lines of `text` that `span` touches: what a message shows of the file.
pub fn lines_of(text: &str, span: &Range<usize>) -> Range<usize> {
    let start = text
        .get(..span.start)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let end = text
        .get(span.end..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| span.end + i);
    start..end.max(start)
}

/// Whether lines of a config may hold a secret, which a message must never show: a name that
/// speaks of one (a password, token, key or secret, a file holding one), a private key, or
/// a URL with a password (`user:password@host`). Such lines are not shown; the message is
/// then placed by file, line and column alone.
pub fn may_hold_secret(lines: &str) -> bool {
    let lower = lines.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "pass",
        "secret",
        "token",
        "key",
        "private",
        "credential",
        "_file",
        "files",
    ];
    if WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    lines
        .split(|c: char| c.is_whitespace() || "\"'`,={}[]()<>".contains(c))
        .any(|token| {
            token
                .rfind('@')
                .is_some_and(|at| token.get(..at).is_some_and(|u| u.contains(':')))
        })
}

/// Where a reader records the byte range of each value and of each key's name.
pub(crate) type SpanMaps<'a> = (
    &'a mut BTreeMap<KeyPath, Range<usize>>,
    &'a mut BTreeMap<KeyPath, Range<usize>>,
);

/// A parse failure inside one file: position, message, optional hint.
pub(crate) type ParseFailure = (Pos, String, Option<String>);

/// The byte offset of a 1-based line and column (counted in characters) in `text`.
fn offset_of(text: &str, pos: Pos) -> usize {
    let line_start = if pos.line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(pos.line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    let line = text.get(line_start..).unwrap_or_default();
    let line = line.split('\n').next().unwrap_or_default();
    line_start
        + line
            .char_indices()
            .nth(pos.column.saturating_sub(1))
            .map_or(line.len(), |(i, _)| i)
}

/// A value a reader took in but reports (it does not stop reading the file).
pub(crate) struct ReadProblem {
    pub path: KeyPath,
    pub pos: Pos,
    /// The byte range of what it is about, when the reader knows it.
    pub span: Option<Range<usize>>,
    pub message: String,
    pub hint: String,
}

/// Parse `--set key.path=value` overrides into one layer. The value is read as a TOML value
/// when it parses as one (`true`, `10`, `"x"`, `[1, 2]`), otherwise as a plain string.
pub fn parse_overrides(sets: &[String]) -> Result<Layer, Diagnostics> {
    let mut root = Value::Object(Default::default());
    let mut positions = BTreeMap::new();
    let mut errors = Diagnostics::default();
    for (i, set) in sets.iter().enumerate() {
        let Some((key, raw)) = set.split_once('=') else {
            errors.push(
                Diagnostic::new("", format!("`--set {set}` has no `=`"))
                    .with_hint("write --set key.path=value, e.g. --set smtp.port=587"),
            );
            continue;
        };
        let Some(path) = toml::parse_key_path(key) else {
            errors.push(
                Diagnostic::new(key, "a quote in this --set key is not closed")
                    .with_hint("quote a part holding dots as TOML does: --set 'a.\"b.c\".d=value'"),
            );
            continue;
        };
        if path.iter().any(String::is_empty) {
            errors.push(Diagnostic::new(key, "empty key path element in --set"));
            continue;
        }
        let value = toml::parse_value(raw).unwrap_or_else(|| Value::String(raw.to_string()));
        // The option's number stands in the line: `Layered::origin` names it `--set #N`.
        let here = Pos {
            line: i + 1,
            column: 1,
        };
        insert_path(&mut root, &path, value);
        positions.insert(path, here);
    }
    errors.into_result(Layer {
        source: SET_SOURCE.into(),
        value: root,
        positions,
        text: None,
        spans: BTreeMap::new(),
        key_spans: BTreeMap::new(),
        key_positions: BTreeMap::new(),
        problems: Vec::new(),
    })
}

fn insert_path(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for p in parents {
        if !node.get(p).is_some_and(Value::is_object) {
            if let Value::Object(map) = node {
                map.insert(p.clone(), Value::Object(Default::default()));
            }
        }
        let Some(next) = node.get_mut(p) else { return };
        node = next;
    }
    if let Value::Object(map) = node {
        map.insert(last.clone(), value);
    }
}

/// A layer as a figment provider, named after its file so figment's metadata can tell which
/// file a value came from.
struct LayerProvider<'a>(&'a Layer);

impl Provider for LayerProvider<'_> {
    fn metadata(&self) -> Metadata {
        let name = self.0.source.clone();
        if name == SET_SOURCE {
            Metadata::named("--set overrides")
        } else {
            Metadata::named(name.clone()).source(figment::Source::File(PathBuf::from(name)))
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict = figment::value::Value::serialize(&self.0.value)?
            .into_dict()
            .unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

/// A --set has no line: it is named by its number among the --set options (kept as the
/// line of its position), as one that cannot be read at all is.
fn set_origin(pos: &Pos) -> Origin {
    Origin {
        source: format!("{SET_SOURCE} #{}", pos.line),
        pos: None,
    }
}

/// All layers of one run, merged later-wins.
pub struct Layered {
    pub layers: Vec<Layer>,
    pub merged: Value,
    figment: Figment,
}

impl Layered {
    /// Merge layers in order with figment (tables merge key by key, later values win).
    pub fn merge(layers: Vec<Layer>) -> Result<Layered, Diagnostics> {
        let figment = layers
            .iter()
            .fold(Figment::new(), |f, l| f.merge(LayerProvider(l)));
        let merged: Value = figment.extract().map_err(|e| {
            Diagnostics::from(Diagnostic::new(
                "",
                format!("cannot merge the config files: {e}"),
            ))
        })?;
        Ok(Layered {
            layers,
            merged,
            figment,
        })
    }

    /// Where the value at `path` came from: the last layer that sets it (or its nearest
    /// parent), with the position of the key in that file.
    pub fn origin(&self, path: &[String]) -> Option<Origin> {
        self.locate(path).map(|(origin, _)| origin)
    }

    /// [`Layered::origin`], with the file's text around the value when the reader kept it.
    pub fn locate(&self, path: &[String]) -> Option<(Origin, Option<Excerpt>)> {
        self.locate_value_or_key(path, false)
    }

    /// [`Layered::locate`], at the key's name rather than its value (`key`) when the file
    /// where it is set records it.
    pub fn locate_value_or_key(
        &self,
        path: &[String],
        key: bool,
    ) -> Option<(Origin, Option<Excerpt>)> {
        if key {
            // The layer that sets it, if it records where the name is.
            let setting = self
                .layers
                .iter()
                .rev()
                .find(|layer| layer.positions.contains_key(path));
            let at_key = setting.and_then(|layer| {
                let span = layer.key_spans.get(path)?;
                let pos = layer.key_positions.get(path)?;
                let text = layer.text.as_ref()?;
                Some((
                    Origin {
                        source: layer.source.clone(),
                        pos: Some(*pos),
                    },
                    Some(Excerpt {
                        text: text.clone(),
                        start: span.start,
                        end: span.end,
                    }),
                ))
            });
            if at_key.is_some() {
                return at_key;
            }
        }
        for len in (0..=path.len()).rev() {
            let prefix = &path[..len];
            for layer in self.layers.iter().rev() {
                if let Some(pos) = layer.positions.get(prefix) {
                    if layer.source == SET_SOURCE {
                        return Some((set_origin(pos), None));
                    }
                    let excerpt =
                        layer
                            .text
                            .as_ref()
                            .zip(layer.spans.get(prefix))
                            .map(|(text, span)| Excerpt {
                                text: text.clone(),
                                start: span.start,
                                end: span.end,
                            });
                    return Some((
                        Origin {
                            source: layer.source.clone(),
                            pos: Some(*pos),
                        },
                        excerpt,
                    ));
                }
            }
            // A file records every table it opens; the --set overrides only the keys they
            // set, so a table they alone made is theirs through the first key set in it.
            if len == 0 {
                break;
            }
            if let Some(pos) = self
                .layers
                .iter()
                .filter(|l| l.source == SET_SOURCE)
                .flat_map(|l| &l.positions)
                .filter(|(k, _)| k.starts_with(prefix) && k.len() > prefix.len())
                .map(|(_, pos)| pos)
                .min()
            {
                return Some((set_origin(pos), None));
            }
        }
        self.figment_origin(path).map(|o| (o, None))
    }

    /// Fallback: figment's own metadata for the key, which knows the file but not the line.
    fn figment_origin(&self, path: &[String]) -> Option<Origin> {
        let key = path.join(".");
        let meta = self.figment.find_metadata(&key)?;
        Some(Origin {
            source: meta.name.to_string(),
            pos: None,
        })
    }

    /// Which files were read, in order.
    pub fn sources(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.source.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(src: &str, format: Format, text: &str) -> Layer {
        parse_text(src, format, text).expect("test input parses")
    }

    #[test]
    fn later_layers_win_and_origins_follow() {
        let a = layer(
            "a.toml",
            Format::Toml,
            "external_url = \"http://a\"\n[smtp]\nport = 25\nserver = \"x\"\n",
        );
        let b = layer("b.json", Format::Json, "{\n  \"smtp\": {\"port\": 587}\n}");
        let l = Layered::merge(vec![a, b]).expect("merges");
        assert_eq!(l.merged["smtp"]["port"], 587);
        assert_eq!(l.merged["smtp"]["server"], "x");
        let key = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            l.origin(&key("smtp.port"))
                .map(|o| o.to_string())
                .as_deref(),
            Some("b.json:2:20")
        );
        assert_eq!(
            l.origin(&key("smtp.server"))
                .map(|o| o.to_string())
                .as_deref(),
            Some("a.toml:4:10")
        );
    }

    #[test]
    fn overrides_parse_toml_values_or_strings() {
        let l = parse_overrides(&["smtp.port=587".into(), "external_url=https://x".into()])
            .expect("parses");
        assert_eq!(l.value["smtp"]["port"], 587);
        assert_eq!(l.value["external_url"], "https://x");
        assert!(parse_overrides(&["nokey".into()]).is_err());
    }
}
