//! Recognising a previous rendering by its `manifest.json`, and removing one.
//!
//! A directory is a previous rendering when it holds a `manifest.json` render wrote and
//! nothing else but the files listed in it (and the directories they are in). Render
//! only ever replaces such a directory; the files someone added, or edited since, are
//! named in the refusal.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use rustix::fs::{openat, statat, AtFlags, Dir, FileType, Mode, OFlags, CWD};

use crate::render::manifest::sha256_hex;

pub const MANIFEST: &str = "manifest.json";
/// [`MANIFEST`], to open relative to a directory descriptor.
const MANIFEST_NAME: &CStr = c"manifest.json";

/// Written first into a staging directory and removed just before the swap, so a staging
/// directory left by a killed run is recognisable as one before its manifest exists.
pub const STAGING_MARKER: &str = ".gitlab-mattermost-staging";

/// How closely a directory must match its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Every listed file still has the hash in the manifest (a previous rendering nobody
    /// edited).
    Unchanged,
    /// Only the names count (a staging directory a killed run was still writing).
    NamesOnly,
}

/// What `manifest.json` says, if it is one render writes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Manifest {
    Missing,
    Invalid(String),
    /// File → SHA-256.
    Valid(BTreeMap<String, String>),
}

/// What is in a directory, compared with its manifest.
#[derive(Debug, Clone)]
pub struct Survey {
    manifest: Manifest,
    /// Entries render did not write (directories end in `/`).
    foreign: Vec<String>,
    /// Listed files whose content changed.
    changed: Vec<String>,
    /// A few entries, for a directory without a manifest.
    sample: Vec<String>,
    empty: bool,
}

/// Why a directory is not a replaceable rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Why {
    pub message: String,
    pub hint: String,
}

/// Look at `dir` (an existing directory).
pub fn survey(dir: &Path, strictness: Strictness) -> Result<Survey> {
    let root = openat(
        CWD,
        dir,
        DIRECTORY_FLAGS.difference(OFlags::NOFOLLOW),
        Mode::empty(),
    )
    .with_context(|| format!("cannot read {}", dir.display()))?;
    let manifest = read_manifest(dir, root.as_fd())?;
    let mut s = Survey {
        manifest: Manifest::Missing,
        foreign: Vec::new(),
        changed: Vec::new(),
        sample: Vec::new(),
        empty: false,
    };
    match &manifest {
        Manifest::Valid(files) => {
            // Room for any file render writes: one read, and the one that sees the end.
            let mut buf = Vec::with_capacity(64 << 10);
            walk(dir, root, "", files, strictness, &mut s, &mut buf)?;
        }
        Manifest::Missing | Manifest::Invalid(_) => {
            // Only a glimpse: the directory may be huge (`--out /usr`).
            let mut names: Vec<String> = fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .take(6)
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            s.empty = names.is_empty();
            s.sample = names;
        }
    }
    s.manifest = manifest;
    Ok(s)
}

impl Survey {
    /// Every reason the directory may not be replaced; empty when it may.
    pub fn problems(&self) -> Vec<Why> {
        let mut out = Vec::new();
        let new_path = "render replaces DIR as a whole: give a path that does not exist yet (render creates it), e.g. --out DIR/rendered".to_string();
        match &self.manifest {
            Manifest::Missing if self.empty => out.push(Why {
                message: "is an empty directory, not a previous rendering (render creates DIR itself and replaces it as a whole)".into(),
                hint: "remove it (rmdir) and render again, or give a new path".into(),
            }),
            Manifest::Missing => out.push(Why {
                message: format!(
                    "exists and is not a previous rendering (it has no {MANIFEST}); it holds {}",
                    glimpse(&self.sample)
                ),
                hint: new_path,
            }),
            Manifest::Invalid(why) => out.push(Why {
                message: format!("has a {MANIFEST} that render did not write ({why}), so it is not a previous rendering"),
                hint: new_path,
            }),
            Manifest::Valid(_) => {
                if !self.foreign.is_empty() {
                    out.push(Why {
                        message: format!(
                            "is a previous rendering, but also holds what render did not write: {}; render replaces DIR as a whole and would delete {}",
                            list(&self.foreign, 10),
                            if self.foreign.len() == 1 { "it" } else { "them" }
                        ),
                        hint: "move them out of DIR (keep local additions beside it, not inside), then render again".into(),
                    });
                }
                if !self.changed.is_empty() {
                    out.push(Why {
                        message: format!(
                            "is a previous rendering, but {} changed since it was rendered (the SHA-256 differs from {MANIFEST}); render would overwrite the change",
                            list(&self.changed, 10)
                        ),
                        hint: "put the change into the config instead (`render --check` shows it); to drop it, delete the changed file; then render again".into(),
                    });
                }
            }
        }
        out
    }

