//! `backup` and `restore` against the real PostgreSQL: back up, drop, restore, same rows;
//! damaged or partial backups are refused before anything changes.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::path::{Path, PathBuf};

use support::pg::{self, TempDb};
use support::*;

struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    files: PathBuf,
    config_json: PathBuf,
    db: TempDb,
}

fn site() -> Option<Site> {
    if !is_root() {
        skip("the backup tests run as root (peer authentication as role root)");
        return None;
    }
    if let Err(reason) = pg::available() {
        skip(&reason);
        return None;
    }
    if !have("pg_dump") {
        skip("pg_dump is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TempDb::new("backup");
    let data = dir.path().join("data");
    let files = data.join("files");
    let conf = data.join("config");
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            // root may not be the service user: `postgres` is one whose role exists, and
            // backup and restore run the PostgreSQL tools as the service user.
            "external_url = \"http://chat.example.test\"\n[account]\nuser = \"postgres\"\ngroup = \"postgres\"\n\
             [directories]\ndata = \"{d}\"\nconfig = \"{c}\"\n\
             [database]\nname = \"{n}\"\nuser = \"postgres\"\nsocket_dir = \"{s}\"\n\
             [file_storage]\ndirectory = \"{f}\"\n",
            d = data.display(),
            c = conf.display(),
            n = db.name,
            s = pg::SOCKET_DIR,
            f = files.display()
        ),
    )
    .unwrap();
    write_file(&files.join("teams/t1/a.png"), "PNG-bytes", 0o640);
    write_file(&files.join("users/u1/profile.txt"), "hello", 0o600);
    let config_json = conf.join("config.json");
    write_file(&config_json, "{\"ServiceSettings\":{}}\n", 0o600);
    pg::psql(&db.name, "CREATE TABLE posts (id int primary key, message text); INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, 250) g;").unwrap();
    Some(Site {
        dir,
        config,
        files,
        config_json,
        db,
    })
}

impl Site {
    fn cmd(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec![args[0], self.config.to_str().unwrap()];
        all.extend_from_slice(&args[1..]);
        let o = run(&all);
        let (out, err) = text(&o);
        (o.status.code().unwrap_or(-1), out, err)
    }

    fn backup(&self) -> PathBuf {
        let to = self.dir.path().join("backups");
        let (code, out, err) = self.cmd(&["backup", "--to", to.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}\n{err}");
        let dirs: Vec<PathBuf> = std::fs::read_dir(&to)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(dirs.len(), 1, "one backup, no partial left: {dirs:?}");
        dirs[0].clone()
    }

    fn rows(&self) -> Result<String, String> {
        pg::psql(
            &self.db.name,
            "SELECT count(*), sum(id), md5(string_agg(message, ',' ORDER BY id)) FROM posts",
        )
    }
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn back_up_drop_restore_gives_the_same_rows_and_files() {
    let Some(s) = site() else { return };
    let before = s.rows().unwrap();
    let backup = s.backup();
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("mattermost-backup-20"), "{name}");

    let m = manifest(&backup);
    let dump = m["database_dump"].as_str().unwrap().to_string();
    assert!(
        dump.ends_with(".sql.gz") && dump.contains(&s.db.name) && dump.contains("T"),
        "{dump}"
    );
    let listed: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"files/teams/t1/a.png")
            && listed.contains(&"config.json")
            && listed.contains(&dump.as_str()),
        "{listed:?}"
    );
    let gz = std::fs::read(backup.join(&dump)).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "the dump is gzip");

    // Lose everything.
    pg::psql(
        "postgres",
        &format!("DROP DATABASE {} WITH (FORCE)", s.db.name),
    )
    .unwrap();
    std::fs::remove_dir_all(&s.files).unwrap();
    std::fs::remove_file(&s.config_json).unwrap();
    assert!(s.rows().is_err());

    let (code, out, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(s.rows().unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(s.files.join("teams/t1/a.png")).unwrap(),
        "PNG-bytes"
    );
    assert_eq!(
        std::fs::read_to_string(s.files.join("users/u1/profile.txt")).unwrap(),
        "hello"
    );
    assert_eq!(
        std::fs::read_to_string(&s.config_json).unwrap(),
        "{\"ServiceSettings\":{}}\n"
    );
}

#[test]
fn a_damaged_backup_is_refused_before_anything_changes() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    // Same size, other bytes: only the checksum can tell.
    std::fs::write(backup.join("files/users/u1/profile.txt"), "HELLO").unwrap();
    pg::psql(&s.db.name, "DELETE FROM posts WHERE id > 10").unwrap();
    let (code, _, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not match its checksum") && err.contains("nothing was restored"),
        "{err}"
    );
    assert_eq!(
        pg::psql(&s.db.name, "SELECT count(*) FROM posts").unwrap(),
        "10",
        "the database was not touched"
    );
}

#[test]
fn a_partial_backup_without_manifest_is_refused() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    std::fs::remove_file(backup.join("manifest.json")).unwrap();
    let (code, _, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not a complete backup"), "{err}");
}

#[test]
fn a_missing_file_makes_the_backup_partial() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    let dump = manifest(&backup)["database_dump"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(backup.join(&dump)).unwrap();
    let (code, _, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{dump} is missing")), "{err}");
}

#[test]
fn restore_refuses_a_database_with_tables_unless_forced() {
    let Some(s) = site() else { return };
    let before = s.rows().unwrap();
    let backup = s.backup();
    pg::psql(&s.db.name, "UPDATE posts SET message = 'changed'").unwrap();
    let (code, _, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("already has 1 table") && err.contains("--force"),
        "{err}"
    );
    assert_ne!(s.rows().unwrap(), before);

    let (code, out, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(s.rows().unwrap(), before);
    // The files that were there are kept aside, not deleted.
    let parent = s.files.parent().unwrap();
    let aside = std::fs::read_dir(parent).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with("files.before-restore-")
    });
    assert!(aside, "the old files directory is kept");
}

