//! Every `tests/fixtures/good/*.rb` parses without error and exactly into
//! the structure recorded in the `.expected` file beside it.

mod common;

#[test]
fn good_fixtures_match_expected_structure() {
    let files = common::fixtures("good");
    assert!(files.len() >= 12, "expected at least 12 good fixtures");
    for rb in files {
        let src = common::read(&rb);
        let parsed = gitlab_rb::parse(&src)
            .unwrap_or_else(|e| panic!("{}: unexpected syntax error: {e}", rb.display()));
        common::check_expected(&rb, &common::render(&parsed));
    }
}
