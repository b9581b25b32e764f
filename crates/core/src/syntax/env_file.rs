//! Environment files in systemd's `EnvironmentFile=` syntax: how `mattermost.env` is written
//! ([`quote`]) and how `gitlab-mattermost exec` reads it back ([`parse`]).
//!
//! Values that need it are double-quoted with `\`, `"`, `` ` `` and `$` escaped; newlines stay
//! literal inside the quotes. Names are `[A-Za-z_][A-Za-z0-9_]*`; a NUL byte cannot be passed
//! to a program at all, so validation refuses it and the reader reports its line.
//!
//! The reader ends a line where systemd's does (`parse_env_file_internal` in
//! `src/basic/env-file.c`, `NEWLINE "\n\r"`): at a line feed and at a carriage return alike,
//! so `A=1<CR>B=2` is two variables to both. Inside quotes a carriage return is kept, as
//! systemd keeps it; a backslash before one outside quotes joins the lines, as before a line
//! feed. Lines are counted for messages as an editor shows them: CRLF is one line end.

use std::iter::Peekable;
use std::str::Chars;

use super::names::is_env_name;

/// The longest `NAME=value` string the kernel passes to a program (`MAX_ARG_STRLEN`, 32
/// pages, including the terminating NUL); `execve` fails with E2BIG beyond it.
pub const MAX_ENTRY_BYTES: usize = 32 * 4096;

/// The most the rendered environment may take in all. The kernel passes arguments and
/// environment together up to a quarter of the stack limit (2 MiB with the usual 8 MiB);
/// half of that is kept for the secrets added at start and for the program's arguments.
pub const MAX_TOTAL_BYTES: usize = 1024 * 1024;

/// Why `NAME=value` cannot be passed to a program, if it cannot.
pub fn entry_problem(name: &str, value: &str) -> Option<String> {
    if value.contains('\0') {
        return Some("a value cannot contain a NUL byte (programs cannot receive it)".into());
    }
    let bytes = name.len() + 1 + value.len() + 1;
    (bytes > MAX_ENTRY_BYTES).then(|| {
        format!(
            "NAME=value is {bytes} bytes, more than the {MAX_ENTRY_BYTES} the kernel passes to a program (execve would fail with E2BIG)"
        )
    })
}

/// The text of an environment file, or the line of the first byte that is not UTF-8.
pub fn decode(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid
            .iter()
            .enumerate()
            .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && valid.get(i + 1) != Some(&b'\n')))
            .count()
            + 1;
        format!("line {line}: not UTF-8 text")
    })
}

/// Quote a value for an environment file, only when needed.
pub fn quote(value: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@,+=%^~".contains(c);
    if !value.is_empty() && value.chars().all(plain) {
        return value.to_string();
    }
    let mut q = String::with_capacity(value.len() + 2);
    q.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '`' | '$') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// Whether `c` ends a line for systemd's environment file reader.
