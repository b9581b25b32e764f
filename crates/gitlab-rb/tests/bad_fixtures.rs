//! Every `tests/fixtures/bad/*.rb` is a fatal syntax error at an exact line
//! and column. Each file has its own test stating the position; the full
//! message is recorded in the `.expected` file beside it.

mod common;

use gitlab_rb::Pos;
use std::collections::BTreeSet;

fn error_of(name: &str) -> gitlab_rb::SyntaxError {
    let rb = common::fixture_dir("bad").join(format!("{name}.rb"));
    match gitlab_rb::parse(&common::read(&rb)) {
        Ok(p) => panic!("{name}: expected a syntax error, got {p:?}"),
        Err(e) => {
            common::check_expected(&rb, &format!("{e}\n"));
            e
        }
    }
}

macro_rules! bad_fixtures {
    ($($name:ident: $line:literal, $column:literal,)*) => {
        $(
            #[test]
            fn $name() {
                assert_eq!(error_of(stringify!($name)).pos, Pos::new($line, $column));
            }
        )*

        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

bad_fixtures! {
    array_missing_comma_at_line_end: 4, 3,
    bad_unicode_escape: 1, 23,
    comma_on_next_line: 3, 3,
    dangling_operator_at_eof: 2, 19,
    double_comma: 1, 12,
    extra_closing_bracket: 1, 25,
    hash_missing_comma: 3, 3,
    hash_missing_rocket: 2, 13,
    hash_rocket_on_next_line: 2, 9,
    mismatched_brackets: 1, 27,
    misplaced_underscore: 1, 20,
    missing_value: 2, 17,
    stray_brace_in_skipped: 1, 20,
    stray_bracket: 2, 3,
    stray_end: 2, 1,
    too_deep: 1, 86,
    trailing_comma_at_eof: 1, 42,
    two_values: 1, 21,
    unclosed_array: 3, 1,
    unclosed_hash_at_eof: 1, 21,
    unclosed_if: 1, 1,
    unclosed_key: 1, 16,
    unclosed_nested: 1, 19,
    unterminated_block_comment: 2, 1,
    unterminated_double_quote: 1, 25,
    unterminated_heredoc: 1, 32,
    unterminated_single_quote: 3, 22,
}

#[test]
fn every_bad_fixture_has_a_test() {
    let on_disk: BTreeSet<String> = common::fixtures("bad")
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(String::from))
        .collect();
    let listed: BTreeSet<String> = NAMES.iter().map(|n| n.to_string()).collect();
    assert_eq!(on_disk, listed);
    assert!(listed.len() >= 10);
}
