//! Statements that are valid Ruby but cannot be evaluated statically are
//! skipped with their position and a reason, and parsing carries on.

mod common;

use gitlab_rb::{parse, Pos, Statement, Value};

/// (line, column) of every skipped statement.
fn skipped_at(src: &str) -> Vec<(u32, u32)> {
    let parsed = parse(src).unwrap_or_else(|e| panic!("unexpected error: {e}"));
    parsed
        .skipped
        .iter()
        .map(|s| (s.pos.line, s.pos.column))
        .collect()
}

/// The keys of every parsed assignment, joined by '.'.
fn assigned(src: &str) -> Vec<String> {
    let parsed = parse(src).unwrap_or_else(|e| panic!("unexpected error: {e}"));
    parsed
        .statements
        .iter()
        .filter_map(|s| match s {
            Statement::Assign { keys, .. } => Some(keys.join(".")),
            Statement::Call { .. } => None,
        })
        .collect()
}

fn only_reason(src: &str) -> String {
    let parsed = parse(src).unwrap_or_else(|e| panic!("unexpected error: {e}"));
    assert_eq!(parsed.skipped.len(), 1, "{:?}", parsed.skipped);
    parsed.skipped[0].reason.clone()
}

#[test]
fn skipped_fixtures_match_expected() {
    for rb in common::fixtures("skipped") {
        let src = common::read(&rb);
        let parsed = gitlab_rb::parse(&src)
            .unwrap_or_else(|e| panic!("{}: unexpected syntax error: {e}", rb.display()));
        common::check_expected(&rb, &common::render(&parsed));
    }
}

#[test]
fn env_is_skipped_and_later_lines_parse() {
    let src = "a['x'] = 1\na['env'] = ENV['X']\na['y'] = 2\n";
    assert_eq!(skipped_at(src), [(2, 1)]);
    assert_eq!(assigned(src), ["x", "y"]);
    assert_eq!(
        only_reason("a['env'] = ENV['X']"),
        "uses ENV['X'], which is only known on the old host"
    );
    assert_eq!(
        only_reason("a['env'] = ENV.fetch('X', 'd')"),
        "uses ENV.fetch('X', 'd'), which is only known on the old host"
    );
}

#[test]
fn env_deep_inside_a_multi_line_hash_names_its_line() {
    let src = "a['env'] = {\n  'A' => '1',\n  'B' => ENV['B'],\n}\na['after'] = true\n";
    let parsed = parse(src).unwrap();
    assert_eq!(parsed.skipped[0].pos, Pos::new(1, 1));
    assert!(
        parsed.skipped[0].reason.ends_with("(line 3)"),
        "{}",
        parsed.skipped[0].reason
    );
    assert_eq!(
        parsed.skipped[0].text,
        src.trim_end().rsplit_once('\n').unwrap().0
    );
    assert_eq!(assigned(src), ["after"]);
}

#[test]
fn interpolation_is_skipped() {
    let src = "a['x'] = \"#{1 + 1} and #{'}'}\"\na['y'] = \"no \\#{interp}\"\n";
    assert_eq!(skipped_at(src), [(1, 1)]);
    assert_eq!(assigned(src), ["y"]);
    assert!(only_reason("a['x'] = \"#@ivar\"").contains("interpolation"));
    assert!(only_reason("a['x'] = %W[a #{b}]").contains("interpolation"));
    assert!(only_reason("a['x'] = :\"s#{1}\"").contains("interpolation"));
}

#[test]
fn method_calls_on_values_are_skipped() {
    let src = "a['f'] = File.read('x').strip\na['u'] = 'a'.upcase\na['h'] = {}.merge(b: 1)\na['ok'] = 1\n";
    assert_eq!(skipped_at(src), [(1, 1), (2, 1), (3, 1)]);
    assert_eq!(assigned(src), ["ok"]);
    assert_eq!(
        only_reason("a['f'] = File.read('x').strip"),
        "calls File.read('x').strip, which cannot be evaluated statically"
    );
    assert_eq!(
        only_reason("a['u'] = 'a'.upcase"),
        "calls the method `.upcase` on a value, which cannot be evaluated statically"
    );
}

