//! The SMTP check: connect, TLS or STARTTLS as configured, EHLO, AUTH with the password
//! file and, with `--send-to`, a real test mail — each step separately, so a failure names
//! the step, and a port/security mismatch gets a specific hint.
//!
//! A server can be slow or hostile: each read and write waits at most `--timeout`, the whole
//! conversation at most [`DEADLINE_STEPS`] times that, a reply line is at most
//! [`MAX_LINE`] bytes and a reply at most [`MAX_REPLY_LINES`] lines. Past any of these the
//! check fails and says which.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::{Ctx, Outcome, Steps};
use crate::files;
use crate::http::Redactor;
use crate::schema::{ConnectionSecurity, Smtp};
use crate::tls::{self, Verify};

/// The whole check (connect, TLS, greeting, EHLO, AUTH, test mail) must end within this many
/// times `--timeout`: a server that drips a byte at a time never trips the per-read timeout.
pub const DEADLINE_STEPS: u32 = 3;

/// Longest reply line read, with its CRLF. RFC 5321 allows 512 bytes; real servers stay well
/// below, and 4 KiB leaves room for long EHLO keywords.
pub const MAX_LINE: usize = 4096;

/// Most lines in one (multi-line) reply. An EHLO reply has a dozen or two.
pub const MAX_REPLY_LINES: usize = 128;

pub fn check(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    let s = &ctx.plan.config.smtp;
    if !s.enable {
        return Outcome::skipped("smtp.enable is false");
    }
    let server = s.server.clone().unwrap_or_default();
    match run(ctx, s, &server, steps) {
        Ok(summary) => Outcome::pass(summary),
        Err(f) => Outcome::fail(f.problem, f.fix),
    }
}

/// A failed step: what happened and what to do.
#[derive(Debug)]
struct Failure {
    problem: String,
    fix: String,
}

