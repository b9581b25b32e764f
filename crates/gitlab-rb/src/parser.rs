//! Recursive-descent parser over the token list.
//!
//! Each statement is parsed optimistically as a DSL call or a hash
//! assignment with literal values. The first construct that cannot be
//! evaluated statically aborts the statement with [`Stop::Skip`]; the driver
//! then finds the statement's end with the bracket/keyword scanner in
//! [`crate::scan`] and records it in [`Parsed::skipped`]. Genuine syntax errors
//! abort the whole parse with [`Stop::Fatal`].

use crate::lexer::{is_keyword, Dynamic, Lexed, Lit, Tok, Token};
use crate::scan::{continues, keyword_at, statement_end};
use crate::{Parsed, Pos, Skipped, Spanned, Statement, SyntaxError, Value, MAX_DEPTH};
use std::collections::HashMap;

/// Why parsing of the current statement stopped.
pub(crate) enum Stop {
    /// Valid Ruby that cannot be evaluated statically, found at `pos`.
    Skip { pos: Pos, reason: String },
    /// Not valid Ruby: the whole parse fails.
    Fatal(SyntaxError),
}

type PResult<T> = Result<T, Stop>;

fn skip<T>(pos: Pos, reason: impl Into<String>) -> PResult<T> {
    Err(Stop::Skip {
        pos,
        reason: reason.into(),
    })
}

/// Binary operators (and compound assignments): after a value they mean the
/// statement computes something, which is valid Ruby but not a literal.
const BINARY_OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "**", "==", "!=", "===", "=~", "!~", "<", ">", "<=", ">=", "<=>",
    "<<", ">>", "&&", "||", "&", "|", "^", "..", "...", "?", "+=", "-=", "*=", "/=", "%=", "**=",
    "||=", "&&=", "|=", "&=", "^=", "<<=", ">>=",
];

/// Punctuation that can begin a Ruby expression (unary operators, splats,
/// brackets, lambdas, ranges, top-level constants).
const EXPRESSION_START: &[&str] = &[
    "(", "[", "{", "-", "+", "!", "~", "*", "**", "&", "::", "->", "..", "...",
];

/// Assignment operators other than `=`.
fn is_compound_assign(op: &str) -> bool {
    op.len() >= 2 && op.ends_with('=') && !matches!(op, "==" | "!=" | "<=" | ">=" | "===")
}

/// A human description of a token for "expected …, found …" messages.
pub(crate) fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(n) if is_keyword(n) => format!("the keyword `{n}`"),
        Tok::Ident(n) | Tok::Const(n) | Tok::Var(n) => format!("`{n}`"),
        Tok::Label(n) => format!("the hash key `{n}:`"),
        Tok::Str { label: true, .. } => "a quoted hash key".into(),
        Tok::Str { .. } => "a string".into(),
        Tok::Int(n) => format!("the number {n}"),
        Tok::BigInt | Tok::Float(_) => "a number".into(),
        Tok::Symbol(l) => format!("the symbol :{}", l.value),
        Tok::Words { .. } => "a %w word list".into(),
        Tok::Regex => "a regular expression".into(),
        Tok::Command => "a shell command".into(),
        Tok::Punct(p) => format!("'{p}'"),
        Tok::Other(c) => format!("the character {c:?}"),
        Tok::Newline => "the end of the line".into(),
        Tok::Eof => "the end of the file".into(),
    }
}

/// An element of an argument list or array: a value, or a `key => value`
/// entry of a hash written without braces.
enum Item {
    Value(Spanned<Value>),
    Pair(Spanned<Value>, Spanned<Value>),
}

/// Collects list items, folding bare-hash entries into one trailing hash as
/// Ruby does (`foo 'a', b: 1, c: 2` has two arguments).
#[derive(Default)]
struct ItemList {
    values: Vec<Spanned<Value>>,
    pairs: Vec<(Spanned<Value>, Spanned<Value>)>,
}

