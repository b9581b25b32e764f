//! Every `tests/fixtures/bad/*.rb` is a fatal syntax error at an exact line
//! and column, recorded with its message in the `.expected` file beside it.

mod common;

use gitlab_rb::Pos;

/// Reads "line L, column C: …" back into a position.
fn expected_pos(display: &str) -> Pos {
    let rest = display.strip_prefix("line ").expect("starts with 'line '");
    let (line, rest) = rest.split_once(", column ").expect("has ', column '");
    let (column, _) = rest.split_once(':').expect("has ':'");
    Pos::new(line.parse().expect("line"), column.parse().expect("column"))
}

#[test]
fn bad_fixtures_fail_at_the_exact_position() {
    let files = common::fixtures("bad");
    assert!(files.len() >= 10, "expected at least 10 bad fixtures");
    for rb in files {
        let src = common::read(&rb);
        let err = match gitlab_rb::parse(&src) {
            Ok(p) => panic!("{}: expected a syntax error, got {p:?}", rb.display()),
            Err(e) => e,
        };
        let display = format!("{err}\n");
        common::check_expected(&rb, &display);
        let expected = common::read(&rb.with_extension("expected"));
        assert_eq!(err.pos, expected_pos(&expected), "{}", rb.display());
    }
}
