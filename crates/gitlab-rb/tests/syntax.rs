//! Focused checks of the public API and of syntax details not worth a
//! fixture file each.

use gitlab_rb::{parse, Pos, Spanned, Statement, SyntaxError, Value};

fn s(v: &str, line: u32, column: u32) -> Spanned<Value> {
    Spanned::new(Value::Str(v.into()), Pos::new(line, column))
}

fn value_of(src: &str) -> Value {
    let parsed = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    match parsed.statements.as_slice() {
        [Statement::Assign { value, .. }] => value.value.clone(),
        other => panic!("expected one assignment, got {other:?}"),
    }
}

fn error_of(src: &str) -> SyntaxError {
    parse(src).expect_err("expected a syntax error")
}

#[test]
fn realistic_pre_11_block_as_structs() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/good/omnibus_pre11.rb"
    ))
    .unwrap();
    let parsed = parse(&src).unwrap();
    assert!(parsed.skipped.is_empty());
    let assign =
        |target: &str, key: &str, value: Value, vpos: (u32, u32), line: u32| Statement::Assign {
            target: target.into(),
            keys: vec![key.into()],
            value: Spanned::new(value, Pos::new(vpos.0, vpos.1)),
            pos: Pos::new(line, 1),
        };
    let expected = vec![
        Statement::Call {
            name: "mattermost_external_url".into(),
            args: vec![s("https://mattermost.example.com", 1, 25)],
            pos: Pos::new(1, 1),
        },
        assign(
            "mattermost",
            "service_maximum_login_attempts",
            Value::Int(10),
            (2, 48),
            2,
        ),
        assign(
            "mattermost",
            "email_enable_batching",
            Value::Bool(true),
            (3, 39),
            3,
        ),
        assign(
            "mattermost",
            "env",
            Value::Hash(vec![
                (
                    s("MM_EMAILSETTINGS_SMTPSERVER", 5, 3),
                    s("smtp.example.com", 5, 36),
                ),
                (
                    s("MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS", 6, 3),
                    s("10", 6, 48),
                ),
            ]),
            (4, 21),
            4,
        ),
        assign(
            "mattermost_nginx",
            "proxy_set_headers",
            Value::Hash(vec![
                (s("X-Forwarded-Proto", 8, 43), s("https", 8, 66)),
                (s("X-Forwarded-Ssl", 8, 75), s("on", 8, 96)),
            ]),
            (8, 41),
            8,
        ),
        assign(
            "gitlab_rails",
            "mattermost_host",
            Value::Str("https://mattermost.example.com".into()),
            (9, 35),
            9,
        ),
    ];
    assert_eq!(parsed.statements, expected);
}