fn fail(problem: impl Into<String>, fix: impl Into<String>) -> Failure {
    Failure {
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn run(ctx: &Ctx, s: &Smtp, server: &str, steps: &mut Steps) -> Result<String, Failure> {
    let port = s.port;
    let security = s.connection_security;
    let addr = format!("{server}:{port}");
    let budget = ctx.timeout * DEADLINE_STEPS;
    let deadline = Instant::now() + budget;
    steps.doing(&format!("connecting to {addr}"));
    let tcp = connect(&addr, ctx.timeout)?;
    steps.done(format!("connected to {addr}"));
    let tcp = Conn {
        tcp,
        step: ctx.timeout,
        deadline,
        budget,
    };

    let tls_config = || tls_config(ctx, s);
    let mut session = match security {
        ConnectionSecurity::Tls => {
            steps.doing("TLS handshake");
            let sess = Session::tls(tcp, tls_config()?, server)
                .map_err(|e| handshake_failure(&e, server, port, security))?;
            steps.done("implicit TLS");
            sess
        }
        _ => Session::plain(tcp),
    };
    steps.doing("waiting for the greeting");
    let greeting = session
        .reply()
        .map_err(|e| greeting_failure(&e, port, security, ctx.timeout))?;
    expect(&greeting, 220, "greeting")?;
    let mut ehlo = session.ehlo()?;
    steps.done("EHLO");

    if security == ConnectionSecurity::StartTls {
        if !ehlo.offers("STARTTLS") {
            return Err(fail(
                format!("{addr} does not offer STARTTLS"),
                starttls_missing_fix(port),
            ));
        }
        let r = session.command("STARTTLS").map_err(io_failure)?;
        expect(&r, 220, "STARTTLS")?;
        steps.doing("TLS handshake after STARTTLS");
        session = session
            .start_tls(tls_config()?, server)
            .map_err(|e| handshake_failure(&e, server, port, security))?;
        steps.done("STARTTLS");
        ehlo = session.ehlo()?;
        steps.done("EHLO over TLS");
    } else if security == ConnectionSecurity::None && ehlo.offers("STARTTLS") {
        steps.done("note: the server offers STARTTLS but connection_security is \"\": mail and password travel unencrypted");
    }

    let mut summary = format!("{addr}: {}", describe_security(security));
    if s.auth {
        let mechanism = authenticate(&mut session, s, &ehlo, security, port)?;
        let user = s.username.clone().unwrap_or_default();
        steps.done(format!("AUTH {mechanism} as {user}"));
        summary.push_str(&format!(", AUTH {mechanism} as {user}"));
    }
    if let Some(to) = &ctx.args.send_to {
        steps.doing(&format!("sending a test mail to {to}"));
        let from = s.feedback_email.clone().unwrap_or_default();
        send_test_mail(&mut session, &from, to)?;
        steps.done(format!("sent a test mail from {from} to {to}"));
        summary.push_str(&format!(", test mail sent to {to}"));
    }
    let _ = session.command("QUIT");
    Ok(summary)
}

fn describe_security(s: ConnectionSecurity) -> &'static str {
    match s {
        ConnectionSecurity::None => "plain SMTP",
        ConnectionSecurity::Tls => "implicit TLS",
        ConnectionSecurity::StartTls => "STARTTLS",
    }
}

fn tls_config(ctx: &Ctx, s: &Smtp) -> Result<Arc<rustls::ClientConfig>, Failure> {
    // Mattermost honours SkipServerCertificateVerification the same way.
    let verify = if s.skip_server_certificate_verification {
        Verify::Nothing
    } else {
        Verify::Full
    };
    tls::client_config(&ctx.roots, verify)
        .map(Arc::new)
        .map_err(|e| {
            fail(
                format!("TLS setup failed: {e:#}"),
                "pass --ca-file with a PEM CA certificate",
            )
        })
}

fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, Failure> {
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| {
            fail(
                format!("cannot resolve {addr}: {e}"),
                "check smtp.server and DNS",
            )
        })?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(t) => {
                let _ = t.set_read_timeout(Some(timeout));
                let _ = t.set_write_timeout(Some(timeout));
                return Ok(t);
            }
            Err(e) => last = Some(e),
        }
    }
    let why = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
    Err(fail(
        format!("cannot connect to {addr}: {why}"),
        "check smtp.server and smtp.port, and that a firewall lets this host reach it",
    ))
}

fn greeting_failure(
    e: &io::Error,
    port: u16,
    security: ConnectionSecurity,
    timeout: Duration,
) -> Failure {
    if let Some(d) = deadline_exceeded(e) {
        return fail(
            format!(
                "timed out: no complete SMTP greeting within {}s (the server sends too slowly)",
                d.0.as_secs()
            ),
            "check smtp.server and smtp.port point at a working SMTP server",
        );
    }
    let timed_out = matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    );
    if timed_out && security != ConnectionSecurity::Tls {
        let fix = if port == 465 {
            "port 465 (SMTPS) expects implicit TLS: set smtp.connection_security = \"TLS\""
                .to_string()
        } else {
            "if this port expects implicit TLS, set smtp.connection_security = \"TLS\"; otherwise check smtp.port".to_string()
        };
        return fail(
            format!("no SMTP greeting within {}s on port {port} (the server waits for a TLS handshake?)", timeout.as_secs()),
            fix,
        );
    }
    if let Some(r) = tls::find_rustls_error(e) {
        return fail(
            format!(
                "reading the greeting failed: {}",
                tls::describe_error(r, "the server")
            ),
            "check smtp.connection_security",
        );
    }
    io_failure(io::Error::new(e.kind(), e.to_string()))
}

