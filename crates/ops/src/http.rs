//! A small HTTP client (ureq over rustls) that never follows redirects, never turns a status
//! into an error, and explains transport failures in one line.
//!
//! Whatever a server sends back is treated as hostile: an error page may echo the request,
//! headers and body included. Every secret a request carries (the `PRIVATE-TOKEN`, an
//! `Authorization` credential, a token, secret, password or webhook field of a JSON or form
//! body) is recorded by the agent, and the answer's body and `Location` are redacted of it,
//! in every form a server could echo it in ([`Redactor`]), before anyone can print them.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::CertificateDer;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::AsSendBody;

/// What stands in for a secret in anything printed.
pub const REDACTED: &str = "[redacted]";

/// The secrets one exchange sent, each with the forms a server may echo it in: as is,
/// base64 (standard and URL-safe, at every alignment, so a secret inside a longer encoded
/// blob is found too), hex, percent-encoded and JSON-escaped.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a form is replaced before a shorter one inside it.
    forms: Vec<String>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Never print `secret`, in any of its forms. An empty secret is ignored.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let bytes = secret.as_bytes();
        let mut forms = vec![secret.to_string()];
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            forms.push(engine.encode(bytes));
            // At offset k (mod 3) inside longer data, the characters that encode only the
            // secret's bits are the same whatever surrounds it.
            for k in 0..3usize {
                let mut data = vec![0u8; k];
                data.extend_from_slice(bytes);
                let encoded = engine.encode(&data);
                let start = (8 * k).div_ceil(6);
                let end = 8 * (k + bytes.len()) / 6;
                if end >= start + 4 {
                    if let Some(core) = encoded.get(start..end) {
                        forms.push(core.to_string());
                    }
                }
            }
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        forms.push(hex.to_uppercase());
        forms.push(hex);
        forms.push(url::form_urlencoded::byte_serialize(bytes).collect());
        forms.push(
            url::form_urlencoded::byte_serialize(bytes)
                .collect::<String>()
                .replace('+', "%20"),
        );
        if let Ok(json) = serde_json::to_string(secret) {
            forms.push(json.trim_matches('"').to_string());
        }
        for f in forms {
            if !f.is_empty() && !self.forms.contains(&f) {
                self.forms.push(f);
            }
        }
        self.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every form of every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Headers whose values are credentials.
const SECRET_HEADERS: [&str; 5] = [
    "private-token",
    "job-token",
    "authorization",
    "proxy-authorization",
    "cookie",
];

/// Whether a body field by this name holds a secret.
fn secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "secret", "password", "webhook", "key"]
        .iter()
        .any(|w| name.contains(w))
}

/// The secrets in a request's headers and body.
fn secrets_of(headers: &ureq::http::HeaderMap, body: &[u8]) -> Redactor {
    let mut r = Redactor::new();
    for name in SECRET_HEADERS {
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else { continue };
            r.add(value.trim());
            // `Bearer <token>`, `Basic <base64 of user:password>`
            if let Some((scheme, credential)) = value.trim().split_once(' ') {
                let credential = credential.trim();
                r.add(credential);
                if scheme.eq_ignore_ascii_case("basic") {
                    if let Ok(plain) = base64::engine::general_purpose::STANDARD.decode(credential)
                    {
                        let plain = String::from_utf8_lossy(&plain).into_owned();
                        if let Some((_, password)) = plain.split_once(':') {
                            r.add(password);
                        }
                        r.add(&plain);
                    }
                }
            }
        }
    }
    if body.is_empty() {
        return r;
    }
    if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) {
        for (k, v) in &fields {
            if let (true, Some(v)) = (secret_field(k), v.as_str()) {
                r.add(v);
            }
        }
    } else {
        for (k, v) in url::form_urlencoded::parse(body) {
            if secret_field(&k) {
                r.add(&v);
            }
        }
    }
    r
}

/// Records the secrets of each request into its response, for [`answer`].
fn record_secrets(
    request: ureq::http::Request<ureq::SendBody>,
    next: ureq::middleware::MiddlewareNext,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let with_body = matches!(
        *request.method(),
        ureq::http::Method::POST | ureq::http::Method::PUT | ureq::http::Method::PATCH
    );
    if !with_body {
        let redactor = secrets_of(request.headers(), &[]);
        let mut resp = next.handle(request)?;
        resp.extensions_mut().insert(redactor);
        return Ok(resp);
    }
    let (parts, body) = request.into_parts();
    let mut bytes = Vec::new();
    body.into_reader().read_to_end(&mut bytes)?;
    let redactor = secrets_of(&parts.headers, &bytes);
    let mut resp = next.handle(ureq::http::Request::from_parts(parts, bytes.as_body()))?;
    resp.extensions_mut().insert(redactor);
    Ok(resp)
}

/// A finished exchange.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Answer {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The body shortened for an error message (only ever used for error answers; what the
    /// request sent that is secret was redacted from the body when it was read).
    pub fn excerpt(&self) -> String {
        let flat: String = self.body.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() > 160 {
            format!("{}…", flat.chars().take(160).collect::<String>())
        } else {
            flat
        }
    }
}

