//! `gitlab-mattermost import --nixpkgs-module`: nixpkgs' `services.mattermost`, as `nix eval
//! --json` prints it, into the compiler's config and into a NixOS module. Every option of the
//! old module is accounted for in the report; the result renders, keeps the account, the
//! directories and the database in place, and no secret reaches the config, the report or a
//! rendered file; the NixOS output, evaluated with the module, hands the compiler the same
//! configuration.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Every option of nixpkgs' services.mattermost that the fixtures set (the module's option
/// tree; `settings` and `environment` are free-form).
const NIXPKGS_OPTIONS: &[&str] = &[
    "enable",
    "package",
    "siteUrl",
    "siteName",
    "host",
    "port",
    "dataDir",
    "logDir",
    "configDir",
    "user",
    "group",
    "socket.enable",
    "socket.path",
    "socket.export",
    "mutableConfig",
    "preferNixConfig",
    "plugins",
    "pluginsBundle",
    "telemetry.enableSecurityAlerts",
    "telemetry.enableDiagnostics",
    "environment",
    "environmentFile",
    "database.driver",
    "database.create",
    "database.peerAuth",
    "database.socketPath",
    "database.fromEnvironment",
    "database.name",
    "database.host",
    "database.port",
    "database.user",
    "database.password",
    "database.extraConnectionOptions",
    "settings",
    "matterircd.enable",
    "matterircd.package",
    "matterircd.parameters",
    // Renamed options: `nix eval --json` prints them with the new option's value.
    "listenAddress",
    "statePath",
    "extraConfig",
    "localDatabaseCreate",
    "localDatabaseName",
    "localDatabaseUser",
    "localDatabasePassword",
];

/// Secret values in the fixtures: none may appear in a config, a report or a rendered file.
const CANARIES: &[&str] = &[
    "canary-db-password-7c1e",
    "canary-aws-secret-91ad",
    "canary-s3-secret-55b2",
    "canary-gitlab-secret-0d3f",
    "canary-dsn-password-3a9f",
    "canary-gitlab-secret-e41b",
    "canary smtp password 8c2d",
    "canary-proxy-token-6f0a",
    "mmpgsecret",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nixpkgs-module")
        .join(name)
}

struct Run {
    config: String,
    report: String,
}

fn import(json: &Path, args: &[&str]) -> Run {
    let out = bin()
        .arg("import")
        .arg("--nixpkgs-module")
        .arg(json)
        .args(args)
        // The old servers signed in with GitLab; on 11 the import needs to be told how it goes on.
        .args(sign_in_choice(args))
        .output()
        .expect("runs");
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "import {} failed:\n{report}",
        json.display()
    );
    Run {
        config: String::from_utf8_lossy(&out.stdout).into_owned(),
        report,
    }
}

/// The environment-file fixture, with its placeholders filled in: the environment file and
/// a config directory holding the config.json the old module wrote.
fn environment_file_fixture(dir: &Path, env_file: &Path) -> PathBuf {
    let config_dir = dir.join("etc-mattermost");
    std::fs::create_dir_all(&config_dir).expect("mkdir");
    std::fs::write(
        config_dir.join("config.json"),
        r#"{"FileSettings": {"Directory": "/srv/mattermost/files"},
            "PluginSettings": {"Directory": "/srv/mattermost/plugins", "ClientDirectory": "/srv/mattermost/client-plugins"}}"#,
    )
    .expect("write config.json");
    let text = std::fs::read_to_string(fixture("environment-file.json"))
        .expect("fixture")
        .replace("@ENV_FILE@", &env_file.display().to_string())
        .replace("@CONFIG_DIR@", &config_dir.display().to_string());
    write(dir, "environment-file.json", &text)
}

/// Render `config` (TOML) into `dir/rendered` and return the files.
fn render(dir: &Path, config: &str) -> BTreeMap<String, Vec<u8>> {
    let path = write(dir, "imported.toml", config);
    let out = dir.join("rendered");
    let r = bin()
        .arg("render")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(["--install-dir", "/etc/gitlab-mattermost"])
        .output()
        .expect("runs");
    assert!(
        r.status.success(),
        "render refused the imported config:\n{}\n{config}",
        String::from_utf8_lossy(&r.stderr)
    );
    read_tree(&out)
}

fn text(files: &BTreeMap<String, Vec<u8>>, name: &str) -> String {
    String::from_utf8_lossy(&files[name]).into_owned()
}

