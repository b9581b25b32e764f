//! Mattermost's REST API over its local-mode socket: whoever opens the socket is a system
//! admin, so no token or password is needed (or kept) anywhere.
//!
//! Requests are HTTP/1.0 with `Connection: close`, so Mattermost's Go server answers without
//! chunked encoding and closes the connection: the answer is everything read until then.
//!
//! An answer is hostile text like any server's: an error may echo the request. What a request
//! sent that is secret (a slash command's token in the object it updates, an incoming
//! webhook's id in its path) is kept, in every form, out of whatever of the answer is printed,
//! through the same [`Redactor`] the HTTP client uses.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

use crate::http::Redactor;

/// How much of Mattermost's words an error message carries at most.
const EXCERPT_CHARS: usize = 200;

/// An answer from Mattermost.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// As sent: the objects read from it keep their real ids and tokens. Print only through
    /// [`Reply::message`].
    pub body: String,
    /// What the request sent that is secret.
    secrets: Redactor,
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

    /// Mattermost's own words for a refusal (`message` of its error JSON, else the start of
    /// the body), for messages: redacted of what the request sent that is secret, then
    /// shortened (in that order, so no cut can leave part of a secret unrecognised).
    pub fn message(&self) -> String {
        let text = serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| self.body.clone());
        excerpt(&self.secrets.redact(&text))
    }
}

fn excerpt(text: &str) -> String {
    if text.chars().count() > EXCERPT_CHARS {
        format!("{}…", text.chars().take(EXCERPT_CHARS).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Field names whose values are secrets, as the HTTP client judges a request body's fields:
/// a command's `token`, and whatever else of the kind an object Mattermost sends back holds.
fn secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "secret", "password", "webhook", "key"]
        .iter()
        .any(|w| name.contains(w))
}

/// Every string under a secret field of `value`, at any depth (an object updated is sent back
/// whole, nested props included).
fn add_secret_fields(value: &Value, secrets: &mut Redactor) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                match v {
                    Value::String(s) if secret_field(k) => secrets.add(s),
                    _ => add_secret_fields(v, secrets),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| add_secret_fields(v, secrets)),
        _ => {}
    }
}

/// What a request to `path` with `body` sends that is secret.
fn secrets_of(path: &str, body: Option<&Value>) -> Redactor {
    let mut secrets = Redactor::new();
    if let Some(id) = hook_id(path) {
        secrets.add(id);
    }
    if let Some(body) = body {
        add_secret_fields(body, &mut secrets);
    }
    secrets
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
        let secrets = secrets_of(path, body);
        let path = loggable(path);
        let reply = parse(&raw, secrets)
            .with_context(|| format!("Mattermost's answer to {method} {path}"))?;
        tracing::debug!(method, path, status = reply.status, "Mattermost answered");
        Ok(reply)
    }
}

const HOOK: &str = "/api/v4/hooks/incoming/";

/// The incoming webhook's id a path names: the secret of the webhook's URL.
fn hook_id(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(HOOK)?;
    let id = rest.split(['/', '?']).next().unwrap_or_default();
    (!id.is_empty()).then_some(id)
}

/// A path as logs show it: an incoming webhook's id is the secret of its URL, so it is cut.
fn loggable(path: &str) -> String {
    match hook_id(path) {
        Some(_) => format!("{HOOK}…"),
        None => path.to_string(),
    }
}

/// Status and body of a whole HTTP/1.x answer to a request that sent `secrets`.
pub fn parse(raw: &[u8], secrets: Redactor) -> Result<Reply> {
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
        .ok_or_else(|| {
            let line = excerpt(&secrets.redact(status_line));
            anyhow!("not an HTTP status line: {line:?}")
        })?;
    Ok(Reply {
        status,
        body: body.to_string(),
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_split_into_status_and_body() {
        let r = parse(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n{\"id\":\"x\"}",
            Redactor::new(),
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.json().unwrap()["id"], "x");
        let e = parse(
            b"HTTP/1.1 404 Not Found\r\n\r\n{\"message\":\"Unable to find the team.\"}",
            Redactor::new(),
        )
        .unwrap();
        assert!(!e.ok());
        assert_eq!(e.message(), "Unable to find the team.");
        assert!(parse(b"garbage", Redactor::new()).is_err());
        assert!(parse(b"SMTP 200 x\r\n\r\n", Redactor::new()).is_err());
    }

    #[test]
    fn what_a_request_sent_that_is_secret_is_not_in_its_message() {
        let body = serde_json::json!({"id": "k1", "trigger": "p", "token": "tok0123456789abcdefghijkl",
            "props": {"webhook_secret": "nested-secret-value"}});
        let secrets = secrets_of("/api/v4/hooks/incoming/hookid0123456789abcdef", Some(&body));
        let echo = format!("HTTP/1.1 500 X\r\n\r\nbad hookid0123456789abcdef {body}");
        let m = parse(echo.as_bytes(), secrets).unwrap().message();
        for s in [
            "tok0123456789abcdefghijkl",
            "nested-secret-value",
            "hookid0123456789abcdef",
        ] {
            assert!(!m.contains(s), "{s} in {m}");
        }
        assert!(m.contains("\"trigger\":\"p\""), "{m}");
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