fn is_line_end(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// After the line end `c` was read: whether it ends a line as an editor counts them (a CR
/// right before an LF is counted with the LF).
fn counts_as_line(c: char, rest: &mut Peekable<Chars<'_>>) -> bool {
    c == '\n' || rest.peek() != Some(&'\n')
}

/// Blank space for systemd's reader: its `WHITESPACE` is ASCII " \t\n\r" only (the line ends
/// are handled apart). Any other space, a no-break space or a form feed, is an ordinary
/// character to it: part of a name (which is then not a name) or kept in a value.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parse an environment file as systemd's `EnvironmentFile=` reads it
/// (`parse_env_file_internal` in `src/basic/env-file.c`), or refuse it, naming the first line
/// where systemd would read something other than what the line seems to say:
///
/// - a line without `=` (systemd skips it without a word);
/// - a name that is not a variable name (systemd's `exec` drops it with a warning);
/// - a quote left open (systemd takes the rest of the file into the value);
/// - text after a closing quote and blank space (`A="x" y`: systemd drops the space and
///   reads `xy`; `A="x" # note` would be `x# note`);
/// - a NUL byte in a value.
///
/// Everything else reads as systemd reads it: a quote opens a quoted part only where a value
/// starts or right after a closing quote (`A=x"y"` is `x"y"`, `A="x"'y'` is `xy`); outside
/// quotes a backslash keeps the next character and a backslash before a line end joins the
/// lines; blank space is dropped around names and unquoted values, not inside them.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    loop {
        // Blank space and comments between assignments; a comment starts only where a name
        // could.
        while let Some(&c) = chars.peek() {
            if is_line_end(c) {
                chars.next();
                if counts_as_line(c, &mut chars) {
                    line += 1;
                }
            } else if is_blank(c) {
                chars.next();
            } else if c == '#' || c == ';' {
                while let Some(c) = chars.next() {
                    if is_line_end(c) {
                        if counts_as_line(c, &mut chars) {
                            line += 1;
                        }
                        break;
                    }
                }
            } else {
                break;
            }
        }
        if chars.peek().is_none() {
            return Ok(vars);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || is_line_end(c) {
                break;
            }
            name.push(c);
            chars.next();
        }
        let name = name.trim_end_matches(is_blank).to_string();
        if chars.next() != Some('=') {
            return Err(format!(
                "line {line}: {name:?} has no `=`, so it is not an assignment (systemd would skip the line without a word)"
            ));
        }
        if !is_env_name(&name) {
            let spaces = if name.chars().any(|c| c.is_whitespace() && !is_blank(c)) {
                " (systemd takes only ASCII spaces and tabs around a name as blank)"
            } else {
                ""
            };
            return Err(format!(
                "line {line}: {name:?} is not a variable name (letters, digits and `_`, not starting with a digit){spaces}"
            ));
        }
        let value_line = line;
        let value = read_value(&mut chars, &mut line)?;
        if value.contains('\0') {
            return Err(format!(
                "line {value_line}: the value of {name} contains a NUL byte"
            ));
        }
        vars.push((name, value));
    }
}

/// Where a value's reader is: where a value or a quoted part may start (systemd's
/// `PRE_VALUE`), or inside unquoted text (`VALUE`).
#[derive(PartialEq)]
enum At {
    /// Before the value, or after a closing quote (`after_quote`), with blank space seen
    /// since that quote (`spaced`).
    Start {
        after_quote: bool,
        spaced: bool,
    },
    Unquoted,
}

/// The value after `=`, up to and including its line end.
fn read_value(chars: &mut Peekable<Chars<'_>>, line: &mut usize) -> Result<String, String> {
    let mut value = String::new();
    let mut at = At::Start {
        after_quote: false,
        spaced: false,
    };
    // Where the blank space ending the unquoted text starts: systemd chomps it.
    let mut trailing: Option<usize> = None;
    while let Some(c) = chars.next() {
        if is_line_end(c) {
            if counts_as_line(c, chars) {
                *line += 1;
            }
            break;
        }
        match at {
            At::Start {
                after_quote,
                spaced,
            } => {
                if is_blank(c) {
                    at = At::Start {
                        after_quote,
                        spaced: after_quote,
                    };
                    continue;
                }
                if spaced {
                    return Err(format!(
                        "line {line}: text after a closing quote and blank space (systemd would drop the space and join the text to the quoted part); quote the whole value",
                        line = *line
                    ));
                }
                match c {
                    '"' => {
                        double_quoted(chars, line, &mut value)?;
                        at = At::Start {
                            after_quote: true,
                            spaced: false,
                        };
                    }
                    '\'' => {
                        single_quoted(chars, line, &mut value)?;
                        at = At::Start {
                            after_quote: true,
                            spaced: false,
                        };
                    }
                    '\\' => {
                        escaped(chars, line, &mut value);
                        at = At::Unquoted;
                    }
                    c => {
                        value.push(c);
                        at = At::Unquoted;
                    }
                }
            }
            At::Unquoted => match c {
                '\\' => {
                    trailing = None;
                    escaped(chars, line, &mut value);
                }
                c if is_blank(c) => {
                    trailing.get_or_insert(value.len());
                    value.push(c);
                }
                c => {
                    trailing = None;
                    value.push(c);
                }
            },
        }
    }
    if let (At::Unquoted, Some(end)) = (at, trailing) {
        value.truncate(end);
    }
    Ok(value)
}

