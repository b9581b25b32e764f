//! Reading a backup without trusting it. Before `restore` changes anything, everything the
//! restore will read is checked:
//!
//! - the manifest is a regular file of at most [`MANIFEST_LIMIT`] bytes;
//! - every path it names is relative, made of plain names only (no `/…`, `..`, `.` or empty
//!   components), and part of a backup's layout (the dump, `config.json`, or a file below
//!   `files/`, `secrets/` or a listed plugin directory);
//! - it is complete for what the restore will use: the dump, `config.json` when it says it
//!   has one, each plugin directory it names;
//! - every listed file is a regular file (never followed through a symbolic link, never
//!   opened when it is a FIFO, socket or device) with the size and SHA-256 listed;
//! - every symbolic link is listed with its target, which stays inside its own directory
//!   tree;
//! - nothing else is in the backup directory: an unlisted file, link, FIFO or device is
//!   named and refused;
//! - the gzipped dump decompresses to its end (the decoder checks each member's CRC and
//!   length), is a plain SQL dump of pg_dump, holds no psql command besides pg_dump's own
//!   `\restrict` lines, no statement that would end the single transaction the restore runs
//!   in, and does not stop in the middle of a statement.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::{Entry, Manifest, CONFIG_JSON, FILES_DIR, MANIFEST, SECRETS_DIR};
pub use crate::tools::hex;

/// The largest manifest read: one of a million files is well below it.
pub const MANIFEST_LIMIT: u64 = 256 << 20;

/// The plugin directories a backup may hold.
pub const PLUGIN_TREES: [&str; 2] = ["plugins", "client-plugins"];

/// Open `path` for reading only if it is a regular file: never through a symbolic link
/// (unless `follow`, for a path the operator named), and without blocking on a FIFO.
pub fn open_regular(path: &Path, follow: bool) -> Result<File> {
    let mut flags = rustix::fs::OFlags::NONBLOCK;
    if !follow {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                anyhow::anyhow!("{} is a symbolic link, not a file", path.display())
            } else {
                anyhow::anyhow!("cannot read {}: {e}", path.display())
            }
        })?;
    let md = f
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !md.is_file() {
        bail!(
            "{} is not a regular file (a FIFO, socket, device or directory is never read)",
            path.display()
        );
    }
    Ok(f)
}

/// A manifest path as its components, or why it is refused.
pub fn confined(path: &str) -> Result<Vec<&str>, &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with('/') {
        return Err("is an absolute path, outside the backup");
    }
    let parts: Vec<&str> = path.split('/').collect();
    for p in &parts {
        match *p {
            ".." => return Err("climbs out of the backup with `..`"),
            "" | "." => return Err("is not a plain relative path (an empty or `.` component)"),
            p if p.contains('\0') => return Err("holds a NUL byte"),
            _ => {}
        }
    }
    Ok(parts)
}

/// Hash at most `size + 1` bytes of `f`: the number of bytes read and the SHA-256.
fn hash_bounded(f: &mut File, size: u64) -> io::Result<(u64, String)> {
    let mut r = f.take(size.saturating_add(1));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((n, hex(&h.finalize())))
}

/// Read the manifest of `dir`, bounded.
fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    match fs::symlink_metadata(&path) {
        Err(_) => bail!(
            "{} is not a complete backup: it has no {MANIFEST} (a partial backup is never restored); nothing was restored",
            dir.display()
        ),
        Ok(md) if !md.is_file() => bail!(
            "{} is not a regular file; nothing was restored",
            path.display()
        ),
        Ok(_) => {}
    }
    let f = open_regular(&path, false)?;
    let mut text = Vec::new();
    f.take(MANIFEST_LIMIT + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() as u64 > MANIFEST_LIMIT {
        bail!(
            "{} is larger than {} MiB: not a manifest of a backup; nothing was restored",
            path.display(),
            MANIFEST_LIMIT >> 20
        );
    }
    let m: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is damaged; nothing was restored", path.display()))?;
    if m.format != 1 {
        bail!(
            "{} has format {}, this version reads format 1; nothing was restored",
            path.display(),
            m.format
        );
    }
    Ok(m)
}

/// What the manifest says is in the backup, checked against itself.
struct Listing<'a> {
    /// Listed regular files.
    files: BTreeMap<String, &'a Entry>,
    /// Listed symbolic links and their targets.
    links: BTreeMap<String, &'a str>,
    /// Top-level directories that may be present.
    trees: BTreeSet<&'a str>,
}

