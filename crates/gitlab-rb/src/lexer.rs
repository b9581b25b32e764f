//! Tokenizer for the Ruby surface syntax.
//!
//! It has to understand far more than the importable subset: statements that
//! are skipped (conditionals, blocks, method chains) must still be tokenized
//! well enough to find where they end, so regexes, heredocs, `%` literals,
//! global variables and so on are all recognized, just not evaluated.
//!
//! The lexer never fails midway silently: on the first error it stops and
//! returns the tokens so far (ending in [`Tok::Eof`]) plus the error, so the
//! parser can still report an earlier error in source order first.

use crate::strings::{dedent, has_interpolation, split_words, unescape_double, unescape_single};
use crate::{Pos, SyntaxError};

/// Why a string-like literal has no static value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dynamic {
    /// `"#{…}"`, `"#@x"`: only known when the Ruby runs.
    Interpolation,
    /// `"\xff"`: a binary string, not representable as UTF-8.
    RawByte,
}

/// A string-like literal's value, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lit {
    pub value: String,
    pub dynamic: Option<Dynamic>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A lower-case identifier or keyword (`mattermost`, `if`, `defined?`).
    Ident(String),
    /// An identifier starting with an upper-case letter (`ENV`, `File`).
    Const(String),
    /// `@ivar`, `@@cvar`, `$global`.
    Var(String),
    /// A hash key / keyword argument label: `name:`.
    Label(String),
    /// A string literal; `label` is set for the `"name":` hash key form.
    Str {
        lit: Lit,
        label: bool,
    },
    Int(i64),
    /// An integer literal that does not fit in 64 bits.
    BigInt,
    Float(f64),
    Symbol(Lit),
    /// `%w[…]`, `%i[…]` and their interpolating `%W` / `%I` forms.
    Words {
        items: Vec<(String, Pos)>,
        symbols: bool,
        dynamic: bool,
    },
    Regex,
    /// A backtick or `%x` shell command.
    Command,
    Punct(&'static str),
    /// A character that has no meaning in Ruby outside literals.
    Other(char),
    Newline,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub pos: Pos,
    /// Byte range in the source. For a heredoc opener, `end` is the end of
    /// its terminator line, so a statement's text can include the body.
    pub start: usize,
    pub end: usize,
    /// Whether whitespace (or a line start) precedes the token; Ruby uses it
    /// to tell `foo [1]` (argument) from `foo[1]` (index).
    pub spaced: bool,
}

pub(crate) struct Lexed {
    pub tokens: Vec<Token>,
    pub error: Option<SyntaxError>,
}

/// Operators and brackets, longest first so the first prefix match wins.
const PUNCTS: &[&str] = &[
    "**=", "<=>", "===", "...", "<<=", ">>=", "&&=", "||=", "**", "==", "!=", ">=", "<=", "&&",
    "||", "<<", ">>", "=~", "!~", "=>", "->", "::", "..", "&.", "+=", "-=", "*=", "/=", "%=", "|=",
    "&=", "^=", "+", "-", "*", "/", "%", "=", "<", ">", "!", "&", "|", "^", "~", "?", ":", ",",
    ".", ";", "(", ")", "[", "]", "{", "}",
];

/// Ruby's reserved words.
#[rustfmt::skip]
pub(crate) const KEYWORDS: &[&str] = &[
    "alias", "and", "begin", "break", "case", "class", "def", "defined?", "do", "else", "elsif",
    "end", "ensure", "false", "for", "if", "in", "module", "next", "nil", "not", "or", "redo",
    "rescue", "retry", "return", "self", "super", "then", "true", "undef", "unless", "until",
    "when", "while", "yield", "__FILE__", "__LINE__", "__ENCODING__", "__method__",
];

/// Keywords that end an expression like a value does, so an `if` after them
/// is a modifier and a `-` after them is binary.
#[rustfmt::skip]
pub(crate) const VALUE_KEYWORDS: &[&str] = &[
    "end", "self", "true", "false", "nil", "return", "break", "next", "redo", "retry", "super",
    "yield", "__FILE__", "__LINE__", "__ENCODING__", "__method__",
];

