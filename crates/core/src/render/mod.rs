//! Renderers: one module per artifact. Each is a pure function of the [`Plan`], so the same
//! input always renders byte-identical files.

pub mod accounts;
pub mod backup;
pub mod env_file;
pub mod manifest;
pub mod nginx;
pub mod systemd;

use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::validate::Plan;

/// Files to write, by path relative to the output directory.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Where the rendered directory will live on the host: units refer to files in it.
#[derive(Debug, Clone)]
pub struct Target {
    pub dir: String,
}

impl Target {
    /// The directory, checked to be absolute: the unit names files in it. Anything else is
    /// escaped where it lands (only in `ExecStart=`). `flag` names the option for the error.
    pub fn new(dir: String, flag: &str) -> Result<Target, Diagnostic> {
        if dir.contains('\0') {
            Err(Diagnostic::new(flag, "a path cannot contain a NUL byte"))
        } else if dir.starts_with('/') {
            Ok(Target { dir })
        } else {
            Err(Diagnostic::new(
                flag,
                format!("expected an absolute path, found {dir:?}"),
            ))
        }
    }
}

/// A first line that says where a file comes from, without naming input files (so the same
/// config from TOML, JSON or Nix renders identical bytes).
pub const HEADER: &str =
    "Rendered by gitlab-mattermost. Do not edit: change the config and render again.";

/// A systemd unit file written line by line: the generated-file header, `[Unit]` and its
/// `Description=` first, as every unit we render starts.
pub(crate) struct UnitFile(String);

impl UnitFile {
    pub(crate) fn new(description: &str) -> UnitFile {
        let mut u = UnitFile(String::new());
        u.line(&format!("# {HEADER}"));
        u.line("[Unit]");
        u.line(&format!("Description={description}"));
        u
    }

    pub(crate) fn line(&mut self, s: &str) {
        self.0.push_str(s);
        self.0.push('\n');
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// Render every artifact. The backup service (with `backup.schedule`) names no config: it
/// reads the command's default one; see [`render_all_for`].
pub fn render_all(plan: &Plan, target: &Target) -> Files {
    render_all_for(plan, target, &backup::ConfigInvocation::default())
}

/// Render every artifact; the backup service reads the config as `config` names it.
pub fn render_all_for(plan: &Plan, target: &Target, config: &backup::ConfigInvocation) -> Files {
    let mut files = Files::new();
    let mut put = |name: &str, text: String| {
        files.insert(name.to_string(), text.into_bytes());
    };
    put("mattermost.env", env_file::render(plan));
    put("systemd/mattermost.service", systemd::render(plan, target));
    put("sysusers.d/mattermost.conf", accounts::sysusers(plan));
    put("tmpfiles.d/mattermost.conf", accounts::tmpfiles(plan));
    put("ids.json", accounts::ids_json(plan));
    if plan.config.nginx.enable {
        put("nginx/http.conf", nginx::http_conf(plan));
        put("nginx/locations.conf", nginx::locations_conf(plan));
        put("nginx/mattermost.conf", nginx::full_conf(plan));
    }
    for (name, text) in backup::render(plan, config).into_iter().flatten() {
        put(name, text);
    }
    let manifest = manifest::render(plan, &files);
    files.insert("manifest.json".into(), manifest.into_bytes());
    files
}
