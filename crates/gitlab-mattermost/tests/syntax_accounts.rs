//! Generated account names, ids and directories in sysusers.d and tmpfiles.d, applied by
//! `systemd-sysusers` and `systemd-tmpfiles` to a scratch root: every value is either
//! refused (naming its key) or lands exactly as written in `/etc/passwd`, `/etc/group` and
//! the file system.

mod common;
mod readback;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use gitlab_mattermost::syntax::{names, paths};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use readback::{any_path, any_string, clean_path, compile, file, keys};
use serde_json::json;

#[derive(Debug, Clone)]
struct Input {
    user: String,
    group: String,
    uid: Option<u32>,
    gid: Option<u32>,
    data: String,
    logs: String,
    install: String,
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z_][a-z0-9_-]{0,30}",
        1 => "[A-Za-z_][A-Za-z0-9_-]{28,34}",
        2 => any_string(12),
        1 => prop::sample::select(&["root", "nobody", "nogroup", "mattermost"][..]).prop_map(str::to_string),
    ]
}

fn id() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        3 => Just(None),
        4 => (1000u32..60000).prop_map(Some),
        1 => prop::sample::select(&[0u32, 65534, 65535, u32::MAX, 1, 4_000_000_000][..]).prop_map(Some),
        1 => any::<u32>().prop_map(Some),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    (
        name(),
        name(),
        id(),
        id(),
        prop_oneof![4 => clean_path(":"), 1 => any_path()],
        clean_path(""),
        clean_path(""),
    )
        .prop_map(|(user, group, uid, gid, data, logs, install)| Input {
            user,
            group,
            uid,
            gid,
            data,
            logs,
            install,
        })
}

/// Why this input may be refused, per key.
fn allowed_refusals(i: &Input) -> Vec<&'static str> {
    let mut allowed = Vec::new();
    if names::system_name_problem(&i.user).is_some() {
        allowed.push("account.user");
    }
    if names::system_name_problem(&i.group).is_some() {
        allowed.push("account.group");
    }
    if i.uid.and_then(names::system_id_problem).is_some() {
        allowed.push("account.uid");
    }
    if i.gid.and_then(names::system_id_problem).is_some() {
        allowed.push("account.gid");
    }
    if paths::service_directory_problem(&i.data).is_some() || i.data.contains(':') {
        allowed.push("directories.data");
    }
    allowed
}

fn run_tool(tool: &str, args: &[&str], conf: &Path) -> Result<(), TestCaseError> {
    let o = Command::new(tool)
        .args(args)
        .arg(conf)
        .output()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Creating users and groups is reported; anything else is a complaint.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("Creating "))
        .collect();
    if o.status.success() && complaints.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{tool} failed: {stderr}\n{}",
            std::fs::read_to_string(conf).unwrap_or_default()
        )))
    }
}

/// The fields of `name`'s line in a passwd or group file.
fn entry(file: &Path, name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.first().is_some_and(|n| n == name))
}

fn check(i: Input, scratch: &Path) -> Result<bool, TestCaseError> {
    let config = json!({
        "external_url": "http://chat.example.com",
        "account": { "user": i.user, "group": i.group, "uid": i.uid, "gid": i.gid },
        "directories": { "data": i.data, "logs": i.logs },
        "mattermost": { "install_dir": i.install },
        "database": { "kind": "external", "host": "db.example.com", "password_file": "/run/secrets/db" },
    });
    let files = match compile(&config, "/etc/gitlab-mattermost") {
        Ok((_, files)) => files,
        Err(d) => {
            let allowed = allowed_refusals(&i);
            let named = keys(&d);
            prop_assert!(!allowed.is_empty(), "refused a valid config: {d}");
            prop_assert!(
                named.iter().all(|k| allowed.contains(&k.as_str())),
                "refused {named:?}, expected only {allowed:?}: {d}"
            );
            return Ok(false);
        }
    };
    prop_assert!(allowed_refusals(&i).is_empty(), "accepted {i:?}");
    let case = tempfile::tempdir_in(scratch).expect("tempdir");
    let root = case.path().join("root");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    let sysusers = common::write(
        case.path(),
        "sysusers.conf",
        &file(&files, "sysusers.d/mattermost.conf"),
    );
    let tmpfiles = common::write(
        case.path(),
        "tmpfiles.conf",
        &file(&files, "tmpfiles.d/mattermost.conf"),
    );
    let root_arg = format!("--root={}", root.display());
    run_tool("systemd-sysusers", &[&root_arg], &sysusers)?;
    run_tool("systemd-tmpfiles", &[&root_arg, "--create"], &tmpfiles)?;

    let group = entry(&root.join("etc/group"), &i.group)
        .ok_or_else(|| TestCaseError::fail(format!("no group {:?}", i.group)))?;
    let gid: u32 = group[2].parse().map_err(|_| TestCaseError::fail("gid"))?;
    if let Some(want) = i.gid {
        prop_assert_eq!(gid, want);
    }
    let user = entry(&root.join("etc/passwd"), &i.user)
        .ok_or_else(|| TestCaseError::fail(format!("no user {:?}", i.user)))?;
    let uid: u32 = user[2].parse().map_err(|_| TestCaseError::fail("uid"))?;
    if let Some(want) = i.uid {
        prop_assert_eq!(uid, want);
    }
    prop_assert_eq!(&user[3], &gid.to_string());
    // systemd-sysusers writes the home directory simplified (no trailing or doubled `/`):
    // compared component by component.
    prop_assert_eq!(Path::new(&user[5]), Path::new(&i.data));
    prop_assert_eq!(&user[6], "/usr/sbin/nologin");

    let inside = |p: &str| root.join(p.trim_start_matches('/'));
    for dir in [&i.data, &i.logs, &paths::join(&i.data, "data")] {
        let meta = std::fs::metadata(inside(dir))
            .map_err(|e| TestCaseError::fail(format!("{dir:?}: {e}")))?;
        prop_assert!(meta.is_dir(), "{dir:?}");
        prop_assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (uid, gid, 0o750),
            "{:?}",
            dir
        );
    }
    for link in ["client", "i18n", "templates", "fonts"] {
        let target = std::fs::read_link(inside(&paths::join(&i.data, link)))
            .map_err(|e| TestCaseError::fail(format!("{link}: {e}")))?;
        prop_assert_eq!(
            target,
            Path::new(&paths::join(&i.install, link)).to_path_buf()
        );
    }
    Ok(true)
}

#[test]
fn generated_accounts_and_directories_land_exactly_or_are_refused() {
    if !common::have("systemd-sysusers") || !common::have("systemd-tmpfiles") {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    readback::run(160, 20, input(), |i| check(i, scratch.path()));
}
