//! A hostile local-mode socket: `integrations sync` talks to Mattermost's stand-in through a
//! proxy that answers the update of a slash command (whose body carries the command's token)
//! with an error echoing that body, raw and encoded. Nothing printed may hold the token in
//! any form.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

// Shared with ops_integrations.rs, which uses all of it; this test only part.
#[allow(dead_code)]
#[path = "support/mattermost_local.rs"]
mod mattermost_local;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine;
use mattermost_local::Mattermost;
use serde_json::json;
use support::gitlab_stub::{Stub, ADMIN_TOKEN};
use support::*;

const SITE: &str = "https://chat.example.test";
const PROJECT: &str = "group/project";

/// Forwards every request to `upstream`, except a PUT of a slash command, answered HTTP 500
/// with the request's token and body echoed: raw in the JSON `message` when `json`, else as
/// plain text, the token in base64 (inside longer data), hex, percent-encoding and raw. The
/// token comes first: what is printed of an answer is only its start.
struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn start(socket: &Path, upstream: &Path, json: bool) -> Echo {
        let listener = UnixListener::bind(socket).expect("the proxy binds");
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let upstream = upstream.to_path_buf();
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(false);
                        relay(c, &upstream, json);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Echo {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relay(conn: UnixStream, upstream: &Path, json: bool) {
    let mut reader = BufReader::new(conn);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let mut conn = reader.into_inner();
    if head.starts_with("PUT /api/v4/commands/") {
        let raw = String::from_utf8_lossy(&body).into_owned();
        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = sent["token"].as_str().unwrap_or_default().to_string();
        let answer = if json {
            json!({"message": format!("token {token} refused; the request was {raw}")}).to_string()
        } else {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("t={token}"));
            let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
            let pct: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
            format!("b64 {b64} hex {hex} pct {pct} raw {token}")
        };
        let _ = write!(conn, "HTTP/1.1 500 X\r\n\r\n{answer}");
        return;
    }
    let Ok(mut up) = UnixStream::connect(upstream) else {
        return;
    };
    let _ = up.write_all(head.as_bytes());
    let _ = up.write_all(&body);
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer);
    let _ = conn.write_all(&answer);
}

/// An Omnibus-made slash command to adopt (its URL is repointed, so `sync` sends it back
/// whole, token included); `sync --adopt` through the echoing proxy. Returns the token,
/// the exit code, stdout, stderr and the commands Mattermost holds afterwards.
fn adopt_through_echo(json: bool) -> (String, i32, String, String, Vec<serde_json::Value>) {
    // Not under /tmp: the config refuses a socket in the unit's private /tmp.
    let dir = tempfile::tempdir_in(socket_parent()).unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mm = Mattermost::start(&dir.path().join("data/mm.sock"));
    mm.user("admin");
    let team_id = mm.team("eng");
    mm.channel("eng", "town-square");
    let echo = Echo::start(
        &dir.path().join("data/echo.sock"),
        &dir.path().join("data/mm.sock"),
        json,
    );
    let gitlab = Stub::start(true);
    let project_id = gitlab.add_project(PROJECT);
    let old_trigger = format!(
        "http://old-gitlab.example.test/api/v4/projects/{project_id}/services/mattermost_slash_commands/trigger"
    );
    let (_, command_token) = mm.insert_command(&team_id, "project", &old_trigger);
    gitlab.set_integration(
        project_id,
        "mattermost-slash-commands",
        &command_token,
        json!({}),
    );
    let token = dir.path().join("token");
    write_file(&token, ADMIN_TOKEN, 0o600);
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"{SITE}\"\n\
             [directories]\ndata = \"{d}/data\"\n\
             [gitlab]\nurl = \"{}\"\n\
             [nginx]\nenable = false\n\
             [settings.ServiceSettings]\nEnableLocalMode = true\nLocalModeSocketLocation = \"{d}/data/echo.sock\"\n\
             [integrations]\nowner = \"admin\"\nstate_directory = \"{d}/state\"\n\
             [integrations.incoming_webhooks.gitlab]\nteam = \"eng\"\nchannel = \"town-square\"\n\
             [integrations.gitlab_projects.\"{PROJECT}\"]\nwebhook = \"gitlab\"\n\
             [integrations.gitlab_projects.\"{PROJECT}\".slash_commands]\nenable = true\ntrigger = \"project\"\n",
            gitlab.url
        ),
    )
    .unwrap();
    let o = run(&[
        "integrations",
        "sync",
        config.to_str().unwrap(),
        "--token-file",
        token.to_str().unwrap(),
        "--timeout",
        "5",
        "--adopt",
    ]);
    drop(echo);
    let (out, err) = text(&o);
    (
        command_token,
        o.status.code().unwrap_or(-1),
        out,
        err,
        mm.commands(),
    )
}

/// Whether `text` holds `token` as is, in hex or percent-encoded, or inside base64 at any
/// alignment (every run of base64 characters decoded from each of its first four offsets).
fn holds(text: &str, token: &str) -> bool {
    let b = token.as_bytes();
    let hex: String = b.iter().map(|c| format!("{c:02x}")).collect();
    let pct: String = url::form_urlencoded::byte_serialize(b).collect();
    if [token.to_string(), hex.to_uppercase(), hex, pct]
        .iter()
        .any(|f| text.contains(f.as_str()))
    {
        return true;
    }
    // Lenient: a run cut anywhere still decodes.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    text.split(|c| !b64(c)).any(|run| {
        (0..4).any(|k| {
            let Some(part) = run.get(k..) else {
                return false;
            };
            let part = if part.len() % 4 == 1 {
                &part[..part.len() - 1]
            } else {
                part
            };
            engine
                .decode(part)
                .map(|d| d.windows(b.len()).any(|w| w == b))
                .unwrap_or(false)
        })
    })
}

#[test]
fn an_error_echoing_the_command_token_prints_no_form_of_it() {
    for json in [true, false] {
        let (token, code, out, err, commands) = adopt_through_echo(json);
        assert_ne!(code, 0, "the refusal is an error:\n{out}\n{err}");
        // The refused update changed nothing: the one command, its old URL and token.
        assert_eq!(commands.len(), 1, "{commands:?}");
        assert_eq!(commands[0]["token"], token.as_str());
        assert!(
            commands[0]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://old-gitlab.example.test/")),
            "{commands:?}"
        );
        // The refusal is printed, the server's words with the token taken out.
        assert!(
            err.contains("updating the slash command") && err.contains("HTTP 500"),
            "{err}"
        );
        assert!(err.contains("[redacted]"), "{err}");
        assert!(
            !holds(&out, &token) && !holds(&err, &token),
            "the token leaked:\n{out}\n{err}"
        );
    }
}

#[test]
fn the_leak_check_sees_every_echoed_form() {
    let token = "tok00000000000000000000042";
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("t={token}"));
    assert!(holds(&format!("b64 {b64} x"), token));
    assert!(holds("hex 746f6b3030", "tok00"));
    assert!(!holds("b64 [redacted] hex [redacted]", token));
}
