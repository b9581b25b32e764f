//! `gitlab register` against a stub of GitLab's Applications API.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::gitlab_stub::{App, Stub, ADMIN_TOKEN, USER_TOKEN};
use support::*;

struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    token: PathBuf,
}

impl Site {
    fn new(gitlab_url: &str) -> Site {
        Site::with(gitlab_url, "")
    }

    /// `gitlab_extra`: more lines for the `[gitlab]` table, e.g. `scope = ""`.
    fn with(gitlab_url: &str, gitlab_extra: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("site.toml");
        let secrets = dir.path().join("secrets");
        std::fs::write(
            &config,
            format!(
                "external_url = \"https://chat.example.test\"\n\
                 [gitlab]\nenable = true\nallow_team_edition_route = true\nurl = \"{gitlab_url}\"\n\
                 id_file = \"{s}/gitlab-id\"\nsecret_file = \"{s}/gitlab-secret\"\n{gitlab_extra}\n\
                 [nginx]\nenable = false\n",
                s = secrets.display()
            ),
        )
        .unwrap();
        let token = dir.path().join("token");
        write_file(&token, ADMIN_TOKEN, 0o600);
        Site { dir, config, token }
    }

    fn id_file(&self) -> PathBuf {
        self.dir.path().join("secrets/gitlab-id")
    }

    fn secret_file(&self) -> PathBuf {
        self.dir.path().join("secrets/gitlab-secret")
    }

    /// The files an Omnibus import leaves: the id and secret the old server uses.
    fn import(&self, app: &App) {
        write_file(&self.id_file(), &app.uid, 0o600);
        write_file(&self.secret_file(), &app.secret, 0o600);
    }

