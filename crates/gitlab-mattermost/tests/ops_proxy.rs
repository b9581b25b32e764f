//! The rendered nginx vhost in a real nginx (Debian's, as root with a private prefix) in
//! front of a small upstream that echoes request headers and accepts websocket upgrades.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use gitlab_mattermost::ops::tls::{client_config, Verify};
use rustls::pki_types::ServerName;
use support::certs;
use support::*;

const NGINX: &str = "/usr/sbin/nginx";
const HOST: &str = "chat.example.test";

// ---- the upstream -------------------------------------------------------------------

/// Echo each request's method, target and headers as JSON; echo websocket messages back.
fn start_upstream() -> u16 {
    serve_each(serve)
}

fn serve(stream: TcpStream) {
    let head = peek_head(&stream);
    if head.to_ascii_lowercase().contains("upgrade: websocket") {
        let Ok(mut ws) = tungstenite::accept(stream) else {
            return;
        };
        while let Ok(msg) = ws.read() {
            if msg.is_text() {
                let reply = format!("echo: {}", msg.to_text().unwrap_or_default());
                if ws.send(tungstenite::Message::text(reply)).is_err() {
                    break;
                }
            } else if msg.is_close() {
                break;
            }
        }
        return;
    }
    echo_http(stream, &head);
}

/// The request head, without consuming it (the websocket handshake reads it again).
fn peek_head(stream: &TcpStream) -> String {
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..2000 {
        let n = stream.peek(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            return text[..end].to_string();
        }
        if n == 0 {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    String::new()
}

fn echo_http(mut stream: TcpStream, head: &str) {
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut headers = serde_json::Map::new();
    let mut length = 0usize;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.insert(k, serde_json::Value::String(v.trim().to_string()));
        }
    }
    // Consume the head and the body.
    let mut consumed = vec![0u8; head.len() + 4 + length];
    let _ = stream.read_exact(&mut consumed);
    let body = serde_json::json!({ "request": request_line, "headers": headers }).to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

// ---- nginx ------------------------------------------------------------------------

struct Nginx {
    child: Child,
    https_port: u16,
    http_port: u16,
    ca: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers before it exits (SIGKILL would leave
    /// the workers running, holding the ports).
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let stopped = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn nginx_args(dir: &Path) -> Vec<String> {
    vec![
        "-p".into(),
        format!("{}/", dir.display()),
        "-c".into(),
        dir.join("nginx.conf").display().to_string(),
        "-e".into(),
        dir.join("error.log").display().to_string(),
    ]
}

/// Render the vhost for a test config, wrap it in an `http {}` block and check it with
/// `nginx -t`.
fn prepare(dir: &Path, upstream: u16, https_port: u16, http_port: u16) -> PathBuf {
    let ca = certs::ca(dir, "Proxy Test CA");
    let leaf = certs::leaf(dir, "chat", &[HOST], &ca, 30, false);
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!(
            "external_url = \"https://{HOST}:{https_port}\"\n\
             [listen]\naddress = \"127.0.0.1\"\nport = {upstream}\n\
             [nginx]\ncertificate = \"{}\"\ncertificate_key = \"{}\"\n\
             redirect_http_to_https = true\nredirect_http_port = {http_port}\n\
             listen_addresses = [\"127.0.0.1\"]\nclient_max_body_size = \"1k\"\n",
            leaf.cert.display(),
            leaf.key.display()
        ),
    )
    .unwrap();
    let rendered = dir.join("rendered");
    let o = run(&[
        "render",
        config.to_str().unwrap(),
        "--out",
        rendered.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "render: {}", text(&o).1);
    // The vhost logs to nginx's usual log directory.
    std::fs::create_dir_all("/var/log/nginx").unwrap();
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n    access_log {d}/access.log;\n\
             client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n\
             include {}/nginx/mattermost.conf;\n}}\n",
            rendered.display()
        ),
    )
    .unwrap();
    ca.cert
}