/// After a backslash outside quotes: the next character as it is, or, when it is a line end,
/// nothing (the lines are joined; of a CRLF only the CR is taken, so the LF ends the line).
fn escaped(chars: &mut Peekable<Chars<'_>>, line: &mut usize, value: &mut String) {
    match chars.next() {
        Some(c) if is_line_end(c) && counts_as_line(c, chars) => *line += 1,
        Some(c) if is_line_end(c) => {}
        Some(c) => value.push(c),
        None => {}
    }
}

/// A double-quoted part, after its opening quote: `\` keeps `"`, `\`, `` ` `` and `$` (the
/// characters a shell needs escaped), joins lines before a line feed, and stays before
/// anything else.
fn double_quoted(
    chars: &mut Peekable<Chars<'_>>,
    line: &mut usize,
    value: &mut String,
) -> Result<(), String> {
    let open = *line;
    // Found at the end of the file; the line that opened it is where to look.
    let unterminated =
        |end: usize| format!("line {end}: unterminated double quote (opened on line {open})");
    loop {
        match chars.next().ok_or_else(|| unterminated(*line))? {
            '"' => return Ok(()),
            '\\' => match chars.next().ok_or_else(|| unterminated(*line))? {
                '\n' => *line += 1,
                c @ ('"' | '\\' | '`' | '$') => value.push(c),
                c => {
                    if is_line_end(c) && counts_as_line(c, chars) {
                        *line += 1;
                    }
                    value.push('\\');
                    value.push(c);
                }
            },
            c => {
                if is_line_end(c) && counts_as_line(c, chars) {
                    *line += 1;
                }
                value.push(c);
            }
        }
    }
}

/// A single-quoted part, after its opening quote: every character as it is.
fn single_quoted(
    chars: &mut Peekable<Chars<'_>>,
    line: &mut usize,
    value: &mut String,
) -> Result<(), String> {
    let open = *line;
    loop {
        match chars.next() {
            None => {
                return Err(format!(
                    "line {}: unterminated single quote (opened on line {open})",
                    *line
                ))
            }
            Some('\'') => return Ok(()),
            Some(c) => {
                if is_line_end(c) && counts_as_line(c, chars) {
                    *line += 1;
                }
                value.push(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_awkward_values() {
        let values = [
            "plain",
            "",
            "with space",
            "quote \" and 'single'",
            "back\\slash",
            "dollar $HOME ${X}",
            "back`tick`",
            "multi\nline\n",
            "  leading and trailing  ",
            "ünïcødé",
        ];
        let mut text = String::new();
        for (i, v) in values.iter().enumerate() {
            text.push_str(&format!("V{i}={}\n", quote(v)));
        }
        let parsed = parse(&text).expect("parses");
        let got: Vec<&str> = parsed.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(got, values);
    }

    #[test]
    fn comments_and_unquoted_values() {
        let parsed = parse("# c\n\nA=1\n  B = x y  \nC='lit $X'\n").expect("parses");
        assert_eq!(
            parsed,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x y".into()),
                ("C".into(), "lit $X".into())
            ]
        );
        assert!(parse("A=\"open\n").is_err());
        assert!(parse("=x\n").is_err());
    }

    #[test]
    fn bad_names_and_nul_bytes_are_reported_with_their_line() {
        for (text, line) in [
            ("A=1\nexport FOO=bar\n", 2),
            ("MY VAR=1\n", 1),
            ("A=1\n\nA-B=1\n", 3),
            ("A=1\nB=x\0y\n", 2),
            ("A=\"multi\nline\"\n1X=2\n", 3),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.starts_with(&format!("line {line}:")), "{text:?}: {err}");
        }
        assert_eq!(
            decode(b"A=1\nB=\xff\n"),
            Err("line 2: not UTF-8 text".into())
        );
    }
}
