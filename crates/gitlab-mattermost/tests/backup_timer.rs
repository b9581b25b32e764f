//! Scheduled backups (`backup.schedule`): the rendered service, timer and tmpfiles.d line,
//! read back by the systemd tools that consume them, and the values refused before anything
//! is rendered.

mod common;

use std::process::Command;

use common::*;

const HOSTILE_DIR: &str = "/var/backups/my dir %h $HOME \"q\"";

fn render_with(out: &std::path::Path, extra: &[&str]) {
    let wrapper = format!("mattermost.wrapper={}", bin_path().display());
    let mut args = vec!["--set", wrapper.as_str()];
    args.extend_from_slice(extra);
    render(&example("full.toml"), out, &args);
}

#[test]
fn no_schedule_renders_no_backup_units() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    render_with(&out, &[]);
    let files = read_tree(&out);
    assert!(
        !files.keys().any(|k| k.contains("backup")),
        "{:?}",
        files.keys()
    );
}

#[test]
fn the_service_runs_backup_with_keep_and_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let dir = format!("backup.directory={HOSTILE_DIR:?}");
    render_with(
        &out,
        &[
            "--set",
            "backup.schedule=Mon..Fri 02:30",
            "--set",
            "backup.keep=3",
            "--set",
            &dir,
        ],
    );
    let service =
        std::fs::read_to_string(out.join("systemd/gitlab-mattermost-backup.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    assert_eq!(
        exec,
        format!(
            "{} backup --keep 3 --to \"/var/backups/my dir %%h $$HOME \\\"q\\\"\"",
            bin_path().display()
        )
    );
    for line in [
        "Type=oneshot",
        "ReadWritePaths=\"/var/backups/my dir %%h $HOME \\\"q\\\"\"",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "IOSchedulingClass=idle",
        "UMask=0077",
    ] {
        assert!(service.lines().any(|l| l == line), "{line} in\n{service}");
    }
    let timer =
        std::fs::read_to_string(out.join("systemd/gitlab-mattermost-backup.timer")).unwrap();
    for line in [
        "OnCalendar=Mon..Fri 02:30",
        "Persistent=true",
        "WantedBy=timers.target",
    ] {
        assert!(timer.lines().any(|l| l == line), "{line} in\n{timer}");
    }
    let tmpfiles =
        std::fs::read_to_string(out.join("tmpfiles.d/gitlab-mattermost-backup.conf")).unwrap();
    assert!(
        tmpfiles.ends_with("d \"/var/backups/my dir %%h $HOME \\\"q\\\"\" 0700 root root - -\n"),
        "{tmpfiles}"
    );
    // The manifest lists them like every other rendered file.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("systemd/gitlab-mattermost-backup.timer"));
}

#[test]
fn systemd_reads_the_units_and_the_schedule_back() {
    if !have("systemd-analyze") {
        return;
    }
    for schedule in [
        "daily",
        "*-*-* 03:30:00",
        "Sun 04:00 UTC",
        "Mon..Fri *-*-* 02:00",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let set = format!("backup.schedule={schedule:?}");
        render_with(&out, &["--set", &set]);
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .arg(out.join("systemd/gitlab-mattermost-backup.service"))
            .arg(out.join("systemd/gitlab-mattermost-backup.timer"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let ours: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("gitlab-mattermost-backup"))
            .collect();
        assert!(
            o.status.success() && ours.is_empty(),
            "verify failed for {schedule}:\n{stderr}"
        );
        let timer =
            std::fs::read_to_string(out.join("systemd/gitlab-mattermost-backup.timer")).unwrap();
        let on_calendar = timer
            .lines()
            .find_map(|l| l.strip_prefix("OnCalendar="))
            .expect("OnCalendar=");
        let o = Command::new("systemd-analyze")
            .args(["calendar", on_calendar])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{schedule}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn tmpfiles_creates_the_directory_root_only() {
    if !have("systemd-tmpfiles") || !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let dir = format!("backup.directory={HOSTILE_DIR:?}");
    render_with(&out, &["--set", "backup.schedule=daily", "--set", &dir]);
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let o = Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.display()))
        .arg("--create")
        .arg(out.join("tmpfiles.d/gitlab-mattermost-backup.conf"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(root.join(HOSTILE_DIR.trim_start_matches('/'))).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o700));
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // Files we create belong to our uid: 0 only as root.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::metadata(tmp.path())
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn bad_backup_values_are_refused() {
    for (set, needle) in [
        ("backup.schedule=\"\"", "backup.schedule"),
        (
            "backup.schedule=\"daily\\nExecStartPre=/bin/sh\"",
            "control characters",
        ),
        ("backup.schedule=\"daily %h\"", "calendar expression"),
        ("backup.schedule=\"daily;reboot\"", "calendar expression"),
        ("backup.keep=0", "backup.keep"),
        ("backup.keep=1001", "backup.keep"),
        ("backup.directory=\"backups\"", "absolute path"),
        ("backup.directory=\"/var/backups\"", "shares"),
        ("backup.directory=\"/var/lib\"", "shares"),
        (
            "backup.directory=\"/var/lib/mattermost/plugins/backups\"",
            "directories.plugins",
        ),
        (
            "backup.directory=\"/var/lib/mattermost/data/backups\"",
            "file_storage.directory",
        ),
    ] {
        let (code, _, stderr) = run([
            "check".as_ref(),
            example("full.toml").as_os_str(),
            "--set".as_ref(),
            "backup.schedule=daily".as_ref(),
            "--set".as_ref(),
            set.as_ref(),
        ]);
        assert_eq!(code, 2, "{set}: {stderr}");
        assert!(stderr.contains(needle), "{set}: {needle} not in {stderr}");
    }
}
