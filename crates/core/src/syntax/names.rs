//! Names shared by several targets: system users and groups, environment variables,
//! credentials, and host names.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The longest user or group name systemd accepts (`UT_NAMESIZE - 1`).
pub const MAX_SYSTEM_NAME: usize = 31;

/// Why `name` cannot be the service's user or group, if it cannot: the strict rules
/// systemd-sysusers applies (a letter or `_`, then letters, digits, `_` or `-`, at most 31
/// characters), and no account the service must not share.
pub fn system_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Some("expected a user or group name, found an empty string".into());
    };
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !(first.is_ascii_alphabetic() || first == '_') || !rest_ok {
        return Some(
            "expected a name of ASCII letters, digits, `_` and `-` that starts with a letter or `_` (the rules of systemd-sysusers)"
                .into(),
        );
    }
    if name.len() > MAX_SYSTEM_NAME {
        return Some(format!(
            "expected at most {MAX_SYSTEM_NAME} characters, found {}",
            name.len()
        ));
    }
    match name {
        "root" => Some("Mattermost must not run as root".into()),
        // systemd: "nobody" must never own files, and it is shared by unrelated services.
        "nobody" | "nogroup" => Some(format!(
            "`{name}` is shared by unrelated services and must never own files"
        )),
        _ => None,
    }
}

/// Why `id` cannot be the fixed uid or gid, if it cannot: 0 is root, 65534 is `nobody`,
/// and 65535 and 4294967295 are the "no id" values systemd refuses.
pub fn system_id_problem(id: u32) -> Option<&'static str> {
    match id {
        0 => Some("0 is root: Mattermost must not run as root"),
        65534 => Some("65534 is `nobody`, which must never own files"),
        65535 | u32::MAX => Some("systemd reserves this id as \"no id\" and refuses it"),
        _ => None,
    }
}

/// An environment variable name as shells, systemd and `gitlab-mattermost exec` agree on:
/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A systemd credential name: a valid file name (no `/`, not `.` or `..`, no control
/// characters), at most 255 bytes.
pub fn is_credential_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c.is_control())
}

/// Variables that hold a secret by their name: written into `mattermost.env` they would be
/// readable in the rendered files (and the Nix store). Names of files, paths and public
/// keys are not secrets.
pub fn is_secret_variable_name(name: &str) -> bool {
    const EXACT: &[&str] = &["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "PGPASSWORD"];
    const WORDS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "PRIVATE_KEY",
        "API_KEY",
        "APIKEY",
    ];
    const NOT_SECRET_SUFFIXES: &[&str] = &["_FILE", "_PATH", "_DIR", "PUBLIC_KEY"];
    let upper = name.to_ascii_uppercase();
    if NOT_SECRET_SUFFIXES.iter().any(|s| upper.ends_with(s)) {
        return false;
    }
    EXACT.contains(&upper.as_str())
        || WORDS.iter().any(|w| upper.contains(w))
        || upper.ends_with("_KEY")
}

/// A host as it may appear in nginx's `server_name`, a DSN or an S3 endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An RFC 1123 host name.
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// The longest host name DNS can carry.
const MAX_HOST_NAME: usize = 253;

impl Host {
    /// A host name (RFC 1123 labels: letters, digits and `-`, 1 to 63 characters, not
    /// starting or ending with `-`; the last label not all digits), an IPv4 address, or an
    /// IPv6 address with or without brackets.
    pub fn parse(s: &str) -> Result<Host, String> {
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Host::V4(v4));
        }
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(v6) = bare.parse::<Ipv6Addr>() {
            return Ok(Host::V6(v6));
        }
        host_name_problem(s).map_or_else(|| Ok(Host::Name(s.to_string())), Err)
    }

    /// As written in a URL or `host:port`: IPv6 in brackets.
    pub fn for_url(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => format!("[{a}]"),
        }
    }
}

