//! Turning the bytes of a `gitlab.rb` into text, as Ruby does.
//!
//! Ruby reads a source file as UTF-8 unless a magic comment on its first line
//! (or second, after a `#!` line) names another encoding. Bytes that are not
//! valid in that encoding are harmless in a comment (Ruby never decodes
//! comments) but make Ruby refuse the file anywhere else ("invalid multibyte
//! char"). Files edited on old systems often carry a Latin-1 byte in a
//! comment (a name, "café"), so such bytes must not fail the import, while
//! one inside a value must be reported where it is.
//!
//! Invalid sequences are replaced by U+FFFD so the lexer can run over the
//! whole file; afterwards each replacement that lies inside a token (not in a
//! comment, `=begin` block or after `__END__`) becomes a located error.

use crate::lexer::{Tok, Token};
use crate::{Pos, SyntaxError};

/// The encodings a `gitlab.rb` can declare and this crate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// UTF-8 (also US-ASCII and ASCII-8BIT, whose non-ASCII bytes must then
    /// be UTF-8 for the values to mean anything to Mattermost).
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same number.
    Latin1,
    /// Windows-1252: Latin-1 with printable characters in 0x80–0x9F.
    Windows1252,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Latin1 => "ISO-8859-1",
            Encoding::Windows1252 => "Windows-1252",
        }
    }
}

/// Bytes that could not be decoded, at a byte offset of the decoded text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Undecodable {
    offset: usize,
    bytes: Vec<u8>,
}

/// The decoded text and where replacement characters stand for bad bytes.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub text: String,
    encoding: Encoding,
    undecodable: Vec<Undecodable>,
}

/// Decodes `src` by its magic comment (UTF-8 without one). Fails only for a
/// declared encoding this crate cannot read.
pub(crate) fn decode(src: &[u8]) -> Result<Decoded, SyntaxError> {
    let encoding = match magic_comment(src) {
        None => Encoding::Utf8,
        Some((name, line)) => encoding_named(&name).ok_or_else(|| {
            SyntaxError::new(
                Pos::new(line, 1),
                format!(
                    "the magic comment declares the encoding `{name}`, which cannot be read \
                     here; convert the file to UTF-8 (iconv -f {name} -t UTF-8) and remove \
                     the comment"
                ),
            )
        })?,
    };
    Ok(match encoding {
        Encoding::Utf8 => utf8(src),
        Encoding::Latin1 | Encoding::Windows1252 => single_byte(src, encoding),
    })
}

fn utf8(src: &[u8]) -> Decoded {
    let mut text = String::with_capacity(src.len());
    let mut undecodable = Vec::new();
    for chunk in src.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            undecodable.push(Undecodable {
                offset: text.len(),
                bytes: chunk.invalid().to_vec(),
            });
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    Decoded {
        text,
        encoding: Encoding::Utf8,
        undecodable,
    }
}

/// Windows-1252's characters for 0x80–0x9F; `None` where it defines none.
const WINDOWS_1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

