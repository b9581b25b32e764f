//! `import` with hostile inputs and outputs: files that are not UTF-8, a URL only Ruby can
//! compute, report positions that name the real file, and `--out` / `--secrets-dir`
//! targets that must never be written over.

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn import(rb: &Path, args: &[&str]) -> Output {
    bin()
        .arg("import")
        .arg(rb)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

const URL: &[u8] = b"mattermost_external_url 'https://chat.example.com'\n";

#[test]
fn latin1_bytes_in_comments_are_harmless() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, src) in [
        (
            "comment line",
            [b"# Configur\xe9 par Jos\xe9\n".as_slice(), URL].concat(),
        ),
        (
            "comment after a value",
            [URL, b"mattermost['team_site_name'] = 'Chat' # caf\xe9\n"].concat(),
        ),
        (
            "block comment",
            [b"=begin\nr\xe9sum\xe9\n=end\n".as_slice(), URL].concat(),
        ),
        ("after __END__", [URL, b"__END__\n\xff\xfe\xfd"].concat()),
    ] {
        let rb = write_bytes(dir.path(), "gitlab.rb", &src);
        let o = import(&rb, &[]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("external_url = \"https://chat.example.com\""),
            "{name}: {}",
            stdout(&o)
        );
    }
}

#[test]
fn an_undecodable_value_is_a_located_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_bytes(
        dir.path(),
        "latin1.rb",
        &[URL, b"mattermost['team_site_name'] = 'Caf\xe9'\n# fine: \xe9\nmattermost['env'] = { 'MM_X' => '\xff' }\n"].concat(),
    );
    let o = import(&rb, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(stdout(&o).is_empty(), "no config printed");
    let at = |l: u32, c: u32| format!("{}:{l}:{c}: invalid gitlab.rb: ", rb.display());
    assert!(
        err.contains(&format!(
            "{}byte 0xE9 in a string is not valid UTF-8",
            at(2, 36)
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}byte 0xFF in a string", at(4, 34))),
        "{err}"
    );
    assert!(err.contains("iconv -f ISO-8859-1 -t UTF-8"), "{err}");
    assert!(err.contains("2 errors found"), "{err}");
    assert!(
        !err.contains(":3:"),
        "the comment on line 3 is not an error: {err}"
    );
}

#[test]
fn a_magic_comment_decodes_latin1_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_bytes(
        dir.path(),
        "gitlab.rb",
        &[
            b"# -*- coding: iso-8859-1 -*-\n".as_slice(),
            URL,
            b"mattermost['team_site_name'] = 'Caf\xe9 \xc5land'\n",
        ]
        .concat(),
    );
    let o = import(&rb, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("SiteName = \"Café Åland\""),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_url_built_with_interpolation_names_its_line_and_what_to_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_bytes(
        dir.path(),
        "omnibus.rb",
        b"# chat\nmattermost['uid'] = 5\nmattermost_external_url \"https://chat.#{ENV['X']}\"\n",
    );
    let o = import(&rb, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:3:1: mattermost_external_url: uses string interpolation (\"https://chat.#{{ENV['X']}}\"), which cannot be evaluated statically, so Mattermost's URL cannot be imported",
            rb.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: write the URL literally, filling in what each #{…} was on the old host: mattermost_external_url \"https://chat.<ENV['X']>\""),
        "{err}"
    );
    assert!(!err.contains("sets no mattermost_external_url"), "{err}");
}

#[test]
fn other_dynamic_urls_name_their_line_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (src, says) in [
        (
            "mattermost_external_url ENV['MM_URL']\n",
            "1:1: mattermost_external_url: uses ENV['MM_URL'], which is only known on the old host",
        ),
        (
            "mattermost_external_url File.read('/etc/url').strip\n",
            "1:1: mattermost_external_url: calls File.read",
        ),
        (
            "host = 'chat.example.com'\nmattermost['service_site_url'] = \"https://#{host}\"\n",
            "2:1: mattermost['service_site_url']: uses string interpolation",
        ),
    ] {
        let rb = write_bytes(dir.path(), "gitlab.rb", src.as_bytes());
        let o = import(&rb, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{src}: {err}");
        assert!(
            err.contains(&format!("{}:{says}", rb.display())),
            "{src}: {err}"
        );
        assert!(
            err.contains("hint: write the URL literally"),
            "{src}: {err}"
        );
    }
}

#[test]
fn a_static_url_overridden_dynamically_is_imported_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_bytes(
        dir.path(),
        "gitlab.rb",
        b"mattermost_external_url 'https://a.example.com'\nmattermost_external_url \"https://#{x}\"\n",
    );
    let o = import(&rb, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = stderr(&o);
    assert!(
        report.contains(&format!(
            "{p}:1:1 mattermost_external_url: imported as written here, but {p}:2:1 mattermost_external_url sets it again with a value that cannot be evaluated",
            p = rb.display()
        )),
        "{report}"
    );
}

#[test]
fn every_position_names_the_real_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_bytes(
        dir.path(),
        "site-config.rb",
        b"mattermost_external_url 'https://chat.example.com'\nmattermost['team_site_nam'] = 'x'\nnginx['enable'] = true\nmattermost['x'] = ENV['Y']\n",
    );
    let json = write_bytes(
        dir.path(),
        "mm-config.json",
        br#"{"TeamSettings": {"MaxUsersPerTeam": 77}, "BogusSettings": {"X": 1}}"#,
    );
    let o = import(&rb, &["--config-json", json.to_str().expect("utf-8 path")]);
    let report = stderr(&o);
    assert!(o.status.success(), "{report}");
    let rb_at = |rest: &str| format!("{}:{rest}", rb.display());
    for want in [
        rb_at("1:1 mattermost_external_url: external_url = "),
        rb_at(
            "2:1 mattermost['team_site_nam']: MM_TEAMSETTINGS_SITENAM is not a Mattermost setting",
        ),
        format!("{} line 3: nginx[...]", rb.display()),
        rb_at("4:1 statement: uses ENV['Y']"),
        format!("{} TeamSettings.MaxUsersPerTeam", json.display()),
        format!("{} BogusSettings", json.display()),
    ] {
        assert!(report.contains(&want), "no {want:?} in\n{report}");
    }
    assert!(!report.contains("gitlab.rb:"), "{report}");
    assert!(!report.contains("- config.json "), "{report}");
    // A syntax error names the real file as well.
    let bad = write_bytes(dir.path(), "broken.rb", b"mattermost['a'] = [1,\n");
    let o = import(&bad, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("{}:1:", bad.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn config_json_that_is_not_utf8_is_a_located_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = write_bytes(dir.path(), "gitlab.rb", URL);
    let json = write_bytes(
        dir.path(),
        "config.json",
        b"{\n  \"TeamSettings\": {\"SiteName\": \"Caf\xe9\"}\n}\n",
    );
    let o = import(&rb, &["--config-json", json.to_str().expect("utf-8 path")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:2:36: byte 0xE9 is not valid UTF-8",
            json.display()
        )),
        "{err}"
    );
}

// ---- outputs ----

/// A gitlab.rb with a secret, so `--secrets-dir` has something to write.
fn site_with_secret(dir: &Path) -> PathBuf {
    write_bytes(
        dir,
        "gitlab.rb",
        b"mattermost_external_url 'https://chat.example.com'\nmattermost['email_enable'] = true\nmattermost['email_smtp_server'] = 'smtp.example.com'\nmattermost['email_smtp_auth'] = true\nmattermost['email_smtp_username'] = 'u'\nmattermost['email_smtp_password'] = 'CANARY-out-1'\n",
    )
}

struct RefusedOut {
    name: &'static str,
    /// Makes the `--out` target in the directory.
    setup: fn(&Path, &Path) -> PathBuf,
    says: &'static str,
}

const REFUSED_OUT: &[RefusedOut] = &[
    RefusedOut {
        name: "the gitlab.rb itself",
        setup: |_, rb| rb.to_path_buf(),
        says: "is the gitlab.rb being read; it is never written over",
    },
    RefusedOut {
        name: "a symlink to the gitlab.rb",
        setup: |d, rb| {
            symlink(rb, d.join("link.toml")).expect("symlink");
            d.join("link.toml")
        },
        says: "is the gitlab.rb being read",
    },
    RefusedOut {
        name: "an existing file with other content",
        setup: |d, _| {
            std::fs::write(d.join("mattermost.toml"), "# my edits\n").expect("write");
            d.join("mattermost.toml")
        },
        says: "already exists with other content; it is never replaced (it may hold edits)",
    },
    RefusedOut {
        name: "a directory",
        setup: |d, _| {
            std::fs::create_dir(d.join("conf")).expect("mkdir");
            d.join("conf")
        },
        says: "is a directory, not a file",
    },
    RefusedOut {
        name: "/dev/null",
        setup: |_, _| PathBuf::from("/dev/null"),
        says: "is a character device, not a regular file",
    },
    RefusedOut {
        name: "a FIFO",
        setup: |d, _| {
            let p = d.join("pipe");
            assert!(Command::new("mkfifo")
                .arg(&p)
                .status()
                .expect("mkfifo")
                .success());
            p
        },
        says: "is a FIFO (named pipe), not a regular file",
    },
    RefusedOut {
        name: "a dangling symlink",
        setup: |d, _| {
            symlink("nowhere.toml", d.join("dangling.toml")).expect("symlink");
            d.join("dangling.toml")
        },
        says: "is a symbolic link to nowhere.toml, which does not exist",
    },
    RefusedOut {
        name: "a file in a directory that does not exist",
        setup: |d, _| d.join("missing/mattermost.toml"),
        says: "missing does not exist",
    },
    RefusedOut {
        name: "the current directory",
        setup: |d, _| d.join("."),
        says: "is a directory, not a file",
    },
];

#[test]
fn every_refused_import_out_exits_2_and_writes_nothing() {
    for case in REFUSED_OUT {
        let dir = tempfile::tempdir().expect("tempdir");
        let rb = site_with_secret(dir.path());
        let out = (case.setup)(dir.path(), &rb);
        let secrets = dir.path().join("secrets");
        let shallow = out.starts_with("/dev");
        let before = (snapshot(&out, shallow), snapshot(dir.path(), false));
        let o = import(
            &rb,
            &[
                "--out",
                out.to_str().expect("utf-8"),
                "--secrets-dir",
                secrets.to_str().expect("utf-8"),
            ],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", case.name);
        assert!(err.contains("error: --out: "), "{}: {err}", case.name);
        assert!(
            err.contains(case.says),
            "{}: no {:?} in {err}",
            case.name,
            case.says
        );
        assert!(stdout(&o).is_empty());
        assert!(!secrets.exists(), "{}: secrets were written", case.name);
        let after = (snapshot(&out, shallow), snapshot(dir.path(), false));
        assert!(before == after, "{}: something changed", case.name);
    }
}

#[test]
fn an_identical_earlier_import_is_left_as_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = site_with_secret(dir.path());
    let out = dir.path().join("mattermost.toml");
    let secrets = dir.path().join("secrets");
    let args = [
        "--out",
        out.to_str().expect("utf-8"),
        "--secrets-dir",
        secrets.to_str().expect("utf-8"),
    ];
    let o = import(&rb, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = snapshot(dir.path(), false);
    let o = import(&rb, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(snapshot(dir.path(), false) == before, "nothing rewritten");
}

#[test]
fn refused_secrets_dir_targets_write_nothing() {
    type Setup = fn(&Path) -> PathBuf;
    let cases: &[(&str, Setup, &str)] = &[
        (
            "a regular file",
            |d| {
                std::fs::write(d.join("secrets"), "x").expect("write");
                d.join("secrets")
            },
            "--secrets-dir: ",
        ),
        (
            "/dev/null",
            |_| PathBuf::from("/dev/null"),
            "/dev/null: is a character device, not a directory",
        ),
        (
            "a dangling symlink",
            |d| {
                symlink("gone", d.join("secrets")).expect("symlink");
                d.join("secrets")
            },
            "is a symbolic link to gone, which does not exist",
        ),
        (
            "a secret file with another value",
            |d| {
                std::fs::create_dir(d.join("secrets")).expect("mkdir");
                std::fs::write(d.join("secrets/emailsettings-smtppassword"), "the old one")
                    .expect("write");
                d.join("secrets")
            },
            "emailsettings-smtppassword: already exists with other content",
        ),
        (
            "a directory where a secret file goes",
            |d| {
                std::fs::create_dir_all(d.join("secrets/emailsettings-smtppassword"))
                    .expect("mkdir");
                d.join("secrets")
            },
            "emailsettings-smtppassword: is a directory, not a file",
        ),
    ];
    for (name, setup, says) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let rb = site_with_secret(dir.path());
        let secrets = setup(dir.path());
        let out = dir.path().join("mattermost.toml");
        let shallow = secrets.starts_with("/dev");
        let before = (snapshot(&secrets, shallow), snapshot(dir.path(), false));
        let o = import(
            &rb,
            &[
                "--secrets-dir",
                secrets.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
            ],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(says), "{name}: no {says:?} in {err}");
        assert!(!err.contains("CANARY"), "{name}: the secret was shown");
        assert!(!out.exists(), "{name}: the config was written");
        let after = (snapshot(&secrets, shallow), snapshot(dir.path(), false));
        assert!(before == after, "{name}: something changed");
    }
}

#[test]
fn out_cannot_be_a_secret_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = site_with_secret(dir.path());
    let secrets = dir.path().join("s");
    let out = secrets.join("emailsettings-smtppassword");
    let o = import(
        &rb,
        &[
            "--secrets-dir",
            secrets.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is also where a secret file is written"),
        "{}",
        stderr(&o)
    );
    assert!(!secrets.exists());
}

/// Runs racing for one `--out`: each created file is checked beforehand, but the last step
/// must still create it only if nothing is there, so exactly one content survives and every
/// run that says it succeeded wrote that content; the others are refused (exit 2).
#[test]
fn concurrent_imports_into_one_out_leave_one_content_and_refuse_the_rest() {
    const RUNS: usize = 8;
    for round in 0..4 {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("mattermost.toml");
        // Odd rounds: all runs import the same file, so all of them may succeed.
        let inputs: Vec<(PathBuf, String)> = (0..RUNS)
            .map(|i| {
                let n = if round % 2 == 1 { 0 } else { i };
                let src = format!(
                    "mattermost_external_url 'https://chat{n}.example.com'\nmattermost['team_site_name'] = 'Site {n}'\n"
                );
                let rb = write_bytes(dir.path(), &format!("gitlab-{n}.rb"), src.as_bytes());
                let o = import(&rb, &[]);
                assert!(o.status.success(), "{}", stderr(&o));
                (rb, stdout(&o))
            })
            .collect();
        let start = std::sync::Arc::new(std::sync::Barrier::new(RUNS));
        let runs: Vec<_> = inputs
            .iter()
            .map(|(rb, _)| {
                let (rb, out, start) = (rb.clone(), out.clone(), start.clone());
                std::thread::spawn(move || {
                    let mut cmd = bin();
                    cmd.arg("import")
                        .arg(&rb)
                        .arg("--out")
                        .arg(&out)
                        .env_remove("RUST_LOG");
                    start.wait();
                    cmd.output().expect("runs")
                })
            })
            .collect();
        let results: Vec<Output> = runs
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        let written = std::fs::read_to_string(&out).expect("one run wrote --out");
        let mut succeeded = 0;
        for (o, (_, expected)) in results.iter().zip(&inputs) {
            match o.status.code() {
                Some(0) => {
                    succeeded += 1;
                    assert_eq!(&written, expected, "a run succeeded without its content");
                }
                Some(2) => assert!(stderr(o).contains("--out"), "{}", stderr(o)),
                other => panic!("exit {other:?}: {}", stderr(o)),
            }
        }
        if round % 2 == 1 {
            assert_eq!(succeeded, RUNS, "identical content is no conflict");
        } else {
            assert_eq!(
                succeeded, 1,
                "exactly one of the different contents is kept"
            );
        }
        // Nothing else is left next to it (no temporary files).
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".rb"))
            .collect();
        assert_eq!(left, vec!["mattermost.toml".to_string()]);
    }
}