/// A config whose files directory is in a scratch directory; no database is needed for
/// the refusals, which come before anything is dumped.
fn scratch_site() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("data/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("a.png"), "PNG").unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"http://chat.example.test\"\n[database]\nname = \"no_such_db_for_backup_tests\"\n\
             [file_storage]\ndirectory = \"{}\"\n",
            files.display()
        ),
    )
    .unwrap();
    (dir, config, files)
}

/// Type, inode and content of a path, without following symlinks.
fn state(p: &Path) -> Option<(bool, u64, Vec<u8>, Option<PathBuf>)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).ok()?;
    let bytes = if m.is_file() {
        std::fs::read(p).unwrap()
    } else {
        Vec::new()
    };
    Some((m.is_dir(), m.ino(), bytes, std::fs::read_link(p).ok()))
}

#[test]
fn backup_refuses_destinations_that_are_not_directories_or_copy_themselves() {
    type Setup = fn(&Path, &Path) -> PathBuf;
    let cases: &[(&str, Setup, &str)] = &[
        (
            "a regular file",
            |d, _| {
                std::fs::write(d.join("backups"), "mine").unwrap();
                d.join("backups")
            },
            "backups: is a regular file, not a directory",
        ),
        (
            "/dev/null",
            |_, _| PathBuf::from("/dev/null"),
            "/dev/null: is a character device, not a directory",
        ),
        (
            "a FIFO",
            |d, _| {
                let p = d.join("fifo");
                assert!(std::process::Command::new("mkfifo")
                    .arg(&p)
                    .status()
                    .unwrap()
                    .success());
                p
            },
            "fifo: is a FIFO (named pipe), not a directory",
        ),
        (
            "a dangling symlink",
            |d, _| {
                std::os::unix::fs::symlink("gone", d.join("backups")).unwrap();
                d.join("backups")
            },
            "is a symbolic link to gone, which does not exist",
        ),
        (
            "inside the files directory",
            |_, files| files.join("backups"),
            "is inside the files directory",
        ),
        (
            "a symlink into the files directory",
            |d, files| {
                std::os::unix::fs::symlink(files, d.join("link")).unwrap();
                d.join("link/nested/backups")
            },
            "the backup would copy itself",
        ),
    ];
    for (name, setup, says) in cases {
        let (dir, config, files) = scratch_site();
        let to = setup(dir.path(), &files);
        let before = (
            state(&to),
            std::fs::read_dir(dir.path()).unwrap().count(),
            std::fs::read_dir(&files).unwrap().count(),
        );
        let o = run(&[
            "backup",
            config.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains("error: --to: ") && err.contains(says),
            "{name}: {err}"
        );
        let after = (
            state(&to),
            std::fs::read_dir(dir.path()).unwrap().count(),
            std::fs::read_dir(&files).unwrap().count(),
        );
        assert_eq!(before, after, "{name}: something changed");
    }
}

#[test]
fn a_failed_backup_leaves_no_partial_directory() {
    if !have("pg_dump") {
        skip("pg_dump is not installed");
        return;
    }
    let (dir, config, _) = scratch_site();
    let to = dir.path().join("backups");
    std::fs::create_dir(&to).unwrap();
    std::fs::write(to.join("older-backup.txt"), "keep").unwrap();
    // The database does not exist (or the server is not running): pg_dump fails.
    let o = run(&[
        "backup",
        config.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let left: Vec<String> = std::fs::read_dir(&to)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["older-backup.txt"], "{err}");
    assert_eq!(
        std::fs::read_to_string(to.join("older-backup.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn a_backup_next_to_other_files_leaves_them_alone() {
    let Some(s) = site() else { return };
    let to = s.dir.path().join("backups");
    std::fs::create_dir(&to).unwrap();
    std::fs::write(to.join("notes.txt"), "mine").unwrap();
    let (code, out, err) = s.cmd(&["backup", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut names: Vec<String> = std::fs::read_dir(&to)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("mattermost-backup-") && names[1] == "notes.txt",
        "{names:?}"
    );
    assert_eq!(
        std::fs::read_to_string(to.join("notes.txt")).unwrap(),
        "mine"
    );
}

/// `--keep N`: after a complete backup, only the N newest of `backup`'s own backups remain;
/// everything else in the directory stays.
#[test]
fn backup_keep_removes_the_oldest_of_its_own_backups_only() {
    let Some(s) = site() else { return };
    let to = s.dir.path().join("backups");
    std::fs::create_dir(&to).unwrap();
    for stamp in ["20240101T000000Z", "20240201T000000Z"] {
        let old = to.join(format!("mattermost-backup-{stamp}"));
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("manifest.json"), "{}").unwrap();
    }
    std::fs::write(to.join("notes.txt"), "mine").unwrap();
    let (code, out, err) = s.cmd(&["backup", "--to", to.to_str().unwrap(), "--keep", "2"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("removed the older backup") && out.contains("20240101T000000Z"),
        "{out}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&to)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "mattermost-backup-20240201T000000Z", "{names:?}");
    assert!(
        names[1].starts_with("mattermost-backup-2") && names[1] > names[0],
        "{names:?}"
    );
    assert_eq!(names[2], "notes.txt");
}

/// Plugins (server and web app) and every secret file the config names are in the backup: the
/// secrets 0600 in a 0700 directory; a restore brings the plugins back.
#[test]
fn plugins_and_secret_files_are_backed_up_and_plugins_restored() {
    use std::os::unix::fs::PermissionsExt;
    let Some(s) = site() else { return };
    let plugins = s.dir.path().join("data/plugins");
    let client = s.dir.path().join("data/client-plugins");
    write_file(
        &plugins.join("com.github.gitlab/plugin.json"),
        "{\"id\":\"gitlab\"}",
        0o644,
    );
    write_file(&client.join("com.github.gitlab/main.js"), "js", 0o644);
    let secret = s.dir.path().join("secrets/token");
    write_file(&secret, "canary-secret-value\n", 0o600);
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        "[directories]\n",
        &format!(
            "[directories]\nplugins = \"{}\"\nclient_plugins = \"{}\"\n",
            plugins.display(),
            client.display()
        ),
    ) + &format!(
        "[environment_files]\nBACKUP_TEST_TOKEN = \"{}\"\n",
        secret.display()
    );
    std::fs::write(&s.config, text).unwrap();

    let backup = s.backup();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&backup), 0o700, "the backup holds secrets");
    let m = manifest(&backup);
    assert_eq!(
        m["plugins"],
        serde_json::json!(["plugins", "client-plugins"])
    );
    assert_eq!(m["secrets"], serde_json::json!(["env_BACKUP_TEST_TOKEN"]));
    let copied = backup.join("secrets/env_BACKUP_TEST_TOKEN");
    assert_eq!(
        std::fs::read_to_string(&copied).unwrap(),
        "canary-secret-value\n"
    );
    assert_eq!(mode(&copied), 0o600);
    assert_eq!(
        std::fs::read_to_string(backup.join("plugins/com.github.gitlab/plugin.json")).unwrap(),
        "{\"id\":\"gitlab\"}"
    );
    assert!(m["mattermost"]["version"].is_string(), "{m}");

    std::fs::remove_dir_all(&plugins).unwrap();
    let (code, out, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("canary-secret-value") && !err.contains("canary-secret-value"));
    assert_eq!(
        std::fs::read_to_string(plugins.join("com.github.gitlab/plugin.json")).unwrap(),
        "{\"id\":\"gitlab\"}"
    );
    assert_eq!(
        std::fs::read_to_string(client.join("com.github.gitlab/main.js")).unwrap(),
        "js"
    );
}

/// `rollback` checks the backup belongs to the release the config names, and that release is
/// installed, before it stops anything.
#[test]
fn rollback_refuses_a_backup_of_another_release_or_a_missing_release() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    let m = manifest(&backup);
    assert_eq!(m["mattermost"]["version"], "11.7", "{m}");
    let (code, out, err) = s.cmd(&[
        "rollback",
        "--from",
        backup.to_str().unwrap(),
        "--set",
        "mattermost.version=\"10.11\"",
        "--set",
        "mattermost.allow_end_of_life=true",
    ]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("the backup was taken of Mattermost 11.7 in /opt/mattermost, but the config runs 10.11 in /opt/mattermost"),
        "{err}"
    );
    let missing = s.dir.path().join("no-such-release");
    let (code, out, err) = s.cmd(&[
        "rollback",
        "--from",
        backup.to_str().unwrap(),
        "--set",
        &format!("mattermost.install_dir=\"{}\"", missing.display()),
    ]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("the backup was taken of Mattermost 11.7 in /opt/mattermost"),
        "{err}"
    );
    // The right release, but not installed (no /opt/mattermost here): refused too.
    if !Path::new("/opt/mattermost/bin/mattermost").exists() {
        let (code, out, err) = s.cmd(&["rollback", "--from", backup.to_str().unwrap()]);
        assert_eq!(code, 2, "{out}\n{err}");
        assert!(
            err.contains("/opt/mattermost/bin/mattermost is missing: the previous release must still be installed"),
            "{err}"
        );
    }
    // The rows are untouched: nothing was stopped or restored.
    assert!(s.rows().is_ok());
}

/// `upgrade-guard` (the NixOS unit's ExecStartPre): records the release at the first start,
/// does nothing while it stays, backs everything up when it changes, and refuses an older line.
#[test]
fn the_upgrade_guard_backs_up_when_the_release_changes() {
    let Some(s) = site() else { return };
    let install = s.dir.path().join("mattermost");
    let binary = install.join("bin/mattermost");
    write_file(&binary, "#!/bin/sh\necho 'Version: 10.10.0'\n", 0o755);
    let text = std::fs::read_to_string(&s.config).unwrap()
        + &format!("[mattermost]\ninstall_dir = \"{}\"\n", install.display());
    std::fs::write(&s.config, text).unwrap();
    let state = s.dir.path().join("state");
    let guard = |extra: &[&str]| {
        let mut args = vec!["upgrade-guard", "--state-dir", state.to_str().unwrap()];
        args.extend_from_slice(extra);
        s.cmd(&args)
    };
    let (code, out, err) = guard(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("recording the release"), "{out}");
    let recorded = std::fs::read_to_string(state.join("release")).unwrap();
    assert!(recorded.ends_with(" 10.10.0\n"), "{recorded}");
    let (code, out, _) = guard(&[]);
    assert_eq!(
        (code, out.as_str()),
        (0, ""),
        "nothing changed, nothing said"
    );
    assert!(!state.join("upgrades").exists());

    write_file(&binary, "#!/bin/sh\necho 'Version: 11.4.0'\n", 0o755);
    let (code, out, err) = guard(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("the release changed"), "{out}");
    let backups: Vec<_> = std::fs::read_dir(state.join("upgrades"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("before-mattermost-11.7-")
        })
        .collect();
    assert_eq!(backups.len(), 1, "{out}");
    assert!(backups[0].path().join("manifest.json").exists());
    let last = std::fs::read_to_string(state.join("upgrades/last.json")).unwrap();
    assert!(last.contains("\"kind\": \"upgrade\""), "{last}");
    assert!(std::fs::read_to_string(state.join("release"))
        .unwrap()
        .ends_with(" 11.4.0\n"));

    // Back to the 10 line on a database 11 migrated: refused, nothing recorded.
    write_file(&binary, "#!/bin/sh\necho 'Version: 10.10.0'\n", 0o755);
    let (code, out, err) = guard(&[
        "--set",
        "mattermost.version=\"10.11\"",
        "--set",
        "mattermost.allow_end_of_life=true",
    ]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(err.contains("gitlab-mattermost rollback"), "{err}");
    assert!(std::fs::read_to_string(state.join("release"))
        .unwrap()
        .ends_with(" 11.4.0\n"));
}

// ---------------------------------------------------------------------------------------
// GitLab's Omnibus backup of its bundled Mattermost, made exactly as GitLab's docs say:
//   pg_dump -h /var/opt/gitlab/postgresql mattermost_production | gzip > mattermost_dbdump_DATE.sql.gz
//   tar -zcvf mattermost_data_DATE.gz -C /var/opt/gitlab/mattermost data config.json

const OMNIBUS_PASSWORD: &str = "omnibus-restore-test";

/// A role on the shared cluster; tests running at once may both try to create it.
fn ensure_role(name: &str) {
    pg::psql(
        "postgres",
        &format!(
            "DO $$ BEGIN CREATE ROLE {name} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
    )
    .unwrap();
}

struct Omnibus {
    dir: tempfile::TempDir,
    config: PathBuf,
    /// The Omnibus host's /var/opt/gitlab/mattermost.
    omnibus: PathBuf,
    dump: PathBuf,
    archive: PathBuf,
    files: PathBuf,
    config_json: PathBuf,
    source: TempDb,
    target: TempDb,
}

fn sh(script: &str) {
    let o = std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}: {}", text(&o).1);
}

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(p).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every path under `dir` with its kind and content digest.
fn tree(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                todo.push(p.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                sha256(&p)
            };
            out.push((p, what));
        }
    }
    out.sort();
    out
}

fn omnibus() -> Option<Omnibus> {
    if !is_root() {
        skip("the Omnibus restore tests run as root (they create roles and chown files)");
        return None;
    }
    if let Err(reason) = pg::available() {
        skip(&reason);
        return None;
    }
    for tool in ["pg_dump", "tar", "gzip"] {
        if !have(tool) {
            skip(&format!("{tool} is not installed"));
            return None;
        }
    }
    // Once per test binary: concurrent changes of one role collide in PostgreSQL.
    static ROLES: std::sync::Once = std::sync::Once::new();
    ROLES.call_once(|| {
        ensure_role("gitlab_mattermost");
        ensure_role("mattermost");
        pg::psql(
            "postgres",
            &format!("ALTER ROLE mattermost PASSWORD '{OMNIBUS_PASSWORD}'"),
        )
        .unwrap();
    });

    // The Omnibus database, owned by gitlab_mattermost as Omnibus had it.
    let source = TempDb::new("omnibus_src");
    pg::psql(
        "postgres",
        &format!("ALTER DATABASE {} OWNER TO gitlab_mattermost", source.name),
    )
    .unwrap();
    pg::psql(
        &source.name,
        "SET ROLE gitlab_mattermost;
         CREATE SEQUENCE channel_seq START 40;
         CREATE TYPE status AS ENUM ('online', 'away');
         CREATE TABLE users (id text PRIMARY KEY, username text UNIQUE NOT NULL, state status);
         CREATE TABLE posts (id bigserial PRIMARY KEY, userid text REFERENCES users (id), message text);
         CREATE TABLE channels (id integer DEFAULT nextval('channel_seq') PRIMARY KEY, name text);
         CREATE INDEX posts_by_user ON posts (userid);
         CREATE VIEW recent AS SELECT * FROM posts WHERE id > 100;
         CREATE FUNCTION post_count() RETURNS bigint LANGUAGE sql AS $$SELECT count(*) FROM public.posts$$;
         INSERT INTO users SELECT 'u' || g, 'user' || g, 'online' FROM generate_series(1, 7) g;
         INSERT INTO posts (userid, message)
           SELECT 'u' || (g % 7 + 1), 'post ' || g || E'\\nALTER TABLE public.posts OWNER TO gitlab_mattermost;\\n\\\\! echo no'
           FROM generate_series(1, 120) g;
         INSERT INTO channels (name) VALUES ('town-square'), ('off-topic');
         REVOKE ALL ON TABLE posts FROM gitlab_mattermost;
         GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE posts TO gitlab_mattermost;
         RESET ROLE;
         GRANT ALL ON SCHEMA public TO gitlab_mattermost;",
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let omnibus = dir.path().join("var/opt/gitlab/mattermost");
    write_file(
        &omnibus.join("data/users/u1/profile.png"),
        "\u{89}PNG profile",
        0o600,
    );
    write_file(
        &omnibus.join("data/20240101/teams/t1/channels/c1/users/u1/f1/report.pdf"),
        "%PDF-1.7 report",
        0o640,
    );
    write_file(
        &omnibus.join("data/plugins/com.github.gitlab.tar.gz"),
        "bundle",
        0o644,
    );
    write_file(
        &omnibus.join("config.json"),
        "{\"SqlSettings\":{\"DataSource\":\"user=gitlab_mattermost host=/var/opt/gitlab/postgresql dbname=mattermost_production\"}}\n",
        0o600,
    );
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    sh(&format!(
        "cd {b} && pg_dump -h {s} {db} | gzip > mattermost_dbdump_$(date --rfc-3339=date).sql.gz \
         && tar -zcvf mattermost_data_$(date --rfc-3339=date).gz -C {o} data config.json",
        b = backups.display(),
        s = pg::SOCKET_DIR,
        db = source.name,
        o = omnibus.display()
    ));
    let find = |prefix: &str| {
        std::fs::read_dir(&backups)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap()
    };
    let (dump, archive) = (find("mattermost_dbdump_"), find("mattermost_data_"));

    // The new host: an empty database owned by the service's role.
    let target = TempDb::new("omnibus_dst");
    pg::psql(
        "postgres",
        &format!("ALTER DATABASE {} OWNER TO mattermost", target.name),
    )
    .unwrap();
    let password = dir.path().join("db-password");
    write_file(&password, &format!("{OMNIBUS_PASSWORD}\n"), 0o600);
    let mm = dir.path().join("mm");
    let files = mm.join("data");
    let conf = mm.join("config");
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"http://chat.example.test\"\n\
             [account]\nuser = \"postgres\"\ngroup = \"postgres\"\n\
             [mattermost]\ninstall_dir = \"{i}\"\n\
             [directories]\ndata = \"{d}\"\nconfig = \"{c}\"\n\
             [database]\nkind = \"external\"\nname = \"{n}\"\nuser = \"mattermost\"\nhost = \"127.0.0.1\"\n\
             sslmode = \"disable\"\npassword_file = \"{p}\"\n\
             [file_storage]\ndirectory = \"{f}\"\n",
            i = dir.path().join("opt/mattermost").display(),
            d = mm.display(),
            c = conf.display(),
            n = target.name,
            p = password.display(),
            f = files.display()
        ),
    )
    .unwrap();
    Some(Omnibus {
        config,
        omnibus,
        dump,
        archive,
        files,
        config_json: conf.join("config.json"),
        source,
        target,
        dir,
    })
}

impl Omnibus {
    fn restore(&self, archive: &Path, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "restore",
            self.config.to_str().unwrap(),
            "--omnibus-database",
            self.dump.to_str().unwrap(),
            "--omnibus-files",
            archive.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        let (out, err) = text(&o);
        (o.status.code().unwrap_or(-1), out, err)
    }

    fn target_tables(&self) -> String {
        pg::psql(
            &self.target.name,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        )
        .unwrap()
    }
}

/// Rows, sequences and the function's answer, in a form two databases can be compared in.
fn contents(db: &str) -> String {
    pg::psql(
        db,
        "SELECT (SELECT count(*) || ' ' || md5(string_agg(id || username || state, ',' ORDER BY id)) FROM users), \
                (SELECT count(*) || ' ' || md5(string_agg(id || userid || message, ',' ORDER BY id)) FROM posts), \
                (SELECT count(*) || ' ' || md5(string_agg(id || name, ',' ORDER BY id)) FROM channels), \
                (SELECT last_value FROM channel_seq), (SELECT last_value FROM posts_id_seq), \
                (SELECT count(*) FROM recent), post_count()",
    )
    .unwrap()
}

#[test]
fn an_omnibus_backup_is_restored_for_the_service_role() {
    let Some(s) = omnibus() else { return };
    let before = contents(&s.source.name);
    assert!(before.starts_with("7 "), "{before}");
    let dump_text = {
        use std::io::Read;
        let mut t = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&s.dump).unwrap())
            .read_to_string(&mut t)
            .unwrap();
        t
    };
    // What makes this backup hard to restore elsewhere is really in it.
    assert!(
        dump_text.contains("ALTER TABLE public.posts OWNER TO gitlab_mattermost;")
            && dump_text.contains("GRANT ALL ON SCHEMA public TO gitlab_mattermost;"),
        "{dump_text}"
    );

    let (code, out, err) = s.restore(&s.archive, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("3 table(s) with 129 row(s) as in the dump")
            && out.contains("all owned by mattermost")
            && out.contains("verified 3 files"),
        "{out}"
    );

    assert_eq!(contents(&s.target.name), before);
    let foreign = pg::psql(
        &s.target.name,
        "SELECT string_agg(o, ', ') FROM ( \
           SELECT c.relname || ':' || pg_get_userbyid(c.relowner) AS o FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' \
             AND pg_get_userbyid(c.relowner) <> 'mattermost' \
           UNION ALL SELECT p.proname || ':' || pg_get_userbyid(p.proowner) FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' \
             AND pg_get_userbyid(p.proowner) <> 'mattermost' \
           UNION ALL SELECT t.typname || ':' || pg_get_userbyid(t.typowner) FROM pg_type t \
             JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' \
             AND pg_get_userbyid(t.typowner) <> 'mattermost') x",
    )
    .unwrap();
    assert_eq!(foreign, "", "objects owned by another role");
    let owned = pg::psql(
        &s.target.name,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = 'mattermost'",
    )
    .unwrap();
    assert!(owned.parse::<u32>().unwrap() >= 9, "{owned}");
    let acl = pg::psql(
        &s.target.name,
        "SELECT coalesce(array_to_string(nspacl, ','), '') FROM pg_namespace WHERE nspname = 'public'",
    )
    .unwrap();
    assert!(!acl.contains("gitlab_mattermost"), "{acl}");

    // The files, byte for byte, owned by the service account (postgres:postgres here: an
    // account that exists on the test host and is not root).
    use std::os::unix::fs::MetadataExt;
    let id = |flag: &str| -> u32 {
        let o = std::process::Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
    };
    let (uid, gid) = (id("-u"), id("-g"));
    assert_ne!(uid, 0);
    for rel in [
        "users/u1/profile.png",
        "20240101/teams/t1/channels/c1/users/u1/f1/report.pdf",
        "plugins/com.github.gitlab.tar.gz",
    ] {
        let restored = s.files.join(rel);
        assert_eq!(
            sha256(&restored),
            sha256(&s.omnibus.join("data").join(rel)),
            "{rel}"
        );
        let m = std::fs::metadata(&restored).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{rel}");
    }
    assert_eq!(
        std::fs::metadata(s.files.join("20240101/teams"))
            .unwrap()
            .uid(),
        uid
    );
    assert_eq!(
        sha256(&s.config_json),
        sha256(&s.omnibus.join("config.json"))
    );
    let m = std::fs::metadata(&s.config_json).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (uid, gid, 0o600));

    // Again, over what is there now: every reason to refuse at once, nothing changed.
    let files_before = tree(&s.files);
    let (code, out, err) = s.restore(&s.archive, &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("already has 3 table(s)")
            && err.contains(&format!("{} is not empty", s.files.display()))
            && err.contains(&format!("{} exists", s.config_json.display()))
            && err.contains("3 errors found; nothing was written"),
        "{err}"
    );
    // --force cannot replace the tables of an external database: it says what to do.
    let (code, out, err) = s.restore(&s.archive, &["--force"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("drop and create it again on 127.0.0.1"),
        "{err}"
    );
    assert_eq!(tree(&s.files), files_before);
    assert_eq!(contents(&s.target.name), before);
}

