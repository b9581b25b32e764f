//! Writing the rendered files: all or nothing, durable, leaving an earlier good output
//! intact when anything fails, and never replacing what render did not write.
//!
//! `--out DIR` is checked first ([`target`]): only a path that does not exist or an
//! unchanged previous rendering (its `manifest.json` tells) is accepted; everything else is
//! refused with exit 2 before anything is created. Then, holding a lock on DIR's parent
//! ([`staging::lock`]), stale staging directories of earlier killed runs are removed, the
//! files go into a new staging directory beside DIR, are fsynced, and the directory is
//! swapped into place with one `renameat2` (`RENAME_EXCHANGE` over a previous rendering,
//! `RENAME_NOREPLACE` otherwise); the parent is fsynced and the previous rendering removed.
//! Any error before the swap removes the staging directory.

pub mod rendering;
pub mod staging;
pub mod target;

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustix::fs::{renameat_with, RenameFlags, CWD};

pub use self::target::{FileWrite, Input};
use crate::diag::Diagnostics;
use crate::render::Files;

/// How long each step of making the output durable took, for the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteTimings {
    pub write: std::time::Duration,
    pub sync: std::time::Duration,
    /// Staging directories of earlier runs that were removed.
    pub stale_removed: usize,
}

/// Write `files` as the new content of `dir`, atomically. `inputs` (the config files and
/// the secret files it names) are never inside what is replaced. A refusal is a
/// [`Diagnostics`] inside the error (exit 2).
pub fn write_atomically(dir: &Path, files: &Files, inputs: &[Input]) -> Result<WriteTimings> {
    // What the path is, before anything is created (missing parents are, next); what an
    // existing directory holds is read once, under the lock, where it cannot change under
    // another render.
    let first = target::inspect_render_target(dir, inputs, target::Contents::Later)?;
    if !first.exists {
        fs::create_dir_all(&first.parent)
            .with_context(|| format!("cannot create {}", first.parent.display()))?;
    }
    let lock = staging::lock(&first.parent, dir)?;
    let target = target::inspect_render_target(dir, inputs, target::Contents::Check)?;
    in_locked_parent(&target, &first.parent)?;
    let mut timings = WriteTimings {
        stale_removed: staging::remove_stale(&target.parent, &target.name)?,
        ..WriteTimings::default()
    };
    let staged = stage(&target, files, &mut timings)?;
    swap(&target, staged)?;
    let started = std::time::Instant::now();
    lock.sync_dir()
        .with_context(|| format!("cannot sync {}", target.parent.display()))?;
    timings.sync += started.elapsed();
    Ok(timings)
}

/// Renders take turns by the lock on DIR's parent, so the parent found under the lock must be
/// the one locked: a symbolic link on the way to DIR that changed in between would have
/// another render's lock guard what this one writes.
fn in_locked_parent(target: &target::RenderTarget, locked: &Path) -> Result<()> {
    anyhow::ensure!(
        target.parent == locked,
        "{} now resolves into {} instead of {}, which render locked: the path changed while render looked at it; nothing was written: run again",
        target.given.display(),
        target.parent.display(),
        locked.display()
    );
    Ok(())
}

