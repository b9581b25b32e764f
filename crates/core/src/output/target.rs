//! What an output path is, and the ones that must never be written: render replaces its
//! directory as a whole, so everything that is not a previous rendering is refused (exit 2,
//! nothing written) before anything is created.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use super::rendering;
use crate::diag::{Diagnostic, Diagnostics};

/// An input of the command (a config file, a secret file, gitlab.rb): never overwritten,
/// and never inside a directory that is replaced.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    /// What it is, for messages: "the config file", "a secret file".
    pub what: &'static str,
    /// `path` resolved, once per run (render checks its target twice: before it takes the
    /// lock and under it); `None` when it does not exist.
    canonical: std::sync::OnceLock<Option<PathBuf>>,
}

impl Input {
    pub fn new(path: impl Into<PathBuf>, what: &'static str) -> Input {
        Input {
            path: path.into(),
            what,
            canonical: std::sync::OnceLock::new(),
        }
    }

    fn canonical(&self) -> Option<&Path> {
        self.canonical
            .get_or_init(|| fs::canonicalize(&self.path).ok())
            .as_deref()
    }
}

/// What a path is, without following a final symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Missing,
    Directory,
    RegularFile,
    /// With the link's text.
    Symlink(PathBuf),
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl Kind {
    /// `lstat`; a missing path is `Missing`, other errors (a parent that is a file,
    /// permissions) are returned.
    pub fn of(path: &Path) -> io::Result<Kind> {
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Kind::Missing),
            Err(e) => return Err(e),
        };
        let t = meta.file_type();
        Ok(if t.is_symlink() {
            Kind::Symlink(fs::read_link(path)?)
        } else if t.is_dir() {
            Kind::Directory
        } else if t.is_file() {
            Kind::RegularFile
        } else if t.is_char_device() {
            Kind::CharDevice
        } else if t.is_block_device() {
            Kind::BlockDevice
        } else if t.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Socket
        })
    }

    /// "a regular file", "a FIFO", … for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Directory => "a directory",
            Kind::RegularFile => "a regular file",
            Kind::Symlink(_) => "a symbolic link",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
        }
    }
}

/// One refusal of an output path: `FLAG: PATH: why`, with what to do instead.
pub fn refusal(
    flag: &str,
    given: impl std::fmt::Display,
    why: impl AsRef<str>,
    hint: impl Into<String>,
) -> Diagnostic {
    Diagnostic::new(flag, format!("{given}: {}", why.as_ref())).with_hint(hint)
}

/// A path split into its directory and final name, with `.` components and trailing
/// slashes dropped. `Err` says why the path names no entry that could be replaced.
pub fn split_name(path: &Path) -> Result<(PathBuf, OsString), &'static str> {
    let components: Vec<Component> = path.components().collect();
    let Some((last, parents)) = components.split_last() else {
        return Err("is an empty path");
    };
    let name = match last {
        Component::Normal(n) => n.to_os_string(),
        Component::RootDir | Component::Prefix(_) => return Err("is the root directory"),
        Component::CurDir => return Err("is the current directory"),
        Component::ParentDir => return Err("is a parent directory (`..`)"),
    };
    let parent: PathBuf = parents.iter().collect();
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent
    };
    Ok((parent, name))
}

/// Whether `path` (a directory) is the root of a mount, bind mounts included.
pub fn is_mount_point(path: &Path) -> io::Result<bool> {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    if let Ok(x) = statx(
        CWD,
        path,
        AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::empty(),
    ) {
        if x.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
            return Ok(x.stx_attributes.contains(StatxAttributes::MOUNT_ROOT));
        }
    }
    // Kernels before 5.8 do not report MOUNT_ROOT: another device than the parent's is a
    // mount too (bind mounts of the same file system are then not seen).
    let meta = fs::symlink_metadata(path)?;
    let parent = fs::metadata(path.join(".."))?;
    Ok(meta.dev() != parent.dev() || meta.ino() == parent.ino())
}

/// Every input that is `path` itself or lies inside it (both canonical); inputs that do
/// not exist on this host are not there to be destroyed.
fn inputs_within<'i>(path: &Path, inputs: &'i [Input]) -> Vec<(PathBuf, &'i Input)> {
    inputs
        .iter()
        .filter_map(|i| i.canonical().map(|c| (c.to_path_buf(), i)))
        .filter(|(c, _)| c.starts_with(path))
        .collect()
}

