//! End-to-end tests of `render`: outputs, determinism, formats, atomicity, `--check`.

mod common;

use common::*;

const FILES: &[&str] = &[
    "ids.json",
    "manifest.json",
    "mattermost.env",
    "nginx/http.conf",
    "nginx/locations.conf",
    "nginx/mattermost.conf",
    "systemd/mattermost.service",
    "sysusers.d/mattermost.conf",
    "tmpfiles.d/mattermost.conf",
];

#[test]
fn full_example_renders_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("full.toml"), &out, &[]);
    let tree = read_tree(&out);
    assert_eq!(tree.keys().map(String::as_str).collect::<Vec<_>>(), FILES);
}

#[test]
fn minimal_example_renders_with_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("minimal.toml"), &out, &[]);
    let env = std::fs::read_to_string(out.join("mattermost.env")).unwrap();
    assert!(env.contains("MM_SERVICESETTINGS_SITEURL=http://mattermost.example.com\n"));
    assert!(env.contains("MM_SERVICESETTINGS_LISTENADDRESS=127.0.0.1:8065\n"));
    assert!(env.contains("MM_SQLSETTINGS_DRIVERNAME=postgres\n"));
    let ids = std::fs::read_to_string(out.join("ids.json")).unwrap();
    let ids: serde_json::Value = serde_json::from_str(&ids).unwrap();
    assert_eq!(
        ids,
        serde_json::json!({"user": "mattermost", "group": "mattermost", "uid": null, "gid": null})
    );
    let nginx = std::fs::read_to_string(out.join("nginx/mattermost.conf")).unwrap();
    assert!(!nginx.contains("ssl_certificate"), "http site has no TLS");
    assert!(nginx.contains("proxy_set_header X-Forwarded-Proto http;"));
}

#[test]
fn site_url_is_mattermosts_url_and_external_url_stays_the_vhost() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "site.toml",
        "external_url = \"https://mm.internal.example.com:8443\"\n\
         site_url = \"https://chat.example.com\"\n\
         [nginx]\ncertificate = \"/etc/ssl/mm/fullchain.pem\"\ncertificate_key = \"/etc/ssl/mm/key.pem\"\n",
    );
    let out = tmp.path().join("out");
    render(&config, &out, &[]);
    let env = std::fs::read_to_string(out.join("mattermost.env")).unwrap();
    assert!(
        env.contains("MM_SERVICESETTINGS_SITEURL=https://chat.example.com\n"),
        "{env}"
    );
    let nginx = std::fs::read_to_string(out.join("nginx/mattermost.conf")).unwrap();
    assert!(
        nginx.contains("server_name mm.internal.example.com;"),
        "{nginx}"
    );
    assert!(nginx.contains("listen 0.0.0.0:8443 ssl http2;"), "{nginx}");
    assert!(
        nginx.contains("ssl_certificate /etc/ssl/mm/fullchain.pem;"),
        "{nginx}"
    );
    // Mattermost hears the browser's view: https on the default port, so no port in Host.
    assert!(nginx.contains("proxy_set_header Host $host;"), "{nginx}");
    assert!(!nginx.contains("$host:8443"), "{nginx}");
    assert!(
        nginx.contains("proxy_set_header X-Forwarded-Proto https;"),
        "{nginx}"
    );
    let unit = std::fs::read_to_string(out.join("systemd/mattermost.service")).unwrap();
    assert!(
        unit.contains("Description=Mattermost chat server for https://chat.example.com\n"),
        "{unit}"
    );
    // Without site_url, SiteURL is external_url.
    let text = std::fs::read_to_string(&config).unwrap();
    let without = write(
        tmp.path(),
        "vhost-only.toml",
        &text.replace("site_url = \"https://chat.example.com\"\n", ""),
    );
    render(&without, &out, &[]);
    let env = std::fs::read_to_string(out.join("mattermost.env")).unwrap();
    assert!(
        env.contains("MM_SERVICESETTINGS_SITEURL=https://mm.internal.example.com:8443\n"),
        "{env}"
    );
    let nginx = std::fs::read_to_string(out.join("nginx/mattermost.conf")).unwrap();
    assert!(
        nginx.contains("proxy_set_header Host $host:8443;"),
        "{nginx}"
    );
}