fn start_nginx() -> Option<Nginx> {
    if !have(NGINX) || !have("openssl") {
        skip("nginx (/usr/sbin/nginx) or openssl is not installed (the CI script installs nginx-light)");
        return None;
    }
    if !is_root() {
        skip("the nginx test runs nginx as root");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let upstream = start_upstream();
    let (https_port, http_port) = (free_port(), free_port());
    let ca = prepare(dir.path(), upstream, https_port, http_port);
    let t = Command::new(NGINX)
        .arg("-t")
        .args(nginx_args(dir.path()))
        .output()
        .unwrap();
    assert!(
        t.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    let child = Command::new(NGINX)
        .args(nginx_args(dir.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx {
        child,
        https_port,
        http_port,
        ca,
        dir,
    };
    // Wait (bounded) until nginx accepts connections on both ports.
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", https_port)).is_ok()
            && TcpStream::connect(("127.0.0.1", http_port)).is_ok()
        {
            return Some(nginx);
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let log = std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

// ---- clients ------------------------------------------------------------------------

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(n: &Nginx) -> Tls {
    let roots = rustls::pki_types::CertificateDer::pem_file_iter(&n.ca)
        .map(|it| it.map(|c| c.unwrap()).collect::<Vec<_>>())
        .unwrap();
    let config = Arc::new(client_config(&roots, Verify::Full).unwrap());
    let conn = rustls::ClientConnection::new(config, ServerName::try_from(HOST).unwrap()).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", n.https_port)).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

use rustls::pki_types::pem::PemObject;

/// Send a raw HTTP/1.1 request (Connection: close) and read the whole answer.
fn exchange(stream: &mut (impl Read + Write), request: &str, body: &[u8]) -> (u16, String, String) {
    stream.write_all(request.as_bytes()).unwrap();
    // nginx may refuse a body before reading it (413); later writes may then fail.
    let _ = stream.write_all(body).and_then(|_| stream.flush());
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

// ---- the test -------------------------------------------------------------------------

#[test]
fn nginx_proxies_redirects_upgrades_and_limits_bodies() {
    let Some(n) = start_nginx() else { return };
    let external = format!("{HOST}:{}", n.https_port);

    // http → https keeps path and query.
    let mut plain = TcpStream::connect(("127.0.0.1", n.http_port)).unwrap();
    let (status, head, _) = exchange(
        &mut plain,
        &get("/channels/town-square?x=1&y=two", HOST),
        b"",
    );
    assert_eq!(status, 301, "{head}");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap_or_default();
    assert_eq!(
        location,
        format!("https://{external}/channels/town-square?x=1&y=two")
    );

    // The upstream sees the external scheme and host.
    let mut tls = tls_connect(&n);
    let (status, head, body) = exchange(
        &mut tls,
        &get("/api/v4/system/ping?get_server_status=true", &external),
        b"",
    );
    assert_eq!(status, 200, "{head}\n{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-proto"], "https", "{echo}");
    assert_eq!(h["host"], external.as_str(), "{echo}");
    assert_eq!(h["x-real-ip"], "127.0.0.1", "{echo}");
    assert_eq!(
        echo["request"], "GET /api/v4/system/ping?get_server_status=true HTTP/1.1",
        "{echo}"
    );
    assert!(head.contains("Strict-Transport-Security"), "{head}");

    // A websocket upgrade through the proxy carries messages both ways.
    let tls = tls_connect(&n);
    use tungstenite::client::IntoClientRequest;
    let request = format!("wss://{external}/api/v4/websocket")
        .into_client_request()
        .unwrap();
    let (mut ws, response) =
        tungstenite::client(request, tls).expect("websocket handshake through nginx");
    assert_eq!(response.status().as_u16(), 101);
    for msg in ["hello", "second message"] {
        ws.send(tungstenite::Message::text(msg)).unwrap();
        let reply = ws.read().unwrap();
        assert_eq!(reply.to_text().unwrap(), format!("echo: {msg}"));
    }
    let _ = ws.close(None);

    // A body over client_max_body_size (1k) is refused by nginx.
    let mut tls = tls_connect(&n);
    let big = vec![b'x'; 4096];
    let request = format!(
        "POST /api/v4/files HTTP/1.1\r\nHost: {external}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    );
    let (status, head, _) = exchange(&mut tls, &request, &big);
    assert_eq!(status, 413, "{head}");

    // A body under the limit goes through.
    let mut tls = tls_connect(&n);
    let small = vec![b'y'; 512];
    let request = request.replace("4096", "512");
    let (status, head, _) = exchange(&mut tls, &request, &small);
    assert_eq!(status, 200, "{head}");
}