pub(crate) fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || !c.is_ascii()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric() || !c.is_ascii()
}

/// The closing delimiter for a `%` literal opened with `open`.
fn closing_delim(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        c => c,
    }
}

/// Tokenizes the whole source.
pub(crate) fn lex(src: &str) -> Lexed {
    let mut lx = Lexer {
        src,
        at: 0,
        line: 1,
        col: 1,
        tokens: Vec::new(),
        heredocs: Vec::new(),
        spaced: true,
        brackets: 0,
    };
    let error = lx.run().err();
    let (pos, at) = (lx.pos(), lx.at);
    lx.tokens.push(Token {
        kind: Tok::Eof,
        pos,
        start: at,
        end: at,
        spaced: true,
    });
    Lexed {
        tokens: lx.tokens,
        error,
    }
}

/// A heredoc whose body starts after the current line.
struct Heredoc {
    token: usize,
    id: String,
    /// `<<~` or `<<-`: the terminator may be indented.
    indented: bool,
    squiggly: bool,
    /// `<<~'EOS'`: no escapes, no interpolation.
    raw: bool,
    pos: Pos,
}

struct Lexer<'a> {
    src: &'a str,
    at: usize,
    line: u32,
    col: u32,
    tokens: Vec<Token>,
    heredocs: Vec<Heredoc>,
    spaced: bool,
    /// How many brackets are open; a line start inside brackets does not
    /// start a statement.
    brackets: usize,
}