    fn register(&self, extra: &[&str]) -> (i32, String, String) {
        // Trace level: everything this program logs. The HTTP client's own trace output
        // (raw bytes, token and secrets included) must stay capped even so.
        let mut args = vec![
            "-vvv",
            "gitlab",
            "register",
            self.config.to_str().unwrap(),
            "--token-file",
            self.token.to_str().unwrap(),
            "--timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        let (out, err) = text(&o);
        (o.status.code().unwrap_or(-1), out, err)
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

const SIGNUP: &str = "https://chat.example.test/signup/gitlab/complete";
const LOGIN: &str = "https://chat.example.test/login/gitlab/complete";

/// Assert that no secret the stub ever issued appears in the output, as text or as the
/// hex of a byte dump.
fn assert_no_secret(stub: &Stub, out: &str, err: &str) {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    // The hex columns of every dump row, joined: a secret split over rows shows whole.
    let dumped: String = err
        .split_whitespace()
        .filter(|t| t.len() == 4 && t.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    assert!(
        !dumped.contains(&hex(ADMIN_TOKEN)),
        "the token leaked in a byte dump"
    );
    for a in stub.apps() {
        assert!(
            !out.contains(&a.secret) && !err.contains(&a.secret),
            "secret leaked:\n{out}\n{err}"
        );
        assert!(
            !dumped.contains(&hex(&a.secret)),
            "secret leaked in a byte dump"
        );
    }
    assert!(
        !out.contains("CANARY") && !err.contains("CANARY"),
        "a secret leaked:\n{out}\n{err}"
    );
    assert!(
        !out.contains(ADMIN_TOKEN) && !err.contains(ADMIN_TOKEN),
        "the token leaked"
    );
}

#[test]
fn creates_the_application_and_writes_private_files() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(app.name, "GitLab Mattermost");
    let uris: Vec<&str> = app.redirect_uri.split_whitespace().collect();
    assert_eq!(uris, vec![SIGNUP, LOGIN]);
    assert_eq!(app.scopes, "read_user");
    assert!(app.confidential);
    assert_eq!(read(&site.id_file()), app.uid);
    assert_eq!(read(&site.secret_file()), app.secret);
    assert_eq!(mode(&site.id_file()), 0o600);
    assert_eq!(mode(&site.secret_file()), 0o600);
    assert!(
        out.contains(&format!(
            "find_by!(uid: '{}').update!(trusted: true)",
            app.uid
        )),
        "{out}"
    );
    assert!(out.contains("read_user"), "{out}");
    assert_no_secret(&stub, &out, &err);
}

#[test]
fn a_rerun_changes_nothing() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    assert_eq!(site.register(&[]).0, 0);
    let (id, secret) = (read(&site.id_file()), read(&site.secret_file()));
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(stub.apps().len(), 1);
    assert_eq!(
        (read(&site.id_file()), read(&site.secret_file())),
        (id, secret)
    );
    assert_eq!(
        stub.writes(),
        vec!["POST /api/v4/applications"],
        "only the first run may write"
    );
}

#[test]
fn rotate_issues_a_new_secret_for_the_same_application() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    assert_eq!(site.register(&[]).0, 0);
    let (id, secret) = (read(&site.id_file()), read(&site.secret_file()));
    let (code, out, err) = site.register(&["--rotate"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(read(&site.id_file()), id);
    assert_ne!(read(&site.secret_file()), secret);
    assert_eq!(stub.apps().len(), 1);
    assert_eq!(read(&site.secret_file()), stub.apps()[0].secret);
    assert!(stub.accepts(&id, &read(&site.secret_file())));
    assert!(
        !stub.accepts(&id, &secret),
        "the previous secret no longer works"
    );
    assert!(out.contains("issued a new secret"), "{out}");
    assert_no_secret(&stub, &out, &err);
}

#[test]
fn rotate_on_a_gitlab_without_renew_adds_an_application_and_keeps_the_old_until_asked() {
    let stub = Stub::start(false);
    let site = Site::new(&stub.url);
    assert_eq!(site.register(&[]).0, 0);
    let old = stub.apps()[0].clone();
    let (code, out, err) = site.register(&["--rotate"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 2, "the old application stays: {apps:?}");
    let new = apps.iter().find(|a| a.id != old.id).unwrap();
    assert_eq!(read(&site.id_file()), new.uid);
    assert_eq!(read(&site.secret_file()), new.secret);
    assert!(stub.accepts(&old.uid, &old.secret));
    assert!(out.contains("cannot renew"), "{out}");
    assert!(
        out.contains(&format!("--delete-old {}", old.id)),
        "says how to delete it: {out}"
    );
    assert!(!stub.writes().iter().any(|w| w.starts_with("DELETE")));
    assert_no_secret(&stub, &out, &err);

    let (code, out, err) = site.register(&["--delete-old", &old.id.to_string()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(apps[0].uid, new.uid);
    assert_eq!(read(&site.id_file()), new.uid);
    assert_eq!(read(&site.secret_file()), new.secret);
    assert!(out.contains("deleted application"), "{out}");
}

#[test]
fn a_changed_external_url_adds_an_application_and_keeps_the_old() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    assert_eq!(site.register(&[]).0, 0);
    let old = stub.apps()[0].clone();
    let moved = ["--set", "external_url=https://mm.example.test"];
    let (code, out, err) = site.register(&moved);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 2, "{apps:?}");
    let kept = apps.iter().find(|a| a.id == old.id).unwrap();
    assert_eq!(kept.secret, old.secret, "the old secret is unchanged");
    assert_eq!(kept.redirect_uri, old.redirect_uri);
    assert!(
        stub.accepts(&old.uid, &old.secret),
        "the old server still signs in"
    );
    let new = apps.iter().find(|a| a.id != old.id).unwrap();
    assert!(new
        .redirect_uri
        .contains("https://mm.example.test/login/gitlab/complete"));
    assert_eq!(read(&site.id_file()), new.uid);
    assert_eq!(read(&site.secret_file()), new.secret);
    assert_eq!(
        stub.writes(),
        vec!["POST /api/v4/applications", "POST /api/v4/applications"],
        "two creations, nothing renewed or deleted"
    );
    assert!(
        out.contains("does not fit") && out.contains("lacks redirect URI"),
        "{out}"
    );
    assert!(
        out.contains("kept application") && out.contains(&format!("--delete-old {}", old.id)),
        "{out}"
    );
    assert_no_secret(&stub, &out, &err);

    // The new application now fits; the old one is only a note.
    let (code, out, _) = site.register(&moved);
    assert_eq!(code, 0);
    assert!(out.contains("up to date"), "{out}");
    assert!(
        out.contains(&format!("note: application {} (id {})", old.uid, old.id)),
        "{out}"
    );
    assert_eq!(stub.writes().len(), 2, "{:?}", stub.writes());

    // Deleting it once asked, by the Application ID GitLab shows.
    let mut args = moved.to_vec();
    args.extend(["--delete-old", &old.uid]);
    let (code, out, err) = site.register(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].uid, new.uid);
    assert_eq!(read(&site.id_file()), new.uid);
    assert!(!stub.accepts(&old.uid, &old.secret));
}

/// What Omnibus registered: both redirect URIs (CRLF-separated), no scopes.
fn omnibus_app(stub: &Stub) -> App {
    stub.insert(&format!("{SIGNUP}\r\n{LOGIN}"), "")
}

#[test]
fn an_imported_omnibus_application_is_up_to_date() {
    let stub = Stub::start(true);
    let app = omnibus_app(&stub);
    let site = Site::with(&stub.url, "scope = \"\"");
    site.import(&app);
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("up to date"), "{out}");
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());
    assert_eq!(read(&site.id_file()), app.uid);
    assert_eq!(read(&site.secret_file()), app.secret);
    assert!(stub.accepts(&app.uid, &app.secret));
    assert!(
        out.contains("gitlab.scope is \"\", as Omnibus registered"),
        "teaches how to narrow the scope: {out}"
    );
    assert_no_secret(&stub, &out, &err);
}

#[test]
fn narrowing_the_scope_of_an_omnibus_application_adds_one_beside_it() {
    let stub = Stub::start(true);
    let app = omnibus_app(&stub);
    // gitlab.scope left at its default, read_user.
    let site = Site::new(&stub.url);
    site.import(&app);
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 2, "{apps:?}");
    let new = apps.iter().find(|a| a.id != app.id).unwrap();
    assert_eq!(new.scopes, "read_user");
    assert_eq!(read(&site.id_file()), new.uid);
    assert_eq!(read(&site.secret_file()), new.secret);
    assert!(
        stub.accepts(&app.uid, &app.secret),
        "the old server still signs in"
    );
    assert!(
        out.contains("its scopes are none, gitlab.scope asks read_user"),
        "{out}"
    );
    assert_no_secret(&stub, &out, &err);
}

