//! Feeds arbitrary bytes to `gitlab_rb::parse`, which must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Invalid UTF-8 is replaced, so every input exercises the parser.
    let lossy = String::from_utf8_lossy(data);
    let _ = gitlab_rb::parse(&lossy);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = gitlab_rb::parse(s);
        // Every prefix of a file that parses is a likely truncated edit.
        if let Some(cut) = s.char_indices().map(|(i, _)| i).nth(s.len() / 2) {
            let _ = gitlab_rb::parse(&s[..cut]);
        }
    }
});
