//! `parse_bytes`: files that are not valid UTF-8. Bad bytes in comments are harmless, bad
//! bytes in code are located errors, magic comments select the encoding, and skipped
//! statements name the key they would have set.

use gitlab_rb::{parse, parse_bytes, Pos, Statement, Value};

const BASE: &str = "mattermost['uid'] = 5\nmattermost_external_url 'https://chat.example.com'\n";

/// Bytes that are not UTF-8 in places Ruby never decodes: the parse is the same as without
/// them.
#[test]
fn undecodable_bytes_outside_code_change_nothing() {
    let cases: &[(&str, &[u8])] = &[
        ("comment line", b"# Jos\xe9 set this up\n"),
        (
            "comment after a value",
            b"mattermost['a'] = 'x' # caf\xe9\n",
        ),
        ("begin block", b"=begin\nna\xefve\n=end\n"),
        ("after __END__", b"__END__\n\xff\xfe garbage"),
        ("cp1252 quote in a comment", b"# \x93quoted\x94\n"),
        ("truncated sequence in a comment", b"# \xc3\n"),
    ];
    let want = parse(BASE).expect("base parses");
    for (what, extra) in cases {
        let mut src = BASE.as_bytes().to_vec();
        if *what == "after __END__" {
            src.extend_from_slice(extra);
        } else {
            src.splice(0..0, extra.iter().copied());
        }
        let got = parse_bytes(&src).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let mut got_statements = got.statements.clone();
        if *what == "comment after a value" {
            got_statements.remove(0);
        }
        assert_eq!(got_statements.len(), want.statements.len(), "{what}");
        for (g, w) in got_statements.iter().zip(&want.statements) {
            match (g, w) {
                (Statement::Assign { value: a, .. }, Statement::Assign { value: b, .. }) => {
                    assert_eq!(a.value, b.value, "{what}")
                }
                (Statement::Call { args: a, .. }, Statement::Call { args: b, .. }) => {
                    assert_eq!(a[0].value, b[0].value, "{what}")
                }
                _ => panic!("{what}: statements differ: {g:?} vs {w:?}"),
            }
        }
    }
}

/// Every lone high byte is invalid UTF-8: harmless in a comment, an error at its column in
/// a string.
#[test]
fn every_high_byte_in_a_comment_or_a_value() {
    for b in 0x80u8..=0xff {
        let mut comment = b"# x".to_vec();
        comment.push(b);
        comment.extend_from_slice(b"\nmattermost['a'] = 1\n");
        let parsed = parse_bytes(&comment).unwrap_or_else(|e| panic!("0x{b:02X}: {e:?}"));
        assert_eq!(parsed.statements.len(), 1, "0x{b:02X}");

        let mut value = b"\nmattermost['a'] = 'ab".to_vec();
        value.push(b);
        value.extend_from_slice(b"'\n");
        let errors = parse_bytes(&value).expect_err("a bad byte in a value");
        assert_eq!(errors.len(), 1, "0x{b:02X}: {errors:?}");
        assert_eq!(errors[0].pos, Pos::new(2, 22), "0x{b:02X}");
        assert!(
            errors[0]
                .message
                .contains(&format!("byte 0x{b:02X} in a string")),
            "{}",
            errors[0].message
        );
    }
}