#[test]
fn an_id_file_without_secret_file_stops_unless_rotate() {
    let stub = Stub::start(true);
    let app = omnibus_app(&stub);
    let site = Site::with(&stub.url, "scope = \"\"");
    write_file(&site.id_file(), &app.uid, 0o600);
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 1, "{out}\n{err}");
    let secret_file = site.secret_file().display().to_string();
    assert!(
        err.contains(&format!("gitlab.secret_file ({secret_file}) is missing"))
            && err.contains("copy the secret the old server uses")
            && err.contains(".mattermost.gitlab_secret")
            && err.contains("--rotate")
            && err.contains("stops working")
            && err.contains("Nothing was changed"),
        "{err}"
    );
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());
    assert!(!site.secret_file().exists());
    assert!(stub.accepts(&app.uid, &app.secret));

    let (code, out, err) = site.register(&["--rotate"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        stub.writes(),
        vec![format!("POST /api/v4/applications/{}/renew-secret", app.id)]
    );
    assert_eq!(read(&site.id_file()), app.uid);
    assert_eq!(read(&site.secret_file()), stub.apps()[0].secret);
    assert!(!stub.accepts(&app.uid, &app.secret));
    assert_no_secret(&stub, &out, &err);
}

#[test]
fn an_application_found_by_its_redirect_uris_stops_unless_rotate() {
    let stub = Stub::start(true);
    let pre = stub.insert(&format!("{SIGNUP}\r\n{LOGIN}"), "read_user");
    let site = Site::new(&stub.url);
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!("application {}", pre.uid))
            && err.contains("gitlab.id_file")
            && err.contains("is missing")
            && err.contains(".mattermost.gitlab_id")
            && err.contains("--rotate"),
        "{err}"
    );
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());
    assert!(!site.id_file().exists() && !site.secret_file().exists());

    let (code, out, err) = site.register(&["--rotate"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 1, "no duplicate: {apps:?}");
    assert_eq!(read(&site.id_file()), pre.uid);
    assert_eq!(read(&site.secret_file()), apps[0].secret);
    assert!(!stub.accepts(&pre.uid, &pre.secret));
    assert!(out.contains("adopted"), "{out}");
}

#[test]
fn an_id_file_naming_a_deleted_application_still_stops_on_one_that_fits() {
    let stub = Stub::start(true);
    let pre = stub.insert(&format!("{SIGNUP} {LOGIN}"), "read_user");
    let site = Site::new(&stub.url);
    write_file(&site.id_file(), "uid-of-an-application-gitlab-lost", 0o600);
    let (code, _, err) = site.register(&[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "names application uid-of-an-application-gitlab-lost, which GitLab does not have"
        ) && err.contains(&pre.uid),
        "{err}"
    );
    assert!(stub.writes().is_empty());
}

