//! Finding where a statement ends without understanding it.
//!
//! When a statement cannot be evaluated statically it is skipped as a whole,
//! which needs its extent: a statement ends at a newline or `;` once every
//! bracket and every `if/unless/while/until/case/begin/def/class/module/for/do
//! … end` opened in it is closed, unless the line ends in an operator or the
//! next line starts with `.` (Ruby's continuation rules). Unbalanced closers
//! found on the way are genuine syntax errors.

use crate::lexer::{is_keyword, Tok, Token, VALUE_KEYWORDS};
use crate::parser::describe;
use crate::{Pos, SyntaxError};

/// Tokens that cannot end an expression, so a newline after them continues
/// the statement. `|` is left out because `do |x|` ends with it.
const CONTINUATION: &[&str] = &[
    ".", "&.", "::", ",", "=", "==", "!=", "===", "=~", "!~", "=>", "+", "-", "*", "/", "%", "**",
    "&&", "||", "<", ">", "<=", ">=", "<=>", "<<", ">>", "?", ":", "+=", "-=", "*=", "/=", "%=",
    "**=", "||=", "&&=", "|=", "&=", "^=", "<<=", ">>=", "!", "->", "&", "^",
];

/// Something opened and not yet closed.
struct Open {
    /// `(`, `[`, `{` or the keyword, for messages.
    what: String,
    /// What closes it: `)`, `]`, `}` or `end`.
    closer: &'static str,
    pos: Pos,
}

/// Returns the index of the token that ends the statement starting at
/// `start`: a `Newline`, `;` or `Eof` at nesting level zero.
///
/// `lex_error` is the lexer's error, if it stopped early: reaching the end of
/// the tokens then means the real problem is that error.
pub(crate) fn statement_end(
    toks: &[Token],
    start: usize,
    lex_error: Option<&SyntaxError>,
) -> Result<usize, SyntaxError> {
    let mut stack: Vec<Open> = Vec::new();
    // After `while cond`, `until cond` or `for x in y` an optional `do` on the
    // same line belongs to the loop rather than opening a block.
    let mut loop_do = false;
    for (j, t) in toks.iter().enumerate().skip(start) {
        match &t.kind {
            Tok::Eof => {
                return match (lex_error, stack.last()) {
                    (Some(e), _) => Err(e.clone()),
                    (None, Some(open)) => Err(never_closed(open)),
                    (None, None) => match dangling_operator(toks, j) {
                        Some(op) => Err(SyntaxError::new(
                            op.pos,
                            format!(
                                "expected an operand after {}, found the end of the file",
                                describe(&op.kind)
                            ),
                        )),
                        None => Ok(j),
                    },
                };
            }
            Tok::Newline => {
                loop_do = false;
                if stack.is_empty() && !continues(toks, j) {
                    return Ok(j);
                }
            }
            Tok::Punct(";") if stack.is_empty() => return Ok(j),
            Tok::Punct(p @ ("(" | "[" | "{")) => stack.push(Open {
                what: (*p).to_string(),
                closer: closer_of(p),
                pos: t.pos,
            }),
            Tok::Punct(p @ (")" | "]" | "}")) => close(&mut stack, t, p)?,
            Tok::Ident(name) if keyword_at(toks, j) => match name.as_str() {
                "end" => close(&mut stack, t, "end")?,
                "if" | "unless" | "while" | "until" if !ends_value(toks, j) => {
                    loop_do = matches!(name.as_str(), "while" | "until");
                    stack.push(keyword_open(name, t.pos));
                }
                "for" => {
                    loop_do = true;
                    stack.push(keyword_open(name, t.pos));
                }
                "do" if loop_do => loop_do = false,
                "case" | "begin" | "def" | "class" | "module" | "do" => {
                    stack.push(keyword_open(name, t.pos))
                }
                _ => {}
            },
            _ => {}
        }
    }
    // The token list always ends with Eof, so this is only reached for an
    // out-of-range start; treat it as the end of the input.
    Ok(toks.len().saturating_sub(1))
}

fn closer_of(open: &str) -> &'static str {
    match open {
        "(" => ")",
        "[" => "]",
        _ => "}",
    }
}

fn keyword_open(name: &str, pos: Pos) -> Open {
    Open {
        what: name.to_string(),
        closer: "end",
        pos,
    }
}

fn quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphabetic()) {
        format!("`{s}`")
    } else {
        format!("'{s}'")
    }
}

