//! The service account's fixed ids (`account.uid`, `account.gid`). systemd-sysusers never
//! changes an existing account, and when a requested id is taken it silently picks another:
//! apply would report success while files it creates with the configured owner belong to
//! some other account. So the ids are checked before anything changes (a refusal, exit 2),
//! and again after systemd-sysusers ran (a failure that says what the host holds, exit 1).

use std::path::Path;

use super::paths::{Root, SYSUSERS};
use crate::diag::{Diagnostic, Diagnostics};
use crate::schema::Account;

const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";

/// One line of /etc/passwd or /etc/group: the name and the numeric id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub id: u32,
}

/// Names and ids of a passwd or group file (`name:x:id:…`); a missing file has none.
fn entries(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('+') && !l.starts_with('-'))
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?.to_string();
            let id = f.nth(1)?.parse().ok()?;
            Some(Entry { name, id })
        })
        .collect()
}

/// What must hold for one kind (user or group) of the account.
struct Want<'a> {
    /// "user" or "group".
    kind: &'static str,
    key: &'static str,
    name: &'a str,
    id: u32,
    file: &'static str,
}

/// Refuse when the configured uid or gid is held by another name, or the account's user or
/// group exists with another id. Every problem at once.
pub fn check(account: &Account, root: &Root, refusals: &mut Diagnostics) {
    if let Some(uid) = account.uid {
        let users = entries(&root.path(PASSWD));
        check_one(
            &Want {
                kind: "user",
                key: "account.uid",
                name: &account.user,
                id: uid,
                file: PASSWD,
            },
            &users,
            refusals,
        );
    }
    if let Some(gid) = account.gid {
        let groups = entries(&root.path(GROUP));
        check_one(
            &Want {
                kind: "group",
                key: "account.gid",
                name: &account.group,
                id: gid,
                file: GROUP,
            },
            &groups,
            refusals,
        );
    }
}

fn check_one(w: &Want, found: &[Entry], refusals: &mut Diagnostics) {
    let (kind, name, id, file) = (w.kind, w.name, w.id, w.file);
    let (ids, change) = match kind {
        "user" => ("uid", "usermod -u"),
        _ => ("gid", "groupmod -g"),
    };
    for holder in found.iter().filter(|e| e.id == id && e.name != name) {
        refusals.push(
            Diagnostic::new(
                w.key,
                format!(
                    "{ids} {id} belongs to the {kind} {} in {file}: systemd-sysusers would give {name} another {ids}, and what apply creates for {ids} {id} would belong to {}",
                    holder.name, holder.name
                ),
            )
            .with_hint(format!(
                "choose a free {ids} for {} (or leave it unset and let the system choose), or move {} to another {ids} first: `{change} NEW {}`",
                w.key, holder.name, holder.name
            )),
        );
    }
    if let Some(existing) = found.iter().find(|e| e.name == name && e.id != id) {
        refusals.push(
            Diagnostic::new(
                w.key,
                format!(
                    "the {kind} {name} exists with {ids} {}, not {id}; systemd-sysusers does not change an existing {kind}",
                    existing.id
                ),
            )
            .with_hint(format!(
                "set {} = {} (what it owns keeps its owner), or change it with Mattermost stopped: `{change} {id} {name}` (then give its files the new {ids})",
                w.key, existing.id
            )),
        );
    }
}

/// A name with the fixed id sysusers.d asks for.
type Fixed = Option<(String, u32)>;

/// The ids the installed sysusers.d file asks for: `(user, uid)` and `(group, gid)`, each
/// when fixed.
fn requested(root: &Root) -> (Fixed, Fixed) {
    let text = std::fs::read_to_string(root.path(SYSUSERS)).unwrap_or_default();
    let (mut user, mut group) = (None, None);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let id = |s: Option<&&str>| s.and_then(|s| s.split(':').next()?.parse::<u32>().ok());
        match (f.first(), f.get(1)) {
            (Some(&"u"), Some(name)) => user = id(f.get(2)).map(|n| (name.to_string(), n)),
            (Some(&"g"), Some(name)) => group = id(f.get(2)).map(|n| (name.to_string(), n)),
            _ => {}
        }
    }
    (user, group)
}

