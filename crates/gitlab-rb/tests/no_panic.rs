//! `parse` must return (Ok or Err) for every input: every prefix of every
//! fixture, many deterministic mutations of them, and hostile nesting.

mod common;

use std::path::PathBuf;

fn all_fixtures() -> Vec<PathBuf> {
    ["good", "bad", "skipped"]
        .iter()
        .flat_map(|k| common::fixtures(k))
        .collect()
}

/// Characters that change how Ruby is tokenized, for mutations.
const INTERESTING: &[char] = &[
    '\'', '"', '[', ']', '{', '}', '(', ')', '#', '\n', '\\', '=', ',', ':', '%', '<', '~', '-',
    '`', '/', '?', '$', '@', '0', 'e', '_', ' ', '\t', '\r', 'é', '\u{feff}',
];

/// A tiny deterministic PRNG (xorshift64), so failures are reproducible
/// without extra dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(src: &[char], rng: &mut Rng) -> String {
    let mut chars = src.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 => chars.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < chars.len() => chars[at] = INTERESTING[rng.below(INTERESTING.len())],
            _ => {
                // Duplicate a slice, e.g. an opening bracket run.
                let end = (at + rng.below(8)).min(chars.len());
                let piece: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, piece);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn every_prefix_of_every_fixture_parses_without_panicking() {
    for path in all_fixtures() {
        let src = common::read(&path);
        for (i, _) in src.char_indices() {
            let _ = gitlab_rb::parse(&src[..i]);
            let _ = gitlab_rb::parse(&src[i..]);
        }
    }
}

#[test]
fn mutations_of_fixtures_parse_without_panicking() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for path in all_fixtures() {
        let src: Vec<char> = common::read(&path).chars().collect();
        for _ in 0..400 {
            let mutated = mutate(&src, &mut rng);
            let _ = gitlab_rb::parse(&mutated);
        }
    }
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    for open in ["[", "{", "(", "x[", "[{'a'=>"] {
        let deep = format!("a['k'] = {}", open.repeat(100_000));
        let err = gitlab_rb::parse(&deep).expect_err("unclosed or too deep");
        assert!(err.pos.line == 1, "{err}");
    }
    let balanced = format!("a['k'] = {}{}", "[".repeat(64), "]".repeat(64));
    assert!(gitlab_rb::parse(&balanced).is_ok());
    let too_deep = format!("a['k'] = {}{}", "[".repeat(65), "]".repeat(65));
    let err = gitlab_rb::parse(&too_deep).unwrap_err();
    assert_eq!(err.pos.column, 10 + 64, "{err}");
    // Deep nesting in skipped code is only counted, never recursed into.
    let skipped = format!(
        "if a\n{}{}\nend\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(gitlab_rb::parse(&skipped).unwrap().skipped.len(), 1);
    let keywords = format!("{}{}", "if a\n".repeat(50_000), "end\n".repeat(50_000));
    assert_eq!(gitlab_rb::parse(&keywords).unwrap().skipped.len(), 1);
    let interpolation = format!(
        "a['k'] = \"{}{}\"",
        "#{\"".repeat(50_000),
        "\"}".repeat(50_000)
    );
    assert_eq!(gitlab_rb::parse(&interpolation).unwrap().skipped.len(), 1);
}

#[test]
fn odd_bytes_and_long_inputs_do_not_panic() {
    let inputs = [
        String::new(),
        "\u{feff}".into(),
        "\0\0\0".into(),
        "\r\r\n\n".into(),
        "é".repeat(10_000),
        format!("a['k'] = '{}'", "x".repeat(1_000_000)),
        "a['k'] = 1\n".repeat(20_000),
        "\\".into(),
        "?".into(),
        "%".into(),
        "%w".into(),
        "<<~".into(),
        "x = <<~A <<~B\nA\n".into(),
        ":".into(),
        "\"\\u{".into(),
        "0x".into(),
        "1e".into(),
        "$".into(),
        "@@".into(),
        "=begin".into(),
        "=end".into(),
        "__END__".into(),
    ];
    for src in inputs {
        let _ = gitlab_rb::parse(&src);
    }
}