/// Write every file into a new staging directory beside the target and make it durable.
/// Dropping the returned directory (on any later error) removes it.
fn stage(
    target: &target::RenderTarget,
    files: &Files,
    timings: &mut WriteTimings,
) -> Result<tempfile::TempDir> {
    let staging = tempfile::Builder::new()
        .prefix(&staging::prefix(&target.name))
        .permissions(fs::Permissions::from_mode(0o755))
        .tempdir_in(&target.parent)
        .with_context(|| {
            format!(
                "cannot create a temporary directory in {}",
                target.parent.display()
            )
        })?;
    let marker = staging.path().join(rendering::STAGING_MARKER);
    File::create(&marker).with_context(|| format!("cannot write {}", marker.display()))?;
    let started = std::time::Instant::now();
    // Every directory of the staging tree, itself first: each is created once (not once per
    // file in it) and fsynced below, with nothing else in the tree to look for.
    let mut dirs = vec![staging.path().to_path_buf()];
    let mut written = Vec::new();
    for (rel, bytes) in files {
        let path = staging.path().join(rel);
        if let Some(p) = path.parent() {
            create_dirs_once(p, &mut dirs)?;
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
    fs::remove_file(&marker).with_context(|| format!("cannot remove {}", marker.display()))?;
    if target.exists {
        keep_owner_and_mode(&target.path, staging.path());
    }
    // Deepest first, the staging directory itself last.
    for dir in dirs.iter().rev() {
        sync_dir(dir)?;
    }
    timings.sync = started.elapsed();
    Ok(staging)
}

/// Create `dir` and its missing parents unless `made` lists it, adding what was created
/// (parents before children). `made` starts with the staging directory, so nothing above it
/// is ever created here.
fn create_dirs_once(dir: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    if made.iter().any(|m| m == dir) {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs_once(parent, made)?;
    }
    fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    made.push(dir.to_path_buf());
    Ok(())
}

/// The new rendering keeps the mode (and, when allowed, the owner) someone gave the old one.
fn keep_owner_and_mode(old: &Path, new: &Path) {
    let Ok(meta) = fs::metadata(old) else { return };
    let now = fs::metadata(new).ok();
    let mode = meta.mode() & 0o7777;
    if now.as_ref().map(|m| m.mode() & 0o7777) != Some(mode) {
        if let Err(e) = fs::set_permissions(new, fs::Permissions::from_mode(mode)) {
            tracing::warn!("cannot keep the mode of {}: {e}", old.display());
        }
    }
    let same_owner = now.is_some_and(|m| m.uid() == meta.uid() && m.gid() == meta.gid());
    if !same_owner {
        if let Err(e) = std::os::unix::fs::chown(new, Some(meta.uid()), Some(meta.gid())) {
            tracing::warn!("cannot keep the owner of {}: {e}", old.display());
        }
    }
}

/// Hand the staging directory over to the target name. On failure the staging directory
/// is dropped, which removes it; after an exchange the previous rendering sits at the
/// staging path and is removed, unless someone added files to it meanwhile.
fn swap(target: &target::RenderTarget, staged: tempfile::TempDir) -> Result<()> {
    let flags = if target.exists {
        RenameFlags::EXCHANGE
    } else {
        RenameFlags::NOREPLACE
    };
    renameat_with(CWD, staged.path(), CWD, &target.path, flags).with_context(|| {
        format!(
            "cannot move the new rendering into place at {}; nothing was changed",
            target.path.display()
        )
    })?;
    let old = staged.keep();
    if !target.exists {
        return Ok(());
    }
    let survey = rendering::survey(&old, rendering::Strictness::Unchanged)?;
    let problems = survey.problems();
    if let Some(why) = problems.first() {
        // Someone changed it between the check and the swap: keep it under a name the
        // stale-staging cleanup does not touch.
        let stamp = crate::lifecycle::utc_stamp(std::time::SystemTime::now());
        let mut kept = target.name.clone();
        kept.push(format!(".kept-{stamp}"));
        let kept = target.parent.join(kept);
        let shown = match renameat_with(CWD, &old, CWD, &kept, RenameFlags::NOREPLACE) {
            Ok(()) => kept,
            Err(_) => old,
        };
        tracing::warn!(
            "kept the previous rendering as {}: it changed while rendering ({})",
            shown.display(),
            why.message
        );
    } else if let Err(e) = rendering::remove_surveyed(&old, &survey) {
        // The new rendering is in place; the next render removes what is left.
        tracing::warn!(
            "cannot remove the previous rendering at {}: {e:#}",
            old.display()
        );
    }
    Ok(())
}

/// Check a file output (`import --out`, a secret file) with [`target::inspect_file_target`]
/// and write it when it is new: atomically, with `mode`.
pub fn write_new_file(
    flag: &str,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    inputs: &[Input],
) -> Result<FileWrite> {
    let what = target::inspect_file_target(flag, path, bytes, inputs, target::Parent::MustExist)?;
    if what == FileWrite::Create {
        write_file_atomically(path, bytes, mode)?;
    }
    Ok(what)
}

/// Create `path` holding `bytes` with `mode`, only when nothing is there at the moment of
/// the final step: a temporary file beside it, fsynced, then moved into place without
/// replacing anything (`renameat2` with `RENAME_NOREPLACE`). When another writer got there
/// first, the file it left is kept: `Unchanged` when it holds the same bytes, a refusal
/// under `flag` (a [`Diagnostics`] in the error, exit 2) otherwise. Check the path with
/// [`target::inspect_file_target`] before.
pub fn create_file_exclusively(
    flag: &str,
    path: &Path,
    bytes: &[u8],
    mode: u32,
) -> Result<FileWrite> {
    let (dir, tmp) = synced_temp_beside(path, bytes, mode)?;
    match renameat_with(CWD, tmp.path(), CWD, path, RenameFlags::NOREPLACE) {
        Ok(()) => {
            // The temporary name is gone: nothing is left to remove.
            let _ = tmp.into_temp_path().keep();
            sync_dir(&dir)?;
            Ok(FileWrite::Create)
        }
        Err(rustix::io::Errno::EXIST) => {
            let existing =
                fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if existing == bytes {
                Ok(FileWrite::Unchanged)
            } else {
                Err(Diagnostics::from(target::refusal(
                    flag,
                    path.display(),
                    "was created by another run meanwhile, with other content; it is never replaced",
                    "compare the two runs' inputs, move the file away, then run again",
                ))
                .into())
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Move refusals (exit 2) out of `result` into `all`, so every one is reported at once;
/// any other error is returned.
pub fn collect_refusals<T>(result: Result<T>, all: &mut Diagnostics) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) => match e.downcast::<Diagnostics>() {
            Ok(d) => {
                all.0.extend(d.0);
                Ok(None)
            }
            Err(e) => Err(e),
        },
    }
}

/// Replace one file atomically: a temporary file with `mode` in the same directory, fsynced,
/// renamed over the target, then the directory fsynced. A crash leaves the old or the new
/// content, never a torn file, and the file is never readable beyond `mode` (secrets: 0600).
pub fn write_file_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let (dir, tmp) = synced_temp_beside(path, bytes, mode)?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(&dir)
}

/// `bytes` in a temporary file with `mode` (from its first byte) in `path`'s directory,
/// fsynced: what both ways of putting a file in place start from.
fn synced_temp_beside(
    path: &Path,
    bytes: &[u8],
    mode: u32,
) -> Result<(PathBuf, tempfile::NamedTempFile)> {
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
    Ok((dir, tmp))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_whose_parent_changed_since_the_lock_is_not_written() {
        let target = |parent: &str| target::RenderTarget {
            given: PathBuf::from("/srv/link/rendered"),
            path: Path::new(parent).join("rendered"),
            parent: PathBuf::from(parent),
            name: "rendered".into(),
            exists: true,
        };
        assert!(in_locked_parent(&target("/a"), Path::new("/a")).is_ok());
        let err = in_locked_parent(&target("/b"), Path::new("/a")).expect_err("another parent");
        assert_eq!(
            err.to_string(),
            "/srv/link/rendered now resolves into /b instead of /a, which render locked: the path changed while render looked at it; nothing was written: run again"
        );
    }
}
