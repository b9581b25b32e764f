//! The plan: a pure function of the new rendering, the install record and what is on disk
//! now. It decides which files to write or remove and which steps to run, and refuses to
//! touch any file `apply` did not install itself.

use std::collections::{BTreeMap, BTreeSet};

use super::paths::{NginxLayout, RENDER_DIR, SYSUSERS, TMPFILES, UNIT};
use super::record::{Installed, Record};
use crate::diag::{Diagnostic, Diagnostics};
use crate::render::backup::{SERVICE_FILE, TIMER_FILE, TMPFILES_FILE};
use crate::render::manifest::sha256_hex;
use crate::render::Files;

/// Where the scheduled backup's units and tmpfiles.d line are installed.
pub const BACKUP_SERVICE: &str = "/etc/systemd/system/gitlab-mattermost-backup.service";
pub const BACKUP_TIMER: &str = "/etc/systemd/system/gitlab-mattermost-backup.timer";
pub const BACKUP_TMPFILES: &str = "/etc/tmpfiles.d/gitlab-mattermost-backup.conf";

/// A path as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnDisk {
    Absent,
    File(Vec<u8>),
    Symlink(String),
    /// A directory, socket, …: never ours.
    Other(&'static str),
}

impl OnDisk {
    fn installed(&self) -> Option<Installed> {
        match self {
            OnDisk::File(bytes) => Some(Installed::File(sha256_hex(bytes))),
            OnDisk::Symlink(t) => Some(Installed::Symlink(t.clone())),
            _ => None,
        }
    }
}

/// The groups of installed files, each with the step that puts it to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Sysusers,
    Tmpfiles,
    Nginx,
    Unit,
    Backup,
}

impl Part {
    pub fn describe(self) -> &'static str {
        match self {
            Part::Sysusers => "the account (sysusers.d)",
            Part::Tmpfiles => "the directories (tmpfiles.d)",
            Part::Nginx => "the nginx site",
            Part::Unit => "the systemd unit",
            Part::Backup => "the scheduled backup (its service, timer and directory)",
        }
    }
}

/// What an install path gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    File(Vec<u8>),
    Symlink(String),
}

impl Content {
    pub fn installed(&self) -> Installed {
        match self {
            Content::File(bytes) => Installed::File(sha256_hex(bytes)),
            Content::Symlink(t) => Installed::Symlink(t.clone()),
        }
    }

