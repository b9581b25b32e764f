//! Small pieces the operations commands share: running PostgreSQL's client programs (what a
//! failed spawn means, the line of stderr worth showing) and SHA-256 digests as hex.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// What a failed spawn of a PostgreSQL client program means, worded for the admin.
pub fn spawn_error(program: &str, e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "{program} not found: install PostgreSQL's client programs (postgresql-client)"
        )
    } else {
        anyhow::anyhow!("cannot run {program}: {e}")
    }
}

/// The last non-empty line of a program's stderr: where PostgreSQL's tools say what failed.
pub fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_string()
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}
