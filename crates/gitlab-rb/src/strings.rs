//! Resolving the escapes inside string-like literals.
//!
//! The lexer first finds where a literal ends (which needs to know about
//! escapes and interpolation only enough to not stop early); the functions
//! here then turn the raw text between the delimiters into the string value.

use crate::{Pos, SyntaxError};
use std::iter::Peekable;
use std::str::Chars;

/// Walks raw literal text while tracking the source position of each char,
/// so escape errors can point at the exact backslash.
pub(crate) struct Walker<'a> {
    chars: Peekable<Chars<'a>>,
    pos: Pos,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(text: &'a str, start: Pos) -> Self {
        Walker {
            chars: text.chars().peekable(),
            pos: start,
        }
    }

    pub(crate) fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn next_if(&mut self, f: impl Fn(char) -> bool) -> Option<char> {
        match self.peek() {
            Some(c) if f(c) => self.next().map(|(c, _)| c),
            _ => None,
        }
    }
}

impl Iterator for Walker<'_> {
    type Item = (char, Pos);

    fn next(&mut self) -> Option<(char, Pos)> {
        let c = self.chars.next()?;
        let at = self.pos;
        if c == '\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.column = 1;
        } else {
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some((c, at))
    }
}

/// The value of a single-quoted literal body: only a backslash before another
/// backslash or before one of `delims` is an escape; every other backslash is
/// kept as written (Ruby semantics for `'…'` and `%q(…)`).
pub(crate) fn unescape_single(raw: &str, delims: &[char]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n == '\\' || delims.contains(&n) {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// The outcome of resolving a double-quoted body that has no interpolation.
#[derive(Debug)]
pub(crate) struct Unescaped {
    pub value: String,
    /// Set when an escape produced a byte that is not valid UTF-8 on its own
    /// (`"\xff"`, `"\377"`, `"\M-a"`): Ruby would build a binary string that
    /// has no faithful `String` representation here.
    pub raw_byte: bool,
}

/// Resolves the escapes of a double-quoted body (`"…"`, `%Q(…)`, heredocs,
/// `:"…"`). Unknown escapes keep the escaped char, as Ruby does.
pub(crate) fn unescape_double(raw: &str, start: Pos) -> Result<Unescaped, SyntaxError> {
    let mut out = Unescaped {
        value: String::with_capacity(raw.len()),
        raw_byte: false,
    };
    let mut w = Walker::new(raw, start);
    while let Some((c, at)) = w.next() {
        if c != '\\' {
            out.value.push(c);
            continue;
        }
        let Some((e, _)) = w.next() else {
            out.value.push('\\');
            break;
        };
        match e {
            'n' => out.value.push('\n'),
            't' => out.value.push('\t'),
            's' => out.value.push(' '),
            'r' => out.value.push('\r'),
            'a' => out.value.push('\x07'),
            'b' => out.value.push('\x08'),
            'e' => out.value.push('\x1b'),
            'f' => out.value.push('\x0c'),
            'v' => out.value.push('\x0b'),
            // A backslash-newline inside a string joins the lines.
            '\n' => {}
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match w.next_if(|c| c.is_digit(8)) {
                        Some(d) => v = v * 8 + d.to_digit(8).unwrap_or(0),
                        None => break,
                    }
                }
                push_byte(&mut out, v & 0xff);
            }
            'x' => {
                let mut v = 0;
                let mut n = 0;
                while n < 2 {
                    match w.next_if(|c| c.is_ascii_hexdigit()) {
                        Some(d) => v = v * 16 + d.to_digit(16).unwrap_or(0),
                        None => break,
                    }
                    n += 1;
                }
                if n == 0 {
                    return Err(SyntaxError::new(
                        at,
                        "invalid hex escape; expected a hex digit after \\x",
                    ));
                }
                push_byte(&mut out, v);
            }
            'u' => unicode_escape(&mut w, at, &mut out.value)?,
            'c' => control_escape(&mut w, &mut out),
            'C' | 'M' if w.peek() == Some('-') => {
                w.next();
                if e == 'C' {
                    control_escape(&mut w, &mut out);
                } else {
                    // Meta sets the high bit: always a raw byte.
                    w.next();
                    out.raw_byte = true;
                }
            }
            other => out.value.push(other),
        }
    }
    Ok(out)
}

fn push_byte(out: &mut Unescaped, v: u32) {
    match char::from_u32(v) {
        Some(c) if v < 0x80 => out.value.push(c),
        _ => out.raw_byte = true,
    }
}

/// `\cx` / `\C-x`: the control character for `x`.
fn control_escape(w: &mut Walker<'_>, out: &mut Unescaped) {
    match w.next() {
        Some(('?', _)) => out.value.push('\x7f'),
        Some((c, _)) if c.is_ascii() => push_byte(out, (c as u32) & 0x9f),
        Some(_) => out.raw_byte = true,
        None => {}
    }
}