#[test]
fn hostile_omnibus_archives_are_refused_and_nothing_is_written() {
    let Some(s) = omnibus() else { return };
    // Archives made with tar itself; -P keeps what GNU tar would otherwise strip.
    let base = s.dir.path().join("hostile/base");
    write_file(&base.join("data/ok.txt"), "ok", 0o644);
    write_file(&base.join("config.json"), "{}", 0o644);
    write_file(&s.dir.path().join("hostile/outside.txt"), "escape", 0o644);
    let absolute = s.dir.path().join("hostile/absolute.txt");
    write_file(&absolute, "absolute", 0o644);
    std::os::unix::fs::symlink("../../../..", base.join("data/up")).unwrap();
    std::os::unix::fs::symlink("/etc", base.join("data/etc")).unwrap();
    write_file(&base.join("notes/readme.txt"), "not Mattermost's", 0o644);
    let cases: &[(&str, &str, &str)] = &[
        (
            "dotdot",
            "data/ok.txt ../outside.txt",
            "../outside.txt climbs out of the archive with `..`",
        ),
        (
            "absolute",
            &format!("data/ok.txt {}", absolute.display()),
            &format!("{} is an absolute path", absolute.display()),
        ),
        (
            "symlink-up",
            "data/ok.txt data/up",
            "data/up is a symbolic link to ../../../.., outside data/",
        ),
        (
            "symlink-abs",
            "config.json data/etc",
            "data/etc is a symbolic link to /etc, outside data/",
        ),
        (
            "stranger",
            "data/ok.txt notes",
            "notes/readme.txt is neither under data/ nor config.json",
        ),
    ];
    for (name, members, says) in cases {
        let archive = s.dir.path().join(format!("hostile/{name}.gz"));
        sh(&format!(
            "tar -P -zcf {} -C {} {members}",
            archive.display(),
            base.display()
        ));
        let before = tree(s.dir.path());
        let (code, out, err) = s.restore(&archive, &[]);
        assert_eq!(code, 2, "{name}: {out}\n{err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(err.contains("nothing was written"), "{name}: {err}");
        assert_eq!(tree(s.dir.path()), before, "{name}: something was written");
        assert!(!s.files.exists() && !s.config_json.exists(), "{name}");
        assert_eq!(s.target_tables(), "0", "{name}: the database was touched");
    }
    // Every problem of one archive at once.
    let archive = s.dir.path().join("hostile/all.gz");
    sh(&format!(
        "tar -P -zcf {} -C {} data ../outside.txt notes",
        archive.display(),
        base.display()
    ));
    let (code, _, err) = s.restore(&archive, &[]);
    assert_eq!(code, 2, "{err}");
    for says in ["../outside.txt", "data/up", "data/etc", "notes/readme.txt"] {
        assert!(err.contains(says), "{says}: {err}");
    }
    // The two files swapped: the archive is not a dump, the dump not an archive.
    let o = run(&[
        "restore",
        s.config.to_str().unwrap(),
        "--omnibus-database",
        s.archive.to_str().unwrap(),
        "--omnibus-files",
        s.dump.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("--omnibus-database") && err.contains("--omnibus-files"),
        "{err}"
    );
    assert_eq!(s.target_tables(), "0");
}

#[test]
fn an_omnibus_restore_refuses_while_mattermost_runs() {
    let Some(s) = omnibus() else { return };
    let server = s.dir.path().join("opt/mattermost/bin/mattermost");
    std::fs::create_dir_all(server.parent().unwrap()).unwrap();
    std::fs::copy("/bin/sleep", &server).unwrap();
    let mut running = std::process::Command::new(&server)
        .arg("60")
        .spawn()
        .unwrap();
    let (code, out, err) = s.restore(&s.archive, &[]);
    running.kill().unwrap();
    running.wait().unwrap();
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "Mattermost is running (process {} runs {}",
            running.id(),
            server.display()
        )) && err.contains("systemctl stop mattermost.service"),
        "{err}"
    );
    assert!(!s.files.exists() && !s.config_json.exists());
    assert_eq!(s.target_tables(), "0");
}

