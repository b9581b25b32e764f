//! PostgreSQL connection strings as Omnibus and Mattermost write them: libpq's
//! `key=value` form (Omnibus's default `user=gitlab_mattermost host=/var/opt/gitlab/postgresql
//! port=5432 dbname=mattermost_production`) and the URL form (`postgres://u:p@h:5432/db`).

use std::collections::BTreeMap;

/// The parts of a DSN the importer uses. `password` is a secret: never print it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dsn {
    pub user: Option<String>,
    pub password: Option<String>,
    /// A host name, or a directory (starting with `/`) for a unix socket.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    pub sslmode: Option<String>,
    /// Every other parameter (connect_timeout, binary_parameters, …), by name.
    pub other: BTreeMap<String, String>,
}

impl Dsn {
    /// Whether this connects over a unix socket (no host, or a directory as host).
    pub fn is_socket(&self) -> bool {
        self.host.as_deref().is_none_or(|h| h.starts_with('/'))
    }
}

/// The `host[:port]` of each read replica in `SqlSettings.DataSourceReplicas` (a list, or
/// one string of space-separated DSNs); a DSN that cannot be read, or names no host, is left
/// out.
pub fn replica_hosts(replicas: &serde_json::Value) -> Vec<String> {
    let dsns: Vec<String> = match replicas {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        serde_json::Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        other => vec![other.to_string()],
    };
    dsns.iter()
        .filter_map(|s| parse(s).ok())
        .filter_map(|d| {
            d.host
                .map(|h| d.port.map_or(h.clone(), |p| format!("{h}:{p}")))
        })
        .collect()
}

/// Parse either form; the error never contains the input (it may hold a password).
pub fn parse(text: &str) -> Result<Dsn, String> {
    let t = text.trim();
    if t.starts_with("postgres://") || t.starts_with("postgresql://") {
        parse_url(t)
    } else {
        parse_key_values(t)
    }
}

fn parse_url(text: &str) -> Result<Dsn, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a valid postgres:// URL ({e})"))?;
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| "invalid percent-encoding in the URL".to_string())
    };
    let mut dsn = Dsn {
        user: Some(decode(url.username())?).filter(|u| !u.is_empty()),
        password: url.password().map(decode).transpose()?,
        host: url.host_str().map(str::to_string).filter(|h| !h.is_empty()),
        port: url.port(),
        dbname: Some(decode(url.path().trim_start_matches('/'))?).filter(|d| !d.is_empty()),
        ..Dsn::default()
    };
    for (k, v) in url.query_pairs() {
        apply(&mut dsn, &k, v.into_owned())?;
    }
    Ok(dsn)
}

fn parse_key_values(text: &str) -> Result<Dsn, String> {
    let mut dsn = Dsn::default();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(dsn);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err("expected key=value pairs".into());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err("unterminated quoted value".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        apply(&mut dsn, &key, value)?;
    }
}

fn apply(dsn: &mut Dsn, key: &str, value: String) -> Result<(), String> {
    match key {
        "user" => dsn.user = Some(value),
        "password" => dsn.password = Some(value),
        "host" => dsn.host = Some(value),
        "port" => {
            dsn.port = Some(
                value
                    .parse()
                    .map_err(|_| format!("port {value:?} is not a port number"))?,
            )
        }
        "dbname" => dsn.dbname = Some(value),
        "sslmode" => dsn.sslmode = Some(value),
        _ => {
            dsn.other.insert(key.to_string(), value);
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_hosts_come_from_a_list_or_one_string() {
        let list = serde_json::json!([
            "postgres://u:p@r1.example.com:5433/mm",
            "host=r2.example.com dbname=mm",
            "not a dsn ::"
        ]);
        assert_eq!(
            replica_hosts(&list),
            ["r1.example.com:5433", "r2.example.com"]
        );
        let one = serde_json::json!("postgres://u@r1:1/mm postgres://u@r2/mm");
        assert_eq!(replica_hosts(&one), ["r1:1", "r2"]);
    }

    #[test]
    fn omnibus_default_is_a_socket_dsn() {
        let d = parse("user=gitlab_mattermost host=/var/opt/gitlab/postgresql port=5432 dbname=mattermost_production")
            .expect("parses");
        assert_eq!(d.user.as_deref(), Some("gitlab_mattermost"));
        assert_eq!(d.port, Some(5432));
        assert_eq!(d.dbname.as_deref(), Some("mattermost_production"));
        assert!(d.is_socket());
    }

    #[test]
    fn quoted_values_and_urls() {
        let d = parse("host=db.example.com password='p w\\'x' user=mm").expect("parses");
        assert_eq!(d.password.as_deref(), Some("p w'x"));
        assert!(!d.is_socket());
        let u = parse("postgres://mm:s%40cret@db.example.com:5433/mattermost?sslmode=verify-full&connect_timeout=10")
            .expect("parses");
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(u.port, Some(5433));
        assert_eq!(u.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(
            u.other.get("connect_timeout").map(String::as_str),
            Some("10")
        );
    }

    #[test]
    fn errors_do_not_echo_the_input() {
        let e = parse("password=hunter2 port=abc").expect_err("bad port");
        assert!(!e.contains("hunter2"));
        let e = parse("password='hunter2").expect_err("unterminated");
        assert!(!e.contains("hunter2"));
    }
}
