//! Incremental copies of a directory tree with a SHA-256 of every file: the part of a move
//! that may run while the old server still serves, so the downtime only copies the delta.
//!
//! A file counts as unchanged when the copy has the same size and modification time as the
//! source (rsync's quick check) and the previous listing holds its checksum; everything else
//! is copied (to a temporary name, then renamed) and hashed on the way. Files gone from the
//! source are removed from the copy. Symbolic links, devices, FIFOs and sockets are refused:
//! Mattermost's directories hold none, and following one could copy from outside the tree.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use crate::tools::{hex, sha256_file};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One file of a listing, by path relative to the tree's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (kept on the copy).
    pub mtime_ns: i128,
    pub mode: u32,
    pub sha256: String,
}

pub type Listing = BTreeMap<String, FileEntry>;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pass {
    pub files: u64,
    pub bytes: u64,
    pub copied: u64,
    pub copied_bytes: u64,
    pub removed: u64,
}

impl Pass {
    pub fn add(&mut self, o: Pass) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.copied += o.copied;
        self.copied_bytes += o.copied_bytes;
        self.removed += o.removed;
    }
}

/// Ownership given to every copied file and directory (root copying for another account).
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Make `to` a copy of `from`, reusing `previous` checksums for unchanged files. Returns the
/// listing of `to` (which equals `from` when nothing changed meanwhile).
pub fn sync(
    from: &Path,
    to: &Path,
    previous: &Listing,
    owner: Option<Owner>,
) -> Result<(Listing, Pass)> {
    let source = scan(from)?;
    make_dir(to, dir_mode(from), owner)?;
    let mut listing = Listing::new();
    let mut pass = Pass::default();
    for (rel, meta) in &source {
        let src = from.join(rel);
        let dst = to.join(rel);
        if let Some(parent) = dst.parent() {
            make_parents(to, parent, owner)?;
        }
        pass.files += 1;
        pass.bytes += meta.size;
        let unchanged = previous.get(rel).filter(|p| {
            p.size == meta.size
                && p.mtime_ns == meta.mtime_ns
                && fs::symlink_metadata(&dst).is_ok_and(|d| {
                    d.is_file() && d.len() == meta.size && mtime_ns(&d) == meta.mtime_ns
                })
        });
        let entry = match unchanged {
            Some(p) => {
                if let Some(o) = owner {
                    chown(&dst, o)?;
                }
                p.clone()
            }
            None => {
                let sha256 = copy_file(&src, &dst, meta, owner)?;
                pass.copied += 1;
                pass.copied_bytes += meta.size;
                FileEntry {
                    sha256,
                    ..meta.clone()
                }
            }
        };
        listing.insert(rel.clone(), entry);
    }
    pass.removed = remove_extra(to, &source)?;
    Ok((listing, pass))
}

/// Every regular file under `root` with its size, time and mode (no checksum yet).
pub fn scan(root: &Path) -> Result<BTreeMap<String, FileEntry>> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return Ok(out);
    }
    scan_into(root, root, &mut out)?;
    Ok(out)
}

fn scan_into(root: &Path, dir: &Path, out: &mut BTreeMap<String, FileEntry>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        let path = e.path();
        let meta = fs::symlink_metadata(&path)?;
        let t = meta.file_type();
        if t.is_dir() {
            scan_into(root, &path, out)?;
        } else if t.is_file() {
            let rel = path
                .strip_prefix(root)
                .with_context(|| format!("{} is outside {}", path.display(), root.display()))?;
            let Some(rel) = rel.to_str() else {
                bail!(
                    "{}: the name is not UTF-8; rename it before the move",
                    path.display()
                );
            };
            out.insert(
                rel.to_string(),
                FileEntry {
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                    mode: meta.permissions().mode() & 0o7777,
                    sha256: String::new(),
                },
            );
        } else {
            bail!(
                "{} is not a regular file or directory (a symbolic link, device, FIFO or socket): Mattermost keeps none there; move it away first",
                path.display()
            );
        }
    }
    Ok(())
}

pub fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

fn dir_mode(dir: &Path) -> u32 {
    fs::metadata(dir).map_or(0o750, |m| m.permissions().mode() & 0o7777)
}