type LexResult<T> = Result<T, SyntaxError>;

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.at..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_nth(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    fn pos(&self) -> Pos {
        Pos::new(self.line, self.col)
    }

    fn push(&mut self, kind: Tok, pos: Pos, start: usize) {
        match kind {
            Tok::Punct("(" | "[" | "{") => self.brackets += 1,
            Tok::Punct(")" | "]" | "}") => self.brackets = self.brackets.saturating_sub(1),
            _ => {}
        }
        self.tokens.push(Token {
            kind,
            pos,
            start,
            end: self.at,
            spaced: self.spaced,
        });
    }

    fn run(&mut self) -> LexResult<()> {
        if self.peek() == Some('\u{feff}') {
            self.bump();
            self.col = 1;
        }
        loop {
            let ws = self.skip_space();
            self.spaced = ws
                || matches!(
                    self.tokens.last().map(|t| &t.kind),
                    None | Some(Tok::Newline)
                );
            if self.col == 1 && self.line_directive()? {
                break;
            }
            let (pos, start) = (self.pos(), self.at);
            let Some(c) = self.peek() else { break };
            match c {
                '\n' => self.newline(pos, start)?,
                '#' => self.skip_comment(),
                '\'' | '"' | '`' => self.quoted(c, pos, start)?,
                '0'..='9' => self.number(pos, start)?,
                '-' | '+'
                    if self.peek_nth(1).is_some_and(|d| d.is_ascii_digit())
                        && self.value_expected(false) =>
                {
                    self.number(pos, start)?
                }
                ':' => self.colon(pos, start)?,
                '%' if self.value_expected(false) && self.percent_literal(pos, start)? => {}
                '/' if self.value_expected(self.peek_nth(1).is_some_and(char::is_whitespace)) => {
                    self.regex(pos, start)?
                }
                '?' if self.value_expected(false) && self.char_literal(pos, start) => {}
                '<' if self.rest().starts_with("<<")
                    && self.value_expected(false)
                    && self.heredoc(pos, start) => {}
                '@' | '$' => self.variable(c, pos, start),
                c if is_ident_start(c) => self.ident(pos, start),
                _ => self.punct(c, pos, start),
            }
        }
        if let Some(h) = self.heredocs.first() {
            return Err(unterminated_heredoc(h));
        }
        Ok(())
    }

    /// Skips blanks and backslash-newline continuations; reports whether any
    /// were skipped.
    fn skip_space(&mut self) -> bool {
        let start = self.at;
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\x0b' | '\x0c') => {
                    self.bump();
                }
                Some('\\') if self.peek_nth(1) == Some('\n') => self.bump_n(2),
                Some('\\') if self.rest().starts_with("\\\r\n") => self.bump_n(3),
                _ => break,
            }
        }
        self.at != start
    }

    /// Handles `=begin`/`=end` comments and `__END__` at a line start.
    /// Returns true when lexing should stop (`__END__`).
    fn line_directive(&mut self) -> LexResult<bool> {
        let rest = self.rest();
        if directive_at(rest, "__END__") {
            return Ok(true);
        }
        if !directive_at(rest, "=begin") {
            return Ok(false);
        }
        let pos = self.pos();
        loop {
            self.skip_line();
            if self.peek().is_none() {
                return Err(SyntaxError::new(
                    pos,
                    "unterminated =begin comment starting here; expected a line starting with =end",
                ));
            }
            self.bump(); // the newline
            if directive_at(self.rest(), "=end") {
                self.skip_line();
                return Ok(false);
            }
        }
    }

    /// Moves to the next newline without consuming it.
    fn skip_line(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn skip_comment(&mut self) {
        self.skip_line();
    }

    fn newline(&mut self, pos: Pos, start: usize) -> LexResult<()> {
        self.bump();
        if !matches!(
            self.tokens.last().map(|t| &t.kind),
            None | Some(Tok::Newline)
        ) {
            self.push(Tok::Newline, pos, start);
        }
        self.read_heredoc_bodies()
    }

    /// Whether the next token starts an operand rather than continuing an
    /// expression. This decides Ruby's ambiguous characters: `-1`, `/re/`,
    /// `%w[]`, `?c`, `<<~EOS`. After an identifier Ruby guesses "argument" if
    /// there is a space before and none after (`puts -1`); `space_after` says
    /// whether the char after the ambiguous one is blank.
    fn value_expected(&self, space_after: bool) -> bool {
        let Some(last) = self.tokens.last() else {
            return true;
        };
        match &last.kind {
            Tok::Newline | Tok::Label(_) | Tok::Other(_) => true,
            Tok::Punct(p) => !matches!(*p, ")" | "]" | "}"),
            Tok::Ident(name) if is_keyword(name) => !VALUE_KEYWORDS.contains(&name.as_str()),
            Tok::Ident(_) => self.spaced && !space_after,
            _ => false,
        }
    }

    fn quoted(&mut self, quote: char, pos: Pos, start: usize) -> LexResult<()> {
        self.bump();
        let interp = quote != '\'';
        let (raw, dynamic) = self
            .scan_delimited(quote, quote, interp)
            .ok_or_else(|| unterminated("string", pos, quote))?;
        if quote == '`' {
            self.push(Tok::Command, pos, start);
            return Ok(());
        }
        let body_pos = Pos::new(pos.line, pos.column.saturating_add(1));
        let lit = if interp {
            double_lit(raw, body_pos, dynamic)?
        } else {
            Lit {
                value: unescape_single(raw, &['\'']),
                dynamic: None,
            }
        };
        // `"name": value` is a symbol-keyed hash entry.
        let label = self.peek() == Some(':') && self.peek_nth(1) != Some(':');
        if label {
            self.bump();
        }
        self.push(Tok::Str { lit, label }, pos, start);
        Ok(())
    }

    /// Consumes a delimited body after its opening delimiter, up to and
    /// including the closing one (nested pairs like `%w(a (b))` are counted).
    /// Returns the raw body and whether it interpolates, or None at end of
    /// input.
    fn scan_delimited(&mut self, open: char, close: char, interp: bool) -> Option<(&'a str, bool)> {
        let body = self.at;
        let mut depth = 0u32;
        let mut dynamic = false;
        loop {
            let end = self.at;
            let c = self.bump()?;
            if c == '\\' {
                self.bump()?;
            } else if c == close && depth == 0 {
                return Some((self.src.get(body..end).unwrap_or(""), dynamic));
            } else if c == close {
                depth -= 1;
            } else if c == open && open != close {
                depth += 1;
            } else if interp && c == '#' {
                match self.peek() {
                    Some('{') => {
                        self.bump();
                        self.skip_interpolation()?;
                        dynamic = true;
                    }
                    Some('@' | '$') => dynamic = true,
                    _ => {}
                }
            }
        }
    }

    /// Skips the Ruby code of a `#{…}` up to its closing brace, including
    /// strings nested in it (which may interpolate again). Uses an explicit
    /// stack so hostile nesting cannot overflow the call stack.
    fn skip_interpolation(&mut self) -> Option<()> {
        enum Frame {
            Code(u32),
            Str { close: char, interp: bool },
        }
        let mut stack = vec![Frame::Code(0)];
        while let Some(top) = stack.last_mut() {
            let c = self.bump()?;
            match top {
                Frame::Code(depth) => match c {
                    '{' => *depth += 1,
                    '}' if *depth == 0 => {
                        stack.pop();
                    }
                    '}' => *depth -= 1,
                    '\'' => stack.push(Frame::Str {
                        close: '\'',
                        interp: false,
                    }),
                    '"' | '`' => stack.push(Frame::Str {
                        close: c,
                        interp: true,
                    }),
                    _ => {}
                },
                Frame::Str { close, interp } => {
                    if c == '\\' {
                        self.bump()?;
                    } else if c == *close {
                        stack.pop();
                    } else if *interp && c == '#' && self.peek() == Some('{') {
                        self.bump();
                        stack.push(Frame::Code(0));
                    }
                }
            }
        }
        Some(())
    }

    fn number(&mut self, pos: Pos, start: usize) -> LexResult<()> {
        let negative = match self.peek() {
            Some('-') => {
                self.bump();
                true
            }
            Some('+') => {
                self.bump();
                false
            }
            _ => false,
        };
        let (radix, leading_zero) = self.radix_prefix();
        let digits = self.digits(radix, leading_zero)?;
        if radix != 10 {
            if let Some(c) = self.peek().filter(char::is_ascii_alphanumeric) {
                return Err(SyntaxError::new(
                    self.pos(),
                    format!("invalid digit '{c}' in a base-{radix} number"),
                ));
            }
            if digits.is_empty() {
                return Err(SyntaxError::new(pos, "numeric literal without digits"));
            }
            let kind = int_token(&digits, radix, negative);
            self.push(kind, pos, start);
            return Ok(());
        }
        let mut text = digits;
        let mut float = false;
        if self.peek() == Some('.') && self.peek_nth(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            text.push('.');
            text.push_str(&self.digits(10, false)?);
            float = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = matches!(self.peek_nth(1), Some('+' | '-'));
            let digit_at = if sign { 2 } else { 1 };
            if self.peek_nth(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                text.push('e');
                self.bump();
                if sign {
                    text.extend(self.bump());
                }
                text.push_str(&self.digits(10, false)?);
                float = true;
            }
        }
        let kind = if float {
            match text.parse::<f64>() {
                Ok(f) => Tok::Float(if negative { -f } else { f }),
                Err(_) => return Err(SyntaxError::new(pos, "invalid number")),
            }
        } else {
            int_token(&text, 10, negative)
        };
        self.push(kind, pos, start);
        Ok(())
    }

    /// Consumes a `0x`/`0b`/`0o`/`0d`/`0` prefix and returns the radix and
    /// whether the prefix was a bare leading zero (legacy octal, `0644`),
    /// which counts as a digit for underscore placement (`0_7`).
    fn radix_prefix(&mut self) -> (u32, bool) {
        if self.peek() != Some('0') {
            return (10, false);
        }
        let radix = match self.peek_nth(1) {
            Some('x' | 'X') => 16,
            Some('b' | 'B') => 2,
            Some('o' | 'O') => 8,
            Some('d' | 'D') => 10,
            Some('0'..='9' | '_') => {
                self.bump();
                return (8, true);
            }
            _ => return (10, false),
        };
        self.bump_n(2);
        (radix, false)
    }

    /// Reads digits of `radix` with single underscores between them, returning
    /// the digits without underscores.
    fn digits(&mut self, radix: u32, after_digit: bool) -> LexResult<String> {
        let mut out = String::new();
        loop {
            match self.peek() {
                Some(c) if c.is_digit(radix) => {
                    out.push(c);
                    self.bump();
                }
                Some('_')
                    if self.peek_nth(1).is_some_and(|c| c.is_digit(radix))
                        && (after_digit || !out.is_empty()) =>
                {
                    self.bump();
                }
                Some('_') => {
                    return Err(SyntaxError::new(
                        self.pos(),
                        "misplaced '_' in number; expected a digit on both sides",
                    ))
                }
                _ => return Ok(out),
            }
        }
    }

    fn colon(&mut self, pos: Pos, start: usize) -> LexResult<()> {
        match self.peek_nth(1) {
            Some(':') => {
                self.bump_n(2);
                self.push(Tok::Punct("::"), pos, start);
            }
            Some(q @ ('"' | '\'')) => {
                self.bump_n(2);
                let (raw, dynamic) = self
                    .scan_delimited(q, q, q == '"')
                    .ok_or_else(|| unterminated("symbol", pos, q))?;
                let body_pos = Pos::new(pos.line, pos.column.saturating_add(2));
                let lit = if q == '"' {
                    double_lit(raw, body_pos, dynamic)?
                } else {
                    Lit {
                        value: unescape_single(raw, &['\'']),
                        dynamic: None,
                    }
                };
                self.push(Tok::Symbol(lit), pos, start);
            }
            Some(c) if is_ident_start(c) || c == '@' || c == '$' => {
                self.bump();
                let name_start = self.at;
                while matches!(self.peek(), Some('@' | '$')) {
                    self.bump();
                }
                self.ident_chars();
                let value = self.src.get(name_start..self.at).unwrap_or("").to_string();
                let lit = Lit {
                    value,
                    dynamic: None,
                };
                self.push(Tok::Symbol(lit), pos, start);
            }
            _ => {
                self.bump();
                self.push(Tok::Punct(":"), pos, start);
            }
        }
        Ok(())
    }

    /// Consumes identifier chars plus an optional `?`/`!` suffix (not when it
    /// is the start of `!=`, `?=`).
    fn ident_chars(&mut self) {
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        if matches!(self.peek(), Some('?' | '!')) && self.peek_nth(1) != Some('=') {
            self.bump();
        }
    }

    /// `%w[…]`, `%i(…)`, `%q{…}`, `%(…)` and friends. Returns false (having
    /// consumed nothing) when the `%` is the modulo operator.
    fn percent_literal(&mut self, pos: Pos, start: usize) -> LexResult<bool> {
        let is_delim = |c: Option<char>| c.is_some_and(|c| c.is_ascii_punctuation());
        // After an identifier a bare `%=` is the `%=` operator, not a literal.
        let after_ident = matches!(self.tokens.last().map(|t| &t.kind), Some(Tok::Ident(_)));
        let bare_delim = |c: Option<char>| is_delim(c) && !(after_ident && c == Some('='));
        let (kind, skip) = match self.peek_nth(1) {
            Some(k @ ('q' | 'Q' | 'w' | 'W' | 'i' | 'I' | 'r' | 's' | 'x'))
                if is_delim(self.peek_nth(2)) =>
            {
                (k, 2)
            }
            d if bare_delim(d) => ('Q', 1),
            _ => return Ok(false),
        };
        self.bump_n(skip);
        let Some(open) = self.bump() else {
            return Ok(false);
        };
        let close = closing_delim(open);
        let body_pos = self.pos();
        let interp = matches!(kind, 'Q' | 'W' | 'I' | 'r' | 'x');
        let what = match kind {
            'w' | 'W' | 'i' | 'I' => "word list",
            'r' => "regular expression",
            's' => "symbol",
            'x' => "command",
            _ => "string",
        };
        let (raw, dynamic) = self
            .scan_delimited(open, close, interp)
            .ok_or_else(|| unterminated(what, pos, close))?;
        let delims = [open, close];
        let kind = match kind {
            'q' => Tok::Str {
                lit: Lit {
                    value: unescape_single(raw, &delims),
                    dynamic: None,
                },
                label: false,
            },
            'Q' => Tok::Str {
                lit: double_lit(raw, body_pos, dynamic)?,
                label: false,
            },
            's' => Tok::Symbol(Lit {
                value: unescape_single(raw, &delims),
                dynamic: None,
            }),
            'w' | 'i' | 'W' | 'I' => {
                let double = matches!(kind, 'W' | 'I');
                let items = if dynamic {
                    Vec::new()
                } else {
                    split_words(raw, body_pos, &delims, double)?
                };
                Tok::Words {
                    items,
                    symbols: matches!(kind, 'i' | 'I'),
                    dynamic,
                }
            }
            'r' => {
                self.regex_flags();
                Tok::Regex
            }
            _ => Tok::Command,
        };
        self.push(kind, pos, start);
        Ok(true)
    }

    fn regex(&mut self, pos: Pos, start: usize) -> LexResult<()> {
        self.bump();
        self.scan_delimited('/', '/', true)
            .ok_or_else(|| unterminated("regular expression", pos, '/'))?;
        self.regex_flags();
        self.push(Tok::Regex, pos, start);
        Ok(())
    }

    fn regex_flags(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
        }
    }

    /// `?a` character literals. Returns false (consuming nothing) when the
    /// `?` is the ternary operator.
    fn char_literal(&mut self, pos: Pos, start: usize) -> bool {
        let (len, value) = match (self.peek_nth(1), self.peek_nth(2), self.peek_nth(3)) {
            (Some('\\'), Some(e), after) if !after.is_some_and(is_ident_char) => {
                let value = match e {
                    'n' => '\n',
                    't' => '\t',
                    's' => ' ',
                    '0' => '\0',
                    c => c,
                };
                (3, value)
            }
            (Some(c), after, _)
                if !c.is_whitespace() && c != '\\' && !after.is_some_and(is_ident_char) =>
            {
                (2, c)
            }
            _ => return false,
        };
        self.bump_n(len);
        let lit = Lit {
            value: value.to_string(),
            dynamic: None,
        };
        self.push(Tok::Str { lit, label: false }, pos, start);
        true
    }

    /// `<<~EOS`, `<<-EOS`, `<<EOS`, optionally with a quoted identifier.
    /// Returns false (consuming nothing) for the `<<` operator. The body is
    /// read at the end of the line; until then the token is a placeholder.
    fn heredoc(&mut self, pos: Pos, start: usize) -> bool {
        let mut skip = 2;
        let flag = self.peek_nth(2);
        let (indented, squiggly) = match flag {
            Some('~') => (true, true),
            Some('-') => (true, false),
            _ => (false, false),
        };
        if indented {
            skip += 1;
        }
        let (quote, id_start) = match self.peek_nth(skip) {
            Some(q @ ('\'' | '"' | '`')) => (Some(q), skip + 1),
            Some(c)
                if c == '_' || c.is_ascii_uppercase() || (indented && c.is_ascii_alphabetic()) =>
            {
                (None, skip)
            }
            _ => return false,
        };
        let id: String = self
            .rest()
            .chars()
            .skip(id_start)
            .take_while(|&c| {
                if quote.is_some() {
                    Some(c) != quote && c != '\n'
                } else {
                    is_ident_char(c)
                }
            })
            .collect();
        if id.is_empty() {
            return false;
        }
        let mut len = id_start + id.chars().count();
        if let Some(q) = quote {
            if self.rest().chars().nth(len) != Some(q) {
                return false;
            }
            len += 1;
        }
        self.bump_n(len);
        let lit = Lit {
            value: String::new(),
            dynamic: None,
        };
        let kind = if quote == Some('`') {
            Tok::Command
        } else {
            Tok::Str { lit, label: false }
        };
        self.push(kind, pos, start);
        self.heredocs.push(Heredoc {
            token: self.tokens.len() - 1,
            id,
            indented,
            squiggly,
            raw: quote == Some('\''),
            pos,
        });
        true
    }

    /// Reads the bodies of the heredocs opened on the line just ended.
    fn read_heredoc_bodies(&mut self) -> LexResult<()> {
        let pending = std::mem::take(&mut self.heredocs);
        for h in pending {
            let body_pos = self.pos();
            let mut lines = Vec::new();
            loop {
                if self.peek().is_none() {
                    return Err(unterminated_heredoc(&h));
                }
                let line_start = self.at;
                self.skip_line();
                self.bump();
                let line = self.src.get(line_start..self.at).unwrap_or("");
                let bare = line.trim_end_matches(['\n', '\r']);
                let bare = if h.indented { bare.trim_start() } else { bare };
                if bare == h.id {
                    break;
                }
                lines.push(line);
            }
            let text = if h.squiggly {
                dedent(&lines)
            } else {
                lines.concat()
            };
            let lit = if h.raw {
                Lit {
                    value: text,
                    dynamic: None,
                }
            } else {
                let dynamic = has_interpolation(&text);
                double_lit(&text, body_pos, dynamic)?
            };
            let end = self.at;
            if let Some(tok) = self.tokens.get_mut(h.token) {
                if let Tok::Str { lit: l, .. } = &mut tok.kind {
                    *l = lit;
                }
                tok.end = end;
            }
        }
        Ok(())
    }

    fn variable(&mut self, sigil: char, pos: Pos, start: usize) {
        self.bump();
        if sigil == '@' && self.peek() == Some('@') {
            self.bump();
        }
        match self.peek() {
            Some(c) if is_ident_start(c) => {
                while self.peek().is_some_and(is_ident_char) {
                    self.bump();
                }
            }
            Some(c) if sigil == '$' && c.is_ascii_digit() => {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            }
            Some(c) if sigil == '$' && "!@&`'+~=/\\,;.<>_*$?:\"0".contains(c) => {
                self.bump();
            }
            _ => {
                self.push(Tok::Other(sigil), pos, start);
                return;
            }
        }
        let name = self.src.get(start..self.at).unwrap_or("").to_string();
        self.push(Tok::Var(name), pos, start);
    }

    fn ident(&mut self, pos: Pos, start: usize) {
        self.ident_chars();
        let name = self.src.get(start..self.at).unwrap_or("").to_string();
        let after_dot = matches!(
            self.tokens.last().map(|t| &t.kind),
            Some(Tok::Punct("." | "&." | "::"))
        );
        // `name:` (but not `name::`) is a hash key or keyword argument;
        // Ruby never reads one at the start of a statement.
        let statement_start = self.brackets == 0
            && matches!(
                self.tokens.last().map(|t| &t.kind),
                None | Some(Tok::Newline | Tok::Punct(";"))
            );
        if self.peek() == Some(':')
            && self.peek_nth(1) != Some(':')
            && !after_dot
            && !statement_start
        {
            self.bump();
            self.push(Tok::Label(name), pos, start);
            return;
        }
        let kind = if name.chars().next().is_some_and(char::is_uppercase) {
            Tok::Const(name)
        } else {
            Tok::Ident(name)
        };
        self.push(kind, pos, start);
    }

    fn punct(&mut self, c: char, pos: Pos, start: usize) {
        let rest = self.rest();
        match PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            Some(p) => {
                self.bump_n(p.len());
                self.push(Tok::Punct(p), pos, start);
            }
            None => {
                self.bump();
                self.push(Tok::Other(c), pos, start);
            }
        }
    }
}

