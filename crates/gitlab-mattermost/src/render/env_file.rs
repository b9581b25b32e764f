//! `mattermost.env`: the non-secret environment, in systemd `EnvironmentFile=` syntax.
//!
//! Values that need it are double-quoted with `\`, `"`, `` ` `` and `$` escaped; newlines stay
//! literal inside the quotes, which systemd (and `gitlab-mattermost exec`) read back verbatim.

use crate::validate::Plan;

pub fn render(plan: &Plan) -> String {
    let mut out = format!("# {}\n", super::HEADER);
    out.push_str("# Secrets are not here: they are read from files at service start.\n");
    for (name, value) in &plan.env {
        out.push_str(name);
        out.push('=');
        out.push_str(&quote(value));
        out.push('\n');
    }
    out
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

/// Parse an environment file written in systemd's syntax (the subset [`render`] writes, plus
/// single quotes, comments and backslash-newline continuations).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    loop {
        // Skip blank space and comments between assignments.
        while let Some(&c) = chars.peek() {
            if c == '\n' {
                line += 1;
                chars.next();
            } else if c.is_whitespace() {
                chars.next();
            } else if c == '#' || c == ';' {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
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
            if c == '=' || c == '\n' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let name = name.trim().to_string();
        if chars.next() != Some('=') || name.is_empty() {
            return Err(format!("line {line}: expected NAME=value"));
        }
        let mut value = String::new();
        let mut pending_space = String::new();
        loop {
            match chars.next() {
                None => break,
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some('"') => {
                    value.push_str(&pending_space);
                    pending_space.clear();
                    loop {
                        match chars.next() {
                            None => return Err(format!("line {line}: unterminated double quote")),
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some('\n') => line += 1,
                                Some(c @ ('"' | '\\' | '`' | '$')) => value.push(c),
                                Some(c) => {
                                    value.push('\\');
                                    value.push(c);
                                }
                                None => {
                                    return Err(format!("line {line}: unterminated double quote"))
                                }
                            },
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                        }
                    }
                }
                Some('\'') => {
                    value.push_str(&pending_space);
                    pending_space.clear();
                    loop {
                        match chars.next() {
                            None => return Err(format!("line {line}: unterminated single quote")),
                            Some('\'') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                value.push(c);
                            }
                        }
                    }
                }
                Some('\\') => match chars.next() {
                    Some('\n') => line += 1,
                    Some(c) => {
                        value.push_str(&pending_space);
                        pending_space.clear();
                        value.push(c);
                    }
                    None => break,
                },
                Some(c) if c.is_whitespace() => {
                    if !value.is_empty() {
                        pending_space.push(c);
                    }
                }
                Some(c) => {
                    value.push_str(&pending_space);
                    pending_space.clear();
                    value.push(c);
                }
            }
        }
        vars.push((name, value));
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
}
