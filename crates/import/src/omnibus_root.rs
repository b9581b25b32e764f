//! `import --omnibus-root DIR`: read an Omnibus host's files (DIR is `/` on the old host, or a
//! copy of its files) and fill in what gitlab.rb does not hold: the secrets Omnibus generated,
//! the account's numeric ids and the GitLab version.
//!
//! GitLab 19's reconfigure rewrites `/etc/gitlab/gitlab-secrets.json` without its `mattermost`
//! section, so the secrets are looked up where copies survive, in this order:
//! 1. the env directory `/opt/gitlab/etc/mattermost/env/`: what Mattermost last ran with
//!    (runit's `chpst -e` read it at every start; 19.0 does not delete it);
//! 2. `/etc/gitlab/gitlab-secrets.json`;
//! 3. `/etc/gitlab/config_backup/gitlab_config_*.tar`, newest first (`gitlab-ctl backup-etc`,
//!    which the package upgrade runs).
//!
//! A secret that is absent, empty, the string `null` (what `jq -r` prints for a missing key)
//! or breaks Mattermost's rule (AtRestEncryptKey: at least 32 characters) is refused with exit
//! 2, naming every place looked at. Values are never printed.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::report::{Origin, Section};
use super::Ctx;
use crate::diag::{Diagnostic, Diagnostics};

/// Omnibus's paths, relative to the root.
pub const GITLAB_RB: &str = "etc/gitlab/gitlab.rb";
pub const CONFIG_JSON: &str = "var/opt/gitlab/mattermost/config.json";
const SECRETS_JSON: &str = "etc/gitlab/gitlab-secrets.json";
const CONFIG_BACKUP_DIR: &str = "etc/gitlab/config_backup";
const ENV_DIR: &str = "opt/gitlab/etc/mattermost/env";
const GITLAB_VERSION: &str = "opt/gitlab/embedded/service/gitlab-rails/VERSION";

/// No secret, env file, VERSION or gitlab-secrets.json is anywhere near this big.
const MAX_SMALL_FILE: u64 = 1 << 20;
/// Configuration backups hold all of /etc/gitlab (certificates, trusted certs).
const MAX_TAR_ENTRIES: usize = 100_000;

/// A secret Omnibus generated: the file the import references, where Omnibus kept it, and
/// Mattermost's rule for it.
struct Wanted {
    file: &'static str,
    setting: &'static str,
    secrets_json_key: &'static str,
    env_var: &'static str,
    min_chars: usize,
}

const WANTED: [Wanted; 3] = [
    Wanted {
        file: "sqlsettings-atrestencryptkey",
        setting: "SqlSettings.AtRestEncryptKey",
        secrets_json_key: "sql_at_rest_encrypt_key",
        env_var: "MM_SQLSETTINGS_ATRESTENCRYPTKEY",
        // Mattermost refuses to start with a shorter key (model/config.go).
        min_chars: 32,
    },
    Wanted {
        file: "gitlab-id",
        setting: "GitLabSettings.Id",
        secrets_json_key: "gitlab_id",
        env_var: "MM_GITLABSETTINGS_ID",
        min_chars: 1,
    },
    Wanted {
        file: "gitlab-secret",
        setting: "GitLabSettings.Secret",
        secrets_json_key: "gitlab_secret",
        env_var: "MM_GITLABSETTINGS_SECRET",
        min_chars: 1,
    },
];

/// The inputs `--omnibus-root` stands for, when they were not given explicitly.
pub struct Defaults {
    pub gitlab_rb: PathBuf,
    pub config_json: Option<PathBuf>,
    pub gitlab_version: Option<String>,
}