/// Whether `rest` starts with the line directive `word` followed by a blank or
/// the end of the line.
fn directive_at(rest: &str, word: &str) -> bool {
    rest.strip_prefix(word)
        .is_some_and(|after| after.chars().next().is_none_or(char::is_whitespace))
}

fn int_token(digits: &str, radix: u32, negative: bool) -> Tok {
    let mut v: i128 = 0;
    for d in digits.chars().filter_map(|c| c.to_digit(radix)) {
        match v
            .checked_mul(radix as i128)
            .and_then(|v| v.checked_add(d as i128))
        {
            Some(n) if n <= i64::MAX as i128 + 1 => v = n,
            _ => return Tok::BigInt,
        }
    }
    let v = if negative { -v } else { v };
    i64::try_from(v).map_or(Tok::BigInt, Tok::Int)
}

/// The value of a double-quoted body, unless it interpolates.
fn double_lit(raw: &str, body_pos: Pos, dynamic: bool) -> LexResult<Lit> {
    if dynamic {
        return Ok(Lit {
            value: String::new(),
            dynamic: Some(Dynamic::Interpolation),
        });
    }
    let u = unescape_double(raw, body_pos)?;
    Ok(Lit {
        value: u.value,
        dynamic: u.raw_byte.then_some(Dynamic::RawByte),
    })
}

