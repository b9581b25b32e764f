//! `render --out` never destroys what it did not render: every target that is not a new
//! path or an unchanged previous rendering is refused with exit 2, the reason, and the
//! target byte for byte as it was; symlinks to a rendering stay symlinks; staging
//! directories of earlier runs are cleaned up, none is left on an error path.

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A scratch directory with `site.toml` (the minimal example) in it.
struct Scratch {
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("site.toml");
    std::fs::copy(example("minimal.toml"), &config).expect("copy the example");
    Scratch { dir, config }
}

impl Scratch {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `render site.toml --out OUT` run in `cwd` (the scratch directory by default).
    fn render_in(&self, cwd: &Path, out: &Path, extra: &[&str]) -> Output {
        bin()
            .current_dir(cwd)
            .arg("render")
            .arg(&self.config)
            .arg("--out")
            .arg(out)
            .args(["--install-dir", "/etc/gitlab-mattermost"])
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .expect("runs")
    }

    fn render(&self, out: &Path) -> Output {
        self.render_in(self.dir.path(), out, &[])
    }

    /// A good rendering at `rel`, for the cases that start from one.
    fn rendered(&self, rel: &str) -> PathBuf {
        let out = self.path(rel);
        let o = self.render(&out);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What a clean render of the minimal example gives.
fn reference() -> std::collections::BTreeMap<String, Vec<u8>> {
    let s = scratch();
    read_tree(&s.rendered("reference"))
}

fn is_system(path: &Path) -> bool {
    path.is_absolute() && !path.starts_with(std::env::temp_dir())
}

/// One refused target: how to make it, and what the message must say.
struct Refused {
    name: &'static str,
    /// Returns the `--out` argument and the directory to run in.
    setup: fn(&Scratch) -> (PathBuf, PathBuf),
    says: &'static [&'static str],
}

fn in_scratch(s: &Scratch, out: PathBuf) -> (PathBuf, PathBuf) {
    (out, s.dir.path().to_path_buf())
}

const REFUSED: &[Refused] = &[
    Refused {
        name: "the root directory",
        setup: |s| in_scratch(s, "/".into()),
        says: &["--out: /: is the root directory"],
    },
    Refused {
        name: "the current directory",
        setup: |s| in_scratch(s, ".".into()),
        says: &["--out: .: is the current directory"],
    },
    Refused {
        name: "the current directory with a slash",
        setup: |s| in_scratch(s, "./".into()),
        says: &["is the current directory"],
    },
    Refused {
        name: "the parent directory",
        setup: |s| {
            std::fs::create_dir(s.path("sub")).expect("mkdir");
            (PathBuf::from(".."), s.path("sub"))
        },
        says: &["--out: ..: is a parent directory (`..`)"],
    },
    Refused {
        name: "a path ending in ..",
        setup: |s| {
            std::fs::create_dir(s.path("sub")).expect("mkdir");
            in_scratch(s, s.path("sub/.."))
        },
        says: &["is a parent directory (`..`)"],
    },
    Refused {
        name: "/proc, a mount point",
        setup: |s| in_scratch(s, "/proc".into()),
        says: &["--out: /proc: is a mount point", "not a previous rendering"],
    },
    Refused {
        name: "/dev/shm, a mount point",
        setup: |s| in_scratch(s, "/dev/shm".into()),
        says: &["--out: /dev/shm: is a mount point"],
    },
    Refused {
        name: "a regular file",
        setup: |s| {
            std::fs::write(s.path("notes.txt"), "mine\n").expect("write");
            in_scratch(s, s.path("notes.txt"))
        },
        says: &["is a regular file, not a directory"],
    },
    Refused {
        name: "/dev/null",
        setup: |s| in_scratch(s, "/dev/null".into()),
        says: &["--out: /dev/null: is a character device, not a directory"],
    },
    Refused {
        name: "a FIFO",
        setup: |s| {
            let fifo = s.path("pipe");
            let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
            assert!(made.success());
            in_scratch(s, fifo)
        },
        says: &["is a FIFO (named pipe), not a directory"],
    },
    Refused {
        name: "a socket",
        setup: |s| {
            let sock = s.path("sock");
            let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
            // The socket file stays after the listener is gone.
            drop(listener);
            in_scratch(s, sock)
        },
        says: &["is a socket, not a directory"],
    },
    Refused {
        name: "the config file itself",
        setup: |s| in_scratch(s, s.config.clone()),
        says: &["is the config file being rendered; render never writes over its input"],
    },
    Refused {
        name: "a symlink to the config file",
        setup: |s| {
            symlink(&s.config, s.path("link.toml")).expect("symlink");
            in_scratch(s, s.path("link.toml"))
        },
        says: &["is the config file being rendered (through a symbolic link to"],
    },
    Refused {
        name: "a directory holding the config",
        setup: |s| in_scratch(s, s.dir.path().to_path_buf()),
        says: &[
            "holds the config file",
            "site.toml; render replaces DIR as a whole and would delete it",
            "exists and is not a previous rendering (it has no manifest.json)",
        ],
    },
    Refused {
        name: "a directory with foreign files",
        setup: |s| {
            std::fs::create_dir(s.path("etc")).expect("mkdir");
            std::fs::write(s.path("etc/passwd"), "root:x:0:0\n").expect("write");
            std::fs::write(s.path("etc/hosts"), "127.0.0.1 localhost\n").expect("write");
            in_scratch(s, s.path("etc"))
        },
        says: &["exists and is not a previous rendering (it has no manifest.json); it holds hosts, passwd"],
    },
    Refused {
        name: "an empty directory",
        setup: |s| {
            std::fs::create_dir(s.path("empty")).expect("mkdir");
            in_scratch(s, s.path("empty"))
        },
        says: &["is an empty directory, not a previous rendering", "rmdir"],
    },
    Refused {
        name: "a previous rendering with an extra file",
        setup: |s| {
            let out = s.rendered("out");
            std::fs::write(out.join("notes.txt"), "keep me\n").expect("write");
            in_scratch(s, out)
        },
        says: &["is a previous rendering, but also holds what render did not write: notes.txt; render replaces DIR as a whole and would delete it"],
    },
    Refused {
        name: "a previous rendering with extra files and an extra directory",
        setup: |s| {
            let out = s.rendered("out");
            std::fs::create_dir(out.join("local")).expect("mkdir");
            std::fs::write(out.join("nginx/extra.conf"), "# mine\n").expect("write");
            std::fs::write(out.join("systemd/override.conf"), "[Service]\n").expect("write");
            in_scratch(s, out)
        },
        says: &["also holds what render did not write: local/, nginx/extra.conf, systemd/override.conf; render replaces DIR as a whole and would delete them"],
    },
    Refused {
        name: "a previous rendering with a symlink added",
        setup: |s| {
            let out = s.rendered("out");
            symlink("/etc/passwd", out.join("passwd")).expect("symlink");
            in_scratch(s, out)
        },
        says: &["also holds what render did not write: passwd"],
    },
    Refused {
        name: "a previous rendering with an edited file",
        setup: |s| {
            let out = s.rendered("out");
            let env = out.join("mattermost.env");
            let mut text = std::fs::read_to_string(&env).expect("read");
            text.push_str("MM_LOGSETTINGS_CONSOLELEVEL=DEBUG\n");
            std::fs::write(&env, text).expect("edit");
            in_scratch(s, out)
        },
        says: &["is a previous rendering, but mattermost.env changed since it was rendered"],
    },
    Refused {
        name: "a directory with another program's manifest.json",
        setup: |s| {
            std::fs::create_dir(s.path("app")).expect("mkdir");
            std::fs::write(s.path("app/manifest.json"), r#"{"generator": "webpack", "files": {}}"#)
                .expect("write");
            in_scratch(s, s.path("app"))
        },
        says: &["has a manifest.json that render did not write (its generator is not gitlab-mattermost)"],
    },
    Refused {
        name: "a dangling symlink",
        setup: |s| {
            symlink("nowhere", s.path("current")).expect("symlink");
            in_scratch(s, s.path("current"))
        },
        says: &["--out: ", "current: is a symbolic link to nowhere, which does not exist"],
    },
    Refused {
        name: "a symlink loop",
        setup: |s| {
            symlink("b", s.path("a")).expect("symlink");
            symlink("a", s.path("b")).expect("symlink");
            in_scratch(s, s.path("a"))
        },
        says: &["is a symbolic link to b that cannot be followed"],
    },
    Refused {
        name: "a symlink to a regular file",
        setup: |s| {
            std::fs::write(s.path("notes.txt"), "mine\n").expect("write");
            symlink("notes.txt", s.path("link")).expect("symlink");
            in_scratch(s, s.path("link"))
        },
        says: &["is a regular file (through a symbolic link to"],
    },
    Refused {
        name: "a symlink to a foreign directory",
        setup: |s| {
            std::fs::create_dir(s.path("data")).expect("mkdir");
            std::fs::write(s.path("data/db"), "rows").expect("write");
            symlink("data", s.path("link")).expect("symlink");
            in_scratch(s, s.path("link"))
        },
        says: &["link (a symbolic link to ", "data): exists and is not a previous rendering"],
    },
    Refused {
        name: "a symlink to the root directory",
        setup: |s| {
            symlink("/", s.path("root")).expect("symlink");
            in_scratch(s, s.path("root"))
        },
        says: &["(a symbolic link to /): is the root directory"],
    },
    Refused {
        name: "a path below a regular file",
        setup: |s| {
            std::fs::write(s.path("notes.txt"), "mine\n").expect("write");
            in_scratch(s, s.path("notes.txt/out"))
        },
        says: &["a directory in this path is not a directory"],
    },
    Refused {
        name: "a new path below a regular file",
        setup: |s| {
            std::fs::write(s.path("notes.txt"), "mine\n").expect("write");
            in_scratch(s, s.path("notes.txt/a/b"))
        },
        says: &["a directory in this path is not a directory"],
    },
];

#[test]
fn every_refused_target_exits_2_says_why_and_stays_untouched() {
    assert!(REFUSED.len() >= 25, "{} cases", REFUSED.len());
    for case in REFUSED {
        let s = scratch();
        let (out, cwd) = (case.setup)(&s);
        let target = if out.is_absolute() {
            out.clone()
        } else {
            cwd.join(&out)
        };
        let shallow = is_system(&target);
        let before = (snapshot(&target, shallow), snapshot(s.dir.path(), false));
        let o = s.render_in(&cwd, &out, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", case.name);
        for want in case.says {
            assert!(err.contains(want), "{}: no {want:?} in\n{err}", case.name);
        }
        assert!(err.contains("nothing was written"), "{}: {err}", case.name);
        assert!(err.contains("hint: "), "{}: {err}", case.name);
        let after = (snapshot(&target, shallow), snapshot(s.dir.path(), false));
        assert!(
            before == after,
            "{}: the target or its directory changed",
            case.name
        );
    }
}

/// `unshare -m` gives the test a mount namespace of its own, so it can mount without
/// touching the host's mounts. A tmpfs and a bind mount (same file system as its parent,
/// which only `statx`'s mount-root attribute tells) are both refused.
#[test]
fn fresh_mounts_are_refused_too() {
    if !have("unshare") || !have("mount") {
        return;
    }
    let s = scratch();
    std::fs::create_dir(s.path("tmpfs")).expect("mkdir");
    std::fs::create_dir(s.path("bind")).expect("mkdir");
    let script = format!(
        "mount -t tmpfs none {tmpfs} && mount --bind {bind} {bind} || exit 77\n\
         for d in {tmpfs} {bind}; do {bin} render {config} --out $d; echo \"exit $?\"; done",
        tmpfs = s.path("tmpfs").display(),
        bind = s.path("bind").display(),
        bin = bin_path().display(),
        config = s.config.display(),
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    if o.status.code() == Some(77) || !o.status.success() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: cannot mount in a private namespace here: {}",
            stderr(&o)
        );
        return;
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let err = stderr(&o);
    assert_eq!(out.matches("exit 2").count(), 2, "{out}\n{err}");
    assert!(err.contains("tmpfs: is a mount point"), "{err}");
    assert!(err.contains("bind: is a mount point"), "{err}");
}

#[test]
fn a_new_path_is_created_with_its_parents() {
    let s = scratch();
    let out = s.path("a/b/rendered");
    let o = s.render(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_tree(&out), reference());
    let mode = std::fs::metadata(&out).expect("dir").permissions().mode();
    // Readable by the service user: the unit's wrapper reads mattermost.env as that user.
    assert_eq!(mode & 0o755, 0o755, "{mode:o}");
    assert!(staging_dirs(&out).is_empty());
}

#[test]
fn a_relative_path_with_a_trailing_slash_is_the_directory() {
    let s = scratch();
    let o = s.render_in(s.dir.path(), Path::new("rendered/"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_tree(&s.path("rendered")), reference());
}

#[test]
fn a_previous_rendering_is_replaced_and_keeps_its_mode() {
    let s = scratch();
    let out = s.rendered("out");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&out).expect("dir"));
    let o = s.render_in(s.dir.path(), &out, &["--set", "listen.port=9001"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let env = std::fs::read_to_string(out.join("mattermost.env")).expect("env");
    assert!(env.contains("127.0.0.1:9001"), "{env}");
    let meta = std::fs::metadata(&out).expect("dir");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
    assert_ne!(
        std::os::unix::fs::MetadataExt::ino(&meta),
        ino,
        "a new directory"
    );
    assert!(staging_dirs(&out).is_empty());
}

#[test]
fn a_previous_rendering_with_a_deleted_file_is_replaced() {
    // A missing file loses nothing: the new rendering brings it back.
    let s = scratch();
    let out = s.rendered("out");
    std::fs::remove_file(out.join("nginx/http.conf")).expect("rm");
    let o = s.render(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_tree(&out), reference());
}

#[test]
fn a_symlink_to_a_rendering_stays_a_symlink_to_the_new_one() {
    let s = scratch();
    let real = s.rendered("releases/one");
    symlink("releases/one", s.path("current")).expect("symlink");
    let link = s.path("current");
    let o = s.render_in(s.dir.path(), &link, &["--set", "listen.port=9002"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let meta = std::fs::symlink_metadata(&link).expect("link");
    assert!(meta.file_type().is_symlink(), "still a symlink");
    assert_eq!(
        std::fs::read_link(&link).expect("link"),
        Path::new("releases/one")
    );
    let env = std::fs::read_to_string(real.join("mattermost.env")).expect("env");
    assert!(env.contains("127.0.0.1:9002"), "{env}");
    assert!(staging_dirs(&real).is_empty());
    assert!(staging_dirs(&link).is_empty());
}

#[test]
fn check_mode_reads_through_a_symlink_and_never_writes() {
    let s = scratch();
    s.rendered("releases/one");
    symlink("releases/one", s.path("current")).expect("symlink");
    let before = snapshot(s.dir.path(), false);
    let o = s.render_in(s.dir.path(), &s.path("current"), &["--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(snapshot(s.dir.path(), false) == before);
}

/// A staging directory as a killed run leaves it, at each point where it can be killed.
#[test]
fn stale_staging_directories_are_removed_by_the_next_run() {
    let s = scratch();
    let out = s.rendered("out");
    let stale = |suffix: &str| s.path(&format!(".out.new-{suffix}"));
    // Killed right after creating it.
    std::fs::create_dir(stale("empty1")).expect("mkdir");
    // Killed while writing: the marker and a few files.
    std::fs::create_dir_all(stale("writing/nginx")).expect("mkdir");
    std::fs::write(stale("writing/.gitlab-mattermost-staging"), "").expect("marker");
    std::fs::write(stale("writing/ids.json"), "{\"us").expect("partial file");
    // Killed after the swap: the complete previous rendering.
    copy_tree(&out, &stale("old"));
    // Killed while removing the previous rendering: its manifest and one file left.
    std::fs::create_dir_all(stale("removing/systemd")).expect("mkdir");
    std::fs::copy(out.join("manifest.json"), stale("removing/manifest.json")).expect("copy");
    std::fs::copy(
        out.join("systemd/mattermost.service"),
        stale("removing/systemd/mattermost.service"),
    )
    .expect("copy");
    // Not ours: named like one, but holds a file render never writes.
    std::fs::create_dir(stale("foreign")).expect("mkdir");
    std::fs::write(stale("foreign/thesis.tex"), "keep").expect("write");
    // Another directory's staging directory is not touched.
    std::fs::create_dir(s.path(".other.new-abc")).expect("mkdir");

    let o = s.render_in(s.dir.path(), &out, &["-v"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("stale_staging_removed=4"), "{err}");
    assert!(
        err.contains("kept ") && err.contains(".out.new-foreign"),
        "{err}"
    );
    assert_eq!(staging_dirs(&out), [stale("foreign")]);
    assert_eq!(
        std::fs::read_to_string(stale("foreign/thesis.tex")).expect("kept"),
        "keep"
    );
    assert!(s.path(".other.new-abc").is_dir());
    assert_eq!(read_tree(&out), reference());
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for (rel, bytes) in read_tree(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }
}

/// A write that fails half way (a full file system) leaves no staging directory, and the
/// previous rendering as it was. Needs a private mount namespace for a tiny tmpfs.
#[test]
fn a_failed_write_leaves_no_staging_directory_and_the_old_rendering() {
    if !have("unshare") || !have("mount") {
        return;
    }
    let s = scratch();
    std::fs::create_dir(s.path("small")).expect("mkdir");
    // First a good rendering into the tmpfs, then fill it so the next one cannot fit, render
    // again, and list what is there.
    let script = format!(
        "mount -t tmpfs -o size=64k none {small} || exit 77\n\
         {bin} render {config} --out {small}/out || exit 78\n\
         find {small}/out -type f | sort | xargs sha256sum > {small}/before.sums\n\
         dd if=/dev/zero of={small}/filler bs=1k count=64 2>/dev/null\n\
         {bin} render {config} --out {small}/out --set listen.port=9009; echo \"exit $?\"\n\
         ls -a {small}; find {small}/out -type f | sort | xargs sha256sum | diff - {small}/before.sums && echo same",
        small = s.path("small").display(),
        bin = bin_path().display(),
        config = s.config.display(),
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    if o.status.code() == Some(77) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: cannot mount a tmpfs here");
        return;
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let err = stderr(&o);
    assert!(out.contains("exit 1"), "{out}\n{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        !out.contains(".out.new-"),
        "a staging directory was left:\n{out}"
    );
    assert!(
        out.contains("\nsame\n") || out.ends_with("same\n"),
        "{out}\n{err}"
    );
}

/// While another process holds the lock, render waits, then refuses clearly (exit 1) and
/// changes nothing.
#[test]
fn a_held_lock_is_waited_for_then_refused() {
    use rustix::fs::{flock, FlockOperation};
    let s = scratch();
    let out = s.rendered("out");
    let parent = std::fs::File::open(s.dir.path()).expect("open");
    flock(&parent, FlockOperation::LockExclusive).expect("lock");
    let before = snapshot(s.dir.path(), false);
    let o = s.render_in(s.dir.path(), &out, &["--set", "listen.port=9003"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("another gitlab-mattermost render is writing")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert!(snapshot(s.dir.path(), false) == before);
    drop(parent);
    let o = s.render_in(s.dir.path(), &out, &["--set", "listen.port=9003"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Renders racing on one directory: each either succeeds or refuses because of the lock,
/// and the directory is always one complete rendering of one of them.
#[test]
fn concurrent_renders_end_with_one_complete_rendering() {
    let s = scratch();
    let out = s.path("out");
    let variants: Vec<_> = ["9101", "9102", "9103", "9104"]
        .iter()
        .map(|port| {
            let reference = s.path(&format!("ref-{port}"));
            let o = s.render_in(
                s.dir.path(),
                &reference,
                &["--set", &format!("listen.port={port}")],
            );
            assert!(o.status.success(), "{}", stderr(&o));
            read_tree(&reference)
        })
        .collect();
    let (mut succeeded, mut refused) = (0, 0);
    for round in 0..12 {
        let children: Vec<_> = ["9101", "9102", "9103", "9104"]
            .iter()
            .map(|port| {
                bin()
                    .current_dir(s.dir.path())
                    .arg("render")
                    .arg(&s.config)
                    .arg("--out")
                    .arg(&out)
                    .args(["--install-dir", "/etc/gitlab-mattermost"])
                    .args(["--set", &format!("listen.port={port}")])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().expect("wait");
            match o.status.code() {
                Some(0) => succeeded += 1,
                Some(1) if stderr(&o).contains("another gitlab-mattermost render is writing") => {
                    refused += 1
                }
                other => panic!("round {round}: exit {other:?}: {}", stderr(&o)),
            }
        }
        let tree = read_tree(&out);
        assert!(
            variants.contains(&tree),
            "round {round}: not one complete rendering"
        );
        assert!(
            staging_dirs(&out).is_empty(),
            "round {round}: {:?}",
            staging_dirs(&out)
        );
    }
    assert!(succeeded > 0);
    eprintln!("concurrent renders: {succeeded} succeeded, {refused} refused because of the lock");
}

/// A tiny deterministic generator, so every run kills at the same spread of moments.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// SIGKILL at random moments, many times: after every kill the directory is absent or a
/// complete rendering identical to a clean one; staging directories may be left, and the
/// next good run removes every one of them.
#[test]
fn killed_renders_never_leave_a_partial_directory_and_the_next_run_cleans_up() {
    let s = scratch();
    let out = s.path("out");
    let reference = reference();
    // How long one render takes here, to spread the kills over its whole run.
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert!(s.render(&out).status.success());
    }
    let one = started.elapsed().as_micros() as u64 / 3;
    std::fs::remove_dir_all(&out).expect("rm");

    let mut rng = Lcg(0x5eed);
    const KILLS: usize = 200;
    let (mut left_staging, mut most_at_once) = (0, 0);
    for kill in 0..KILLS {
        if kill % 50 == 10 {
            // Sometimes start from no directory at all.
            let _ = std::fs::remove_dir_all(&out);
        }
        let mut child = bin()
            .current_dir(s.dir.path())
            .arg("render")
            .arg(&s.config)
            .arg("--out")
            .arg(&out)
            .args(["--install-dir", "/etc/gitlab-mattermost"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let delay = rng.next() % (one * 3 / 2 + 1);
        std::thread::sleep(std::time::Duration::from_micros(delay));
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            assert!(
                read_tree(&out) == reference,
                "kill {kill} after {delay} µs: DIR is not a complete rendering"
            );
        }
        let n = staging_dirs(&out).len();
        if n > 0 {
            left_staging += 1;
        }
        most_at_once = most_at_once.max(n);
        if kill % 40 == 20 {
            let o = s.render(&out);
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(
                staging_dirs(&out).is_empty(),
                "after kill {kill}: {:?}",
                staging_dirs(&out)
            );
        }
    }
    let before_cleanup = staging_dirs(&out).len();
    let o = s.render(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(staging_dirs(&out), Vec::<PathBuf>::new());
    assert!(read_tree(&out) == reference);
    let siblings: Vec<String> = std::fs::read_dir(s.dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(siblings.len(), 2, "only site.toml and out: {siblings:?}");
    eprintln!(
        "{KILLS} kills (render takes about {one} µs here): {left_staging} left staging directories \
         (at most {most_at_once} at once, {before_cleanup} before the last good run), 0 after it"
    );
}

/// `--install-dir` is never written to, but it lands in the unit's `ExecStart=`: a value
/// that would break or extend the unit is refused, and so is an `--out` whose absolute path
/// would be named there when no `--install-dir` is given.
#[test]
fn install_dirs_are_refused_when_relative_and_escaped_otherwise() {
    let s = scratch();
    let out = s.path("out");
    let o = bin()
        .arg("render")
        .arg(&s.config)
        .arg("--out")
        .arg(&out)
        .args(["--install-dir", "relative/dir"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--install-dir: expected an absolute path"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists() && staging_dirs(&out).is_empty());
    // Blanks, quotes and control characters land only in ExecStart=, which escapes them:
    // the unit stays one ExecStart= line naming the directory (systemd reads the escapes back;
    // see tests/syntax_systemd.rs).
    for (install_dir, escaped) in [
        ("/with space", "\"/with space/mattermost.env\""),
        ("/etc/\"quoted\"", "\"/etc/\\\"quoted\\\"/mattermost.env\""),
        (
            "/x\nExecStartPre=/bin/sh",
            "\"/x\\u000aExecStartPre=/bin/sh/mattermost.env\"",
        ),
    ] {
        let _ = std::fs::remove_dir_all(&out);
        let o = bin()
            .arg("render")
            .arg(&s.config)
            .arg("--out")
            .arg(&out)
            .args(["--install-dir", install_dir])
            .output()
            .expect("runs");
        assert!(o.status.success(), "{install_dir:?}: {}", stderr(&o));
        let unit = std::fs::read_to_string(out.join("systemd/mattermost.service")).expect("unit");
        let exec: Vec<&str> = unit
            .lines()
            .filter(|l| l.starts_with("ExecStart"))
            .collect();
        assert_eq!(exec.len(), 1, "{install_dir:?}: {unit}");
        assert!(exec[0].contains(escaped), "{install_dir:?}: {}", exec[0]);
    }
}
