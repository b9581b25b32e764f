//! Diagnostics: every problem found in the input, with where it came from.
//!
//! Validation never stops at the first problem: it collects all of them so the user can fix
//! a config in one pass. Each names the file, the key path, the line and column when known,
//! and what was expected versus found.

use std::fmt;
use std::sync::Arc;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The position of byte `offset` in `text`.
    pub fn from_offset(text: &str, offset: usize) -> Pos {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before
            .get(line_start..)
            .map_or(1, |s| s.chars().count() + 1);
        Pos { line, column }
    }
}

/// Line starts of a text, for turning many byte offsets into positions cheaply.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// The position of byte `offset`.
    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        Pos { line, column }
    }
}

/// Where a value came from: a file (with position when known) or a command-line override.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// File name as given on the command line, or `--set key=value`.
    pub source: String,
    pub pos: Option<Pos>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}:{}", self.source, p.line, p.column),
            None => write!(f, "{}", self.source),
        }
    }
}

/// How bad a problem is: an error stops the run (nothing is written), a warning does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

/// The text of the file a value was read from and the byte range of the value in it: what
/// is shown, with a caret under the value, below the message.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Excerpt {
    pub text: Arc<str>,
    pub start: usize,
    pub end: usize,
}

impl fmt::Debug for Excerpt {
    /// The value only, not the whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.text.get(self.start..self.end).unwrap_or_default();
        write!(f, "Excerpt({}..{} {shown:?})", self.start, self.end)
    }
}

impl Excerpt {
    /// The range, moved inside the text and onto character boundaries (an empty range
    /// becomes the character at its start, so there is always something to point at).
    fn span(&self) -> std::ops::Range<usize> {
        let len = self.text.len();
        let mut start = self.start.min(len);
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = self.end.clamp(start, len);
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        if end == start {
            end = self.text[start..]
                .chars()
                .next()
                .map_or(start, |c| start + c.len_utf8());
        }
        start..end
    }
}

/// Another value a problem is about (the port a TLS mode does not fit), shown beside the
/// one the problem is reported at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Related {
    /// The key path of the other value, as the readers record it.
    pub path: Vec<String>,
    /// What it is, shown under it.
    pub label: String,
    /// Where it is, once known.
    pub origin: Option<Origin>,
    pub excerpt: Option<Excerpt>,
}

/// One problem in the input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub origin: Option<Origin>,
    /// Dotted key path, e.g. `smtp.port`; empty for whole-file problems.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
    /// How it is shown (boxed: a `Result` carrying a diagnostic stays small).
    pub details: Box<Details>,
}

/// What a problem carries besides its message.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Details {
    pub severity: Severity,
    /// The file's text around the value, when the reader kept it (a file, not a `--set`).
    pub excerpt: Option<Excerpt>,
    /// Other values the problem is about.
    pub related: Vec<Related>,
    /// The problem is the key's name (an unknown key, a variable name that is not one), not
    /// its value: the key is pointed at.
    pub about_key: bool,
}

/// Messages up to this many characters are repeated under the caret.
const LABEL_LIMIT: usize = 60;

