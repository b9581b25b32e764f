//! `manifest.json`: every rendered file with its sha256, and the secret files the service
//! reads at start (paths only).

use sha2::{Digest, Sha256};

use super::Files;
use crate::validate::{Plan, SecretUse};

pub fn render(plan: &Plan, files: &Files) -> String {
    let file_hashes: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|(name, bytes)| (name.clone(), serde_json::Value::String(sha256_hex(bytes))))
        .collect();
    let secrets: Vec<serde_json::Value> = plan
        .credentials
        .iter()
        .map(|c| {
            let vars: Vec<String> = c
                .uses
                .iter()
                .map(|u| match u {
                    SecretUse::Variable(v) => v.clone(),
                    SecretUse::PasswordInto(v) => format!("{v} (password inside the DSN)"),
                })
                .collect();
            serde_json::json!({ "credential": c.name, "path": c.path, "variables": vars })
        })
        .collect();
    let v = serde_json::json!({
        "generator": concat!("gitlab-mattermost ", env!("CARGO_PKG_VERSION")),
        "files": file_hashes,
        "secrets": secrets,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_is_written_as_lowercase_hex() {
        // FIPS 180-2's example for "abc".
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