#[test]
fn local_mode_puts_its_socket_into_the_units_runtime_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "site.toml",
        "external_url = \"http://mm.example.com\"\n[account]\nuser = \"chat\"\n[database]\nuser = \"chat\"\n",
    );
    let out = tmp.path().join("out");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();

    // On by default (mmctl, integrations sync and status need it): the socket goes under
    // /run/<account.user>, which the unit owns, mode 0750 (root and the service user only).
    render(&config, &out, &[]);
    let env = read("mattermost.env");
    assert!(
        env.contains("MM_SERVICESETTINGS_ENABLELOCALMODE=true\n")
            && env.contains(
                "MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION=/run/chat/mattermost_local.socket\n"
            ),
        "{env}"
    );
    let unit = read("systemd/mattermost.service");
    assert!(
        unit.contains("RuntimeDirectory=chat\nRuntimeDirectoryMode=0750\n"),
        "{unit}"
    );

    // Off when the settings say so: no socket, no runtime directory.
    render(
        &config,
        &out,
        &["--set", "settings.ServiceSettings.EnableLocalMode=false"],
    );
    let env = read("mattermost.env");
    assert!(
        env.contains("MM_SERVICESETTINGS_ENABLELOCALMODE=false\n")
            && !env.contains("LOCALMODESOCKETLOCATION"),
        "{env}"
    );
    assert!(!read("systemd/mattermost.service").contains("RuntimeDirectory"));

    // The config may place it in one of the service's own directories instead.
    render(
        &config,
        &out,
        &[
            "--set",
            "settings.ServiceSettings.EnableLocalMode=true",
            "--set",
            "settings.ServiceSettings.LocalModeSocketLocation=/var/lib/mattermost/mm.sock",
        ],
    );
    assert!(read("mattermost.env")
        .contains("MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION=/var/lib/mattermost/mm.sock\n"));
    assert!(!read("systemd/mattermost.service").contains("RuntimeDirectory"));
}

#[test]
fn a_local_mode_socket_out_of_reach_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "site.toml",
        "external_url = \"http://mm.example.com\"\n\
         [settings.ServiceSettings]\nEnableLocalMode = true\n\
         LocalModeSocketLocation = \"/var/tmp/mattermost_local.socket\"\n",
    );
    let o = bin().arg("check").arg(&config).output().unwrap();
    let err = diagnostic_lines(&String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("site.toml:4:27: settings.ServiceSettings.LocalModeSocketLocation:")
            && err.contains("private /tmp")
            && err.contains("/run/mattermost/mattermost_local.socket"),
        "{err}"
    );
    let o = bin()
        .arg("check")
        .arg(&config)
        .args([
            "--set",
            "settings.ServiceSettings.LocalModeSocketLocation=/srv/mm.sock",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("the unit cannot create /srv/mm.sock"), "{err}");
}

#[test]
fn rendering_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    render(&example("full.toml"), &a, &[]);
    render(&example("full.toml"), &b, &[]);
    assert_eq!(read_tree(&a), read_tree(&b));
    // And again into the same directory (replacing it).
    render(&example("full.toml"), &a, &[]);
    assert_eq!(read_tree(&a), read_tree(&b));
}

#[test]
fn toml_nix_and_json_render_byte_identical_output() {
    let tmp = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for name in ["full.toml", "full.nix", "full.json"] {
        let out = tmp.path().join(name);
        render(&example(name), &out, &[]);
        trees.push((name, read_tree(&out)));
    }
    for (name, tree) in &trees[1..] {
        assert!(
            tree == &trees[0].1,
            "{name} renders differently from full.toml"
        );
    }
}

#[test]
fn real_nix_evaluation_of_the_nix_example_renders_the_same() {
    if !have("nix-instantiate") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(example("full.nix"))
        .output()
        .expect("nix-instantiate runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json = write(
        tmp.path(),
        "evaluated.json",
        &String::from_utf8_lossy(&o.stdout),
    );
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    render(&json, &a, &[]);
    render(&example("full.nix"), &b, &[]);
    assert_eq!(read_tree(&a), read_tree(&b));
}

