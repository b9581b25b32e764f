//! The committed NixOS options must be exactly what the schema generates.

use std::path::Path;

#[test]
fn committed_nixos_options_match_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nixos-modules/options.nix");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let generated = gitlab_mattermost::nixos_options::render_options_nix();
    assert!(
        committed == generated,
        "nixos-modules/options.nix is out of date with the schema: \
         run `cargo run -- nixos-options > nixos-modules/options.nix`"
    );
}