    /// Whether a staging directory holds nothing but what render writes there.
    fn only_rendered_names(&self) -> bool {
        matches!(self.manifest, Manifest::Valid(_)) && self.foreign.is_empty()
    }
}

/// The first entries of a directory that was only glimpsed at: `a, b, c, d, e, …`.
fn glimpse(sample: &[String]) -> String {
    let mut shown: Vec<&str> = sample.iter().take(5).map(String::as_str).collect();
    if sample.len() > 5 {
        shown.push("…");
    }
    shown.join(", ")
}

/// `a, b, c and 4 more`.
fn list(names: &[String], max: usize) -> String {
    let shown: Vec<&str> = names.iter().take(max).map(String::as_str).collect();
    match names.len().saturating_sub(max) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Read `manifest.json` in `dir` (open as `root`): no further than a file render writes
/// could be, and never through a symbolic link or from anything but a regular file.
fn read_manifest(dir: &Path, root: BorrowedFd<'_>) -> Result<Manifest> {
    let cannot_read = || format!("cannot read {}", dir.join(MANIFEST).display());
    let meta = match statat(root, MANIFEST_NAME, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(m) => m,
        Err(rustix::io::Errno::NOENT) => return Ok(Manifest::Missing),
        Err(e) => return Err(io::Error::from(e)).with_context(cannot_read),
    };
    if FileType::from_raw_mode(meta.st_mode) != FileType::RegularFile {
        return Ok(Manifest::Invalid(format!(
            "{MANIFEST} is not a regular file"
        )));
    }
    let size = usize::try_from(meta.st_size).unwrap_or(0).min(64 << 10);
    let mut bytes = Vec::with_capacity(size + 1);
    if !read_listed(root, MANIFEST_NAME, &mut bytes).with_context(cannot_read)? {
        return Ok(Manifest::Invalid(format!(
            "{MANIFEST} is larger than any render writes"
        )));
    }
    Ok(parse_manifest(&bytes))
}

fn parse_manifest(bytes: &[u8]) -> Manifest {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Manifest::Invalid("it is not JSON".into());
    };
    let from_us = v
        .get("generator")
        .and_then(|g| g.as_str())
        .is_some_and(|g| g.starts_with("gitlab-mattermost "));
    if !from_us {
        return Manifest::Invalid("its generator is not gitlab-mattermost".into());
    }
    let Some(listed) = v.get("files").and_then(|f| f.as_object()) else {
        return Manifest::Invalid("it lists no files".into());
    };
    let mut files = BTreeMap::new();
    for (name, hash) in listed {
        let plain = Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        match hash.as_str() {
            Some(h) if plain && !name.is_empty() && name != MANIFEST => {
                files.insert(name.clone(), h.to_string());
            }
            _ => return Manifest::Invalid(format!("it lists {name:?} in a way render never does")),
        }
    }
    Manifest::Valid(files)
}

/// Whether `rel` (a directory) holds any of the listed files.
fn holds_listed(rel: &str, files: &BTreeMap<String, String>) -> bool {
    let prefix = format!("{rel}/");
    files.keys().any(|f| f.starts_with(&prefix))
}

