//! `import --json`: the report for scripts on stdout (each section's items with where they
//! came from, the counts, the files written), never a secret's value; without --out it is
//! refused (exit 2), as stdout then holds the report.

// The full command: these tests run the importers.
#![cfg(feature = "full")]

mod common;

use common::run;

const SECRET: &str = "CANARYgitlabsecret1234567890";

const GITLAB_RB: &str = "external_url 'https://gitlab.example.com'
mattermost_external_url 'https://chat.example.com'
mattermost['gitlab_enable'] = true
mattermost['gitlab_id'] = 'app-id-123'
mattermost['gitlab_secret'] = 'CANARYgitlabsecret1234567890'
mattermost['service_enable_only_admin_integrations'] = true
mattermost['team_site_name'] = 'Chat'
gitlab_rails['time_zone'] = 'UTC'
";

#[test]
fn the_report_as_json_lists_every_section_and_the_files_written() {
    let dir = tempfile::tempdir().unwrap();
    let rb = common::write(dir.path(), "gitlab.rb", GITLAB_RB);
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let out = dir.path().join("mattermost.toml");
    let (code, stdout, stderr) = run([
        "import".as_ref(),
        rb.as_os_str(),
        "--secrets-dir".as_ref(),
        secrets.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--gitlab-sign-in".as_ref(),
        "team-route".as_ref(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    // The text report is not printed as well.
    assert!(!stderr.contains("import report for"), "{stderr}");

    assert!(v["source"].as_str().unwrap().ends_with("gitlab.rb"), "{v}");
    for section in [
        "carried", "derived", "secrets", "skipped", "dropped", "renamed",
    ] {
        let items = v[section]
            .as_array()
            .unwrap_or_else(|| panic!("{section}: {v}"));
        assert_eq!(v["counts"][section], items.len(), "{section}");
    }
    let carried = v["carried"].to_string();
    assert!(
        carried.contains("settings.TeamSettings.SiteName = \\\"Chat\\\"")
            && carried.contains("gitlab.rb:7:1 mattermost['team_site_name']"),
        "{carried}"
    );
    let dropped = &v["dropped"];
    assert!(
        dropped.as_array().unwrap().iter().any(|i| i["origin"]
            .as_str()
            .is_some_and(|o| o.contains("service_enable_only_admin_integrations"))),
        "{dropped}"
    );
    let secret_file = secrets.join("gitlab-secret");
    assert_eq!(
        v["written"]["config"],
        out.display().to_string(),
        "{}",
        v["written"]
    );
    assert_eq!(
        v["written"]["secret_files"],
        serde_json::json!([secret_file.display().to_string()])
    );
    // Written indeed, and the value only there.
    assert!(out.exists());
    assert_eq!(
        std::fs::read_to_string(&secret_file).unwrap().trim(),
        SECRET
    );
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
}

#[test]
fn json_without_out_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rb = common::write(dir.path(), "gitlab.rb", GITLAB_RB);
    let (code, stdout, stderr) = run(["import".as_ref(), rb.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("--out"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
}
