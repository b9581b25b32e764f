//! Mattermost's REST API over its local-mode socket: whoever opens the socket is a system
//! admin, so no token or password is needed (or kept) anywhere.
//!
//! Requests are HTTP/1.0 with `Connection: close`, so Mattermost's Go server answers without
//! chunked encoding and closes the connection: the answer is everything read until then.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

/// An answer from Mattermost.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body).map_err(|e| {
            anyhow!(
                "Mattermost answered HTTP {} but not JSON ({e})",
                self.status
            )
        })
    }

    /// Mattermost's own words for a refusal (`message` of its error JSON), for messages.
    pub fn message(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| self.body.chars().take(200).collect())
    }
}

/// Talks to one socket.
pub struct Local {
    pub socket: String,
    pub timeout: Duration,
}

impl Local {
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
        let mut stream = UnixStream::connect(&self.socket).with_context(|| {
            format!(
                "cannot connect to Mattermost's local-mode socket {} (is mattermost.service running with ServiceSettings.EnableLocalMode, and are you root?)",
                self.socket
            )
        })?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let payload = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
            payload.len()
        );
        stream
            .write_all(request.as_bytes())
            .with_context(|| format!("{method} {path} over {}", self.socket))?;
        let mut raw = Vec::new();
        stream
            .take(16 * 1024 * 1024)
            .read_to_end(&mut raw)
            .with_context(|| format!("reading Mattermost's answer to {method} {path}"))?;
        let reply =
            parse(&raw).with_context(|| format!("Mattermost's answer to {method} {path}"))?;
        let path = loggable(path);
        tracing::debug!(method, path, status = reply.status, "Mattermost answered");
        Ok(reply)
    }
}

/// A path as logs show it: an incoming webhook's id is the secret of its URL, so it is cut.
fn loggable(path: &str) -> String {
    const HOOK: &str = "/api/v4/hooks/incoming/";
    match path.strip_prefix(HOOK) {
        Some(rest) if !rest.is_empty() => format!("{HOOK}…"),
        _ => path.to_string(),
    }
}

/// Status and body of a whole HTTP/1.x answer.
pub fn parse(raw: &[u8]) -> Result<Reply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("not an HTTP answer"))?;
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| anyhow!("not an HTTP status line: {status_line:?}"))?;
    Ok(Reply {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_split_into_status_and_body() {
        let r =
            parse(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{\"id\":\"x\"}")
                .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.json().unwrap()["id"], "x");
        let e = parse(b"HTTP/1.1 404 Not Found\r\n\r\n{\"message\":\"Unable to find the team.\"}")
            .unwrap();
        assert!(!e.ok());
        assert_eq!(e.message(), "Unable to find the team.");
        assert!(parse(b"garbage").is_err());
        assert!(parse(b"SMTP 200 x\r\n\r\n").is_err());
    }

    #[test]
    fn webhook_ids_stay_out_of_logs() {
        assert_eq!(
            loggable("/api/v4/hooks/incoming/abc123"),
            "/api/v4/hooks/incoming/…"
        );
        assert_eq!(
            loggable("/api/v4/hooks/incoming?team_id=t&page=0"),
            "/api/v4/hooks/incoming?team_id=t&page=0"
        );
        assert_eq!(loggable("/api/v4/commands/c1"), "/api/v4/commands/c1");
    }

    #[test]
    fn a_real_socket_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 200 OK\r\n\r\n{\"ok\":true}")
                .unwrap();
            req
        });
        let local = Local {
            socket: path.to_string_lossy().into_owned(),
            timeout: Duration::from_secs(5),
        };
        let r = local
            .send(
                "PUT",
                "/api/v4/hooks/incoming/abc",
                Some(&serde_json::json!({"a": 1})),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        let req = server.join().unwrap();
        assert!(
            req.starts_with("PUT /api/v4/hooks/incoming/abc HTTP/1.0\r\n"),
            "{req}"
        );
        assert!(req.ends_with("\r\n\r\n{\"a\":1}"), "{req}");
    }
}