/// Compare the directory `fd` (`rel` below the surveyed `root`) with the manifest's `files`,
/// through directory descriptors: each entry is opened relative to its directory, without
/// following a symbolic link swapped in since the directory was read. `buf` is reused for
/// every file read.
fn walk(
    root: &Path,
    fd: OwnedFd,
    rel: &str,
    files: &BTreeMap<String, String>,
    strictness: Strictness,
    s: &mut Survey,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let shown = |name: Option<&str>| {
        let dir = root.join(rel);
        match name {
            Some(n) => dir.join(n).display().to_string(),
            None => dir.display().to_string(),
        }
    };
    let mut dir = Dir::new(fd).with_context(|| format!("cannot read {}", shown(None)))?;
    let mut entries =
        entries_of(&mut dir).with_context(|| format!("cannot read {}", shown(None)))?;
    let fd = dir.fd()?;
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (raw, kind) in entries {
        let name = raw.to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let kind = match kind {
            FileType::Unknown => statat(fd, raw.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))
                .with_context(|| format!("cannot inspect {}", shown(Some(&name))))?,
            known => known,
        };
        let bookkeeping =
            path == MANIFEST || (path == STAGING_MARKER && strictness == Strictness::NamesOnly);
        if kind == FileType::Directory {
            if holds_listed(&path, files) {
                let child = openat(fd, raw.as_c_str(), DIRECTORY_FLAGS, Mode::empty())
                    .with_context(|| format!("cannot read {}", shown(Some(&name))))?;
                walk(root, child, &path, files, strictness, s, buf)?;
            } else {
                s.foreign.push(format!("{path}/"));
            }
        } else if kind == FileType::RegularFile && bookkeeping {
            continue;
        } else if kind == FileType::RegularFile && files.contains_key(&path) {
            if strictness == Strictness::Unchanged {
                let whole = read_listed(fd, raw.as_c_str(), buf)
                    .with_context(|| format!("cannot read {}", shown(Some(&name))))?;
                let same =
                    whole && files.get(&path).map(String::as_str) == Some(sha256_hex(buf).as_str());
                if !same {
                    s.changed.push(path);
                }
            }
        } else {
            s.foreign.push(path);
        }
    }
    Ok(())
}

/// How survey opens a directory: not following a symbolic link swapped in for it.
const DIRECTORY_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// The entries of a directory (without `.` and `..`), with their type as the directory
/// reports it (`Unknown` on file systems that do not).
fn entries_of(dir: &mut Dir) -> io::Result<Vec<(CString, FileType)>> {
    let mut entries = Vec::new();
    while let Some(e) = dir.read() {
        let e = e?;
        let name = e.file_name();
        if name != c"." && name != c".." {
            entries.push((name.to_owned(), e.file_type()));
        }
    }
    Ok(entries)
}

/// Larger than any file render writes: a listed file grown past it has changed.
const LISTED_FILE_LIMIT: u64 = 16 << 20;

/// Read the listed file `name` in `dir` (a regular file when the directory was read) into
/// `buf`; `false` when it grew past [`LISTED_FILE_LIMIT`]. Opened without following a
/// symbolic link and without waiting should it have been swapped for a FIFO since.
fn read_listed(dir: BorrowedFd<'_>, name: &CStr, buf: &mut Vec<u8>) -> io::Result<bool> {
    use std::io::Read;
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file = fs::File::from(openat(dir, name, flags, Mode::empty())?);
    buf.clear();
    file.take(LISTED_FILE_LIMIT + 1).read_to_end(buf)?;
    Ok(buf.len() as u64 <= LISTED_FILE_LIMIT)
}

/// Whether a left-over staging directory is one render made: it has the staging marker,
/// or holds only names its manifest lists, or only empty directories (the end of a
/// removal). Anything else is kept.
pub fn is_ours_to_remove(dir: &Path) -> Result<bool> {
    if fs::symlink_metadata(dir.join(STAGING_MARKER)).is_ok_and(|m| m.is_file()) {
        return Ok(true);
    }
    if survey(dir, Strictness::NamesOnly)?.only_rendered_names() {
        return Ok(true);
    }
    only_directories(dir)
}

fn only_directories(dir: &Path) -> Result<bool> {
    for e in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        if !e.file_type()?.is_dir() || !only_directories(&e.path())? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Remove a rendering (or staging directory) so that a kill at any point leaves it
/// recognisable as ours: the listed files first, then `manifest.json`, then the staging
/// marker, then the directories.
pub fn remove(dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    collect(dir, &mut files, &mut dirs)?;
    remove_in_order(dir, &files, dirs, Missing::Error)
}

/// Remove a rendering that [`survey`] has just found unchanged, in the order [`remove`]
/// uses, by what the survey saw instead of reading every directory again: the listed files,
/// then `manifest.json`, then their directories, deepest first. Whatever appeared since the
/// survey stays, and the removal of its directory fails. A survey with any problem removes
/// nothing.
pub fn remove_surveyed(dir: &Path, survey: &Survey) -> Result<()> {
    let (Manifest::Valid(listed), true) = (&survey.manifest, survey.problems().is_empty()) else {
        anyhow::bail!(
            "{} is not an unchanged rendering, so it is kept",
            dir.display()
        );
    };
    let mut files: Vec<PathBuf> = listed.keys().map(|rel| dir.join(rel)).collect();
    files.push(dir.join(MANIFEST));
    let dirs = listed
        .keys()
        .flat_map(|f| Path::new(f).ancestors().skip(1))
        .filter(|d| !d.as_os_str().is_empty())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|d| dir.join(d))
        .collect();
    // A listed file someone deleted is already gone.
    remove_in_order(dir, &files, dirs, Missing::Gone)
}