impl Diagnostic {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            origin: None,
            key: key.into(),
            message: message.into(),
            hint: None,
            details: Box::default(),
        }
    }

    /// A warning: reported, but nothing stops.
    pub fn warning(key: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        let mut d = Diagnostic::new(key, message);
        d.details.severity = Severity::Warning;
        d
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn at(mut self, origin: Origin) -> Diagnostic {
        self.origin = Some(origin);
        self
    }

    /// The problem is the key's name, not its value.
    pub fn about_the_key(mut self) -> Diagnostic {
        self.details.about_key = true;
        self
    }

    pub fn with_excerpt(mut self, excerpt: Option<Excerpt>) -> Diagnostic {
        self.details.excerpt = excerpt;
        self
    }

    /// Another value the problem is about, by key path; located when the problem is.
    pub fn also(mut self, path: &[&str], label: impl Into<String>) -> Diagnostic {
        self.details.related.push(Related {
            path: path.iter().map(|p| p.to_string()).collect(),
            label: label.into(),
            origin: None,
            excerpt: None,
        });
        self
    }

    /// Whether the file's text is shown (it is known, and so is the position).
    pub fn shows_excerpt(&self) -> bool {
        self.details.excerpt.is_some() && self.origin.as_ref().is_some_and(|o| o.pos.is_some())
    }

    /// The problem as rustc shows one: the message, ` --> file:line:column`, the line with
    /// the value underlined, and the hint. Without the file's text (a `--set`, an environment
    /// variable, a line that may hold a secret) the place leads the message on its one line.
    pub fn render(&self, color: bool) -> String {
        use annotate_snippets::{Group, Level, Renderer};

        let level = match self.details.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let mut title = String::new();
        let shown = match (&self.origin, &self.details.excerpt) {
            (Some(origin), Some(excerpt)) if origin.pos.is_some() => Some((origin, excerpt)),
            (Some(origin), _) => {
                title.push_str(&format!("{origin}: "));
                None
            }
            (None, _) => None,
        };
        if !self.key.is_empty() {
            title.push_str(&format!("{}: ", self.key));
        }
        title.push_str(&self.message);
        let mut group = Group::with_title(level.primary_title(title));
        if let Some((origin, excerpt)) = shown {
            let same_file = |e: &&Excerpt| e.text == excerpt.text;
            let mut here = vec![(excerpt, Some(self.message.as_str()), true)];
            let mut elsewhere = Vec::new();
            for r in &self.details.related {
                match (&r.origin, &r.excerpt) {
                    (Some(o), Some(e)) if o.source == origin.source && same_file(&e) => {
                        here.push((e, Some(r.label.as_str()), false));
                    }
                    (Some(o), Some(e)) if o.pos.is_some() => {
                        elsewhere.push(snippet(&o.source, &[(e, Some(r.label.as_str()), false)]));
                    }
                    _ => {}
                }
            }
            group = group
                .element(snippet(&origin.source, &here))
                .elements(elsewhere);
        }
        let hint = Level::HELP.with_name(Some("hint"));
        if let Some(h) = &self.hint {
            group = group.element(hint.clone().message(h.as_str()));
        }
        // Related values set where no text is shown (a `--set`) are named as notes; a default
        // has no place, and the message names it.
        for r in &self.details.related {
            let placed = matches!(
                (&r.origin, &r.excerpt, shown),
                (Some(o), Some(_), Some(_)) if o.pos.is_some()
            );
            if let (false, Some(o)) = (placed, &r.origin) {
                group = group.element(Level::NOTE.message(format!(
                    "{} ({o}): {}",
                    r.path.join("."),
                    r.label
                )));
            }
        }
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        renderer.render(&[group])
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// The lines of a file holding `annotations` (the primary one's label is shown when short),
/// as the renderer takes them: only those lines (and any between), so that a large file with
/// many problems is not gone through once per problem.
fn snippet<'a>(
    source: &'a str,
    annotations: &[(&'a Excerpt, Option<&'a str>, bool)],
) -> annotate_snippets::Snippet<'a, annotate_snippets::Annotation<'a>> {
    use annotate_snippets::{AnnotationKind, Snippet};
    let spans: Vec<_> = annotations.iter().map(|(e, _, _)| e.span()).collect();
    let Some(text) = annotations.first().map(|(e, _, _)| &*e.text) else {
        return Snippet::source("").path(source);
    };
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end).max().unwrap_or(0);
    let lines = crate::lines_of(text, &(start..end));
    let first_line = text
        .get(..lines.start)
        .map_or(0, |t| t.matches('\n').count())
        + 1;
    let mut snippet = Snippet::source(text.get(lines.clone()).unwrap_or_default())
        .line_start(first_line)
        .path(source);
    for ((_, label, primary), span) in annotations.iter().zip(spans) {
        let kind = if *primary {
            AnnotationKind::Primary
        } else {
            AnnotationKind::Context
        };
        let mut a = kind.span(span.start - lines.start..span.end - lines.start);
        match label {
            Some(l) if !*primary || l.chars().count() <= LABEL_LIMIT => a = a.label(*l),
            _ => {}
        }
        snippet = snippet.annotation(a);
    }
    snippet
}

/// Whether diagnostics on stderr are coloured: only on a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>) or the
/// terminal is `TERM=dumb`.
pub fn color_decision(is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
}

/// [`color_decision`] for this process's stderr and environment.
pub fn color_on_stderr() -> bool {
    use std::io::IsTerminal;
    let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    color_decision(
        std::io::stderr().is_terminal(),
        var("NO_COLOR").as_deref(),
        var("TERM").as_deref(),
    )
}

/// All problems found; the error type of loading and validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was reported.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Every problem (a blank line after each that takes more than one line), then how many
    /// there are.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.0 {
            let shown = d.render(color);
            out.push_str(&shown);
            out.push('\n');
            if shown.contains('\n') {
                out.push('\n');
            }
        }
        let n = self.0.len();
        out.push_str(&format!(
            "{n} error{} found; nothing was written",
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(color_decision(true, None, Some("xterm-256color")));
        assert!(color_decision(true, None, None));
        // NO_COLOR set to the empty string counts as unset (no-color.org).
        assert!(color_decision(true, Some(""), Some("xterm")));
        assert!(!color_decision(true, Some("1"), Some("xterm")));
        assert!(!color_decision(true, Some("0"), None));
        assert!(!color_decision(false, None, Some("xterm")));
        assert!(!color_decision(false, Some(""), None));
        assert!(!color_decision(true, None, Some("dumb")));
    }

    #[test]
    fn coloured_and_plain_differ_only_in_escapes() {
        let d = Diagnostic::new("smtp.port", "expected an integer")
            .at(Origin {
                source: "a.toml".into(),
                pos: Some(Pos { line: 1, column: 8 }),
            })
            .with_excerpt(Some(Excerpt {
                text: Arc::from("port = \"x\"\n"),
                start: 7,
                end: 10,
            }))
            .with_hint("drop the quotes");
        let plain = d.render(false);
        let coloured = d.render(true);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        assert!(coloured.contains('\u{1b}'), "{coloured}");
        let mut stripped = String::new();
        let mut chars = coloured.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                stripped.push(c);
            }
        }
        assert_eq!(stripped, plain);
    }

    #[test]
    fn a_position_without_the_text_leads_the_one_line() {
        let d = Diagnostic::new("smtp.port", "expected an integer")
            .at(Origin {
                source: "a.nix".into(),
                pos: Some(Pos { line: 3, column: 5 }),
            })
            .with_hint("drop the quotes");
        assert_eq!(
            d.to_string(),
            "error: a.nix:3:5: smtp.port: expected an integer\n |\n = hint: drop the quotes"
        );
    }

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(Pos::from_offset(text, 0), Pos { line: 1, column: 1 });
        assert_eq!(Pos::from_offset(text, 6), Pos { line: 2, column: 1 });
        assert_eq!(Pos::from_offset(text, 11), Pos { line: 2, column: 6 });
        assert_eq!(Pos::from_offset(text, 999), Pos { line: 3, column: 1 });
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                index.pos(offset),
                Pos::from_offset(text, offset),
                "offset {offset}"
            );
        }
    }
}