/// `\uXXXX` or `\u{X…}` (several space-separated code points allowed).
fn unicode_escape(w: &mut Walker<'_>, at: Pos, out: &mut String) -> Result<(), SyntaxError> {
    let bad = |msg: &str| SyntaxError::new(at, format!("invalid Unicode escape; {msg}"));
    if w.peek() != Some('{') {
        let mut v = 0;
        for _ in 0..4 {
            match w.next_if(|c| c.is_ascii_hexdigit()) {
                Some(d) => v = v * 16 + d.to_digit(16).unwrap_or(0),
                None => return Err(bad("expected 4 hex digits after \\u")),
            }
        }
        out.push(char::from_u32(v).ok_or_else(|| bad("not a valid code point"))?);
        return Ok(());
    }
    w.next();
    let mut any = false;
    loop {
        while w.next_if(|c| c == ' ' || c == '\t').is_some() {}
        if w.next_if(|c| c == '}').is_some() {
            break;
        }
        let mut v: u32 = 0;
        let mut n = 0;
        while let Some(d) = w.next_if(|c| c.is_ascii_hexdigit()) {
            n += 1;
            if n > 6 {
                return Err(bad("at most 6 hex digits per code point"));
            }
            v = v * 16 + d.to_digit(16).unwrap_or(0);
        }
        if n == 0 {
            return Err(bad("expected hex digits and a closing '}' after \\u{"));
        }
        out.push(char::from_u32(v).ok_or_else(|| bad("not a valid code point"))?);
        any = true;
    }
    if !any {
        return Err(bad("expected hex digits inside \\u{}"));
    }
    Ok(())
}

/// Whether a double-quoted body interpolates: `#{…}`, `#@var`, `#@@var` or
/// `#$var` not preceded by an escaping backslash.
pub(crate) fn has_interpolation(raw: &str) -> bool {
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '#' => {
                if matches!(chars.peek(), Some('{' | '@' | '$')) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Splits the body of `%w[…]` / `%i[…]` (or, with `double`, `%W[…]` /
/// `%I[…]`) into words with their start positions. A backslash before
/// whitespace makes that whitespace part of the word.
pub(crate) fn split_words(
    raw: &str,
    start: Pos,
    delims: &[char],
    double: bool,
) -> Result<Vec<(String, Pos)>, SyntaxError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut cur_pos: Option<Pos> = None;
    let mut w = Walker::new(raw, start);
    while let Some((c, at)) = w.next() {
        if c.is_whitespace() {
            if let Some(p) = cur_pos.take() {
                words.push((finish_word(&cur, p, double)?, p));
                cur.clear();
            }
            continue;
        }
        cur_pos.get_or_insert(at);
        if c != '\\' {
            cur.push(c);
            continue;
        }
        match w.next() {
            Some((n, _)) if n.is_whitespace() || n == '\\' || delims.contains(&n) => {
                // Escaped again for the double-quoted pass; harmless for
                // unknown escapes, which keep the char.
                if double {
                    cur.push('\\');
                }
                cur.push(n);
            }
            Some((n, _)) => {
                cur.push('\\');
                cur.push(n);
            }
            None => cur.push('\\'),
        }
    }
    if let Some(p) = cur_pos {
        words.push((finish_word(&cur, p, double)?, p));
    }
    Ok(words)
}

fn finish_word(word: &str, pos: Pos, double: bool) -> Result<String, SyntaxError> {
    if !double {
        return Ok(word.to_string());
    }
    let u = unescape_double(word, pos)?;
    if u.raw_byte {
        return Err(SyntaxError::new(
            pos,
            "raw byte escapes are not supported in %W and %I words",
        ));
    }
    Ok(u.value)
}

/// Removes the common leading whitespace of a `<<~` heredoc body. Lines that
/// are blank do not count towards the common indentation.
pub(crate) fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.chars().take_while(|c| *c == ' ' || *c == '\t').count())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in lines {
        let mut rest = *line;
        for _ in 0..indent {
            match rest.strip_prefix([' ', '\t']) {
                Some(r) => rest = r,
                None => break,
            }
        }
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dq(s: &str) -> String {
        unescape_double(s, Pos::new(1, 1)).map(|u| u.value).unwrap()
    }

    #[test]
    fn double_quoted_escapes() {
        assert_eq!(dq(r"a\nb\t\s\\\q\e\0"), "a\nb\t \\q\x1b\0");
        assert_eq!(dq(r"\u00e9\u{1F600 41}"), "é😀A");
        assert_eq!(dq(r"\x41\101"), "AA");
        assert!(unescape_double(r"\xff", Pos::new(1, 1)).unwrap().raw_byte);
    }

    #[test]
    fn bad_unicode_escape_points_at_backslash() {
        let e = unescape_double("ab\\u12", Pos::new(3, 5)).unwrap_err();
        assert_eq!(e.pos, Pos::new(3, 7));
        let e = unescape_double("\\u{D800}", Pos::new(1, 1)).unwrap_err();
        assert!(e.message.contains("code point"));
    }

    #[test]
    fn single_quoted_escapes() {
        assert_eq!(unescape_single(r"it\'s \\ \n", &['\'']), "it's \\ \\n");
    }

    #[test]
    fn words() {
        let w = split_words("a  b\\ c\n d", Pos::new(1, 4), &['[', ']'], false).unwrap();
        let names: Vec<_> = w.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["a", "b c", "d"]);
        assert_eq!(w[2].1, Pos::new(2, 2));
    }

    #[test]
    fn interpolation_detection() {
        assert!(has_interpolation("a#{b}"));
        assert!(has_interpolation("#@x"));
        assert!(!has_interpolation("a\\#{b}"));
        assert!(!has_interpolation("a # b"));
    }

    #[test]
    fn dedent_ignores_blank_lines() {
        assert_eq!(dedent(&["    a\n", "\n", "      b\n"]), "a\n\n  b\n");
    }
}
