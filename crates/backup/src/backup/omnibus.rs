//! `restore --omnibus-database FILE --omnibus-files FILE`: the backup GitLab told Omnibus
//! admins to take of its bundled Mattermost ("Back up GitLab Mattermost"):
//!
//! ```sh
//! sudo -u gitlab-psql -- /opt/gitlab/embedded/bin/pg_dump -h /var/opt/gitlab/postgresql mattermost_production | gzip > mattermost_dbdump_$(date --rfc-3339=date).sql.gz
//! sudo tar -zcvf mattermost_data_$(date --rfc-3339=date).gz -C /var/opt/gitlab/mattermost data config.json
//! ```
//!
//! A plain SQL dump, taken without `--no-owner`: every object comes with
//! `ALTER … OWNER TO gitlab_mattermost`, and privileges with `GRANT … TO gitlab_mattermost`.
//! The files archive holds `data/…` and `config.json`.
//!
//! Nothing is changed before both files are read through and checked: the archive may only
//! hold `data/…` and `config.json` (no absolute paths, no `..`, no links leading out of
//! `data/`, no devices), and the dump may hold no psql command besides pg_dump's own
//! `\restrict` lines (psql would run `\!` as a shell command). Then the archive is unpacked
//! into a staging directory beside the files directory, the dump is restored in one
//! transaction, the files are swapped in, and the result is checked: the rows of every table
//! the dump filled, every object owned by the service's role, every file's checksum.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::{
    chown_tree, config_json, create_database, data_source, drop_database, files_directory,
    last_line, move_aside, not_empty, pg_command, spawn_error, user_tables, utc_stamp,
};
use crate::diag::{Diagnostic, Diagnostics};
use crate::schema::DatabaseKind;
use crate::tools::hex;
use crate::users;
use crate::validate::Plan;

const DATA: &str = "data";
const CONFIG_JSON: &str = "config.json";

/// Run the restore; refusals (exit 2) come before anything is changed.
pub fn restore(plan: &Plan, database: &Path, files: &Path, force: bool) -> Result<()> {
    let mut refusals = Diagnostics::default();
    if let Some(running) = mattermost_running(plan) {
        refusals.push(
            Diagnostic::new("", format!("Mattermost is running ({running})"))
                .with_hint("stop it first: `systemctl stop mattermost.service`"),
        );
    }
    let members = match read_archive(files, &mut |_, _| Ok(())) {
        Ok(members) => {
            for problem in check_members(&members) {
                refusals.push(
                    Diagnostic::new("--omnibus-files", format!("{}: {problem}", files.display()))
                        .with_hint("an Omnibus files archive holds only data/… and config.json (`tar -zcvf FILE -C /var/opt/gitlab/mattermost data config.json`)"),
                );
            }
            members
        }
        Err(e) => {
            refusals.push(
                Diagnostic::new("--omnibus-files", format!("{}: {e:#}", files.display()))
                    .with_hint("name the mattermost_data_DATE.gz of the backup"),
            );
            Vec::new()
        }
    };
    let dump = match scan_dump(database) {
        Ok(d) => Some(d),
        Err(e) => {
            refusals.push(
                Diagnostic::new("--omnibus-database", format!("{}: {e:#}", database.display()))
                    .with_hint("name the mattermost_dbdump_DATE.sql.gz of the backup (a plain, gzipped pg_dump)"),
            );
            None
        }
    };
    let owner = service_owner(plan, &mut refusals);
    let db = &plan.config.database;
    let tables = user_tables(plan)?;
    match tables {
        None if db.kind == DatabaseKind::External => refusals.push(
            Diagnostic::new(
                "database.name",
                format!(
                    "database {} does not exist on {}",
                    db.name,
                    db.host.as_deref().unwrap_or_default()
                ),
            )
            .with_hint(format!("create it there owned by {}, then restore", db.user)),
        ),
        Some(n) if n > 0 && !force => refusals.push(
            Diagnostic::new(
                "database.name",
                format!("database {} already has {n} table(s)", db.name),
            )
            .with_hint(format!(
                "restore into an empty database: `dropdb {}` first, or pass --force to drop and create it again",
                db.name
            )),
        ),
        Some(n) if n > 0 && db.kind == DatabaseKind::External => refusals.push(
            Diagnostic::new(
                "database.name",
                format!("database {} already has {n} table(s); the dump cannot replace them", db.name),
            )
            .with_hint(format!(
                "drop and create it again on {}, owned by {}, then restore",
                db.host.as_deref().unwrap_or_default(),
                db.user
            )),
        ),
        _ => {}
    }
    let files_dir = files_directory(plan);
    let has_data = members.iter().any(|m| m.under_data().is_some());
    let has_config = members.iter().any(|m| m.path == Path::new(CONFIG_JSON));
    let cfg = config_json(plan);
    if !force {
        if let Some(dir) = files_dir.as_ref().filter(|d| has_data && not_empty(d)) {
            refusals.push(
                Diagnostic::new(
                    "file_storage.directory",
                    format!("{} is not empty", dir.display()),
                )
                .with_hint("pass --force to move it aside (it is kept, not deleted)"),
            );
        }
        if has_config && fs::symlink_metadata(&cfg).is_ok() {
            refusals.push(
                Diagnostic::new("directories.config", format!("{} exists", cfg.display()))
                    .with_hint("pass --force to move it aside (it is kept, not deleted)"),
            );
        }
    }
    let Some(dump) = dump else {
        return Err(refusals.into());
    };
    if !refusals.is_empty() {
        return Err(refusals.into());
    }
    println!(
        "read {}: {} table(s) with data, {} row(s)",
        database.display(),
        dump.tables.len(),
        dump.tables.iter().map(|(_, n)| n).sum::<u64>()
    );
    println!("read {}: {} entries", files.display(), members.len());

    // Unpacked next to where it goes (one file system, so the swap is a rename); removed on
    // every error path until it is renamed into place.
    let stamp = utc_stamp(SystemTime::now());
    let mut before = format!("database {} is as it was", db.name);
    let staged = stage(
        plan,
        files,
        &members,
        files_dir.as_deref().filter(|_| has_data),
    )
    .with_context(|| format!("nothing was restored: {before}"))?;

    match tables {
        Some(n) if n > 0 => {
            drop_database(plan).with_context(|| format!("nothing was restored: {before}"))?;
            before = format!(
                "database {} was dropped (--force) and does not exist",
                db.name
            );
            create_database(plan).with_context(|| format!("nothing was restored: {before}"))?;
            before = format!(
                "database {} was dropped (--force) and created again, empty",
                db.name
            );
            println!("dropped and created database {} again", db.name);
        }
        None => {
            create_database(plan).with_context(|| format!("nothing was restored: {before}"))?;
            before = format!(
                "database {} did not exist; it was created, and is empty",
                db.name
            );
            println!("created database {}", db.name);
        }
        _ => {}
    }
    let dropped = restore_dump(plan, database, &before)?;
    println!(
        "restored database {} from {} as role {} ({dropped} ownership and privilege statements of the old role left out)",
        db.name,
        database.display(),
        db.user
    );

    let after = || -> Result<()> {
        let mut restored_files = None;
        if let (Some(dir), Some(data)) = (&files_dir, staged.data) {
            move_aside(dir, &stamp)?;
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                data.path(),
                rustix::fs::CWD,
                dir,
                rustix::fs::RenameFlags::NOREPLACE,
            )
            .with_context(|| {
                format!(
                    "cannot rename {} to {}",
                    data.path().display(),
                    dir.display()
                )
            })?;
            let _ = data.keep();
            if let Some((uid, gid)) = owner {
                chown_tree(dir, uid, gid)?;
            }
            println!("restored {} ({} files)", dir.display(), staged.sums.len());
            restored_files = Some(dir.clone());
        } else if has_data {
            println!(
                "note: files are kept in S3 (file_storage.driver): upload the archive's data/ to the bucket yourself"
            );
        }
        if let Some(tmp) = staged.config {
            move_aside(&cfg, &stamp)?;
            tmp.persist(&cfg)
                .with_context(|| format!("cannot write {}", cfg.display()))?;
            if let Some((uid, gid)) = owner {
                chown_tree(&cfg, uid, gid)?;
            }
            println!("restored {}", cfg.display());
        }

        verify_database(plan, &dump)?;
        if let Some(dir) = restored_files {
            verify_files(&dir, &staged.sums)?;
        }
        Ok(())
    };
    after().with_context(|| {
        format!(
            "database {} WAS restored from the dump (committed), but what followed failed (what was replaced is kept as *.before-restore-*)",
            db.name
        )
    })?;
    println!("restore complete: start Mattermost (`systemctl start mattermost.service`)");
    Ok(())
}