#[test]
fn more_redirect_uris_than_needed_still_fit() {
    let stub = Stub::start(true);
    let app = stub.insert(
        &format!("{SIGNUP}\n{LOGIN}\nhttps://chat.example.test/plugins/x/complete"),
        "read_user",
    );
    let site = Site::new(&stub.url);
    site.import(&app);
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("up to date"), "{out}");
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());
}

#[test]
fn a_blank_scope_cannot_create_an_application() {
    let stub = Stub::start(true);
    let site = Site::with(&stub.url, "scope = \"\"");
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("cannot create an application without scopes")
            && err.contains("Set gitlab.scope = \"read_user\""),
        "{err}"
    );
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());
    assert!(!site.id_file().exists());
}

#[test]
fn delete_old_refuses_what_it_must_not_delete() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    assert_eq!(site.register(&[]).0, 0);
    let mine = stub.apps()[0].clone();
    let other = stub.insert_named("CI dashboard", "https://ci.example.test/callback", "api");

    let (code, _, err) = site.register(&["--delete-old", &mine.id.to_string()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the one gitlab.id_file names") && err.contains("Nothing was changed"),
        "{err}"
    );
    let (code, _, err) = site.register(&["--delete-old", &other.uid]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not a Mattermost sign-in application"),
        "{err}"
    );
    let (code, _, err) = site.register(&["--delete-old", "999"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such application"), "{err}");

    assert_eq!(stub.apps().len(), 2);
    assert_eq!(stub.writes(), vec!["POST /api/v4/applications"]);
    assert!(stub.accepts(&mine.uid, &read(&site.secret_file())));
}

#[test]
fn the_redirect_uris_follow_site_url_not_the_vhost() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    let (code, out, err) = site.register(&["--set", "site_url=https://public.example.test:8443"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let apps = stub.apps();
    assert_eq!(apps.len(), 1, "{apps:?}");
    let uris: Vec<&str> = apps[0].redirect_uri.split_whitespace().collect();
    assert_eq!(
        uris,
        vec![
            "https://public.example.test:8443/signup/gitlab/complete",
            "https://public.example.test:8443/login/gitlab/complete"
        ]
    );
}

#[test]
fn a_non_admin_token_is_refused_with_one_line() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    write_file(&site.token, USER_TOKEN, 0o600);
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 1);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error:")
            && last.contains("not a GitLab administrator")
            && last.contains("403"),
        "{err}"
    );
    assert!(stub.apps().is_empty());
    assert!(!out.contains(USER_TOKEN) && !err.contains(USER_TOKEN));
}

#[test]
fn a_wrong_token_is_refused_with_one_line() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    write_file(&site.token, "glpat-wrong-token-00000", 0o600);
    let (code, _, err) = site.register(&[]);
    assert_eq!(code, 1);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("401") && last.contains("token"), "{err}");
}

#[test]
fn an_unreachable_gitlab_is_named() {
    let port = free_port();
    let site = Site::new(&format!("http://127.0.0.1:{port}"));
    let (code, _, err) = site.register(&[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot reach") && err.contains("connection refused"),
        "{err}"
    );
}

#[test]
fn something_that_is_not_gitlab_is_an_unexpected_answer() {
    // A server that answers 200 with a web page, like a wrong gitlab.url would.
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    // Bounded: a register that never asks must fail the test, not hang it.
    let t = std::thread::spawn(move || {
        if let Ok(Some(req)) = server.recv_timeout(std::time::Duration::from_secs(30)) {
            let _ = req.respond(tiny_http::Response::from_string("<html>welcome</html>"));
        }
    });
    let site = Site::new(&format!("http://127.0.0.1:{port}"));
    let (code, _, err) = site.register(&[]);
    t.join().unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains("unexpected answer") && err.contains("not the expected JSON"),
        "{err}"
    );
}