/// A source and the (line, column, text in the message) of every error it must give.
type Located = (&'static [u8], &'static [(u32, u32, &'static str)]);

#[test]
fn undecodable_bytes_in_code_are_located() {
    let cases: &[Located] = &[
        (
            b"mattermost['team_site_name'] = 'Caf\xe9'\n",
            &[(1, 36, "byte 0xE9 in a string is not valid UTF-8")],
        ),
        (
            b"# fine: \xe9\n\nmattermost['a'] = \"x\xe9y\"\n",
            &[(3, 21, "byte 0xE9 in a string")],
        ),
        (
            b"mattermost['a'] = <<~EOS\n  line one\n  caf\xe9\nEOS\n",
            &[(3, 6, "in a string")],
        ),
        (
            b"mattermost['env'] = { 'K\xe9Y' => 'v' }\n",
            &[(1, 25, "in a string")],
        ),
        (b"mattermost['a'] = :sym\xe9\n", &[(1, 23, "in a symbol")]),
        (
            b"mattermost['a'] = 'x\xe9'\nmattermost['b'] = 'y\xff'\n",
            &[(1, 21, "0xE9"), (2, 21, "0xFF")],
        ),
        (
            b"mattermost['a'] = 'truncated \xc3'\n",
            &[(1, 30, "byte 0xC3")],
        ),
        (
            b"\xef\xbb\xbfmattermost['a'] = '\xe9'\n",
            &[(1, 20, "byte 0xE9")],
        ),
        // Ruby refuses the file even when the statement would only be skipped.
        (
            b"if x\n  mattermost['a'] = 'caf\xe9'\nend\n",
            &[(2, 25, "in a string")],
        ),
        (b"caf\xe9 = 1\n", &[(1, 4, "in a name")]),
    ];
    for (src, want) in cases {
        let errors =
            parse_bytes(src).expect_err(&format!("{:?} must fail", String::from_utf8_lossy(src)));
        let got: Vec<(u32, u32)> = errors.iter().map(|e| (e.pos.line, e.pos.column)).collect();
        let want_pos: Vec<(u32, u32)> = want.iter().map(|(l, c, _)| (*l, *c)).collect();
        assert_eq!(
            got,
            want_pos,
            "{:?}: {errors:?}",
            String::from_utf8_lossy(src)
        );
        for (e, (_, _, text)) in errors.iter().zip(want.iter()) {
            assert!(e.message.contains(text), "{}", e.message);
            assert!(e.message.contains("iso-8859-1") || e.message.contains("ISO-8859-1"));
        }
    }
}

fn only_value(src: &[u8]) -> Value {
    let parsed = parse_bytes(src).unwrap_or_else(|e| panic!("{e:?}"));
    match &parsed.statements[..] {
        [Statement::Assign { value, .. }] => value.value.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn magic_comments_select_the_encoding() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"# encoding: iso-8859-1\nmattermost['a'] = 'caf\xe9'\n",
            "café",
        ),
        (
            b"# -*- coding: latin1 -*-\nmattermost['a'] = '\xc5land'\n",
            "Åland",
        ),
        (
            b"#!/opt/gitlab/embedded/bin/ruby\n# coding: ISO-8859-1\nmattermost['a'] = '\xfc'\n",
            "ü",
        ),
        (
            b"# coding: cp1252\nmattermost['a'] = '\x93hi\x94 \x80'\n",
            "“hi” €",
        ),
        (
            b"# encoding: utf-8\nmattermost['a'] = 'caf\xc3\xa9'\n",
            "café",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(
            only_value(src),
            Value::Str((*want).to_string()),
            "{:?}",
            String::from_utf8_lossy(src)
        );
    }
}

#[test]
fn a_declared_encoding_that_cannot_be_read_is_an_error_at_the_comment() {
    let errors = parse_bytes(b"# encoding: Shift_JIS\nmattermost['a'] = 1\n").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].pos, Pos::new(1, 1));
    assert!(
        errors[0].message.contains("`Shift_JIS`"),
        "{}",
        errors[0].message
    );
    assert!(errors[0].message.contains("iconv -f Shift_JIS -t UTF-8"));
    // A byte Windows-1252 leaves undefined is located like invalid UTF-8.
    let errors = parse_bytes(b"# coding: windows-1252\nmattermost['a'] = 'x\x81'\n").unwrap_err();
    assert_eq!(errors[0].pos, Pos::new(2, 21));
    assert!(errors[0]
        .message
        .contains("not a character of Windows-1252"));
}

#[test]
fn syntax_errors_come_with_the_encoding_errors_in_order() {
    let errors = parse_bytes(b"mattermost['a'] = 'x\xe9'\nmattermost['b'] = \n").unwrap_err();
    let lines: Vec<u32> = errors.iter().map(|e| e.pos.line).collect();
    assert_eq!(lines, [1, 2], "{errors:?}");
    // Valid UTF-8 gives exactly what `parse` gives.
    let src = "mattermost['a'] = 'café'\nx = [\n";
    assert_eq!(
        parse_bytes(src.as_bytes()).unwrap_err(),
        vec![parse(src).unwrap_err()]
    );
}

#[test]
fn skipped_statements_name_the_key_they_would_set() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            "mattermost_external_url \"https://chat.#{ENV['X']}\"",
            Some("mattermost_external_url"),
        ),
        (
            "mattermost_external_url(\"https://#{host}\")",
            Some("mattermost_external_url"),
        ),
        (
            "mattermost['env']['MM_X'] = ENV['Y']",
            Some("mattermost['env']['MM_X']"),
        ),
        (
            "mattermost[:service_site_url] = \"https://#{h}\"",
            Some("mattermost['service_site_url']"),
        ),
        (
            "gitlab_rails[\"mattermost_host\"] ||= File.read('/x')",
            Some("gitlab_rails['mattermost_host']"),
        ),
        ("x = 1", None),
        ("ENV['X'] = 'y'", None),
        ("if a\n  mattermost['a'] = 1\nend", None),
        ("require 'x'", None),
        ("mattermost[key] = 1", None),
        ("mattermost['a'].merge!(b)", None),
        ("File.read('/x')", None),
    ];
    for (src, want) in cases {
        let parsed = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(parsed.skipped.len(), 1, "{src}: {parsed:?}");
        assert_eq!(parsed.skipped[0].key.as_deref(), *want, "{src}");
    }
}

