//! Generated database names, roles, hosts, ports, TLS modes, socket directories and read
//! replicas in the rendered DSNs: each config is refused (naming the key) or every DSN reads
//! back to exactly its components, with the `url` crate, tokio-postgres' parser, Go's
//! net/url (what lib/pq and pgx use) and, for a sample, a real PostgreSQL through psql.

mod common;
mod readback;
mod support;

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::str::FromStr;

use gitlab_mattermost::syntax::names::{self, Host};
use gitlab_mattermost::syntax::{dsn, paths};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use readback::{any_path, any_string, clean_path, compile, keys, printable_string};
use serde_json::json;

const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

#[derive(Debug, Clone)]
struct Input {
    external: bool,
    name: String,
    user: String,
    host: String,
    port: u16,
    sslmode: String,
    socket_dir: String,
    replicas: Vec<String>,
}

fn db_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_][a-z0-9_]{0,20}",
        1 => prop::sample::select(vec![".", "..", "...", ".mm", "mm."]).prop_map(String::from),
        4 => printable_string(20),
        1 => any_string(70),
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z][a-z0-9]{0,10}){0,3}",
        2 => any::<Ipv4Addr>().prop_map(|a| a.to_string()),
        1 => any::<Ipv6Addr>().prop_map(|a| a.to_string()),
        1 => any::<Ipv6Addr>().prop_map(|a| format!("[{a}]")),
        2 => any_string(16),
    ]
}

fn replica() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => host(),
        3 => (host(), 1u32..70000).prop_map(|(h, p)| {
            if h.contains(':') && !h.starts_with('[') { format!("[{h}]:{p}") } else { format!("{h}:{p}") }
        }),
        1 => (host(), any_string(6)).prop_map(|(h, p)| format!("{h}:{p}")),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    (
        any::<bool>(),
        db_name(),
        db_name(),
        host(),
        prop_oneof![9 => 1u16..=65535, 1 => Just(0u16)],
        prop_oneof![6 => prop::sample::select(SSLMODES).prop_map(str::to_string), 1 => any_string(10)],
        prop_oneof![4 => clean_path(""), 1 => any_path()],
        prop::collection::vec(replica(), 0..3),
    )
        .prop_map(|(external, name, user, host, port, sslmode, socket_dir, replicas)| Input {
            external,
            name,
            user,
            host,
            port,
            sslmode,
            socket_dir,
            replicas,
        })
}

/// One DSN and what it must say.
#[derive(Debug, Clone)]
struct Expected {
    dsn: String,
    user: String,
    database: String,
    /// `Some((host, port))` over TCP; `None` over the socket directory.
    tcp: Option<(Host, u16)>,
    socket_dir: String,
    port: u16,
    sslmode: String,
}

fn allowed_refusals(i: &Input) -> Vec<String> {
    let mut allowed = Vec::new();
    if dsn::database_name_problem(&i.name).is_some() {
        allowed.push("database.name".to_string());
    }
    if dsn::name_problem(&i.user).is_some() {
        allowed.push("database.user".into());
    }
    if i.external && Host::parse(&i.host).is_err() {
        allowed.push("database.host".into());
    }
    if i.port == 0 {
        allowed.push("database.port".into());
    }
    if !SSLMODES.contains(&i.sslmode.as_str()) {
        allowed.push("database.sslmode".into());
    }
    if paths::service_directory_problem(&i.socket_dir).is_some() {
        allowed.push("database.socket_dir".into());
    }
    for (n, r) in i.replicas.iter().enumerate().filter(|_| i.external) {
        if names::parse_host_port(r, i.port.max(1)).is_err() {
            allowed.push(format!("database.read_replicas.{n}"));
        }
    }
    allowed
}

fn config(i: &Input) -> serde_json::Value {
    let mut db = json!({
        "name": i.name, "user": i.user, "port": i.port, "sslmode": i.sslmode,
        "socket_dir": i.socket_dir,
    });
    if i.external {
        db["kind"] = json!("external");
        db["host"] = json!(i.host);
        db["password_file"] = json!("/run/secrets/db");
        db["read_replicas"] = json!(i.replicas);
    }
    json!({
        "external_url": "http://chat.example.com",
        // Peer authentication needs the role to be the service's user; this test is about
        // the DSN, so the account follows the generated role when it can.
        "account": { "user": if names::system_name_problem(&i.user).is_none() { i.user.as_str() } else { "mattermost" } },
        "database": db,
    })
}

