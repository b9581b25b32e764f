//! The database check: connect with exactly the DSN the service gets
//! (`MM_SQLSETTINGS_DATASOURCE`, plus the password file for an external database) and report
//! the server's version, which must be at least what the targeted Mattermost line needs; on
//! Mattermost Entry (the Enterprise build without a licence), how many posts it would hide.
//!
//! A local database uses peer authentication, which logs in as the OS user running the
//! check; when that is not the service user, the check is skipped with how to run it, or,
//! with `--as-user`, rerun in a child process that has dropped to the service user.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Ctx, Outcome, Steps};
use crate::schema::DatabaseKind;
use crate::tls::{self, Verify};
use crate::{files, users};

pub fn check(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    let plan = ctx.plan;
    let db = &plan.config.database;
    let Some(dsn) = plan.env.get("MM_SQLSETTINGS_DATASOURCE") else {
        return Outcome::skipped("no data source is configured");
    };
    if db.kind == DatabaseKind::Local {
        let me = users::effective_user_name();
        let service = &plan.config.account.user;
        if &me != service {
            if ctx.args.as_user {
                return as_service_user(ctx, service, steps);
            }
            return Outcome::skipped(format!(
                "peer authentication logs in as the OS user running the check ({me}), not {service}: \
                 run `runuser -u {service} -- gitlab-mattermost doctor … --only database`, or pass --as-user"
            ));
        }
    }
    steps.doing("connecting");
    match connect(ctx, dsn) {
        Ok(found) => {
            steps.done(format!("connected to {}", describe(ctx)));
            judge(ctx, &found, steps)
        }
        Err((what, fix)) => Outcome::fail(what, fix),
    }
}

/// What the connection found.
struct Found {
    version: String,
    /// `SHOW server_version_num` / 10000.
    major: Option<u32>,
    /// Posts not deleted (when the schema exists).
    posts: Option<i64>,
}

/// Connect, authenticate and read the version within this many times `--timeout`: the
/// connect has a timeout of its own, but a server that accepts the connection and then says
/// nothing would otherwise be waited for forever.
pub const DEADLINE_STEPS: u32 = 3;

/// Entry shows only the newest 10,000 messages.
const ENTRY_VISIBLE_POSTS: i64 = 10_000;

fn judge(ctx: &Ctx, found: &Found, steps: &mut Steps) -> Outcome {
    let line = crate::lifecycle::line(ctx.plan.config.mattermost.version);
    if let Some(major) = found.major.filter(|m| *m < line.minimum_postgresql) {
        return Outcome::fail(
            format!(
                "{} runs PostgreSQL {major}; {} needs {} or later",
                describe(ctx),
                line.name,
                line.minimum_postgresql
            ),
            "upgrade the cluster first (Debian: pg_upgradecluster), then start Mattermost",
        );
    }
    let m = &ctx.plan.config.mattermost;
    let entry = m.edition == crate::schema::Edition::Enterprise && m.license_file.is_none();
    let mut summary = format!("{}: PostgreSQL {}", describe(ctx), found.version);
    if let (true, Some(posts)) = (entry, found.posts) {
        let hidden = (posts - ENTRY_VISIBLE_POSTS).max(0);
        steps.done(format!("{posts} posts in the database"));
        summary.push_str(&format!(
            "; Mattermost Entry shows the newest {ENTRY_VISIBLE_POSTS} of {posts} posts ({hidden} hidden)"
        ));
    }
    Outcome::pass(summary)
}

fn describe(ctx: &Ctx) -> String {
    let db = &ctx.plan.config.database;
    match db.kind {
        DatabaseKind::Local => {
            format!("database {} as {} over {}", db.name, db.user, db.socket_dir)
        }
        DatabaseKind::External => format!(
            "database {} on {}:{} as {} (sslmode {})",
            db.name,
            db.host.as_deref().unwrap_or_default(),
            db.port,
            db.user,
            db.sslmode
        ),
    }
}