/// After systemd-sysusers: the account has exactly the ids the installed sysusers.d file
/// asks for. `Err` says what the host holds now and how to go on.
pub fn verify(root: &Root) -> Result<(), String> {
    let (user, group) = requested(root);
    let mut wrong = Vec::new();
    let mut fixes = Vec::new();
    for (want, file, kind, ids, remove, change) in [
        (user, PASSWD, "user", "uid", "userdel", "usermod -u"),
        (group, GROUP, "group", "gid", "groupdel", "groupmod -g"),
    ] {
        let Some((name, id)) = want else { continue };
        let found = entries(&root.path(file));
        match found.iter().find(|e| e.name == name) {
            Some(e) if e.id == id => {}
            Some(e) => {
                let holder = found
                    .iter()
                    .find(|h| h.id == id && h.name != name)
                    .map(|h| format!(" ({ids} {id} belongs to {})", h.name))
                    .unwrap_or_default();
                wrong.push(format!(
                    "the {kind} {name} has {ids} {}, not the configured {id}{holder}",
                    e.id
                ));
                fixes.push(format!(
                    "`{remove} {name}` and free {ids} {id}, or `{change} {id} {name}` once it is free"
                ));
            }
            None => wrong.push(format!("there is no {kind} {name} in {file}")),
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "systemd-sysusers did not give the account the configured ids: {}.\n\
         The account exists like that now; nothing else was created for it yet. \
         Fix it before apply goes on (files apply creates would otherwise belong to another account): {}; \
         or set account.uid/account.gid to the ids it has.",
        wrong.join("; "),
        if fixes.is_empty() {
            "see `systemd-sysusers` and the account's lines in /etc/passwd and /etc/group".into()
        } else {
            fixes.join("; ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(passwd: &str, group: &str) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("etc/group"), group).unwrap();
        let root = Root::scratch(dir.path().to_path_buf());
        (dir, root)
    }

    fn account(uid: Option<u32>, gid: Option<u32>) -> Account {
        Account {
            user: "mattermost".into(),
            group: "mattermost".into(),
            uid,
            gid,
        }
    }

    #[test]
    fn taken_or_different_ids_are_all_refused() {
        let (_d, root) = root_with(
            "root:x:0:0::/root:/bin/sh\nredis:x:4321:4321::/:/bin/false\nmattermost:x:999:999::/:/bin/false\n",
            "root:x:0:\nredis:x:4321:\nmattermost:x:999:\n",
        );
        let mut r = Diagnostics::default();
        check(&account(Some(4321), Some(4321)), &root, &mut r);
        let text = r.to_string();
        assert_eq!(r.0.len(), 4, "{text}");
        assert!(
            text.contains("uid 4321 belongs to the user redis in /etc/passwd"),
            "{text}"
        );
        assert!(
            text.contains("gid 4321 belongs to the group redis in /etc/group"),
            "{text}"
        );
        assert!(
            text.contains("the user mattermost exists with uid 999, not 4321"),
            "{text}"
        );
        assert!(text.contains("set account.gid = 999"), "{text}");
    }

    #[test]
    fn free_ids_the_same_account_or_no_fixed_ids_pass() {
        let (_d, root) = root_with(
            "mattermost:x:4321:4321::/:/bin/false\n",
            "mattermost:x:4321:\n",
        );
        let mut r = Diagnostics::default();
        check(&account(Some(4321), Some(4321)), &root, &mut r);
        check(&account(None, None), &root, &mut r);
        let (_e, empty) = root_with("", "");
        check(&account(Some(4321), Some(4321)), &empty, &mut r);
        assert!(r.is_empty(), "{r}");
    }
}