mod common;

/// Bad bytes at random places of every fixture: `parse_bytes` always returns, and every
/// error lies inside the input; bad bytes in comment lines added anywhere between
/// statements never change what a good fixture parses to.
#[test]
fn random_bad_bytes_in_every_fixture() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut runs = 0;
    for kind in ["good", "bad", "skipped"] {
        for rb in common::fixtures(kind) {
            let src = std::fs::read(&rb).expect("fixture");
            let lines = src.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
            for _ in 0..200 {
                let mut bytes = src.clone();
                for _ in 0..=next() % 3 {
                    let at = (next() as usize) % (bytes.len() + 1);
                    bytes.insert(at, 0x80 | (next() as u8 & 0x7f));
                }
                runs += 1;
                if let Err(errors) = parse_bytes(&bytes) {
                    assert!(!errors.is_empty());
                    for e in errors {
                        assert!(
                            e.pos.line >= 1 && e.pos.line <= lines,
                            "{}: {e}",
                            rb.display()
                        );
                        assert!(e.pos.column >= 1);
                    }
                }
            }
            if kind == "good" {
                let want = parse(&common::read(&rb)).expect("good fixture");
                // A comment line before every line a statement starts on (inside a
                // multi-line literal a `#` line would be content, not a comment).
                let starts: std::collections::BTreeSet<u32> = want
                    .statements
                    .iter()
                    .map(Statement::pos)
                    .chain(want.skipped.iter().map(|s| s.pos))
                    .map(|p| p.line)
                    .collect();
                let with_comments: Vec<u8> = src
                    .split_inclusive(|&b| b == b'\n')
                    .zip(1u32..)
                    .flat_map(|(line, n)| {
                        let comment: &[u8] = if starts.contains(&n) {
                            b"# caf\xe9 \xff\n"
                        } else {
                            b""
                        };
                        [comment, line].concat()
                    })
                    .collect();
                let got = parse_bytes(&with_comments)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", rb.display()));
                assert_eq!(
                    got.statements.len(),
                    want.statements.len(),
                    "{}",
                    rb.display()
                );
                assert_eq!(got.skipped.len(), want.skipped.len(), "{}", rb.display());
            }
        }
    }
    assert!(runs > 5000, "{runs}");
}