pub fn defaults(root: &Path) -> Result<Defaults, Diagnostics> {
    let gitlab_rb = root.join(GITLAB_RB);
    if !gitlab_rb.is_file() {
        return Err(Diagnostic::new(
            "--omnibus-root",
            format!(
                "{} is not a file: is {} the root of an Omnibus host (or a copy of its files)?",
                gitlab_rb.display(),
                root.display()
            ),
        )
        .with_hint(
            "give / on the old host, or the directory holding its etc/gitlab and var/opt/gitlab",
        )
        .into());
    }
    let config_json = Some(root.join(CONFIG_JSON)).filter(|p| p.is_file());
    let gitlab_version = read_small(&root.join(GITLAB_VERSION))
        .ok()
        .flatten()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    Ok(Defaults {
        gitlab_rb,
        config_json,
        gitlab_version,
    })
}

/// One candidate value and where it came from.
struct Found {
    value: String,
    place: String,
}

/// Every place a secret was looked for, for the error.
#[derive(Default)]
struct Looked {
    places: Vec<String>,
}

/// Fill every Omnibus-generated secret the import still lacks; all problems at once.
pub fn fill_secrets(ctx: &mut Ctx, root: &Path) -> Result<(), Diagnostics> {
    let sources = Sources::read(root);
    let mut problems = Diagnostics::default();
    for w in &WANTED {
        if !ctx.secrets.lacks_value(w.file) {
            continue;
        }
        match find(&sources, w) {
            Ok((found, also)) => {
                let origin = Origin::Omnibus(found.place.clone());
                ctx.secrets
                    .fill(w.file, found.value, origin.clone(), w.setting);
                let mut text = format!("{} ({}) taken from {}", w.setting, w.file, found.place);
                if !also.is_empty() {
                    text.push_str(&format!("; also found, different, in {}", also.join(", ")));
                    text.push_str(": the env directory is what Mattermost last ran with");
                }
                ctx.report.add(Section::Derived, Some(origin), text);
            }
            Err(looked) => problems.push(
                Diagnostic::new(
                    "--omnibus-root",
                    format!(
                        "no usable {} (Omnibus's {}): {}",
                        w.setting,
                        w.secrets_json_key,
                        looked.places.join("; ")
                    ),
                )
                .with_hint(hint(w)),
            ),
        }
    }
    for note in &sources.notes {
        ctx.report.add(Section::Derived, None, note.clone());
    }
    problems.into_result(())
}

fn hint(w: &Wanted) -> &'static str {
    const COPY: &str = "copy /etc/gitlab/config_backup and /opt/gitlab/etc/mattermost/env from the old host into the root";
    match w.file {
        "sqlsettings-atrestencryptkey" => "copy /etc/gitlab/config_backup and /opt/gitlab/etc/mattermost/env from the old host into the root; \
             never make a new key: what Mattermost encrypted with the old one becomes unreadable",
        "gitlab-id" => "copy /etc/gitlab/config_backup and /opt/gitlab/etc/mattermost/env from the old host into the root, \
             or set mattermost['gitlab_id'] to the application id GitLab shows in Admin > Applications (\"GitLab Mattermost\")",
        "gitlab-secret" => "copy /etc/gitlab/config_backup and /opt/gitlab/etc/mattermost/env from the old host into the root; \
             GitLab never shows a secret twice: `gitlab-mattermost gitlab register --rotate` issues a new one, and the old server's GitLab sign-in stops working",
        _ => COPY,
    }
}

/// The first valid value in source order, with the places that held a different one.
fn find(sources: &Sources, w: &Wanted) -> Result<(Found, Vec<String>), Looked> {
    let mut looked = Looked::default();
    let mut valid: Vec<Found> = Vec::new();
    for candidate in sources.candidates(w) {
        match candidate {
            Candidate::Absent(why) => looked.places.push(why),
            Candidate::Present(found) => match refuse(w, &found.value) {
                Some(why) => looked.places.push(format!("{}: {why}", found.place)),
                None => valid.push(found),
            },
        }
    }
    let mut valid = valid.into_iter();
    let Some(first) = valid.next() else {
        return Err(looked);
    };
    let differ = valid
        .filter(|f| f.value != first.value)
        .map(|f| f.place)
        .collect();
    Ok((first, differ))
}