fn host_name_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("expected a host name or an IP address, found an empty string".into());
    }
    if s.len() > MAX_HOST_NAME {
        return Some(format!(
            "expected a host name of at most {MAX_HOST_NAME} characters, found {}",
            s.len()
        ));
    }
    let labels: Vec<&str> = s.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return Some(
            "expected a host name (letters, digits and `-` in dot-separated labels) or an IP address"
                .into(),
        );
    }
    // `10.1` or `1.2.3.999` would be read as (or refused as) a numeric address by resolvers.
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Some("expected a host name or a valid IPv4 address (the last label of a name is not all digits)".into());
    }
    None
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; the port defaults to
/// `default_port`.
pub fn parse_host_port(s: &str, default_port: u16) -> Result<(Host, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (format!("[{h}]"), None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (format!("[{h}]"), Some(p)),
                None => return Err("expected [IPv6 address]:port".into()),
            },
            None => return Err("expected a closing `]` after the IPv6 address".into()),
        }
    } else if s.matches(':').count() > 1 {
        (s.to_string(), None)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    let host = Host::parse(&host)?;
    let port = match port {
        None => default_port,
        Some(p) => parse_port(p)?,
    };
    Ok((host, port))
}

/// A TCP port: digits only, 1 to 65535.
pub fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
        return Err("expected a port number after `:`".into());
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err("expected a port from 1 to 65535".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names_follow_sysusers() {
        for ok in ["mattermost", "_mm", "mm-1", "a", "A_b-c", &"m".repeat(31)] {
            assert_eq!(system_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "1mm",
            "-mm",
            "mm\nExecStartPre=+/bin/sh",
            "mm user",
            "mm$",
            "mm.x",
            "ü",
            &"m".repeat(32),
            "root",
            "nobody",
        ] {
            assert!(system_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            Host::parse("db.example.com"),
            Ok(Host::Name("db.example.com".into()))
        );
        assert_eq!(
            Host::parse("2001:db8::5").map(|h| h.for_url()),
            Ok("[2001:db8::5]".into())
        );
        assert_eq!(
            Host::parse("[::1]").map(|h| h.for_url()),
            Ok("[::1]".into())
        );
        for bad in [
            "",
            "a;b",
            "chat.example.com;evil",
            "-a.b",
            "a..b",
            "a b",
            "10.1",
            "1.2.3.999",
            "user@host",
            "host:5432",
            "ex_ample.com",
            "a{b",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_ports() {
        assert_eq!(
            parse_host_port("r1", 5432),
            Ok((Host::Name("r1".into()), 5432))
        );
        assert_eq!(
            parse_host_port("r1:6432", 5432),
            Ok((Host::Name("r1".into()), 6432))
        );
        assert_eq!(
            parse_host_port("[2001:db8::6]:6432", 5432).map(|(h, p)| (h.for_url(), p)),
            Ok(("[2001:db8::6]".into(), 6432))
        );
        assert_eq!(
            parse_host_port("2001:db8::6", 5432).map(|(h, p)| (h.for_url(), p)),
            Ok(("[2001:db8::6]".into(), 5432))
        );
        for bad in [
            "r1:99999", "", "r2:abc", "r3:", ":5432", "r4:0", "[::1", "[::1]x",
        ] {
            assert!(parse_host_port(bad, 5432).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_variable_names() {
        for secret in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "PGPASSWORD",
            "github_token",
            "SMTP_PASSWORD",
            "STRIPE_KEY",
            "MINIO_ROOT_PASSWORD",
        ] {
            assert!(is_secret_variable_name(secret), "{secret}");
        }
        for plain in [
            "https_proxy",
            "AWS_ACCESS_KEY_ID",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "SSL_CERT_DIR",
            "VAULT_TOKEN_FILE",
            "GODEBUG",
            "SSH_PUBLIC_KEY",
        ] {
            assert!(!is_secret_variable_name(plain), "{plain}");
        }
    }

    #[test]
    fn env_names() {
        for ok in ["FOO", "_x", "https_proxy", "A1"] {
            assert!(is_env_name(ok), "{ok}");
        }
        for bad in ["", "export FOO", "MY VAR", "A-B", "1A", "A=B", "Ä"] {
            assert!(!is_env_name(bad), "{bad:?}");
        }
    }
}
