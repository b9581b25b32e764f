//! The local PostgreSQL cluster (peer authentication as root over the unix socket), and
//! throwaway databases with unique names.

use std::process::Command;

pub const SOCKET_DIR: &str = "/var/run/postgresql";

/// Run SQL through psql as the current user; stdout, or the error.
pub fn psql(db: &str, sql: &str) -> Result<String, String> {
    let o = Command::new("psql")
        .args([
            "--no-psqlrc",
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            SOCKET_DIR,
            "-d",
            db,
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

/// Whether the cluster answers to root over the socket; the reason when not.
pub fn available() -> Result<(), String> {
    if !super::have("psql") {
        return Err("psql is not installed (the CI script installs postgresql)".into());
    }
    psql("postgres", "SELECT 1")
        .map(|_| ())
        .map_err(|e| format!("PostgreSQL does not answer as root over {SOCKET_DIR} ({e}); start it: pg_ctlcluster 15 main start"))
}

/// A database dropped on drop.
pub struct TempDb {
    pub name: String,
}

impl TempDb {
    pub fn new(prefix: &str) -> TempDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("gm_{prefix}_{}_{nanos}", std::process::id());
        psql("postgres", &format!("CREATE DATABASE {name}")).expect("create database");
        TempDb { name }
    }

    /// A name for a database that is never created (but still dropped, should a test
    /// create it).
    pub fn unique_name(prefix: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("gm_{prefix}_{}_{nanos}", std::process::id())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}
