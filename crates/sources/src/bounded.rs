//! Bounded reads: every file the user names is read only if it is a regular file of at most
//! a known largest size.
//!
//! A path the user gives may name a FIFO (the read waits for a writer forever), a character
//! device such as `/dev/zero` (endless data) or a socket. Those are refused before a byte is
//! read, and a regular file larger than its kind can be is refused instead of read whole.
//! Symbolic links are followed: secret managers and systemd credentials commonly link a
//! secret's path to where it is stored, and what matters is what the link points at.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest secret, token, id or URL file (64 KiB): real ones are a few hundred bytes, and a
/// larger file is a wrong path, not a secret.
pub const SECRET_LIMIT: u64 = 64 << 10;

/// Largest config file (16 MiB): a hand-written or generated config is a few KiB.
pub const CONFIG_LIMIT: u64 = 16 << 20;

/// Largest environment file `exec` loads (1 MiB): the kernel passes at most 2 MiB of
/// arguments and environment to a program, and the rendered file is a few KiB.
pub const ENV_FILE_LIMIT: u64 = 1 << 20;

/// Why a file the user named was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The path does not exist.
    Missing(io::Error),
    /// It exists but is not a regular file: what it is ("a FIFO (named pipe)", …).
    NotRegular(&'static str),
    /// A regular file larger than the limit, in bytes.
    TooLarge { limit: u64 },
    /// Any other failure to open or read it.
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Missing(e) | ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(what) => write!(
                f,
                "it is {what}, not a regular file (give the path of a regular file)"
            ),
            ReadError::TooLarge { limit } => write!(
                f,
                "it is larger than {}, more than a file of this kind can be (is this the right file?)",
                describe_size(*limit)
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// `limit` as people write it: KiB or MiB when it is a whole number of them.
fn describe_size(limit: u64) -> String {
    if limit >= 1 << 20 && limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else if limit >= 1 << 10 && limit.is_multiple_of(1 << 10) {
        format!("{} KiB", limit >> 10)
    } else {
        format!("{limit} bytes")
    }
}

/// What a file that is not regular is, for messages.
fn kind_of(file_type: fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

fn refuse(meta: &fs::Metadata, limit: u64) -> Result<(), ReadError> {
    if let Some(what) = kind_of(meta.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(())
}

/// The bytes of the regular file at `path` (symbolic links followed), at most `limit` of
/// them. Anything else is refused before it is read: a FIFO, device or socket is never
/// opened for a blocking read, and a file larger than `limit` (or growing past it while it
/// is read) is an error, not a truncation.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io_error = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => ReadError::Missing(e),
        _ => ReadError::Io(e),
    };
    // Look before opening: opening some devices has effects of its own.
    refuse(&fs::metadata(path).map_err(io_error)?, limit)?;
    // O_NONBLOCK: should the path be swapped for a FIFO after the look, opening it does not
    // wait for a writer; the second look below refuses it. It changes nothing for a regular
    // file. O_NOCTTY: a terminal never becomes this process's controlling one.
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(io_error)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    refuse(&meta, limit)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text, with errors naming the file.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_regular(path, limit)?;
    String::from_utf8(bytes).map_err(|_| {
        ReadError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })
}