/// Where `render --out` will write, once every check passed.
#[derive(Debug, Clone)]
pub struct RenderTarget {
    /// As given on the command line, for messages.
    pub given: PathBuf,
    /// Absolute, symlinks resolved: the directory that is swapped.
    pub path: PathBuf,
    pub parent: PathBuf,
    pub name: OsString,
    /// Whether a previous rendering is there (otherwise nothing is).
    pub exists: bool,
}

/// Whether [`inspect_render_target`] reads what an existing directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    Check,
    Later,
}

const FLAG: &str = "--out";

const OWN_DIR_HINT: &str =
    "render into a directory of its own that does not exist yet (render creates it), e.g. --out ./rendered";

/// Check `--out DIR` and say where to write. Refused (every reason at once, exit 2): `/`,
/// `.`, `..`, anything that is not a directory (a regular file, a device, a FIFO, a socket,
/// the config itself), a dangling symlink or one to a non-directory, a mount point, a
/// directory holding an input, and any existing directory that is not an unchanged
/// previous rendering. A symlink to a previous rendering is followed, so it stays a
/// symlink to the new one. `Contents::Later` leaves out reading an existing directory's
/// files (done again under the lock anyway).
pub fn inspect_render_target(
    given: &Path,
    inputs: &[Input],
    contents: Contents,
) -> Result<RenderTarget> {
    let refuse = |why: &str, hint: &str| -> anyhow::Error {
        Diagnostics::from(refusal(FLAG, given.display(), why, hint)).into()
    };
    let (parent, name) = split_name(given).map_err(|why| refuse(why, OWN_DIR_HINT))?;
    let normalized = parent.join(&name);
    let kind = match Kind::of(&normalized) {
        Ok(k) => k,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            return Err(refuse(
                "a directory in this path is not a directory",
                OWN_DIR_HINT,
            ))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", given.display())),
    };
    match kind {
        Kind::Missing => missing_target(given, &parent, name),
        Kind::Directory => {
            let path = fs::canonicalize(&normalized)
                .with_context(|| format!("cannot resolve {}", given.display()))?;
            existing_directory(given, path, None, inputs, contents)
        }
        Kind::Symlink(link) => {
            let path = match fs::canonicalize(&normalized) {
                Ok(p) => p,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(refuse(
                        &format!("is a symbolic link to {}, which does not exist", link.display()),
                        "render does not create the target of a link: point the link at a previous rendering, or remove it and render to its name",
                    ))
                }
                Err(e) => {
                    return Err(refuse(
                        &format!("is a symbolic link to {} that cannot be followed ({e})", link.display()),
                        OWN_DIR_HINT,
                    ))
                }
            };
            match Kind::of(&path)? {
                Kind::Directory => existing_directory(given, path, Some(link), inputs, contents),
                other => Err(not_a_directory(given, &other, Some(&path), inputs)),
            }
        }
        other => Err(not_a_directory(given, &other, None, inputs)),
    }
}

/// A path that does not exist: its nearest existing ancestor must be a directory.
fn missing_target(given: &Path, parent: &Path, name: OsString) -> Result<RenderTarget> {
    let absolute = std::path::absolute(parent)
        .with_context(|| format!("cannot make {} absolute", parent.display()))?;
    let mut existing = absolute.as_path();
    let mut below = Vec::new();
    while !existing.exists() {
        below.push(existing.file_name().map(OsString::from));
        existing = match existing.parent() {
            Some(p) => p,
            None => break,
        };
    }
    if !existing.is_dir() {
        return Err(Diagnostics::from(refusal(
            FLAG,
            given.display(),
            format!("{} is not a directory", existing.display()),
            OWN_DIR_HINT,
        ))
        .into());
    }
    let mut path = fs::canonicalize(existing)
        .with_context(|| format!("cannot resolve {}", existing.display()))?;
    for component in below.into_iter().rev() {
        // `x/../y` below a directory that does not exist cannot be resolved.
        let Some(c) = component else {
            return Err(Diagnostics::from(refusal(
                FLAG,
                given.display(),
                "has `..` below a directory that does not exist",
                OWN_DIR_HINT,
            ))
            .into());
        };
        path.push(c);
    }
    let parent = path.clone();
    path.push(&name);
    Ok(RenderTarget {
        given: given.to_path_buf(),
        path,
        parent,
        name,
        exists: false,
    })
}

