//! `backup` and `restore` against the real PostgreSQL: back up, drop, restore, same rows;
//! damaged or partial backups are refused before anything changes.

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
