//! A parser for the static Ruby subset people write in GitLab Omnibus
//! `/etc/gitlab/gitlab.rb` files.
//!
//! `gitlab.rb` is real Ruby, but almost every file in the wild is a flat list
//! of DSL calls (`external_url 'https://…'`) and hash assignments
//! (`mattermost['key'] = value`) with literal values. This crate parses exactly
//! that subset into [`Statement`]s. Anything whose value is only known when
//! the Ruby actually runs (environment variables, string interpolation, method
//! calls, conditionals, local variables, …) is not guessed at: the whole
//! statement is reported in [`Parsed::skipped`] with its position and the rest
//! of the file is still parsed. Input that is not valid Ruby at all is a
//! [`SyntaxError`] pointing at the offending token.
//!
//! [`parse_bytes`] reads a file's bytes as Ruby does: UTF-8, or the
//! encoding its magic comment declares; undecodable bytes are harmless in
//! comments and a located error elsewhere.
//!
//! [`parse`] never panics, whatever the input: nesting of literal arrays and
//! hashes is capped at [`MAX_DEPTH`] levels and reported as an error beyond it.
//!
//! # What is read
//!
//! Strings in every quoting style (`'…'`, `"…"` with Ruby's escapes, `%q`,
//! `%Q`, `%()`, `?c`, heredocs `<<~EOS` / `<<-EOS` / `<<EOS`, adjacent
//! literals concatenated), integers (`1_000`, `-5`, `0x1F`, `0o17`, `017`,
//! `0b11`), floats, `true` / `false` / `nil`, symbols (`:a`, `:"a b"`, `%s()`),
//! arrays (`[…]`, `%w[]`, `%i[]`, `%W[]` and `%I[]` without interpolation),
//! hashes in `'k' => v`, `k: v` and `"k": v` style, with newlines, comments
//! (`#`, `=begin`/`=end`), trailing commas, `;` and `__END__` as Ruby allows
//! them.
//!
//! # What is skipped
//!
//! A statement is skipped as a whole when it uses `ENV`, string
//! interpolation, a method call, an operator, a constant, a variable, a
//! block, `if`/`unless`/`case`/`while`/`begin`/`def`… blocks or trailing
//! modifiers, `require`/`load`, compound assignment (`+=`, `<<`), and so on.
//! Only brackets and `… end` keywords are checked inside a skipped statement,
//! so other syntax errors in it go unnoticed.
//!
//! ```
//! let parsed = gitlab_rb::parse("mattermost['email_enable_batching'] = true\n").unwrap();
//! assert_eq!(parsed.statements.len(), 1);
//! ```

mod decode;
mod lexer;
mod parser;
mod scan;
mod strings;

use std::fmt;

/// Deepest nesting of literal arrays and hashes (and index keys) accepted in
/// one value; deeper input is a [`SyntaxError`] rather than a stack overflow.
pub const MAX_DEPTH: usize = 64;

/// A position in the source, both 1-based.
///
/// `column` counts Unicode characters (not bytes) from the start of the line;
/// a tab counts as one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number in characters, starting at 1.
    pub column: u32,
}

impl Pos {
    /// Builds a position from a 1-based line and column.
    pub const fn new(line: u32, column: u32) -> Self {
        Pos { line, column }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A value together with the position where it starts in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value itself.
    pub value: T,
    /// Where the value's first token starts.
    pub pos: Pos,
}

impl<T> Spanned<T> {
    /// Pairs a value with its position.
    pub const fn new(value: T, pos: Pos) -> Self {
        Spanned { value, pos }
    }
}

/// A literal Ruby value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string literal (any quoting style, heredocs and adjacent literals
    /// concatenated), with escapes already resolved.
    Str(String),
    /// An integer that fits in 64 bits (decimal, `0x`, `0o`/`0`, `0b`).
    Int(i64),
    /// A floating-point literal.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// A symbol, without its colon: `:foo`, `:"foo"`, `%i[foo]`, and the keys
    /// of `foo: 1` / `"foo": 1` hash entries.
    Symbol(String),
    /// An array literal, `[…]`, `%w[…]` or `%i[…]`.
    Array(Vec<Spanned<Value>>),
    /// A hash literal as (key, value) pairs in source order; duplicate keys
    /// are kept as written.
    Hash(Vec<(Spanned<Value>, Spanned<Value>)>),
}

