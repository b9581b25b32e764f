//! Files the user names: secrets read trimmed and written atomically with mode 0600, and
//! every read bounded to a regular file of a known largest size (the bounded reads are the
//! config reader's, [`gitlab_mattermost_sources::bounded`], re-exported here).

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

use gitlab_mattermost_sources::bounded::read_text;
pub use gitlab_mattermost_sources::bounded::{
    read_regular, ReadError, CONFIG_LIMIT, ENV_FILE_LIMIT, SECRET_LIMIT,
};

/// Read a secret (or id) file, without the trailing newline editors and `echo` add. The
/// content is never part of an error message. The file must be a regular file of at most
/// [`SECRET_LIMIT`] bytes.
pub fn read_secret(path: &Path) -> Result<String> {
    let text =
        read_text(path, SECRET_LIMIT).with_context(|| format!("cannot read {}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.trim().is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(value)
}

/// Whether `path` is a regular file someone may execute.
pub fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Read a file that may not exist yet (an id or URL file this tool writes), bounded like a
/// secret.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match read_text(path, SECRET_LIMIT) {
        Ok(t) => Ok(Some(t.trim().to_string()).filter(|s| !s.is_empty())),
        Err(ReadError::Missing(_)) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Replace `path` with `content` atomically: a 0600 temporary file in the same directory,
/// fsynced, renamed over the target, then the directory fsynced. A crash leaves either the
/// old or the new content, never a torn or world-readable file.
pub fn write_secret(path: &Path, content: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.exists() {
        // Secrets directories are root-only: nothing else needs to list them.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::output::write_file_atomically(path, format!("{content}\n").as_bytes(), 0o600)?;
    Ok(())
}

/// Read a regular text file of at most `limit` bytes (a larger one is an error, not a
/// truncation).
pub fn read_bounded(path: &Path, limit: u64) -> Result<String> {
    let bytes =
        read_regular(path, limit).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))
}