fn env_of(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    gitlab_mattermost::render::env_file::parse(&text(files, "mattermost.env"))
        .expect("env file parses")
        .into_iter()
        .collect()
}

fn assert_no_canary(what: &str, text: &str) {
    for canary in CANARIES {
        assert!(
            !text.contains(canary),
            "{what} holds the secret {canary:?}:\n{text}"
        );
    }
}

/// The option paths a fixture sets (free-form attribute sets count as one).
fn leaves(value: &Value, prefix: &str, out: &mut Vec<String>) {
    let Value::Object(map) = value else { return };
    for (key, inner) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let free_form = [
            "settings",
            "extraConfig",
            "environment",
            "database.extraConnectionOptions",
        ];
        match inner {
            Value::Object(m) if !m.is_empty() && !free_form.contains(&path.as_str()) => {
                leaves(inner, &path, out)
            }
            _ => out.push(path),
        }
    }
}

#[test]
fn every_nixpkgs_option_in_every_fixture_is_in_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env_json = environment_file_fixture(dir.path(), &fixture("environment-file.env"));
    let mut covered = std::collections::BTreeSet::new();
    for json in [
        fixture("peer-auth.json"),
        fixture("password-auth.json"),
        fixture("early-rework.json"),
        env_json,
    ] {
        let run = import(&json, &[]);
        let value: Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("fixture")).expect("JSON");
        let mut set = Vec::new();
        leaves(&value, "", &mut set);
        for option in set {
            let named = format!("services.mattermost.{option}");
            assert!(
                run.report
                    .lines()
                    .any(|l| l.contains(&format!("- {named}:"))
                        || l.contains(&format!("- {named}."))
                        || l.contains(&format!("- {named} "))),
                "{} sets {named}, which the report does not mention:\n{}",
                json.display(),
                run.report
            );
            covered.insert(option);
        }
    }
    let missing: Vec<&&str> = NIXPKGS_OPTIONS
        .iter()
        .filter(|o| !covered.contains(**o))
        .collect();
    assert!(missing.is_empty(), "no fixture sets {missing:?}");
}

