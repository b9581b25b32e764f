//! `migrate export` / `migrate import` against the real PostgreSQL: an Omnibus-shaped root
//! (files, plugins, config.json) and a database owned by Omnibus's role move to a new
//! database owned by the service role and directories owned by the service account; the
//! verification compares rows, checksums and owners, and a tampered bundle or a directory
//! holding foreign files is refused before anything changes.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use support::pg::{self, TempDb};
use support::{have, skip};

struct Move {
    dir: tempfile::TempDir,
    old: TempDb,
    new_db: String,
    new_role: String,
    old_role: String,
    uid: u32,
}

impl Drop for Move {
    fn drop(&mut self) {
        let _ = pg::psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.new_db),
        );
        let _ = pg::psql(
            "postgres",
            &format!("DROP ROLE IF EXISTS {}", self.new_role),
        );
        let _ = pg::psql(&self.old.name, &format!("DROP OWNED BY {}", self.old_role));
        let _ = pg::psql(
            "postgres",
            &format!("DROP ROLE IF EXISTS {}", self.old_role),
        );
    }
}

fn write(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A uid and gid no account or group holds on this host.
fn free_id() -> u32 {
    (47_000 + std::process::id() % 10_000..60_000)
        .find(|id| {
            let taken = |db: &str| {
                std::process::Command::new("getent")
                    .args([db, &id.to_string()])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            !taken("passwd") && !taken("group")
        })
        .expect("a free id")
}

fn setup() -> Option<Move> {
    if let Err(reason) = pg::available() {
        skip(&reason);
        return None;
    }
    for tool in ["pg_dump", "pg_restore"] {
        if !have(tool) {
            skip(&format!("{tool} is not installed"));
            return None;
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let old = TempDb::new("migold");
    // The old database's name is unique (process and clock): its last part tags the roles.
    let nanos = old.name.rsplit('_').next().unwrap_or("0");
    let tag = nanos[nanos.len().saturating_sub(9)..].to_string();
    let old_role = format!("gm_omnibus_{tag}");
    // Peer authentication: the service role is the service account's name.
    let new_role = format!("gmsvc{tag}");
    pg::psql("postgres", &format!("CREATE ROLE {old_role} NOLOGIN")).expect("role");
    // Shaped like Mattermost's: ids, a sequence, a function, a view, rows.
    pg::psql(
        &old.name,
        &format!(
            "CREATE TABLE systems (name text primary key, value text);\
             INSERT INTO systems VALUES ('Version', '10.11.0');\
             CREATE TABLE posts (id text primary key, message text, createat bigint);\
             INSERT INTO posts SELECT md5(g::text), 'post ' || g, g FROM generate_series(1, 500) g;\
             CREATE SEQUENCE counter; SELECT nextval('counter');\
             CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42';\
             CREATE VIEW recent AS SELECT * FROM posts WHERE createat > 400;\
             CREATE TABLE emptyish (id int);\
             ALTER TABLE systems OWNER TO {old_role}; ALTER TABLE posts OWNER TO {old_role};\
             ALTER SEQUENCE counter OWNER TO {old_role}; ALTER FUNCTION answer() OWNER TO {old_role};\
             ALTER VIEW recent OWNER TO {old_role}; ALTER TABLE emptyish OWNER TO {old_role};\
             GRANT SELECT ON posts TO {old_role};"
        ),
    )
    .expect("old database");
    let home = dir.path().join("old/var/opt/gitlab/mattermost");
    write(
        &home.join("data/teams/t1/channels/c1/a.png"),
        b"\x89PNG big picture",
        0o640,
    );
    write(
        &home.join("data/teams/t1/channels/c1/a_preview.jpg"),
        b"preview",
        0o640,
    );
    write(&home.join("data/users/u1/profile.png"), b"me", 0o600);
    write(
        &home.join("data/stale.txt"),
        b"removed before the final pass",
        0o600,
    );
    write(
        &home.join("plugins/com.github.manland.mattermost-plugin-gitlab/plugin.json"),
        b"{}",
        0o644,
    );
    write(
        &home.join("client-plugins/com.github.manland.mattermost-plugin-gitlab/main.js"),
        b"js",
        0o644,
    );
    write(
        &home.join("config.json"),
        b"{\"PluginSettings\":{\"Plugins\":{}}}\n",
        0o600,
    );
    let uid = free_id();
    Some(Move {
        new_db: format!("gm_migrated_{tag}"),
        new_role,
        old_role,
        old,
        dir,
        uid,
    })
}

impl Move {
    fn root(&self) -> PathBuf {
        self.dir.path().join("old")
    }
    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    fn new_dir(&self) -> PathBuf {
        self.dir.path().join("new")
    }

    fn export(&self, extra: &[&str]) -> Output {
        let root = self.root();
        let bundle = self.bundle();
        let mut args = vec![
            "migrate",
            "export",
            "--omnibus-root",
            root.to_str().expect("utf-8"),
            "--to",
            bundle.to_str().expect("utf-8"),
            "--pg-host",
            pg::SOCKET_DIR,
            "--pg-user",
            "postgres",
            "--database",
            &self.old.name,
            "--pg-bin",
            "/nonexistent",
        ];
        args.extend_from_slice(extra);
        support::run(&args)
    }

    fn config(&self) -> PathBuf {
        let path = self.dir.path().join("site.toml");
        let n = self.new_dir();
        std::fs::write(
            &path,
            format!(
                "external_url = \"http://chat.example.test\"\n\
                 [account]\nuser = \"{role}\"\ngroup = \"{role}\"\nuid = {uid}\ngid = {uid}\n\
                 [directories]\ndata = \"{d}\"\nconfig = \"{d}/config\"\nplugins = \"{d}/plugins\"\nclient_plugins = \"{d}/client-plugins\"\n\
                 [database]\nname = \"{db}\"\nuser = \"{role}\"\nsocket_dir = \"{s}\"\n",
                uid = self.uid,
                d = n.display(),
                db = self.new_db,
                role = self.new_role,
                s = pg::SOCKET_DIR,
            ),
        )
        .expect("config");
        path
    }

    fn import(&self) -> Output {
        let config = self.config();
        let bundle = self.bundle();
        let state = self.dir.path().join("state");
        let report = self.dir.path().join("verification.json");
        support::run(&[
            "migrate",
            "import",
            config.to_str().expect("utf-8"),
            "--from",
            bundle.to_str().expect("utf-8"),
            "--state-dir",
            state.to_str().expect("utf-8"),
            "--report",
            report.to_str().expect("utf-8"),
        ])
    }
}

fn ok(o: &Output) -> String {
    let (out, err) = support::text(o);
    assert!(o.status.success(), "failed:\n{out}\n{err}");
    out
}

#[test]
fn a_move_keeps_every_row_file_and_owner_and_the_final_pass_copies_only_the_delta() {
    let Some(m) = setup() else { return };
    let first = ok(&m.export(&[]));
    assert!(first.contains("data: 4 files"), "{first}");
    assert!(first.contains("pre-sync done"), "{first}");
    // The old server goes on serving: one upload more, one file gone, one changed.
    let home = m.root().join("var/opt/gitlab/mattermost");
    write(
        &home.join("data/teams/t1/channels/c1/b.pdf"),
        b"%PDF new upload",
        0o640,
    );
    std::fs::remove_file(home.join("data/stale.txt")).expect("rm");
    write(&home.join("data/users/u1/profile.png"), b"me, newer", 0o600);
    let last = ok(&m.export(&["--final"]));
    assert!(last.contains("data: 4 files"), "{last}");
    assert!(
        last.contains("(2 copied"),
        "only the delta is copied: {last}"
    );
    assert!(last.contains("1 removed"), "{last}");
    assert!(last.contains("3 tables, 501 rows"), "{last}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(m.bundle().join("migration.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["final"], true);
    assert_eq!(manifest["tables"]["posts"], 500);
    assert_eq!(manifest["source"]["mattermost_version"], "10.11.0");
    let mode = std::fs::metadata(m.bundle())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the bundle holds every message");

    let out = ok(&m.import());
    assert!(out.contains("nothing lost"), "{out}");
    let n = m.new_dir();
    for (rel, content) in [
        (
            "data/teams/t1/channels/c1/a.png",
            &b"\x89PNG big picture"[..],
        ),
        ("data/teams/t1/channels/c1/b.pdf", b"%PDF new upload"),
        ("data/users/u1/profile.png", b"me, newer"),
        (
            "plugins/com.github.manland.mattermost-plugin-gitlab/plugin.json",
            b"{}",
        ),
        (
            "client-plugins/com.github.manland.mattermost-plugin-gitlab/main.js",
            b"js",
        ),
    ] {
        let p = n.join(rel);
        assert_eq!(std::fs::read(&p).expect(rel), content, "{rel}");
        let meta = std::fs::metadata(&p).expect("stat");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (m.uid, m.uid),
            "{rel} belongs to the service account"
        );
    }
    assert!(!n.join("data/stale.txt").exists());
    let cfg = std::fs::metadata(n.join("config/config.json")).expect("config.json");
    assert_eq!(cfg.permissions().mode() & 0o777, 0o600);
    assert_eq!(cfg.uid(), m.uid);

    // The database: same rows, every object the service role's, nothing of Omnibus's role.
    assert_eq!(
        pg::psql(&m.new_db, "SELECT count(*) FROM posts").expect("count"),
        "500"
    );
    assert_eq!(
        pg::psql(&m.new_db, "SELECT answer()").expect("function"),
        "42"
    );
    let foreign = pg::psql(
        &m.new_db,
        &format!(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> '{}'",
            m.new_role
        ),
    )
    .expect("owners");
    assert_eq!(foreign, "0");
    let grants = pg::psql(
        &m.new_db,
        &format!(
            "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = '{}'",
            m.old_role
        ),
    )
    .expect("grants");
    assert_eq!(grants, "0", "no privilege of the old role travels");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(m.dir.path().join("verification.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .any(|t| t["table"] == "posts" && t["old"] == 500 && t["new"] == 500));

    // A second run changes nothing and verifies again.
    let again = ok(&m.import());
    assert!(again.contains("already restored"), "{again}");
    assert!(again.contains("nothing lost"), "{again}");
}

#[test]
fn final_export_is_refused_while_the_database_is_in_use() {
    let Some(m) = setup() else { return };
    let mut holder = std::process::Command::new("psql")
        .args([
            "-h",
            pg::SOCKET_DIR,
            "-d",
            &m.old.name,
            "-c",
            "SELECT pg_sleep(30)",
        ])
        .spawn()
        .expect("psql");
    // Wait until the session shows.
    for _ in 0..100 {
        let n = pg::psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}'",
                m.old.name
            ),
        )
        .unwrap_or_default();
        if n != "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = m.export(&["--final"]);
    let _ = holder.kill();
    let _ = holder.wait();
    let (_, err) = support::text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("Mattermost is still running"), "{err}");
    assert!(!m.bundle().join("database.dump").exists());
}

#[test]
fn a_tampered_bundle_or_foreign_files_are_refused_before_anything_changes() {
    let Some(m) = setup() else { return };
    ok(&m.export(&["--final"]));
    let png = m.bundle().join("files/data/teams/t1/channels/c1/a.png");
    std::fs::write(&png, b"truncated in transit").expect("tamper");
    let o = m.import();
    let (out, err) = support::text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(err.contains("a.png"), "{err}");
    assert!(err.contains("copy it again"), "{err}");
    let exists = pg::psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{}'",
            m.new_db
        ),
    )
    .expect("query");
    assert_eq!(exists, "0", "no database was created");
    assert!(
        !m.new_dir().join("data/teams").exists(),
        "no file was copied"
    );

    ok(&m.export(&["--final"]));
    write(
        &m.new_dir().join("data/someone-elses.txt"),
        b"keep me",
        0o600,
    );
    let o = m.import();
    let (_, err) = support::text(&o);
    assert!(!o.status.success());
    assert!(err.contains("did not copy"), "{err}");
    assert_eq!(
        std::fs::read(m.new_dir().join("data/someone-elses.txt")).expect("kept"),
        b"keep me"
    );
}

#[test]
fn export_refuses_a_directory_that_is_not_a_bundle() {
    let Some(m) = setup() else { return };
    write(&m.bundle().join("notes.txt"), b"mine", 0o644);
    let o = m.export(&[]);
    let (_, err) = support::text(&o);
    assert!(!o.status.success());
    assert!(err.contains("not a bundle"), "{err}");
    assert_eq!(
        std::fs::read(m.bundle().join("notes.txt")).expect("kept"),
        b"mine"
    );
}

#[test]
fn a_manifest_naming_files_outside_the_bundle_is_refused() {
    let Some(m) = setup() else { return };
    ok(&m.export(&["--final"]));
    let path = m.bundle().join("migration.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json");
    let entry = manifest["trees"]["data"]["users/u1/profile.png"].clone();
    manifest["trees"]["data"]["../../../etc/passwd"] = entry;
    std::fs::write(&path, manifest.to_string()).expect("write");
    let o = m.import();
    let (_, err) = support::text(&o);
    assert!(!o.status.success());
    assert!(err.contains("leaves its directory"), "{err}");
    assert!(!m.new_dir().join("data").exists(), "nothing was copied");
}
