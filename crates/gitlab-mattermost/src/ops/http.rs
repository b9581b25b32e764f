//! A small HTTP client (ureq over rustls) that never follows redirects, never turns a status
//! into an error, and explains transport failures in one line.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

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

    /// The body shortened for an error message (only ever used for error answers, which
    /// carry no secret).
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
        .build()
        .new_agent()
}

/// Read a response into an [`Answer`].
pub fn answer(mut resp: ureq::http::Response<ureq::Body>) -> Result<Answer, ureq::Error> {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
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
