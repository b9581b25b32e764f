//! Generated paths in the systemd unit, read back by systemd: every value is either refused
//! (naming its key) or comes back intact from `systemd --test`'s dump of the loaded unit and
//! from a reader that follows systemd.syntax(7); `systemd-analyze verify` has nothing to say.

mod common;
mod readback;

use std::collections::BTreeMap;
use std::path::Path;

use gitlab_mattermost::syntax::{paths, systemd as escape};
use gitlab_mattermost::validate::SecretUse;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use readback::systemd::{self as sd, field};
use readback::{any_path, any_string, clean_path, compile, file, keys};
use serde_json::json;

/// The path keys of the config that land in the unit, with what each must not contain to
/// be generated "clean" (still full of characters to escape).
const KEYS: &[(&str, &str)] = &[
    ("directories.data", ":"),
    ("directories.logs", ""),
    ("directories.config", ""),
    ("directories.plugins", ""),
    ("directories.client_plugins", ""),
    ("mattermost.install_dir", ""),
    ("file_storage.directory", ""),
    ("database.socket_dir", ""),
    ("setting_files.SqlSettings.AtRestEncryptKey", ""),
    ("environment_files.https_proxy", ""),
];

#[derive(Debug, Clone)]
struct Input {
    paths: Vec<String>,
    /// One key that gets anything at all instead.
    hostile: Option<(usize, String)>,
    /// Appended to a scratch directory: the wrapper must exist for `verify`.
    wrapper: String,
    target: String,
}

fn input() -> impl Strategy<Value = Input> {
    let clean: Vec<_> = KEYS.iter().map(|(_, ex)| clean_path(ex)).collect();
    (
        clean,
        prop::option::weighted(0.4, (0..KEYS.len(), any_path())),
        // systemd refuses quotes and backslashes in a program path (a table test covers it).
        clean_path("\"'\\"),
        any_string(24),
    )
        .prop_map(|(paths, hostile, wrapper, target)| Input {
            paths,
            hostile,
            wrapper,
            target: format!("/{target}"),
        })
}

fn set(config: &mut serde_json::Value, dotted: &str, value: &str) {
    let (section, field) = dotted.split_once('.').expect("section.field");
    config[section][field] = json!(value);
}

/// `dir` and `name` joined as the renderer joins them.
fn join(dir: &str, name: &str) -> String {
    paths::join(dir, name)
}

/// systemd drops a trailing slash when it reads a path.
fn simplified(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.into()
    }
}