/// A local database (peer authentication as the service user; `postgres` here, whose role
/// exists) that already has tables: refused, then with --force dropped, created again and
/// restored; the files that were there are moved aside.
#[test]
fn an_omnibus_restore_with_force_replaces_a_local_database() {
    let Some(s) = omnibus() else { return };
    let local = TempDb::new("omnibus_local");
    pg::psql(
        &local.name,
        "CREATE TABLE old_table (id int); INSERT INTO old_table VALUES (1), (2);",
    )
    .unwrap();
    let mm = s.dir.path().join("local");
    let files = mm.join("files");
    write_file(&files.join("old.txt"), "before", 0o640);
    let config = s.dir.path().join("local.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"http://chat.example.test\"\n\
             [account]\nuser = \"postgres\"\ngroup = \"postgres\"\n\
             [mattermost]\ninstall_dir = \"{i}\"\n\
             [directories]\ndata = \"{d}\"\nconfig = \"{d}/config\"\n\
             [database]\nname = \"{n}\"\nuser = \"postgres\"\nsocket_dir = \"{sock}\"\n\
             [file_storage]\ndirectory = \"{f}\"\n",
            i = s.dir.path().join("opt/mattermost").display(),
            d = mm.display(),
            n = local.name,
            sock = pg::SOCKET_DIR,
            f = files.display()
        ),
    )
    .unwrap();
    let restore = |extra: &[&str]| {
        let mut args = vec![
            "restore",
            config.to_str().unwrap(),
            "--omnibus-database",
            s.dump.to_str().unwrap(),
            "--omnibus-files",
            s.archive.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        let (out, err) = text(&o);
        (o.status.code().unwrap_or(-1), out, err)
    };
    let (code, out, err) = restore(&[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("already has 1 table(s)")
            && err.contains("pass --force to drop and create it again"),
        "{err}"
    );
    assert_eq!(
        pg::psql(&local.name, "SELECT count(*) FROM old_table").unwrap(),
        "2"
    );

    let (code, out, err) = restore(&["--force"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("dropped and created database") && out.contains("all owned by postgres"),
        "{out}"
    );
    assert!(pg::psql(&local.name, "SELECT count(*) FROM old_table").is_err());
    assert_eq!(contents(&local.name), contents(&s.source.name));
    assert_eq!(
        sha256(&files.join("users/u1/profile.png")),
        sha256(&s.omnibus.join("data/users/u1/profile.png"))
    );
    assert!(!files.join("old.txt").exists());
    let aside: Vec<PathBuf> = std::fs::read_dir(&mm)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("files.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read_to_string(aside[0].join("old.txt")).unwrap(),
        "before"
    );
}

// ---------------------------------------------------------------------------------------
// `restore` never trusts the backup: whatever the manifest says, a path outside the backup,
// a FIFO, device or link, an unlisted file, a truncated dump or a dump that would end the
// restore's transaction is refused before anything changes, and never hangs.

/// Run the binary, killed when it does not finish within `secs` (which fails the test).
fn run_within(secs: u64, args: &[&str]) -> (i32, String, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = std::process::Command::new(bin_path())
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{args:?} hung for {secs} s: {}",
                std::fs::read_to_string(err.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(out.path()).unwrap(),
        std::fs::read_to_string(err.path()).unwrap(),
    )
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rewrite the manifest as a forger would.
fn edit_manifest(backup: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut m = manifest(backup);
    edit(&mut m);
    std::fs::write(
        backup.join("manifest.json"),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
}

/// List `path` with the size and checksum of `bytes` (replacing its entry).
fn list(m: &mut serde_json::Value, path: &str, bytes: &[u8]) {
    unlist(m, path);
    m["files"].as_array_mut().unwrap().push(serde_json::json!({
        "path": path,
        "size": bytes.len(),
        "sha256": digest(bytes),
    }));
}

fn unlist(m: &mut serde_json::Value, path: &str) {
    m["files"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["path"] != path);
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut sql = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut sql)
        .unwrap();
    sql
}

fn gzip(sql: &str) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(sql.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// What a restore could change: the rows, and everything under the data directory (files,
/// config.json, anything moved aside).
fn everything(s: &Site) -> (String, Vec<(PathBuf, String)>) {
    (s.rows().unwrap(), tree(&s.dir.path().join("data")))
}

/// The database after a backup differs from the backup's, so a restore would show.
fn diverge(s: &Site) {
    pg::psql(&s.db.name, "DELETE FROM posts WHERE id > 10").unwrap();
}

/// `restore --force` of `backup` is refused, naming `needle`, and nothing changed.
fn refused(s: &Site, backup: &Path, needle: &str) {
    let before = everything(s);
    let (code, out, err) = run_within(
        60,
        &[
            "restore",
            s.config.to_str().unwrap(),
            "--from",
            backup.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(everything(s), before, "nothing changed: {err}");
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(needle) && err.contains("nothing was restored"),
        "{needle}: {err}"
    );
    assert!(before.0.starts_with("10|"), "{before:?}");
}

#[test]
fn a_truncated_dump_with_a_matching_checksum_is_refused_before_psql() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    diverge(&s);
    let dump = manifest(&backup)["database_dump"]
        .as_str()
        .unwrap()
        .to_string();
    let sql = gunzip(&std::fs::read(backup.join(&dump)).unwrap());
    // Cut right after the table's rows (before its primary key): what a truncated file
    // decompresses to is a valid script, and psql would commit it at the end of its input.
    let copy = sql.find("COPY public.posts").expect("the dump fills posts");
    let end = copy + sql[copy..].find("\n\\.\n").unwrap() + 4;
    let truncated = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&sql.as_bytes()[..end]).unwrap();
        gz.flush().unwrap();
        let cut = gz.get_ref().len();
        gz.write_all(&sql.as_bytes()[end..]).unwrap();
        let mut whole = gz.finish().unwrap();
        whole.truncate(cut);
        whole
    };
    assert_eq!(gunzip_prefix(&truncated), sql[..end]);
    std::fs::write(backup.join(&dump), &truncated).unwrap();
    edit_manifest(&backup, |m| list(m, &dump, &truncated));
    refused(&s, &backup, "refused before psql");
}

/// What a truncated gzip decompresses to before the decoder stops.
fn gunzip_prefix(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(bytes);
    let mut buf = [0u8; 4096];
    while let Ok(n) = d.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_dump_that_would_commit_early_is_refused() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    diverge(&s);
    let dump = manifest(&backup)["database_dump"]
        .as_str()
        .unwrap()
        .to_string();
    // The whole dump, then a COMMIT that would end the single transaction, then an error.
    let sql = gunzip(&std::fs::read(backup.join(&dump)).unwrap()) + "COMMIT;\nSELECT 1/0;\n";
    let gz = gzip(&sql);
    std::fs::write(backup.join(&dump), &gz).unwrap();
    edit_manifest(&backup, |m| list(m, &dump, &gz));
    refused(&s, &backup, "refused before psql saw any of it");
    refused(
        &s,
        &backup,
        "holds COMMIT: it would end the single transaction",
    );
}

#[test]
fn manifest_paths_outside_the_backup_are_refused() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    diverge(&s);
    let dump = manifest(&backup)["database_dump"]
        .as_str()
        .unwrap()
        .to_string();
    // A dump beside the backup, named with `..`: a valid one, so only the path is wrong.
    let outside = backup.parent().unwrap().join("x.sql.gz");
    std::fs::rename(backup.join(&dump), &outside).unwrap();
    let bytes = std::fs::read(&outside).unwrap();
    edit_manifest(&backup, |m| {
        unlist(m, &dump);
        list(m, "../x.sql.gz", &bytes);
        m["database_dump"] = "../x.sql.gz".into();
    });
    refused(&s, &backup, "\"../x.sql.gz\" climbs out of the backup");
    assert_eq!(std::fs::read(&outside).unwrap(), bytes);

    // Back in place, and an absolute path listed with its true size and checksum.
    std::fs::rename(&outside, backup.join(&dump)).unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    edit_manifest(&backup, |m| {
        unlist(m, "../x.sql.gz");
        list(m, &dump, &bytes);
        m["database_dump"] = dump.clone().into();
        list(m, "/etc/passwd", &passwd);
    });
    refused(&s, &backup, "\"/etc/passwd\", which is an absolute path");
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd);
    let outside: Vec<_> = std::fs::read_dir(backup.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        outside.len(),
        1,
        "nothing written beside the backup: {outside:?}"
    );
}

