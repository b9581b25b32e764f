//! The certificates, GitLab OAuth, database, secrets and host checks of `doctor`: each
//! with passing and failing cases against real files, a GitLab stub, PostgreSQL and
//! sockets.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::certs;
use support::gitlab_stub::{Stub, ADMIN_TOKEN};
use support::pg::{self, TempDb};
use support::*;

fn config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// Run one check with --json; (exit code, the check's JSON, stdout, stderr).
fn doctor(config: &Path, check: &str, extra: &[&str]) -> (i32, serde_json::Value, String, String) {
    let mut args = vec![
        "-vvv",
        "doctor",
        config.to_str().unwrap(),
        "--only",
        check,
        "--json",
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    let (out, err) = text(&o);
    let v = check_json(&out, check);
    (o.status.code().unwrap_or(-1), v, out, err)
}

fn problems(v: &serde_json::Value) -> String {
    serde_json::to_string(&v["problems"]).unwrap()
}

// ---- certificates -------------------------------------------------------------------

struct Certs {
    dir: tempfile::TempDir,
    root: certs::Pair,
}

fn certs_fixture() -> Option<Certs> {
    if !have("openssl") {
        skip("openssl is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = certs::ca(dir.path(), "Root CA");
    Some(Certs { dir, root })
}

impl Certs {
    /// An intermediate CA under the root, and a leaf for chat.example.test issued by it.
    fn leaf_via_intermediate(&self) -> (certs::Pair, certs::Pair) {
        let dir = self.dir.path();
        let inter = certs::leaf(dir, "inter", &["Intermediate CA"], &self.root, 30, true);
        let leaf = certs::leaf(dir, "chat", &["chat.example.test"], &inter, 30, false);
        (inter, leaf)
    }

    fn check(&self, cert: &Path, key: &Path) -> (i32, serde_json::Value) {
        let cfg = config(
            self.dir.path(),
            "site.toml",
            &format!(
                "external_url = \"https://chat.example.test\"\n[nginx]\ncertificate = \"{}\"\ncertificate_key = \"{}\"\n",
                cert.display(),
                key.display()
            ),
        );
        let (code, v, _, _) = doctor(
            &cfg,
            "certificates",
            &["--ca-file", self.root.cert.to_str().unwrap()],
        );
        (code, v)
    }
}

#[test]
fn certificates_pass_for_a_matching_current_complete_chain() {
    let Some(c) = certs_fixture() else { return };
    let (inter, leaf) = c.leaf_via_intermediate();
    let full = certs::bundle(
        &c.dir.path().join("fullchain.pem"),
        &[&leaf.cert, &inter.cert],
    );
    let (code, v) = c.check(&full, &leaf.key);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "pass");
    let steps = v["steps"].to_string();
    assert!(
        steps.contains("key matches") && steps.contains("chain reaches a trusted root"),
        "{v}"
    );
}

#[test]
fn certificates_fail_without_the_intermediate() {
    let Some(c) = certs_fixture() else { return };
    let (_inter, leaf) = c.leaf_via_intermediate();
    let (code, v) = c.check(&leaf.cert, &leaf.key);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(
        p.contains("chain is incomplete") && p.contains("intermediate"),
        "{p}"
    );
}

#[test]
fn certificates_fail_for_a_key_of_another_certificate() {
    let Some(c) = certs_fixture() else { return };
    let leaf = certs::leaf(
        c.dir.path(),
        "chat",
        &["chat.example.test"],
        &c.root,
        30,
        false,
    );
    let other = certs::leaf(
        c.dir.path(),
        "other",
        &["chat.example.test"],
        &c.root,
        30,
        false,
    );
    let (code, v) = c.check(&leaf.cert, &other.key);
    assert_eq!(code, 1);
    assert!(
        problems(&v).contains("does not belong to the certificate"),
        "{v}"
    );
}

#[test]
fn certificates_fail_for_another_name() {
    let Some(c) = certs_fixture() else { return };
    let leaf = certs::leaf(
        c.dir.path(),
        "wrong",
        &["other.example.test"],
        &c.root,
        30,
        false,
    );
    let (code, v) = c.check(&leaf.cert, &leaf.key);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(
        p.contains("does not name chat.example.test") && p.contains("other.example.test"),
        "{p}"
    );
}

#[test]
fn certificates_fail_when_expired() {
    let Some(c) = certs_fixture() else { return };
    let leaf = certs::leaf(
        c.dir.path(),
        "old",
        &["chat.example.test"],
        &c.root,
        -1,
        false,
    );
    let (code, v) = c.check(&leaf.cert, &leaf.key);
    assert_eq!(code, 1);
    assert!(problems(&v).contains("expired"), "{v}");
}

#[test]
fn certificates_fail_when_the_file_is_missing() {
    let Some(c) = certs_fixture() else { return };
    let missing = c.dir.path().join("nope.pem");
    let (code, v) = c.check(&missing, &missing);
    assert_eq!(code, 1);
    assert!(problems(&v).contains("cannot read"), "{v}");
}

// ---- GitLab OAuth -------------------------------------------------------------------

struct OAuth {
    dir: tempfile::TempDir,
    stub: Stub,
    token: PathBuf,
}

const CANARY_SECRET_WRONG: &str = "CANARY-not-the-secret-77";

fn oauth_fixture() -> OAuth {
    let stub = Stub::start(true);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    write_file(&token, ADMIN_TOKEN, 0o600);
    OAuth { dir, stub, token }
}

impl OAuth {
    /// Files for `uid`/`secret`, and a config for an http site with the rendered nginx.
    fn config(&self, uid: &str, secret: &str, gitlab_url: &str, extra: &str) -> PathBuf {
        let (id_file, secret_file) = (
            self.dir.path().join("gitlab-id"),
            self.dir.path().join("gitlab-secret"),
        );
        write_file(&id_file, uid, 0o600);
        write_file(&secret_file, secret, 0o600);
        config(
            self.dir.path(),
            "site.toml",
            &format!(
                "external_url = \"http://chat.example.test\"\n\
                 [mattermost]\nedition = \"enterprise\"\n\
                 [gitlab]\nenable = true\nurl = \"{gitlab_url}\"\nid_file = \"{}\"\nsecret_file = \"{}\"\n{extra}",
                id_file.display(),
                secret_file.display()
            ),
        )
    }

    fn registered(&self, redirect: &str) -> support::gitlab_stub::App {
        self.stub.insert(redirect, "read_user")
    }
}

const URIS: &str = "http://chat.example.test/signup/gitlab/complete\nhttp://chat.example.test/login/gitlab/complete";

#[test]
fn oauth_passes_when_gitlab_accepts_the_application() {
    let o = oauth_fixture();
    let app = o.registered(URIS);
    let cfg = o.config(&app.uid, &app.secret, &o.stub.url, "");
    let (code, v, out, err) = doctor(&cfg, "oauth", &["--token-file", o.token.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    let steps = v["steps"].to_string();
    assert!(
        steps.contains("accepts application") && steps.contains("GitLab has the redirect URIs"),
        "{v}"
    );
    assert!(steps.contains("X-Forwarded-Proto http"), "{v}");
    assert!(
        !out.contains(&app.secret) && !err.contains(&app.secret),
        "the secret leaked"
    );
    assert!(!err.contains(ADMIN_TOKEN), "the token leaked");
    let log = o.stub.log();
    assert!(
        log.iter().any(|l| l == "GET /oauth/authorize")
            && log.iter().any(|l| l == "POST /oauth/token"),
        "{log:?}"
    );
}

#[test]
fn oauth_fails_for_a_wrong_secret() {
    let o = oauth_fixture();
    let app = o.registered(URIS);
    let cfg = o.config(&app.uid, CANARY_SECRET_WRONG, &o.stub.url, "");
    let (code, v, out, err) = doctor(&cfg, "oauth", &[]);
    assert_eq!(code, 1);
    let p = problems(&v);
    // The fix is the secret the application has, or --rotate: a plain register never
    // renews an existing application's secret.
    assert!(
        p.contains("invalid_client")
            && p.contains("gitlab-secret in the import's secrets directory")
            && p.contains("gitlab register --rotate")
            && p.contains("no longer can"),
        "{p}"
    );
    assert!(!p.contains("fresh id"), "{p}");
    assert!(
        !out.contains(CANARY_SECRET_WRONG) && !err.contains(CANARY_SECRET_WRONG),
        "the secret leaked"
    );
}

#[test]
fn oauth_fails_when_gitlab_has_other_redirect_uris() {
    let o = oauth_fixture();
    let app = o.registered("https://old.example.test/signup/gitlab/complete https://old.example.test/login/gitlab/complete");
    let cfg = o.config(&app.uid, &app.secret, &o.stub.url, "");
    let (code, v, _, _) = doctor(&cfg, "oauth", &["--token-file", o.token.to_str().unwrap()]);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(p.contains("lacks redirect URI"), "{v}");
    assert!(
        p.contains("beside this one") && p.contains("--delete-old"),
        "register adds an application, it does not replace one: {p}"
    );
}

#[test]
fn oauth_accepts_more_redirect_uris_than_the_sites() {
    // An application that also serves the old server's URL, as register accepts it.
    let o = oauth_fixture();
    let app = o.registered(&format!(
        "https://old.example.test/signup/gitlab/complete\n{URIS}\nhttps://old.example.test/login/gitlab/complete"
    ));
    let cfg = o.config(&app.uid, &app.secret, &o.stub.url, "");
    let (code, v, _, _) = doctor(&cfg, "oauth", &["--token-file", o.token.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert!(
        v["steps"]
            .to_string()
            .contains("GitLab has the redirect URIs"),
        "{v}"
    );
}

#[test]
fn oauth_without_a_secret_file_does_not_send_to_a_plain_register() {
    let o = oauth_fixture();
    let app = o.registered(URIS);
    let cfg = o.config(&app.uid, &app.secret, &o.stub.url, "");
    std::fs::remove_file(o.dir.path().join("gitlab-secret")).unwrap();
    let (code, v, _, _) = doctor(&cfg, "oauth", &[]);
    assert_eq!(code, 1, "{v}");
    let p = problems(&v);
    assert!(
        p.contains("no application secret") && p.contains("gitlab register --rotate"),
        "{p}"
    );
}

#[test]
fn oauth_compares_the_redirect_uris_of_site_url() {
    let o = oauth_fixture();
    let app = o.registered("https://public.example.test/signup/gitlab/complete\nhttps://public.example.test/login/gitlab/complete");
    let cfg = o.config(&app.uid, &app.secret, &o.stub.url, "");
    let token = o.token.to_str().unwrap();
    // external_url (http://chat.example.test) is only the vhost: GitLab knows the public URL.
    let (code, v, _, _) = doctor(&cfg, "oauth", &["--token-file", token]);
    assert_eq!(code, 1, "{v}");
    assert!(
        problems(&v)
            .contains("lacks redirect URI(s) http://chat.example.test/login/gitlab/complete"),
        "{v}"
    );
    let (code, v, _, _) = doctor(
        &cfg,
        "oauth",
        &[
            "--token-file",
            token,
            "--set",
            "site_url=https://public.example.test",
        ],
    );
    assert_eq!(code, 0, "{v}");
    let steps = v["steps"].to_string();
    assert!(steps.contains("GitLab has the redirect URIs"), "{v}");
    assert!(
        steps.contains("X-Forwarded-Proto https, as site_url says"),
        "{v}"
    );
}

#[test]
fn oauth_fails_when_nginx_forwards_another_scheme() {
    let o = oauth_fixture();
    let app = o.registered(URIS);
    let cfg = o.config(
        &app.uid,
        &app.secret,
        &o.stub.url,
        "[nginx.proxy_headers]\nX-Forwarded-Proto = \"https\"\n",
    );
    let (code, v, _, _) = doctor(&cfg, "oauth", &[]);
    assert_eq!(code, 1);
    assert!(
        problems(&v).contains("forwards X-Forwarded-Proto https"),
        "{v}"
    );
}

#[test]
fn oauth_fails_once_when_gitlab_is_unreachable() {
    let o = oauth_fixture();
    let cfg = o.config(
        "uid",
        "secret",
        &format!("http://127.0.0.1:{}", free_port()),
        "",
    );
    let (code, v, _, _) = doctor(&cfg, "oauth", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v}");
    assert!(problems(&v).contains("connection refused"), "{v}");
}

#[test]
fn oauth_is_skipped_without_gitlab_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "site.toml",
        "external_url = \"http://chat.example.test\"\n",
    );
    let (code, v, _, _) = doctor(&cfg, "oauth", &[]);
    assert_eq!(code, 0);
    assert_eq!(v["status"], "skipped");
}

// ---- database -----------------------------------------------------------------------

fn db_config(dir: &Path, user: &str, db: &str) -> PathBuf {
    config(
        dir,
        "site.toml",
        &format!(
            "external_url = \"http://chat.example.test\"\n[account]\nuser = \"{user}\"\ngroup = \"{user}\"\n\
             [database]\nname = \"{db}\"\nuser = \"{user}\"\nsocket_dir = \"{}\"\n",
            pg::SOCKET_DIR
        ),
    )
}

/// The database check with `postgres` as the service user (root may not be one), run with
/// `--as-user` so peer authentication maps it to the `postgres` role; `None` when the
/// directory is not readable by that user (the test is then skipped).
fn doctor_as_postgres(dir: &Path, db: &str) -> Option<(i32, serde_json::Value)> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = db_config(dir, "postgres", db);
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, v, _, _) = doctor(&cfg, "database", &["--as-user"]);
    if v["summary"]
        .as_str()
        .unwrap_or("")
        .contains("Permission denied")
    {
        skip("the build directory is not readable by the postgres user");
        return None;
    }
    Some((code, v))
}

fn pg_ready() -> bool {
    if !is_root() {
        skip("the database tests run as root (peer authentication as role root)");
        return false;
    }
    match pg::available() {
        Ok(()) => true,
        Err(reason) => {
            skip(&reason);
            false
        }
    }
}

#[test]
fn database_passes_with_the_services_dsn_and_reports_the_version() {
    if !pg_ready() {
        return;
    }
    let db = TempDb::new("doctor");
    let dir = tempfile::tempdir().unwrap();
    let Some((code, v)) = doctor_as_postgres(dir.path(), &db.name) else {
        return;
    };
    assert_eq!(code, 0, "{v}");
    let server = pg::psql("postgres", "SHOW server_version").unwrap();
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("PostgreSQL {server}")),
        "{v}"
    );
}