#[test]
fn layering_and_overrides_apply_later_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let site = write(
        tmp.path(),
        "site.json",
        r#"{"smtp": {"port": 2525}, "listen": {"port": 9000}}"#,
    );
    let o = bin()
        .arg("env")
        .arg(example("full.toml"))
        .arg(&site)
        .args(["--set", "listen.port=9001"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let env = String::from_utf8(o.stdout).unwrap();
    assert!(env.contains("MM_EMAILSETTINGS_SMTPPORT=2525\n"), "{env}");
    assert!(
        env.contains("MM_SERVICESETTINGS_LISTENADDRESS=127.0.0.1:9001\n"),
        "{env}"
    );
    assert!(env.contains(
        "MM_EMAILSETTINGS_SMTPPASSWORD=<from /etc/gitlab-mattermost-secrets/smtp-password>\n"
    ));
}

#[test]
fn check_flag_reports_out_of_date_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("full.toml"), &out, &[]);
    let check = |extra: &[&str]| {
        bin()
            .arg("render")
            .arg(example("full.toml"))
            .arg("--out")
            .arg(&out)
            .args(["--install-dir", "/etc/gitlab-mattermost", "--check"])
            .args(extra)
            .output()
            .unwrap()
    };
    assert_eq!(check(&[]).status.code(), Some(0));
    let o = check(&["--set", "listen.port=9999"]);
    assert_eq!(o.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&o.stdout);
    assert!(
        diff.contains("-MM_SERVICESETTINGS_LISTENADDRESS=127.0.0.1:8065"),
        "{diff}"
    );
    assert!(
        diff.contains("+MM_SERVICESETTINGS_LISTENADDRESS=127.0.0.1:9999"),
        "{diff}"
    );
    // --check never writes.
    let env = std::fs::read_to_string(out.join("mattermost.env")).unwrap();
    assert!(env.contains("127.0.0.1:8065"));
}

#[test]
fn manifest_lists_every_file_with_its_hash_and_the_secrets() {
    use sha2::Digest;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("full.toml"), &out, &[]);
    let tree = read_tree(&out);
    let manifest: serde_json::Value = serde_json::from_slice(&tree["manifest.json"]).unwrap();
    for (name, bytes) in &tree {
        if name == "manifest.json" {
            continue;
        }
        let want: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(manifest["files"][name], want, "{name}");
    }
    let secrets: Vec<&str> = manifest["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        secrets,
        [
            "/etc/gitlab-mattermost-secrets/gitlab-id",
            "/etc/gitlab-mattermost-secrets/gitlab-secret",
            "/etc/gitlab-mattermost-secrets/at-rest-key",
            "/etc/gitlab-mattermost-secrets/smtp-password"
        ]
    );
}

#[test]
fn unit_refers_to_the_install_dir_and_loads_each_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(&example("full.toml"), &out, &[]);
    let unit = std::fs::read_to_string(out.join("systemd/mattermost.service")).unwrap();
    assert!(unit.contains("exec --env-file /etc/gitlab-mattermost/mattermost.env "));
    assert!(unit
        .contains("LoadCredential=smtp_password:/etc/gitlab-mattermost-secrets/smtp-password\n"));
    assert!(unit.contains("--credential smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD"));
    assert!(unit.contains("Requires=postgresql.service\n"));
    assert!(unit.contains("User=mattermost\nGroup=mattermost\n"));
    assert!(unit.contains(
        "-- /opt/mattermost/bin/mattermost --config /var/lib/mattermost/config/config.json\n"
    ));
}

