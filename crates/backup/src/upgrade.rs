//! A Mattermost upgrade inside `apply`: when the release Mattermost runs changes (the config's
//! `mattermost.version`, its `install_dir`, or the server binary there), the old server is
//! stopped, everything it holds is backed up (database, files, config.json, plugins, secret
//! files) and only then does the new one start. A database the new release migrated cannot be
//! run by the old one again (lifecycle.rs: 11 rewrites passwords and permissions), so the way
//! back is `gitlab-mattermost rollback`, which restores that backup under the previous release.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::paths::Root;
use crate::lifecycle;
use crate::schema::MattermostVersion;
use crate::validate::Plan;

/// Where the backups taken before upgrades go, and the record of the last upgrade.
pub const UPGRADES_DIR: &str = "/var/lib/gitlab-mattermost/upgrades";
pub const LAST_UPGRADE: &str = "/var/lib/gitlab-mattermost/upgrades/last.json";

/// The release a config runs: `<version> <install_dir> <sha256 of bin/mattermost, 16 hex>
/// <release the binary reports, or ?>`.
pub fn release_key(plan: &Plan, root: &Root) -> String {
    let m = &plan.config.mattermost;
    let binary = root.path(&plan.config.mattermost.server_binary());
    let digest = file_digest(&binary).unwrap_or_else(|_| "absent".into());
    // Only on the host itself: under a scratch root the binary is not one to run.
    let reported = if root.scratch_dir().is_none() {
        reported_version(&binary).unwrap_or_else(|| "?".into())
    } else {
        "?".into()
    };
    format!("{} {} {digest} {reported}", m.version, m.install_dir)
}

/// `Version: 11.4.0` from `mattermost version` (no database needed since 10.x), within 10 s.
fn reported_version(binary: &Path) -> Option<String> {
    let mut child = std::process::Command::new(binary)
        .arg("version")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(64 << 10)
        .read_to_string(&mut out)
        .ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && !v.contains(' '))
}

fn file_digest(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(hex[..16].to_string())
}

/// `11.7 /opt/mattermost 0123… 11.4.0` → `Mattermost 11.4.0 (mattermost.version 11.7) in
/// /opt/mattermost`.
pub fn describe(key: &str) -> String {
    let mut parts = key.split(' ');
    let version = parts.next().unwrap_or_default();
    let dir = parts.next().unwrap_or_default();
    let _binary = parts.next();
    match parts.next().filter(|r| *r != "?") {
        Some(reported) => format!("Mattermost {reported} (mattermost.version {version}) in {dir}"),
        None => format!("Mattermost {version} in {dir}"),
    }
}

/// The release the binary reported, when it did.
fn reported_of(key: &str) -> Option<(u32, u32, u32)> {
    key.split(' ')
        .nth(3)
        .filter(|r| *r != "?")
        .and_then(lifecycle::parse_release)
}

fn version_of(key: &str) -> Option<MattermostVersion> {
    let v = key.split(' ').next()?;
    serde_json::from_value(serde_json::Value::String(v.into())).ok()
}

/// What `last.json` holds about the last upgrade (or rollback).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LastUpgrade {
    pub from: String,
    pub to: String,
    /// The backup taken before the new release started.
    pub backup: Option<String>,
    pub backup_seconds: Option<f64>,
    /// From stopping the old server to the new one reporting ready.
    pub downtime_seconds: Option<f64>,
    /// `upgrade` or `rollback`.
    pub kind: String,
}

impl LastUpgrade {
    pub fn load(root: &Root) -> Option<LastUpgrade> {
        let bytes = std::fs::read(root.path(LAST_UPGRADE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn save(&self, root: &Root) -> Result<()> {
        self.save_to(&root.path(LAST_UPGRADE))
    }

    pub fn save_to(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        crate::output::write_file_atomically(path, text.as_bytes(), 0o600)
    }
}

/// What the executor needs for an upgrade, and what it measured.
pub struct Upgrade<'a> {
    /// The validated config (what to back up).
    pub config: Option<&'a Plan>,
    pub release: String,
    /// Set by `rollback`: the database is the pre-upgrade one again, so an older release may
    /// start on it, and no new backup is taken.
    pub after_rollback: bool,
    pub stopped_at: Option<Instant>,
    pub last: Option<LastUpgrade>,
}

impl Upgrade<'_> {
    pub fn none() -> Upgrade<'static> {
        Upgrade {
            config: None,
            release: String::new(),
            after_rollback: false,
            stopped_at: None,
            last: None,
        }
    }
}

/// Refusals before anything is stopped: a move to an older line (one-way migrations), a
/// PostgreSQL older than the new line needs.
pub fn preflight(
    from: &str,
    to: &str,
    after_rollback: bool,
    postgres_major: Option<u32>,
) -> Result<()> {
    let (Some(old), Some(new)) = (version_of(from), version_of(to)) else {
        return Ok(());
    };
    if new < old && !after_rollback {
        bail!(
            "{} cannot run a database {} has migrated ({}): go back with `gitlab-mattermost rollback CONFIG --from BACKUP`, \
             which restores the backup taken before the upgrade (listed in {LAST_UPGRADE})",
            lifecycle::line(new).name,
            lifecycle::line(old).name,
            lifecycle::line(old).downgrade
        );
    }
    if let (Some(a), Some(b)) = (reported_of(from), reported_of(to)) {
        if let Some(bad) = lifecycle::bad_upgrade(a, b) {
            bail!(
                "{}.{}.{} to {}.{}.{} is a known-bad upgrade: {}; install {} instead",
                a.0,
                a.1,
                a.2,
                b.0,
                b.1,
                b.2,
                bad.why,
                bad.instead
            );
        }
    }
    let line = lifecycle::line(new);
    if let Some(major) = postgres_major {
        if major < line.minimum_postgresql {
            bail!(
                "{} needs PostgreSQL {} or later; this server runs {major}: upgrade PostgreSQL first (pg_upgradecluster), then apply again",
                line.name,
                line.minimum_postgresql
            );
        }
    }
    Ok(())
}