#[test]
fn a_tls_failure_names_the_ca_problem() {
    if !have("openssl") {
        return skip("openssl is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = certs::ca(dir.path(), "Private CA");
    let leaf = certs::leaf(dir.path(), "gitlab", &["localhost"], &ca, 30, false);
    let port = tls_server_once(&leaf.cert, &leaf.key);
    let site = Site::new(&format!("https://localhost:{port}"));
    let (code, _, err) = site.register(&[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("CA this host does not trust") && err.contains("--ca-file"),
        "{err}"
    );
}

#[test]
fn a_config_without_id_file_is_invalid_input() {
    let stub = Stub::start(true);
    let site = Site::new(&stub.url);
    // Valid for `check` (sign-in is off), but register has nowhere to write.
    std::fs::write(
        &site.config,
        format!("external_url = \"https://chat.example.test\"\n[gitlab]\nurl = \"{}\"\n[nginx]\nenable = false\n", stub.url),
    )
    .unwrap();
    let (code, _, err) = site.register(&[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("gitlab.id_file") && err.contains("gitlab.secret_file"),
        "{err}"
    );
    assert!(
        stub.log().is_empty(),
        "GitLab is not contacted: {:?}",
        stub.log()
    );
}

/// A TLS server (rustls) that completes at most one handshake and closes.
fn tls_server_once(cert: &Path, key: &Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut tcp, _)) = listener.accept() {
            let mut conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut tcp).is_err() {
                    break;
                }
            }
        }
    });
    port
}

/// A config whose `[gitlab]` table has these id_file and secret_file lines.
fn site_with_files(stub: &Stub, files: impl Fn(&Path) -> (String, String)) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    let (id_file, secret_file) = files(dir.path());
    std::fs::write(
        &config,
        format!(
            "external_url = \"https://chat.example.test\"\n\
             [gitlab]\nenable = true\nallow_team_edition_route = true\nurl = \"{}\"\n\
             id_file = \"{id_file}\"\nsecret_file = \"{secret_file}\"\n\
             [nginx]\nenable = false\n",
            stub.url
        ),
    )
    .unwrap();
    let token = dir.path().join("token");
    write_file(&token, ADMIN_TOKEN, 0o600);
    Site { dir, config, token }
}

#[test]
fn a_secret_file_naming_the_config_is_refused_before_gitlab_is_asked() {
    let stub = Stub::start(true);
    let site = site_with_files(&stub, |d| {
        (
            format!("{}/secrets/gitlab-id", d.display()),
            format!("{}/site.toml", d.display()),
        )
    });
    let before = std::fs::read(&site.config).unwrap();
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("gitlab.secret_file") && err.contains("config file"),
        "{err}"
    );
    assert_eq!(std::fs::read(&site.config).unwrap(), before);
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());
    assert!(stub.apps().is_empty());
    assert!(!site.dir.path().join("secrets").exists());
}

#[test]
fn id_and_secret_files_of_other_roles_are_all_refused_at_once() {
    let stub = Stub::start(true);
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("kept");
    std::fs::write(&target, "keep me\n").unwrap();
    let site = site_with_files(&stub, |d| {
        std::os::unix::fs::symlink(&target, d.join("id-link")).unwrap();
        (
            format!("{}/id-link", d.display()),
            format!("{}/token", d.display()),
        )
    });
    let (code, out, err) = site.register(&[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("gitlab.id_file") && err.contains("symbolic link"),
        "{err}"
    );
    assert!(
        err.contains("gitlab.secret_file") && err.contains("token file"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert_eq!(read(&site.token), ADMIN_TOKEN);
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());

    // One file for both: the secret would be overwritten by the id.
    let same = site_with_files(&stub, |d| {
        let f = format!("{}/secrets/both", d.display());
        (f.clone(), f)
    });
    let (code, out, err) = same.register(&[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("gitlab.secret_file, where the secret goes"),
        "{err}"
    );
    assert!(stub.writes().is_empty(), "{:?}", stub.writes());
}

#[test]
fn a_hostile_application_id_from_gitlab_is_never_written_or_printed() {
    for hostile in ["uid1\nuid2", "uid1').destroy!; ('", "uid1\"; rm -rf /", ""] {
        let stub = Stub::start(true);
        let site = Site::new(&stub.url);
        let app = stub.insert(&format!("{SIGNUP} {LOGIN}"), "read_user");
        stub.state.lock().unwrap().apps[0].uid = hostile.to_string();
        for extra in [&[][..], &["--rotate"][..]] {
            let (code, out, err) = site.register(extra);
            assert_ne!(code, 0, "{hostile:?}: {out}\n{err}");
            assert!(err.contains("not an OAuth client id"), "{hostile:?}: {err}");
            assert!(!out.contains("gitlab-rails"), "{out}");
            assert!(!site.id_file().exists() && !site.secret_file().exists());
            assert!(stub.writes().is_empty(), "{:?}", stub.writes());
            assert!(stub.accepts(hostile, &app.secret), "the secret was renewed");
        }
    }
}