#[test]
fn syntax_error_display_and_error_trait() {
    let err = error_of("a = 1\nb['x'] = 'open");
    assert_eq!(err.pos, Pos::new(2, 10));
    assert_eq!(
        err.to_string(),
        "line 2, column 10: unterminated string starting here; expected a closing '"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert!(boxed.to_string().starts_with("line 2, column 10"));
}

#[test]
fn statement_pos_accessor() {
    let parsed = parse("  external_url 'x'\n\tm['a'] = 1").unwrap();
    let positions: Vec<Pos> = parsed.statements.iter().map(Statement::pos).collect();
    assert_eq!(positions, [Pos::new(1, 3), Pos::new(2, 2)]);
}

#[test]
fn columns_count_characters_not_bytes() {
    let parsed = parse("m['é'] = 'ü'; m['x'] = 1").unwrap();
    match &parsed.statements[1] {
        Statement::Assign { pos, value, .. } => {
            assert_eq!(*pos, Pos::new(1, 15));
            assert_eq!(value.pos, Pos::new(1, 24));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error_of("m['ü'] = [1 2]").pos, Pos::new(1, 13));
}

#[test]
fn crlf_line_endings_and_bom() {
    let parsed = parse("\u{feff}external_url 'x'\r\nm['a'] = {\r\n  'b' => 1,\r\n}\r\n").unwrap();
    assert_eq!(parsed.statements.len(), 2);
    assert_eq!(parsed.statements[0].pos(), Pos::new(1, 1));
    assert_eq!(parsed.statements[1].pos(), Pos::new(2, 1));
    assert_eq!(value_of("m['a'] = 'x\r\ny'"), Value::Str("x\r\ny".into()));
}

#[test]
fn data_after_end_marker_is_ignored() {
    let parsed = parse("m['a'] = 1\n__END__\nm['b'] = ] garbage").unwrap();
    assert_eq!(parsed.statements.len(), 1);
}

#[test]
fn or_assign_is_an_assignment() {
    assert_eq!(value_of("m['a'] ||= 'd'"), Value::Str("d".into()));
}

#[test]
fn deep_keys_and_symbol_keys() {
    let parsed = parse("m[:a]['b'][\"c\"][:'d'] = 1").unwrap();
    match &parsed.statements[0] {
        Statement::Assign { target, keys, .. } => {
            assert_eq!(target, "m");
            assert_eq!(keys, &["a", "b", "c", "d"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn call_forms() {
    let parsed = parse("a('x', 'k' => 1)\nb 'y', k: 2\nc(\n  'z',\n)\nd").unwrap();
    let names: Vec<(&str, usize)> = parsed
        .statements
        .iter()
        .map(|st| match st {
            Statement::Call { name, args, .. } => (name.as_str(), args.len()),
            Statement::Assign { .. } => ("assign", 0),
        })
        .collect();
    assert_eq!(names, [("a", 2), ("b", 2), ("c", 1), ("d", 0)]);
    // A positional argument after a brace-less hash is not valid Ruby.
    assert_eq!(error_of("a k: 1, 'x'").pos, Pos::new(1, 9));
}

#[test]
fn line_continuation_backslash() {
    assert_eq!(value_of("m['a'] = \\\n  'x'"), Value::Str("x".into()));
    assert_eq!(value_of("m['a'] =\n  'x'"), Value::Str("x".into()));
}

#[test]
fn negative_numbers_and_floats() {
    assert_eq!(
        value_of("m['a'] = [-1, -1.5, +2, 1_0.0_1]"),
        Value::Array(vec![
            Spanned::new(Value::Int(-1), Pos::new(1, 11)),
            Spanned::new(Value::Float(-1.5), Pos::new(1, 15)),
            Spanned::new(Value::Int(2), Pos::new(1, 21)),
            Spanned::new(Value::Float(10.01), Pos::new(1, 25)),
        ])
    );
}

#[test]
fn legacy_octal_allows_an_underscore_after_the_zero() {
    assert_eq!(value_of("m['a'] = 0_7"), Value::Int(7));
    assert_eq!(value_of("m['a'] = 0_1_0"), Value::Int(8));
}

#[test]
fn newlines_inside_brackets_follow_ruby() {
    // Allowed after an opener, a comma or `=>`, and before a closer.
    assert!(parse("m['a'] = [\n1,\n2\n]\nm['b'] = {\n'k' =>\n1\n}\nf(\n1\n)").is_ok());
    // Not before a comma or `=>`.
    assert_eq!(error_of("m['a'] = [1\n, 2]").pos, Pos::new(2, 1));
    assert_eq!(error_of("m['a'] = {'k'\n=> 1}").pos, Pos::new(1, 14));
    assert_eq!(error_of("f(1\n, 2)").pos, Pos::new(2, 1));
}

#[test]
fn number_errors() {
    assert_eq!(error_of("m['a'] = 1_").pos, Pos::new(1, 11));
    assert_eq!(error_of("m['a'] = 0x").pos, Pos::new(1, 10));
    assert_eq!(error_of("m['a'] = 0b102").pos, Pos::new(1, 14));
    assert_eq!(error_of("m['a'] = 09").pos, Pos::new(1, 11));
}

#[test]
fn escape_errors_point_at_the_escape() {
    assert_eq!(error_of("m['a'] = \"ok\\x\"").pos, Pos::new(1, 13));
    assert_eq!(error_of("m['a'] = \"\\u{110000}\"").pos, Pos::new(1, 11));
    assert_eq!(error_of("m['a'] = \"line\n\\u{}\"").pos, Pos::new(2, 1));
}

#[test]
fn unterminated_literals_of_every_kind() {
    for (src, col) in [
        ("m['a'] = \"x", 10),
        ("m['a'] = :\"x", 10),
        ("m['a'] = %w[x", 10),
        ("m['a'] = %q(x", 10),
        ("m['a'] = /x", 10),
        ("m['a'] = `x", 10),
        ("m['a'] = \"#{x\"", 10),
    ] {
        let err = error_of(src);
        assert_eq!(err.pos, Pos::new(1, col), "{src}: {err}");
        assert!(err.message.starts_with("unterminated"), "{src}: {err}");
    }
}

#[test]
fn bad_statement_starts() {
    for (src, col) in [
        ("= 1", 1),
        ("=> 1", 1),
        (", x", 1),
        ("a: 1", 2),
        ("else", 1),
        ("  )", 3),
        ("x }", 3),
    ] {
        assert_eq!(error_of(src).pos, Pos::new(1, col), "{src}");
    }
}

#[test]
fn errors_in_order_of_the_source() {
    // The stray bracket on line 1 comes before the unterminated string.
    assert_eq!(error_of("m['a'] = ]\nm['b'] = 'x").pos, Pos::new(1, 10));
    // Unclosed bracket swallowing an unterminated string: the string wins.
    assert_eq!(error_of("m['a'] = ['x', 'y").pos, Pos::new(1, 16));
}

#[test]
fn mismatched_closers_in_skipped_code_are_errors() {
    let err = error_of("if a\n  b = (1]\nend");
    assert_eq!(err.pos, Pos::new(2, 9));
    assert!(err.message.contains("expected ')'"), "{err}");
}
