//! The certificates check: the files nginx will load are readable, the key belongs to the
//! certificate, the names cover the external host, the dates are current and the chain
//! reaches a trusted root.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{Ctx, Outcome, Steps};
use crate::tls;

pub fn check(ctx: &Ctx, steps: &mut Steps) -> Outcome {
    let plan = ctx.plan;
    let n = &plan.config.nginx;
    if !n.enable || !plan.https {
        return Outcome::skipped("nginx does not serve https");
    }
    let (Some(cert_path), Some(key_path)) = (&n.certificate, &n.certificate_key) else {
        return Outcome::skipped("nginx.certificate or nginx.certificate_key is not set");
    };
    let host = plan.site.host.as_str();
    let chain = match tls::read_pem_certs(Path::new(cert_path)) {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("{e:#}"), format!("put the certificate chain (PEM, server certificate first) at {cert_path}, readable by root")),
    };
    steps.done(format!(
        "read {} certificate(s) from {cert_path}",
        chain.len()
    ));
    let key = match PrivateKeyDer::from_pem_file(key_path) {
        Ok(k) => k,
        Err(e) => {
            return Outcome::fail(
                format!("cannot read a private key from {key_path}: {e}"),
                format!("put the PEM private key at {key_path}, readable by root"),
            )
        }
    };
    steps.done(format!("read the private key from {key_path}"));
    let leaf = match X509Certificate::from_der(chain[0].as_ref()) {
        Ok((_, c)) => c,
        Err(e) => {
            return Outcome::fail(
                format!("the first certificate in {cert_path} cannot be parsed: {e}"),
                "the file must start with the server's own certificate",
            )
        }
    };

    let mut problems: Vec<(String, String)> = Vec::new();
    match key_matches(&key, &leaf) {
        Ok(true) => steps.done("the key matches the certificate"),
        Ok(false) => problems.push((
            format!("the key in {key_path} does not belong to the certificate in {cert_path}"),
            "install the key the certificate was issued for (or the certificate for this key)"
                .into(),
        )),
        Err(e) => problems.push((e, "use an RSA, ECDSA or Ed25519 key in PEM".into())),
    }
    let names = dns_names(&leaf);
    if names.iter().any(|n| name_matches(n, host)) {
        steps.done(format!("the certificate names {host}"));
    } else {
        let listed = if names.is_empty() {
            "no DNS names (subjectAltName)".to_string()
        } else {
            names.join(", ")
        };
        problems.push((
            format!("the certificate does not name {host} (it names {listed})"),
            format!("get a certificate whose subjectAltName includes {host}"),
        ));
    }
    let dates_ok = check_dates(&leaf, steps, &mut problems);
    if dates_ok && problems.is_empty() {
        check_chain(ctx, &chain, host, steps, &mut problems);
    }
    if problems.is_empty() {
        let until = leaf.validity().not_after.to_datetime().date();
        Outcome::pass(format!(
            "{cert_path}: valid for {host} until {until}, chain complete"
        ))
    } else {
        Outcome::failures(problems)
    }
}

/// Compare the certificate's public key with the one derived from the private key.
fn key_matches(key: &PrivateKeyDer<'_>, leaf: &X509Certificate<'_>) -> Result<bool, String> {
    let signing = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|e| format!("the private key is not usable: {e}"))?;
    let Some(spki) = signing.public_key() else {
        return Err("cannot derive the public key of this private key".into());
    };
    Ok(spki.as_ref() == leaf.public_key().raw)
}

fn dns_names(leaf: &X509Certificate<'_>) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(ip) if ip.len() == 4 => {
                    names.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string())
                }
                _ => {}
            }
        }
    }
    names
}

/// DNS name matching with a single leftmost wildcard label, as browsers do.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => p == h,
    }
}

fn check_dates(
    leaf: &X509Certificate<'_>,
    steps: &mut Steps,
    problems: &mut Vec<(String, String)>,
) -> bool {
    let v = leaf.validity();
    let now = x509_parser::time::ASN1Time::now();
    if v.not_after < now {
        problems.push((
            format!("the certificate expired on {}", v.not_after),
            "renew the certificate and reload nginx".into(),
        ));
        return false;
    }
    if v.not_before > now {
        problems.push((
            format!("the certificate is not valid before {}", v.not_before),
            "check this host's clock, or wait".into(),
        ));
        return false;
    }
    steps.done(format!("valid until {}", v.not_after));
    true
}

/// Verify the chain as a browser would: only the certificates in the file, roots from the
/// system store (and --ca-file).
fn check_chain(
    ctx: &Ctx,
    chain: &[CertificateDer<'static>],
    host: &str,
    steps: &mut Steps,
    problems: &mut Vec<(String, String)>,
) {
    let verifier = match WebPkiServerVerifier::builder_with_provider(
        Arc::new(tls::root_store(&ctx.roots)),
        tls::provider(),
    )
    .build()
    {
        Ok(v) => v,
        Err(_) => {
            problems.push((
                "no trusted CA certificates on this host".into(),
                "install ca-certificates, or pass --ca-file".into(),
            ));
            return;
        }
    };
    let Ok(name) = ServerName::try_from(host.to_string()) else {
        return;
    };
    match verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now()) {
        Ok(_) => steps.done("the chain reaches a trusted root"),
        Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            let issuer =
                X509Certificate::from_der(chain.last().map(|c| c.as_ref()).unwrap_or_default())
                    .map(|(_, c)| c.issuer().to_string())
                    .unwrap_or_default();
            problems.push((
                format!("the chain is incomplete or not trusted: the file holds {} certificate(s) and none leads to a trusted root (last issuer: {issuer})", chain.len()),
                "append the intermediate certificates to the certificate file (use fullchain.pem); for a private CA, trust it (system store, or --ca-file here)".into(),
            ));
        }
        Err(e) => problems.push((tls::describe_error(&e, host), "fix the certificate".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "chat.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("Chat.Example.com", "chat.example.com"));
    }
}
