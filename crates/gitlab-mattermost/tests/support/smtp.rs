//! Start the aiosmtpd test server (Debian's python3-aiosmtpd) in plain, STARTTLS or
//! implicit-TLS mode, with AUTH.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct SmtpServer {
    pub port: u16,
    pub mailbox: PathBuf,
    child: Child,
}

/// The python interpreter that has aiosmtpd (Debian's, not a pyenv shim), if any.
pub fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

impl SmtpServer {
    pub fn start(
        py: &str,
        dir: &Path,
        mode: &str,
        cert: &Path,
        key: &Path,
        user: &str,
        password: &str,
    ) -> SmtpServer {
        let script = dir.join("smtp_server.py");
        std::fs::write(&script, include_str!("smtp_server.py")).unwrap();
        let mailbox = dir.join(format!("mailbox-{mode}.jsonl"));
        let port = super::free_port();
        let mut child = Command::new(py)
            .arg(&script)
            .args([mode, &port.to_string()])
            .arg(cert)
            .arg(key)
            .args([user, password])
            .arg(&mailbox)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the SMTP server starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "READY", "the SMTP server did not start");
        SmtpServer {
            port,
            mailbox,
            child,
        }
    }

    /// Mails received so far.
    pub fn mails(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.mailbox)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