impl ItemList {
    fn push(&mut self, item: Item) -> PResult<()> {
        match item {
            Item::Pair(k, v) => self.pairs.push((k, v)),
            Item::Value(v) if self.pairs.is_empty() => self.values.push(v),
            Item::Value(v) => {
                return Err(Stop::Fatal(SyntaxError::new(
                    v.pos,
                    "expected a `key => value` entry: a hash without braces must come last",
                )))
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Vec<Spanned<Value>> {
        if let Some(pos) = self.pairs.first().map(|(k, _)| k.pos) {
            self.values.push(Spanned::new(Value::Hash(self.pairs), pos));
        }
        self.values
    }
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    lex_error: Option<SyntaxError>,
    /// Returned for any index past the end; the token list always ends in
    /// Eof, so this is only a guard against indexing panics.
    eof: Token,
    /// Local variables assigned so far (name → line), for clearer reasons
    /// when a value uses one.
    locals: HashMap<String, u32>,
    out: Parsed,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, lexed: Lexed) -> Self {
        let eof = lexed.tokens.last().cloned().unwrap_or(Token {
            kind: Tok::Eof,
            pos: Pos::new(1, 1),
            start: 0,
            end: 0,
            spaced: true,
        });
        Parser {
            src,
            toks: lexed.tokens,
            i: 0,
            lex_error: lexed.error,
            eof,
            locals: HashMap::new(),
            out: Parsed::default(),
        }
    }

    pub(crate) fn run(mut self) -> Result<Parsed, SyntaxError> {
        match self.statements() {
            Ok(()) => Ok(self.out),
            Err(e) => Err(self.explain_runaway_string(e)),
        }
    }

    fn statements(&mut self) -> Result<(), SyntaxError> {
        loop {
            while matches!(self.kind(), Tok::Newline | Tok::Punct(";")) {
                self.i += 1;
            }
            if matches!(self.kind(), Tok::Eof) {
                break;
            }
            let start = self.i;
            match self.statement() {
                Ok(stmt) => self.out.statements.push(stmt),
                Err(Stop::Skip { pos, reason }) => self.skip_statement(start, pos, reason)?,
                Err(Stop::Fatal(e)) => return Err(e),
            }
        }
        match &self.lex_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// A string whose closing quote is missing swallows the following lines
    /// up to the next quote, and the error only shows up after it. When an
    /// error is on the line where a multi-line quoted string ends, the string
    /// is the likely culprit, so the error is reported at its start.
    fn explain_runaway_string(&self, e: SyntaxError) -> SyntaxError {
        let Some(s) = self
            .toks
            .iter()
            .rev()
            .filter(|t| t.pos < e.pos)
            .find(|t| matches!(t.kind, Tok::Str { .. }))
        else {
            return e;
        };
        let text = self.src.get(s.start..s.end).unwrap_or("");
        let Some(quote) = text.chars().next().filter(|c| matches!(c, '\'' | '"')) else {
            return e;
        };
        let newlines = u32::try_from(text.matches('\n').count()).unwrap_or(u32::MAX);
        if newlines == 0 || s.pos.line.saturating_add(newlines) != e.pos.line {
            return e;
        }
        SyntaxError::new(
            s.pos,
            format!(
                "string starting here is not closed on its line; expected a closing {quote} \
                 (it runs on to line {}, where: {})",
                e.pos.line, e.message
            ),
        )
    }

    // ----- token access -------------------------------------------------

    fn tok(&self, j: usize) -> &Token {
        self.toks.get(j).unwrap_or(&self.eof)
    }

    fn cur(&self) -> &Token {
        self.tok(self.i)
    }

    fn kind(&self) -> &Tok {
        &self.cur().kind
    }

    fn skip_newlines(&mut self) {
        while matches!(self.kind(), Tok::Newline) {
            self.i += 1;
        }
    }

    /// The source text of tokens `from..to`, whitespace-collapsed and
    /// shortened, for use in skip reasons.
    fn excerpt(&self, from: usize, to: usize) -> String {
        let start = self.tok(from).start;
        let end = self.tok(to.saturating_sub(1).max(from)).end;
        let text = self.src.get(start..end.max(start)).unwrap_or("");
        let words: Vec<&str> = text.split_whitespace().collect();
        let joined = words.join(" ");
        if joined.chars().count() > 60 {
            let short: String = joined.chars().take(57).collect();
            format!("{short}…")
        } else {
            joined
        }
    }

    // ----- errors -------------------------------------------------------

    /// A fatal error at the current token. At the end of the tokens the
    /// lexer's error (if it stopped early) is the real cause.
    fn expected(&self, what: &str) -> Stop {
        let t = self.cur();
        let pos = match (&t.kind, &self.lex_error) {
            (Tok::Eof, Some(e)) => return Stop::Fatal(e.clone()),
            // The end of the file has no useful position: point at the last
            // token, which is what is left incomplete.
            (Tok::Eof, None) => self.last_token_before(self.i).map_or(t.pos, |l| l.pos),
            _ => t.pos,
        };
        Stop::Fatal(SyntaxError::new(
            pos,
            format!("expected {what}, found {}", describe(&t.kind)),
        ))
    }

    /// The last token before `j` that is not a line break.
    fn last_token_before(&self, j: usize) -> Option<&Token> {
        self.toks
            .get(..j)?
            .iter()
            .rev()
            .find(|t| !matches!(t.kind, Tok::Newline))
    }

    /// The input ended inside the bracket `open`.
    fn unclosed(&self, open: &Token, closer: char) -> Stop {
        if let Some(e) = &self.lex_error {
            return Stop::Fatal(e.clone());
        }
        let what = match &open.kind {
            Tok::Punct(p) => p,
            _ => "bracket",
        };
        Stop::Fatal(SyntaxError::new(
            open.pos,
            format!("'{what}' opened here is never closed; expected '{closer}' before the end of the file"),
        ))
    }

    /// Called where a value has just ended and `expected` was required:
    /// decides whether what follows is valid Ruby we cannot evaluate (skip)
    /// or a syntax error. `statement_level` allows a trailing block.
    fn after_value(&self, expected: &str, statement_level: bool) -> Stop {
        let t = self.cur();
        let pos = t.pos;
        let stop = |reason: String| Stop::Skip { pos, reason };
        match &t.kind {
            Tok::Punct("." | "&." | "::") => stop(self.method_reason(self.i)),
            Tok::Punct("[") if !t.spaced => {
                stop("indexes into a value, which cannot be evaluated statically".into())
            }
            Tok::Punct(op) if BINARY_OPS.contains(op) => stop(format!(
                "uses the `{op}` operator; only literal values can be imported"
            )),
            Tok::Punct("{") if statement_level => stop(block_reason()),
            // Ruby 3 rightward pattern matching: `value => pattern`.
            Tok::Punct("=>") if statement_level => stop(pattern_reason()),
            Tok::Ident(kw) if keyword_at(&self.toks, self.i) => match kw.as_str() {
                "if" | "unless" | "while" | "until" | "rescue" => stop(format!(
                    "has a trailing `{kw}` modifier, which cannot be evaluated statically"
                )),
                "and" | "or" => stop(format!(
                    "uses the `{kw}` operator; only literal values can be imported"
                )),
                "do" if statement_level => stop(block_reason()),
                "in" if statement_level => stop(pattern_reason()),
                _ => self.expected(expected),
            },
            _ => self.expected(expected),
        }
    }

    /// [`Self::after_value`] inside the bracket `open`; when the error is on
    /// a later line the still-open bracket is probably the real mistake, so
    /// the message mentions it.
    fn in_container(&self, open: &Token, expected: &str) -> Stop {
        match self.after_value(expected, false) {
            Stop::Fatal(mut e)
                if e.pos.line != open.pos.line && Some(&e) != self.lex_error.as_ref() =>
            {
                let what = match &open.kind {
                    Tok::Punct(p) => p,
                    _ => "bracket",
                };
                e.message
                    .push_str(&format!(" (the '{what}' from {} is still open)", open.pos));
                Stop::Fatal(e)
            }
            other => other,
        }
    }

    /// The reason for a `.method` call starting at the `.` token `dot`.
    fn method_reason(&self, dot: usize) -> String {
        let end = self.chain_end(dot);
        format!(
            "calls the method `{}` on a value, which cannot be evaluated statically",
            self.excerpt(dot, end)
        )
    }

    /// Index just past a `.a(…).b[…]` call chain starting at `j`.
    fn chain_end(&self, mut j: usize) -> usize {
        loop {
            let t = self.tok(j);
            match &t.kind {
                Tok::Punct("." | "&." | "::") => {
                    j += 1;
                    if matches!(self.tok(j).kind, Tok::Ident(_) | Tok::Const(_)) {
                        j += 1;
                    }
                }
                Tok::Punct("(" | "[") if !t.spaced => j = self.group_end(j),
                _ => return j,
            }
        }
    }

    /// Index just past the bracket group opened at `j` (or the end).
    fn group_end(&self, mut j: usize) -> usize {
        let mut depth = 0usize;
        loop {
            match self.tok(j).kind {
                Tok::Punct("(" | "[" | "{") => depth += 1,
                Tok::Punct(")" | "]" | "}") => depth = depth.saturating_sub(1),
                Tok::Eof => return j,
                _ => {}
            }
            j += 1;
            if depth == 0 {
                return j;
            }
        }
    }

    /// Records the statement starting at token `start` as skipped and moves
    /// past it.
    fn skip_statement(&mut self, start: usize, at: Pos, reason: String) -> Result<(), SyntaxError> {
        let end = statement_end(&self.toks, start, self.lex_error.as_ref())?;
        let first = self.tok(start);
        let text_end = self
            .toks
            .get(start..end)
            .and_then(|ts| ts.iter().map(|t| t.end).max())
            .unwrap_or(first.end);
        let text = self
            .src
            .get(first.start..text_end.max(first.start))
            .unwrap_or("")
            // Only Ruby's own blanks: to Ruby U+00A0 and friends are
            // identifier characters, so they can be the whole statement.
            .trim_matches(|c: char| c.is_ascii_whitespace());
        let reason = if at.line != first.pos.line {
            format!("{reason} (line {})", at.line)
        } else {
            reason
        };
        let key = self.statement_key(start);
        self.out.skipped.push(Skipped {
            pos: first.pos,
            reason,
            text: text.to_string(),
            key,
        });
        self.i = end;
        Ok(())
    }

    /// The setting a skipped statement starting at `start` would have set:
    /// `name` for a DSL call, `target['k']…` for an index assignment with
    /// literal keys; `None` for anything else (local variables, `ENV[…] =`,
    /// blocks, dynamic keys).
    fn statement_key(&self, start: usize) -> Option<String> {
        let Tok::Ident(name) = &self.tok(start).kind else {
            return None;
        };
        if keyword_at(&self.toks, start)
            || matches!(name.as_str(), "require" | "require_relative" | "load")
        {
            return None;
        }
        let mut key = name.clone();
        let mut j = start + 1;
        let mut indexed = false;
        while matches!(self.tok(j).kind, Tok::Punct("[")) && !self.tok(j).spaced {
            let text = match &self.tok(j + 1).kind {
                Tok::Str { lit, label: false } | Tok::Symbol(lit) if lit.dynamic.is_none() => {
                    lit.value.clone()
                }
                _ => return None,
            };
            if !matches!(self.tok(j + 2).kind, Tok::Punct("]")) {
                return None;
            }
            key.push_str(&format!("['{text}']"));
            j += 3;
            indexed = true;
        }
        let next = &self.tok(j).kind;
        let assigns = matches!(next, Tok::Punct(op) if *op == "=" || is_compound_assign(op));
        let chained = matches!(next, Tok::Punct("," | "." | "&." | "::"));
        match (indexed, assigns, chained) {
            (true, true, _) => Some(key),
            (false, false, false) if !self.locals.contains_key(name) => Some(key),
            _ => None,
        }
    }

    // ----- statements ---------------------------------------------------

    fn statement(&mut self) -> PResult<Statement> {
        let t = self.cur().clone();
        match &t.kind {
            Tok::Ident(name) if keyword_at(&self.toks, self.i) => {
                self.keyword_statement(name, t.pos)
            }
            Tok::Ident(name) => self.ident_statement(name.clone(), t.pos),
            Tok::Const(_) | Tok::Var(_) => {
                let reason = self.reference_reason(self.i);
                skip(t.pos, reason)
            }
            // The statement-end scanner reports an unmatched closer with the
            // right message.
            Tok::Punct(")" | "]" | "}") => skip(t.pos, "unmatched closing bracket"),
            Tok::Punct(p) if EXPRESSION_START.contains(p) && *p != "[" && *p != "{" => skip(
                t.pos,
                format!("is an expression starting with `{p}`, not a setting"),
            ),
            Tok::Punct(p) if *p != "[" && *p != "{" => Err(self.expected("a statement")),
            Tok::Label(_) | Tok::Other(_) | Tok::Str { label: true, .. } => {
                Err(self.expected("a statement"))
            }
            _ => {
                // A literal on its own: parse it for syntax errors, then skip.
                self.value(0)?;
                self.end_of_statement()?;
                skip(t.pos, "is a bare value, which has no effect")
            }
        }
    }

    fn keyword_statement(&mut self, name: &str, pos: Pos) -> PResult<Statement> {
        let reason = match name {
            "end" => {
                return Err(Stop::Fatal(SyntaxError::new(
                    pos,
                    "unexpected `end`; there is no open block for it to close",
                )))
            }
            "else" | "elsif" | "when" | "in" | "then" | "rescue" | "ensure" | "do" | "and"
            | "or" => return Err(self.expected("a statement")),
            "if" | "unless" | "case" => {
                format!(
                    "`{name} … end` is conditional; its contents cannot be evaluated statically"
                )
            }
            "while" | "until" | "for" => {
                format!("`{name} … end` is a loop, which cannot be evaluated statically")
            }
            "begin" => "`begin … end` block cannot be evaluated statically".to_string(),
            "def" | "class" | "module" | "alias" | "undef" => {
                format!("`{name}` defines Ruby code, which cannot be imported")
            }
            _ => format!("`{name}` cannot be evaluated statically"),
        };
        skip(pos, reason)
    }

    fn ident_statement(&mut self, name: String, pos: Pos) -> PResult<Statement> {
        if matches!(name.as_str(), "require" | "require_relative" | "load") {
            return skip(
                pos,
                format!("`{name}` loads other Ruby code, which cannot be imported"),
            );
        }
        let next = self.tok(self.i + 1).clone();
        match &next.kind {
            Tok::Punct("[") if !next.spaced => return self.assignment(name, pos),
            Tok::Punct(op) if *op == "=" || is_compound_assign(op) => {
                self.locals.entry(name.clone()).or_insert(pos.line);
                return skip(
                    pos,
                    format!("assigns the local variable `{name}`; only settings with literal values can be imported"),
                );
            }
            // `a, b = 1, 2`
            Tok::Punct(",") => {
                return skip(
                    pos,
                    "assigns several local variables at once; only settings with literal values can be imported",
                )
            }
            _ if self.locals.contains_key(&name) => {
                return skip(pos, self.reference_reason(self.i))
            }
            Tok::Punct("." | "&." | "::") => return skip(pos, self.reference_reason(self.i)),
            Tok::Punct("{") => return skip(next.pos, block_reason()),
            Tok::Ident(kw) if kw == "do" && keyword_at(&self.toks, self.i + 1) => {
                return skip(next.pos, block_reason())
            }
            _ => {}
        }
        self.i += 1;
        let args = match &next.kind {
            Tok::Punct("(") if !next.spaced => self.paren_args()?,
            Tok::Newline | Tok::Punct(";") | Tok::Eof => Vec::new(),
            _ if self.starts_command_arg() => self.command_args()?,
            _ => {
                return Err(self.after_value(
                    &format!("arguments or the end of the line after `{name}`"),
                    true,
                ))
            }
        };
        self.end_of_statement()?;
        Ok(Statement::Call { name, args, pos })
    }

    /// Whether the current token begins the first argument of a call
    /// without parentheses. For operators Ruby's rule applies: `foo -x` and
    /// `foo *a` are arguments, `foo - x` is a subtraction.
    fn starts_command_arg(&self) -> bool {
        let t = self.cur();
        match &t.kind {
            Tok::Punct("[" | "(" | "::") => t.spaced,
            // Only unary, so `foo!x` and `foo ~x` are arguments too.
            Tok::Punct("!" | "~") => true,
            Tok::Punct(p) if EXPRESSION_START.contains(p) => {
                t.spaced && !self.tok(self.i + 1).spaced
            }
            Tok::Punct(_) | Tok::Newline | Tok::Eof | Tok::Other(_) => false,
            Tok::Ident(kw) if keyword_at(&self.toks, self.i) => {
                matches!(
                    kw.as_str(),
                    "true"
                        | "false"
                        | "nil"
                        | "self"
                        | "not"
                        | "defined?"
                        | "__FILE__"
                        | "__LINE__"
                        | "__method__"
                )
            }
            _ => true,
        }
    }

    /// `target[k1][k2]… = value`, with the target already current.
    fn assignment(&mut self, target: String, pos: Pos) -> PResult<Statement> {
        let start = self.i;
        self.i += 1;
        let mut keys = Vec::new();
        while matches!(self.kind(), Tok::Punct("[")) {
            keys.push(self.index_key()?);
        }
        let op = self.cur().clone();
        match &op.kind {
            Tok::Punct("=" | "||=") => {
                self.i += 1;
                self.skip_newlines();
                if matches!(self.kind(), Tok::Eof) && self.lex_error.is_none() {
                    return Err(Stop::Fatal(SyntaxError::new(
                        op.pos,
                        format!("expected a value after '{}', found the end of the file", describe_op(&op.kind)),
                    )));
                }
                let value = self.value(0)?;
                if matches!(self.kind(), Tok::Punct(",")) {
                    return skip(
                        self.cur().pos,
                        "assigns several values (`x = 1, 2` makes an array); write them as an array literal",
                    );
                }
                self.end_of_statement()?;
                Ok(Statement::Assign {
                    target,
                    keys,
                    value,
                    pos,
                })
            }
            // `a['x'], b = …`
            Tok::Punct(",") => skip(
                op.pos,
                "assigns several targets at once; only single `=` assignments can be imported",
            ),
            Tok::Punct(p) if is_compound_assign(p) || *p == "<<" => skip(
                op.pos,
                format!("uses `{p}`, which depends on the current value; only `=` assignments can be imported"),
            ),
            Tok::Newline | Tok::Punct(";") | Tok::Eof => {
                // A `.method` chain on the next line is reported as such.
                self.end_of_statement()?;
                skip(
                    pos,
                    format!("reads `{}` without assigning to it", self.excerpt(start, self.i)),
                )
            }
            _ => Err(self.after_value("'=' after the key", true)),
        }
    }

    /// One `[key]` of an assignment target.
    fn index_key(&mut self) -> PResult<String> {
        let open = self.cur().clone();
        self.i += 1;
        self.skip_newlines();
        if matches!(self.kind(), Tok::Punct("]")) {
            return skip(open.pos, "has an empty index `[]`");
        }
        if matches!(self.kind(), Tok::Eof) {
            return Err(self.unclosed(&open, ']'));
        }
        if self.at_label() {
            return skip(self.cur().pos, "indexes with keyword arguments");
        }
        let key = self.value(1)?;
        self.skip_newlines();
        match self.kind() {
            Tok::Punct("]") => self.i += 1,
            Tok::Eof => return Err(self.unclosed(&open, ']')),
            Tok::Punct(",") => return skip(self.cur().pos, "indexes with several arguments"),
            _ => return Err(self.after_value("']' after the key", false)),
        }
        match key.value {
            Value::Str(s) | Value::Symbol(s) => Ok(s),
            _ => skip(key.pos, "uses a key that is not a string or a symbol"),
        }
    }

    /// Checks that the statement ends here (newline, `;` or end of file).
    fn end_of_statement(&self) -> PResult<()> {
        match self.kind() {
            Tok::Newline if continues(&self.toks, self.i) => {
                let dot = self.i + 1;
                skip(self.tok(dot).pos, self.method_reason(dot))
            }
            Tok::Newline | Tok::Punct(";") | Tok::Eof => Ok(()),
            _ => Err(self.after_value("the end of the line", true)),
        }
    }

    /// Arguments of `name(…)`, with the `(` current.
    fn paren_args(&mut self) -> PResult<Vec<Spanned<Value>>> {
        let mut items = ItemList::default();
        self.delimited(')', "an argument", |p| {
            let item = p.list_item(0)?;
            items.push(item)
        })?;
        Ok(items.finish())
    }

    /// Parses `open elem, elem, … close` with the opener current, calling
    /// `element` for each element. As in Ruby, newlines may follow the
    /// opener and the commas and precede the closer, but not precede a comma.
    fn delimited(
        &mut self,
        closer: char,
        what: &str,
        mut element: impl FnMut(&mut Self) -> PResult<()>,
    ) -> PResult<()> {
        let open = self.cur().clone();
        self.i += 1;
        loop {
            self.skip_newlines();
            if self.at_closer(closer, &open)? {
                return Ok(());
            }
            element(self)?;
            if matches!(self.kind(), Tok::Punct(",")) {
                self.i += 1;
                continue;
            }
            let newline = matches!(self.kind(), Tok::Newline);
            self.skip_newlines();
            if self.at_closer(closer, &open)? {
                return Ok(());
            }
            let expected = if newline && matches!(self.kind(), Tok::Punct(",")) {
                format!("'{closer}', or a ',' on the same line as the end of {what}")
            } else {
                format!("',' or '{closer}' after {what}")
            };
            return Err(self.in_container(&open, &expected));
        }
    }

    /// Consumes `closer` if it is current; fails at the end of the input.
    fn at_closer(&mut self, closer: char, open: &Token) -> PResult<bool> {
        match self.kind() {
            Tok::Punct(p) if p.len() == 1 && p.starts_with(closer) => {
                self.i += 1;
                Ok(true)
            }
            Tok::Eof => Err(self.unclosed(open, closer)),
            _ => Ok(false),
        }
    }

    /// Arguments of `name a, b` up to the end of the line; a newline is
    /// allowed after a comma.
    fn command_args(&mut self) -> PResult<Vec<Spanned<Value>>> {
        let mut items = ItemList::default();
        loop {
            let item = self.list_item(0)?;
            items.push(item)?;
            if !matches!(self.kind(), Tok::Punct(",")) {
                break;
            }
            self.i += 1;
            self.skip_newlines();
        }
        Ok(items.finish())
    }

    /// A value, or a `key => value` / `key: value` entry of a brace-less hash.
    fn list_item(&mut self, depth: usize) -> PResult<Item> {
        if self.at_label() {
            let (k, v) = self.label_pair(depth)?;
            return Ok(Item::Pair(k, v));
        }
        let v = self.value(depth)?;
        if matches!(self.kind(), Tok::Punct("=>")) {
            self.i += 1;
            self.skip_newlines();
            let value = self.value(depth)?;
            return Ok(Item::Pair(v, value));
        }
        Ok(Item::Value(v))
    }

    // ----- values -------------------------------------------------------

    fn value(&mut self, depth: usize) -> PResult<Spanned<Value>> {
        let start = self.i;
        let t = self.cur().clone();
        let mut pos = t.pos;
        let value = match &t.kind {
            Tok::Str { label: false, .. } => self.string_value()?,
            Tok::Int(n) => self.literal(Value::Int(*n)),
            Tok::Float(f) => self.literal(Value::Float(*f)),
            Tok::BigInt => return skip(pos, "has an integer that does not fit in 64 bits"),
            Tok::Symbol(lit) => {
                let name = self.static_text(lit, start)?;
                self.literal(Value::Symbol(name))
            }
            Tok::Words { dynamic: true, .. } => return skip(pos, self.interpolation_reason(start)),
            Tok::Words { items, symbols, .. } => {
                let items = items
                    .iter()
                    .map(|(w, p)| {
                        Spanned::new(
                            if *symbols {
                                Value::Symbol(w.clone())
                            } else {
                                Value::Str(w.clone())
                            },
                            *p,
                        )
                    })
                    .collect();
                self.literal(Value::Array(items))
            }
            Tok::Punct(p @ ("[" | "{" | "(")) => {
                if depth >= MAX_DEPTH {
                    return Err(Stop::Fatal(SyntaxError::new(
                        pos,
                        format!("arrays, hashes and parentheses nested more than {MAX_DEPTH} levels deep are not supported"),
                    )));
                }
                match *p {
                    "[" => self.array(depth + 1)?,
                    "{" => self.hash(depth + 1)?,
                    _ => {
                        let inner = self.parenthesized(depth + 1)?;
                        pos = inner.pos;
                        inner.value
                    }
                }
            }
            Tok::Ident(kw) if keyword_at(&self.toks, self.i) => match kw.as_str() {
                "true" => self.literal(Value::Bool(true)),
                "false" => self.literal(Value::Bool(false)),
                "nil" => self.literal(Value::Nil),
                "if" | "unless" | "case" | "begin" | "while" | "until" | "not" | "defined?"
                | "self" | "super" | "yield" | "__FILE__" | "__LINE__" | "__method__"
                | "__ENCODING__" => {
                    return skip(
                        pos,
                        format!("uses `{kw}`, which cannot be evaluated statically"),
                    )
                }
                _ => return Err(self.expected("a value")),
            },
            Tok::Ident(_) | Tok::Const(_) | Tok::Var(_) => {
                return skip(pos, self.reference_reason(start))
            }
            Tok::Regex => return skip(pos, "uses a regular expression, which cannot be imported"),
            Tok::Command => {
                return skip(
                    pos,
                    "runs a shell command, which cannot be evaluated statically",
                )
            }
            Tok::Punct(p) if EXPRESSION_START.contains(p) => {
                return skip(
                    pos,
                    format!("uses the `{p}` operator; only literal values can be imported"),
                )
            }
            _ => return Err(self.expected("a value")),
        };
        // `'a'.upcase`, `{…}.merge(x)`, `[…][0]`
        let next = self.cur();
        match next.kind {
            Tok::Punct("." | "&." | "::") => skip(next.pos, self.method_reason(self.i)),
            Tok::Punct("[") if !next.spaced => skip(
                next.pos,
                "indexes into a value, which cannot be evaluated statically",
            ),
            _ => Ok(Spanned::new(value, pos)),
        }
    }

    /// `( value )`, as in `external_url ('…')`; the value keeps its own
    /// position.
    fn parenthesized(&mut self, depth: usize) -> PResult<Spanned<Value>> {
        let open = self.cur().clone();
        self.i += 1;
        self.skip_newlines();
        if matches!(self.kind(), Tok::Eof) {
            return Err(self.unclosed(&open, ')'));
        }
        let inner = self.value(depth)?;
        self.skip_newlines();
        match self.kind() {
            Tok::Punct(")") => {
                self.i += 1;
                Ok(inner)
            }
            Tok::Eof => Err(self.unclosed(&open, ')')),
            _ => Err(self.after_value("')' after the value", false)),
        }
    }

    fn literal(&mut self, v: Value) -> Value {
        self.i += 1;
        v
    }

    /// The text of a symbol or quoted key, unless it interpolates.
    fn static_text(&self, lit: &Lit, at: usize) -> PResult<String> {
        match lit.dynamic {
            None => Ok(lit.value.clone()),
            Some(Dynamic::Interpolation) => skip(self.tok(at).pos, self.interpolation_reason(at)),
            Some(Dynamic::RawByte) => skip(self.tok(at).pos, raw_byte_reason()),
        }
    }

    /// One string literal, or several adjacent ones (`'a' "b"`), which Ruby
    /// concatenates.
    fn string_value(&mut self) -> PResult<Value> {
        let mut s = String::new();
        while let Tok::Str { lit, label: false } = self.kind() {
            s.push_str(&self.static_text(lit, self.i)?);
            self.i += 1;
        }
        Ok(Value::Str(s))
    }

    fn interpolation_reason(&self, at: usize) -> String {
        format!(
            "uses string interpolation ({}), which cannot be evaluated statically",
            self.excerpt(at, at + 1)
        )
    }

    /// Why a value starting with the identifier, constant or variable at `j`
    /// cannot be evaluated.
    fn reference_reason(&self, j: usize) -> String {
        let t = self.tok(j);
        let end = self.chain_end(j + 1);
        let text = self.excerpt(j, end);
        let called = end > j + 1;
        match &t.kind {
            Tok::Const(c) if c == "ENV" => {
                if matches!(self.tok(end).kind, Tok::Punct("=")) {
                    format!("sets {text}, which only affects the Ruby process that reads the file")
                } else {
                    format!("uses {text}, which is only known on the old host")
                }
            }
            _ if called => format!("calls {text}, which cannot be evaluated statically"),
            Tok::Const(c) => format!("uses the constant `{c}`, which cannot be evaluated statically"),
            Tok::Var(v) => format!("uses the variable `{v}`, which cannot be evaluated statically"),
            Tok::Ident(v) => match self.locals.get(v) {
                Some(line) => format!(
                    "uses the local variable `{v}` (assigned on line {line}), which cannot be evaluated statically"
                ),
                None => format!("uses `{v}`, a variable or method call that cannot be evaluated statically"),
            },
            _ => format!("uses {text}, which cannot be evaluated statically"),
        }
    }

    fn array(&mut self, depth: usize) -> PResult<Value> {
        let mut items = ItemList::default();
        self.delimited(']', "an array element", |p| {
            let item = p.list_item(depth)?;
            items.push(item)
        })?;
        Ok(Value::Array(items.finish()))
    }

    fn hash(&mut self, depth: usize) -> PResult<Value> {
        let mut pairs = Vec::new();
        self.delimited('}', "a hash value", |p| {
            pairs.push(p.hash_pair(depth)?);
            Ok(())
        })?;
        Ok(Value::Hash(pairs))
    }

    fn at_label(&self) -> bool {
        matches!(self.kind(), Tok::Label(_) | Tok::Str { label: true, .. })
    }

    /// `key => value`, `key: value` or `"key": value` inside braces.
    fn hash_pair(&mut self, depth: usize) -> PResult<(Spanned<Value>, Spanned<Value>)> {
        if self.at_label() {
            return self.label_pair(depth);
        }
        let key = self.value(depth)?;
        // Unlike after `=>`, Ruby allows no newline before it.
        if !matches!(self.kind(), Tok::Punct("=>")) {
            return Err(self.after_value("'=>' after a hash key", false));
        }
        self.i += 1;
        self.skip_newlines();
        let value = self.value(depth)?;
        Ok((key, value))
    }

    /// `name: value` or `"name": value`; the key is a symbol.
    fn label_pair(&mut self, depth: usize) -> PResult<(Spanned<Value>, Spanned<Value>)> {
        let t = self.cur().clone();
        let name = match &t.kind {
            Tok::Label(n) => n.clone(),
            Tok::Str { lit, .. } => self.static_text(lit, self.i)?,
            _ => return Err(self.expected("a hash key")),
        };
        self.i += 1;
        // Ruby continues a label's value on the next line.
        self.skip_newlines();
        if matches!(self.kind(), Tok::Punct("," | "}" | ")") | Tok::Eof) {
            return skip(
                t.pos,
                format!("uses the shorthand `{name}:`, which reads a variable and cannot be evaluated statically"),
            );
        }
        let value = self.value(depth)?;
        Ok((Spanned::new(Value::Symbol(name), t.pos), value))
    }
}

fn describe_op(t: &Tok) -> &'static str {
    match t {
        Tok::Punct(p) => p,
        _ => "=",
    }
}

fn pattern_reason() -> String {
    "uses pattern matching, which cannot be evaluated statically".into()
}

fn block_reason() -> String {
    "passes a block to a method, which cannot be evaluated statically".into()
}

fn raw_byte_reason() -> String {
    "has a string with a raw byte escape, which is not valid UTF-8".into()
}