fn check(input: Input, scratch: &Path) -> Result<bool, TestCaseError> {
    let mut values: Vec<String> = input.paths.clone();
    if let Some((i, v)) = &input.hostile {
        values[*i] = v.clone();
    }
    let wrapper = format!("{}/w{}", scratch.display(), input.wrapper);
    let mut config = json!({
        "external_url": "http://chat.example.com",
        "directories": {}, "mattermost": {}, "file_storage": {}, "database": {},
        "setting_files": {}, "environment_files": {},
    });
    for ((key, _), value) in KEYS.iter().zip(&values) {
        set(&mut config, key, value);
    }
    config["mattermost"]["wrapper"] = json!(wrapper);

    let (plan, files) = match compile(&config, &input.target) {
        Ok(ok) => ok,
        Err(d) => {
            // Refused: only for the keys that hold something no target can carry.
            let mut allowed: Vec<String> = Vec::new();
            for ((key, _), value) in KEYS.iter().zip(&values) {
                // The service's own directories may not be shared ones either.
                let owned = key.starts_with("directories.")
                    || *key == "file_storage.directory"
                    || *key == "database.socket_dir";
                let problem = if owned {
                    paths::service_directory_problem(value)
                } else {
                    paths::problem(value)
                };
                if problem.is_some() || (*key == "directories.data" && value.contains(':')) {
                    allowed.push(key.to_string());
                }
            }
            if escape::program_problem(&wrapper).is_some() {
                allowed.push("mattermost.wrapper".into());
            }
            if input.target.contains('\0') {
                allowed.push("--install-dir".into());
            }
            let named = keys(&d);
            prop_assert!(!allowed.is_empty(), "refused a clean config: {d}");
            prop_assert!(
                named.iter().all(|k| allowed.contains(k)),
                "refused {named:?}, expected only {allowed:?}: {d}"
            );
            return Ok(false);
        }
    };
    let unit = file(&files, "systemd/mattermost.service");

    // What the service must get, from the plan (the escaping is what is under test).
    let by_key: BTreeMap<&str, &String> = KEYS.iter().map(|(k, _)| *k).zip(&values).collect();
    let data = by_key["directories.data"];
    let mut argv = vec![
        wrapper.clone(),
        "exec".into(),
        "--env-file".into(),
        join(&input.target, "mattermost.env"),
    ];
    let mut credentials = Vec::new();
    for cred in &plan.credentials {
        credentials.push((cred.name.clone(), cred.path.clone()));
        for u in &cred.uses {
            let (flag, var) = match u {
                SecretUse::Variable(v) => ("--credential", v),
                SecretUse::PasswordInto(v) => ("--password-into", v),
            };
            argv.push(flag.into());
            argv.push(format!("{}={var}", cred.name));
        }
    }
    argv.extend([
        "--".into(),
        join(by_key["mattermost.install_dir"], "bin/mattermost"),
        "--config".into(),
        join(by_key["directories.config"], "config.json"),
    ]);
    let mut rw: Vec<String> = [
        "directories.data",
        "directories.logs",
        "directories.config",
        "directories.plugins",
        "directories.client_plugins",
        "file_storage.directory",
    ]
    .iter()
    .map(|k| by_key[k].to_string())
    .collect();
    rw.sort();
    rw.dedup();
    rw.push(by_key["database.socket_dir"].to_string());

    // The reader.
    let assigned = sd::assignments(&unit);
    let one = |k: &str| {
        assigned
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let read = |r: Result<Vec<String>, String>| r.map_err(TestCaseError::fail);
    prop_assert_eq!(
        sd::specifiers(&one("WorkingDirectory")).map_err(TestCaseError::fail)?,
        data.to_string()
    );
    prop_assert_eq!(&read(sd::exec_start(&one("ExecStart")))?, &argv);
    let mut read_rw = Vec::new();
    for (k, v) in &assigned {
        if k == "ReadWritePaths" {
            read_rw.extend(read(sd::path_list(v))?);
        }
    }
    prop_assert_eq!(&read_rw, &rw);
    let mut read_creds = Vec::new();
    for (k, v) in &assigned {
        if k == "LoadCredential" {
            read_creds.push(sd::load_credential(v).map_err(TestCaseError::fail)?);
        }
    }
    prop_assert_eq!(&read_creds, &credentials);

    // systemd itself.
    let units = scratch.join("units");
    std::fs::create_dir_all(&units).expect("mkdir");
    sd::open_up(&units);
    let unit_path = units.join("mattermost.service");
    std::fs::write(&unit_path, &unit).expect("write unit");
    let parent = Path::new(&wrapper).parent().expect("parent");
    std::fs::create_dir_all(parent).expect("mkdir wrapper dir");
    std::fs::copy("/bin/true", &wrapper).expect("wrapper");
    sd::verify(&unit_path).map_err(|e| TestCaseError::fail(format!("{e}\n{unit}")))?;
    let (dump, warnings) = sd::dump(&units, "mattermost.service").map_err(TestCaseError::fail)?;
    prop_assert!(warnings.is_empty(), "systemd warned: {warnings:?}\n{unit}");
    let working = simplified(data);
    prop_assert_eq!(field(&dump, "WorkingDirectory"), vec![working.as_str()]);
    let dumped_rw: Vec<String> = rw.iter().map(|p| simplified(p)).collect();
    let dumped_rw = dumped_rw.join(" ");
    prop_assert_eq!(field(&dump, "ReadWritePaths"), vec![dumped_rw.as_str()]);
    let lines = field(&dump, "Command Line");
    prop_assert_eq!(lines.len(), 1);
    let mut dumped = sd::dumped_command_line(lines[0]).map_err(TestCaseError::fail)?;
    // `$$` becomes `$` when the service starts (never in the program path).
    for a in dumped.iter_mut().skip(1) {
        *a = a.replace("$$", "$");
    }
    prop_assert_eq!(&dumped, &argv);
    prop_assert_eq!(field(&dump, "User"), vec!["mattermost"]);
    prop_assert_eq!(
        field(&dump, "Description"),
        vec!["Mattermost chat server for http://chat.example.com"]
    );
    std::fs::remove_file(&unit_path).expect("clean up");
    Ok(true)
}

#[test]
fn generated_paths_are_refused_or_read_back_intact_by_systemd() {
    if !common::have("systemd-analyze") || !sd::can_dump() {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    sd::open_up(scratch.path());
    readback::run(64, 12, input(), |i| check(i, scratch.path()));
}

/// The reader agrees with systemd on the values above; here it checks the escapes alone,
/// on many more strings than systemd could be run on.
#[test]
fn escaped_words_read_back_through_the_syntax_rules() {
    readback::run(
        2048,
        2048,
        (
            prop::collection::vec(readback::printable_string(12), 1..5),
            prop::collection::vec(any_string(12).prop_map(|s| s.replace('\0', "")), 1..5),
        ),
        |(words, args)| {
            let line: Vec<String> = words.iter().map(|w| escape::word(w)).collect();
            prop_assert_eq!(
                &sd::path_list(&line.join(" ")).map_err(TestCaseError::fail)?,
                &words
            );
            let escaped: Vec<String> = args.iter().map(|a| escape::exec_arg(a)).collect();
            let mut expected = vec!["/bin/true".to_string()];
            expected.extend(args.iter().cloned());
            prop_assert_eq!(
                &sd::exec_start(&format!("/bin/true {}", escaped.join(" ")))
                    .map_err(TestCaseError::fail)?,
                &expected
            );
            for w in &words {
                prop_assert_eq!(
                    &sd::specifiers(&escape::literal(w)).map_err(TestCaseError::fail)?,
                    w
                );
            }
            Ok(true)
        },
    );
}
