//! `migrate export`: the old host's half. Reads only; writes nothing outside the bundle.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::bundle::{self, Dump, Manifest, PassRecord};
use super::pg::{self, Server};
use super::tree::{self, Pass};
use super::{bytes, ExportArgs};
use crate::backup::utc_stamp;

/// Omnibus's Mattermost home, relative to the root.
const HOME: &str = "var/opt/gitlab/mattermost";

pub fn run(args: &ExportArgs) -> Result<()> {
    if crate::users::effective_uid() != 0 {
        bail!(
            "migrate export reads Mattermost's files (owned by mattermost, private) and runs pg_dump as {}, so it runs as root",
            args.pg_user
        );
    }
    let started = Instant::now();
    let home = args.omnibus_root.join(HOME);
    if !home.join("config.json").is_file() && !home.join("data").is_dir() {
        bail!(
            "{} holds neither config.json nor data/: is {} an Omnibus host's root (or a copy of its files)?",
            home.display(),
            args.omnibus_root.display()
        );
    }
    let server = Server {
        host: args.pg_host.clone(),
        port: args.pg_port,
        os_user: args.pg_user.clone(),
        database: args.database.clone(),
        bin: Some(args.pg_bin.clone()),
    };
    if args.final_pass {
        refuse_while_in_use(&server)?;
    }
    let mut m = match bundle::open(&args.to)? {
        Some(m) => {
            println!("bundle {}: updating the earlier export", args.to.display());
            m
        }
        None => {
            bundle::create(&args.to)?;
            Manifest::new(&args.omnibus_root, &args.database)
        }
    };
    // A bundle being updated is not final until this pass says so.
    m.final_pass = false;
    m.dump = None;
    bundle::save(&args.to, &m)?;

    let mut pass = Pass::default();
    for name in bundle::TREES {
        let from = home.join(name);
        let previous = m.trees.get(name).cloned().unwrap_or_default();
        let (listing, p) = tree::sync(&from, &bundle::tree_dir(&args.to, name), &previous, None)
            .with_context(|| format!("copying {}", from.display()))?;
        println!(
            "{name}: {} files, {} ({} copied, {}; {} removed)",
            p.files,
            bytes(p.bytes),
            p.copied,
            bytes(p.copied_bytes),
            p.removed
        );
        pass.add(p);
        m.trees.insert(name.to_string(), listing);
    }
    m.config_json = copy_config_json(&home.join("config.json"), &args.to)?;

    if args.final_pass {
        dump(&server, &args.to, &mut m)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    m.final_pass = args.final_pass;
    m.passes.push(PassRecord {
        final_pass: args.final_pass,
        finished: utc_stamp(std::time::SystemTime::now()),
        seconds,
        files: pass.files,
        bytes: pass.bytes,
        copied: pass.copied,
        copied_bytes: pass.copied_bytes,
        removed: pass.removed,
    });
    bundle::save(&args.to, &m)?;
    if args.final_pass {
        println!(
            "final export done in {seconds:.1} s: {} tables, {} rows, {} files; copy {} to the new host \
             (`rsync -a --delete`), then run `gitlab-mattermost migrate import` there",
            m.tables.len(),
            m.tables.values().sum::<i64>(),
            pass.files,
            args.to.display()
        );
    } else {
        println!(
            "pre-sync done in {seconds:.1} s ({} copied); the final pass, with Mattermost stopped, copies only what changes until then",
            bytes(pass.copied_bytes)
        );
    }
    Ok(())
}

/// A dump taken while Mattermost writes would lose whatever it wrote after the dump began.
fn refuse_while_in_use(server: &Server) -> Result<()> {
    let sessions = server.other_sessions().with_context(|| {
        format!(
            "cannot reach the database {} at {}",
            server.database, server.host
        )
    })?;
    if !sessions.is_empty() {
        bail!(
            "{} session(s) are connected to {} ({}): Mattermost is still running; stop it first \
             (`gitlab-ctl stop mattermost`), so nothing written after the dump is lost",
            sessions.len(),
            server.database,
            sessions.join(", ")
        );
    }
    Ok(())
}

fn dump(server: &Server, to: &Path, m: &mut Manifest) -> Result<()> {
    let version = server.version_num()?;
    let tables = server.row_counts()?;
    let mattermost = server
        .query("SELECT value FROM systems WHERE name = 'Version'")
        .ok()
        .and_then(|r| r.into_iter().next()?.into_iter().next());
    let started = Instant::now();
    let (size, sha256) = server.dump_to(&to.join(bundle::DUMP))?;
    // Counted again after the dump: equal counts say nothing was written meanwhile.
    let after = server.row_counts()?;
    if after != tables {
        bail!(
            "rows changed while the database was dumped: something still writes to {}; stop it and run --final again",
            server.database
        );
    }
    println!(
        "database {}: PostgreSQL {}, {} tables, {} rows, dumped ({}) in {:.1} s",
        server.database,
        pg::major(version),
        tables.len(),
        tables.values().sum::<i64>(),
        bytes(size),
        started.elapsed().as_secs_f64()
    );
    m.source.pg_version_num = Some(version);
    m.source.mattermost_version = mattermost;
    m.tables = tables;
    m.dump = Some(Dump { size, sha256 });
    Ok(())
}

/// config.json is small: copied whole every pass (0600: it holds secrets), hashed.
fn copy_config_json(from: &Path, bundle: &Path) -> Result<Option<tree::FileEntry>> {
    if !from.is_file() {
        println!("config.json: none at {}", from.display());
        return Ok(None);
    }
    let text = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let to: PathBuf = bundle.join(bundle::CONFIG_JSON);
    crate::output::write_file_atomically(&to, &text, 0o600)?;
    let meta = std::fs::metadata(from)?;
    use sha2::Digest;
    Ok(Some(tree::FileEntry {
        size: text.len() as u64,
        mtime_ns: tree::mtime_ns(&meta),
        mode: 0o600,
        sha256: tree::hex(&sha2::Sha256::digest(&text)),
    }))
}