/// Anything but a directory is refused; an input gets its own message.
fn not_a_directory(
    given: &Path,
    kind: &Kind,
    via: Option<&Path>,
    inputs: &[Input],
) -> anyhow::Error {
    let resolved = fs::canonicalize(given).ok();
    let input = resolved.as_ref().and_then(|r| {
        inputs
            .iter()
            .find(|i| fs::canonicalize(&i.path).ok().as_ref() == Some(r))
    });
    let through = via
        .map(|p| format!(" (through a symbolic link to {})", p.display()))
        .unwrap_or_default();
    let d = match input {
        Some(i) => refusal(
            FLAG,
            given.display(),
            format!(
                "is {} being rendered{through}; render never writes over its input",
                i.what
            ),
            OWN_DIR_HINT,
        ),
        None => refusal(
            FLAG,
            given.display(),
            format!(
                "is {}{through}, not a directory; render replaces DIR as a whole",
                kind.describe()
            ),
            OWN_DIR_HINT,
        ),
    };
    Diagnostics::from(d).into()
}

/// An existing directory: only an unchanged previous rendering with no input in it, and
/// not a mount point, may be replaced.
fn existing_directory(
    given: &Path,
    path: PathBuf,
    link: Option<PathBuf>,
    inputs: &[Input],
    contents: Contents,
) -> Result<RenderTarget> {
    let mut problems = Diagnostics::default();
    let shown = match &link {
        Some(_) => format!(
            "{} (a symbolic link to {})",
            given.display(),
            path.display()
        ),
        None => given.display().to_string(),
    };
    if path.parent().is_none() {
        problems.push(refusal(FLAG, &shown, "is the root directory", OWN_DIR_HINT));
        return Err(problems.into());
    }
    if is_mount_point(&path).with_context(|| format!("cannot inspect {}", path.display()))? {
        problems.push(refusal(
            FLAG,
            &shown,
            "is a mount point; it cannot be replaced, and what is mounted there is not a rendering",
            "render into a new subdirectory of it, e.g. --out DIR/rendered",
        ));
    }
    for (canonical, input) in inputs_within(&path, inputs) {
        problems.push(refusal(
            FLAG,
            &shown,
            format!(
                "holds {} {}; render replaces DIR as a whole and would delete it",
                input.what,
                canonical.display()
            ),
            "keep configs and secrets outside the rendered directory, e.g. --out DIR/rendered",
        ));
    }
    // Refused anyway: then every reason at once.
    let contents_problems = if contents == Contents::Check || !problems.is_empty() {
        rendering::survey(&path, rendering::Strictness::Unchanged)?.problems()
    } else {
        Vec::new()
    };
    for why in contents_problems {
        problems.push(refusal(FLAG, &shown, why.message, why.hint));
    }
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (p.to_path_buf(), n.to_os_string()),
        _ => {
            problems.push(refusal(FLAG, &shown, "is the root directory", OWN_DIR_HINT));
            return Err(problems.into());
        }
    };
    if !problems.is_empty() {
        return Err(problems.into());
    }
    Ok(RenderTarget {
        given: given.to_path_buf(),
        path,
        parent,
        name,
        exists: true,
    })
}

/// Whether the directory of a file output must exist already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    MustExist,
    /// The caller creates it (and checked it with [`inspect_parent_dir`]).
    Created,
}

/// What to do with a file output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileWrite {
    /// Nothing is there: write it.
    Create,
    /// It already holds exactly these bytes: leave it.
    Unchanged,
}

