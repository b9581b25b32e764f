//! The committed JSON Schema (`docs/gitlab-mattermost.schema.json`, which every command reads)
//! is what schemars derives from the config's types, so a field added to `schema.rs` cannot be
//! missing from validation, the NixOS options or the reference.

use gitlab_mattermost_catalogue::schema::{generated_json_schema, SCHEMA_FILE};

#[test]
fn committed_schema_is_what_the_types_derive() {
    let generated = serde_json::to_string_pretty(&generated_json_schema())
        .expect("a JSON Schema serialises to JSON")
        + "\n";
    if generated == SCHEMA_FILE {
        return;
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/gitlab-mattermost.schema.json"
    );
    if std::env::var_os("GITLAB_MATTERMOST_UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).expect("write the schema file");
        panic!("{path} was stale and is rewritten: build again so that the commands read it");
    }
    panic!(
        "{path} is not what schema.rs derives: rewrite it with \
         `GITLAB_MATTERMOST_UPDATE_SCHEMA=1 cargo test -p gitlab-mattermost-catalogue --test schema_file`"
    );
}