#[test]
fn database_fails_for_a_missing_database_with_the_createdb_fix() {
    if !pg_ready() {
        return;
    }
    let name = TempDb::unique_name("missing");
    let dir = tempfile::tempdir().unwrap();
    let Some((code, v)) = doctor_as_postgres(dir.path(), &name) else {
        return;
    };
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(
        p.contains("does not exist") && p.contains("createdb -O postgres"),
        "{p}"
    );
}

#[test]
fn database_is_skipped_when_not_running_as_the_service_user() {
    if !pg_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, v, _, _) = doctor(
        &db_config(dir.path(), "postgres", "postgres"),
        "database",
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(v["status"], "skipped");
    assert!(v["summary"].as_str().unwrap().contains("--as-user"), "{v}");
}

#[test]
fn database_as_user_connects_as_the_service_user() {
    if !pg_ready() {
        return;
    }
    // The `postgres` OS user maps to the `postgres` role by peer authentication. The child
    // process runs as that user, so it must be able to read the config.
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = db_config(dir.path(), "postgres", "postgres");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, v, _, err) = doctor(&cfg, "database", &["--as-user"]);
    if v["summary"]
        .as_str()
        .unwrap_or("")
        .contains("Permission denied")
    {
        return skip("the build directory is not readable by the postgres user");
    }
    assert_eq!(code, 0, "{v}\n{err}");
    assert!(v["steps"].to_string().contains("ran as postgres"), "{v}");
    assert!(v["summary"].as_str().unwrap().contains("PostgreSQL"), "{v}");
}