/// Check a single-file output (`import --out`, a secret file). A file is only ever
/// created: an existing one is left when it already holds `bytes` and refused otherwise
/// (it may hold edits), as are inputs, directories, devices, FIFOs, sockets, dangling
/// symlinks and a missing parent directory (unless the caller creates it: `Parent::Created`).
pub fn inspect_file_target(
    flag: &str,
    given: &Path,
    bytes: &[u8],
    inputs: &[Input],
    parent_dir: Parent,
) -> Result<FileWrite> {
    let refuse = |why: String, hint: &str| -> anyhow::Error {
        Diagnostics::from(refusal(flag, given.display(), why, hint)).into()
    };
    let file_hint = "give the path of a new file, e.g. ./mattermost.toml";
    let (parent, name) =
        split_name(given).map_err(|why| refuse(format!("{why}, not a file"), file_hint))?;
    let normalized = parent.join(name);
    if let Some(input) = inputs.iter().find(|i| same_file(&i.path, &normalized)) {
        return Err(refuse(
            format!("is {} being read; it is never written over", input.what),
            file_hint,
        ));
    }
    let kind = match Kind::of(&normalized) {
        Ok(k) => k,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            return Err(refuse(
                "a directory in this path is not a directory".into(),
                file_hint,
            ))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", given.display())),
    };
    let (kind, through) = match kind {
        Kind::Symlink(link) => match fs::canonicalize(&normalized) {
            Ok(real) => (
                Kind::of(&real)?,
                format!(" (through a symbolic link to {})", real.display()),
            ),
            Err(_) => {
                return Err(refuse(
                    format!(
                        "is a symbolic link to {}, which does not exist",
                        link.display()
                    ),
                    "remove the dangling link or point it at an existing file",
                ))
            }
        },
        other => (other, String::new()),
    };
    match kind {
        Kind::Missing if parent.is_dir() || parent_dir == Parent::Created => Ok(FileWrite::Create),
        Kind::Missing => Err(refuse(
            format!("its directory {} does not exist", parent.display()),
            "create the directory first, or write somewhere else",
        )),
        Kind::RegularFile => {
            let existing = fs::read(&normalized)
                .with_context(|| format!("cannot read {}", given.display()))?;
            if existing == bytes {
                Ok(FileWrite::Unchanged)
            } else {
                Err(refuse(
                    format!("already exists{through} with other content; it is never replaced (it may hold edits)"),
                    "move it away (or write to a new path and compare the two), then run again",
                ))
            }
        }
        Kind::Directory => Err(refuse(
            format!("is a directory{through}, not a file"),
            "give a file name inside it, e.g. DIR/mattermost.toml",
        )),
        other => Err(refuse(
            format!(
                "is {}{through}, not a regular file; it is never replaced",
                other.describe()
            ),
            "leave out the option to print to standard output, and redirect that instead",
        )),
    }
}

/// Check a directory files are created in (`import --secrets-dir`, `backup --to`): it is
/// never replaced, but it must be a directory (or not exist yet).
pub fn inspect_parent_dir(flag: &str, given: &Path) -> Result<()> {
    let refuse = |why: String| -> anyhow::Error {
        Diagnostics::from(refusal(
            flag,
            given.display(),
            why,
            "give a directory (it is created when it does not exist)",
        ))
        .into()
    };
    match Kind::of(given) {
        Ok(Kind::Missing | Kind::Directory) => Ok(()),
        Ok(Kind::Symlink(link)) => match fs::metadata(given) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(refuse(format!(
                "is a symbolic link to {}, which is not a directory",
                link.display()
            ))),
            Err(_) => Err(refuse(format!(
                "is a symbolic link to {}, which does not exist",
                link.display()
            ))),
        },
        Ok(other) => Err(refuse(format!("is {}, not a directory", other.describe()))),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            Err(refuse("a directory in this path is not a directory".into()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", given.display())),
    }
}

/// The directory the unit names (`--install-dir`, or the absolute `--out`): nothing is
/// written there, but it lands in `ExecStart=`, so it must be an absolute path with no
/// blanks, control characters, quotes or backslashes (as every path in the config), and no
/// `.` or `..` component.
pub fn check_install_dir(flag: &str, dir: &str) -> Result<(), Diagnostic> {
    let plain = Path::new(dir)
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && !dir.split('/').any(|c| c == "." || c == "..");
    let safe = !dir
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if dir.starts_with('/') && plain && safe {
        return Ok(());
    }
    let hint = if flag == "--install-dir" {
        "give the absolute path DIR will have on the target host, e.g. --install-dir /etc/gitlab-mattermost"
    } else {
        "the unit names this directory: render to a path without blanks or quotes, or give --install-dir"
    };
    Err(refusal(
        flag,
        format!("{dir:?}"),
        "is not an absolute path without blanks, quotes, backslashes, control characters, `.` or `..`, as the unit needs",
        hint,
    ))
}

/// Check a file a command owns and replaces as a whole (the OAuth id and secret files, a
/// webhook's URL file, the state of `integrations sync`). It may be missing (its directory
/// is created) or a regular file; refused: a path naming no file, one of `others` (the
/// config files, files of ours with another role, files the command reads), a symbolic
/// link (it would be replaced by the file, leaving what it points to stale), a directory,
/// a device, a FIFO, a socket, and a path through something that is not a directory.
/// The refusal names `key`, the setting that gives the path.
pub fn inspect_owned_file(key: &str, given: &Path, others: &[Input]) -> Result<(), Diagnostic> {
    let hint = "give it a path of its own, a regular file (or none yet) used for nothing else";
    let refuse = |why: String| refusal(key, given.display(), why, hint);
    let (parent, name) = split_name(given).map_err(|why| refuse(format!("{why}, not a file")))?;
    let normalized = parent.join(name);
    if let Some(other) = others.iter().find(|o| same_path(&o.path, &normalized)) {
        return Err(refuse(format!(
            "is {}; it is never written over",
            other.what
        )));
    }
    let kind = match Kind::of(&normalized) {
        Ok(k) => k,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            return Err(refuse("a directory in this path is not a directory".into()))
        }
        Err(e) => return Err(refuse(format!("cannot be inspected ({e})"))),
    };
    match kind {
        Kind::Missing => match nearest_existing(&parent) {
            Some(dir) if !dir.is_dir() => {
                Err(refuse(format!("{} is not a directory", dir.display())))
            }
            _ => Ok(()),
        },
        Kind::RegularFile => Ok(()),
        Kind::Symlink(link) => Err(refuse(format!(
            "is a symbolic link to {}; a file this command writes is never written through a link",
            link.display()
        ))),
        other => Err(refuse(format!(
            "is {}, not a regular file; it is never replaced",
            other.describe()
        ))),
    }
}

