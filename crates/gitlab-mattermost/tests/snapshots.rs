//! Snapshot tests of every renderer on the bundled examples: a change in any rendered byte
//! shows up as a reviewable diff (`cargo insta review`, or INSTA_UPDATE=always).

mod common;

use common::*;

fn snapshot_example(example_name: &str, prefix: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example(example_name), &out, &[]);
    for (name, bytes) in read_tree(&out) {
        let text = String::from_utf8(bytes).expect("rendered files are UTF-8");
        let snap = format!("{prefix}__{}", name.replace('/', "__"));
        insta::assert_snapshot!(snap, text);
    }
}

#[test]
fn full_example_snapshots() {
    snapshot_example("full.toml", "full");
}

#[test]
fn minimal_example_snapshots() {
    snapshot_example("minimal.toml", "minimal");
}
