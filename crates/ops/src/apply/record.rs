//! The install record (`/var/lib/gitlab-mattermost/apply.json`): every file `apply` put at
//! an install path, with its hash, and what each effect (users, directories, nginx reload,
//! database, daemon-reload, Mattermost's restart) was last applied with. A file is only ever
//! replaced or removed when the record says `apply` wrote exactly what is there now.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::paths::{Root, RECORD};

/// What was installed at a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Installed {
    /// A regular file with this sha256.
    File(String),
    /// A symbolic link with this target.
    Symlink(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub generator: String,
    /// By host path.
    #[serde(default)]
    pub files: BTreeMap<String, Installed>,
    /// By effect: the hash of the inputs it was last applied with.
    #[serde(default)]
    pub applied: BTreeMap<String, String>,
}

impl Record {
    /// The record on this host; empty when `apply` never ran.
    pub fn load(root: &Root) -> Result<Record> {
        let path = root.path(RECORD);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not an install record of gitlab-mattermost apply",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Write it atomically (after every step, so it always matches the disk).
    pub fn save(&mut self, root: &Root) -> Result<()> {
        self.generator = concat!("gitlab-mattermost ", env!("CARGO_PKG_VERSION")).into();
        let path = root.path(RECORD);
        let dir = path.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut text = serde_json::to_string_pretty(self).context("cannot encode the record")?;
        text.push('\n');
        crate::output::write_file_atomically(&path, text.as_bytes(), 0o644)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::scratch(dir.path().to_path_buf());
        assert_eq!(Record::load(&root).unwrap(), Record::default());
        let mut r = Record::default();
        r.files
            .insert("/etc/x".into(), Installed::File("ab".into()));
        r.files
            .insert("/etc/l".into(), Installed::Symlink("../x".into()));
        r.applied.insert("nginx".into(), "cd".into());
        r.save(&root).unwrap();
        assert_eq!(Record::load(&root).unwrap(), r);
        std::fs::write(root.path(RECORD), "not json").unwrap();
        let e = Record::load(&root).unwrap_err();
        assert!(
            format!("{e:#}").contains("is not an install record"),
            "{e:#}"
        );
    }
}
