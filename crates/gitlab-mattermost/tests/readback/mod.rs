//! Shared pieces of the generated-input tests: compiling a config in-process, generators of
//! hostile strings and paths, and running a property a fixed number of times while counting
//! how many inputs were accepted (so a generator that only produces refused input fails).
#![allow(dead_code)]

pub mod systemd;

use std::cell::Cell;

use gitlab_mattermost::diag::Diagnostics;
use gitlab_mattermost::render::{render_all, Files, Target};
use gitlab_mattermost::sources::{parse_text, Format, Layered};
use gitlab_mattermost::validate::{validate, Plan};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::Value;

/// Validate `config` (a JSON object) as `render` would, and render it for `install_dir`.
pub fn compile(config: &Value, install_dir: &str) -> Result<(Plan, Files), Diagnostics> {
    let text = serde_json::to_string_pretty(config).expect("serializable");
    let layer = parse_text("generated.json", Format::Json, &text).map_err(Diagnostics::from)?;
    let layered = Layered::merge(vec![layer])?;
    let plan = validate(&layered)?;
    let target = Target::new(install_dir.to_string(), "--install-dir")?;
    let files = render_all(&plan, &target);
    Ok((plan, files))
}

/// The text of a rendered file.
pub fn file(files: &Files, name: &str) -> String {
    String::from_utf8(files.get(name).cloned().unwrap_or_default()).expect("UTF-8 output")
}

/// The keys the diagnostics name.
pub fn keys(d: &Diagnostics) -> Vec<String> {
    d.0.iter().map(|d| d.key.clone()).collect()
}

/// The seed of the generated inputs when `PROPTEST_RNG_SEED` does not name one: the test
/// suite is reproducible, and a failure found with another seed is replayed with that seed.
const DEFAULT_SEED: u64 = 20_261_201;

/// Run `property` on `cases` generated inputs; return how many it accepted (it returns
/// `Ok(true)` for an input that was rendered and read back, `Ok(false)` for one that was
/// refused as it should be). Fails when fewer than `min_accepted` were accepted.
///
/// The inputs come from a fixed seed unless `PROPTEST_RNG_SEED` is set: to explore new
/// inputs, run the tests with `PROPTEST_RNG_SEED=$RANDOM` (the seed is printed on failure).
pub fn run<S: Strategy>(
    cases: u32,
    min_accepted: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) -> u32
where
    S::Value: std::fmt::Debug,
{
    let defaults = Config::default();
    let seed = match defaults.rng_seed {
        RngSeed::Random => DEFAULT_SEED,
        RngSeed::Fixed(n) => n,
    };
    let mut runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // The slow external tools make shrinking expensive; a failing input is printed whole.
        max_shrink_iters: 64,
        failure_persistence: None,
        ..defaults
    });
    let accepted = Cell::new(0u32);
    let result = runner.run(&strategy, |input| {
        if property(input)? {
            accepted.set(accepted.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n(seed {seed}: replay with PROPTEST_RNG_SEED={seed})");
    }
    let accepted = accepted.get();
    // Straight to stderr, so the count shows next to the test's name with --nocapture.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{accepted} of {cases} generated inputs accepted and read back"
    );
    assert!(
        accepted >= min_accepted,
        "only {accepted} of {cases} generated inputs were accepted (at least {min_accepted} expected): the generator is too hostile to test read-back"
    );
    accepted
}

/// Characters that mean something to one of the target syntaxes, plus ordinary ones.
const SPECIAL: &[char] = &[
    ' ', '"', '\'', '\\', '%', '$', ';', '{', '}', '#', '=', ':', '@', ',', '+', '-', '_', '.',
    '~', '*', '?', '!', '[', ']', '(', ')', '<', '>', '|', '&', '`', '^', '/',
];
const CONTROL: &[char] = &['\n', '\t', '\r', '\u{1}', '\u{7f}', '\u{85}', '\0'];

/// A printable character, often one with a meaning somewhere.
pub fn printable_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        2 => prop::char::range('0', '9'),
        6 => prop::sample::select(SPECIAL),
        1 => prop::sample::select(&['ü', 'é', 'Ω', '中', '😀', '\u{a0}'][..]),
    ]
}

/// Any character: printable ones, and now and then a control character.
pub fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        12 => printable_char(),
        1 => prop::sample::select(CONTROL),
    ]
}

pub fn printable_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(printable_char(), 1..=max).prop_map(|c| c.into_iter().collect())
}

pub fn any_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), 0..=max).prop_map(|c| c.into_iter().collect())
}

/// An absolute path every target can carry, full of characters that need escaping: no
/// control characters, no `.`/`..` components, no `//`, no trailing space or backslash,
/// none of `excluded`, and at least two components (a top-level directory is never the
/// service's own).
pub fn clean_path(excluded: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(printable_string(10), 2..4).prop_map(move |segments| {
        let mut p = String::new();
        for s in segments {
            let s: String = s
                .chars()
                .map(|c| {
                    if c == '/' || excluded.contains(c) {
                        'x'
                    } else {
                        c
                    }
                })
                .collect();
            p.push('/');
            p.push_str(&s);
            if s == "." || s == ".." {
                p.push('x');
            }
        }
        if p.ends_with(|c: char| c.is_whitespace() || c == '\\') {
            p.push('x');
        }
        p
    })
}

/// Anything at all where a path belongs: relative, with control characters, `..`, `//`.
pub fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(
            prop_oneof![
                6 => any_string(8),
                1 => Just(".".to_string()),
                1 => Just("..".to_string()),
            ],
            1..4
        )
        .prop_map(|segments| format!("/{}", segments.join("/"))),
        1 => any_string(16),
    ]
}