fn listing<'a>(m: &'a Manifest, problems: &mut Vec<String>) -> Listing<'a> {
    let mut singles: BTreeSet<&str> = BTreeSet::new();
    match confined(&m.database_dump) {
        Ok(p) if p.len() == 1 && p[0] != MANIFEST => {
            singles.insert(&m.database_dump);
        }
        Ok(_) => problems.push(format!(
            "the database dump {:?} is not a file name in the backup directory",
            m.database_dump
        )),
        Err(why) => problems.push(format!("the database dump {:?} {why}", m.database_dump)),
    }
    if m.has_config_json {
        singles.insert(CONFIG_JSON);
    }
    let mut trees: BTreeSet<&str> = [FILES_DIR, SECRETS_DIR].into();
    for p in &m.plugins {
        if !PLUGIN_TREES.contains(&p.as_str()) {
            problems.push(format!(
                "the manifest names the plugin directory {p:?}: only plugins and client-plugins are restored"
            ));
        } else if !trees.insert(p) {
            problems.push(format!("the manifest names the plugin directory {p} twice"));
        }
    }
    let fits = |parts: &[&str]| {
        (parts.len() == 1 && singles.contains(parts[0]))
            || (parts.len() >= 2 && trees.contains(parts[0]))
    };
    let mut files = BTreeMap::new();
    for e in &m.files {
        match confined(&e.path) {
            Err(why) => problems.push(format!(
                "the manifest lists {:?}, which {why}: nothing outside the backup is read or written",
                e.path
            )),
            Ok(parts) if !fits(&parts) => problems.push(format!(
                "the manifest lists {:?}, which is not part of a backup (the dump, config.json when the manifest says it has one, files/, secrets/, a listed plugin directory)",
                e.path
            )),
            Ok(_) => {
                if files.insert(e.path.clone(), e).is_some() {
                    problems.push(format!("the manifest lists {} twice", e.path));
                }
            }
        }
    }
    let mut links = BTreeMap::new();
    for l in &m.links {
        match confined(&l.path) {
            Err(why) => problems.push(format!(
                "the manifest lists the link {:?}, which {why}",
                l.path
            )),
            Ok(parts) if parts.len() < 2 || !trees.contains(parts[0]) => problems.push(format!(
                "the manifest lists the link {:?} outside files/ and the plugin directories",
                l.path
            )),
            Ok(_) => {
                if files.contains_key(&l.path) || links.insert(l.path.clone(), &*l.target).is_some()
                {
                    problems.push(format!("the manifest lists {} twice", l.path));
                }
            }
        }
    }
    // A link's target stays in its own tree, not through another link; nothing listed lies
    // beneath a link.
    let link_paths: BTreeSet<&Path> = links.keys().map(Path::new).collect();
    for (path, target) in &links {
        let p = Path::new(path);
        let top = p.components().next().map(|c| c.as_os_str().to_owned());
        let dir = p.parent().unwrap_or(Path::new(""));
        let target = Path::new(target);
        let inside = target.is_relative()
            && super::omnibus::resolve(dir, target, &link_paths)
                .is_some_and(|to| top.as_ref().is_some_and(|t| to.starts_with(t)));
        if !inside {
            problems.push(format!(
                "{path} is a link to {}, outside its directory or through another link",
                target.display()
            ));
        }
    }
    for listed in files.keys().chain(links.keys()) {
        if let Some(link) = Path::new(listed)
            .ancestors()
            .skip(1)
            .find(|a| link_paths.contains(a))
        {
            problems.push(format!("{listed} lies beneath the link {}", link.display()));
        }
    }
    // Complete for what the restore uses.
    if !files.contains_key(&m.database_dump) {
        problems.push(format!(
            "the database dump {} is not in the manifest",
            m.database_dump
        ));
    }
    if m.has_config_json && !files.contains_key(CONFIG_JSON) {
        problems.push(format!(
            "the manifest says the backup has {CONFIG_JSON}, but does not list it"
        ));
    }
    Listing {
        files,
        links,
        trees,
    }
}