/// What is known to run Mattermost: a process running the configured server binary, or an
/// active unit.
fn mattermost_running(plan: &Plan) -> Option<String> {
    let server = PathBuf::from(plan.config.mattermost.server_binary());
    let server = fs::canonicalize(&server).unwrap_or(server);
    if let Ok(procs) = fs::read_dir("/proc") {
        for e in procs.flatten() {
            let name = e.file_name();
            if !name.as_bytes().iter().all(u8::is_ascii_digit) {
                continue;
            }
            if fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == server) {
                return Some(format!(
                    "process {} runs {}",
                    name.to_string_lossy(),
                    server.display()
                ));
            }
        }
    }
    let active = Command::new("systemctl")
        .args(["is-active", "--quiet", "mattermost.service"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    active.then(|| "mattermost.service is active".to_string())
}

/// The uid and gid restored files get: the service account's, when running as root (which
/// is what can give files away). A missing account is a refusal.
fn service_owner(plan: &Plan, refusals: &mut Diagnostics) -> Option<(u32, u32)> {
    if users::effective_uid() != 0 {
        return None;
    }
    let a = &plan.config.account;
    let user = users::lookup(&a.user);
    let group = users::lookup_group(&a.group);
    match (user, group) {
        (Some(u), Some(g)) => Some((u.uid, g)),
        _ => {
            refusals.push(
                Diagnostic::new(
                    "account.user",
                    format!(
                        "the service account {}:{} does not exist, so the restored files cannot be given to it",
                        a.user, a.group
                    ),
                )
                .with_hint("create it first: `gitlab-mattermost apply CONFIG`"),
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// The files archive: a gzipped tar, read without any tar program.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink(PathBuf),
    Hardlink(Vec<u8>),
    /// A device, FIFO, sparse file or another type that is never restored.
    Other(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    /// As in the archive, `./` and empty components dropped; empty for `.` itself.
    path: PathBuf,
    /// The name as stored, when it is absolute or climbs out (refused).
    bad_name: Option<String>,
    kind: Kind,
    mode: u32,
    size: u64,
}

impl Member {
    /// The path below `data/`, for a member of `data/` (empty for `data` itself).
    fn under_data(&self) -> Option<&Path> {
        if self.bad_name.is_some() {
            return None;
        }
        self.path.strip_prefix(DATA).ok()
    }
}

const BLOCK: usize = 512;

/// Read every member of a gzipped tar; `visit` gets each member with its data. GNU long
/// names (`L`, `K`) and pax headers (`x`) are applied to the member that follows them.
fn read_archive(
    path: &Path,
    visit: &mut dyn FnMut(&Member, &mut dyn Read) -> Result<()>,
) -> Result<Vec<Member>> {
    let file = super::inspect::open_regular(path, true)?;
    let mut r = flate2::read::GzDecoder::new(BufReader::new(file));
    let mut members = Vec::new();
    let (mut long_name, mut long_link): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut header = [0u8; BLOCK];
    loop {
        if let Err(e) = r.read_exact(&mut header) {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                bail!("the archive ends without its end marker: it is truncated");
            }
            return Err(e).context("is not a gzipped tar archive");
        }
        if header.iter().all(|&b| b == 0) {
            break;
        }
        check_checksum(&header)?;
        let typeflag = header[156];
        let mut size = number(&header[124..136])?;
        if let Some(s) = pax.get("size") {
            size = std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse().ok())
                .context("a pax header has a bad size")?;
        }
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        match typeflag {
            b'L' | b'K' | b'x' | b'g' => {
                if size > 1 << 20 {
                    bail!("an extended header of {size} bytes is not plausible");
                }
                let mut data = vec![0u8; padded as usize];
                r.read_exact(&mut data)
                    .context("the archive is truncated")?;
                data.truncate(size as usize);
                match typeflag {
                    b'L' => long_name = Some(cstr(&data).to_vec()),
                    b'K' => long_link = Some(cstr(&data).to_vec()),
                    b'x' => pax.extend(pax_records(&data)?),
                    _ => {} // global pax header: nothing in it matters here
                }
                continue;
            }
            _ => {}
        }
        let ustar = &header[257..263] == b"ustar\0";
        let name = match (long_name.take(), pax.remove("path")) {
            (_, Some(p)) => p,
            (Some(n), None) => n,
            (None, None) => {
                let base = cstr(&header[0..100]);
                let prefix = cstr(&header[345..500]);
                if ustar && !prefix.is_empty() {
                    [prefix, b"/", base].concat()
                } else {
                    base.to_vec()
                }
            }
        };
        let link = match (long_link.take(), pax.remove("linkpath")) {
            (_, Some(l)) => l,
            (Some(l), None) => l,
            (None, None) => cstr(&header[157..257]).to_vec(),
        };
        pax.clear();
        let kind = match typeflag {
            b'0' | 0 | b'7' => Kind::File,
            b'5' => Kind::Dir,
            b'2' => Kind::Symlink(PathBuf::from(OsStr::from_bytes(&link))),
            b'1' => Kind::Hardlink(link),
            other => Kind::Other(other as char),
        };
        let (path, bad_name) = match normalize(&name) {
            Ok(p) => (p, None),
            Err(why) => (
                PathBuf::new(),
                Some(format!("{} {why}", String::from_utf8_lossy(&name))),
            ),
        };
        let member = Member {
            path,
            bad_name,
            kind,
            mode: number(&header[100..108])? as u32 & 0o777,
            size: if typeflag == b'0' || typeflag == 0 || typeflag == b'7' {
                size
            } else {
                0
            },
        };
        let mut data = (&mut r).take(padded);
        {
            let mut content = (&mut data).take(member.size);
            visit(&member, &mut content)?;
            io::copy(&mut content, &mut io::sink())?;
        }
        let rest = io::copy(&mut data, &mut io::sink())?;
        if rest + member.size < padded {
            bail!("the archive is truncated");
        }
        members.push(member);
    }
    Ok(members)
}

/// The bytes up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// A tar number: octal text, or base-256 when the high bit of the first byte is set.
fn number(field: &[u8]) -> Result<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = (field[0] & 0x7f) as u64;
        for &b in &field[1..] {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(b as u64))
                .context("a number in a tar header is too large")?;
        }
        return Ok(n);
    }
    let text = String::from_utf8_lossy(cstr(field));
    let text = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8)
        .with_context(|| format!("a tar header holds {text:?}, not a number"))
}