#[test]
fn a_listed_fifo_or_link_is_refused_without_hanging() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    diverge(&s);
    // A FIFO where a file was, listed as an empty file: reading it would wait forever.
    let fifo = backup.join("files/users/u1/profile.txt");
    std::fs::remove_file(&fifo).unwrap();
    sh(&format!("mkfifo '{}'", fifo.display()));
    edit_manifest(&backup, |m| list(m, "files/users/u1/profile.txt", b""));
    refused(&s, &backup, "files/users/u1/profile.txt is a FIFO");

    // A link to /dev/zero listed as an empty file (it never ends).
    std::fs::remove_file(&fifo).unwrap();
    std::fs::write(&fifo, "hello").unwrap();
    edit_manifest(&backup, |m| list(m, "files/users/u1/profile.txt", b"hello"));
    std::os::unix::fs::symlink("/dev/zero", backup.join("files/zero")).unwrap();
    edit_manifest(&backup, |m| list(m, "files/zero", b""));
    refused(&s, &backup, "files/zero is a symbolic link");

    // A link to /etc/passwd listed with the checksum of what it leads to.
    std::fs::remove_file(backup.join("files/zero")).unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", backup.join("files/passwd")).unwrap();
    edit_manifest(&backup, |m| {
        unlist(m, "files/zero");
        list(m, "files/passwd", &passwd);
    });
    refused(&s, &backup, "files/passwd is a symbolic link");
}