/// Why a value cannot be the secret (never quoting it).
fn refuse(w: &Wanted, value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("empty".into());
    }
    if value == "null" {
        return Some("the string \"null\" (a missing key printed by jq -r)".into());
    }
    let chars = value.chars().count();
    if chars < w.min_chars {
        return Some(format!(
            "{chars} characters; Mattermost refuses to start with fewer than {}",
            w.min_chars
        ));
    }
    if value.chars().any(char::is_control) {
        return Some("holds control characters".into());
    }
    None
}

enum Candidate {
    Present(Found),
    Absent(String),
}

/// What the root holds, read once.
struct Sources {
    env_dir: PathBuf,
    env_dir_display: String,
    secrets_json: Result<Option<Value>, String>,
    secrets_json_display: String,
    backups: Vec<(String, Result<Option<Value>, String>)>,
    backup_dir_display: String,
    notes: Vec<String>,
}

impl Sources {
    fn read(root: &Path) -> Sources {
        let shown =
            |rel: &str| format!("{}/{rel}", root.display().to_string().trim_end_matches('/'));
        let mut notes = Vec::new();
        let secrets_json = match read_small(&root.join(SECRETS_JSON)) {
            Ok(Some(text)) => serde_json::from_str::<Value>(&text)
                .map(Some)
                .map_err(|e| format!("not JSON ({e})")),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        if let Ok(Some(v)) = &secrets_json {
            if v.get("mattermost").is_none() {
                notes.push(format!(
                    "{} has no mattermost section: GitLab 19's reconfigure removes it; the secrets come from the copies below",
                    shown(SECRETS_JSON)
                ));
            }
        }
        let backups = config_backups(&root.join(CONFIG_BACKUP_DIR))
            .into_iter()
            .map(|tar| {
                let name = tar.display().to_string();
                let read = secrets_json_in_tar(&tar);
                (name, read)
            })
            .collect();
        Sources {
            env_dir: root.join(ENV_DIR),
            env_dir_display: shown(ENV_DIR),
            secrets_json,
            secrets_json_display: shown(SECRETS_JSON),
            backups,
            backup_dir_display: shown(CONFIG_BACKUP_DIR),
            notes,
        }
    }

    /// Every place in source order: env directory, gitlab-secrets.json, backups newest first.
    fn candidates(&self, w: &Wanted) -> Vec<Candidate> {
        let mut out = vec![self.in_env_dir(w)];
        out.push(from_json(&self.secrets_json, &self.secrets_json_display, w));
        if self.backups.is_empty() {
            out.push(Candidate::Absent(format!(
                "no gitlab_config_*.tar in {}",
                self.backup_dir_display
            )));
        }
        for (name, read) in &self.backups {
            out.push(from_json(read, &format!("{name} (gitlab-secrets.json)"), w));
        }
        out
    }

    fn in_env_dir(&self, w: &Wanted) -> Candidate {
        let path = self.env_dir.join(w.env_var);
        let place = format!("{}/{}", self.env_dir_display, w.env_var);
        match read_small(&path) {
            // chpst -e, like envdir, takes the first line without trailing blanks.
            Ok(Some(text)) => Candidate::Present(Found {
                value: text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches([' ', '\t'])
                    .to_string(),
                place,
            }),
            Ok(None) => Candidate::Absent(format!("{place}: no such file")),
            Err(e) => Candidate::Absent(format!("{place}: {e}")),
        }
    }
}

fn from_json(read: &Result<Option<Value>, String>, place: &str, w: &Wanted) -> Candidate {
    let doc = match read {
        Ok(Some(doc)) => doc,
        Ok(None) => return Candidate::Absent(format!("{place}: no such file")),
        Err(e) => return Candidate::Absent(format!("{place}: {e}")),
    };
    match doc.get("mattermost").map(|m| m.get(w.secrets_json_key)) {
        None => Candidate::Absent(format!("{place}: no mattermost section")),
        Some(None) | Some(Some(Value::Null)) => {
            Candidate::Absent(format!("{place}: no mattermost.{}", w.secrets_json_key))
        }
        Some(Some(Value::String(s))) => Candidate::Present(Found {
            value: s.clone(),
            place: format!("{place} .mattermost.{}", w.secrets_json_key),
        }),
        Some(Some(_)) => Candidate::Absent(format!(
            "{place}: mattermost.{} is not a string",
            w.secrets_json_key
        )),
    }
}

/// `gitlab_config_<epoch>_<date>.tar`, newest first (by the epoch in the name, then the name).
fn config_backups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut tars: Vec<(u64, String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let stem = name.strip_prefix("gitlab_config_")?.strip_suffix(".tar")?;
            let epoch = stem.split('_').next()?.parse::<u64>().unwrap_or(0);
            Some((epoch, name, e.path()))
        })
        .collect();
    tars.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    tars.into_iter().map(|(_, _, p)| p).collect()
}