#[test]
fn peer_auth_takeover_keeps_ids_directories_and_database() {
    let run = import(&fixture("peer-auth.json"), &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = render(dir.path(), &run.config);
    let env = env_of(&files);
    assert_eq!(
        env["MM_SERVICESETTINGS_SITEURL"],
        "https://chat.example.org"
    );
    assert_eq!(env["MM_SERVICESETTINGS_LISTENADDRESS"], "127.0.0.1:8065");
    assert_eq!(env["MM_TEAMSETTINGS_SITENAME"], "Example Chat");
    assert_eq!(env["MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS"], "7");
    assert_eq!(
        env["MM_FILESETTINGS_DIRECTORY"],
        "/var/lib/mattermost/data/"
    );
    // nixpkgs unpacks plugins in <dataDir>/data/.plugins since 25.05 (its tarballs are in
    // <dataDir>/data/plugins, which Mattermost finds below FileSettings.Directory).
    assert_eq!(
        env["MM_PLUGINSETTINGS_DIRECTORY"],
        "/var/lib/mattermost/data/.plugins/server"
    );
    assert_eq!(
        env["MM_PLUGINSETTINGS_CLIENTDIRECTORY"],
        "/var/lib/mattermost/data/.plugins/client"
    );
    assert_eq!(env["MM_LOGSETTINGS_FILELOCATION"], "/var/log/mattermost");
    assert_eq!(
        env["MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION"],
        "/var/lib/mattermost/mattermost.sock"
    );
    // The same database over the socket, as the same role, with no password.
    let dsn = &env["MM_SQLSETTINGS_DATASOURCE"];
    assert!(
        dsn.starts_with("postgres://mattermost@/mattermost?host=/run/postgresql"),
        "{dsn}"
    );
    // nixpkgs' fixed ids (ids.nix) for the account named mattermost.
    let sysusers = text(&files, "sysusers.d/mattermost.conf");
    assert!(sysusers.contains("g mattermost 254\n"), "{sysusers}");
    assert!(
        sysusers.contains("u mattermost 254:mattermost \"Mattermost\" /var/lib/mattermost "),
        "{sysusers}"
    );
    let tmpfiles = text(&files, "tmpfiles.d/mattermost.conf");
    for dir in [
        "/var/lib/mattermost",
        "/etc/mattermost",
        "/var/lib/mattermost/data",
    ] {
        assert!(
            tmpfiles.contains(&format!("d {dir} 0750 mattermost mattermost")),
            "{tmpfiles}"
        );
    }
    let unit = text(&files, "systemd/mattermost.service");
    assert!(
        unit.contains("--config /etc/mattermost/config.json"),
        "{unit}"
    );
    // GitLab sign-in and mail became the typed sections.
    assert!(
        run.config
            .contains("enable = true\nid = \"0123456789abcdef0123456789abcdef\""),
        "{}",
        run.config
    );
    assert!(
        run.config.contains("\n[smtp]\nauth = true\n"),
        "{}",
        run.config
    );
    assert!(
        run.config.contains("[nginx]\nenable = false\n"),
        "{}",
        run.config
    );
    // nixpkgs' default database password is unused with peer authentication.
    assert_no_canary("config", &run.config);
    assert_no_canary("report", &run.report);
    for (name, content) in &files {
        assert_no_canary(name, &String::from_utf8_lossy(content));
    }
}

#[test]
fn the_rework_before_plugins_bundle_keeps_uploads_in_the_data_dir_and_its_socket() {
    let run = import(&fixture("early-rework.json"), &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = render(dir.path(), &run.config);
    let env = env_of(&files);
    // That module set FileSettings.Directory to dataDir itself.
    assert_eq!(env["MM_FILESETTINGS_DIRECTORY"], "/srv/mattermost/");
    assert_eq!(
        env["MM_PLUGINSETTINGS_DIRECTORY"],
        "/srv/mattermost/data/plugins/server"
    );
    assert_eq!(
        env["MM_PLUGINSETTINGS_CLIENTDIRECTORY"],
        "/srv/mattermost/data/plugins/client"
    );
    // database.host a socket directory: the same database over that socket, no password.
    let dsn = &env["MM_SQLSETTINGS_DATASOURCE"];
    assert!(
        dsn.starts_with("postgres://mattermost@/mattermost?host=/run/postgresql"),
        "{dsn}"
    );
    assert!(
        run.report
            .contains("password authentication over the socket becomes peer authentication"),
        "{}",
        run.report
    );
    // mutableConfig without preferNixConfig: the System Console used to win; the report says
    // that now the configuration does.
    assert!(
        run.report
            .lines()
            .any(|l| l.contains("services.mattermost.preferNixConfig:") && l.contains("a change")),
        "{}",
        run.report
    );
    assert_no_canary("config", &run.config);
    assert_no_canary("report", &run.report);
    for (name, content) in &files {
        assert_no_canary(name, &String::from_utf8_lossy(content));
    }
}

#[test]
fn a_password_in_the_json_goes_to_a_root_only_file_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    let run = import(
        &fixture("password-auth.json"),
        &["--secrets-dir", secrets.to_str().expect("utf-8")],
    );
    let password = secrets.join("database-password");
    assert_eq!(
        std::fs::read_to_string(&password).expect("written"),
        "canary-db-password-7c1e"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&password)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(run
        .config
        .contains(&format!("password_file = \"{}\"", password.display())));
    assert!(run.report.contains(
        "services.mattermost.database.password: the PostgreSQL password of the Mattermost role: the value sat in the Nix store"
    ), "{}", run.report);
    // Secrets from settings and environment go to files as well, each with the warning.
    for (file, value) in [
        ("gitlab-secret", "canary-gitlab-secret-0d3f"),
        ("s3-secret-access-key", "canary-s3-secret-55b2"),
    ] {
        assert_eq!(
            std::fs::read_to_string(secrets.join(file)).expect(file),
            value
        );
    }
    let private = std::fs::read_to_string(secrets.join("environment")).expect("environment");
    assert_eq!(private, "AWS_SECRET_ACCESS_KEY=canary-aws-secret-91ad\n");
    assert_no_canary("config", &run.config);
    assert_no_canary("report", &run.report);

    // Another account: no fixed id, NixOS keeps the one it chose.
    assert!(
        run.config
            .contains("[account]\ngroup = \"chatgroup\"\nuser = \"chat\"\n"),
        "{}",
        run.config
    );
    assert!(
        run.report.contains("/var/lib/nixos/uid-map"),
        "{}",
        run.report
    );
    // The local server stays on; the DSN keeps sslmode=disable and the port.
    let files = render(dir.path(), &run.config);
    let env = env_of(&files);
    assert_eq!(
        env["MM_SQLSETTINGS_DATASOURCE"],
        "postgres://chat@127.0.0.1:5433/chat?sslmode=disable&connect_timeout=10"
    );
    assert_eq!(env["MM_SERVICESETTINGS_LISTENADDRESS"], "0.0.0.0:8066");
    // settings win over the typed option, the environment over settings.
    assert_eq!(env["MM_TEAMSETTINGS_SITENAME"], "Chat from the environment");
    assert_eq!(env["MM_FILESETTINGS_DRIVERNAME"], "amazons3");
    for (name, content) in &files {
        assert_no_canary(name, &String::from_utf8_lossy(content));
    }
    for expected in [
        "services.mattermost.siteName: TeamSettings.SiteName: not in effect: services.mattermost.environment overrides",
        "services.mattermost.environment.MM_TEAMSETTINGS_SITNAME: MM_TEAMSETTINGS_SITNAME is not a Mattermost setting (Mattermost ignores it); did you mean MM_TEAMSETTINGS_SITENAME?",
        "services.mattermost.settings.ServiceSettings.MaximumLoginAttempts: ServiceSettings.MaximumLoginAttempts (MM_SERVICESETTINGS_MAXIMUMLOGINATTEMPTS): Mattermost could not parse this value",
        "services.mattermost.statePath: an alias nixpkgs keeps for the renamed option dataDir",
        "services.mattermost.newOptionFromTheFuture: not an option of services.mattermost this importer knows",
        "services.mattermost.matterircd.enable: true: no equivalent; matterircd is a separate service",
        "services.mattermost.mutableConfig: true: no switch needed",
        "services.mattermost.socket.export: true: no equivalent",
        "services.mattermost.telemetry.reportTelemetry: not a telemetry switch this importer knows",
        "services.mattermost.database.create: services.postgresql.enable = true beside the module",
        "gitlab.allow_team_edition_route = true (--gitlab-sign-in team-route)",
    ] {
        assert!(run.report.contains(expected), "missing {expected:?} in:\n{}", run.report);
    }
}

#[test]
fn a_readable_environment_file_is_split_into_settings_and_secret_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = environment_file_fixture(dir.path(), &fixture("environment-file.env"));
    let secrets = dir.path().join("secrets");
    let run = import(&json, &["--secrets-dir", secrets.to_str().expect("utf-8")]);
    for (file, value) in [
        ("database-password", "canary-dsn-password-3a9f"),
        ("gitlab-secret", "canary-gitlab-secret-e41b"),
        ("smtp-password", "canary smtp password 8c2d"),
        ("environment", "HTTP_PROXY_TOKEN=canary-proxy-token-6f0a\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(secrets.join(file)).expect(file),
            value,
            "{file}"
        );
    }
    // The environment file is root's, not the store's: no store warning for its secrets.
    assert!(
        !run.report.contains("sat in the Nix store"),
        "{}",
        run.report
    );
    assert_no_canary("config", &run.config);
    assert_no_canary("report", &run.report);
    let files = render(dir.path(), &run.config);
    let env = env_of(&files);
    // fromEnvironment: the DataSource of the environment file, its password left out.
    assert_eq!(
        env["MM_SQLSETTINGS_DATASOURCE"],
        "postgres://mattermost@db.example.net:5432/mattermost?sslmode=verify-full&connect_timeout=10"
    );
    // The environment file wins over siteName, as systemd reads it last.
    assert_eq!(env["MM_TEAMSETTINGS_SITENAME"], "Chat from the file");
    // The directories the old module's config.json names.
    assert_eq!(env["MM_FILESETTINGS_DIRECTORY"], "/srv/mattermost/files/");
    assert_eq!(
        env["MM_PLUGINSETTINGS_CLIENTDIRECTORY"],
        "/srv/mattermost/client-plugins"
    );
    let unit = text(&files, "systemd/mattermost.service");
    for credential in ["database_password", "gitlab_secret", "smtp_password"] {
        assert!(
            unit.contains(&format!("LoadCredential={credential}:")),
            "{credential} in\n{unit}"
        );
    }
    for (name, content) in &files {
        assert_no_canary(name, &String::from_utf8_lossy(content));
    }
    assert!(
        run.report
            .contains("MM_NOT_A_SETTING is not a Mattermost setting"),
        "{}",
        run.report
    );
}

