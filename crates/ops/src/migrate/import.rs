//! `migrate import`: the new host's half, ending with a verification of both sides.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use super::bundle::{self, Manifest};
use super::pg::{self, Server};
use super::tree::{self, Listing, Owner, Pass};
use super::{bytes, ImportArgs};
use crate::backup::utc_stamp;
use crate::schema::{DatabaseKind, FileDriver};
use crate::users;
use crate::validate::Plan;

/// What a previous `migrate import` placed, so a second run (after a pre-sync) may continue
/// into directories it filled itself and nothing else.
const STATE: &str = "migration.json";

#[derive(Debug, Default, serde::Deserialize, Serialize)]
struct State {
    /// Target directory → listing we left there.
    trees: BTreeMap<String, Listing>,
    /// Database restored from the bundle's dump (its SHA-256).
    restored_dump: Option<String>,
}

/// The verification report (also written as JSON).
#[derive(Debug, Serialize)]
pub struct Verification {
    pub finished: String,
    pub bundle: String,
    pub database: String,
    pub tables: Vec<TableCount>,
    pub files: BTreeMap<String, TreeCheck>,
    pub config_json: Option<String>,
    pub foreign_owned_objects: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TableCount {
    pub table: String,
    pub old: i64,
    pub new: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct TreeCheck {
    pub directory: String,
    pub files: usize,
    pub bytes: u64,
}

pub fn run(plan: &Plan, args: &ImportArgs) -> Result<ExitCode> {
    if users::effective_uid() != 0 {
        bail!("migrate import creates the database and gives files to the service account, so it runs as root");
    }
    let m = bundle::open(&args.from)?.ok_or_else(|| {
        anyhow!(
            "{} holds no bundle: run `gitlab-mattermost migrate export --to DIR` on the old host and copy DIR here",
            args.from.display()
        )
    })?;
    let started = Instant::now();
    let owner = service_owner(plan)?;
    let targets = targets(plan)?;
    let state_path = args.state_dir.join(STATE);
    let mut state: State = match fs::read_to_string(&state_path) {
        Ok(t) => serde_json::from_str(&t).unwrap_or_default(),
        Err(_) => State::default(),
    };
    refuse_foreign_targets(&targets, &state)?;
    check_bundle(&args.from, &m)?;
    println!("bundle {}: every checksum matches", args.from.display());

    let server = local_server(plan)?;
    if m.final_pass {
        check_versions(&server, &m)?;
    }

    let mut pass = Pass::default();
    for (name, target) in &targets.trees {
        let from = bundle::tree_dir(&args.from, name);
        let key = target.display().to_string();
        let previous = state.trees.get(&key).cloned().unwrap_or_default();
        let (listing, p) = tree::sync(&from, target, &previous, Some(owner))
            .with_context(|| format!("copying into {}", target.display()))?;
        println!(
            "{name} → {}: {} files ({} copied, {}; {} removed)",
            target.display(),
            p.files,
            p.copied,
            bytes(p.copied_bytes),
            p.removed
        );
        pass.add(p);
        state.trees.insert(key, listing);
        save_state(&state_path, &state)?;
    }
    if let Some(entry) = &m.config_json {
        place_config_json(&args.from, &targets.config_json, entry, owner)?;
    }
    if !m.final_pass {
        println!(
            "files pre-synced in {:.1} s; the bundle is not final (export --final after stopping the old server), so the database waits",
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let dump = m
        .dump
        .as_ref()
        .ok_or_else(|| anyhow!("the final bundle has no database dump"))?;
    if state.restored_dump.as_deref() != Some(dump.sha256.as_str()) {
        restore(plan, &server, &args.from)?;
        state.restored_dump = Some(dump.sha256.clone());
        save_state(&state_path, &state)?;
    } else {
        println!(
            "database {}: already restored from this bundle",
            server.database
        );
    }
    let v = verify(plan, &server, &args.from, &m, &targets, owner)?;
    let report = args.report.clone().unwrap_or_else(|| {
        args.state_dir
            .join("migrations")
            .join(format!("verification-{}.json", v.finished))
    });
    if let Some(dir) = report.parent() {
        fs::create_dir_all(dir)?;
    }
    crate::output::write_file_atomically(
        &report,
        format!("{}\n", serde_json::to_string_pretty(&v)?).as_bytes(),
        0o600,
    )?;
    print_verification(&v);
    println!(
        "import done in {:.1} s; verification report: {}",
        started.elapsed().as_secs_f64(),
        report.display()
    );
    if v.problems.is_empty() {
        println!("next: gitlab-mattermost apply {}", plan_files(args));
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

fn plan_files(args: &ImportArgs) -> String {
    args.config
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The uid and gid the files get: the account's when it exists, else the configured ids,
/// which `apply` gives the account it creates (and refuses when they are taken).
fn service_owner(plan: &Plan) -> Result<Owner> {
    let a = &plan.config.account;
    if let Some(u) = users::lookup(&a.user) {
        if let Some(want) = a.uid.filter(|w| *w != u.uid) {
            bail!(
                "account {} exists with uid {}, but account.uid is {want}: make them agree before copying files",
                a.user,
                u.uid
            );
        }
        let gid = users::lookup_group(&a.group).unwrap_or(u.gid);
        if let Some(want) = a.gid.filter(|w| *w != gid) {
            bail!(
                "group {} has gid {gid}, but account.gid is {want}: make them agree before copying files",
                a.group
            );
        }
        return Ok(Owner { uid: u.uid, gid });
    }
    let (Some(uid), Some(gid)) = (a.uid, a.gid) else {
        bail!(
            "account {} does not exist yet and account.uid/account.gid are not set: set them \
             (`import --omnibus-root` takes them from the old host), so the files and the account `apply` creates agree",
            a.user
        );
    };
    if let Some(holder) = users::lookup(&uid.to_string()) {
        bail!(
            "uid {uid} (account.uid) belongs to {} on this host: pick another account.uid, or move {} to another uid first",
            holder.name,
            holder.name
        );
    }
    Ok(Owner { uid, gid })
}

struct Targets {
    trees: Vec<(&'static str, PathBuf)>,
    config_json: PathBuf,
}

fn targets(plan: &Plan) -> Result<Targets> {
    let c = &plan.config;
    let mut trees = Vec::new();
    if c.file_storage.driver == FileDriver::Local {
        let data = c
            .file_storage
            .directory
            .clone()
            .unwrap_or_else(|| format!("{}/data", c.directories.data));
        trees.push(("data", PathBuf::from(data)));
    } else {
        println!("note: files are kept in S3 (file_storage.driver): the bundle's data/ is not copied; move the bucket's objects yourself");
    }
    trees.push(("plugins", PathBuf::from(&c.directories.plugins)));
    trees.push((
        "client-plugins",
        PathBuf::from(&c.directories.client_plugins),
    ));
    Ok(Targets {
        trees,
        config_json: Path::new(&c.directories.config).join("config.json"),
    })
}

/// Never copy into a directory holding files this command did not put there.
fn refuse_foreign_targets(t: &Targets, state: &State) -> Result<()> {
    let mut problems = Vec::new();
    for (_, dir) in &t.trees {
        let present = tree::scan(dir)?;
        if present.is_empty() {
            continue;
        }
        let ours = state.trees.get(&dir.display().to_string());
        let foreign: Vec<&String> = present
            .keys()
            .filter(|k| ours.is_none_or(|l| !l.contains_key(*k)))
            .collect();
        if let Some(first) = foreign.first() {
            problems.push(format!(
                "{} holds {} file(s) this command did not copy (e.g. {first}): move them away, or give another directory in the config",
                dir.display(),
                foreign.len()
            ));
        }
    }
    if t.config_json.exists() && state.trees.is_empty() {
        problems.push(format!(
            "{} exists: move it away first (the old server's config.json replaces it)",
            t.config_json.display()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

/// Every file of the bundle against its manifest: what travelled is what was exported.
fn check_bundle(dir: &Path, m: &Manifest) -> Result<()> {
    let mut problems = Vec::new();
    for name in bundle::TREES {
        let expected = m.trees.get(name).cloned().unwrap_or_default();
        problems.extend(tree::verify(&bundle::tree_dir(dir, name), &expected, None)?);
    }
    if let Some(c) = &m.config_json {
        match tree::sha256_file(&dir.join(bundle::CONFIG_JSON)) {
            Ok(s) if s == c.sha256 => {}
            Ok(_) => problems.push("config.json: different content (SHA-256)".into()),
            Err(e) => problems.push(format!("config.json: {e}")),
        }
    }
    if let (true, Some(d)) = (m.final_pass, &m.dump) {
        match tree::sha256_file(&dir.join(bundle::DUMP)) {
            Ok(s) if s == d.sha256 => {}
            Ok(_) => problems.push(format!("{}: different content (SHA-256)", bundle::DUMP)),
            Err(e) => problems.push(format!("{}: {e}", bundle::DUMP)),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "the bundle differs from what the old host exported; copy it again (`rsync -a --delete`):\n{}",
            problems.join("\n")
        )
    }
}

fn local_server(plan: &Plan) -> Result<Server> {
    let db = &plan.config.database;
    if db.kind != DatabaseKind::Local {
        bail!(
            "migrate import restores into a local database (database.kind = \"local\"); for an external server restore \
             the bundle's database.dump with `pg_restore --no-owner --no-privileges --role={}` yourself",
            db.user
        );
    }
    Ok(Server {
        host: db.socket_dir.clone(),
        port: db.port,
        os_user: "postgres".into(),
        database: db.name.clone(),
        bin: None,
    })
}

/// pg_restore reads archives of its own major version and older only.
fn check_versions(server: &Server, m: &Manifest) -> Result<()> {
    let Some(old) = m.source.pg_version_num.map(pg::major) else {
        return Ok(());
    };
    let new = pg::major(server.version_num()?);
    let tool = server.tool_major("pg_restore")?;
    match version_refusal(old, new, tool) {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

/// Why a dump of PostgreSQL `old` cannot be restored by server `new` with pg_restore `tool`:
/// pg_restore reads archives of its own major version and older, and a server of an older
/// major version may lack what the dump uses.
fn version_refusal(old: u32, new: u32, tool: u32) -> Option<String> {
    (new < old || tool < old).then(|| {
        format!(
            "the old database ran PostgreSQL {old}; this host has PostgreSQL {new} (pg_restore {tool}), which cannot read its dump. \
             Install PostgreSQL {old} or later (Debian 13 ships 17) and point database.port/socket_dir at it"
        )
    })
}

fn restore(plan: &Plan, server: &Server, bundle_dir: &Path) -> Result<()> {
    let db = &plan.config.database;
    let exists = !server
        .query_on(
            "postgres",
            &format!(
                "SELECT 1 FROM pg_database WHERE datname = {}",
                literal(&db.name)
            ),
        )?
        .is_empty();
    let role_exists = !server
        .query_on(
            "postgres",
            &format!(
                "SELECT 1 FROM pg_roles WHERE rolname = {}",
                literal(&db.user)
            ),
        )?
        .is_empty();
    if !role_exists {
        server.query_on(
            "postgres",
            &format!("CREATE ROLE {} LOGIN", ident(&db.user)),
        )?;
        println!("created role {}", db.user);
    }
    if exists {
        let tables = server.scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')",
        )?;
        if tables != "0" {
            bail!(
                "database {} already holds {tables} tables or sequences (an earlier start of Mattermost, or another attempt): \
                 nothing was restored. If it holds nothing you need, drop it (`runuser -u postgres -- dropdb {}`) and run again",
                db.name,
                db.name
            );
        }
    } else {
        server.query_on(
            "postgres",
            &format!(
                "CREATE DATABASE {} OWNER {}",
                ident(&db.name),
                ident(&db.user)
            ),
        )?;
        println!("created database {} owned by {}", db.name, db.user);
    }
    let started = Instant::now();
    server.restore_as(&bundle_dir.join(bundle::DUMP), &db.user)?;
    println!(
        "restored the dump into {} as {} in {:.1} s",
        db.name,
        db.user,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn place_config_json(
    bundle_dir: &Path,
    to: &Path,
    entry: &tree::FileEntry,
    owner: Owner,
) -> Result<()> {
    let text = fs::read(bundle_dir.join(bundle::CONFIG_JSON))?;
    if let Some(dir) = to.parent() {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            tree::chown(dir, owner)?;
        }
    }
    crate::output::write_file_atomically(to, &text, 0o600)?;
    tree::chown(to, owner)?;
    println!(
        "config.json → {} ({} bytes, 0600)",
        to.display(),
        entry.size
    );
    Ok(())
}

fn verify(
    plan: &Plan,
    server: &Server,
    bundle_dir: &Path,
    m: &Manifest,
    t: &Targets,
    owner: Owner,
) -> Result<Verification> {
    let mut problems = Vec::new();
    let now = server.row_counts()?;
    let mut tables = Vec::new();
    for (table, old) in &m.tables {
        let new = now.get(table).copied();
        if new != Some(*old) {
            problems.push(format!(
                "table {table}: {old} rows on the old side, {} here",
                new.map_or("no table".into(), |n| n.to_string())
            ));
        }
        tables.push(TableCount {
            table: table.clone(),
            old: *old,
            new,
        });
    }
    for table in now.keys().filter(|t| !m.tables.contains_key(*t)) {
        problems.push(format!("table {table}: not on the old side"));
    }
    let role = &plan.config.database.user;
    let foreign = server.query(&format!(
        "SELECT 'relation ' || c.relname || ' (' || pg_get_userbyid(c.relowner) || ')' FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> {r} \
         UNION ALL SELECT 'function ' || p.proname || ' (' || pg_get_userbyid(p.proowner) || ')' FROM pg_proc p \
           JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> {r} \
         UNION ALL SELECT 'type ' || t.typname || ' (' || pg_get_userbyid(t.typowner) || ')' FROM pg_type t \
           JOIN pg_namespace n ON n.oid = t.typnamespace \
           WHERE n.nspname = 'public' AND pg_get_userbyid(t.typowner) <> {r} \
         UNION ALL SELECT 'database ' || datname || ' (' || pg_get_userbyid(datdba) || ')' FROM pg_database \
           WHERE datname = current_database() AND pg_get_userbyid(datdba) <> {r}",
        r = literal(role)
    ))?;
    let foreign_owned_objects: Vec<String> = foreign
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect();
    for o in &foreign_owned_objects {
        problems.push(format!("{o} is not owned by {role}"));
    }
    let mut files = BTreeMap::new();
    for (name, dir) in &t.trees {
        let expected = m.trees.get(*name).cloned().unwrap_or_default();
        problems.extend(tree::verify(dir, &expected, Some(owner))?);
        files.insert(
            name.to_string(),
            TreeCheck {
                directory: dir.display().to_string(),
                files: expected.len(),
                bytes: expected.values().map(|e| e.size).sum(),
            },
        );
    }
    let config_json = match &m.config_json {
        Some(c) => {
            let got = tree::sha256_file(&t.config_json).ok();
            if got.as_deref() != Some(c.sha256.as_str()) {
                problems.push(format!(
                    "{}: differs from the old config.json",
                    t.config_json.display()
                ));
            }
            let meta = fs::metadata(&t.config_json)?;
            if meta.uid() != owner.uid || meta.mode() & 0o077 != 0 {
                problems.push(format!(
                    "{}: must be the service account's and private (0600)",
                    t.config_json.display()
                ));
            }
            got
        }
        None => None,
    };
    Ok(Verification {
        finished: utc_stamp(std::time::SystemTime::now()),
        bundle: bundle_dir.display().to_string(),
        database: server.database.clone(),
        tables,
        files,
        config_json,
        foreign_owned_objects,
        problems,
    })
}

fn print_verification(v: &Verification) {
    let rows_old: i64 = v.tables.iter().map(|t| t.old).sum();
    let rows_new: i64 = v.tables.iter().filter_map(|t| t.new).sum();
    println!("verification:");
    println!(
        "  database {}: {} tables, {rows_old} rows on the old side, {rows_new} here",
        v.database,
        v.tables.len()
    );
    for (name, t) in &v.files {
        println!(
            "  {name} ({}): {} files, {} — checksums and owner checked",
            t.directory,
            t.files,
            bytes(t.bytes)
        );
    }
    if v.config_json.is_some() {
        println!("  config.json: identical");
    }
    if v.problems.is_empty() {
        println!("  nothing lost: every row count, file and owner matches");
    } else {
        for p in &v.problems {
            println!("  PROBLEM: {p}");
        }
    }
}

fn save_state(path: &Path, state: &State) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    crate::output::write_file_atomically(
        path,
        format!("{}\n", serde_json::to_string_pretty(state)?).as_bytes(),
        0o600,
    )
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::version_refusal;

    #[test]
    fn a_dump_goes_to_the_same_or_a_newer_postgresql_only() {
        assert_eq!(version_refusal(16, 17, 17), None);
        assert_eq!(version_refusal(17, 17, 17), None);
        assert_eq!(version_refusal(15, 17, 17), None);
        let older_server = version_refusal(17, 15, 15).expect("refused");
        assert!(older_server.contains("PostgreSQL 17") && older_server.contains("PostgreSQL 15"));
        // A new server, but the pg_restore on PATH is an older client.
        assert!(version_refusal(17, 17, 15).is_some());
    }
}