/// Split libpq's `sslmode` off the DSN: tokio-postgres knows only disable/prefer/require,
/// and the verify modes are done here.
fn split_sslmode(dsn: &str) -> (String, String) {
    // By hand rather than with `url`: a local DSN has an empty host (`postgres://u@/db?host=…`).
    let Some((base, query)) = dsn.split_once('?') else {
        return (dsn.to_string(), "prefer".into());
    };
    let mut mode = "prefer".to_string();
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("sslmode=") {
            Some(m) => {
                mode = m.to_string();
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    if rest.is_empty() {
        (base.to_string(), mode)
    } else {
        (format!("{base}?{}", rest.join("&")), mode)
    }
}

/// Connect and return the server version, or what went wrong and the fix.
fn connect(ctx: &Ctx, dsn: &str) -> Result<Found, (String, String)> {
    let db = &ctx.plan.config.database;
    let (rest, sslmode) = split_sslmode(dsn);
    let mut config: postgres::Config = rest.parse().map_err(|e| {
        (
            format!("the data source cannot be parsed: {e}"),
            "check the database section".to_string(),
        )
    })?;
    config.connect_timeout(ctx.timeout);
    if let Some(file) = &db.password_file {
        let password = files::read_secret(Path::new(file)).map_err(|e| {
            (
                format!("{e:#}"),
                "create database.password_file (mode 0600) holding the password".to_string(),
            )
        })?;
        config.password(password);
    }
    let tls = match sslmode.as_str() {
        "disable" => None,
        mode => {
            let verify = match mode {
                "verify-full" => Verify::Full,
                "verify-ca" => Verify::ChainOnly,
                _ => Verify::Nothing,
            };
            config.ssl_mode(if matches!(mode, "allow" | "prefer") {
                postgres::config::SslMode::Prefer
            } else {
                postgres::config::SslMode::Require
            });
            let tls = tls::client_config(&ctx.roots, verify).map_err(|e| {
                (
                    format!("{e:#}"),
                    "pass --ca-file with the database server's CA".to_string(),
                )
            })?;
            Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        }
    };
    // The conversation runs in a thread of its own, waited for until the deadline. A thread
    // still waiting then is left behind: it ends with the process, which reports and exits.
    let budget = ctx.timeout * DEADLINE_STEPS;
    let deadline = Instant::now() + budget;
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("database-check".into())
        .spawn(move || converse(&mut config, tls, &tx));
    if let Err(e) = spawned {
        return Err((
            format!("cannot start the database check: {e}"),
            "retry; the host is out of threads or memory".to_string(),
        ));
    }
    let left = || deadline.saturating_duration_since(Instant::now());
    let (version, major) = match rx.recv_timeout(left()) {
        Ok(Answer::Version(Ok(v))) => v,
        Ok(Answer::Version(Err(e))) => return Err(explain(ctx, &e)),
        Ok(Answer::Posts(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err((
                format!(
                    "the connection to {} ended without an answer",
                    describe(ctx)
                ),
                "see PostgreSQL's log".to_string(),
            ))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => return Err(timed_out(ctx, budget)),
    };
    // Counting may take long on a big database; without the count the check still passes.
    let posts = match rx.recv_timeout(left()) {
        Ok(Answer::Posts(p)) => p,
        _ => None,
    };
    Ok(Found {
        version,
        major,
        posts,
    })
}

/// What the conversation thread reports, in this order.
enum Answer {
    Version(Result<(String, Option<u32>), postgres::Error>),
    Posts(Option<i64>),
}

/// Connect, read the version, count the posts; each result sent as soon as it is known.
fn converse(
    config: &mut postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    tx: &mpsc::Sender<Answer>,
) {
    let result = match tls {
        None => config.connect(postgres::NoTls),
        Some(tls) => config.connect(tls),
    };
    let mut client = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Answer::Version(Err(e)));
            return;
        }
    };
    let version = match client.query_one("SHOW server_version", &[]) {
        Ok(row) => row.get::<_, String>(0),
        Err(e) => {
            let _ = tx.send(Answer::Version(Err(e)));
            return;
        }
    };
    let major = client
        .query_one("SHOW server_version_num", &[])
        .ok()
        .and_then(|r| r.get::<_, String>(0).parse::<u32>().ok())
        .map(|n| n / 10_000);
    if tx.send(Answer::Version(Ok((version, major)))).is_err() {
        return;
    }
    // Before Mattermost's first start there is no posts table: nothing to count.
    let posts = client
        .query_one("SELECT count(*) FROM posts WHERE deleteat = 0", &[])
        .ok()
        .map(|r| r.get::<_, i64>(0));
    let _ = tx.send(Answer::Posts(posts));
}

/// The server did not finish connect, authentication and the version query in time.
fn timed_out(ctx: &Ctx, budget: Duration) -> (String, String) {
    let db = &ctx.plan.config.database;
    let fix = match db.kind {
        DatabaseKind::Local => format!(
            "check that what listens on {}/.s.PGSQL.{} is a working PostgreSQL",
            db.socket_dir, db.port
        ),
        DatabaseKind::External => {
            "check that database.host and database.port point at a working PostgreSQL \
             (the connection was accepted but the server did not answer)"
                .to_string()
        }
    };
    (
        format!(
            "timed out: {} did not finish connecting, authenticating and answering within {}s",
            describe(ctx),
            budget.as_secs()
        ),
        fix,
    )
}

/// One line for a connection error, with the fix for the usual causes.
fn explain(ctx: &Ctx, e: &postgres::Error) -> (String, String) {
    let db = &ctx.plan.config.database;
    if let Some(d) = e.as_db_error() {
        let fix = match d.code().code() {
            "3D000" => format!("create it: `createdb -O {} {}` (as postgres)", db.user, db.name),
            "28000" if db.kind == DatabaseKind::Local => format!(
                "peer authentication needs the OS user to be {} and the role {} to exist: `createuser {}` (as postgres)",
                ctx.plan.config.account.user, db.user, db.user
            ),
            "28000" => "allow this host in pg_hba.conf for this role and database".to_string(),
            "28P01" => format!("check the password in {}", db.password_file.as_deref().unwrap_or("database.password_file")),
            _ => "see PostgreSQL's log".to_string(),
        };
        return (
            format!("PostgreSQL refused {}: {}", describe(ctx), d.message()),
            fix,
        );
    }
    let source = std::error::Error::source(e);
    if let Some(r) = source.and_then(tls::find_rustls_error) {
        let host = db.host.clone().unwrap_or_default();
        return (
            tls::describe_error(r, &host),
            "pass --ca-file with the server's CA, or check database.sslmode".into(),
        );
    }
    let detail = source.map_or_else(|| e.to_string(), |s| s.to_string());
    let fix = match db.kind {
        DatabaseKind::Local => format!(
            "start PostgreSQL and check it listens on {}/.s.PGSQL.{}",
            db.socket_dir, db.port
        ),
        DatabaseKind::External => "check database.host, database.port and the firewall".to_string(),
    };
    (
        format!("cannot connect to {}: {detail}", describe(ctx)),
        fix,
    )
}

/// Rerun the database check in a child process running as the service user.
fn as_service_user(ctx: &Ctx, service: &str, steps: &mut Steps) -> Outcome {
    if users::effective_uid() != 0 {
        return Outcome::fail(
            "--as-user needs root",
            "run doctor as root, or as the service user without --as-user",
        );
    }
    let Some(user) = users::lookup(service) else {
        return Outcome::fail(
            format!("the service user {service} does not exist"),
            "create it (the rendered sysusers.d/mattermost.conf: `systemd-sysusers`)",
        );
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return Outcome::fail(
                format!("cannot find this program: {e}"),
                "run the check as the service user",
            )
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg("doctor");
    for f in &ctx.args.config.files {
        cmd.arg(std::path::absolute(f).unwrap_or_else(|_| f.clone()));
    }
    for s in &ctx.args.config.sets {
        cmd.arg("--set").arg(s);
    }
    cmd.args([
        "--only",
        "database",
        "--json",
        "--timeout",
        &ctx.args.net.timeout.to_string(),
    ]);
    if let Some(ca) = &ctx.args.net.ca_file {
        cmd.arg("--ca-file")
            .arg(std::path::absolute(ca).unwrap_or_else(|_| ca.clone()));
    }
    // Supplementary groups are dropped by std when uid is set as root.
    cmd.uid(user.uid).gid(user.gid).current_dir("/");
    steps.doing(&format!("rerunning as {service}"));
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            return Outcome::fail(
                format!("cannot run the check as {service}: {e}"),
                "run the check as the service user",
            )
        }
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    let Some(child) = parsed.as_ref().and_then(|v| v.pointer("/checks/0")) else {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string();
        return Outcome::fail(
            format!("the check as {service} did not finish: {line}"),
            format!("the config files must be readable by {service}"),
        );
    };
    from_child(child, service, steps)
}

fn from_child(v: &serde_json::Value, service: &str, steps: &mut Steps) -> Outcome {
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    steps.done(format!("ran as {service}"));
    if let Some(arr) = v.get("steps").and_then(|s| s.as_array()) {
        for s in arr.iter().filter_map(|s| s.as_str()) {
            steps.done(s.to_string());
        }
    }
    // A failure carries each problem with its fix (`problems`), as the child reported them.
    let problems: Vec<(String, String)> = v
        .get("problems")
        .and_then(|p| p.as_array())
        .map(|list| {
            list.iter()
                .map(|p| {
                    let field = |k: &str| p.get(k).and_then(|x| x.as_str()).unwrap_or_default();
                    (field("problem").to_string(), field("fix").to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    match v.get("status").and_then(|s| s.as_str()) {
        Some("pass") => Outcome::pass(text("summary")),
        Some("skipped") => Outcome::skipped(text("summary")),
        _ if !problems.is_empty() => Outcome::failures(problems),
        _ => Outcome::fail(text("summary"), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::split_sslmode;

    #[test]
    fn sslmode_is_taken_out_of_the_dsn() {
        let (rest, mode) = split_sslmode(
            "postgres://mm@db.example.com:5432/mm?sslmode=verify-full&connect_timeout=10",
        );
        assert_eq!(mode, "verify-full");
        assert_eq!(
            rest,
            "postgres://mm@db.example.com:5432/mm?connect_timeout=10"
        );
    }
}