#[test]
fn an_unreadable_environment_file_is_named_with_what_it_must_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-dir/mattermost.env");
    let json = environment_file_fixture(dir.path(), &missing);
    let run = import(&json, &[]);
    let path = missing.display().to_string();
    assert!(
        run.report
            .contains(&format!("{path} could not be read here")),
        "{}",
        run.report
    );
    for variable in [
        "MM_GITLABSETTINGS_SECRET",
        "MM_EMAILSETTINGS_SMTPPASSWORD",
        "the password inside MM_SQLSETTINGS_DATASOURCE",
    ] {
        assert!(
            run.report
                .contains(&format!("the value of {variable} in {path}")),
            "{variable}:\n{}",
            run.report
        );
    }
    // Without the file, the database options stand in, with the password in a file.
    assert!(run.config.contains("kind = \"external\""), "{}", run.config);
    assert!(run
        .config
        .contains("password_file = \"/etc/gitlab-mattermost-secrets/database-password\""));
}

#[test]
fn bad_input_is_refused_with_where_and_what_and_nothing_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = write(dir.path(), "mattermost.toml", "# an earlier import\n");
    for (name, expected) in [
        (
            "not-json.json",
            "not-json.json:3:14: invalid JSON: expected `,` or `}`",
        ),
        (
            "list.json",
            "expected the JSON object of services.mattermost, found a list",
        ),
        (
            "mysql.json",
            "services.mattermost.database.driver: \"mysql\": only PostgreSQL is supported",
        ),
        ("site-path.json", "\"https://example.com/chat\" has a path"),
    ] {
        let o = bin()
            .arg("import")
            .arg("--nixpkgs-module")
            .arg(fixture(&format!("bad/{name}")))
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains("nothing was written"), "{name}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(&out).expect("intact"),
            "# an earlier import\n"
        );
    }
    // A gitlab.rb and --nixpkgs-module are two different imports.
    let o = bin()
        .args(["import", "/etc/gitlab/gitlab.rb", "--nixpkgs-module"])
        .arg(fixture("peer-auth.json"))
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}