// ---- secrets ------------------------------------------------------------------------

fn secrets_config(dir: &Path, file: &Path) -> PathBuf {
    config(
        dir,
        "site.toml",
        &format!(
            "external_url = \"http://chat.example.test\"\n[smtp]\nenable = true\nserver = \"localhost\"\n\
             username = \"mm\"\npassword_file = \"{}\"\nauth = true\nfeedback_email = \"mm@example.test\"\n",
            file.display()
        ),
    )
}

#[test]
fn secrets_pass_for_a_private_root_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smtp-password");
    write_file(&file, "CANARY-secret-file", 0o600);
    let (code, v, out, err) = doctor(&secrets_config(dir.path(), &file), "secrets", &[]);
    if !is_root() {
        // Then the owner is not root: the check rightly fails.
        return skip("the owner part of the secrets check needs root");
    }
    assert_eq!(code, 0, "{v}");
    assert!(!out.contains("CANARY-secret-file") && !err.contains("CANARY-secret-file"));
}

#[test]
fn secrets_fail_for_a_world_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smtp-password");
    write_file(&file, "x", 0o644);
    let (code, v, _, _) = doctor(&secrets_config(dir.path(), &file), "secrets", &[]);
    assert_eq!(code, 1);
    let p = problems(&v);
    assert!(
        p.contains("world-readable") && p.contains("chmod 0600"),
        "{p}"
    );
}

