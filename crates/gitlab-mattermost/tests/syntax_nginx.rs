//! Generated host names, certificate paths, ACME webroots and proxy header values in the nginx
//! vhost, read back by a real nginx: the config is refused (naming the key), or `nginx -t`
//! loads the certificates from exactly the generated paths, the http redirect names exactly
//! the generated host and serves ACME challenges from exactly the generated webroot, and the
//! upstream receives exactly the generated header values.

mod common;
mod readback;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gitlab_mattermost::syntax::{names::Host, nginx, paths};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use readback::{any_string, clean_path, compile, file, keys, printable_char};
use serde_json::json;

fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` free ports never handed out before in this test binary: the tests here run in
/// parallel, and a port one of them let go of must not reach another one's nginx.
fn free_ports<const N: usize>() -> [u16; N] {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Every listener is held until all are picked, so the N are distinct.
    let mut held = Vec::new();
    while held.len() < N {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = l.local_addr().expect("bound").port();
        if !given.contains(&port) {
            given.push(port);
            held.push((port, l));
        }
    }
    std::array::from_fn(|i| held[i].0)
}

/// nginx in the foreground, one process, on a generated vhost; stopped on drop.
struct Nginx(Child);

impl Nginx {
    fn start(dir: &Path, vhost: &str, wait_for: u16) -> Result<Nginx, String> {
        let conf = write_conf(dir, vhost, true);
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut nginx = Nginx(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // An nginx that could not bind exits: whatever answers then is not ours.
            if let Ok(Some(status)) = nginx.0.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = nginx.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(format!("nginx exited ({status}): {err}"));
            }
            if TcpStream::connect(("127.0.0.1", wait_for)).is_ok() {
                return Ok(nginx);
            }
            if Instant::now() > deadline {
                return Err(format!("nginx did not listen on {wait_for}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An nginx.conf whose `http` block includes the rendered vhost.
fn write_conf(dir: &Path, vhost: &str, foreground: bool) -> PathBuf {
    let vhost_file = common::write(dir, "mattermost.conf", vhost);
    let run = if foreground {
        "daemon off;\nmaster_process off;\n"
    } else {
        ""
    };
    common::write(
        dir,
        "nginx.conf",
        &format!(
            "{run}pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  include {v};\n}}\n",
            d = dir.display(),
            v = vhost_file.display()
        ),
    )
}

fn nginx_t(dir: &Path, vhost: &str) -> Result<(), String> {
    let conf = write_conf(dir, vhost, false);
    let o = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.success() && stderr.contains("test is successful") {
        Ok(())
    } else {
        Err(format!("nginx -t: {stderr}\n{vhost}"))
    }
}

/// GET `path` from 127.0.0.1:`port`; the response head and body.
fn get(port: u16, host: &str, path: &str) -> Result<(String, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((head.to_string(), body.to_string()))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

// ---- hosts and certificate paths ----------------------------------------------------

#[derive(Debug, Clone)]
struct Site {
    host: String,
    cert_dir: String,
    webroot: String,
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z][a-z0-9]{0,8}){0,3}",
        1 => any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
        1 => any::<std::net::Ipv6Addr>().prop_map(|a| format!("[{a}]")),
        2 => ("[a-z]{1,8}\\.example\\.com", prop::sample::select(&[";evil", "{", "}", "$x", "\"", " x", "#", "'", "!", "*", "~"][..]))
            .prop_map(|(h, tail)| format!("{h}{tail}")),
    ]
}

fn site() -> impl Strategy<Value = Site> {
    (host(), clean_path(""), clean_path("")).prop_map(|(host, cert_dir, webroot)| Site {
        host,
        cert_dir,
        webroot,
    })
}

fn check_site(s: Site, scratch: &Path, cert: &Path, key: &Path) -> Result<bool, TestCaseError> {
    let case = tempfile::tempdir_in(scratch).expect("tempdir");
    let cert_dir = format!("{}{}", case.path().display(), s.cert_dir);
    let webroot = format!("{}{}", case.path().display(), s.webroot);
    let [https_port, http_port] = free_ports();
    let external_url = format!("https://{}", s.host);
    let config = json!({
        "external_url": external_url,
        "nginx": {
            "certificate": paths::join(&cert_dir, "fullchain.pem"),
            "certificate_key": paths::join(&cert_dir, "key.pem"),
            "listen_addresses": ["127.0.0.1"],
            "listen_port": https_port,
            "redirect_http_to_https": true,
            "redirect_http_port": http_port,
            "acme_webroot": webroot,
        },
    });
    let files = match compile(&config, "/etc/gitlab-mattermost") {
        Ok((_, files)) => files,
        Err(d) => {
            let mut allowed = Vec::new();
            let parsed = url::Url::parse(&external_url);
            let host_ok = parsed.as_ref().ok().and_then(|u| match u.host() {
                Some(url::Host::Domain(d)) => Some(Host::parse(d).is_ok()),
                Some(_) => Some(true),
                None => None,
            });
            if host_ok != Some(true)
                || parsed.as_ref().is_ok_and(|u| !matches!(u.path(), "" | "/"))
                || parsed.as_ref().is_ok_and(|u| {
                    u.query().is_some() || u.fragment().is_some() || !u.username().is_empty()
                })
            {
                allowed.push("external_url");
            }
            if nginx::literal_problem(&cert_dir).is_some() {
                allowed.push("nginx.certificate");
                allowed.push("nginx.certificate_key");
            }
            if nginx::literal_problem(&webroot).is_some() {
                allowed.push("nginx.acme_webroot");
            }
            let named = keys(&d);
            prop_assert!(!allowed.is_empty(), "refused {s:?}: {d}");
            prop_assert!(
                named.iter().all(|k| allowed.contains(&k.as_str())),
                "refused {named:?}, expected only {allowed:?}: {d}"
            );
            return Ok(false);
        }
    };
    std::fs::create_dir_all(&cert_dir).expect("mkdir");
    std::fs::copy(cert, Path::new(&cert_dir).join("fullchain.pem")).expect("cert");
    std::fs::copy(key, Path::new(&cert_dir).join("key.pem")).expect("key");
    let vhost = file(&files, "nginx/mattermost.conf");
    // nginx loads both files at exactly the generated paths, or fails here.
    nginx_t(case.path(), &vhost).map_err(TestCaseError::fail)?;
    let _nginx = Nginx::start(case.path(), &vhost, http_port).map_err(TestCaseError::fail)?;
    let host = url::Url::parse(&external_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let (head, _) = get(http_port, &host, "/probe?x=1").map_err(TestCaseError::fail)?;
    prop_assert!(head.starts_with("HTTP/1.1 301"), "{head}");
    let location = format!("https://{host}:{https_port}/probe?x=1");
    prop_assert_eq!(header(&head, "Location"), Some(location.as_str()));
    // The challenge comes from the webroot, not the redirect; a missing one is nginx's 404.
    let challenges = Path::new(&webroot).join(".well-known/acme-challenge");
    std::fs::create_dir_all(&challenges).expect("mkdir");
    std::fs::write(challenges.join("tok-EN_1"), "tok-EN_1.thumbprint").expect("token");
    let (head, body) = get(http_port, &host, "/.well-known/acme-challenge/tok-EN_1")
        .map_err(TestCaseError::fail)?;
    prop_assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    prop_assert_eq!(body.as_str(), "tok-EN_1.thumbprint");
    let (head, _) = get(http_port, &host, "/.well-known/acme-challenge/missing")
        .map_err(TestCaseError::fail)?;
    prop_assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    Ok(true)
}

#[test]
fn generated_hosts_and_certificate_paths_reach_nginx_intact() {
    if !common::have("nginx") || !common::have("openssl") {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (
        scratch.path().join("cert.pem"),
        scratch.path().join("key.pem"),
    );
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=chat.example.com",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    readback::run(64, 12, site(), |s| {
        check_site(s, scratch.path(), &cert, &key)
    });
}

// ---- proxy header values ------------------------------------------------------------

/// Echo the request headers of each connection as `name: value` lines in the body.
fn start_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let body = String::from_utf8_lossy(&head).into_owned();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[derive(Debug, Clone)]
struct HeaderValue {
    /// What is written in the config.
    written: String,
    /// What the upstream must receive, when the value is accepted.
    sent: String,
}

fn header_value() -> impl Strategy<Value = HeaderValue> {
    let literal = || {
        prop::collection::vec(
            printable_char().prop_filter("a literal", |c| *c != '$'),
            1..16,
        )
        .prop_map(|c| c.into_iter().collect::<String>())
    };
    prop_oneof![
        6 => literal().prop_map(|s| HeaderValue { written: s.clone(), sent: s }),
        2 => literal().prop_map(|s| HeaderValue {
            written: format!("{s}${{host}}"),
            sent: format!("{s}chat.example.com"),
        }),
        2 => any_string(12).prop_map(|s| HeaderValue { written: s.clone(), sent: s }),
    ]
}

fn check_headers(
    headers: BTreeMap<String, HeaderValue>,
    scratch: &Path,
    echo: u16,
) -> Result<bool, TestCaseError> {
    let port = free_port();
    let written: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.written.clone()))
        .collect();
    let config = json!({
        "external_url": "http://chat.example.com",
        "listen": { "address": "127.0.0.1", "port": echo },
        "nginx": { "listen_addresses": ["127.0.0.1"], "listen_port": port, "proxy_headers": written },
    });
    let files = match compile(&config, "/etc/gitlab-mattermost") {
        Ok((_, files)) => files,
        Err(d) => {
            let allowed: Vec<String> = headers
                .iter()
                .filter(|(_, v)| nginx::header_value_problem(&v.written).is_some())
                .map(|(k, _)| format!("nginx.proxy_headers.{k}"))
                .collect();
            let named = keys(&d);
            prop_assert!(!allowed.is_empty(), "refused {headers:?}: {d}");
            prop_assert!(
                named.iter().all(|k| allowed.contains(k)),
                "refused {named:?}, expected only {allowed:?}: {d}"
            );
            return Ok(false);
        }
    };
    let case = tempfile::tempdir_in(scratch).expect("tempdir");
    let vhost = file(&files, "nginx/mattermost.conf");
    nginx_t(case.path(), &vhost).map_err(TestCaseError::fail)?;
    let _nginx = Nginx::start(case.path(), &vhost, port).map_err(TestCaseError::fail)?;
    let (head, body) = get(port, "chat.example.com", "/").map_err(TestCaseError::fail)?;
    prop_assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    for (name, v) in &headers {
        if v.written.is_empty() {
            // An empty value removes a header.
            prop_assert_eq!(header(&body, name), None);
        } else {
            prop_assert_eq!(
                header(&body, name),
                Some(v.sent.as_str()),
                "{} in\n{}",
                name,
                body
            );
        }
    }
    Ok(true)
}

#[test]
fn generated_header_values_reach_the_upstream_intact() {
    if !common::have("nginx") {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let echo = start_echo();
    readback::run(
        32,
        10,
        prop::collection::btree_map("x-gen-[a-z0-9]{1,6}", header_value(), 1..4),
        |h| check_headers(h, scratch.path(), echo),
    );
}