fn handshake_failure(
    e: &io::Error,
    server: &str,
    port: u16,
    security: ConnectionSecurity,
) -> Failure {
    let Some(r) = tls::find_rustls_error(e) else {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return fail(
                format!("TLS handshake with {server}:{port} timed out"),
                "check smtp.port and smtp.connection_security",
            );
        }
        return fail(
            format!("TLS handshake with {server}:{port} failed: {e}"),
            "check smtp.port and smtp.connection_security",
        );
    };
    let plain_answer = matches!(
        r,
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
    );
    if plain_answer && security == ConnectionSecurity::Tls {
        let fix = if port == 587 || port == 25 {
            format!("port {port} speaks plain SMTP first: set smtp.connection_security = \"STARTTLS\" (or use port 465 with \"TLS\")")
        } else {
            "the server speaks plain SMTP on this port: set smtp.connection_security = \"STARTTLS\" or \"\"".to_string()
        };
        return fail(
            format!("{server}:{port} answered the TLS handshake in plain text"),
            fix,
        );
    }
    let fix = match r {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "give the CA to Mattermost's host (system store or SSL_CERT_FILE) and to doctor with --ca-file".to_string()
        }
        _ => "fix the server's certificate, or (testing only) set smtp.skip_server_certificate_verification = true".to_string(),
    };
    fail(tls::describe_error(r, server), fix)
}

fn starttls_missing_fix(port: u16) -> String {
    if port == 465 {
        "port 465 expects implicit TLS: set smtp.connection_security = \"TLS\"".into()
    } else {
        "use the submission port 587 with STARTTLS, port 465 with connection_security = \"TLS\", or \"\" for none".into()
    }
}

fn io_failure(e: io::Error) -> Failure {
    fail(
        format!("the SMTP conversation broke off: {e}"),
        "check smtp.server, smtp.port and smtp.connection_security",
    )
}

fn expect(r: &Reply, code: u16, what: &str) -> Result<(), Failure> {
    if r.code == code {
        Ok(())
    } else {
        Err(fail(
            format!("unexpected answer to {what}: {}", r.text()),
            "check smtp.server and smtp.port point at an SMTP server",
        ))
    }
}

/// AUTH PLAIN (or LOGIN) with the password file; returns the mechanism used.
fn authenticate(
    session: &mut Session,
    s: &Smtp,
    ehlo: &Reply,
    security: ConnectionSecurity,
    port: u16,
) -> Result<&'static str, Failure> {
    let user = s.username.clone().unwrap_or_default();
    let file = s.password_file.clone().unwrap_or_default();
    let password = files::read_secret(Path::new(&file)).map_err(|e| {
        fail(
            format!("{e:#}"),
            "create smtp.password_file (mode 0600) holding the SMTP password",
        )
    })?;
    let mechanisms = ehlo.auth_mechanisms();
    if mechanisms.is_empty() {
        let fix = if security == ConnectionSecurity::None {
            if ehlo.offers("STARTTLS") {
                "the server offers AUTH only after STARTTLS: set smtp.connection_security = \"STARTTLS\"".to_string()
            } else if port == 465 {
                "set smtp.connection_security = \"TLS\" for port 465".to_string()
            } else {
                "the server offers no AUTH: set smtp.auth = false, or use the server's submission port".to_string()
            }
        } else {
            "the server offers no AUTH: set smtp.auth = false, or use the server's submission port"
                .to_string()
        };
        return Err(fail("the server offers no AUTH mechanism", fix));
    }
    // A reply may echo what was sent: never print the password, alone or in the PLAIN blob,
    // in any encoding.
    session.secrets.add(&password);
    session.secrets.add(&format!("\0{user}\0{password}"));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (mechanism, reply) = if mechanisms.iter().any(|m| m == "PLAIN") {
        let r = session
            .command_secret(&format!(
                "AUTH PLAIN {}",
                b64(&format!("\0{user}\0{password}"))
            ))
            .map_err(io_failure)?;
        ("PLAIN", r)
    } else if mechanisms.iter().any(|m| m == "LOGIN") {
        let r = session.command("AUTH LOGIN").map_err(io_failure)?;
        expect(&r, 334, "AUTH LOGIN")?;
        let r = session.command_secret(&b64(&user)).map_err(io_failure)?;
        expect(&r, 334, "AUTH LOGIN user name")?;
        (
            "LOGIN",
            session
                .command_secret(&b64(&password))
                .map_err(io_failure)?,
        )
    } else {
        return Err(fail(
            format!("the server offers only AUTH {}", mechanisms.join(" ")),
            "Mattermost supports PLAIN and LOGIN: enable one of them on the server",
        ));
    };
    match reply.code {
        235 => Ok(mechanism),
        535 | 534 | 454 => Err(fail(
            format!(
                "the server rejected the credentials of {user} ({})",
                reply.text()
            ),
            format!("check smtp.username and the password in {file}"),
        )),
        538 | 530 => Err(fail(
            format!("the server requires encryption for AUTH ({})", reply.text()),
            "set smtp.connection_security = \"STARTTLS\" (port 587) or \"TLS\" (port 465)",
        )),
        _ => Err(fail(
            format!("AUTH {mechanism} failed: {}", reply.text()),
            format!("check smtp.username and the password in {file}"),
        )),
    }
}

