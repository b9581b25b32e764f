//! `backup` and `restore`: the database (pg_dump, gzipped), the uploaded files directory,
//! Mattermost's `config.json`, the server and web app plugin directories and every secret file
//! the config names, with a manifest of SHA-256 checksums. The backup directory is 0700 and the
//! secret files in it 0600: it holds what the service needs to start again.
//!
//! A backup is written into a hidden `.NAME.partial-*` directory and renamed to its final
//! name only after the manifest is written and synced (never over anything already there),
//! so a backup directory with a manifest is complete; a failed backup removes its partial
//! directory. `--to` is never replaced: it must be a directory (or not exist yet), and not
//! inside the files directory that is being copied.
//!
//! `restore` never trusts the backup: before it changes anything it verifies everything it
//! will read (see `inspect`) and checks every precondition; the database is restored in one
//! transaction, so it is either the old or the new one, and every failure says which.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::args::{BackupArgs, RestoreArgs};
use super::users;
use crate::schema::{DatabaseKind, FileDriver};
use crate::validate::Plan;
use gitlab_mattermost_core::files;

mod inspect;
mod omnibus;

use super::tools::{last_line, spawn_error};
pub use inspect::verify;

const MANIFEST: &str = "manifest.json";
const FILES_DIR: &str = "files";
const CONFIG_JSON: &str = "config.json";
const SECRETS_DIR: &str = "secrets";
/// The plugin directories: (the name in a backup, the config's directory).
fn plugin_dirs(plan: &Plan) -> [(&'static str, PathBuf); 2] {
    let d = &plan.config.directories;
    [
        ("plugins", PathBuf::from(&d.plugins)),
        ("client-plugins", PathBuf::from(&d.client_plugins)),
    ]
}

/// What a backup holds; written last.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// UTC, `YYYYMMDDTHHMMSSZ`.
    pub created: String,
    pub tool_version: String,
    /// The database dump, relative to the backup directory.
    pub database_dump: String,
    pub database_name: String,
    /// Where the files directory was (for information; restore uses the config).
    pub files_directory: Option<String>,
    pub has_config_json: bool,
    /// Plugin directories copied (`plugins`, `client-plugins`).
    #[serde(default)]
    pub plugins: Vec<String>,
    /// Secret files copied into `secrets/`, by credential name.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The Mattermost the backup was taken of (`mattermost.version`, `mattermost.install_dir`).
    #[serde(default)]
    pub mattermost: Option<Release>,
    pub files: Vec<Entry>,
    /// Symbolic links in the copied directories, with their targets (relative, inside
    /// their own directory tree).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Link {
    pub path: String,
    pub target: String,
}

/// Which Mattermost ran when a backup was taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Release {
    pub version: String,
    pub install_dir: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

pub use gitlab_mattermost_core::lifecycle::utc_stamp;

fn files_directory(plan: &Plan) -> Option<PathBuf> {
    let f = &plan.config.file_storage;
    (f.driver == FileDriver::Local).then(|| {
        f.directory
            .clone()
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(&plan.config.directories.data).join("data"))
    })
}

fn config_json(plan: &Plan) -> PathBuf {
    Path::new(&plan.config.directories.config).join(CONFIG_JSON)
}

/// Refuse a `--to` that is not a directory, or that lies inside the files directory the
/// backup copies (it would copy itself until the disk is full).
fn check_destination(plan: &Plan, to: &Path) -> Result<()> {
    crate::output::target::inspect_parent_dir("--to", to)?;
    let Some(files) = files_directory(plan).and_then(|d| fs::canonicalize(d).ok()) else {
        return Ok(());
    };
    let mut existing = std::path::absolute(to)?;
    let mut below = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(n), Some(p)) => {
                below.push(n.to_os_string());
                existing = p.to_path_buf();
            }
            _ => break,
        }
    }
    let mut resolved = fs::canonicalize(&existing).unwrap_or(existing);
    resolved.extend(below.iter().rev());
    if resolved.starts_with(&files) {
        let d = crate::output::target::refusal(
            "--to",
            to.display(),
            format!(
                "is inside the files directory {} that is being backed up; the backup would copy itself",
                files.display()
            ),
            "back up to a directory outside Mattermost's data, e.g. /var/backups/mattermost",
        );
        return Err(crate::diag::Diagnostics::from(d).into());
    }
    Ok(())
}