#[test]
fn leading_dot_chain_on_the_next_line_is_skipped() {
    let src = "a['x'] = 'v'\n  .strip\na['y'] = 1\n";
    assert_eq!(skipped_at(src), [(1, 1)]);
    assert_eq!(assigned(src), ["y"]);
}

#[test]
fn conditional_blocks_are_skipped_whole() {
    let src = "\
a['before'] = 1
if x
  a['in_if'] = 1
elsif y
  a['in_elsif'] = [1,
    2]
else
  a['in_else'] = { 'k' => 'v' }
end
unless z then a['u'] = 1 end
case q
when 1 then a['c'] = 1
end
while w do
  a['loop'] = 1
end
a['after'] = 2
";
    assert_eq!(skipped_at(src), [(2, 1), (10, 1), (11, 1), (14, 1)]);
    assert_eq!(assigned(src), ["before", "after"]);
}

#[test]
fn nested_blocks_and_method_named_like_keywords() {
    let src = "\
if a
  [1].each do |x|
    if x.class == Integer then y = x.end end
  end
  begin; z; rescue; end
end
a['after'] = 1
";
    assert_eq!(skipped_at(src), [(1, 1)]);
    assert_eq!(assigned(src), ["after"]);
}

#[test]
fn trailing_modifiers_are_skipped() {
    for m in ["if", "unless", "while", "until", "rescue"] {
        let src = format!("a['x'] = 1 {m} cond\na['y'] = 2\n");
        assert_eq!(skipped_at(&src), [(1, 1)], "{m}");
        assert_eq!(assigned(&src), ["y"], "{m}");
        assert_eq!(
            only_reason(&format!("a['x'] = 1 {m} cond")),
            format!("has a trailing `{m}` modifier, which cannot be evaluated statically")
        );
    }
    // A modifier after a call is skipped too.
    assert_eq!(skipped_at("external_url 'x' if true\n"), [(1, 1)]);
}

#[test]
fn variables_are_skipped_with_the_assignment_line() {
    let src = "host = 'h'\na['x'] = 1\na['host'] = host\na['other'] = other\n";
    assert_eq!(skipped_at(src), [(1, 1), (3, 1), (4, 1)]);
    let parsed = parse(src).unwrap();
    assert_eq!(
        parsed.skipped[0].reason,
        "assigns the local variable `host`; only settings with literal values can be imported"
    );
    assert_eq!(
        parsed.skipped[1].reason,
        "uses the local variable `host` (assigned on line 1), which cannot be evaluated statically"
    );
    assert_eq!(
        parsed.skipped[2].reason,
        "uses `other`, a variable or method call that cannot be evaluated statically"
    );
    assert_eq!(assigned(src), ["x"]);
}

#[test]
fn require_load_begin_and_blocks_are_skipped() {
    let src = "\
require 'x'
require_relative 'y'
load '/etc/gitlab/z.rb'
begin
  a['b'] = 1
rescue StandardError => e
  puts e
ensure
  nil
end
foo do |c|
  c.x = 1
end
bar { |c| c }
external_url('x') do end
a['after'] = 1
";
    assert_eq!(
        skipped_at(src),
        [(1, 1), (2, 1), (3, 1), (4, 1), (11, 1), (14, 1), (15, 1)]
    );
    assert_eq!(assigned(src), ["after"]);
}

#[test]
fn heredocs_are_skipped_to_their_terminator() {
    let src =
        "a['x'] = <<~EOS.strip\n  ] } ) end if\nEOS\na['y'] = <<-EOS\n #{x}\n  EOS\na['z'] = 1\n";
    assert_eq!(skipped_at(src), [(1, 1), (4, 1)]);
    assert_eq!(assigned(src), ["z"]);
    let parsed = parse(src).unwrap();
    assert_eq!(
        parsed.skipped[0].text,
        "a['x'] = <<~EOS.strip\n  ] } ) end if\nEOS"
    );
}