/// Refused as it should be (`Ok(None)`), or the DSNs with what each must read back as.
fn expectations(i: &Input) -> Result<Option<Vec<Expected>>, TestCaseError> {
    let mut config = config(i);
    if !i.external && names::system_name_problem(&i.user).is_some() {
        // A local database needs role = service user; keep that requirement out of the way.
        config["database"]["kind"] = json!("external");
        config["database"]["host"] = json!("db.example.com");
        config["database"]["password_file"] = json!("/run/secrets/db");
    }
    let external = config["database"]["kind"] == "external";
    let plan = match compile(&config, "/etc/gitlab-mattermost") {
        Ok((plan, _)) => plan,
        Err(d) => {
            let allowed = allowed_refusals(i);
            let named = keys(&d);
            prop_assert!(!allowed.is_empty(), "refused {i:?}: {d}");
            prop_assert!(
                named.iter().all(|k| allowed.contains(k)),
                "refused {named:?}, expected only {allowed:?}: {d}"
            );
            return Ok(None);
        }
    };
    prop_assert!(allowed_refusals(i).is_empty(), "accepted {i:?}");
    let base = |dsn: &str, tcp| Expected {
        dsn: dsn.to_string(),
        user: i.user.clone(),
        database: i.name.clone(),
        tcp,
        socket_dir: i.socket_dir.clone(),
        port: i.port,
        sslmode: if external {
            i.sslmode.clone()
        } else {
            "disable".into()
        },
    };
    let main = plan
        .env
        .get("MM_SQLSETTINGS_DATASOURCE")
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    if external {
        let host = config["database"]["host"].as_str().unwrap_or_default();
        out.push(base(
            &main,
            Some((Host::parse(host).map_err(TestCaseError::fail)?, i.port)),
        ));
        let replicas = plan
            .env
            .get("MM_SQLSETTINGS_DATASOURCEREPLICAS")
            .cloned()
            .unwrap_or_default();
        let dsns: Vec<&str> = replicas.split(' ').filter(|s| !s.is_empty()).collect();
        let wanted: Vec<&String> = if i.external {
            i.replicas.iter().collect()
        } else {
            Vec::new()
        };
        prop_assert_eq!(dsns.len(), wanted.len());
        for (d, r) in dsns.iter().zip(wanted) {
            let (h, p) = names::parse_host_port(r, i.port).map_err(TestCaseError::fail)?;
            out.push(base(d, Some((h, p))));
        }
    } else {
        out.push(base(&main, None));
    }
    Ok(Some(out))
}

/// `%XX` decoding (the `url` crate leaves paths and user names encoded).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 inside")
}

fn read_back_in_process(e: &Expected) -> Result<(), TestCaseError> {
    let dsn = &e.dsn;
    prop_assert!(!dsn.contains(char::is_whitespace), "{dsn}");
    // tokio-postgres knows only disable/prefer/require; the doctor does the rest itself.
    let known = ["disable", "prefer", "require"].contains(&e.sslmode.as_str());
    let parsable = if known {
        dsn.clone()
    } else {
        dsn.replace(&format!("sslmode={}&", dsn::encode(&e.sslmode)), "")
    };
    let pg = postgres::Config::from_str(&parsable)
        .map_err(|err| TestCaseError::fail(format!("{dsn}: {err}")))?;
    prop_assert_eq!(pg.get_user(), Some(e.user.as_str()));
    prop_assert_eq!(pg.get_dbname(), Some(e.database.as_str()));
    prop_assert_eq!(
        pg.get_connect_timeout(),
        Some(&std::time::Duration::from_secs(10))
    );
    match &e.tcp {
        Some((host, port)) => {
            let want = match host {
                Host::V6(a) => a.to_string(),
                other => other.for_url(),
            };
            prop_assert_eq!(pg.get_hosts(), &[postgres::config::Host::Tcp(want)][..]);
            prop_assert_eq!(pg.get_ports(), &[*port][..]);
            let url =
                url::Url::parse(dsn).map_err(|err| TestCaseError::fail(format!("{dsn}: {err}")))?;
            prop_assert_eq!(url.scheme(), "postgres");
            prop_assert_eq!(decode(url.username()), e.user.clone());
            prop_assert_eq!(url.port(), Some(*port));
            prop_assert_eq!(
                decode(url.path().trim_start_matches('/')),
                e.database.clone()
            );
            let query: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            prop_assert_eq!(
                query,
                vec![
                    ("sslmode".to_string(), e.sslmode.clone()),
                    ("connect_timeout".to_string(), "10".to_string())
                ]
            );
        }
        None => {
            prop_assert_eq!(
                pg.get_hosts(),
                &[postgres::config::Host::Unix(e.socket_dir.clone().into())][..]
            );
            prop_assert_eq!(pg.get_ports(), &[e.port][..]);
            prop_assert_eq!(pg.get_ssl_mode(), postgres::config::SslMode::Disable);
        }
    }
    Ok(())
}