/// Run `backup`.
pub fn backup(plan: &Plan, args: &BackupArgs) -> Result<()> {
    let dir = backup_into(plan, &args.to, BACKUP_PREFIX, None)?;
    println!("backup complete: {}", dir.display());
    if let Some(keep) = args.keep {
        for old in prune(&args.to, keep.get())? {
            println!("removed the older backup {}", old.display());
        }
    }
    Ok(())
}

/// The name `backup` gives its directories: `mattermost-backup-<UTC stamp>`.
const BACKUP_PREFIX: &str = "mattermost-backup";

/// Retention: remove all but the `keep` newest complete backups `backup` made in `dir` (a
/// directory named `mattermost-backup-<stamp>`, not a link, holding a manifest; the stamps
/// sort by time). Anything else in `dir` — partial backups, upgrade backups, other files — is
/// left alone. Returns what was removed.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let mut complete: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(BACKUP_PREFIX))
                .is_some_and(|stamp| stamp.starts_with('-') && stamp.len() > 1)
        })
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| {
            p.join(MANIFEST)
                .symlink_metadata()
                .is_ok_and(|m| m.is_file())
        })
        .collect();
    complete.sort();
    let old = complete.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = complete.into_iter().take(old).collect();
    for path in &removed {
        fs::remove_dir_all(path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(removed)
}

/// The directories a backup created to hold itself (`--to` and any missing parents): removed
/// again, when still empty, unless the backup completed, so a failed backup leaves nothing
/// behind.
struct CreatedDirs {
    /// Outermost first.
    dirs: Vec<PathBuf>,
}

impl CreatedDirs {
    fn create(to: &Path) -> Result<CreatedDirs> {
        let mut missing = Vec::new();
        let mut at = Some(to);
        while let Some(dir) = at {
            if dir.as_os_str().is_empty() || dir.symlink_metadata().is_ok() {
                break;
            }
            missing.push(dir.to_path_buf());
            at = dir.parent();
        }
        missing.reverse();
        let mut created = CreatedDirs { dirs: Vec::new() };
        for dir in missing {
            fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            created.dirs.push(dir);
        }
        Ok(created)
    }

    /// The backup is complete: the directories stay.
    fn keep(&mut self) {
        self.dirs.clear();
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        for dir in self.dirs.iter().rev() {
            // Only an empty directory goes: anything in it is someone else's.
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Writes a complete backup into a new `<prefix>-<stamp>` directory of `to` and returns it.
/// `ran` is the Mattermost the data belongs to, when not the config's own (an upgrade backs
/// up what the previous release ran).
pub fn backup_into(plan: &Plan, to: &Path, prefix: &str, ran: Option<Release>) -> Result<PathBuf> {
    check_destination(plan, to)?;
    let stamp = utc_stamp(SystemTime::now());
    let mut created = CreatedDirs::create(to)?;
    let name = format!("{prefix}-{stamp}");
    let final_dir = to.join(&name);
    if final_dir.exists() {
        bail!("{} already exists", final_dir.display());
    }
    // Removed again on every error path (dropped); kept only once renamed.
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(to)
        .with_context(|| format!("cannot create a directory in {}", to.display()))?;
    let staging = partial.path().to_path_buf();

    let db = &plan.config.database;
    let dump = format!("database-{}-{stamp}.sql.gz", db.name);
    dump_database(plan, &staging.join(&dump))?;
    println!("dumped database {} into {dump}", db.name);

    let files_dir = files_directory(plan);
    match &files_dir {
        Some(dir) if dir.exists() => {
            let n = copy_tree(dir, &staging.join(FILES_DIR))?;
            println!("copied {} ({n} files)", dir.display());
        }
        Some(dir) => println!(
            "note: {} does not exist; no files to back up",
            dir.display()
        ),
        None => println!(
            "note: files are kept in S3 (file_storage.driver); back up the bucket separately"
        ),
    }
    let cfg = config_json(plan);
    let has_config_json = cfg.exists();
    if has_config_json {
        copy_file(&cfg, &staging.join(CONFIG_JSON))?;
        println!("copied {}", cfg.display());
    }
    let mut plugins = Vec::new();
    for (name, dir) in plugin_dirs(plan) {
        if dir.is_dir() && !plugins.contains(&name.to_string()) {
            let n = copy_tree(&dir, &staging.join(name))?;
            println!("copied {} ({n} files)", dir.display());
            plugins.push(name.to_string());
        }
    }
    let secrets = copy_secrets(plan, &staging.join(SECRETS_DIR))?;

    let manifest = Manifest {
        format: 1,
        created: stamp,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        database_dump: dump,
        database_name: db.name.clone(),
        files_directory: files_dir.map(|d| d.to_string_lossy().into_owned()),
        has_config_json,
        plugins,
        secrets,
        mattermost: Some(ran.unwrap_or_else(|| Release {
            version: plan.config.mattermost.version.to_string(),
            install_dir: plan.config.mattermost.install_dir.clone(),
        })),
        files: checksums(&staging)?,
        links: links(&staging)?,
    };
    write_manifest(&staging, &manifest)?;
    // NOREPLACE: a plain rename would silently replace an empty directory of that name.
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        &staging,
        rustix::fs::CWD,
        &final_dir,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .with_context(|| {
        format!(
            "cannot rename {} to {}",
            staging.display(),
            final_dir.display()
        )
    })?;
    let _ = partial.keep();
    File::open(to).and_then(|d| d.sync_all()).ok();
    println!(
        "{} files with checksums in {}",
        manifest.files.len(),
        final_dir.display()
    );
    created.keep();
    Ok(final_dir)
}

/// Every secret file the config names, copied 0600 into `dir` under its credential name; a
/// missing file is an error (the backup would not bring the service back).
fn copy_secrets(plan: &Plan, dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for c in &plan.credentials {
        let from = Path::new(&c.path);
        if names.is_empty() {
            fs::create_dir_all(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        let to = dir.join(&c.name);
        let mut src = File::open(from).with_context(|| {
            format!(
                "cannot read the secret file {} ({})",
                from.display(),
                c.name
            )
        })?;
        let mut dst = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&to)
            .with_context(|| format!("cannot write {}", to.display()))?;
        io::copy(&mut src, &mut dst)?;
        dst.sync_all()?;
        names.push(c.name.clone());
    }
    if !names.is_empty() {
        println!("copied {} secret file(s) (mode 0600)", names.len());
    }
    Ok(names)
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST);
    let mut f = File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(serde_json::to_string_pretty(m)?.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    File::open(dir).and_then(|d| d.sync_all())?;
    Ok(())
}

/// Every regular file under `dir` (except the manifest), sorted, with size and SHA-256.
fn checksums(dir: &Path) -> Result<Vec<Entry>> {
    let mut paths = Vec::new();
    walk(dir, dir, &mut paths)?;
    paths.sort();
    paths
        .into_iter()
        .filter(|rel| rel != MANIFEST)
        .map(|rel| {
            let p = dir.join(&rel);
            let size = fs::metadata(&p)?.len();
            Ok(Entry {
                path: rel,
                size,
                sha256: sha256_file(&p)?,
            })
        })
        .collect()
}

/// Every symbolic link under `dir`, sorted, with its target.
fn links(dir: &Path) -> Result<Vec<Link>> {
    fn walk_links(root: &Path, dir: &Path, out: &mut Vec<Link>) -> Result<()> {
        for e in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                walk_links(root, &e.path(), out)?;
            } else if t.is_symlink() {
                if let Ok(rel) = e.path().strip_prefix(root) {
                    out.push(Link {
                        path: rel.to_string_lossy().into_owned(),
                        target: fs::read_link(e.path())?.to_string_lossy().into_owned(),
                    });
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk_links(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(root, &e.path(), out)?;
        } else if t.is_file() {
            if let Ok(rel) = e.path().strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    super::tools::sha256_file(path).with_context(|| format!("cannot read {}", path.display()))
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Copy a directory tree (files, directories with their modes, symlinks as links).
fn copy_tree(from: &Path, to: &Path) -> Result<usize> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mode = fs::metadata(from)?.mode() & 0o7777;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    let mut count = 0;
    for e in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type()?;
        if t.is_dir() {
            count += copy_tree(&src, &dst)?;
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if t.is_file() {
            copy_file(&src, &dst)?;
            count += 1;
        }
    }
    Ok(count)
}

/// A PostgreSQL client command connecting as the service would: as the service user for
/// peer authentication, or with the password file through a private PGPASSFILE.
struct PgCommand {
    cmd: Command,
    /// Keeps the password file alive until the command ran.
    _passfile: Option<tempfile::NamedTempFile>,
}

fn pg_command(plan: &Plan, program: &str) -> Result<PgCommand> {
    let mut cmd = Command::new(program);
    cmd.current_dir("/").arg("--no-password");
    let db = &plan.config.database;
    let mut passfile = None;
    match db.kind {
        DatabaseKind::Local => {
            let service = &plan.config.account.user;
            if users::effective_uid() == 0 && service != "root" {
                let u = users::lookup(service).with_context(|| {
                    format!(
                        "the service user {service} does not exist (peer authentication needs it)"
                    )
                })?;
                cmd.uid(u.uid).gid(u.gid);
            }
        }
        DatabaseKind::External => {
            if let Some(file) = &db.password_file {
                let password = files::read_secret(Path::new(file))?;
                let mut f =
                    tempfile::NamedTempFile::new().context("cannot create a password file")?;
                // Any host, port, database and user: the DSN names them.
                let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
                writeln!(f, "*:*:*:*:{escaped}")?;
                f.flush()?;
                cmd.env("PGPASSFILE", f.path());
                passfile = Some(f);
            }
        }
    }
    Ok(PgCommand {
        cmd,
        _passfile: passfile,
    })
}

fn data_source(plan: &Plan) -> Result<String> {
    plan.env
        .get("MM_SQLSETTINGS_DATASOURCE")
        .cloned()
        .context("no data source in the config")
}

/// `pg_dump` (plain SQL with DROP … IF EXISTS, so a forced restore replaces objects) piped
/// through gzip into `out`.
/// `gitlab-mattermost psql`: PostgreSQL's client on the configured database, as the service
/// role connects (peer authentication as the service account for a local database, the
/// password file for an external one), as Omnibus's `gitlab-psql` did; `extra` goes to psql.
/// Its exit code is psql's.
pub fn psql(plan: &Plan, extra: &[std::ffi::OsString]) -> Result<std::process::ExitCode> {
    let mut pg = pg_command(plan, "psql")?;
    pg.cmd.arg("--dbname").arg(data_source(plan)?).args(extra);
    let status = pg.cmd.status().map_err(|e| spawn_error("psql", e))?;
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1);
    Ok(std::process::ExitCode::from(code))
}

fn dump_database(plan: &Plan, out: &Path) -> Result<()> {
    let mut pg = pg_command(plan, "pg_dump")?;
    pg.cmd
        .args(["--clean", "--if-exists", "--dbname"])
        .arg(data_source(plan)?)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = pg.cmd.spawn().map_err(|e| spawn_error("pg_dump", e))?;
    let file = File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let copied = match child.stdout.take() {
        Some(mut stdout) => io::copy(&mut stdout, &mut gz),
        None => Ok(0),
    };
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("pg_dump failed: {}", last_line(&output.stderr));
    }
    copied.with_context(|| format!("cannot write {}", out.display()))?;
    gz.finish()?.sync_all()?;
    Ok(())
}

/// Run `restore`: verify, check every precondition, then restore the database, the files
/// and config.json.
pub fn restore(plan: &Plan, args: &RestoreArgs) -> Result<()> {
    match (&args.from, &args.omnibus_database, &args.omnibus_files) {
        (Some(from), _, _) => restore_from(plan, from, args.force, false),
        (None, Some(database), Some(files)) => omnibus::restore(plan, database, files, args.force),
        _ => {
            bail!("name a backup: --from DIR, or --omnibus-database FILE with --omnibus-files FILE")
        }
    }
}

/// Restore our own backup. `dropped`: the caller dropped the database just before (a
/// rollback), which every failure message says.
fn restore_from(plan: &Plan, from: &Path, force: bool, dropped: bool) -> Result<()> {
    let m = verify(from)?;
    println!("verified {} files in {}", m.files.len(), from.display());
    let db = &plan.config.database;
    let mut before = if dropped {
        format!(
            "database {} was dropped before the restore and does not exist",
            db.name
        )
    } else {
        format!("database {} is as it was", db.name)
    };
    let tables =
        match user_tables(plan).with_context(|| format!("nothing was restored: {before}"))? {
            Some(n) => n,
            None => {
                create_database(plan).with_context(|| format!("nothing was restored: {before}"))?;
                println!("created database {}", db.name);
                before = if dropped {
                    format!(
                        "database {} was dropped before the restore and created again, empty",
                        db.name
                    )
                } else {
                    format!(
                        "database {} did not exist; it was created, and is empty",
                        db.name
                    )
                };
                0
            }
        };
    if tables > 0 && !force {
        bail!(
            "database {} already has {tables} table(s): refusing to restore over it (drop it with `dropdb {}`, or pass --force); nothing was restored",
            db.name,
            db.name
        );
    }
    let files_dir = files_directory(plan);
    let backup_files = from.join(FILES_DIR);
    let has_files = fs::symlink_metadata(&backup_files).is_ok_and(|md| md.is_dir());
    let cfg = config_json(plan);
    if !force {
        if let Some(dir) = files_dir.as_ref().filter(|d| has_files && not_empty(d)) {
            bail!(
                "{} is not empty: refusing to restore over it (pass --force to move it aside); nothing was restored: {before}",
                dir.display()
            );
        }
        if m.has_config_json && fs::symlink_metadata(&cfg).is_ok() {
            bail!(
                "{} exists: refusing to restore over it (pass --force to move it aside); nothing was restored: {before}",
                cfg.display()
            );
        }
    }

    let dump = m
        .files
        .iter()
        .find(|e| e.path == m.database_dump)
        .context("the database dump is not in the manifest")?;
    restore_database(plan, &from.join(&m.database_dump), dump, &before)?;
    println!("restored database {} from {}", db.name, m.database_dump);
    let files = || -> Result<()> {
        let stamp = utc_stamp(SystemTime::now());
        if let (Some(dir), true) = (&files_dir, has_files) {
            move_aside(dir, &stamp)?;
            let n = copy_tree(&backup_files, dir)?;
            give_to_service_user(plan, dir)?;
            println!("restored {} ({n} files)", dir.display());
        }
        for (name, dir) in plugin_dirs(plan) {
            if m.plugins.iter().any(|p| p == name) {
                move_aside(&dir, &stamp)?;
                let n = copy_tree(&from.join(name), &dir)?;
                give_to_service_user(plan, &dir)?;
                println!("restored {} ({n} files)", dir.display());
            }
        }
        if m.has_config_json {
            move_aside(&cfg, &stamp)?;
            if let Some(parent) = cfg.parent() {
                fs::create_dir_all(parent)?;
            }
            copy_file(&from.join(CONFIG_JSON), &cfg)?;
            give_to_service_user(plan, &cfg)?;
            println!("restored {}", cfg.display());
        }
        Ok(())
    };
    files().with_context(|| {
        format!(
            "database {} WAS restored from the backup (committed), but restoring the files failed (what was replaced is kept as *.before-restore-*)",
            db.name
        )
    })?;
    println!("restore complete: start Mattermost");
    Ok(())
}

/// Restore a backup in place of what is there: the database is dropped first (the dump must
/// land in an empty one: a newer release's tables would otherwise stay), the files,
/// config.json and plugins are moved aside. For `rollback`, with Mattermost stopped.
pub fn restore_replacing(plan: &Plan, from: &Path) -> Result<()> {
    verify(from)?;
    drop_database(plan)?;
    println!("dropped database {}", plan.config.database.name);
    restore_from(plan, from, true, true)
}

/// Drop the local database as the `postgres` OS user (connections are closed: `--force`).
fn drop_database(plan: &Plan) -> Result<()> {
    let db = &plan.config.database;
    if db.kind == DatabaseKind::External {
        bail!(
            "database {} is on {}: drop and recreate it there (owned by {}), then restore",
            db.name,
            db.host.as_deref().unwrap_or_default(),
            db.user
        );
    }
    as_postgres(
        plan,
        "dropdb",
        &["--if-exists", "--force", &db.name],
        "cannot drop database",
    )
}

fn not_empty(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

/// Keep what was there: rename it to `<path>.before-restore-<stamp>`.
fn move_aside(path: &Path, stamp: &str) -> Result<()> {
    if !path.exists() || (path.is_dir() && !not_empty(path)) {
        if path.is_dir() {
            fs::remove_dir(path).ok();
        }
        return Ok(());
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".before-restore-{stamp}"));
    fs::rename(path, &aside).with_context(|| format!("cannot move {} aside", path.display()))?;
    println!(
        "moved {} to {}",
        path.display(),
        Path::new(&aside).display()
    );
    Ok(())
}

/// Mattermost must own what it writes to; as root, hand restored files to the service user.
fn give_to_service_user(plan: &Plan, path: &Path) -> Result<()> {
    if users::effective_uid() != 0 {
        return Ok(());
    }
    let Some(u) = users::lookup(&plan.config.account.user) else {
        return Ok(());
    };
    chown_tree(path, u.uid, u.gid)
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot chown {}", path.display()))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for e in fs::read_dir(path)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The number of user tables, or `None` when the database does not exist.
fn user_tables(plan: &Plan) -> Result<Option<u64>> {
    let mut pg = pg_command(plan, "psql")?;
    pg.cmd
        .args(["--no-psqlrc", "--tuples-only", "--no-align", "--command"])
        .arg("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        .arg("--dbname")
        .arg(data_source(plan)?);
    let out = pg.cmd.output().map_err(|e| spawn_error("psql", e))?;
    if out.status.success() {
        let n = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        return Ok(Some(n));
    }
    let err = last_line(&out.stderr);
    if err.contains("does not exist") && err.contains("database") {
        return Ok(None);
    }
    bail!(
        "cannot connect to database {}: {err}",
        plan.config.database.name
    )
}

/// Create the (missing) database owned by the service's role. Locally as the `postgres` OS
/// user (the superuser peer authentication maps); an external server needs its admin.
fn create_database(plan: &Plan) -> Result<()> {
    let db = &plan.config.database;
    if db.kind == DatabaseKind::External {
        bail!(
            "database {} does not exist on {}: create it owned by {} first, then run restore again",
            db.name,
            db.host.as_deref().unwrap_or_default(),
            db.user
        );
    }
    as_postgres(
        plan,
        "createdb",
        &["--owner", &db.user, &db.name],
        "cannot create database",
    )
}

/// A PostgreSQL client tool over the local socket as the `postgres` OS user (the superuser
/// peer authentication maps), when run as root; `failed` starts the error, which names the
/// database and the tool's last line.
fn as_postgres(plan: &Plan, program: &str, args: &[&str], failed: &str) -> Result<()> {
    let db = &plan.config.database;
    let mut cmd = Command::new(program);
    cmd.current_dir("/").args([
        "--no-password",
        "--host",
        &db.socket_dir,
        "--port",
        &db.port.to_string(),
    ]);
    cmd.args(args);
    if users::effective_uid() == 0 {
        if let Some(pg) = users::lookup("postgres") {
            cmd.uid(pg.uid).gid(pg.gid);
        }
    }
    let out = cmd.output().map_err(|e| spawn_error(program, e))?;
    if !out.status.success() {
        bail!("{failed} {}: {}", db.name, last_line(&out.stderr));
    }
    Ok(())
}

/// Feed the gunzipped dump to psql in one transaction, stopping at the first error. The dump
/// was verified; it is read again, and its bytes are hashed on the way: unless every byte
/// decompressed and the checksum still matches, psql is stopped before its input ends, so it
/// commits nothing. `before` says what the database is then.
fn restore_database(plan: &Plan, dump: &Path, entry: &Entry, before: &str) -> Result<()> {
    let file = inspect::open_regular(dump, false)
        .with_context(|| format!("nothing was restored: {before}"))?;
    let mut hashed = Hashing {
        inner: BufReader::new(file),
        hash: Sha256::new(),
        read: 0,
    };
    feed_psql(plan, &format!("the dump {}", entry.path), before, |stdin| {
        let mut gz = flate2::read::MultiGzDecoder::new(&mut hashed);
        io::copy(&mut gz, stdin)
            .with_context(|| format!("cannot decompress {}", dump.display()))?;
        drop(gz);
        // The decoder stops at the end of the compressed data: the rest must be empty.
        io::copy(&mut hashed, &mut io::sink())?;
        let sum = inspect::hex(&hashed.hash.clone().finalize());
        if hashed.read != entry.size || sum != entry.sha256 {
            bail!("{} changed after it was verified", dump.display());
        }
        Ok(())
    })
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Run psql on the config's database in one transaction (`--single-transaction`,
/// `ON_ERROR_STOP=1`) with what `feed` writes as its input. psql commits only when its
/// input ends; when `feed` fails, psql is killed before its input is closed, so nothing is
/// committed. Every error says so, with `before`: what the database is then.
pub(crate) fn feed_psql<T>(
    plan: &Plan,
    what: &str,
    before: &str,
    feed: impl FnOnce(&mut dyn Write) -> Result<T>,
) -> Result<T> {
    let nothing = format!("nothing was committed: {before}");
    let mut pg = pg_command(plan, "psql").with_context(|| nothing.clone())?;
    pg.cmd
        .args([
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
        ])
        .arg(data_source(plan).with_context(|| nothing.clone())?)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = pg
        .cmd
        .spawn()
        .map_err(|e| spawn_error("psql", e).context(nothing.clone()))?;
    let (Some(stdin), Some(stderr)) = (child.stdin.take(), child.stderr.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("cannot talk to psql; {nothing}");
    };
    let (fed, status, said) = std::thread::scope(|s| {
        // Read concurrently (psql blocks when its messages are not read), keeping the end.
        let reader = s.spawn(move || {
            let mut stderr = stderr;
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 64 * 1024 {
                    tail.drain(..tail.len() - 32 * 1024);
                }
            }
            tail
        });
        let mut w = io::BufWriter::new(stdin);
        let fed = feed(&mut w).and_then(|t| {
            w.flush()?;
            Ok(t)
        });
        if fed.is_err() {
            // Before its input ends: a killed psql commits nothing.
            let _ = child.kill();
        }
        drop(w);
        let status = child.wait();
        (fed, status, reader.join().unwrap_or_default())
    });
    let said = last_line(&said);
    match (fed, status) {
        (Ok(t), Ok(st)) if st.success() => Ok(t),
        (Ok(_), Ok(_)) => bail!("psql failed to restore {what}: {said}; {nothing}"),
        (Ok(_), Err(e)) => bail!("psql did not finish restoring {what} ({e}); {nothing}"),
        (Err(e), _) => Err(e.context(format!(
            "restoring {what} stopped (psql: {said}), and psql was stopped before the end of its input; {nothing}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup_dir(root: &Path, stamp: &str, complete: bool) -> PathBuf {
        let dir = root.join(format!("{BACKUP_PREFIX}-{stamp}"));
        fs::create_dir_all(&dir).unwrap();
        if complete {
            fs::write(dir.join(MANIFEST), "{}").unwrap();
        }
        dir
    }

    #[test]
    fn retention_removes_only_older_complete_backups_of_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let oldest = backup_dir(root, "20250101T000000Z", true);
        let older = backup_dir(root, "20250201T000000Z", true);
        let partial = backup_dir(root, "20250301T000000Z", false);
        let newer = backup_dir(root, "20250401T000000Z", true);
        let newest = backup_dir(root, "20250501T000000Z", true);
        let upgrade = root.join("upgrade-20240101T000000Z");
        fs::create_dir(&upgrade).unwrap();
        fs::write(upgrade.join(MANIFEST), "{}").unwrap();
        let theirs = root.join("notes.txt");
        fs::write(&theirs, "mine").unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::write(elsewhere.path().join(MANIFEST), "{}").unwrap();
        let link = root.join(format!("{BACKUP_PREFIX}-20240101T000000Z"));
        std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();

        let removed = prune(root, 2).unwrap();
        assert_eq!(removed, vec![oldest.clone(), older.clone()]);
        assert!(!oldest.exists() && !older.exists());
        for kept in [&partial, &newer, &newest, &upgrade, &theirs, &link] {
            assert!(
                kept.symlink_metadata().is_ok(),
                "{} was removed",
                kept.display()
            );
        }
        assert!(elsewhere.path().join(MANIFEST).exists());
        assert_eq!(prune(root, 2).unwrap(), Vec::<PathBuf>::new());
    }
}
