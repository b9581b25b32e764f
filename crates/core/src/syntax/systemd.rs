//! systemd's unit, sysusers.d and tmpfiles.d syntax (systemd.syntax(7)).
//!
//! Every value is subject to `%` specifiers, so `%` is always doubled. Beyond that, systemd
//! reads values in three ways, and each has its escape here:
//!
//! - taken literally to the end of the line (`Description=`, `WorkingDirectory=`, the path
//!   of `LoadCredential=`, `User=`): [`literal`];
//! - split into words that may be quoted (`ReadWritePaths=`, the fields of sysusers.d and
//!   tmpfiles.d lines): [`word`];
//! - `ExecStart=`, whose arguments are words in which `$VAR` is also expanded
//!   ([`exec_arg`]) and whose program is a word where it is not ([`exec_program`]).
//!
//! The last field of a tmpfiles.d line is taken to the end of the line with C escapes:
//! [`tmpfiles_argument`]. Paths are checked first (see [`super::paths`]): no control
//! characters, no trailing space or backslash.

use std::fmt::Write;

/// Characters written as they are; anything else makes a word quoted.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-+,:@=".contains(c)
}

/// A value systemd takes literally apart from specifiers: `%` doubled.
pub fn literal(s: &str) -> String {
    s.replace('%', "%%")
}

/// One word of a space-separated list: as it is when plain, else double-quoted with `\` and
/// `"` backslash-escaped; `%` doubled either way. These lists have no escape for control
/// characters: paths are checked to have none.
pub fn word(s: &str) -> String {
    quote_word(s, Mode::Word)
}

/// One argument of `ExecStart=` after the program: a [`word`] in which `$` is also doubled,
/// because systemd expands `$VAR` and `${VAR}` in arguments when the service starts, and
/// control characters are C escapes (`\n`), which `ExecStart=` reads.
pub fn exec_arg(s: &str) -> String {
    quote_word(s, Mode::Argument)
}

/// The program of `ExecStart=`: a [`word`] (systemd does not expand `$` in it). Check
/// [`program_problem`] first: systemd refuses some characters there outright.
pub fn exec_program(s: &str) -> String {
    quote_word(s, Mode::Word)
}

/// Why `s` cannot be the program of `ExecStart=`, if it cannot: systemd refuses program
/// paths with quotes or backslashes ("Executable name contains special characters").
pub fn program_problem(s: &str) -> Option<&'static str> {
    s.contains(['"', '\'', '\\', '\u{7f}'])
        .then_some("systemd refuses quotes and backslashes in the path of the program it starts")
}

/// The argument field of a tmpfiles.d line (e.g. the target of `L+`): read to the end of the
/// line with C escapes and specifiers, so `\` and `%` are doubled.
pub fn tmpfiles_argument(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "%%")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Word,
    Argument,
}

fn quote_word(s: &str, mode: Mode) -> String {
    // Plain characters include neither `%` nor `$`: a plain word needs no escape at all.
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '$' if mode == Mode::Argument => out.push_str("$$"),
            c if c.is_control() && mode == Mode::Argument => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_as_they_are() {
        assert_eq!(word("/var/lib/mattermost"), "/var/lib/mattermost");
        assert_eq!(
            exec_arg("gitlab_id=MM_GITLABSETTINGS_ID"),
            "gitlab_id=MM_GITLABSETTINGS_ID"
        );
        assert_eq!(literal("/var/lib/mm%Z"), "/var/lib/mm%%Z");
    }

    #[test]
    fn other_words_are_quoted_and_escaped() {
        assert_eq!(word("/tmp/my dir"), "\"/tmp/my dir\"");
        assert_eq!(word("/a\"b\\c%d"), "\"/a\\\"b\\\\c%%d\"");
        assert_eq!(exec_arg("/a $HOME"), "\"/a $$HOME\"");
        assert_eq!(exec_arg("/a\nb"), "\"/a\\u000ab\"");
        assert_eq!(exec_program("/a $HOME"), "\"/a $HOME\"");
        assert_eq!(tmpfiles_argument("/a\\b%c d"), "/a\\\\b%%c d");
        assert!(program_problem("/opt/x\"y").is_some());
        assert!(program_problem("/opt/my dir/x").is_none());
    }
}
