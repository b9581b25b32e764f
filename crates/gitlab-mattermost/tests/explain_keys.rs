//! `explain` answers the names admins type: this config's own keys and bare field names, as
//! well as gitlab.rb keys, MM_* variables and Category.Field settings.

// The full command: explain comes with the importers.
#![cfg(feature = "full")]

mod common;

use common::run;

fn explain(key: &str) -> (i32, String, String) {
    run(["explain", key])
}

#[test]
fn a_key_of_this_config_says_its_type_default_and_the_setting_it_sets() {
    let (code, out, err) = explain("smtp.port");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("smtp.port  (a key of this config)"),
        "{out}"
    );
    assert!(out.contains("type: integer"), "{out}");
    assert!(
        out.contains("EmailSettings.SMTPPort (MM_EMAILSETTINGS_SMTPPORT)"),
        "{out}"
    );

    let (code, out, _) = explain("external_url");
    assert_eq!(code, 0);
    assert!(out.contains("ServiceSettings.SiteURL"), "{out}");
}

#[test]
fn a_bare_field_name_finds_its_setting_or_every_category_with_it() {
    let (code, out, err) = explain("SiteURL");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ServiceSettings.SiteURL  (MM_SERVICESETTINGS_SITEURL)"),
        "{out}"
    );

    let (code, out, err) = explain("MaximumLoginAttempts");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ServiceSettings.MaximumLoginAttempts")
            && out.contains("LdapSettings.MaximumLoginAttempts"),
        "{out}"
    );
}

#[test]
fn a_name_that_is_none_of_them_is_bad_input() {
    let (code, _, err) = explain("smtp.prot");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a key of this config"), "{err}");
}
