//! PostgreSQL's client programs, run as the operating-system account that peer
//! authentication maps to a superuser (Omnibus: `gitlab-psql`; Debian: `postgres`). Dumps are
//! streamed through this process, so the accounts never need access to the bundle (whose
//! directory is root's).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

pub use crate::tools::{last_line, spawn_error};
use crate::users;

/// Where and as whom to reach one database.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    /// The operating-system account the programs run as (when we are root).
    pub os_user: String,
    pub database: String,
    /// Directory of the client programs; PATH when it does not exist.
    pub bin: Option<PathBuf>,
}

impl Server {
    /// The program in `bin` when it is there (Omnibus's own, matching its server), else PATH's.
    fn exe(&self, program: &str) -> PathBuf {
        match &self.bin {
            Some(dir) if dir.join(program).is_file() => dir.join(program),
            _ => PathBuf::from(program),
        }
    }

    pub fn command(&self, program: &str) -> Result<Command> {
        let exe = self.exe(program);
        let mut cmd = Command::new(exe);
        cmd.current_dir("/")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .args(["--no-password", "--host", &self.host, "--port"])
            .arg(self.port.to_string());
        if users::effective_uid() == 0 {
            let u = users::lookup(&self.os_user).ok_or_else(|| {
                anyhow!(
                    "there is no account {} to run {program} as (the PostgreSQL superuser's operating-system account)",
                    self.os_user
                )
            })?;
            // std drops root's supplementary groups when it sets the uid.
            cmd.uid(u.uid).gid(u.gid);
        }
        Ok(cmd)
    }

    /// One query's rows, `|`-separated columns, on this database.
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        self.query_on(&self.database, sql)
    }

    pub fn query_on(&self, database: &str, sql: &str) -> Result<Vec<Vec<String>>> {
        let mut cmd = self.command("psql")?;
        cmd.args([
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "--field-separator=|",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
            database,
            "--command",
            sql,
        ]);
        let out = run(cmd, "psql")?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect())
    }

    pub fn scalar(&self, sql: &str) -> Result<String> {
        self.query(sql)?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .ok_or_else(|| anyhow!("no answer to: {sql}"))
    }

    /// `server_version_num`, e.g. 170002.
    pub fn version_num(&self) -> Result<u32> {
        let v = self.query_on("postgres", "SHOW server_version_num")?;
        let text = v
            .first()
            .and_then(|r| r.first())
            .ok_or_else(|| anyhow!("PostgreSQL did not say its version"))?;
        text.parse()
            .with_context(|| format!("unexpected server_version_num {text:?}"))
    }

    /// Exact rows of every ordinary table in schema public.
    pub fn row_counts(&self) -> Result<BTreeMap<String, i64>> {
        // query_to_xml runs one count(*) per table inside the same statement.
        let sql = "SELECT c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM public.%I', c.relname), false, true, '')))[1]::text \
                   FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
                   WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1";
        self.query(sql)?
            .into_iter()
            .map(|r| match r.as_slice() {
                [name, n] => Ok((
                    name.clone(),
                    n.parse::<i64>()
                        .with_context(|| format!("count of {name}: {n:?}"))?,
                )),
                _ => bail!("unexpected row {r:?}"),
            })
            .collect()
    }

    /// Sessions on the database other than ours.
    pub fn other_sessions(&self) -> Result<Vec<String>> {
        let rows = self.query(
            "SELECT coalesce(usename, '?') || ' from ' || coalesce(client_addr::text, 'the local socket') \
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect())
    }

    /// `pg_dump --format=custom --no-owner --no-privileges` into `out` (0600), hashed on the
    /// way; returns size and SHA-256.
    pub fn dump_to(&self, out: &Path) -> Result<(u64, String)> {
        let mut cmd = self.command("pg_dump")?;
        cmd.args([
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            &self.database,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| spawn_error("pg_dump", e))?;
        let dir = out.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".database.dump-")
            .tempfile_in(dir)?;
        let mut h = Sha256::new();
        let mut size = 0u64;
        if let Some(mut stdout) = child.stdout.take() {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = stdout.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                tmp.write_all(&buf[..n])?;
                size += n as u64;
            }
        }
        let out_put = child.wait_with_output()?;
        if !out_put.status.success() {
            bail!("pg_dump failed: {}", last_line(&out_put.stderr));
        }
        tmp.as_file().sync_all()?;
        tmp.persist(out).map_err(|e| e.error)?;
        Ok((size, crate::tools::hex(&h.finalize())))
    }

    /// `pg_restore` of a custom-format dump as `role` (every object it creates is the
    /// role's), in one transaction, stopping at the first error. The dump is fed on stdin.
    pub fn restore_as(&self, dump: &Path, role: &str) -> Result<()> {
        let mut cmd = self.command("pg_restore")?;
        cmd.args([
            "--no-owner",
            "--no-privileges",
            "--role",
            role,
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            &self.database,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| spawn_error("pg_restore", e))?;
        let mut file =
            File::open(dump).with_context(|| format!("cannot read {}", dump.display()))?;
        let fed = match child.stdin.take() {
            Some(mut stdin) => io::copy(&mut file, &mut stdin).map(|_| ()),
            None => Ok(()),
        };
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "pg_restore failed (nothing was committed): {}",
                last_line(&out.stderr)
            );
        }
        fed.with_context(|| format!("cannot feed {} to pg_restore", dump.display()))?;
        Ok(())
    }

    /// The major version of a client program (`pg_restore --version` → 17).
    pub fn tool_major(&self, program: &str) -> Result<u32> {
        let exe = self.exe(program);
        let out = Command::new(&exe)
            .arg("--version")
            .output()
            .map_err(|e| spawn_error(program, e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .find_map(|w| w.split('.').next()?.parse::<u32>().ok())
            .ok_or_else(|| anyhow!("cannot read the version of {program}: {text:?}"))
    }
}

fn run(mut cmd: Command, program: &str) -> Result<Vec<u8>> {
    let out = cmd.output().map_err(|e| spawn_error(program, e))?;
    if !out.status.success() {
        bail!("{program} failed: {}", last_line(&out.stderr));
    }
    Ok(out.stdout)
}

/// `170002` → 17; `150010` → 15 (versions before 10 do not matter here).
pub fn major(version_num: u32) -> u32 {
    version_num / 10_000
}