#[test]
fn anything_the_manifest_does_not_list_is_refused() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    diverge(&s);
    std::fs::write(backup.join("files/teams/t1/extra.txt"), "unlisted").unwrap();
    refused(
        &s,
        &backup,
        "files/teams/t1/extra.txt is in the backup but not in the manifest",
    );
    std::fs::remove_file(backup.join("files/teams/t1/extra.txt")).unwrap();

    std::os::unix::fs::symlink("/etc", backup.join("files/etc")).unwrap();
    refused(
        &s,
        &backup,
        "files/etc is a symbolic link (to /etc) that the manifest does not list",
    );
    std::fs::remove_file(backup.join("files/etc")).unwrap();

    std::fs::create_dir(backup.join("unknown")).unwrap();
    refused(
        &s,
        &backup,
        "unknown/ is in the backup but not in the manifest",
    );
}

#[test]
fn a_missing_config_json_the_manifest_promises_is_refused_before_anything_changes() {
    let Some(s) = site() else { return };
    let backup = s.backup();
    diverge(&s);
    write_file(&s.config_json, "{\"live\":true}\n", 0o600);
    assert_eq!(manifest(&backup)["has_config_json"], true);
    std::fs::remove_file(backup.join("config.json")).unwrap();
    edit_manifest(&backup, |m| unlist(m, "config.json"));
    refused(
        &s,
        &backup,
        "the manifest says the backup has config.json, but does not list it",
    );
    assert_eq!(
        std::fs::read_to_string(&s.config_json).unwrap(),
        "{\"live\":true}\n"
    );
}

