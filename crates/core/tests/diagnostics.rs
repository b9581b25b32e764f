//! Diagnostics as the user reads them: rustc's layout (the message, ` --> file:line:column`,
//! the value's line with a caret under the value, the hint), exactly; and the caret under the
//! value for any way of writing a key and its value.

use gitlab_mattermost_core::load;
use proptest::prelude::*;

const HTTP: &str = "external_url = \"http://mm.example.com\"\n";

/// `text` written as `name` in a new directory, loaded with `sets`: the errors or warnings as
/// printed (without colour), with the directory left out of the file names.
fn printed(name: &str, text: &str, sets: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("config written");
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let out = match load(&[path], &sets) {
        Err(errors) => errors.render(false),
        Ok(plan) => plan
            .warnings
            .iter()
            .map(|w| format!("{}\n", w.render(false)))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    out.replace(&format!("{}/", dir.path().display()), "")
}

#[test]
fn a_number_in_quotes_points_at_the_value_and_says_drop_the_quotes() {
    let out = printed("bad.toml", &format!("{HTTP}[smtp]\nport = \"587\"\n"), &[]);
    assert_eq!(
        out,
        r#"error: smtp.port: expected an integer, found "587"
 --> bad.toml:3:8
  |
3 | port = "587"
  |        ^^^^^ expected an integer, found "587"
  |
  = hint: drop the quotes around 587

1 error found; nothing was written"#
    );
}

#[test]
fn an_unknown_key_says_which_one_was_meant() {
    let out = printed(
        "bad.toml",
        &format!("{HTTP}[smtp]\nconnection_securty = \"STARTTLS\"\n"),
        &[],
    );
    assert_eq!(
        out,
        r#"error: smtp.connection_securty: unknown key `connection_securty`
 --> bad.toml:3:1
  |
3 | connection_securty = "STARTTLS"
  | ^^^^^^^^^^^^^^^^^^ unknown key `connection_securty`
  |
  = hint: did you mean `connection_security`?

1 error found; nothing was written"#
    );
}

#[test]
fn a_tls_mode_that_does_not_fit_the_port_points_at_both() {
    let out = printed(
        "mail.toml",
        &format!(
            "{HTTP}[smtp]\nenable = true\nserver = \"mail.example.com\"\nport = 465\n\
             connection_security = \"STARTTLS\"\nfeedback_email = \"mm@example.com\"\n"
        ),
        &[],
    );
    assert_eq!(
        out,
        r#"warning: smtp.connection_security = "STARTTLS" on port 465: servers usually speak implicit TLS on 465 ("TLS") and STARTTLS on 587, so sending mail would likely fail; set smtp.connection_security = "TLS", or the port that fits it
 --> mail.toml:6:23
  |
5 | port = 465
  |        --- port 465
6 | connection_security = "STARTTLS"
  |                       ^^^^^^^^^^
"#
    );
}

#[test]
fn a_secret_file_emptied_at_boot_is_placed_at_its_key_without_its_line() {
    let out = printed(
        "v.toml",
        &format!(
            "{HTTP}[smtp]\nenable = true\nserver = \"mail.example.com\"\n\
             feedback_email = \"mm@example.com\"\nauth = true\nusername = \"u\"\npassword_file = \"/run/secrets/smtp\"\n"
        ),
        &[],
    );
    assert!(
        out.starts_with("warning: v.toml:8:17: /run/secrets/smtp is a secret file on a directory emptied at boot"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn a_set_keeps_its_one_line() {
    let out = printed("good.toml", HTTP, &["listen.port=abc"]);
    assert_eq!(
        out,
        r#"error: --set #1: listen.port: expected an integer, found "abc"
1 error found; nothing was written"#
    );
}

#[test]
fn an_error_on_line_7_of_a_longer_file() {
    let text = format!(
        "# The chat server.\n{HTTP}[listen]\nport = 8065\n\n[database]\nhost = [\"db1\", \"db2\"]\nname = \"mattermost\"\n"
    );
    let out = printed("site.toml", &text, &[]);
    assert_eq!(
        out,
        r#"error: database.host: expected a string, found a list
 --> site.toml:7:8
  |
7 | host = ["db1", "db2"]
  |        ^^^^^^^^^^^^^^ expected a string, found a list

1 error found; nothing was written"#
    );
}

#[test]
fn a_json_value_is_pointed_at_too() {
    let text =
        "{\n  \"external_url\": \"http://mm.example.com\",\n  \"smtp\": {\"port\": true}\n}\n";
    let out = printed("site.json", text, &[]);
    assert!(
        out.starts_with("error: smtp.port: expected an integer, found true\n --> site.json:3:20\n"),
        "{out}"
    );
    assert!(out.contains("\n  |                    ^^^^ "), "{out}");
}

#[test]
fn a_secret_is_never_shown_with_its_line() {
    let text = format!("{HTTP}[gitlab]\nurl = \"https://root:hunter2@gitlab.example.com\"\n");
    let out = printed("bad.toml", &text, &[]);
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains("error: bad.toml:3:7: gitlab.url: "), "{out}");
}

/// docs/getting-started.md shows what `check` prints for two mistakes: it is what it prints.
#[test]
fn the_getting_started_sample_is_what_check_prints() {
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/getting-started.md"),
    )
    .expect("docs/getting-started.md");
    let sample = guide
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a text block in docs/getting-started.md");
    let config = "external_url = \"http://chat.example.com\"\n[smtp]\nenable = true\n\
                  server = \"mail.example.com\"\nfeedback_email = \"mattermost@example.com\"\n\
                  port = \"465\"\nconnection_secruity = \"TLS\"\n";
    let out = printed("gitlab-mattermost.toml", config, &[]).replace(
        "--> gitlab-mattermost.toml",
        "--> /etc/gitlab-mattermost.toml",
    );
    assert_eq!(out, sample);
}

/// The column of the ` --> ` line, and the shown source line from the caret's first `^` on
/// (tabs are shown as spaces, in the source line and under it alike).
fn place_and_caret(out: &str) -> Option<(usize, String)> {
    let lines: Vec<&str> = out.lines().collect();
    let arrow = lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("--> "))?;
    let column = arrow.rsplit(':').next()?.parse().ok()?;
    let source = lines.iter().position(|l| {
        l.split_once(" | ")
            .is_some_and(|(n, _)| n.trim().parse::<usize>().is_ok())
    })?;
    let carets = lines.get(source + 1)?;
    let at = carets.find('^')?;
    Some((column, lines[source].get(at..)?.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However a key and its value are written (spaces, quoted key, string, number, list,
    /// dotted key), the place and the caret are at the value.
    #[test]
    fn the_caret_is_under_the_value(
        indent in "[ \t]{0,3}",
        before in "[ \t]{0,3}",
        after in "[ \t]{0,3}",
        quoted_key in any::<bool>(),
        dotted in any::<bool>(),
        value in prop::sample::select(vec![
            "\"587\"", "'587'", "\"abc\"", "true", "-1", "70000", "[1, 2]", "\"\"\"x\"\"\"", "{ a = 1 }",
        ]),
        comment in any::<bool>(),
    ) {
        let key = if quoted_key { "\"port\"" } else { "port" };
        let (table, key) = if dotted {
            (String::new(), format!("listen.{key}"))
        } else {
            ("[listen]\n".to_string(), key.to_string())
        };
        let line = format!("{indent}{key}{before}={after}{value}{}", if comment { " # the port" } else { "" });
        let out = printed("p.toml", &format!("{HTTP}{table}{line}\n"), &[]);
        let expected = format!("{indent}{key}{before}={after}").chars().count() + 1;
        let line_no = if dotted { 2 } else { 3 };
        prop_assert!(out.contains(&format!(" --> p.toml:{line_no}:{expected}\n")), "{out}");
        let (column, under) = place_and_caret(&out).unwrap_or_default();
        prop_assert_eq!(column, expected, "{}", out);
        prop_assert!(under.starts_with(value.split('\n').next().unwrap_or_default()), "{}", out);
    }
}

#[test]
fn a_valid_file_prints_nothing() {
    assert_eq!(printed("good.toml", HTTP, &[]), "");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The same in JSON: the place and the caret are at the value, however it is spaced.
    #[test]
    fn the_caret_is_under_the_json_value(
        indent in "[ \t]{0,3}",
        before in "[ \t]{0,2}",
        after in "[ \t]{0,3}",
        value in prop::sample::select(vec![
            "\"587\"", "\"abc\"", "true", "-1", "70000", "[1, 2]", "{\"a\": 1}", "null",
        ]),
    ) {
        let line = format!("{indent}\"port\"{before}:{after}{value}");
        let text = format!(
            "{{\n  \"external_url\": \"http://mm.example.com\",\n  \"listen\": {{\n{line}\n  }}\n}}\n"
        );
        let out = printed("p.json", &text, &[]);
        let expected = format!("{indent}\"port\"{before}:{after}").chars().count() + 1;
        prop_assert!(out.contains(&format!(" --> p.json:4:{expected}\n")), "{out}");
        let (column, under) = place_and_caret(&out).unwrap_or_default();
        prop_assert_eq!(column, expected, "{}", out);
        prop_assert!(under.starts_with(value), "{}", out);
    }
}
