//! Paths written into units, sysusers.d/tmpfiles.d lines, nginx and DSNs.
//!
//! Spaces, quotes, `%`, `$`, `;` and braces are all escaped where a path lands; what no
//! target can carry is refused here: control characters (a newline ends a unit line), a
//! trailing space or backslash (systemd strips the one and joins the next line on the other),
//! `.`/`..` components and `//` (systemd refuses paths that are not normalized), and lengths
//! beyond the kernel's limits.

/// The kernel's `PATH_MAX`, including the terminating NUL.
const PATH_MAX: usize = 4096;
/// The kernel's `NAME_MAX`: the longest file name.
const NAME_MAX: usize = 255;

/// Why `p` cannot be used as an absolute path in the rendered files, if it cannot.
pub fn problem(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return Some("expected an absolute path (starting with `/`)".into());
    }
    if p.chars().any(char::is_control) {
        return Some("a path cannot contain control characters such as a newline".into());
    }
    if p.len() >= PATH_MAX {
        return Some(format!(
            "expected a path shorter than {PATH_MAX} bytes, found {}",
            p.len()
        ));
    }
    if p.ends_with(char::is_whitespace) {
        return Some("a path cannot end in whitespace (systemd drops it)".into());
    }
    if p.ends_with('\\') {
        return Some("a path cannot end in `\\` (it would join the next line of a unit)".into());
    }
    if p.contains("//") {
        return Some("expected a normalized path without `//`".into());
    }
    let components: Vec<&str> = p.split('/').skip(1).collect();
    if components.iter().any(|c| *c == "." || *c == "..") {
        return Some("expected a normalized path without `.` or `..` components".into());
    }
    if let Some(long) = components.iter().find(|c| c.len() > NAME_MAX) {
        return Some(format!(
            "expected path components of at most {NAME_MAX} bytes, found one of {}",
            long.len()
        ));
    }
    None
}

/// Directories the system shares: made the service's own, they would be handed to it.
const SHARED: &[&str] = &[
    "/etc/ssl",
    "/etc/systemd",
    "/nix/store",
    "/nix/var",
    "/run/lock",
    "/run/user",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/mail",
    "/var/run",
    "/var/spool",
    "/var/tmp",
];

/// Why `p` cannot be one of the service's own directories, if it cannot: a path [`problem`],
/// or a directory the system shares (`/`, `/var`, `/var/lib`, …). tmpfiles.d would give
/// that to the service account with mode 0750, and the unit could write into all of it.
pub fn service_directory_problem(p: &str) -> Option<String> {
    problem(p).or_else(|| {
        let dir = p.trim_end_matches('/');
        let depth = dir.split('/').filter(|c| !c.is_empty()).count();
        (depth < 2 || SHARED.contains(&dir)).then(|| {
            "a directory the system shares (tmpfiles.d would hand it to the service account and the unit could write into all of it); give the service its own, e.g. /var/lib/mattermost".to_string()
        })
    })
}

/// `dir` and `name` joined with one `/`.
pub fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_no_target_can_carry_is_refused() {
        for ok in [
            "/var/lib/mattermost",
            "/var/lib/mm%Z",
            "/tmp/my dir/x",
            "/a\"b'c;{}$x",
            "/ü/\\x",
            "/",
            "/trailing/",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        let long_name = format!("/{}", "x".repeat(256));
        for bad in [
            "var/lib",
            "",
            "/a\nb",
            "/a\0b",
            "/a ",
            "/a\\",
            "/a//b",
            "/a/../b",
            "/a/./b",
            "/a/..",
            long_name.as_str(),
        ] {
            assert!(problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn shared_directories_are_not_the_services_own() {
        for bad in ["/", "/var", "/var/lib", "/var/lib/", "/srv", "/usr/local"] {
            assert!(service_directory_problem(bad).is_some(), "{bad}");
        }
        for ok in ["/var/lib/mattermost", "/srv/mattermost", "/run/postgresql"] {
            assert_eq!(service_directory_problem(ok), None, "{ok}");
        }
    }
}
