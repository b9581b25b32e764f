//! Feeds arbitrary bytes to `gitlab_rb::parse`, which must never panic, and
//! checks that every reported position lies inside the input.
#![no_main]

use gitlab_rb::{Parsed, Pos, Value};
use libfuzzer_sys::fuzz_target;

/// One past the last line: an error "at the end of the file" may sit there.
fn last_line(src: &str) -> u32 {
    u32::try_from(src.matches('\n').count())
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

fn check_pos(src: &str, pos: Pos) {
    assert!(pos.line >= 1 && pos.column >= 1, "{pos:?}");
    assert!(pos.line <= last_line(src), "{pos:?} beyond the input");
}

fn check_value(src: &str, v: &gitlab_rb::Spanned<Value>) {
    check_pos(src, v.pos);
    match &v.value {
        Value::Array(items) => items.iter().for_each(|i| check_value(src, i)),
        Value::Hash(pairs) => pairs.iter().for_each(|(k, v)| {
            check_value(src, k);
            check_value(src, v);
        }),
        _ => {}
    }
}

fn check(src: &str) {
    match gitlab_rb::parse(src) {
        Ok(Parsed {
            statements,
            skipped,
        }) => {
            for s in &statements {
                check_pos(src, s.pos());
                match s {
                    gitlab_rb::Statement::Call { args, .. } => {
                        args.iter().for_each(|a| check_value(src, a))
                    }
                    gitlab_rb::Statement::Assign { value, .. } => check_value(src, value),
                }
            }
            for s in &skipped {
                check_pos(src, s.pos);
                assert!(!s.text.is_empty() && !s.reason.is_empty(), "{s:?}");
            }
        }
        Err(e) => {
            check_pos(src, e.pos);
            assert!(!e.message.is_empty());
        }
    }
}

/// The byte reader: every error and every statement lies inside the input (decoding never
/// adds or removes a line break).
fn check_bytes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match gitlab_rb::parse_bytes(data) {
        Ok(parsed) => parsed.statements.iter().for_each(|s| check_pos(&text, s.pos())),
        Err(errors) => {
            assert!(!errors.is_empty());
            errors.iter().for_each(|e| check_pos(&text, e.pos));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_bytes(data);
    // Invalid UTF-8 is replaced, so every input exercises the parser.
    check(&String::from_utf8_lossy(data));
    if let Ok(s) = std::str::from_utf8(data) {
        // Half of a valid input is a likely truncated edit.
        if let Some(cut) = s.char_indices().map(|(i, _)| i).nth(s.chars().count() / 2) {
            check(&s[..cut]);
        }
    }
});
