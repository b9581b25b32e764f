use super::*;
use crate::sources::{parse_text, Format};

fn errors(toml: &str, input: Input) -> Vec<String> {
    let layer = parse_text("t.toml", Format::Toml, toml).expect("parses");
    let layered = Layered::merge(vec![layer]).expect("merges");
    match validate_input(&layered, input) {
        Ok(_) => Vec::new(),
        // One line each: where, key, message.
        Err(d) => {
            d.0.iter()
                .map(|d| {
                    let at = d.origin.as_ref().map(|o| o.to_string()).unwrap_or_default();
                    format!("{at}: {}: {}", d.key, d.message)
                })
                .collect()
        }
    }
}

#[test]
fn secret_path_keys_are_recognised() {
    for secret in [
        "smtp.password_file",
        "gitlab.id_file",
        "setting_files.SqlSettings.AtRestEncryptKey",
        "environment_files.https_proxy",
        "nginx.certificate_key",
    ] {
        assert!(is_secret_path_key(&key(secret)), "{secret}");
    }
    for plain in [
        "nginx.certificate",
        "directories.data",
        "environment.https_proxy",
        "",
    ] {
        assert!(!is_secret_path_key(&key(plain)), "{plain}");
    }
}

#[test]
fn a_bad_list_item_is_reported_once_and_the_rest_still_checked() {
    let e = errors(
        "external_url = \"http://mm.example.com\"\n[nginx]\nlisten_addresses = [1, \"[::]\"]\n[account]\nuser = \"root\"\n",
        Input::Complete,
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].contains("t.toml:3:21: nginx.listen_addresses.0: expected a string"),
        "{e:#?}"
    );
    assert!(e[1].contains("account.user"), "{e:#?}");
}

#[test]
fn an_unreadable_value_skips_only_the_checks_of_its_section() {
    // `kind` cannot be read: the local-database requirements are not judged on its default,
    // but the host is still checked, and so is the other section.
    let e = errors(
        "external_url = \"http://mm.example.com\"\n[database]\nkind = 3\nhost = \"a;b\"\n[smtp]\nenable = true\n",
        Input::Complete,
    );
    let all = e.join("\n");
    assert!(all.contains("database.kind"), "{all}");
    assert!(all.contains("database.host"), "{all}");
    assert!(!all.contains("peer authentication"), "{all}");
    assert!(all.contains("smtp.server"), "{all}");
}

#[test]
fn partial_input_skips_missing_keys_and_combined_checks() {
    let toml = "[smtp]\nenable = true\nport = \"x\"\n";
    let complete = errors(toml, Input::Complete).join("\n");
    assert!(complete.contains("missing required key"), "{complete}");
    let partial = errors(toml, Input::Partial).join("\n");
    assert!(partial.contains("smtp.port"), "{partial}");
    assert!(!partial.contains("missing required key"), "{partial}");
    assert!(!partial.contains("smtp.server"), "{partial}");
}