/// Refuse an upgrade whose backup would not fit: the files, the plugins and the database (its
/// size on disk; the gzipped dump is smaller) must fit where the backup goes, with room to spare.
pub fn check_space(plan: &Plan, root: &Root, database_bytes: u64) -> Result<()> {
    let d = &plan.config.directories;
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from(&d.plugins), PathBuf::from(&d.client_plugins)];
    if let Some(f) = &plan.config.file_storage.directory {
        dirs.push(PathBuf::from(f));
    }
    let files: u64 = dirs
        .iter()
        .map(|p| tree_bytes(&root.path(&p.to_string_lossy())))
        .sum();
    let needed = files + database_bytes + (64 << 20);
    let mut target = root.path(UPGRADES_DIR);
    while !target.exists() {
        match target.parent() {
            Some(p) => target = p.to_path_buf(),
            None => break,
        }
    }
    let stat = rustix::fs::statvfs(&target)
        .with_context(|| format!("cannot read the free space of {}", target.display()))?;
    let available = stat.f_bavail.saturating_mul(stat.f_frsize);
    if available < needed {
        bail!(
            "the backup before the upgrade needs about {} MiB in {UPGRADES_DIR} (files and plugins {} MiB, database {} MiB, \
             64 MiB to spare), but {} has {} MiB free: free some space first",
            needed >> 20,
            files >> 20,
            database_bytes >> 20,
            target.display(),
            available >> 20
        );
    }
    Ok(())
}

fn tree_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| tree_bytes(&e.path())).sum())
            .unwrap_or(0)
    } else if meta.is_file() {
        meta.len()
    } else {
        0
    }
}

/// The major version from `SHOW server_version_num` (`150014` → 15).
pub fn postgres_major(server_version_num: &str) -> Option<u32> {
    server_version_num
        .trim()
        .parse::<u32>()
        .ok()
        .map(|n| n / 10_000)
}

/// The release a key names, as a backup's manifest records it.
pub fn release_of(key: &str) -> crate::backup::Release {
    let mut parts = key.split(' ');
    crate::backup::Release {
        version: parts.next().unwrap_or_default().to_string(),
        install_dir: parts.next().unwrap_or_default().to_string(),
    }
}

/// Backs up everything the old release holds (the server is stopped) into `dir`; the manifest
/// names the release that ran (`from`), which `rollback` goes back to.
pub fn back_up(plan: &Plan, dir: &Path, from: &str, to: &str) -> Result<(PathBuf, Duration)> {
    let started = Instant::now();
    let label = format!(
        "before-mattermost-{}",
        to.split(' ').next().unwrap_or("upgrade")
    );
    let backup = crate::backup::backup_into(plan, dir, &label, Some(release_of(from)))?;
    Ok((backup, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_line_is_refused_unless_rolled_back() {
        let ten = "10.11 /opt/mattermost-10 aaaa";
        let eleven = "11.7 /opt/mattermost-11 bbbb";
        assert!(preflight(ten, eleven, false, Some(15)).is_ok());
        let err = preflight(eleven, ten, false, Some(15))
            .unwrap_err()
            .to_string();
        assert!(err.contains("gitlab-mattermost rollback"), "{err}");
        assert!(err.contains("PBKDF2"), "{err}");
        assert!(preflight(eleven, ten, true, Some(15)).is_ok());
    }

    #[test]
    fn a_known_bad_pair_is_refused_when_both_binaries_say_their_release() {
        let err = preflight("10.11 /a x 10.11.20", "11.7 /b y 11.7.2", false, Some(16))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("known-bad upgrade") && err.contains("11.7.3 or later"),
            "{err}"
        );
        assert!(preflight("10.11 /a x 10.11.20", "11.7 /b y 11.7.3", false, Some(16)).is_ok());
        assert!(preflight("10.11 /a x ?", "11.7 /b y 11.7.2", false, Some(16)).is_ok());
        assert_eq!(
            describe("11.7 /opt/mm abcd 11.4.0"),
            "Mattermost 11.4.0 (mattermost.version 11.7) in /opt/mm"
        );
        assert_eq!(
            describe("11.7 /opt/mm abcd ?"),
            "Mattermost 11.7 in /opt/mm"
        );
    }

    #[test]
    fn postgresql_older_than_the_line_needs_is_refused() {
        let err = preflight("10.11 /a x", "11.7 /b y", false, Some(13))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PostgreSQL 14 or later; this server runs 13"),
            "{err}"
        );
        assert_eq!(postgres_major("150014\n"), Some(15));
        assert_eq!(postgres_major("x"), None);
    }

    #[test]
    fn a_backup_that_would_not_fit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("site.toml");
        std::fs::write(&cfg, "external_url = \"http://chat.example.com\"\n").unwrap();
        let plan = crate::load(std::slice::from_ref(&cfg), &[]).expect("valid");
        let root = Root::scratch(dir.path().to_path_buf());
        let err = check_space(&plan, &root, u64::MAX / 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("free some space first"), "{err}");
        assert!(check_space(&plan, &root, 0).is_ok());
    }
}