fn make_dir(dir: &Path, mode: u32, owner: Option<Owner>) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("{} exists and is not a directory", dir.display()),
        Err(_) => {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
        }
    }
    if let Some(o) = owner {
        chown(dir, o)?;
    }
    Ok(())
}

/// Create the directories between `root` and `dir`, owned like the copy.
fn make_parents(root: &Path, dir: &Path, owner: Option<Owner>) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent != root && parent.starts_with(root) {
            make_parents(root, parent, owner)?;
        }
    }
    make_dir(dir, 0o750, owner)
}

/// Copy through a temporary file in the same directory, hashing on the way; keep the mode
/// and modification time; rename over the target last.
fn copy_file(src: &Path, dst: &Path, meta: &FileEntry, owner: Option<Owner>) -> Result<String> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    let mut input = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitlab-mattermost-copy-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", src.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", dst.display()))?;
        copied += n as u64;
    }
    if copied != meta.size {
        bail!(
            "{} changed while it was copied ({} bytes, then {copied}); copy again",
            src.display(),
            meta.size
        );
    }
    tmp.as_file().sync_all()?;
    let f = tmp.as_file();
    if let Some(o) = owner {
        rustix::fs::fchown(
            f,
            Some(rustix::fs::Uid::from_raw(o.uid)),
            Some(rustix::fs::Gid::from_raw(o.gid)),
        )
        .with_context(|| format!("cannot give {} to uid {}", dst.display(), o.uid))?;
    }
    f.set_permissions(fs::Permissions::from_mode(meta.mode))?;
    let secs = (meta.mtime_ns.div_euclid(1_000_000_000)) as i64;
    let nanos = (meta.mtime_ns.rem_euclid(1_000_000_000)) as u32;
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(secs.max(0) as u64)
        + std::time::Duration::from_nanos(u64::from(nanos));
    f.set_modified(time)?;
    tmp.persist(dst)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", dst.display()))?;
    Ok(hex(&h.finalize()))
}

/// Give `path` (never what a symlink there points to) to the account.
pub fn chown(path: &Path, o: Owner) -> Result<()> {
    rustix::fs::chownat(
        rustix::fs::CWD,
        path,
        Some(rustix::fs::Uid::from_raw(o.uid)),
        Some(rustix::fs::Gid::from_raw(o.gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("cannot give {} to uid {}", path.display(), o.uid))
}

/// Remove files (and then empty directories) of the copy that the source no longer has.
fn remove_extra(to: &Path, source: &BTreeMap<String, FileEntry>) -> Result<u64> {
    let mut removed = 0;
    let present = scan(to)?;
    for rel in present.keys() {
        if !source.contains_key(rel) {
            fs::remove_file(to.join(rel))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Differences between a listing and what `root` holds now, checked by content.
pub fn verify(root: &Path, expected: &Listing, owner: Option<Owner>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let present = scan(root)?;
    for (rel, want) in expected {
        let path: PathBuf = root.join(rel);
        let Some(have) = present.get(rel) else {
            problems.push(format!("{}: missing", path.display()));
            continue;
        };
        if have.size != want.size {
            problems.push(format!(
                "{}: {} bytes, expected {}",
                path.display(),
                have.size,
                want.size
            ));
            continue;
        }
        match sha256_file(&path) {
            Ok(sum) if sum == want.sha256 => {}
            Ok(_) => problems.push(format!("{}: different content (SHA-256)", path.display())),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
        if let Some(o) = owner {
            if let Ok(m) = fs::symlink_metadata(&path) {
                if m.uid() != o.uid || m.gid() != o.gid {
                    problems.push(format!(
                        "{}: owned by {}:{}, expected {}:{}",
                        path.display(),
                        m.uid(),
                        m.gid(),
                        o.uid,
                        o.gid
                    ));
                }
            }
        }
    }
    for rel in present.keys() {
        if !expected.contains_key(rel) {
            problems.push(format!(
                "{}: not in the old server's files",
                root.join(rel).display()
            ));
        }
    }
    Ok(problems)
}