/// Whether a file that is no longer there when it is removed is an error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Error,
    Gone,
}

/// Remove `files` (`manifest.json` and the staging marker last among them), then `dirs`,
/// deepest first, then `dir`: a kill at any step leaves a directory recognisable as ours.
fn remove_in_order(
    dir: &Path,
    files: &[PathBuf],
    mut dirs: Vec<PathBuf>,
    missing: Missing,
) -> Result<()> {
    let remove_file = |f: &Path| match fs::remove_file(f) {
        Err(e) if missing == Missing::Gone && e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other.with_context(|| format!("cannot remove {}", f.display())),
    };
    let last = [dir.join(MANIFEST), dir.join(STAGING_MARKER)];
    for f in files.iter().filter(|f| !last.contains(f)) {
        remove_file(f)?;
    }
    for f in last.iter().filter(|f| files.contains(f)) {
        remove_file(f)?;
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs.iter().chain(std::iter::once(&dir.to_path_buf())) {
        fs::remove_dir(d).with_context(|| format!("cannot remove {}", d.display()))?;
    }
    Ok(())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            dirs.push(e.path());
            collect(&e.path(), files, dirs)?;
        } else {
            files.push(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_for(files: &[(&str, &str)]) -> String {
        let listed: serde_json::Map<String, serde_json::Value> = files
            .iter()
            .map(|(n, c)| ((*n).to_string(), sha256_hex(c.as_bytes()).into()))
            .collect();
        serde_json::json!({"generator": "gitlab-mattermost 0.1.0", "files": listed, "secrets": []})
            .to_string()
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (n, c) in files {
            let p = dir.path().join(n);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, c).expect("write");
        }
        dir
    }

    #[test]
    fn the_manifest_name_is_the_same_in_both_spellings() {
        assert_eq!(MANIFEST_NAME.to_str(), Ok(MANIFEST));
    }

    #[test]
    fn manifests_render_never_writes_are_invalid() {
        for (text, want) in [
            ("not json", "it is not JSON"),
            (
                r#"{"generator": "other 1", "files": {}}"#,
                "its generator is not gitlab-mattermost",
            ),
            (
                r#"{"generator": "gitlab-mattermost 1"}"#,
                "it lists no files",
            ),
            (
                r#"{"generator": "gitlab-mattermost 1", "files": {"../x": "h"}}"#,
                "in a way render never does",
            ),
            (
                r#"{"generator": "gitlab-mattermost 1", "files": {"/etc/x": "h"}}"#,
                "in a way render never does",
            ),
            (
                r#"{"generator": "gitlab-mattermost 1", "files": {"a": 1}}"#,
                "in a way render never does",
            ),
        ] {
            match parse_manifest(text.as_bytes()) {
                Manifest::Invalid(why) => assert!(why.contains(want), "{text}: {why}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_rendering_with_extras_or_edits_is_named_file_by_file() {
        let files = [("a.env", "1"), ("sub/b.conf", "2")];
        let dir = tree(&files);
        fs::write(dir.path().join(MANIFEST), manifest_for(&files)).expect("manifest");
        assert!(survey(dir.path(), Strictness::Unchanged)
            .expect("survey")
            .problems()
            .is_empty());

        fs::write(dir.path().join("sub/b.conf"), "edited").expect("edit");
        fs::write(dir.path().join("notes.txt"), "mine").expect("extra");
        fs::create_dir(dir.path().join("empty")).expect("dir");
        let s = survey(dir.path(), Strictness::Unchanged).expect("survey");
        assert_eq!(s.foreign, ["empty/", "notes.txt"]);
        assert_eq!(s.changed, ["sub/b.conf"]);
        assert_eq!(s.problems().len(), 2);
        // A staging directory is judged by names only: the edit does not count there.
        assert_eq!(
            survey(dir.path(), Strictness::NamesOnly)
                .expect("survey")
                .changed
                .len(),
            0
        );
    }

    #[test]
    fn links_and_oversized_files_are_not_what_render_wrote() {
        let files = [("a.env", "1"), ("sub/b.conf", "2")];
        let dir = tree(&files);
        fs::write(dir.path().join(MANIFEST), manifest_for(&files)).expect("manifest");
        // A listed file swapped for a link (to a file with the listed content) is not read
        // through the link; one grown past the bound has changed.
        fs::remove_file(dir.path().join("sub/b.conf")).expect("rm");
        fs::write(dir.path().join("two"), "2").expect("target");
        std::os::unix::fs::symlink(dir.path().join("two"), dir.path().join("sub/b.conf"))
            .expect("link");
        fs::File::options()
            .write(true)
            .open(dir.path().join("a.env"))
            .and_then(|f| f.set_len(LISTED_FILE_LIMIT + 1))
            .expect("grow");
        let s = survey(dir.path(), Strictness::Unchanged).expect("survey");
        assert_eq!(s.foreign, ["sub/b.conf", "two"]);
        assert_eq!(s.changed, ["a.env"]);

        // The manifest itself: never through a link, and never past the bound.
        let manifest = dir.path().join(MANIFEST);
        let elsewhere = dir.path().join("elsewhere.json");
        fs::rename(&manifest, &elsewhere).expect("move");
        std::os::unix::fs::symlink(&elsewhere, &manifest).expect("link");
        let why = |s: Survey| match s.manifest {
            Manifest::Invalid(why) => why,
            other => panic!("{other:?}"),
        };
        let s = survey(dir.path(), Strictness::Unchanged).expect("survey");
        assert_eq!(why(s), "manifest.json is not a regular file");
        fs::remove_file(&manifest).expect("rm");
        fs::File::create(&manifest)
            .and_then(|f| f.set_len(LISTED_FILE_LIMIT + 1))
            .expect("grow");
        let s = survey(dir.path(), Strictness::Unchanged).expect("survey");
        assert_eq!(why(s), "manifest.json is larger than any render writes");
    }

    #[test]
    fn removal_leaves_a_recognisable_directory_at_every_step() {
        let files = [("a.env", "1"), ("sub/b.conf", "2"), ("sub/c.conf", "3")];
        let dir = tree(&files);
        fs::write(dir.path().join(MANIFEST), manifest_for(&files)).expect("manifest");
        // Simulate being killed after each file removal in the order `remove` uses.
        for f in ["a.env", "sub/b.conf", "sub/c.conf", MANIFEST] {
            fs::remove_file(dir.path().join(f)).expect("rm");
            assert!(is_ours_to_remove(dir.path()).expect("check"), "after {f}");
        }
        let kept = dir.path().to_path_buf();
        remove(&kept).expect("removed");
        assert!(!kept.exists());
        // A foreign file makes it someone else's.
        let other = tree(&[("x", "1")]);
        assert!(!is_ours_to_remove(other.path()).expect("check"));
    }

    #[test]
    fn a_surveyed_rendering_is_removed_but_what_appeared_since_stays() {
        let files = [
            ("a.env", "1"),
            ("sub/deep/b.conf", "2"),
            ("sub/c.conf", "3"),
        ];
        let dir = tree(&files);
        fs::write(dir.path().join(MANIFEST), manifest_for(&files)).expect("manifest");
        let s = survey(dir.path(), Strictness::Unchanged).expect("survey");
        assert!(s.problems().is_empty());
        let kept = dir.path().to_path_buf();
        remove_surveyed(&kept, &s).expect("removed");
        assert!(!kept.exists());

        let dir = tree(&files);
        fs::write(dir.path().join(MANIFEST), manifest_for(&files)).expect("manifest");
        let s = survey(dir.path(), Strictness::Unchanged).expect("survey");
        fs::write(dir.path().join("sub/notes.txt"), "mine").expect("added after the survey");
        let err = remove_surveyed(dir.path(), &s).expect_err("sub is not empty");
        assert!(format!("{err:#}").contains("cannot remove"), "{err:#}");
        assert_eq!(
            fs::read_to_string(dir.path().join("sub/notes.txt")).expect("kept"),
            "mine"
        );
        // The added file keeps the rest from being taken for what a killed render left.
        assert!(!is_ours_to_remove(dir.path()).expect("check"));
        // A survey that found a problem removes nothing.
        let s = survey(dir.path(), Strictness::Unchanged).expect("survey");
        assert!(remove_surveyed(dir.path(), &s).is_err());
        assert!(dir.path().join("sub/notes.txt").exists());
    }
}