#[test]
fn operators_and_compound_assignments_are_skipped() {
    let src = "a['x'] = 1 + 2\na['y'] += 1\na['z'] << 'v'\na['t'] = c ? 1 : 2\na['w'] = !true\na['r'] = 1..2\na['ok'] = -1\n";
    assert_eq!(
        skipped_at(src),
        [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)]
    );
    assert_eq!(assigned(src), ["ok"]);
}

#[test]
fn statement_continues_after_a_trailing_operator() {
    let src = "a['x'] = 'a' +\n  'b'\na['y'] = [1,\n  2].sum\na['z'] = 3\n";
    assert_eq!(skipped_at(src), [(1, 1), (3, 1)]);
    assert_eq!(assigned(src), ["z"]);
}

#[test]
fn skipped_and_parsed_statements_share_a_line() {
    let src = "x = 1; a['y'] = 2; a['z'] = ENV['Z']; a['w'] = 3\n";
    assert_eq!(skipped_at(src), [(1, 1), (1, 20)]);
    assert_eq!(assigned(src), ["y", "w"]);
}

#[test]
fn non_literal_keys_and_odd_indexing_are_skipped() {
    let src = "a[k] = 1\na[1] = 2\na[] = 3\na['x', 'y'] = 4\na['x']\na[k: 1] = 6\na['x'], b = 7, 8\na['ok'] = 5\n";
    assert_eq!(
        skipped_at(src),
        [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1)]
    );
    assert_eq!(assigned(src), ["ok"]);
}

#[test]
fn oversized_integers_and_raw_bytes_are_skipped() {
    let src = "a['big'] = 99999999999999999999\na['bytes'] = \"\\xff\"\na['ok'] = 1\n";
    assert_eq!(skipped_at(src), [(1, 1), (2, 1)]);
    assert_eq!(assigned(src), ["ok"]);
}

#[test]
fn other_top_level_code_is_skipped() {
    let src = "\
ENV['X'] = 'y'
@x = 1
$stdout.puts 'x'
Gitlab::Thing.call
puts('hi').inspect
def helper
  1
end
'bare'
:sym.to_proc
[1, 2].each { |i| i }
-> { 1 }
a['ok'] = 1
";
    let parsed = parse(src).unwrap();
    let lines: Vec<u32> = parsed.skipped.iter().map(|s| s.pos.line).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6, 9, 10, 11, 12]);
    assert_eq!(
        parsed.skipped[0].reason,
        "sets ENV['X'], which only affects the Ruby process that reads the file"
    );
    assert_eq!(assigned(src), ["ok"]);
}

#[test]
fn multiple_assignment_is_skipped() {
    assert_eq!(skipped_at("a, b = 1, 2\nm['x'] = 1\n"), [(1, 1)]);
    // `x = 1, 2` assigns an array; the statement runs on after the comma.
    let src = "m['a'] = 1,\n  2\nm['b'] = 3\n";
    assert_eq!(skipped_at(src), [(1, 1)]);
    assert_eq!(assigned(src), ["b"]);
}

#[test]
fn rightward_pattern_matching_is_skipped() {
    assert_eq!(
        skipped_at("m['a'] => x\nm['b'] = 1 in Integer\n"),
        [(1, 1), (2, 1)]
    );
}

#[test]
fn skipped_text_is_the_whole_statement() {
    let parsed = parse("if a\n  b = [\n    1]\nend # done\nc['d'] = 1").unwrap();
    assert_eq!(parsed.skipped[0].text, "if a\n  b = [\n    1]\nend");
    assert_eq!(
        parsed.statements,
        [Statement::Assign {
            target: "c".into(),
            keys: vec!["d".into()],
            value: gitlab_rb::Spanned::new(Value::Int(1), Pos::new(5, 10)),
            pos: Pos::new(5, 1),
        }]
    );
}

#[test]
fn non_ascii_blanks_are_identifiers_as_in_ruby() {
    // Found by fuzzing: the skipped text was trimmed to nothing.
    let parsed = parse("\u{a0}\u{a0}\u{c}\u{a0}").unwrap();
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].text, "\u{a0}\u{a0}\u{c}\u{a0}");
}