/// The `etc/gitlab/gitlab-secrets.json` entry of a configuration backup (`tar --absolute-names
/// … /etc/gitlab`), parsed. Only that entry is read, and at most [`MAX_SMALL_FILE`] of it.
fn secrets_json_in_tar(path: &Path) -> Result<Option<Value>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(file);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive ({e})"))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_TAR_ENTRIES {
            return Err(format!("more than {MAX_TAR_ENTRIES} entries"));
        }
        let entry = entry.map_err(|e| format!("unreadable tar archive ({e})"))?;
        let name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&name);
        let trimmed = name.trim_start_matches("./").trim_start_matches('/');
        if trimmed != "etc/gitlab/gitlab-secrets.json" {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err("its gitlab-secrets.json is not a regular file".into());
        }
        let mut text = String::new();
        entry
            .take(MAX_SMALL_FILE)
            .read_to_string(&mut text)
            .map_err(|e| format!("unreadable gitlab-secrets.json ({e})"))?;
        return serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("its gitlab-secrets.json is not JSON ({e})"));
    }
    Ok(None)
}

/// A small text file: `Ok(None)` when it does not exist; an error text (never its content)
/// otherwise.
fn read_small(path: &Path) -> Result<Option<String>, String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(format!("larger than {MAX_SMALL_FILE} bytes"));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "not UTF-8".to_string())
}

/// The service account's numeric ids on the old host, when gitlab.rb did not pin them: the
/// new account gets the same numbers, so copied files keep their owner.
pub fn account_ids(ctx: &mut Ctx, root: &Path, user: &str) {
    let has = |ctx: &Ctx, f: &str| ctx.out.get("account").and_then(|a| a.get(f)).is_some();
    if has(ctx, "uid") && has(ctx, "gid") {
        return;
    }
    let passwd = root.join("etc/passwd");
    let Ok(Some(text)) = read_small(&passwd) else {
        ctx.report.add(
            Section::Derived,
            None,
            format!(
                "{} unreadable: the account's ids were not taken over; set account.uid and account.gid to `id {user}` on the old host",
                passwd.display()
            ),
        );
        return;
    };
    let Some((uid, gid)) = text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[0] == user)
            .then(|| Some((f[2].parse::<u32>().ok()?, f[3].parse::<u32>().ok()?)))?
    }) else {
        ctx.report.add(
            Section::Derived,
            None,
            format!(
                "{} has no account {user}: set account.uid and account.gid by hand",
                passwd.display()
            ),
        );
        return;
    };
    let origin = Origin::Omnibus(format!("{} {user}", passwd.display()));
    for (field, id) in [("uid", uid), ("gid", gid)] {
        if !has(ctx, field) {
            ctx.set_out(&["account", field], Value::from(id));
            ctx.report.add(
                Section::Derived,
                Some(origin.clone()),
                format!("account.{field} = {id}: the old host's {user} account, so the copied files keep their owner"),
            );
        }
    }
}
