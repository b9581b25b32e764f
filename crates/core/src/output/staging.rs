//! The lock that serialises renders next to one directory, and the staging directories
//! (`.NAME.new-XXXXXX`) a render writes into before the swap.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::fs::{flock, FlockOperation};

use super::rendering;

/// How long a render waits for another one next to the same directory to finish; a
/// render takes milliseconds, so a longer wait means the other one is stuck.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// An exclusive `flock` on the parent directory of DIR, held until dropped. Renders into
/// the same parent (and so into the same DIR) take turns; the lock is released by the
/// kernel when the process dies, so a killed render never leaves it behind, and no lock
/// file is left next to DIR.
pub struct Lock {
    dir: File,
}

impl Lock {
    /// Make the locked directory's entries durable (fsync), through the descriptor the lock
    /// holds.
    pub fn sync_dir(&self) -> std::io::Result<()> {
        self.dir.sync_all()
    }
}

pub fn lock(parent: &Path, given: &Path) -> Result<Lock> {
    let dir = File::open(parent).with_context(|| format!("cannot open {}", parent.display()))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match flock(&dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Lock { dir }),
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => bail!(
                "another gitlab-mattermost render is writing {} (it holds the lock on {}); nothing was written: run again when it has finished",
                given.display(),
                parent.display()
            ),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot lock {}", parent.display()))
            }
        }
    }
}

/// `.NAME.new-`: the prefix of DIR's staging directories.
pub fn prefix(name: &OsStr) -> OsString {
    let mut p = b".".to_vec();
    p.extend_from_slice(name.as_bytes());
    p.extend_from_slice(b".new-");
    OsString::from_vec(p)
}

/// Remove the staging directories of DIR that earlier runs left behind (killed, or with a
/// power cut). Only called with the lock held, so none of them is in use. A directory
/// with that name that holds anything render does not write there is kept, with a
/// warning. Returns how many were removed.
pub fn remove_stale(parent: &Path, name: &OsStr) -> Result<usize> {
    let prefix = prefix(name);
    let mut removed = 0;
    for e in fs::read_dir(parent).with_context(|| format!("cannot read {}", parent.display()))? {
        let e = e?;
        let is_staging = e.file_name().as_bytes().starts_with(prefix.as_bytes())
            && e.file_type().is_ok_and(|t| t.is_dir());
        if !is_staging {
            continue;
        }
        let path = e.path();
        if rendering::is_ours_to_remove(&path)? {
            rendering::remove(&path)?;
            tracing::info!("removed {}, left by an earlier run", path.display());
            removed += 1;
        } else {
            tracing::warn!(
                "kept {}: it is named like a staging directory of render but holds files render does not write",
                path.display()
            );
        }
    }
    Ok(removed)
}
