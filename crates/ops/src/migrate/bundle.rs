//! The bundle: what `migrate export` leaves for `migrate import`.
//!
//! ```text
//! BUNDLE/migration.json      this manifest (written last, atomically)
//! BUNDLE/files/data/…        FileSettings.Directory
//! BUNDLE/files/plugins/…     PluginSettings.Directory
//! BUNDLE/files/client-plugins/…
//! BUNDLE/config.json         Mattermost's own config (0600)
//! BUNDLE/database.dump       pg_dump --format=custom --no-owner --no-privileges (final only)
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::tree::{FileEntry, Listing};

pub const MANIFEST: &str = "migration.json";
pub const KIND: &str = "gitlab-mattermost migration bundle";
pub const DUMP: &str = "database.dump";
pub const CONFIG_JSON: &str = "config.json";
pub const FILES: &str = "files";
/// The trees a bundle holds, by name.
pub const TREES: [&str; 3] = ["data", "plugins", "client-plugins"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub kind: String,
    pub format: u32,
    pub tool_version: String,
    /// Whether Mattermost was stopped and the database dumped.
    #[serde(rename = "final")]
    pub final_pass: bool,
    pub source: Source,
    pub trees: BTreeMap<String, Listing>,
    pub config_json: Option<FileEntry>,
    pub dump: Option<Dump>,
    /// Rows per table when the database was dumped.
    pub tables: BTreeMap<String, i64>,
    pub passes: Vec<PassRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub root: String,
    pub database: String,
    /// server_version_num of the old PostgreSQL (final only).
    pub pg_version_num: Option<u32>,
    /// What the old database says it ran (`Systems.Version`), final only.
    pub mattermost_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dump {
    pub size: u64,
    pub sha256: String,
}

/// One export run, for the downtime report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassRecord {
    #[serde(rename = "final")]
    pub final_pass: bool,
    pub finished: String,
    pub seconds: f64,
    pub files: u64,
    pub bytes: u64,
    pub copied: u64,
    pub copied_bytes: u64,
    pub removed: u64,
}

impl Manifest {
    pub fn new(root: &Path, database: &str) -> Manifest {
        Manifest {
            kind: KIND.into(),
            format: 1,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            final_pass: false,
            source: Source {
                root: root.display().to_string(),
                database: database.into(),
                pg_version_num: None,
                mattermost_version: None,
            },
            trees: BTreeMap::new(),
            config_json: None,
            dump: None,
            tables: BTreeMap::new(),
            passes: Vec::new(),
        }
    }
}

/// The bundle at `dir`: `Ok(None)` when it does not exist or is an empty directory; refused
/// when it holds anything that is not a bundle (never write into a directory we did not make).
pub fn open(dir: &Path) -> Result<Option<Manifest>> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    if !meta.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let manifest = dir.join(MANIFEST);
    if !manifest.exists() {
        if fs::read_dir(dir)?.next().is_none() {
            return Ok(None);
        }
        bail!(
            "{} holds files but no {MANIFEST}: it is not a bundle of `migrate export`; give a new or empty directory",
            dir.display()
        );
    }
    let text = crate::files::read_bounded(&manifest, 256 << 20)?;
    let m: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a migration manifest", manifest.display()))?;
    if m.kind != KIND || m.format != 1 {
        bail!(
            "{} is not a migration manifest of this tool (kind {:?}, format {})",
            manifest.display(),
            m.kind,
            m.format
        );
    }
    check_names(&manifest, &m)?;
    Ok(Some(m))
}

/// Every tree and file name must stay inside its tree: a manifest naming `../x` or `/etc/x`
/// would make the checks read (and the copies write) outside the bundle and the target.
fn check_names(manifest: &Path, m: &Manifest) -> Result<()> {
    for (tree, listing) in &m.trees {
        if !TREES.contains(&tree.as_str()) {
            bail!("{}: unknown tree {tree:?}", manifest.display());
        }
        for name in listing.keys() {
            let inside = !name.is_empty()
                && Path::new(name)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                bail!(
                    "{}: the file name {name:?} in {tree} leaves its directory; this is not a bundle `migrate export` wrote",
                    manifest.display()
                );
            }
        }
    }
    Ok(())
}

/// Create the bundle directory (0700: the dump holds every message and the config.json secrets).
pub fn create(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

pub fn save(dir: &Path, m: &Manifest) -> Result<()> {
    let mut text = serde_json::to_string_pretty(m)?;
    text.push('\n');
    crate::output::write_file_atomically(&dir.join(MANIFEST), text.as_bytes(), 0o600)
}

pub fn tree_dir(bundle: &Path, name: &str) -> PathBuf {
    bundle.join(FILES).join(name)
}
