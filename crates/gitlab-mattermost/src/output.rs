//! Writing the rendered files: all or nothing, durable, and leaving an earlier good output
//! intact when anything fails.
//!
//! Files go into a temporary directory beside the target, are fsynced, and the directory is
//! swapped into place with one atomic `rename` (or `renameat2(RENAME_EXCHANGE)` when the
//! target already exists), then the parent directory is fsynced.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustix::fs::{renameat_with, RenameFlags, CWD};

use crate::render::Files;

/// How long each step of making the output durable took, for the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteTimings {
    pub write: std::time::Duration,
    pub sync: std::time::Duration,
}

/// Write `files` as the new content of `dir`, atomically.
pub fn write_atomically(dir: &Path, files: &Files) -> Result<WriteTimings> {
    let parent = parent_of(dir);
    fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(&parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                parent.display()
            )
        })?;
    let mut timings = WriteTimings::default();
    let started = std::time::Instant::now();
    let mut written = Vec::new();
    for (rel, bytes) in files {
        let path = staging.path().join(rel);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        let mut f =
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(f);
    }
    timings.write = started.elapsed();
    let started = std::time::Instant::now();
    for f in &written {
        f.sync_all().context("cannot sync a rendered file")?;
    }
    sync_tree(staging.path())?;
    timings.sync = started.elapsed();

    // Hand the staging directory over to the target name.
    let staging_path = staging.keep();
    let swapped = if dir.exists() {
        renameat_with(CWD, &staging_path, CWD, dir, RenameFlags::EXCHANGE)
            .with_context(|| format!("cannot swap the new output into {}", dir.display()))?;
        true
    } else {
        fs::rename(&staging_path, dir)
            .with_context(|| format!("cannot move the new output to {}", dir.display()))?;
        false
    };
    let started = std::time::Instant::now();
    sync_dir(&parent)?;
    timings.sync += started.elapsed();
    if swapped {
        // The old output now sits at the staging path.
        fs::remove_dir_all(&staging_path).with_context(|| {
            format!("cannot remove the old output at {}", staging_path.display())
        })?;
    }
    Ok(timings)
}

/// Replace one file atomically: a temporary file with `mode` in the same directory, fsynced,
/// renamed over the target, then the directory fsynced. A crash leaves the old or the new
/// content, never a torn file, and the file is never readable beyond `mode` (secrets: 0600).
pub fn write_file_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitlab-mattermost-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(&dir)
}

fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

fn sync_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(dir)
}

/// Compare rendered files with what is on disk; `None` when identical, else a unified diff.
pub fn diff_against(dir: &Path, files: &Files) -> Option<String> {
    let mut out = String::new();
    let mut on_disk = Vec::new();
    collect(dir, dir, &mut on_disk);
    for rel in &on_disk {
        if !files.contains_key(rel) {
            out.push_str(&format!("only in {}: {rel}\n", dir.display()));
        }
    }
    for (rel, bytes) in files {
        let old = fs::read(dir.join(rel)).unwrap_or_default();
        if &old != bytes {
            let old = String::from_utf8_lossy(&old);
            let new = String::from_utf8_lossy(bytes);
            let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
            out.push_str(
                &diff
                    .unified_diff()
                    .header(
                        &format!("{}/{rel} (on disk)", dir.display()),
                        &format!("{rel} (rendered)"),
                    )
                    .to_string(),
            );
        }
    }
    (!out.is_empty()).then_some(out)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}