#[test]
fn every_format_renders_the_same_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rendered = Vec::new();
    for (format, file) in [("toml", "c.toml"), ("json", "c.json"), ("nix", "c.nix")] {
        let run = import(&fixture("peer-auth.json"), &["--format", format]);
        let path = write(dir.path(), file, &run.config);
        let out = dir.path().join(format!("out-{format}"));
        let r = bin()
            .arg("render")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .args(["--install-dir", "/etc/gitlab-mattermost"])
            .output()
            .expect("runs");
        assert!(
            r.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        rendered.push((format, read_tree(&out)));
    }
    for (format, files) in &rendered[1..] {
        assert!(
            files == &rendered[0].1,
            "{format} renders differently from toml"
        );
    }
}

/// The nixos format, evaluated with this repository's module (over the stub NixOS options of
/// checks/eval) and nixpkgs' lib: the module's assertions hold, and it hands the compiler
/// exactly what the json format holds (plus the module's own defaults), which the compiler
/// accepts.
fn evaluate_nixos_output(nixos: &str, json: &str) {
    let Some(lib) = std::env::var_os("NIXPKGS_LIB").filter(|l| !l.is_empty()) else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: NIXPKGS_LIB is not set: the NixOS output is not evaluated with the module (it needs the lib folder of a nixpkgs checkout)");
        return;
    };
    if !have("nix-instantiate") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let imported = write(dir.path(), "imported.nix", nixos);
    let root = repo_root();
    let expr = format!(
        r#"let
  lib = import {lib};
  eval = lib.evalModules {{
    modules = [
      {root}/nixos-modules
      {root}/checks/eval/nixos-stubs.nix
      {imported}
      {{ _module.args.pkgs = import {root}/checks/eval/fake-pkgs.nix {{ inherit lib; system = "x86_64-linux"; }}; }}
    ];
  }};
  config = eval.config;
in {{
  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  final = builtins.unsafeDiscardStringContext (builtins.toJSON config.services.gitlab-mattermost.finalConfig);
}}"#,
        lib = Path::new(&lib).display(),
        root = root.display(),
        imported = imported.display(),
    );
    let o = std::process::Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--expr", &expr])
        .output()
        .expect("nix-instantiate runs");
    assert!(
        o.status.success(),
        "evaluation failed:\n{}\n{nixos}",
        String::from_utf8_lossy(&o.stderr)
    );
    let result: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(result["failed"], Value::Array(vec![]), "{nixos}");
    let final_config: Value =
        serde_json::from_str(result["final"].as_str().expect("string")).expect("JSON");
    let imported: Value = serde_json::from_str(json).expect("JSON");
    assert_subset(&imported, &final_config, "");
    let path = write(
        dir.path(),
        "final.json",
        result["final"].as_str().expect("string"),
    );
    let check = bin().arg("check").arg(&path).output().expect("runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

fn assert_subset(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let here = format!("{path}.{k}");
                let Some(inner) = a.get(k) else {
                    panic!("the module does not hand the compiler {here}");
                };
                assert_subset(v, inner, &here);
            }
        }
        _ => assert_eq!(expected, actual, "at {path}"),
    }
}