/// Links in the files directory are backed up as links, listed with their targets, and
/// restored; a listed link leading out of its directory is refused.
#[test]
fn links_in_the_files_directory_are_listed_and_restored() {
    let Some(s) = site() else { return };
    std::os::unix::fs::symlink("t1/a.png", s.files.join("teams/current.png")).unwrap();
    let backup = s.backup();
    let m = manifest(&backup);
    assert_eq!(
        m["links"],
        serde_json::json!([{"path": "files/teams/current.png", "target": "t1/a.png"}])
    );
    std::fs::remove_dir_all(&s.files).unwrap();
    let (code, out, err) = s.cmd(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        std::fs::read_link(s.files.join("teams/current.png")).unwrap(),
        Path::new("t1/a.png")
    );

    diverge(&s);
    std::fs::remove_file(backup.join("files/teams/current.png")).unwrap();
    std::os::unix::fs::symlink("../../../../etc", backup.join("files/teams/current.png")).unwrap();
    edit_manifest(&backup, |m| {
        m["links"][0]["target"] = "../../../../etc".into();
    });
    refused(
        &s,
        &backup,
        "files/teams/current.png is a link to ../../../../etc, outside",
    );
}

#[test]
fn an_omnibus_restore_from_a_fifo_is_refused_without_hanging() {
    let Some(s) = site() else { return };
    let before = everything(&s);
    let fifo = s.dir.path().join("dump.sql.gz");
    sh(&format!("mkfifo '{}'", fifo.display()));
    let (code, out, err) = run_within(
        60,
        &[
            "restore",
            s.config.to_str().unwrap(),
            "--omnibus-database",
            fifo.to_str().unwrap(),
            "--omnibus-files",
            fifo.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("is not a regular file"), "{err}");
    assert_eq!(everything(&s), before);
}