#[test]
fn secrets_fail_for_a_missing_file_or_a_foreign_owner() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smtp-password");
    let (code, v, _, _) = doctor(&secrets_config(dir.path(), &file), "secrets", &[]);
    assert_eq!(code, 1);
    assert!(problems(&v).contains("missing"), "{v}");
    if is_root() {
        write_file(&file, "x", 0o600);
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let (code, v, _, _) = doctor(&secrets_config(dir.path(), &file), "secrets", &[]);
        assert_eq!(code, 1);
        assert!(problems(&v).contains("owned by uid 65534"), "{v}");
    }
}

// ---- host ---------------------------------------------------------------------------

fn host_config(dir: &Path, url: &str, port: u16) -> PathBuf {
    config(
        dir,
        "site.toml",
        &format!("external_url = \"{url}\"\n[listen]\naddress = \"127.0.0.1\"\nport = {port}\n"),
    )
}

#[test]
fn host_passes_when_the_name_resolves_and_the_port_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let (code, v, _, _) = doctor(
        &host_config(dir.path(), "http://localhost", free_port()),
        "host",
        &[],
    );
    assert_eq!(code, 0, "{v}");
    assert!(v["summary"].as_str().unwrap().contains("is free"), "{v}");
}

#[test]
fn host_fails_for_an_unresolvable_name() {
    let dir = tempfile::tempdir().unwrap();
    let (code, v, _, _) = doctor(
        &host_config(dir.path(), "http://no-such-host.invalid", free_port()),
        "host",
        &[],
    );
    assert_eq!(code, 1);
    assert!(problems(&v).contains("does not resolve"), "{v}");
}