/// An agent trusting exactly `roots`, with one overall deadline per request.
pub fn agent(roots: &[CertificateDer<'static>], timeout: Duration) -> ureq::Agent {
    let certs: Vec<Certificate<'static>> = roots
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(certs)))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .tls_config(tls)
        .user_agent(concat!("gitlab-mattermost/", env!("CARGO_PKG_VERSION")))
        .middleware(record_secrets)
        .build()
        .new_agent()
}

/// Read a response into an [`Answer`], redacted of the secrets its request sent (an agent
/// from [`agent`] records them).
pub fn answer(mut resp: ureq::http::Response<ureq::Body>) -> Result<Answer, ureq::Error> {
    let redactor = resp
        .extensions()
        .get::<Redactor>()
        .cloned()
        .unwrap_or_default();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|l| redactor.redact(l));
    let body = resp
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let body = redactor.redact(&body);
    Ok(Answer {
        status,
        body,
        location,
    })
}

/// One line saying why `url` could not be fetched.
pub fn describe_transport(err: &ureq::Error, url: &str, timeout: Duration) -> String {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string());
    if let Some(tls) = super::tls::find_rustls_error(err) {
        return super::tls::describe_error(tls, &host);
    }
    if let ureq::Error::Io(e) = err {
        if let Some(tls) = super::tls::error_from_text(&e.to_string()) {
            return super::tls::describe_error(&tls, &host);
        }
    }
    match err {
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("cannot reach {url}: connection refused (is it running, is the port right?)")
        }
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            format!("{url} did not answer within {}s", timeout.as_secs())
        }
        ureq::Error::Timeout(_) => format!("{url} did not answer within {}s", timeout.as_secs()),
        ureq::Error::HostNotFound => format!("cannot resolve {host} (DNS)"),
        ureq::Error::ConnectionFailed => format!("cannot connect to {url}"),
        ureq::Error::Io(e) => format!("cannot reach {url}: {e}"),
        other => format!("request to {url} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    const SECRET: &str = "hook-CANARY-3f9e/key+x";

    #[test]
    fn every_encoding_of_a_secret_is_redacted_even_inside_longer_data() {
        let mut r = Redactor::new();
        r.add(SECRET);
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let hex: String = SECRET.bytes().map(|b| format!("{b:02x}")).collect();
        for prefix in ["", "a", "ab", "abc"] {
            let blob = b64(format!("{prefix}{SECRET}!").as_bytes());
            let text = format!(
                "got {blob} and {SECRET} and {hex} and {}",
                hex.to_uppercase()
            );
            let out = r.redact(&text);
            assert!(!out.contains(SECRET), "{out}");
            assert!(!out.to_lowercase().contains(&hex), "{out}");
            // The characters encoding only the secret are gone whatever precedes it.
            let core = &b64(SECRET.as_bytes())[4..20];
            assert!(!out.contains(&blob) && !out.contains(core), "{out}");
        }
        assert_eq!(Redactor::new().redact("as is"), "as is");
    }

    /// A server that reads one request and answers 400 with the whole request as its body.
    fn echo_once() -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("http://{}/api", listener.local_addr().expect("bound"));
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("a connection");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("a header line");
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().expect("a length");
                }
                request.push_str(&line);
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).expect("the whole body");
            request.push_str(&String::from_utf8_lossy(&body));
            let mut out = stream;
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nLocation: /x?t={SECRET}\r\nConnection: close\r\n\r\n{request}",
                request.len()
            );
            out.write_all(answer.as_bytes()).expect("the answer");
            request
        });
        (url, handle)
    }

    #[test]
    fn an_answer_echoing_the_request_is_redacted_of_its_secret_headers_and_fields() {
        let agent = agent(&[], Duration::from_secs(5));
        let (url, server) = echo_once();
        let body = serde_json::json!({"webhook": SECRET, "push_events": true});
        let a = agent
            .put(&url)
            .header("PRIVATE-TOKEN", "glpat-CANARY-token")
            .send_json(&body)
            .and_then(answer)
            .expect("an answer");
        let sent = server.join().expect("the server");
        // The body went out whole, as JSON.
        assert!(
            sent.contains(SECRET) && sent.contains("\"push_events\""),
            "{sent}"
        );
        assert!(sent
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
        assert_eq!(a.status, 400);
        for text in [
            a.body.as_str(),
            a.location.as_deref().unwrap_or(""),
            &a.excerpt(),
        ] {
            assert!(
                !text.contains(SECRET) && !text.contains("glpat-CANARY-token"),
                "{text}"
            );
        }
        assert!(
            a.body.contains("push_events") && a.body.contains(REDACTED),
            "{}",
            a.body
        );
    }

    #[test]
    fn form_fields_and_basic_credentials_are_redacted() {
        let agent = agent(&[], Duration::from_secs(5));
        let (url, server) = echo_once();
        let basic = base64::engine::general_purpose::STANDARD.encode("user:CANARY-basic-pw");
        let a = agent
            .post(&url)
            .header("Authorization", format!("Basic {basic}"))
            .send_form([("client_id", "app-id-1"), ("client_secret", SECRET)])
            .and_then(answer)
            .expect("an answer");
        server.join().expect("the server");
        assert!(!a.body.contains("CANARY"), "{}", a.body);
        assert!(a.body.contains("app-id-1"), "{}", a.body);
    }
}