fn send_test_mail(session: &mut Session, from: &str, to: &str) -> Result<(), Failure> {
    let r = session
        .command(&format!("MAIL FROM:<{from}>"))
        .map_err(io_failure)?;
    if r.code != 250 {
        return Err(fail(
            format!("the server refused sender {from}: {}", r.text()),
            "check smtp.feedback_email: many servers only accept the authenticated user's address",
        ));
    }
    let r = session
        .command(&format!("RCPT TO:<{to}>"))
        .map_err(io_failure)?;
    if !matches!(r.code, 250 | 251) {
        return Err(fail(
            format!("the server refused recipient {to}: {}", r.text()),
            "check the address given to --send-to, and relay permissions",
        ));
    }
    let r = session.command("DATA").map_err(io_failure)?;
    expect(&r, 354, "DATA")?;
    let message = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: gitlab-mattermost doctor: test mail\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         This mail was sent by `gitlab-mattermost doctor --send-to` through the SMTP\r\n\
         server Mattermost is configured to use. Mail from Mattermost will arrive the same way.\r\n.\r\n"
    );
    session.write_raw(message.as_bytes()).map_err(io_failure)?;
    let r = session.reply().map_err(io_failure)?;
    if r.code != 250 {
        return Err(fail(
            format!("the server did not accept the test mail: {}", r.text()),
            "see the server's log",
        ));
    }
    Ok(())
}

/// One (possibly multi-line) SMTP reply.
#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }

    /// Whether an EHLO reply lists an extension.
    fn offers(&self, ext: &str) -> bool {
        self.lines.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(ext))
        })
    }

    fn auth_mechanisms(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let first = w.next()?;
                (first.eq_ignore_ascii_case("AUTH") || first.eq_ignore_ascii_case("AUTH="))
                    .then(|| w.map(str::to_ascii_uppercase).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    }
}

/// The whole check ran out of time (not one read: the sum of them).
#[derive(Debug)]
struct DeadlineExceeded(Duration);

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out: the SMTP conversation did not finish within {}s ({DEADLINE_STEPS} times --timeout)",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for DeadlineExceeded {}

fn deadline_exceeded(e: &io::Error) -> Option<&DeadlineExceeded> {
    e.get_ref()?.downcast_ref::<DeadlineExceeded>()
}

/// The TCP connection, each read and write waiting at most `step` and never past `deadline`
/// (TLS reads through it too, so a handshake or record sent a byte at a time is cut off).
struct Conn {
    tcp: TcpStream,
    step: Duration,
    deadline: Instant,
    budget: Duration,
}