fn unterminated(what: &str, pos: Pos, close: char) -> SyntaxError {
    SyntaxError::new(
        pos,
        format!("unterminated {what} starting here; expected a closing {close}"),
    )
}

fn unterminated_heredoc(h: &Heredoc) -> SyntaxError {
    SyntaxError::new(
        h.pos,
        format!(
            "unterminated heredoc starting here; expected a line containing only {}",
            h.id
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        let l = lex(src);
        assert_eq!(l.error, None);
        l.tokens.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn negative_numbers_and_subtraction() {
        assert_eq!(kinds("x = -1")[2], Tok::Int(-1));
        assert_eq!(kinds("a[0] -1")[4], Tok::Punct("-"));
        assert_eq!(
            kinds("1_000 0x1F 017 0b11 1.5e3")[..5],
            [
                Tok::Int(1000),
                Tok::Int(31),
                Tok::Int(15),
                Tok::Int(3),
                Tok::Float(1500.0)
            ]
        );
        assert_eq!(kinds("-9223372036854775808")[0], Tok::Int(i64::MIN));
        assert_eq!(kinds("9223372036854775808")[0], Tok::BigInt);
    }

    #[test]
    fn labels_and_symbols() {
        assert_eq!(
            kinds("f a: :b")[1..3],
            [
                Tok::Label("a".into()),
                Tok::Symbol(Lit {
                    value: "b".into(),
                    dynamic: None
                })
            ]
        );
        assert_eq!(kinds("Foo::Bar")[1], Tok::Punct("::"));
        assert_eq!(kinds(":foo=>1")[1], Tok::Punct("=>"));
    }

    #[test]
    fn heredoc_body_is_read_after_the_line() {
        let k = kinds("x = <<~EOS.strip\n  a\n    b\n  EOS\ny");
        assert_eq!(
            k[2],
            Tok::Str {
                lit: Lit {
                    value: "a\n  b\n".into(),
                    dynamic: None
                },
                label: false
            }
        );
        assert_eq!(k[6], Tok::Ident("y".into()));
    }

    #[test]
    fn shift_operator_is_not_a_heredoc() {
        assert_eq!(kinds("a << B")[1], Tok::Punct("<<"));
    }

    #[test]
    fn interpolation_with_nested_braces_and_strings() {
        let k = kinds(r#""a#{ {"}" => '{'}["}"] }b" x"#);
        assert!(
            matches!(&k[0], Tok::Str { lit, .. } if lit.dynamic == Some(Dynamic::Interpolation))
        );
        assert_eq!(k[1], Tok::Ident("x".into()));
    }

    #[test]
    fn begin_end_comment_and_data_section() {
        assert_eq!(
            kinds("=begin\nx ]\n=end\ny\n__END__\n]"),
            [Tok::Ident("y".into()), Tok::Newline, Tok::Eof]
        );
    }

    #[test]
    fn errors_stop_lexing_with_tokens_so_far() {
        let l = lex("a = 1\nb = 'x");
        assert_eq!(l.error.unwrap().pos, Pos::new(2, 5));
        assert_eq!(l.tokens.last().map(|t| &t.kind), Some(&Tok::Eof));
    }
}
