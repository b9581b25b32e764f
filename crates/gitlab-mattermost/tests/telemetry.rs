//! Mattermost's diagnostics and usage data go to Mattermost, Inc. only when the config says so.

mod common;

use common::{bin, outcome};

fn env_of(config: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("site.toml");
    std::fs::write(&path, config).expect("write config");
    outcome(bin().arg("env").arg(&path).output().expect("run"))
}

const SITE: &str = "external_url = \"http://chat.example.com\"\n";

#[test]
fn diagnostics_are_off_unless_the_settings_turn_them_on() {
    let (code, env, err) = env_of(SITE);
    assert_eq!(code, 0, "{err}");
    assert!(
        env.lines()
            .any(|l| l == "MM_LOGSETTINGS_ENABLEDIAGNOSTICS=false"),
        "{env}"
    );
    // Security fix alerts keep Mattermost's default.
    assert!(
        !env.contains("MM_SERVICESETTINGS_ENABLESECURITYFIXALERT"),
        "{env}"
    );

    let on = format!("{SITE}[settings]\n\"LogSettings.EnableDiagnostics\" = true\n");
    let (code, env, err) = env_of(&on);
    assert_eq!(code, 0, "the admin's own value is no conflict: {err}");
    assert!(
        env.lines()
            .any(|l| l == "MM_LOGSETTINGS_ENABLEDIAGNOSTICS=true"),
        "{env}"
    );
}