/// One statically understood statement of a `gitlab.rb` file.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A DSL call such as `mattermost_external_url 'https://…'`,
    /// `external_url "…"` or `external_url('…')`. Arguments written as a
    /// bare hash (`foo 'a' => 1, b: 2`) are collected into one final
    /// [`Value::Hash`] argument, as Ruby does.
    Call {
        /// The method name, e.g. `external_url`.
        name: String,
        /// The literal arguments in order.
        args: Vec<Spanned<Value>>,
        /// Position of the method name.
        pos: Pos,
    },
    /// A hash-style assignment: `mattermost['k'] = v`,
    /// `mattermost['k']['j'] = v` (any depth), `mattermost[:k] = v`,
    /// `mattermost["k"] = v`. `x['k'] ||= v` is reported as an assignment too.
    Assign {
        /// The receiver, e.g. `mattermost`.
        target: String,
        /// The keys in order; symbol keys are given without their colon.
        keys: Vec<String>,
        /// The assigned value.
        value: Spanned<Value>,
        /// Position of the receiver.
        pos: Pos,
    },
}

impl Statement {
    /// Where the statement starts.
    pub fn pos(&self) -> Pos {
        match self {
            Statement::Call { pos, .. } | Statement::Assign { pos, .. } => *pos,
        }
    }
}

/// A statement that is valid Ruby but cannot be evaluated statically, so it
/// was left out of [`Parsed::statements`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where the skipped statement starts.
    pub pos: Pos,
    /// Why it was skipped, e.g. "uses ENV['X'], which is only known on the
    /// old host". When the offending construct is on a later line than the
    /// statement start, the reason ends with that line.
    pub reason: String,
    /// The source text of the whole skipped statement (including heredoc
    /// bodies it owns), trimmed.
    pub text: String,
    /// The setting the statement would have set, written as the key is
    /// displayed elsewhere: `mattermost_external_url` for a DSL call,
    /// `mattermost['env']['X']` for an assignment (symbol keys shown as
    /// strings). `None` when the statement sets no such key (a local
    /// variable, `ENV[…] =`, a conditional block, a dynamic key).
    pub key: Option<String>,
}

/// The result of a successful [`parse`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The statements that could be read statically, in source order.
    pub statements: Vec<Statement>,
    /// The statements that were skipped, in source order.
    pub skipped: Vec<Skipped>,
}

/// Input that is not valid Ruby (or nests deeper than [`MAX_DEPTH`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Position of the offending token (for unterminated constructs: where
    /// they start).
    pub pos: Pos,
    /// What was expected and what was found.
    pub message: String,
}

impl SyntaxError {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> Self {
        SyntaxError {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Parses the text of a `gitlab.rb` file.
///
/// Returns the statically readable statements plus the skipped ones, or the
/// first syntax error in source order. Never panics.
pub fn parse(src: &str) -> Result<Parsed, SyntaxError> {
    let lexed = lexer::lex(src);
    parser::Parser::new(src, lexed).run()
}

/// Parses the bytes of a `gitlab.rb` file, decoding them as Ruby would.
///
/// The file is UTF-8 unless a magic comment on its first line (second after
/// a `#!` line) declares ISO-8859-1 or Windows-1252, e.g.
/// `# encoding: iso-8859-1`. Bytes that are not valid in that encoding are
/// ignored in comments, `=begin` blocks and after `__END__`; anywhere else
/// each one is an error at its line and column (Ruby refuses them too).
/// Returns every such error, plus the first syntax error, sorted by
/// position. Never panics.
///
/// ```
/// let parsed = gitlab_rb::parse_bytes(b"# caf\xe9\nmattermost['uid'] = 5\n").unwrap();
/// assert_eq!(parsed.statements.len(), 1);
/// let errors = gitlab_rb::parse_bytes(b"mattermost['a'] = 'caf\xe9'\n").unwrap_err();
/// assert_eq!(errors[0].pos, gitlab_rb::Pos::new(1, 23));
/// ```
pub fn parse_bytes(src: &[u8]) -> Result<Parsed, Vec<SyntaxError>> {
    let decoded = decode::decode(src).map_err(|e| vec![e])?;
    let lexed = lexer::lex(&decoded.text);
    let mut errors = decode::errors_in_code(&decoded, &lexed.tokens);
    match parser::Parser::new(&decoded.text, lexed).run() {
        Ok(parsed) if errors.is_empty() => return Ok(parsed),
        Ok(_) => {}
        Err(e) => errors.push(e),
    }
    errors.sort_by_key(|e| e.pos);
    errors.dedup_by_key(|e| e.pos);
    Err(errors)
}
