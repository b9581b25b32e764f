//! nginx's configuration syntax.
//!
//! A directive argument that holds anything but plain characters is written in double quotes,
//! where `\` and `"` are backslash-escaped and `;`, `{`, `}`, `#`, quotes and whitespace lose
//! their meaning ([`arg`]). `$` cannot be escaped: nginx reads `$name` as a variable wherever
//! variables are allowed (certificate paths since 1.15.9, header values), so a literal `$` is
//! refused ([`literal_problem`]) and a header value may only use it to name a variable
//! ([`header_value_problem`]).

/// Characters written as they are; anything else makes the argument quoted.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-:=+,@~$[]".contains(c)
}

/// One directive argument: as it is when plain, else double-quoted with `\` and `"` escaped.
pub fn arg(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Why `s` cannot be a literal argument (a path), if it cannot.
pub fn literal_problem(s: &str) -> Option<&'static str> {
    if s.chars().any(char::is_control) {
        return Some("nginx arguments cannot hold control characters");
    }
    s.contains('$').then_some(
        "nginx reads `$` as the start of a variable and has no escape for it: rename the file or directory",
    )
}

/// Why `value` cannot be a `proxy_set_header` value, if it cannot: no control characters
/// (they would end the HTTP header), no surrounding whitespace (HTTP drops it), and `$` only
/// to name a variable (`$host`, `${msec}`).
pub fn header_value_problem(value: &str) -> Option<String> {
    if value.chars().any(char::is_control) {
        return Some("a header value cannot hold control characters such as a newline".into());
    }
    if value.trim() != value {
        return Some("a header value cannot start or end with whitespace (HTTP drops it)".into());
    }
    let bytes = value.as_bytes();
    let mut i = 0;
    while let Some(off) = value.get(i..).and_then(|rest| rest.find('$')) {
        let start = i + off + 1;
        let name_len = |from: usize| {
            bytes
                .get(from..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count()
        };
        let next = if bytes.get(start) == Some(&b'{') {
            let n = name_len(start + 1);
            (n > 0 && bytes.get(start + 1 + n) == Some(&b'}')).then_some(start + n + 2)
        } else {
            let n = name_len(start);
            (n > 0).then_some(start + n)
        };
        match next {
            Some(n) => i = n,
            None => {
                return Some(
                    "`$` starts an nginx variable (`$host`, `${msec}`) and cannot be escaped; a literal `$` cannot be sent"
                        .into(),
                )
            }
        }
    }
    None
}

/// Why raw lines for the inside of a `server` block would not stay inside it, if they would
/// not: every `{` closed, no `}` that closes the server block, every directive ended by `;`,
/// every quote closed. The line of the problem comes with it.
pub fn raw_block_problem(text: &str) -> Option<(usize, String)> {
    let mut r = RawReader {
        line: 1,
        ..RawReader::default()
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            r.line += 1;
        }
        if let Some(problem) = r.step(c, &mut chars) {
            return Some((r.line, problem.into()));
        }
    }
    if r.quote.is_some() {
        return Some((r.line, "a quote is not closed".into()));
    }
    if r.words > 0 {
        return Some((r.line, "the last directive does not end with `;`".into()));
    }
    (r.depth > 0).then(|| (r.line, "a `{` is not closed".into()))
}

/// The state of [`raw_block_problem`]'s walk through the text, following nginx's own reader
/// (`ngx_conf_read_token`).
#[derive(Default)]
struct RawReader {
    line: usize,
    depth: usize,
    /// Words of the directive being read.
    words: usize,
    in_word: bool,
    in_comment: bool,
    quote: Option<char>,
    /// Inside `${…}`.
    in_variable: bool,
    last: Option<char>,
}

impl RawReader {
    fn step(
        &mut self,
        c: char,
        chars: &mut std::iter::Peekable<std::str::Chars>,
    ) -> Option<&'static str> {
        let last = self.last.replace(c);
        if self.in_comment {
            self.in_comment = c != '\n';
            return None;
        }
        if let Some(q) = self.quote {
            if c == '\\' {
                if chars.next() == Some('\n') {
                    self.line += 1;
                }
            } else if c == q {
                self.quote = None;
            }
            return None;
        }
        match c {
            c if c.is_whitespace() => self.in_word = false,
            '#' if !self.in_word => self.in_comment = true,
            '"' | '\'' if !self.in_word => {
                self.quote = Some(c);
                self.words += 1;
                self.in_word = true;
            }
            '{' if self.in_word && last == Some('$') => self.in_variable = true,
            '}' if self.in_variable => self.in_variable = false,
            ';' => {
                if self.words == 0 {
                    return Some("unexpected `;`");
                }
                self.words = 0;
                self.in_word = false;
            }
            '{' => {
                if self.words == 0 {
                    return Some("unexpected `{`");
                }
                self.depth += 1;
                self.words = 0;
                self.in_word = false;
            }
            '}' => {
                if self.words > 0 {
                    return Some("a directive before `}` does not end with `;`");
                }
                if self.depth == 0 {
                    return Some("this `}` would close the server block");
                }
                self.depth -= 1;
                self.in_word = false;
            }
            '\\' => {
                if !self.in_word {
                    self.words += 1;
                    self.in_word = true;
                }
                if chars.next() == Some('\n') {
                    self.line += 1;
                }
            }
            _ => {
                if !self.in_word {
                    self.words += 1;
                    self.in_word = true;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_when_needed() {
        assert_eq!(arg("$host"), "$host");
        assert_eq!(arg("t=$msec"), "t=$msec");
        assert_eq!(arg("/etc/ssl/c d;{}.pem"), "\"/etc/ssl/c d;{}.pem\"");
        assert_eq!(arg("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn dollars_only_name_variables() {
        for ok in ["$host", "t=$msec", "${msec}x", "plain", "a{b}", "$a$b"] {
            assert_eq!(header_value_problem(ok), None, "{ok}");
        }
        for bad in ["$", "a$", "$-x", "${x", "${}", " x", "x\n", "a\rb"] {
            assert!(header_value_problem(bad).is_some(), "{bad:?}");
        }
        assert!(literal_problem("/etc/ssl/$host.pem").is_some());
        assert!(literal_problem("/etc/ssl/a b;{}.pem").is_none());
    }

    #[test]
    fn raw_lines_stay_inside_the_server_block() {
        for ok in [
            "",
            "location = /robots.txt {\n    return 200 \"User-agent: *\\nDisallow: /\\n\";\n}\n",
            "add_header X-A \"}\";  # a } in a comment\n",
            "set $x \"${host}\";\n",
        ] {
            assert_eq!(raw_block_problem(ok), None, "{ok}");
        }
        for (bad, line) in [
            ("}\nserver { listen 1; }", 1),
            ("location / {\n", 2),
            ("return 200\n", 2),
            ("add_header X \"open;\n", 2),
            ("a;\n;\n", 2),
        ] {
            let (l, _) = raw_block_problem(bad).unwrap_or_else(|| panic!("{bad:?}"));
            assert_eq!(l, line, "{bad:?}");
        }
    }
}
