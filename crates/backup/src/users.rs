//! System accounts, looked up through NSS (`getent`) so LDAP or systemd-homed users count.

use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Look a user up by name or numeric id; `None` when it does not exist.
pub fn lookup(name_or_uid: &str) -> Option<User> {
    let out = Command::new("getent")
        .args(["passwd", name_or_uid])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_passwd_line(String::from_utf8_lossy(&out.stdout).lines().next()?)
}

/// The numeric id of a group, by name; `None` when it does not exist.
pub fn lookup_group(name: &str) -> Option<u32> {
    let out = Command::new("getent").args(["group", name]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next()?.split(':').nth(2)?.parse().ok()
}

fn parse_passwd_line(line: &str) -> Option<User> {
    let mut f = line.split(':');
    let name = f.next()?.to_string();
    let _password = f.next()?;
    let uid = f.next()?.parse().ok()?;
    let gid = f.next()?.parse().ok()?;
    Some(User { name, uid, gid })
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The name of the effective user, or its number when it has none.
pub fn effective_user_name() -> String {
    let uid = effective_uid();
    lookup(&uid.to_string())
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_passwd_line() {
        let u = parse_passwd_line("mattermost:x:998:997::/var/lib/mattermost:/usr/sbin/nologin");
        assert_eq!(
            u,
            Some(User {
                name: "mattermost".into(),
                uid: 998,
                gid: 997
            })
        );
        assert_eq!(parse_passwd_line("broken"), None);
    }

    #[test]
    fn root_exists() {
        assert_eq!(lookup("0").map(|u| u.name), Some("root".to_string()));
        assert_eq!(lookup_group("root"), Some(0));
        assert_eq!(lookup_group("no-such-group-here"), None);
    }
}