fn close(stack: &mut Vec<Open>, t: &Token, closer: &str) -> Result<(), SyntaxError> {
    match stack.pop() {
        Some(open) if open.closer == closer => Ok(()),
        Some(open) => Err(SyntaxError::new(
            t.pos,
            format!(
                "expected {} to close {} from {}, found {}",
                quote(open.closer),
                quote(&open.what),
                open.pos,
                describe(&t.kind)
            ),
        )),
        None if closer == "end" => Err(SyntaxError::new(
            t.pos,
            "unexpected `end`; there is no open block for it to close",
        )),
        None => Err(SyntaxError::new(
            t.pos,
            format!(
                "unexpected {}; there is no matching opening bracket",
                quote(closer)
            ),
        )),
    }
}

fn never_closed(open: &Open) -> SyntaxError {
    SyntaxError::new(
        open.pos,
        format!(
            "{} opened here is never closed; expected {} before the end of the file",
            quote(&open.what),
            quote(open.closer)
        ),
    )
}

/// Whether the identifier at `j` is used as a keyword (not as a method name
/// after `.`, as in `File.class`, or as a name being defined).
pub(crate) fn keyword_at(toks: &[Token], j: usize) -> bool {
    let Some(Tok::Ident(name)) = toks.get(j).map(|t| &t.kind) else {
        return false;
    };
    let prev = j.checked_sub(1).and_then(|p| toks.get(p)).map(|t| &t.kind);
    is_keyword(name)
        && !matches!(prev, Some(Tok::Punct("." | "&." | "::")))
        && !matches!(prev, Some(Tok::Ident(d)) if d == "def")
}

/// Whether the token before `j` ends an operand, which makes an `if` /
/// `unless` / `while` / `until` at `j` a trailing modifier.
pub(crate) fn ends_value(toks: &[Token], j: usize) -> bool {
    let Some(p) = j.checked_sub(1) else {
        return false;
    };
    let Some(prev) = toks.get(p) else {
        return false;
    };
    match &prev.kind {
        Tok::Punct(p) => matches!(*p, ")" | "]" | "}"),
        Tok::Ident(name) if keyword_at(toks, p) => VALUE_KEYWORDS.contains(&name.as_str()),
        Tok::Ident(_)
        | Tok::Const(_)
        | Tok::Var(_)
        | Tok::Str { .. }
        | Tok::Int(_)
        | Tok::BigInt
        | Tok::Float(_)
        | Tok::Symbol(_)
        | Tok::Words { .. }
        | Tok::Regex
        | Tok::Command => true,
        Tok::Label(_) | Tok::Other(_) | Tok::Newline | Tok::Eof => false,
    }
}

/// The operator that ends the input before the `Eof` at `eof`, if any
/// (`x = 1 +`), which leaves an expression incomplete.
fn dangling_operator(toks: &[Token], eof: usize) -> Option<&Token> {
    let mut p = eof.checked_sub(1)?;
    if matches!(toks.get(p)?.kind, Tok::Newline) {
        p = p.checked_sub(1)?;
    }
    let t = toks.get(p)?;
    match &t.kind {
        Tok::Punct(op) if CONTINUATION.contains(op) => Some(t),
        _ => None,
    }
}

/// Whether the newline at `j` continues the statement: the line ends in an
/// operator, or the next line starts a `.method` chain.
pub(crate) fn continues(toks: &[Token], j: usize) -> bool {
    let prev = j.checked_sub(1).and_then(|p| toks.get(p)).map(|t| &t.kind);
    let next = toks.get(j + 1).map(|t| &t.kind);
    let trailing_op = match prev {
        Some(Tok::Punct(p)) => CONTINUATION.contains(p),
        Some(Tok::Ident(k)) => {
            matches!(k.as_str(), "and" | "or" | "not")
                && j.checked_sub(1).is_some_and(|p| keyword_at(toks, p))
        }
        _ => false,
    };
    trailing_op || matches!(next, Some(Tok::Punct("." | "&.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::lex;

    fn end_line(src: &str) -> Result<u32, SyntaxError> {
        let l = lex(src);
        let j = statement_end(&l.tokens, 0, l.error.as_ref())?;
        Ok(l.tokens[j].pos.line)
    }

    #[test]
    fn nesting_and_keywords() {
        assert_eq!(end_line("if a\n x = [1,\n 2]\nend\nfoo"), Ok(4));
        assert_eq!(end_line("x = 1 if a\nfoo"), Ok(1));
        assert_eq!(end_line("while a do\n b\nend\nc"), Ok(3));
        assert_eq!(end_line("x = File.class\ny"), Ok(1));
        assert_eq!(end_line("x = a +\n b\n .strip\nc"), Ok(3));
        assert_eq!(end_line("foo do |x|\n x\nend\n"), Ok(3));
    }

    #[test]
    fn imbalance_is_an_error() {
        let e = end_line("if a\n x = (1]\nend").unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 8));
        let e = end_line("x = {\n").unwrap_err();
        assert_eq!(e.pos, Pos::new(1, 5));
        assert!(e.message.contains("never closed"), "{}", e.message);
    }
}