    fn is(&self, on_disk: &OnDisk) -> bool {
        match (self, on_disk) {
            (Content::File(a), OnDisk::File(b)) => a == b,
            (Content::Symlink(a), OnDisk::Symlink(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Replace,
    Remove,
    /// Already exactly what apply would write: only recorded as ours.
    Adopt,
}

impl Change {
    pub fn word(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Replace => "replace",
            Change::Remove => "remove",
            Change::Adopt => "adopt",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAction {
    pub path: String,
    pub part: Part,
    pub change: Change,
    /// What to write; `None` for a removal.
    pub content: Option<Content>,
}

/// The rendered directory as found on disk: file hashes by relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendering {
    Absent,
    Ours(BTreeMap<String, String>),
}

/// A local PostgreSQL database to create when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub user: String,
    pub name: String,
    pub socket_dir: String,
    pub port: u16,
}

pub struct Inputs<'a> {
    pub rendered: &'a Files,
    pub rendering: &'a Rendering,
    pub record: &'a Record,
    /// Every wanted, recorded and legacy install path.
    pub on_disk: &'a BTreeMap<String, OnDisk>,
    /// `None` when nginx is not rendered.
    pub nginx: Option<NginxLayout>,
    /// `None` for an external database.
    pub database: Option<Database>,
    /// The release Mattermost will run (upgrade::release_key).
    pub release: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The release changed: preflight, stop the old server, back up everything it holds.
    Upgrade {
        from: String,
        to: String,
        database: Option<Database>,
    },
    /// Write, replace or remove the files of one part.
    Install(Part),
    /// `systemd-sysusers`: create the account.
    Sysusers,
    /// `systemd-tmpfiles --create`: the directories and links.
    Tmpfiles,
    /// `nginx -t`, then reload nginx (the previous site is restored when the test fails).
    Nginx,
    /// Create the role and database when missing.
    Database(Database),
    /// Swap the new rendering into /etc/gitlab-mattermost.
    Render,
    /// `systemctl daemon-reload`.
    DaemonReload,
    /// `systemctl enable mattermost.service` (once: a unit the admin disabled stays so).
    Enable,
    /// `systemctl restart mattermost.service`, waiting for readiness; `first` when apply
    /// never started it.
    Mattermost { first: bool },
    /// Scheduled backups on: create the backup directory, reload systemd's units, enable and
    /// (re)start the timer.
    BackupTimer,
    /// Scheduled backups off: stop and disable the timer (before its files go).
    BackupTimerOff,
}

/// A step and what it records once done: the effect's key and the hash of its inputs
/// (`None` removes the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub step: Step,
    pub effect: Option<(String, Option<String>)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyPlan {
    /// Files of the rendering that differ (relative paths), all when it is new.
    pub rendering: Vec<(String, Change)>,
    pub files: Vec<FileAction>,
    pub steps: Vec<Planned>,
    /// Things left alone, with why.
    pub notes: Vec<String>,
}

impl ApplyPlan {
    pub fn is_empty(&self) -> bool {
        self.rendering.is_empty() && self.files.is_empty() && self.steps.is_empty()
    }

    pub fn restarts_mattermost(&self) -> bool {
        self.steps
            .iter()
            .any(|p| matches!(p.step, Step::Mattermost { .. }))
    }
}

/// Paths where the manual steps of earlier versions linked rendered files; a link into the
/// rendered directory is ours and goes (the files now have their own names).
pub const LEGACY_LINKS: &[(&str, Part)] = &[
    ("/etc/sysusers.d/mattermost.conf", Part::Sysusers),
    ("/etc/tmpfiles.d/mattermost.conf", Part::Tmpfiles),
    ("/etc/nginx/conf.d/mattermost.conf", Part::Nginx),
    ("/etc/nginx/sites-enabled/mattermost.conf", Part::Nginx),
];

/// What each install path should hold.
pub fn wanted(rendered: &Files, nginx: Option<NginxLayout>) -> Vec<(String, Part, Content)> {
    let file = |rel: &str| Content::File(rendered.get(rel).cloned().unwrap_or_default());
    let mut w = vec![
        (
            SYSUSERS.to_string(),
            Part::Sysusers,
            file("sysusers.d/mattermost.conf"),
        ),
        (
            TMPFILES.to_string(),
            Part::Tmpfiles,
            file("tmpfiles.d/mattermost.conf"),
        ),
        (
            UNIT.to_string(),
            Part::Unit,
            file("systemd/mattermost.service"),
        ),
    ];
    if let Some(layout) = nginx {
        w.push((layout.site(), Part::Nginx, file("nginx/mattermost.conf")));
        if let Some((link, target)) = layout.link() {
            w.push((link, Part::Nginx, Content::Symlink(target)));
        }
    }
    if rendered.contains_key(TIMER_FILE) {
        for (path, rel) in [
            (BACKUP_SERVICE, SERVICE_FILE),
            (BACKUP_TIMER, TIMER_FILE),
            (BACKUP_TMPFILES, TMPFILES_FILE),
        ] {
            w.push((path.to_string(), Part::Backup, file(rel)));
        }
    }
    w
}

/// Every path whose current state the plan needs.
pub fn paths_to_read(rendered: &Files, nginx: Option<NginxLayout>, record: &Record) -> Vec<String> {
    let mut paths: BTreeSet<String> = wanted(rendered, nginx)
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    paths.extend(record.files.keys().cloned());
    paths.extend(LEGACY_LINKS.iter().map(|(p, _)| p.to_string()));
    paths.into_iter().collect()
}

fn hash_of(parts: &[&[u8]]) -> String {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(&(p.len() as u64).to_le_bytes());
        all.extend_from_slice(p);
    }
    sha256_hex(&all)
}

/// Compute the plan, or every file that must not be touched.
pub fn plan(i: &Inputs) -> Result<ApplyPlan, Diagnostics> {
    let mut out = ApplyPlan::default();
    let mut refusals = Diagnostics::default();
    let state = |p: &str| i.on_disk.get(p).cloned().unwrap_or(OnDisk::Absent);

    let wanted = wanted(i.rendered, i.nginx);
    let wanted_paths: BTreeSet<&str> = wanted.iter().map(|(p, _, _)| p.as_str()).collect();
    for (path, part, content) in &wanted {
        let now = state(path);
        let recorded = i.record.files.get(path);
        let change = if now == OnDisk::Absent {
            Some(Change::Create)
        } else if content.is(&now) {
            (recorded != Some(&content.installed())).then_some(Change::Adopt)
        } else if (recorded.is_some() && recorded == now.installed().as_ref())
            || links_into_rendering(&now)
        {
            // Ours as installed, or a link the manual setup pointed into the rendering.
            Some(Change::Replace)
        } else {
            refusals.push(refusal(path, &now, recorded.is_some()));
            None
        };
        if let Some(change) = change {
            out.files.push(FileAction {
                path: path.clone(),
                part: *part,
                change,
                content: Some(content.clone()),
            });
        }
    }
    // What apply installed before and no longer wants (nginx disabled, another layout).
    for (path, recorded) in &i.record.files {
        if wanted_paths.contains(path.as_str()) {
            continue;
        }
        let now = state(path);
        let part = part_of(path);
        if now == OnDisk::Absent || now.installed().as_ref() == Some(recorded) {
            out.files.push(FileAction {
                path: path.clone(),
                part,
                change: Change::Remove,
                content: None,
            });
        } else {
            out.notes.push(format!(
                "{path} is no longer needed but was changed since apply installed it: left in place"
            ));
        }
    }
    for (path, part) in LEGACY_LINKS {
        if !wanted_paths.contains(path) && links_into_rendering(&state(path)) {
            out.files.push(FileAction {
                path: path.to_string(),
                part: *part,
                change: Change::Remove,
                content: None,
            });
        }
    }
    out.files
        .sort_by(|a, b| (a.part, &a.path).cmp(&(b.part, &b.path)));
    if !refusals.is_empty() {
        return Err(refusals);
    }

    out.rendering = rendering_changes(i.rendered, i.rendering);
    out.steps = steps(i, &out.files, !out.rendering.is_empty());
    Ok(out)
}

fn links_into_rendering(now: &OnDisk) -> bool {
    matches!(now, OnDisk::Symlink(t) if t.starts_with(&format!("{RENDER_DIR}/")))
}

fn part_of(path: &str) -> Part {
    if [BACKUP_SERVICE, BACKUP_TIMER, BACKUP_TMPFILES].contains(&path) {
        Part::Backup
    } else if path == UNIT {
        Part::Unit
    } else if path.starts_with("/etc/sysusers.d/") {
        Part::Sysusers
    } else if path.starts_with("/etc/tmpfiles.d/") {
        Part::Tmpfiles
    } else {
        Part::Nginx
    }
}

fn refusal(path: &str, now: &OnDisk, recorded: bool) -> Diagnostic {
    let what = match now {
        OnDisk::Other(kind) => format!("is a {kind}, not a file apply installed"),
        _ if recorded => "was changed since apply installed it".to_string(),
        OnDisk::File(bytes)
            if String::from_utf8_lossy(bytes).contains(crate::render::HEADER) =>
        {
            "carries gitlab-mattermost's header but apply did not install it (no entry in /var/lib/gitlab-mattermost/apply.json)".to_string()
        }
        _ => "exists and was not installed by gitlab-mattermost apply".to_string(),
    };
    Diagnostic::new(path, format!("{what}; apply never overwrites such a file"))
        .with_hint(format!(
            "carry what it holds into the config (e.g. nginx.server_config, settings), then move it away (`mv {path} {path}.orig`) and apply again"
        ))
}

/// Which rendered files differ from the rendering on disk.
fn rendering_changes(rendered: &Files, on_disk: &Rendering) -> Vec<(String, Change)> {
    let old = match on_disk {
        Rendering::Absent => {
            return rendered
                .keys()
                .map(|k| (k.clone(), Change::Create))
                .collect()
        }
        Rendering::Ours(hashes) => hashes,
    };
    let mut changes = Vec::new();
    for (rel, bytes) in rendered {
        // manifest.json lists the others; it changes exactly when one of them does.
        if rel == "manifest.json" {
            continue;
        }
        match old.get(rel) {
            None => changes.push((rel.clone(), Change::Create)),
            Some(h) if *h != sha256_hex(bytes) => changes.push((rel.clone(), Change::Replace)),
            Some(_) => {}
        }
    }
    for rel in old.keys() {
        if !rendered.contains_key(rel) {
            changes.push((rel.clone(), Change::Remove));
        }
    }
    if !changes.is_empty() {
        changes.push(("manifest.json".into(), Change::Replace));
    }
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    changes
}

/// The steps, in the order that keeps a failure cheap: account and directories first, then
/// nginx (tested, restored on failure) and the database, and only then the new rendering
/// and Mattermost's restart, so an earlier failure leaves the running service untouched.
fn steps(i: &Inputs, files: &[FileAction], rendering_changes: bool) -> Vec<Planned> {
    let bytes = |rel: &str| i.rendered.get(rel).map(Vec::as_slice).unwrap_or_default();
    let (unit, env, sysusers, tmpfiles, site) = (
        bytes("systemd/mattermost.service"),
        bytes("mattermost.env"),
        bytes("sysusers.d/mattermost.conf"),
        bytes("tmpfiles.d/mattermost.conf"),
        bytes("nginx/mattermost.conf"),
    );
    let applied = |key: &str| i.record.applied.get(key).cloned();
    let touches = |part: Part| files.iter().any(|f| f.part == part);
    let mut steps = Vec::new();
    let effect = |steps: &mut Vec<Planned>, step: Step, key: &str, hash: Option<String>| {
        steps.push(Planned {
            step,
            effect: Some((key.to_string(), hash)),
        });
    };
    let install = |steps: &mut Vec<Planned>, part: Part| {
        if touches(part) {
            steps.push(Planned {
                step: Step::Install(part),
                effect: None,
            });
        }
    };

    install(&mut steps, Part::Sysusers);
    let h = hash_of(&[sysusers]);
    if applied("sysusers") != Some(h.clone()) {
        effect(&mut steps, Step::Sysusers, "sysusers", Some(h));
    }
    install(&mut steps, Part::Tmpfiles);
    let h = hash_of(&[tmpfiles]);
    if applied("tmpfiles") != Some(h.clone()) {
        effect(&mut steps, Step::Tmpfiles, "tmpfiles", Some(h));
    }

    install(&mut steps, Part::Nginx);
    match i.nginx {
        Some(layout) => {
            let h = hash_of(&[site, layout.site().as_bytes()]);
            if applied("nginx") != Some(h.clone()) || touches(Part::Nginx) {
                effect(&mut steps, Step::Nginx, "nginx", Some(h));
            }
        }
        // The site was removed: nginx must drop it too.
        None if touches(Part::Nginx) => effect(&mut steps, Step::Nginx, "nginx", None),
        None => {}
    }

    if let Some(db) = &i.database {
        let h = hash_of(&[
            db.user.as_bytes(),
            db.name.as_bytes(),
            db.socket_dir.as_bytes(),
            &db.port.to_le_bytes(),
        ]);
        if applied("database") != Some(h.clone()) {
            effect(&mut steps, Step::Database(db.clone()), "database", Some(h));
        }
    }

    // A new release: the old server stops and is backed up before anything of the new one
    // is installed (a first install, or a record from before releases were kept, has none).
    if let (Some(previous), Some(_)) = (applied("release"), applied("mattermost")) {
        if previous != i.release {
            effect(
                &mut steps,
                Step::Upgrade {
                    from: previous,
                    to: i.release.to_string(),
                    database: i.database.clone(),
                },
                "release",
                Some(i.release.to_string()),
            );
        }
    }
    if rendering_changes {
        steps.push(Planned {
            step: Step::Render,
            effect: None,
        });
    }
    install(&mut steps, Part::Unit);
    let h = hash_of(&[unit]);
    if applied("systemd") != Some(h.clone()) {
        effect(&mut steps, Step::DaemonReload, "systemd", Some(h));
    }
    if applied("enable").is_none() {
        effect(
            &mut steps,
            Step::Enable,
            "enable",
            Some("mattermost.service".into()),
        );
    }
    // What Mattermost reads at start: its environment, its unit (credentials' paths, the
    // binary's path), the links into the installation, and the release it runs.
    let h = hash_of(&[env, unit, tmpfiles, i.release.as_bytes()]);
    let last = applied("mattermost");
    if last != Some(h.clone()) {
        effect(
            &mut steps,
            Step::Mattermost {
                first: last.is_none(),
            },
            "mattermost",
            Some(h),
        );
    }
    backup_steps(i, files, &mut steps);
    steps
}

/// Scheduled backups, last: Mattermost runs whatever becomes of them. On: the files, then the
/// directory, systemd's units and the timer. Off: the timer is stopped and disabled while its
/// unit is still there, then the files go and systemd forgets them.
fn backup_steps(i: &Inputs, files: &[FileAction], steps: &mut Vec<Planned>) {
    let touches = files.iter().any(|f| f.part == Part::Backup);
    let install = Planned {
        step: Step::Install(Part::Backup),
        effect: None,
    };
    let applied = i.record.applied.get("backup");
    if i.rendered.contains_key(TIMER_FILE) {
        let bytes = |rel: &str| i.rendered.get(rel).map(Vec::as_slice).unwrap_or_default();
        let h = hash_of(&[bytes(SERVICE_FILE), bytes(TIMER_FILE), bytes(TMPFILES_FILE)]);
        if touches {
            steps.push(install);
        }
        if touches || applied != Some(&h) {
            steps.push(Planned {
                step: Step::BackupTimer,
                effect: Some(("backup".into(), Some(h))),
            });
        }
    } else if touches || applied.is_some() {
        // A timer unit still on disk is stopped and disabled first (a missing one cannot be).
        if i.on_disk
            .get(BACKUP_TIMER)
            .is_some_and(|s| *s != OnDisk::Absent)
        {
            steps.push(Planned {
                step: Step::BackupTimerOff,
                effect: None,
            });
        }
        if touches {
            steps.push(install);
        }
        steps.push(Planned {
            step: Step::DaemonReload,
            effect: Some(("backup".into(), None)),
        });
    }
}