impl Conn {
    fn late(&self) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, DeadlineExceeded(self.budget))
    }

    /// Set the socket's timeouts to what is left of the step and of the whole check.
    fn arm(&self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.late());
        }
        let wait = self.step.min(left);
        self.tcp.set_read_timeout(Some(wait))?;
        self.tcp.set_write_timeout(Some(wait))
    }

    /// A timeout past the deadline is the deadline's.
    fn explain(&self, e: io::Error) -> io::Error {
        let timed_out = matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        if timed_out && Instant::now() >= self.deadline {
            self.late()
        } else {
            e
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.read(buf).map_err(|e| self.explain(e))
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.write(buf).map_err(|e| self.explain(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

enum Stream {
    Plain(Conn),
    Tls(Box<StreamOwned<ClientConnection, Conn>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A line-oriented SMTP conversation.
struct Session {
    stream: Stream,
    buf: Vec<u8>,
    /// What was sent that no reply line may show.
    secrets: Redactor,
}

impl Session {
    fn plain(tcp: Conn) -> Session {
        Session {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
            secrets: Redactor::new(),
        }
    }

    fn tls(mut tcp: Conn, config: Arc<rustls::ClientConfig>, server: &str) -> io::Result<Session> {
        let name = ServerName::try_from(server.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        // Handshake now, so its errors are told apart from the SMTP conversation's.
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        Ok(Session {
            stream: Stream::Tls(Box::new(StreamOwned::new(conn, tcp))),
            buf: Vec::new(),
            secrets: Redactor::new(),
        })
    }

    fn start_tls(self, config: Arc<rustls::ClientConfig>, server: &str) -> io::Result<Session> {
        match self.stream {
            Stream::Plain(tcp) => Session::tls(tcp, config, server).map(|mut s| {
                s.secrets = self.secrets;
                s
            }),
            Stream::Tls(_) => Err(io::Error::other("already encrypted")),
        }
    }

    fn ehlo(&mut self) -> Result<Reply, Failure> {
        let r = self
            .command(&format!("EHLO {}", hostname()))
            .map_err(io_failure)?;
        expect(&r, 250, "EHLO")?;
        Ok(r)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    fn command(&mut self, line: &str) -> io::Result<Reply> {
        tracing::trace!("SMTP > {line}");
        self.command_secret(line)
    }

    /// Like [`Session::command`] but never logged (credentials).
    fn command_secret(&mut self, line: &str) -> io::Result<Reply> {
        self.write_raw(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    fn reply(&mut self) -> io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            tracing::trace!("SMTP < {line}");
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not an SMTP reply: {line:?}"),
                    )
                })?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the server sent a reply of more than {MAX_REPLY_LINES} lines ({code}- continuation lines without end)"),
                ));
            }
        }
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            let newline = self.buf.iter().position(|&b| b == b'\n');
            if newline.unwrap_or(self.buf.len()) >= MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the server sent a reply line longer than {MAX_LINE} bytes"),
                ));
            }
            if let Some(i) = newline {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                // Redacted before anything (trace, error, message) can show it.
                return Ok(self
                    .secrets
                    .redact(String::from_utf8_lossy(&raw).trim_end()));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_extensions_and_auth_mechanisms() {
        let r = Reply {
            code: 250,
            lines: vec![
                "mail.example.com".into(),
                "STARTTLS".into(),
                "AUTH LOGIN PLAIN".into(),
                "8BITMIME".into(),
            ],
        };
        assert!(r.offers("starttls"));
        assert!(!r.offers("SMTPUTF8"));
        assert_eq!(r.auth_mechanisms(), vec!["LOGIN", "PLAIN"]);
    }

    #[test]
    fn hints_port_465_with_starttls() {
        let e = io::Error::new(io::ErrorKind::WouldBlock, "timed out");
        let f = greeting_failure(
            &e,
            465,
            ConnectionSecurity::StartTls,
            Duration::from_secs(2),
        );
        assert!(f.fix.contains("\"TLS\""), "{}", f.fix);
        assert!(f.problem.contains("no SMTP greeting"), "{}", f.problem);
    }
}
