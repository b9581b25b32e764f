//! Every `tests/fixtures/good/*.rb` parses without error and exactly into
//! the structure (every value and position) recorded in the `.expected` file
//! beside it. Run with `UPDATE_EXPECT=1` to rewrite those files, then review
//! the diff.

mod common;

use std::collections::BTreeSet;

fn check(name: &str) {
    let rb = common::fixture_dir("good").join(format!("{name}.rb"));
    let parsed = gitlab_rb::parse(&common::read(&rb))
        .unwrap_or_else(|e| panic!("{name}: unexpected syntax error: {e}"));
    common::check_expected(&rb, &common::render(&parsed));
}

macro_rules! good_fixtures {
    ($($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*

        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

good_fixtures! {
    arrays,
    comments,
    dsl_calls,
    gitlab_full,
    hashes,
    heredocs,
    literals,
    nested_keys,
    numbers,
    omnibus_pre11,
    only_comments,
    post11_mattermost,
    semicolons,
    strings,
}

#[test]
fn every_good_fixture_has_a_test() {
    let on_disk: BTreeSet<String> = common::fixtures("good")
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(String::from))
        .collect();
    let listed: BTreeSet<String> = NAMES.iter().map(|n| n.to_string()).collect();
    assert_eq!(on_disk, listed);
    assert!(listed.len() >= 12);
}

#[test]
fn good_fixtures_skip_nothing() {
    // Skipping is covered by tests/skipped.rs; here every statement is read.
    for rb in common::fixtures("good") {
        let parsed = gitlab_rb::parse(&common::read(&rb)).expect("parses");
        assert!(
            parsed.skipped.is_empty(),
            "{}: {:?}",
            rb.display(),
            parsed.skipped
        );
    }
}
