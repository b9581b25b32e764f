//! Feeds arbitrary text to the config readers (TOML, JSON, Nix) and, when a file parses, to
//! validation and every renderer. Nothing may panic; every reported position must lie inside
//! the input.
#![no_main]

use gitlab_mattermost::render::{render_all, Target};
use gitlab_mattermost::sources::{parse_text, Format, Layered};
use gitlab_mattermost::validate::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let format = match selector % 3 {
        0 => Format::Toml,
        1 => Format::Json,
        _ => Format::Nix,
    };
    let lines = text.matches('\n').count() + 1;
    let layer = match parse_text("fuzz", format, &text) {
        Ok(layer) => layer,
        Err(d) => {
            if let Some(pos) = d.origin.and_then(|o| o.pos) {
                assert!(pos.line >= 1 && pos.line <= lines + 1, "{pos:?}");
            }
            return;
        }
    };
    for pos in layer.positions.values() {
        assert!(pos.line >= 1 && pos.line <= lines, "{pos:?}");
    }
    let Ok(layered) = Layered::merge(vec![layer]) else {
        return;
    };
    if let Ok(plan) = validate(&layered) {
        let files = render_all(&plan, &Target { dir: "/etc/gitlab-mattermost".into() });
        assert!(files.contains_key("manifest.json"));
    }
});