/// The nearest ancestor of `dir` (itself included) that exists, without following a final
/// symlink; `None` when nothing does.
fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(dir).ok()?;
    let mut p = absolute.as_path();
    loop {
        if fs::symlink_metadata(p).is_ok() {
            return Some(p.to_path_buf());
        }
        p = p.parent()?;
    }
}

/// Whether two paths name the same file: the same existing file, or (when missing) the
/// same name in the same directory, symlinks in the directories resolved.
pub fn same_path(a: &Path, b: &Path) -> bool {
    same_file(a, b) || matches!((resolved(a), resolved(b)), (Some(x), Some(y)) if x == y)
}

/// `path` with its directory made absolute and resolved as far as it exists.
fn resolved(path: &Path) -> Option<PathBuf> {
    let (parent, name) = split_name(path).ok()?;
    let absolute = std::path::absolute(&parent).ok()?;
    let mut existing = absolute.as_path();
    let mut below = Vec::new();
    let base = loop {
        if let Ok(c) = fs::canonicalize(existing) {
            break c;
        }
        below.push(existing.file_name()?.to_os_string());
        existing = existing.parent()?;
    };
    let mut out = base;
    for c in below.into_iter().rev() {
        out.push(c);
    }
    out.push(name);
    Some(out)
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_can_be_replaced() {
        for (path, want) in [
            ("out", Ok((".", "out"))),
            ("a/b/", Ok(("a", "b"))),
            ("a/./b/.", Ok(("a", "b"))),
            ("/", Err("is the root directory")),
            (".", Err("is the current directory")),
            ("./", Err("is the current directory")),
            ("..", Err("is a parent directory (`..`)")),
            ("a/..", Err("is a parent directory (`..`)")),
            ("", Err("is an empty path")),
        ] {
            let got = split_name(Path::new(path));
            let got = got
                .as_ref()
                .map(|(p, n)| (p.to_str().unwrap_or(""), n.to_str().unwrap_or("")))
                .map_err(|e| *e);
            assert_eq!(got, want, "{path:?}");
        }
    }

    #[test]
    fn the_root_and_proc_are_mount_points_a_fresh_directory_is_not() {
        assert!(is_mount_point(Path::new("/")).unwrap_or(false));
        assert!(is_mount_point(Path::new("/proc")).unwrap_or(false));
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!is_mount_point(dir.path()).expect("stat"));
    }
}