fn check_checksum(header: &[u8; BLOCK]) -> Result<()> {
    let stored = number(&header[148..156])?;
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    if stored != sum {
        bail!("is not a tar archive, or it is damaged (a header checksum does not match)");
    }
    Ok(())
}

/// `LEN key=value\n` records of a pax header.
fn pax_records(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .context("a pax header is damaged")?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > space + 1 && n <= data.len())
            .context("a pax header is damaged")?;
        let record = &data[space + 1..len - 1];
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                record[eq + 1..].to_vec(),
            ));
        }
        data = &data[len..];
    }
    Ok(out)
}

/// A stored name as a relative path, or why it is refused.
fn normalize(name: &[u8]) -> Result<PathBuf, &'static str> {
    if name.starts_with(b"/") {
        return Err("is an absolute path");
    }
    let mut path = PathBuf::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("climbs out of the archive with `..`"),
            p => path.push(OsStr::from_bytes(p)),
        }
    }
    Ok(path)
}

/// Where a link target leads, from the directory `from`, without leaving the archive; `None`
/// when it climbs above the archive's top or passes through one of `links` (whose own
/// target would change where `..` leads).
pub(super) fn resolve(from: &Path, target: &Path, links: &BTreeSet<&Path>) -> Option<PathBuf> {
    let mut out = from.to_path_buf();
    for c in target.components() {
        match c {
            Component::Normal(n) => {
                out.push(n);
                if links.contains(out.as_path()) {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Everything wrong with the archive's members, all at once.
fn check_members(members: &[Member]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut files = BTreeSet::new();
    let links: BTreeSet<&Path> = members
        .iter()
        .filter(|m| matches!(m.kind, Kind::Symlink(_)))
        .map(|m| m.path.as_path())
        .collect();
    for m in members {
        if let Some(bad) = &m.bad_name {
            problems.push(bad.clone());
            continue;
        }
        let shown = m.path.display();
        if m.path.as_os_str().is_empty() {
            continue; // `.` itself
        }
        if !seen.insert(m.path.clone()) {
            problems.push(format!("{shown} appears twice"));
            continue;
        }
        if m.path == Path::new(CONFIG_JSON) {
            if m.kind != Kind::File {
                problems.push(format!("{shown} is not a regular file"));
            }
            continue;
        }
        if m.under_data().is_none() {
            problems.push(format!(
                "{shown} is neither under data/ nor config.json: only those are restored"
            ));
            continue;
        }
        if let Some(link) = m.path.ancestors().skip(1).find(|a| links.contains(a)) {
            problems.push(format!(
                "{shown} lies beneath the symbolic link {}",
                link.display()
            ));
        }
        match &m.kind {
            Kind::File => {
                files.insert(m.path.clone());
            }
            Kind::Dir => {}
            Kind::Symlink(target) => {
                let dir = m.path.parent().unwrap_or(Path::new(""));
                match resolve(dir, target, &links) {
                    Some(to) if target.is_relative() && to.starts_with(DATA) => {}
                    _ => problems.push(format!(
                        "{shown} is a symbolic link to {}, outside data/ or through another link",
                        target.display()
                    )),
                }
            }
            Kind::Hardlink(target) => match normalize(target) {
                Ok(t) if files.contains(&t) => {}
                _ => problems.push(format!(
                    "{shown} is a hard link to {}, which is not a file of data/ before it",
                    String::from_utf8_lossy(target)
                )),
            },
            Kind::Other(t) => problems.push(format!(
                "{shown} is of tar type {t:?} (a device, FIFO or sparse file): only files, directories and links are restored"
            )),
        }
    }
    if problems.is_empty()
        && !members.iter().any(|m| m.under_data().is_some())
        && !seen.contains(Path::new(CONFIG_JSON))
    {
        problems.push(
            "holds neither data/ nor config.json: is it the files archive of the backup?".into(),
        );
    }
    problems
}

/// The archive unpacked, not yet in place.
struct Staged {
    /// The new files directory (a sibling of the configured one), when files are local.
    data: Option<tempfile::TempDir>,
    /// config.json, in the config directory.
    config: Option<tempfile::NamedTempFile>,
    /// Every regular file under data/ with its SHA-256, as read from the archive.
    sums: BTreeMap<PathBuf, String>,
}

fn stage(
    plan: &Plan,
    archive: &Path,
    expected: &[Member],
    files_dir: Option<&Path>,
) -> Result<Staged> {
    let data = match files_dir {
        Some(dir) => {
            let parent = dir.parent().unwrap_or(Path::new("/"));
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
            let name = dir
                .file_name()
                .unwrap_or(OsStr::new("data"))
                .to_string_lossy();
            Some(
                tempfile::Builder::new()
                    .prefix(&format!(".{name}.restore-"))
                    .tempdir_in(parent)
                    .with_context(|| {
                        format!("cannot create a directory in {}", parent.display())
                    })?,
            )
        }
        None => None,
    };
    let cfg = config_json(plan);
    let mut config = None;
    let mut sums = BTreeMap::new();
    let mut dir_modes = Vec::new();
    let mut n = 0;
    read_archive(archive, &mut |m, content| {
        // The archive must be the one checked: it is read a second time.
        if expected.get(n) != Some(m) {
            bail!("{} changed while it was read", archive.display());
        }
        n += 1;
        if m.path == Path::new(CONFIG_JSON) {
            let dir = cfg.parent().unwrap_or(Path::new("/"));
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let mut tmp = tempfile::Builder::new()
                .prefix(".config.json.restore-")
                .tempfile_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            io::copy(content, &mut tmp)?;
            tmp.as_file().sync_all()?;
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o600))?;
            config = Some(tmp);
            return Ok(());
        }
        let (Some(rel), Some(root)) = (m.under_data(), &data) else {
            return Ok(());
        };
        let to = root.path().join(rel);
        match &m.kind {
            Kind::Dir => {
                fs::create_dir_all(&to)
                    .with_context(|| format!("cannot create {}", to.display()))?;
                dir_modes.push((to, m.mode));
            }
            Kind::File => {
                create_parent(&to)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(m.mode)
                    .open(&to)
                    .with_context(|| format!("cannot write {}", to.display()))?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let k = content.read(&mut buf)?;
                    if k == 0 {
                        break;
                    }
                    h.update(&buf[..k]);
                    f.write_all(&buf[..k])
                        .with_context(|| format!("cannot write {}", to.display()))?;
                }
                fs::set_permissions(&to, fs::Permissions::from_mode(m.mode))?;
                sums.insert(rel.to_path_buf(), hex(&h.finalize()));
            }
            Kind::Symlink(target) => {
                create_parent(&to)?;
                std::os::unix::fs::symlink(target, &to)
                    .with_context(|| format!("cannot create {}", to.display()))?;
            }
            Kind::Hardlink(target) => {
                create_parent(&to)?;
                let t = normalize(target).map_err(|e| anyhow::anyhow!("{e}"))?;
                let rel_t = t.strip_prefix(DATA).unwrap_or(&t);
                fs::hard_link(root.path().join(rel_t), &to)
                    .with_context(|| format!("cannot create {}", to.display()))?;
                if let Some(sum) = sums.get(rel_t).cloned() {
                    sums.insert(rel.to_path_buf(), sum);
                }
            }
            Kind::Other(_) => bail!("{} is not restorable", m.path.display()),
        }
        Ok(())
    })?;
    // Modes last: a read-only directory would have refused what goes into it.
    for (dir, mode) in dir_modes.into_iter().rev() {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700))?;
    }
    Ok(Staged { data, config, sums })
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// Every file in place, with the checksum it had in the archive.
fn verify_files(dir: &Path, sums: &BTreeMap<PathBuf, String>) -> Result<()> {
    let mut problems = Vec::new();
    for (rel, want) in sums {
        match super::sha256_file(&dir.join(rel)) {
            Ok(h) if h == *want => {}
            Ok(_) => problems.push(format!("{} does not match the archive", rel.display())),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    let mut found = Vec::new();
    super::walk(dir, dir, &mut found)?;
    if found.len() != sums.len() {
        problems.push(format!(
            "{} holds {} files, the archive {}",
            dir.display(),
            found.len(),
            sums.len()
        ));
    }
    if !problems.is_empty() {
        bail!(
            "the restored files are not what the archive holds: {}",
            problems.join("; ")
        );
    }
    println!(
        "verified {} files in {}: every checksum matches",
        sums.len(),
        dir.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The database dump.

/// What the dump holds and what was left out of it.
#[derive(Debug, Default)]
pub(super) struct DumpSummary {
    /// Every table a COPY block fills, with its rows, in dump order.
    tables: Vec<(String, u64)>,
    /// Roles the dump gave objects to (`ALTER … OWNER TO role`).
    owners: BTreeSet<String>,
    /// Statements left out.
    dropped: usize,
}

/// Read the dump through, as it would be restored, without restoring it.
fn scan_dump(path: &Path) -> Result<DumpSummary> {
    filter_dump(open_dump(path)?, &mut io::sink())
}

fn open_dump(path: &Path) -> Result<impl BufRead> {
    let file = super::inspect::open_regular(path, true)?;
    Ok(BufReader::new(flate2::read::GzDecoder::new(
        BufReader::new(file),
    )))
}

#[derive(Debug, Clone, PartialEq)]
enum Lex {
    Code,
    /// In a string; `true` for an `E'…'` string, where a backslash escapes.
    Single(bool),
    Double,
    Dollar(Vec<u8>),
    Block(u32),
}

/// Copy the dump to `out` statement by statement, leaving out what would give objects to
/// the old role, and refusing psql commands.
///
/// Why filter rather than restore as a superuser and `REASSIGN OWNED` afterwards: the role
/// the dump names (`gitlab_mattermost`) rarely exists on the new server and would have to be
/// created, `REASSIGN OWNED` also moves that role's objects in every other database and its
/// databases themselves, and an external server gives no superuser at all. Restored by the
/// service's own role, every object it creates is its own; what is left out is exactly what
/// would hand objects or privileges to another role: `ALTER … OWNER TO`, `GRANT`/`REVOKE`
/// for a role the dump gave objects to (the owner holds every privilege anyway), `ALTER
/// DEFAULT PRIVILEGES FOR ROLE` and `SET SESSION AUTHORIZATION`. The filter follows SQL's
/// quoting (strings, quoted names, dollar quotes, comments) and COPY data, so text that only
/// looks like such a statement (a message in a post) is never touched.
pub(super) fn filter_dump(mut input: impl BufRead, out: &mut dyn Write) -> Result<DumpSummary> {
    let mut summary = DumpSummary::default();
    let mut line = Vec::new();
    let mut stmt: Vec<u8> = Vec::new();
    let mut lex = Lex::Code;
    let mut copy: Option<(String, u64)> = None;
    let mut line_no = 0u64;
    let mut seen_header = false;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .context("is not a complete gzip file")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line_no <= 5 && line.starts_with(b"-- PostgreSQL database dump") {
            seen_header = true;
        }
        if line_no == 1 && line.starts_with(b"PGDMP") {
            bail!("is a pg_dump archive in custom format, not the plain SQL dump GitLab's backup writes");
        }
        if line_no == 6 && !seen_header {
            bail!("is not a plain SQL dump of pg_dump (no `-- PostgreSQL database dump` header)");
        }
        if let Some((table, rows)) = &mut copy {
            out.write_all(&line)?;
            if line.strip_suffix(b"\n").unwrap_or(&line) == b"\\." {
                summary.tables.push((std::mem::take(table), *rows));
                copy = None;
            } else {
                *rows += 1;
            }
            continue;
        }
        if lex == Lex::Code && significant(&stmt).is_empty() && line.starts_with(b"\\") {
            // pg_dump's own guard lines (since PostgreSQL 17.6, 16.10, 15.14, …).
            if line.starts_with(b"\\restrict ") || line.starts_with(b"\\unrestrict ") {
                out.write_all(&stmt)?;
                stmt.clear();
                out.write_all(&line)?;
                continue;
            }
        }
        let mut i = 0;
        while i < line.len() {
            let c = line[i];
            let next = line.get(i + 1).copied();
            match &mut lex {
                Lex::Code => match c {
                    b'-' if next == Some(b'-') => {
                        stmt.extend_from_slice(&line[i..]);
                        break;
                    }
                    b'/' if next == Some(b'*') => {
                        lex = Lex::Block(1);
                        stmt.extend_from_slice(b"/*");
                        i += 2;
                        continue;
                    }
                    b'\'' => {
                        let e = stmt.last().is_some_and(|b| b.eq_ignore_ascii_case(&b'e'))
                            && !stmt
                                .len()
                                .checked_sub(2)
                                .and_then(|k| stmt.get(k))
                                .is_some_and(|b| is_ident(*b));
                        lex = Lex::Single(e);
                    }
                    b'"' => lex = Lex::Double,
                    b'$' if !stmt.last().is_some_and(|b| is_ident(*b)) => {
                        if let Some(tag) = dollar_tag(&line[i..]) {
                            stmt.extend_from_slice(&tag);
                            i += tag.len();
                            lex = Lex::Dollar(tag);
                            continue;
                        }
                    }
                    b'\\' => bail!(
                        "line {line_no} holds a psql command ({}): a dump of pg_dump has none, and psql would run it",
                        String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).trim()
                    ),
                    b';' => {
                        if let Some(word) = transaction_control(&stmt) {
                            bail!(
                                "line {line_no} holds {word}: it would end the single transaction the dump is restored in, and a dump of pg_dump has none"
                            );
                        }
                        let rest_blank = line[i + 1..].iter().all(u8::is_ascii_whitespace);
                        match statement(&stmt, &mut summary) {
                            Verdict::Keep => {
                                out.write_all(&stmt)?;
                                out.write_all(b";")?;
                            }
                            Verdict::Drop => summary.dropped += 1,
                            Verdict::Copy(table) => {
                                if !rest_blank {
                                    bail!("line {line_no}: a COPY statement must end its line");
                                }
                                out.write_all(&stmt)?;
                                out.write_all(b";\n")?;
                                copy = Some((table, 0));
                                stmt.clear();
                                break;
                            }
                        }
                        stmt.clear();
                        i += 1;
                        continue;
                    }
                    _ => {}
                },
                Lex::Single(e) => {
                    if *e && c == b'\\' && next.is_some() {
                        stmt.extend_from_slice(&line[i..i + 2]);
                        i += 2;
                        continue;
                    }
                    if c == b'\'' {
                        if next == Some(b'\'') {
                            stmt.extend_from_slice(b"''");
                            i += 2;
                            continue;
                        }
                        lex = Lex::Code;
                    }
                }
                Lex::Double => {
                    if c == b'"' {
                        lex = Lex::Code;
                    }
                }
                Lex::Dollar(tag) => {
                    if line[i..].starts_with(tag) {
                        let n = tag.len();
                        stmt.extend_from_slice(&line[i..i + n]);
                        i += n;
                        lex = Lex::Code;
                        continue;
                    }
                }
                Lex::Block(depth) => {
                    if c == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        stmt.extend_from_slice(b"*/");
                        i += 2;
                        if *depth == 0 {
                            lex = Lex::Code;
                        }
                        continue;
                    }
                    if c == b'/' && next == Some(b'*') {
                        *depth += 1;
                        stmt.extend_from_slice(b"/*");
                        i += 2;
                        continue;
                    }
                }
            }
            stmt.push(c);
            i += 1;
        }
    }
    if !seen_header {
        bail!("is not a plain SQL dump of pg_dump (no `-- PostgreSQL database dump` header)");
    }
    if copy.is_some() || lex != Lex::Code || !significant(&stmt).is_empty() {
        bail!("ends in the middle of a statement: the dump is truncated");
    }
    out.write_all(&stmt)?;
    out.flush()?;
    Ok(summary)
}

/// The statement's transaction control keyword, if it is one.
fn transaction_control(stmt: &[u8]) -> Option<String> {
    let text = significant(stmt).to_ascii_uppercase();
    let mut words = text.split_ascii_whitespace();
    let first = words.next()?;
    let second = words.next().unwrap_or("");
    match first {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" => Some(first.to_string()),
        "PREPARE" if second == "TRANSACTION" => Some("PREPARE TRANSACTION".to_string()),
        _ => None,
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// `$tag$` or `$$` at the start of `s`.
fn dollar_tag(s: &[u8]) -> Option<Vec<u8>> {
    let end = s[1..].iter().position(|&b| b == b'$')? + 1;
    let tag = &s[1..end];
    let ok = tag.is_empty()
        || (!tag[0].is_ascii_digit() && tag.iter().all(|&b| is_ident(b) && b != b'$'));
    ok.then(|| s[..=end].to_vec())
}

/// A statement without its leading comment lines and blanks.
fn significant(stmt: &[u8]) -> String {
    let text = String::from_utf8_lossy(stmt);
    let mut rest: &str = &text;
    loop {
        let t = rest.trim_start();
        if let Some(after) = t.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else {
            return t.trim_end().to_string();
        }
    }
}

enum Verdict {
    Keep,
    Drop,
    /// A `COPY … FROM stdin` of this table: data lines follow.
    Copy(String),
}

/// A role name as written: unquoted (`""` inside quotes is one `"`).
fn role_name(word: &str) -> String {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(q) => q.replace("\"\"", "\""),
        None => word.to_ascii_lowercase(),
    }
}

fn statement(stmt: &[u8], summary: &mut DumpSummary) -> Verdict {
    let text = significant(stmt);
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = |k: usize| upper.get(k).map(String::as_str).unwrap_or("");
    let n = words.len();
    if at(0) == "ALTER" && n >= 4 && at(n - 3) == "OWNER" && at(n - 2) == "TO" {
        summary.owners.insert(role_name(words[n - 1]));
        return Verdict::Drop;
    }
    let grantee = |keyword: &str| {
        upper
            .iter()
            .rposition(|w| w == keyword)
            .and_then(|k| words.get(k + 1))
            .map(|w| role_name(w.trim_end_matches(',')))
    };
    let old_role = |r: Option<String>| r.is_some_and(|r| summary.owners.contains(&r));
    if (at(0) == "GRANT" && old_role(grantee("TO")))
        || (at(0) == "REVOKE" && old_role(grantee("FROM")))
    {
        return Verdict::Drop;
    }
    if at(0) == "ALTER" && at(1) == "DEFAULT" && at(2) == "PRIVILEGES" && at(3) == "FOR" {
        return Verdict::Drop;
    }
    if (at(0) == "SET" || at(0) == "RESET")
        && upper[1..].starts_with(&["SESSION".into(), "AUTHORIZATION".into()])
    {
        return Verdict::Drop;
    }
    if at(0) == "COPY" && n >= 2 && at(n - 2) == "FROM" && at(n - 1) == "STDIN" {
        return Verdict::Copy(copy_table(&text));
    }
    Verdict::Keep
}

/// The table of `COPY schema."table" (cols) FROM stdin`, as written.
fn copy_table(text: &str) -> String {
    let rest = text[4..].trim_start();
    let mut quoted = false;
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            !quoted && (c.is_whitespace() || c == '(')
        })
        .map_or(rest.len(), |(k, _)| k);
    rest[..end].to_string()
}

/// Feed the filtered dump to psql as the service's role, in one transaction, stopping at the
/// first error; psql is stopped before its input ends when the dump cannot be read through
/// (so nothing is committed). Returns how many statements were left out.
fn restore_dump(plan: &Plan, dump: &Path, before: &str) -> Result<usize> {
    let input = open_dump(dump).with_context(|| format!("nothing was restored: {before}"))?;
    let what = format!("the dump {}", dump.display());
    let summary = super::feed_psql(plan, &what, before, |stdin| {
        filter_dump(input, stdin).with_context(|| format!("cannot read {}", dump.display()))
    })?;
    Ok(summary.dropped)
}

/// One query as the service's role; its output lines.
fn query(plan: &Plan, sql: &str) -> Result<Vec<String>> {
    let mut pg = pg_command(plan, "psql")?;
    pg.cmd
        .args([
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--set",
            "ON_ERROR_STOP=1",
            "--command",
        ])
        .arg(sql)
        .arg("--dbname")
        .arg(data_source(plan)?);
    let out = pg.cmd.output().map_err(|e| spawn_error("psql", e))?;
    if !out.status.success() {
        bail!(
            "cannot check the restored database: {}",
            last_line(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The objects of the database's own schemas with their owners.
const OWNERS: &str = "SELECT kind || ' ' || name || '|' || owner FROM (\
    SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'S' THEN 'sequence' \
      WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' \
      WHEN 'I' THEN 'index' ELSE 'relation' END AS kind, \
      n.nspname || '.' || c.relname AS name, pg_get_userbyid(c.relowner) AS owner \
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_to%' \
    UNION ALL SELECT 'function', n.nspname || '.' || p.proname, pg_get_userbyid(p.proowner) \
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
    UNION ALL SELECT 'type', n.nspname || '.' || t.typname, pg_get_userbyid(t.typowner) \
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_to%' \
    UNION ALL SELECT 'schema', nspname, pg_get_userbyid(nspowner) FROM pg_namespace \
      WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public') \
      AND nspname NOT LIKE 'pg\\_to%' AND nspname NOT LIKE 'pg\\_temp%' \
    ) o ORDER BY 1";

/// Every table has the rows the dump gave it, and every object belongs to the service role.
fn verify_database(plan: &Plan, dump: &DumpSummary) -> Result<()> {
    let role = &plan.config.database.user;
    let mut problems = Vec::new();
    if !dump.tables.is_empty() {
        let sql = dump
            .tables
            .iter()
            .enumerate()
            .map(|(k, (t, _))| format!("SELECT {k}, count(*) FROM {t}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let counts: BTreeMap<usize, u64> = query(plan, &sql)?
            .iter()
            .filter_map(|l| {
                let (k, n) = l.split_once('|')?;
                Some((k.parse().ok()?, n.parse().ok()?))
            })
            .collect();
        for (k, (table, want)) in dump.tables.iter().enumerate() {
            match counts.get(&k) {
                Some(n) if n == want => {}
                Some(n) => problems.push(format!("{table} has {n} rows, the dump {want}")),
                None => problems.push(format!("{table} was not counted")),
            }
        }
    }
    let objects = query(plan, OWNERS)?;
    let foreign: Vec<&String> = objects
        .iter()
        .filter(|l| l.rsplit_once('|').is_none_or(|(_, o)| o != role))
        .collect();
    for f in &foreign {
        let (what, owner) = f.rsplit_once('|').unwrap_or((f, "?"));
        problems.push(format!("{what} is owned by {owner}, not {role}"));
    }
    if !problems.is_empty() {
        bail!(
            "the restored database is not what the dump holds: {}",
            problems.join("; ")
        );
    }
    println!(
        "verified database {}: {} table(s) with {} row(s) as in the dump; {} object(s), all owned by {role}",
        plan.config.database.name,
        dump.tables.len(),
        dump.tables.iter().map(|(_, n)| n).sum::<u64>(),
        objects.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(sql: &str) -> (String, DumpSummary) {
        let dump = format!("--\n-- PostgreSQL database dump\n--\n\n{sql}");
        let mut out = Vec::new();
        let s = filter_dump(dump.as_bytes(), &mut out).unwrap_or_else(|e| panic!("{e:#}"));
        (String::from_utf8(out).unwrap(), s)
    }

    #[test]
    fn ownership_and_grants_of_the_old_role_are_left_out() {
        let (out, s) = filtered(
            "CREATE TABLE public.posts (id integer, message text);\n\
             ALTER TABLE public.posts OWNER TO gitlab_mattermost;\n\
             COPY public.posts (id, message) FROM stdin;\n\
             1\tALTER TABLE public.posts OWNER TO gitlab_mattermost;\n\
             2\tit's \\\\ fine\n\
             \\.\n\
             CREATE FUNCTION public.f() RETURNS text AS $_$SELECT 'GRANT ALL ON x TO gitlab_mattermost;'$_$ LANGUAGE sql;\n\
             GRANT ALL ON SCHEMA public TO gitlab_mattermost;\n\
             GRANT SELECT ON TABLE public.posts TO reporting;\n\
             REVOKE ALL ON TABLE public.posts FROM \"gitlab_mattermost\";\n",
        );
        assert!(!out.contains("\nALTER TABLE public.posts OWNER"), "{out}");
        assert!(
            out.contains("1\tALTER TABLE public.posts OWNER TO gitlab_mattermost;\n"),
            "{out}"
        );
        assert!(
            out.contains("'GRANT ALL ON x TO gitlab_mattermost;'$_$ LANGUAGE sql;"),
            "{out}"
        );
        assert!(!out.contains("GRANT ALL ON SCHEMA"), "{out}");
        assert!(
            out.contains("GRANT SELECT ON TABLE public.posts TO reporting;"),
            "{out}"
        );
        assert!(!out.contains("REVOKE"), "{out}");
        assert_eq!(s.tables, [("public.posts".to_string(), 2)]);
        assert_eq!(s.dropped, 3);
        assert!(s.owners.contains("gitlab_mattermost"));
    }

    #[test]
    fn psql_commands_and_truncated_dumps_are_refused() {
        for (sql, says) in [
            ("SELECT 1;\n\\! touch /tmp/x\n", "psql command"),
            ("SELECT 1; \\o /tmp/x\n", "psql command"),
            ("COPY public.t (a) FROM stdin;\n1\n", "truncated"),
            ("SELECT 'open;\n", "truncated"),
            ("SELECT 1;\nCOMMIT;\nSELECT 1/0;\n", "holds COMMIT"),
            ("begin;\n", "holds BEGIN"),
            ("-- x\nRollback ;\n", "holds ROLLBACK"),
            ("END;\n", "holds END"),
            ("PREPARE TRANSACTION 'x';\n", "holds PREPARE TRANSACTION"),
        ] {
            let dump = format!("--\n-- PostgreSQL database dump\n--\n{sql}");
            let err = filter_dump(dump.as_bytes(), &mut io::sink()).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{sql}: {err:#}");
        }
        let err = filter_dump(&b"SELECT 1;\n"[..], &mut io::sink()).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a plain SQL dump"),
            "{err:#}"
        );
        // Only statements that end a transaction; the words inside others are fine.
        let (out, _) = filtered("SELECT 'COMMIT;';\nPREPARE q AS SELECT 1;\n");
        assert!(out.contains("PREPARE q"), "{out}");
        let (out, _) = filtered("\\restrict abc\nSELECT 1;\n\\unrestrict abc\n");
        assert!(out.contains("\\restrict abc\n") && out.contains("\\unrestrict abc\n"));
    }

    #[test]
    fn names_are_normalized_or_refused() {
        assert_eq!(normalize(b"./data//a/./b"), Ok(PathBuf::from("data/a/b")));
        assert_eq!(normalize(b"./"), Ok(PathBuf::new()));
        assert!(normalize(b"/etc/passwd").is_err());
        assert!(normalize(b"data/../../x").is_err());
        let none = BTreeSet::new();
        assert_eq!(
            resolve(Path::new("data/a"), Path::new("../b"), &none),
            Some("data/b".into())
        );
        assert_eq!(
            resolve(Path::new("data"), Path::new("../../x"), &none),
            None
        );
        // A link whose own target is shallower changes where `..` leads: refused.
        let links = BTreeSet::from([Path::new("data/a/b/up")]);
        assert_eq!(
            resolve(Path::new("data"), Path::new("a/b/up/../x"), &links),
            None
        );
    }
}