/// Everything present under `dir` that the listing does not account for; `seen` gets every
/// listed file found as a regular file.
fn survey(
    root: &Path,
    rel: &str,
    list: &Listing,
    seen: &mut BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let entries = fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            problems.push(format!(
                "{} holds a name that is not UTF-8 ({}), which no manifest lists",
                dir.display(),
                name.to_string_lossy()
            ));
            continue;
        };
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if path == MANIFEST {
            continue;
        }
        let t = e
            .file_type()
            .with_context(|| format!("cannot read {}", e.path().display()))?;
        if t.is_dir() {
            if rel.is_empty() && !list.trees.contains(name) {
                problems.push(format!("{path}/ is in the backup but not in the manifest"));
            } else {
                survey(root, &path, list, seen, problems)?;
            }
        } else if t.is_symlink() {
            let target = fs::read_link(e.path()).unwrap_or_default();
            match list.links.get(&path) {
                Some(want) if Path::new(want) == target => {}
                Some(want) => problems.push(format!(
                    "{path} is a link to {}, the manifest says to {want}",
                    target.display()
                )),
                None if list.files.contains_key(&path) => problems.push(format!(
                    "{path} is a symbolic link (to {}), the manifest lists a file",
                    target.display()
                )),
                None => problems.push(format!(
                    "{path} is a symbolic link (to {}) that the manifest does not list",
                    target.display()
                )),
            }
        } else if t.is_file() {
            if list.files.contains_key(&path) {
                seen.insert(path);
            } else {
                problems.push(format!("{path} is in the backup but not in the manifest"));
            }
        } else {
            problems.push(format!(
                "{path} is a FIFO, socket or device: never read, and no backup holds one"
            ));
        }
    }
    Ok(())
}

/// Read and verify a backup (see the module's documentation); nothing is changed.
pub fn verify(dir: &Path) -> Result<Manifest> {
    match fs::metadata(dir) {
        Ok(md) if md.is_dir() => {}
        // Bad input (exit 2), like every refusal before anything changed.
        _ => {
            let refusal = crate::diag::Diagnostic::new(
                "--from",
                format!(
                    "{} is not a backup directory; nothing was restored",
                    dir.display()
                ),
            )
            .with_hint(
                "give a directory `gitlab-mattermost backup --to` made (backup-YYYYMMDDTHHMMSSZ)",
            );
            return Err(crate::diag::Diagnostics::from(refusal).into());
        }
    }
    let m = read_manifest(dir)?;
    let mut problems = Vec::new();
    let list = listing(&m, &mut problems);
    let mut seen = BTreeSet::new();
    survey(dir, "", &list, &mut seen, &mut problems)?;
    for plugin in &m.plugins {
        if PLUGIN_TREES.contains(&plugin.as_str())
            && !fs::symlink_metadata(dir.join(plugin)).is_ok_and(|md| md.is_dir())
        {
            problems.push(format!("the plugin directory {plugin}/ is missing"));
        }
    }
    for (path, e) in &list.files {
        if !seen.contains(path) {
            if fs::symlink_metadata(dir.join(path)).is_err() {
                problems.push(format!("{path} is missing"));
            }
            // Otherwise present as something else: already named.
            continue;
        }
        let p = dir.join(path);
        let checked = open_regular(&p, false).and_then(|mut f| {
            let len = f.metadata()?.len();
            if len != e.size {
                return Ok(Some(format!("{path} has {len} bytes, expected {}", e.size)));
            }
            let (n, sum) =
                hash_bounded(&mut f, e.size).with_context(|| format!("cannot read {path}"))?;
            Ok(if n != e.size {
                Some(format!("{path} has {n} bytes, expected {}", e.size))
            } else if sum != e.sha256 {
                Some(format!("{path} does not match its checksum"))
            } else {
                None
            })
        });
        match checked {
            Ok(None) => {}
            Ok(Some(problem)) => problems.push(problem),
            Err(err) => problems.push(format!("{err:#}")),
        }
    }
    if problems.is_empty() {
        if let Err(e) = check_dump(&dir.join(&m.database_dump)) {
            problems.push(format!("the database dump {} {e:#}", m.database_dump));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} is incomplete, damaged or holds what no backup does; nothing was restored (the database and files are as they were): {}",
            dir.display(),
            problems.join("; ")
        );
    }
    Ok(m)
}

/// The dump decompressed to its end and read through as psql would get it.
fn check_dump(path: &Path) -> Result<()> {
    let f = open_regular(path, false)?;
    let sql = BufReader::new(flate2::read::MultiGzDecoder::new(BufReader::new(f)));
    super::omnibus::filter_dump(sql, &mut io::sink())
        .map(|_| ())
        .context("is refused before psql saw any of it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_paths_are_plain_relative_names() {
        assert_eq!(confined("files/a/b.png"), Ok(vec!["files", "a", "b.png"]));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "files/../../x",
            "files//a",
            "./x",
            "files/.",
        ] {
            assert!(confined(bad).is_err(), "{bad}");
        }
    }
}