#[test]
fn host_fails_when_another_program_holds_the_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (code, v, _, _) = doctor(
        &host_config(dir.path(), "http://localhost", port),
        "host",
        &[],
    );
    assert_eq!(code, 1);
    assert!(problems(&v).contains("not Mattermost"), "{v}");
    drop(listener);
}

#[test]
fn host_passes_when_mattermost_holds_the_port() {
    if !have("/usr/bin/python3") {
        return skip("/usr/bin/python3 is not installed");
    }
    // A process whose name is `mattermost` (a link to python) listening on the port.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("mattermost");
    std::os::unix::fs::symlink("/usr/bin/python3", &link).unwrap();
    let mut child = Command::new(&link)
        .args(["-c", "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let (code, v, _, _) = doctor(
        &host_config(dir.path(), "http://localhost", port),
        "host",
        &[],
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{v}");
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("held by Mattermost"),
        "{v}"
    );
}

// ---- the whole report ---------------------------------------------------------------

#[test]
fn the_table_lists_every_check_and_the_exit_code_reflects_failures() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = host_config(dir.path(), "http://no-such-host.invalid", free_port());
    let o = run(&["doctor", cfg.to_str().unwrap(), "--timeout", "3"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for check in [
        "smtp",
        "certificates",
        "oauth",
        "database",
        "secrets",
        "host",
    ] {
        assert!(
            out.lines().any(|l| l.contains(check)),
            "{check} missing:\n{out}"
        );
    }
    assert!(
        out.contains("✗ host") && out.contains("fix: add an A/AAAA record"),
        "{out}"
    );
    assert!(out.contains("- smtp") && out.contains("skipped"), "{out}");
}

/// Mattermost Entry (the Enterprise build without a licence) shows only the newest 10,000
/// messages: doctor counts the posts and says how many it hides.
#[test]
fn database_counts_what_mattermost_entry_would_hide() {
    use std::os::unix::fs::PermissionsExt;
    if !pg_ready() {
        return;
    }
    let db = TempDb::new("entry");
    pg::psql(
        &db.name,
        "CREATE TABLE posts (id text, deleteat bigint); \
         INSERT INTO posts SELECT g::text, CASE WHEN g <= 3 THEN 1 ELSE 0 END FROM generate_series(1, 10008) g;",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = db_config(dir.path(), "postgres", &db.name);
    let text = std::fs::read_to_string(&cfg).unwrap() + "[mattermost]\nedition = \"enterprise\"\n";
    std::fs::write(&cfg, text).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, v, _, _) = doctor(&cfg, "database", &["--as-user"]);
    let summary = v["summary"].as_str().unwrap_or("").to_string();
    if summary.contains("Permission denied") {
        skip("the build directory is not readable by the postgres user");
        return;
    }
    assert_eq!(code, 0, "{v}");
    assert!(
        summary.contains("Mattermost Entry shows the newest 10000 of 10005 posts (5 hidden)"),
        "{v}"
    );
}

/// The content rules Mattermost has, checked without printing a value: an AtRestEncryptKey
/// shorter than 32 characters, the text `null` a `jq -r` of a missing key leaves, an empty file.
#[test]
fn secrets_fail_for_values_mattermost_refuses_without_printing_them() {
    if !is_root() {
        return skip("the owner part of the secrets check needs root");
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("at-rest-key");
    let cfg = config(
        dir.path(),
        "site.toml",
        &format!(
            "external_url = \"http://chat.example.test\"\n[setting_files]\n\"SqlSettings.AtRestEncryptKey\" = \"{}\"\n",
            key.display()
        ),
    );
    for (value, expected) in [
        (
            "CANARY-short-key\n",
            "holds 16 characters; Mattermost needs at least 32",
        ),
        ("null\n", "holds the text `null`"),
        ("\n", "is empty"),
    ] {
        write_file(&key, value, 0o600);
        let (code, v, out, err) = doctor(&cfg, "secrets", &[]);
        assert_eq!(code, 1, "{value:?}: {v}");
        assert!(v.to_string().contains(expected), "{value:?}: {v}");
        assert!(
            !out.contains("CANARY") && !err.contains("CANARY"),
            "{out}{err}"
        );
    }
    write_file(&key, "0123456789abcdef0123456789abcdef\n", 0o600);
    let (code, v, _, _) = doctor(&cfg, "secrets", &[]);
    assert_eq!(code, 0, "{v}");
}
