//! The committed NixOS options, and the map back to the compiler's names, must be exactly
//! what the schema generates.

use std::path::Path;

fn committed(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../nixos-modules")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn committed_nixos_options_match_the_schema() {
    let generated = gitlab_mattermost::nixos_options::render_options_nix();
    assert!(
        committed("options.nix") == generated,
        "nixos-modules/options.nix is out of date with the schema: \
         run `cargo run -- nixos-options > nixos-modules/options.nix`"
    );
}

#[test]
fn committed_names_match_the_schema() {
    let generated = gitlab_mattermost::nixos_options::render_names_nix();
    assert!(
        committed("names.nix") == generated,
        "nixos-modules/names.nix is out of date with the schema: \
         run `cargo run -- nixos-options --names > nixos-modules/names.nix`"
    );
}
