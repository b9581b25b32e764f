//! Where `apply` puts things on the host, and which of nginx's include directories the host
//! uses.

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;

/// The rendered directory (replaced as a whole, like `render --out`).
pub const RENDER_DIR: &str = "/etc/gitlab-mattermost";
/// What `apply` installed and last applied: the proof that a file is ours.
pub const RECORD: &str = "/var/lib/gitlab-mattermost/apply.json";
/// Held (flock) while an apply changes the host.
pub const LOCK: &str = "/var/lib/gitlab-mattermost/apply.lock";
pub const UNIT: &str = "/etc/systemd/system/mattermost.service";
pub const SYSUSERS: &str = "/etc/sysusers.d/gitlab-mattermost.conf";
pub const TMPFILES: &str = "/etc/tmpfiles.d/gitlab-mattermost.conf";
pub const NGINX_CONF: &str = "/etc/nginx/nginx.conf";
const NGINX_DIR: &str = "/etc/nginx";
const SITE: &str = "gitlab-mattermost.conf";

/// The host's filesystem, or a scratch directory standing in for `/` (tests only: the hidden
/// `--root` flag). Paths in rendered files and in the record are always the host's.
#[derive(Debug, Clone)]
pub struct Root(Option<PathBuf>);

impl Root {
    pub fn host() -> Root {
        Root(None)
    }

    pub fn scratch(dir: PathBuf) -> Root {
        Root(Some(dir))
    }

    /// The scratch directory, when there is one.
    pub fn scratch_dir(&self) -> Option<&Path> {
        self.0.as_deref()
    }

    /// Where a host path is on this filesystem.
    pub fn path(&self, host_path: &str) -> PathBuf {
        match &self.0 {
            None => PathBuf::from(host_path),
            Some(dir) => dir.join(host_path.trim_start_matches('/')),
        }
    }
}

/// How the host's nginx finds sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NginxLayout {
    /// Debian's `sites-available/` with a link in `sites-enabled/`.
    SitesEnabled,
    /// One file in `conf.d/` (Fedora, RHEL, nginx.org packages).
    ConfD,
}

impl NginxLayout {
    /// The site file.
    pub fn site(self) -> String {
        match self {
            NginxLayout::SitesEnabled => format!("{NGINX_DIR}/sites-available/{SITE}"),
            NginxLayout::ConfD => format!("{NGINX_DIR}/conf.d/{SITE}"),
        }
    }

    /// The link that enables the site, and its (relative, so a scratch root works too)
    /// target.
    pub fn link(self) -> Option<(String, String)> {
        match self {
            NginxLayout::SitesEnabled => Some((
                format!("{NGINX_DIR}/sites-enabled/{SITE}"),
                format!("../sites-available/{SITE}"),
            )),
            NginxLayout::ConfD => None,
        }
    }
}

/// Read nginx.conf's `include` lines: `sites-enabled/*` (preferred, Debian's) or
/// `conf.d/*.conf`. The rendered site holds `http`-level directives (the upstream and the
/// websocket map) and its server blocks, which is what both directories are included for.
pub fn detect_nginx(root: &Root) -> Result<NginxLayout, Diagnostic> {
    let conf = root.path(NGINX_CONF);
    let text = std::fs::read_to_string(&conf).map_err(|e| {
        Diagnostic::new(NGINX_CONF, format!("cannot read nginx's configuration: {e}")).with_hint(
            "install nginx (`apt-get install nginx`), or set nginx.install = false and include /etc/gitlab-mattermost/nginx/mattermost.conf from your own proxy",
        )
    })?;
    let includes = includes(&text);
    let has = |dir: &str, glob: &str| {
        includes.iter().any(|i| {
            let abs = if i.starts_with('/') {
                i.clone()
            } else {
                format!("{NGINX_DIR}/{i}")
            };
            // A scratch root's nginx.conf names its own absolute paths.
            let abs = match root.scratch_dir() {
                Some(r) => abs
                    .strip_prefix(r.to_string_lossy().as_ref())
                    .map(str::to_string)
                    .unwrap_or(abs),
                None => abs,
            };
            abs == format!("{NGINX_DIR}/{dir}/{glob}")
        })
    };
    if has("sites-enabled", "*") {
        Ok(NginxLayout::SitesEnabled)
    } else if has("conf.d", "*.conf") {
        Ok(NginxLayout::ConfD)
    } else {
        Err(Diagnostic::new(
            NGINX_CONF,
            "includes neither /etc/nginx/sites-enabled/* nor /etc/nginx/conf.d/*.conf, so there is no place for the Mattermost site",
        )
        .with_hint("add `include /etc/nginx/conf.d/*.conf;` to its http block, or set nginx.install = false and include /etc/gitlab-mattermost/nginx/mattermost.conf yourself"))
    }
}

/// The arguments of every `include` directive, comments removed.
fn includes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or_default();
        for stmt in code.split([';', '{', '}']) {
            let mut words = stmt.split_whitespace();
            if words.next() == Some("include") {
                if let Some(arg) = words.next() {
                    out.push(arg.trim_matches(['"', '\'']).to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(conf: &str) -> Result<NginxLayout, Diagnostic> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/nginx")).unwrap();
        std::fs::write(dir.path().join("etc/nginx/nginx.conf"), conf).unwrap();
        detect_nginx(&Root::scratch(dir.path().to_path_buf()))
    }

    #[test]
    fn debian_uses_sites_enabled() {
        // Debian bookworm's nginx.conf, reduced to its include lines.
        let conf = "include /etc/nginx/modules-enabled/*.conf;\nhttp {\n\tinclude /etc/nginx/mime.types;\n\tinclude /etc/nginx/conf.d/*.conf;\n\tinclude /etc/nginx/sites-enabled/*;\n}\n";
        assert_eq!(layout(conf), Ok(NginxLayout::SitesEnabled));
    }

    #[test]
    fn conf_d_alone_and_relative_includes() {
        assert_eq!(
            layout("http { include conf.d/*.conf; }"),
            Ok(NginxLayout::ConfD)
        );
        assert_eq!(
            layout(
                "http {\n  # include /etc/nginx/sites-enabled/*;\n  include conf.d/*.conf;\n}\n"
            ),
            Ok(NginxLayout::ConfD)
        );
    }

    #[test]
    fn no_include_or_no_nginx_is_refused_with_what_to_do() {
        let e = layout("http { server { listen 80; } }").unwrap_err();
        assert!(e.to_string().contains("includes neither"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = detect_nginx(&Root::scratch(dir.path().to_path_buf())).unwrap_err();
        assert!(e.to_string().contains("apt-get install nginx"), "{e}");
    }

    #[test]
    fn scratch_roots_map_host_paths() {
        let r = Root::scratch(PathBuf::from("/tmp/x"));
        assert_eq!(
            r.path(UNIT),
            PathBuf::from("/tmp/x/etc/systemd/system/mattermost.service")
        );
        assert_eq!(Root::host().path(UNIT), PathBuf::from(UNIT));
    }
}