#[test]
fn external_database_gets_password_from_a_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render(
        &example("minimal.toml"),
        &out,
        &[
            "--set",
            "database.kind=external",
            "--set",
            "database.host=db.example.com",
            "--set",
            "database.password_file=/run/secrets/db",
            "--set",
            "database.read_replicas=[\"replica1\", \"replica2:5433\"]",
        ],
    );
    let unit = std::fs::read_to_string(out.join("systemd/mattermost.service")).unwrap();
    assert!(!unit.contains("Requires=postgresql.service"));
    assert!(unit.contains("LoadCredential=database_password:/run/secrets/db\n"));
    assert!(unit.contains("--password-into database_password=MM_SQLSETTINGS_DATASOURCE "));
    assert!(unit.contains("--password-into database_password=MM_SQLSETTINGS_DATASOURCEREPLICAS "));
    let env = std::fs::read_to_string(out.join("mattermost.env")).unwrap();
    assert!(env.contains("MM_SQLSETTINGS_DATASOURCE=\"postgres://mattermost@db.example.com:5432/mattermost?sslmode=require&connect_timeout=10\""), "{env}");
    assert!(
        env.contains("postgres://mattermost@replica2:5433/mattermost"),
        "{env}"
    );
}

#[test]
fn fields_of_nested_sections_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "n.toml",
        "external_url = \"http://mm.example.com\"\n[settings.MessageExportSettings.GlobalRelaySettings]\nCustomerType = \"A9\"\n",
    );
    let o = bin().arg("env").arg(&cfg).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let env = String::from_utf8(o.stdout).unwrap();
    assert!(
        env.contains("MM_MESSAGEEXPORTSETTINGS_GLOBALRELAYSETTINGS_CUSTOMERTYPE=A9\n"),
        "{env}"
    );
}

#[test]
fn nginx_sends_host_not_the_raw_client_header() {
    // NixOS runs gixy on nginx.conf, includes and all, and gixy rejects `$http_host`.
    let tmp = tempfile::tempdir().unwrap();
    for (url, want) in [
        ("https://mm.example.com", "proxy_set_header Host $host;"),
        (
            "https://mm.example.com:8443",
            "proxy_set_header Host $host:8443;",
        ),
    ] {
        let out = tmp.path().join("out");
        let set = format!("external_url={url}");
        render(&example("full.toml"), &out, &["--set", &set]);
        let loc = std::fs::read_to_string(out.join("nginx/locations.conf")).unwrap();
        assert_eq!(loc.matches(want).count(), 2, "{url}:\n{loc}");
        assert!(!loc.contains("$http_host"), "{loc}");
    }
}

/// International host names are mapped as UTS 46 says (lower case, punycode, width folded),
/// and what UTS 46 refuses is refused. The table was read off the build that mapped them
/// through ICU4X; the build maps them with Unicode's own tables now (`idna_adapter` 1.1), and
/// the two must agree.
#[test]
fn international_host_names_map_as_uts46_says() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "http://bücher.example",
            Some("http://xn--bcher-kva.example"),
        ),
        (
            "http://XN--BCHER-KVA.example",
            Some("http://xn--bcher-kva.example"),
        ),
        (
            "http://Straße.example",
            Some("http://xn--strae-oqa.example"),
        ),
        ("http://ＡＢ.example", Some("http://ab.example")),
        (
            "http://ß.\u{fb00}.example",
            Some("http://xn--zca.ff.example"),
        ),
        ("http://a\u{202e}b.example", None),
        ("http://xn--.example", None),
        ("http://١٢.example", None),
        ("http://a.b.c\u{200d}.example", None),
    ];
    for (url, site_url) in cases {
        let config = write(
            tmp.path(),
            "idn.toml",
            &format!("external_url = \"{url}\"\n"),
        );
        let (code, stdout, stderr) = run([std::ffi::OsStr::new("env"), config.as_os_str()]);
        match site_url {
            Some(site_url) => {
                assert_eq!(code, 0, "{url}: {stderr}");
                let line = format!("MM_SERVICESETTINGS_SITEURL={site_url}\n");
                assert!(
                    stdout.contains(&line),
                    "{url}: expected {line:?} in\n{stdout}"
                );
            }
            None => {
                assert_eq!(code, 2, "{url} was accepted:\n{stdout}");
                assert!(
                    stderr.contains("(invalid international domain name)"),
                    "{url}: {stderr}"
                );
            }
        }
    }
}
