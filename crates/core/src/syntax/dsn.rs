//! PostgreSQL connection URLs (`postgres://…`), as Mattermost's drivers (lib/pq and pgx, both
//! through Go's `net/url`) and libpq read them.
//!
//! Every component is percent-encoded, so no name can add a parameter (`?sslmode=disable`),
//! end the path or the user part early, or hold a space (replica URLs are separated by
//! spaces in the environment). Hosts are checked to be a host name or an IP address, with
//! IPv6 in brackets.

use std::fmt::Write;

use super::names::Host;

/// The longest database or role name PostgreSQL keeps (`NAMEDATALEN - 1`); it silently
/// truncates longer ones.
pub const MAX_NAME_BYTES: usize = 63;

/// Percent-encode everything but RFC 3986's unreserved characters: safe in the user part,
/// the path and query values alike.
pub fn encode(s: &str) -> String {
    encode_keeping(s, "")
}

/// Percent-encode a query value, keeping `/` readable (socket directories).
fn encode_query_value(s: &str) -> String {
    encode_keeping(s, "/")
}

fn encode_keeping(s: &str, keep: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "-._~".contains(c) || keep.contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Why `name` cannot be a database or role name, if it cannot.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("expected a name, found an empty string".into());
    }
    if name.starts_with('/') {
        // The name is the URL's path: pgx trims every leading `/`, lib/pq only the first.
        return Some("a name cannot start with `/`: Go's PostgreSQL drivers disagree on it".into());
    }
    if name.contains('\0') {
        return Some("PostgreSQL names cannot contain a NUL byte".into());
    }
    (name.len() > MAX_NAME_BYTES).then(|| {
        format!(
            "expected at most {MAX_NAME_BYTES} bytes (PostgreSQL silently cuts longer names), found {}",
            name.len()
        )
    })
}

/// Why `name` cannot be a database name, if it cannot: a role name's rules, and not `.` or
/// `..`, which are the URL's whole path and a dot segment there (URL parsers that resolve
/// dot segments read `/.` as the empty path, Go's `net/url` keeps it).
pub fn database_name_problem(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        return Some(
            "a database name cannot be `.` or `..`: URL parsers disagree on a dot segment".into(),
        );
    }
    name_problem(name)
}

/// Put `password` into the user part of `url`, percent-encoded (the `url` crate's own setter
/// leaves `%` as it is, which PostgreSQL's parsers then refuse). Whether the URL can hold
/// one.
pub fn with_password(url: &mut url::Url, password: &str) -> bool {
    url.set_password(Some(&encode(password))).is_ok()
}

/// A TCP connection URL; the password is added at service start.
pub fn tcp(user: &str, host: &Host, port: u16, database: &str, sslmode: &str) -> String {
    format!(
        "postgres://{}@{}:{port}/{}?sslmode={}&connect_timeout=10",
        encode(user),
        host.for_url(),
        encode(database),
        encode(sslmode)
    )
}

/// A unix-socket connection URL (peer authentication, no password): the socket directory
/// goes into the `host` parameter.
pub fn socket(user: &str, socket_dir: &str, port: u16, database: &str) -> String {
    format!(
        "postgres://{}@/{}?host={}&port={port}&sslmode=disable&connect_timeout=10",
        encode(user),
        encode(database),
        encode_query_value(socket_dir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_no_database_names() {
        assert!(database_name_problem(".").is_some());
        assert!(database_name_problem("..").is_some());
        assert_eq!(database_name_problem("..."), None);
        assert_eq!(database_name_problem(".mm"), None);
        assert_eq!(name_problem("."), None, "a role name is in the user part");
    }

    #[test]
    fn components_are_encoded() {
        let host = Host::parse("2001:db8::5").expect("v6");
        assert_eq!(
            tcp("mm user", &host, 5432, "mm?sslmode=disable&x=", "require"),
            "postgres://mm%20user@[2001:db8::5]:5432/mm%3Fsslmode%3Ddisable%26x%3D?sslmode=require&connect_timeout=10"
        );
        assert_eq!(
            socket("mattermost", "/run/postgresql", 5432, "mattermost"),
            "postgres://mattermost@/mattermost?host=/run/postgresql&port=5432&sslmode=disable&connect_timeout=10"
        );
        assert_eq!(encode("ü/%"), "%C3%BC%2F%25");
    }
}