/// Go's net/url on every accepted DSN at once: one `go run` for the whole batch.
fn read_back_with_go(all: &[Expected]) {
    if !common::have("go") {
        return;
    }
    let program =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/readback/dsn_parse.go");
    let mut child = Command::new("go")
        .arg("run")
        .arg(&program)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("go runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        for e in all {
            writeln!(stdin, "{}", e.dsn).expect("write");
        }
    }
    let o = child.wait_with_output().expect("go finishes");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), all.len());
    for (e, got) in all.iter().zip(&lines) {
        let q = |k: &str| got["query"][k].clone();
        assert_eq!(got["error"], serde_json::Value::Null, "{}", e.dsn);
        assert_eq!(got["user"], e.user.as_str(), "{}", e.dsn);
        assert_eq!(got["database"], e.database.as_str(), "{}", e.dsn);
        assert_eq!(q("sslmode"), json!([e.sslmode]), "{}", e.dsn);
        assert_eq!(q("connect_timeout"), json!(["10"]), "{}", e.dsn);
        match &e.tcp {
            Some((host, port)) => {
                let want = match host {
                    Host::V6(a) => a.to_string(),
                    other => other.for_url(),
                };
                assert_eq!(got["host"], want.as_str(), "{}", e.dsn);
                assert_eq!(got["port"], port.to_string().as_str(), "{}", e.dsn);
            }
            None => {
                assert_eq!(got["host"], "", "{}", e.dsn);
                assert_eq!(q("host"), json!([e.socket_dir]), "{}", e.dsn);
                assert_eq!(q("port"), json!([e.port.to_string()]), "{}", e.dsn);
            }
        }
    }
}

#[test]
fn generated_database_settings_are_refused_or_read_back_by_every_parser() {
    let accepted = RefCell::new(Vec::new());
    readback::run(512, 120, input(), |i| match expectations(&i)? {
        None => Ok(false),
        Some(all) => {
            for e in &all {
                read_back_in_process(e)?;
            }
            accepted.borrow_mut().extend(all);
            Ok(true)
        }
    });
    read_back_with_go(&accepted.borrow());
}

/// A SQL identifier in double quotes, and a string literal in single quotes.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Real PostgreSQL: a role and a database with generated names, a generated password put
/// in by the `exec` wrapper's own function, and psql connecting with the rendered DSN.
#[test]
fn psql_connects_with_the_rendered_dsn_to_generated_names() {
    if let Err(why) = support::pg::available() {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
        return;
    }
    let counter = std::cell::Cell::new(0u32);
    readback::run(
        12,
        12,
        (
            printable_string(10),
            printable_string(10),
            printable_string(16),
        ),
        |(name, user, password)| {
            counter.set(counter.get() + 1);
            let tag = format!("gm{}_{}_", std::process::id(), counter.get());
            let (name, user) = (format!("{tag}{name}"), format!("{tag}{user}"));
            let config = json!({
                "external_url": "http://chat.example.com",
                "database": {
                    "kind": "external", "host": "127.0.0.1", "name": name, "user": user,
                    "password_file": "/run/secrets/db", "sslmode": "require",
                },
            });
            let (plan, _) = compile(&config, "/etc/gitlab-mattermost")
                .map_err(|d| TestCaseError::fail(d.to_string()))?;
            let dsn = gitlab_mattermost::exec::insert_password(
                &plan.env["MM_SQLSETTINGS_DATASOURCE"],
                &password,
            )
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let admin = |sql: &str| admin_sql(sql).map_err(TestCaseError::fail);
            admin(&format!(
                "CREATE ROLE {} LOGIN PASSWORD {}",
                ident(&user),
                literal(&password)
            ))?;
            let result = (|| {
                admin(&format!(
                    "CREATE DATABASE {} OWNER {}",
                    ident(&name),
                    ident(&user)
                ))?;
                let o = Command::new("psql")
                    .args(["--no-psqlrc", "-X", "-A", "-t", "-F", "\u{1f}", "-c", "SELECT current_database(), current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"])
                    .arg(&dsn)
                    .env_remove("PGPASSWORD")
                    .output()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(
                    o.status.success(),
                    "psql: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                let out = String::from_utf8_lossy(&o.stdout)
                    .trim_end_matches('\n')
                    .to_string();
                prop_assert_eq!(out, format!("{name}\u{1f}{user}\u{1f}t"));
                Ok(true)
            })();
            let _ = admin_sql(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                ident(&name)
            ));
            let _ = admin_sql(&format!("DROP ROLE IF EXISTS {}", ident(&user)));
            result
        },
    );
}

/// SQL as the cluster's superuser (root, by peer authentication).
fn admin_sql(sql: &str) -> Result<String, String> {
    support::pg::psql("postgres", sql)
}