#[test]
fn the_nixos_format_is_a_module_handing_the_compiler_the_same_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env_json = environment_file_fixture(dir.path(), &fixture("environment-file.env"));
    for json in [
        fixture("peer-auth.json"),
        fixture("password-auth.json"),
        env_json,
    ] {
        let nixos = import(&json, &["--format", "nixos"]).config;
        assert!(
            nixos.contains("  services.gitlab-mattermost = {\n"),
            "{nixos}"
        );
        assert!(nixos.contains("    enable = true;\n"), "{nixos}");
        assert!(nixos.contains("    externalUrl = "), "{nixos}");
        assert!(!nixos.contains("external_url"), "{nixos}");
        assert_no_canary("nixos output", &nixos);
        let json_out = import(&json, &["--format", "json"]).config;
        evaluate_nixos_output(&nixos, &json_out);
    }
    let password = import(&fixture("password-auth.json"), &["--format", "nixos"]).config;
    for extra in [
        "  services.postgresql.enable = true;\n",
        "  systemd.services.mattermost.serviceConfig.EnvironmentFile = \"/etc/gitlab-mattermost-secrets/environment\";\n",
    ] {
        assert!(password.contains(extra), "{password}");
    }
}

#[test]
fn the_gitlab_rb_import_writes_a_nixos_module_too() {
    let rb = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab-rb/good/doc-pre-11-block.rb");
    let args = |format: &str| {
        let o = bin()
            .arg("import")
            .arg(&rb)
            .args(["--format", format])
            .output()
            .expect("runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let nixos = args("nixos");
    assert!(nixos.contains("    externalUrl = "), "{nixos}");
    evaluate_nixos_output(&nixos, &args("json"));
}

/// `--gitlab-sign-in team-route` unless the test gives a choice itself.
fn sign_in_choice(args: &[&str]) -> Vec<&'static str> {
    if args.contains(&"--gitlab-sign-in") {
        Vec::new()
    } else {
        vec!["--gitlab-sign-in", "team-route"]
    }
}

/// `database.port` as a string (a hand-made JSON, an option typed loosely): the number it
/// holds is carried; one that holds no port is reported, never replaced by 5432 unsaid.
#[test]
fn a_string_database_port_is_carried_or_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    let original: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("password-auth.json")).expect("fixture"),
    )
    .expect("JSON");
    for (port, carried) in [
        (serde_json::json!("6543"), Some(6543)),
        (serde_json::json!(" 6543 "), Some(6543)),
        (serde_json::json!("postgres"), None),
        (serde_json::json!(70000), None),
        (serde_json::json!(0), None),
    ] {
        let mut module = original.clone();
        module["database"]["port"] = port.clone();
        let json_path = write(dir.path(), "port.json", &module.to_string());
        let run = import(
            &json_path,
            &["--secrets-dir", secrets.to_str().expect("utf-8")],
        );
        let config: toml_edit::DocumentMut = run.config.parse().expect("TOML");
        let found = config["database"]["port"].as_integer();
        match carried {
            Some(p) => {
                assert_eq!(found, Some(p), "{port}: {}", run.config);
                assert!(
                    run.report.contains(&format!("read as the port number {p}")),
                    "{port}: {}",
                    run.report
                );
            }
            None => {
                let shown = port.to_string();
                assert!(
                    run.report.contains(&format!("{shown}: not a port number"))
                        && run.report.contains("5432"),
                    "{port} must be reported with the port used instead:\n{}",
                    run.report
                );
            }
        }
    }
}
