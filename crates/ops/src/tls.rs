//! TLS client setup shared by the SMTP, GitLab and PostgreSQL checks: which CAs to trust,
//! and how to say in one line why a handshake failed.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// The crypto provider used everywhere (ring: no C toolchain beyond `cc`).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read every certificate in a PEM file.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// The CAs to trust: the system store (which honours `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus
/// the certificates in `ca_file`.
pub fn trusted_roots(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>> {
    let mut roots = rustls_native_certs::load_native_certs().certs;
    if let Some(f) = ca_file {
        roots.extend(read_pem_certs(f).context("--ca-file")?);
    }
    Ok(roots)
}

pub fn root_store(roots: &[CertificateDer<'static>]) -> RootCertStore {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(roots.iter().cloned());
    store
}

/// How much of the server's certificate to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Chain and host name (the default everywhere).
    Full,
    /// Chain only (libpq's `verify-ca`).
    ChainOnly,
    /// Nothing (libpq's `require`, Mattermost's `SkipServerCertificateVerification`).
    Nothing,
}

/// A rustls client configuration trusting `roots`.
pub fn client_config(roots: &[CertificateDer<'static>], verify: Verify) -> Result<ClientConfig> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    let config = match verify {
        Verify::Full => builder
            .with_root_certificates(root_store(roots))
            .with_no_client_auth(),
        Verify::ChainOnly => {
            let inner = WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(roots)),
                provider.clone(),
            )
            .build()
            .context("TLS setup: no usable CA certificate")?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(IgnoreName(inner)))
                .with_no_client_auth()
        }
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Find a rustls error in an error's chain (ureq, tokio-postgres and io wrap it).
pub fn find_rustls_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r);
            }
        }
        cur = e.source();
    }
    None
}

/// Recover a rustls error from its text, for clients that flatten it into an `io::Error`
/// message (ureq does).
pub fn error_from_text(text: &str) -> Option<rustls::Error> {
    use rustls::Error as E;
    let cert = |c| Some(E::InvalidCertificate(c));
    if text.contains("UnknownIssuer") {
        cert(CertificateError::UnknownIssuer)
    } else if text.contains("NotValidForName") {
        cert(CertificateError::NotValidForName)
    } else if text.contains("certificate expired") || text.contains("Expired") {
        cert(CertificateError::Expired)
    } else if text.contains("NotValidYet") {
        cert(CertificateError::NotValidYet)
    } else if text.contains("BadSignature") {
        cert(CertificateError::BadSignature)
    } else if text.contains("corrupt message") || text.contains("InvalidContentType") {
        Some(E::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ))
    } else {
        None
    }
}

/// One line saying why a TLS handshake with `host` failed, naming the CA problem.
pub fn describe_error(err: &rustls::Error, host: &str) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => format!(
                "the certificate of {host} is signed by a CA this host does not trust \
                 (unknown issuer): pass --ca-file with that CA's certificate (PEM) or add it \
                 to the system store; if the CA is public, the server may not send its \
                 intermediate certificates"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the certificate presented by {host} does not name {host}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the certificate of {host} has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the certificate of {host} is not valid yet (check the clock)")
            }
            CertificateError::Revoked => format!("the certificate of {host} is revoked"),
            CertificateError::BadSignature => {
                format!("the certificate of {host} has a bad signature")
            }
            other => format!("the certificate of {host} was rejected: {other:?}"),
        },
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            format!("{host} did not answer with TLS (it speaks plain text on this port?)")
        }
        E::AlertReceived(a) => format!("{host} aborted the TLS handshake ({a:?})"),
        other => format!("TLS with {host} failed: {other}"),
    }
}

/// Accepts any certificate but still checks handshake signatures (what libpq's
/// `sslmode=require` and Mattermost's `SkipServerCertificateVerification` do).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks the chain but not the host name (libpq's `verify-ca`).
#[derive(Debug)]
struct IgnoreName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