fn single_byte(src: &[u8], encoding: Encoding) -> Decoded {
    let mut text = String::with_capacity(src.len());
    let mut undecodable = Vec::new();
    for &b in src {
        let c = match (encoding, b) {
            (Encoding::Windows1252, 0x80..=0x9f) => WINDOWS_1252_HIGH[usize::from(b - 0x80)],
            _ => Some(char::from(b)),
        };
        match c {
            Some(c) => text.push(c),
            None => {
                undecodable.push(Undecodable {
                    offset: text.len(),
                    bytes: vec![b],
                });
                text.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
    Decoded {
        text,
        encoding,
        undecodable,
    }
}

/// Ruby's magic comment: `coding: NAME` or `coding=NAME` in a `#` comment on
/// the first line, or on the second when the first is a `#!` line. Returns
/// the name and its line.
fn magic_comment(src: &[u8]) -> Option<(String, u32)> {
    let src = src.strip_prefix(b"\xef\xbb\xbf").unwrap_or(src);
    let mut lines = src.split(|&b| b == b'\n');
    let first = lines.next()?;
    let (line, number) = if first.starts_with(b"#!") {
        (lines.next()?, 2)
    } else {
        (first, 1)
    };
    let comment = line.trim_ascii_start().strip_prefix(b"#")?;
    let at = find(comment, b"coding")?;
    let rest = comment.get(at + b"coding".len()..)?;
    let rest = rest
        .strip_prefix(b":")
        .or_else(|| rest.strip_prefix(b"="))?;
    let rest = rest.trim_ascii_start();
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        .count();
    let name = rest.get(..len).filter(|n| !n.is_empty())?;
    Some((String::from_utf8_lossy(name).into_owned(), number))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn encoding_named(name: &str) -> Option<Encoding> {
    let lower = name.to_ascii_lowercase().replace('_', "-");
    match lower.as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "ascii-8bit" | "binary" => Some(Encoding::Utf8),
        "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" => Some(Encoding::Latin1),
        "windows-1252" | "cp1252" => Some(Encoding::Windows1252),
        _ => None,
    }
}

/// One located error for every undecodable byte sequence that lies inside a
/// token (comments and the text after `__END__` produce no tokens). Offsets
/// past `lexed_to` are left out: the lexer stopped there with its own error.
pub(crate) fn errors_in_code(decoded: &Decoded, tokens: &[Token]) -> Vec<SyntaxError> {
    let lexed_to = tokens.last().map_or(0, |t| t.start);
    decoded
        .undecodable
        .iter()
        .filter(|u| u.offset < lexed_to)
        .filter_map(|u| {
            let token = tokens
                .iter()
                .find(|t| t.start <= u.offset && u.offset < t.end)?;
            Some(undecodable_error(decoded, u, &token.kind))
        })
        .collect()
}

fn undecodable_error(decoded: &Decoded, u: &Undecodable, kind: &Tok) -> SyntaxError {
    let bytes: Vec<String> = u.bytes.iter().map(|b| format!("0x{b:02X}")).collect();
    let what = if bytes.len() == 1 { "byte" } else { "bytes" };
    let inside = match kind {
        Tok::Str { label: true, .. } | Tok::Label(_) => " in a hash key",
        Tok::Str { .. } => " in a string",
        Tok::Symbol(_) => " in a symbol",
        Tok::Words { .. } => " in a word list",
        Tok::Ident(_) | Tok::Const(_) | Tok::Var(_) => " in a name",
        Tok::Regex => " in a regular expression",
        Tok::Command => " in a shell command",
        _ => "",
    };
    let message = match decoded.encoding {
        Encoding::Utf8 => format!(
            "{what} {}{inside} {} not valid UTF-8; Ruby reads gitlab.rb as UTF-8 and refuses \
             such a value too. If the file is Latin-1, convert it (iconv -f ISO-8859-1 -t \
             UTF-8) or declare it with `# encoding: iso-8859-1` as its first line",
            bytes.join(" "),
            if bytes.len() == 1 { "is" } else { "are" },
        ),
        other => format!(
            "{what} {}{inside} is not a character of {}, the encoding the magic comment \
             declares",
            bytes.join(" "),
            other.name()
        ),
    };
    SyntaxError::new(pos_at(&decoded.text, u.offset), message)
}

/// The position of byte `offset`, counting columns in characters as the
/// lexer does (a leading byte-order mark takes no column).
fn pos_at(text: &str, offset: usize) -> Pos {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    if line == 1 && text.starts_with('\u{feff}') {
        column = column.saturating_sub(1).max(1);
    }
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Pos::new(clamp(line), clamp(column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_comments_in_ruby_spellings() {
        for (src, want) in [
            (&b"# encoding: iso-8859-1\n"[..], Some(("iso-8859-1", 1))),
            (b"# -*- coding: latin-1 -*-\n", Some(("latin-1", 1))),
            (
                b"#!/usr/bin/env ruby\n# vim: fileencoding=cp1252\n",
                Some(("cp1252", 2)),
            ),
            (b"\xef\xbb\xbf# coding: utf-8\n", Some(("utf-8", 1))),
            (b"x = 1 # coding: latin1\n", None),
            (b"\n# coding: latin1\n", None),
            (b"# coding:\n", None),
        ] {
            let got = magic_comment(src);
            assert_eq!(
                got.as_ref().map(|(n, l)| (n.as_str(), *l)),
                want,
                "{:?}",
                String::from_utf8_lossy(src)
            );
        }
    }

    #[test]
    fn single_byte_encodings_decode_every_defined_byte() {
        let d = single_byte(b"caf\xe9 \x80", Encoding::Windows1252);
        assert_eq!(d.text, "café €");
        assert!(d.undecodable.is_empty());
        let d = single_byte(b"\x81", Encoding::Windows1252);
        assert_eq!(d.undecodable.len(), 1);
        let d = single_byte(b"\x80\xff", Encoding::Latin1);
        assert_eq!(d.text, "\u{80}ÿ");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_remembered() {
        let d = utf8(b"a\xe9b\xc3(");
        assert_eq!(d.text, "a\u{fffd}b\u{fffd}(");
        assert_eq!(
            d.undecodable,
            [
                Undecodable {
                    offset: 1,
                    bytes: vec![0xe9]
                },
                Undecodable {
                    offset: 5,
                    bytes: vec![0xc3]
                }
            ]
        );
        assert_eq!(pos_at(&d.text, 5), Pos::new(1, 4));
    }
}
