//! `gitlab-mattermost exec`: the unit's `ExecStart=` wrapper.
//!
//! It loads the rendered environment file, reads each secret from systemd's credentials
//! directory into its variable (or into the DSNs of a variable), and replaces itself with the
//! program: no child process is left behind and the PID systemd watches stays the same.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::files::{self, ReadError};
use crate::syntax::env_file;
use crate::syntax::names::{is_credential_name, is_env_name};

/// Largest credential file read (1 MiB). A value longer than the kernel passes to a program
/// (128 KiB) is refused later with that reason; past this limit the file is not read at all.
const CREDENTIAL_LIMIT: u64 = 1 << 20;

/// What to set before exec'ing the program.
#[derive(Debug, Default)]
pub struct ExecPlan {
    pub env_file: Option<PathBuf>,
    /// `NAME=VAR`: the credential's content becomes VAR.
    pub credentials: Vec<(String, String)>,
    /// `NAME=VAR`: the credential's content is the password inside every DSN in VAR.
    pub passwords_into: Vec<(String, String)>,
}

/// Parse `NAME=VAR`: a credential name (a file name in the credentials directory) and a
/// variable name.
pub fn parse_mapping(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if is_credential_name(n) && is_env_name(v) => Ok((n.into(), v.into())),
        Some((n, _)) if !is_credential_name(n) => Err(format!(
            "expected NAME=VARIABLE with NAME a credential (a file name), found {s:?}"
        )),
        _ => Err(format!(
            "expected NAME=VARIABLE with VARIABLE of letters, digits and `_`, found {s:?}"
        )),
    }
}

/// Build the environment (without touching the process), for tests and `exec`.
pub fn environment(
    plan: &ExecPlan,
    credentials_dir: Option<&Path>,
) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    if let Some(file) = &plan.env_file {
        let bytes = files::read_regular(file, files::ENV_FILE_LIMIT)
            .with_context(|| format!("cannot read the environment file {}", file.display()))?;
        let vars = env_file::decode(&bytes)
            .and_then(env_file::parse)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        for (k, v) in vars {
            env.insert(k, v);
        }
    }
    let needs_credentials = !plan.credentials.is_empty() || !plan.passwords_into.is_empty();
    let dir = match credentials_dir {
        Some(d) => Some(d.to_path_buf()),
        None if needs_credentials => bail!(
            "$CREDENTIALS_DIRECTORY is not set: run this through systemd with LoadCredential= \
             (or set CREDENTIALS_DIRECTORY to a directory holding the credential files)"
        ),
        None => None,
    };
    for (name, var) in &plan.credentials {
        let secret = read_credential(dir.as_deref(), name)?;
        env.insert(var.clone(), secret);
    }
    for (name, var) in &plan.passwords_into {
        let password = read_credential(dir.as_deref(), name)?;
        let Some(dsns) = env.get(var) else {
            bail!("--password-into {name}={var}: {var} is not set by the environment file");
        };
        let filled: Result<Vec<String>> = dsns
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|dsn| insert_password(dsn, &password))
            .collect();
        env.insert(var.clone(), filled?.join(" "));
    }
    // execve would fail with a bare E2BIG: say which variable is too long.
    for (k, v) in &env {
        if let Some(problem) = env_file::entry_problem(k, v) {
            bail!("{k}: {problem}");
        }
    }
    Ok(env)
}

/// Read one credential, trimmed of the final newline. Every way it can be unusable is named
/// with the credential; its content never is.
fn read_credential(dir: Option<&Path>, name: &str) -> Result<String> {
    let Some(dir) = dir else {
        bail!("no credentials directory");
    };
    let path = dir.join(name);
    let check = "check the LoadCredential= path in the unit";
    let raw = match files::read_regular(&path, CREDENTIAL_LIMIT) {
        Ok(raw) => raw,
        Err(ReadError::Missing(_)) => bail!(
            "credential {name:?} is missing: {} does not exist ({check})",
            path.display()
        ),
        Err(ReadError::NotRegular("a directory")) => bail!(
            "credential {name:?} is a directory ({}), not a file holding the secret ({check})",
            path.display()
        ),
        Err(ReadError::NotRegular(what)) => bail!(
            "credential {name:?} is {what} ({}), not a regular file holding the secret ({check})",
            path.display()
        ),
        Err(e) => bail!(
            "credential {name:?} cannot be read: {} ({e})",
            path.display()
        ),
    };
    let Ok(text) = String::from_utf8(raw) else {
        bail!(
            "credential {name:?} is not UTF-8 text ({}); the environment holds text only",
            path.display()
        );
    };
    // Files written by editors and `echo` end in a newline that is not part of the secret.
    let secret = text
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&text);
    if secret.is_empty() {
        bail!(
            "credential {name:?} is empty ({}): write the secret into the file the unit loads",
            path.display()
        );
    }
    if secret.contains('\0') {
        bail!(
            "credential {name:?} contains a NUL byte ({}), which cannot be passed to a program",
            path.display()
        );
    }
    Ok(secret.to_string())
}

/// Put a password into a `postgres://user@host/db` URL, percent-encoded.
pub fn insert_password(dsn: &str, password: &str) -> Result<String> {
    let mut url = url::Url::parse(dsn).with_context(|| format!("not a URL: {}", redact(dsn)))?;
    if !crate::syntax::dsn::with_password(&mut url, password) {
        bail!("cannot put a password into {}", redact(dsn));
    }
    Ok(url.to_string())
}

fn redact(dsn: &str) -> String {
    match url::Url::parse(dsn) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<unparsable DSN>".into(),
    }
}

/// Set the environment and replace this process with `program`.
pub fn exec(plan: &ExecPlan, program: &[OsString]) -> Result<std::convert::Infallible> {
    let Some((prog, args)) = program.split_first() else {
        bail!("no program given after `--`");
    };
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let env = environment(plan, creds.as_deref())?;
    tracing::debug!(variables = env.len(), program = ?prog, "exec");
    let err = std::process::Command::new(prog)
        .args(args)
        .envs(&env)
        .exec();
    Err(anyhow::Error::new(err).context(format!("cannot execute {}", Path::new(prog).display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_percent_encoded_into_dsns() {
        let dsn = "postgres://mm@db.example.com:5432/mattermost?sslmode=require";
        let filled = insert_password(dsn, "p@ss w/rd:%").expect("fills");
        assert_eq!(
            filled,
            "postgres://mm:p%40ss%20w%2Frd%3A%25@db.example.com:5432/mattermost?sslmode=require"
        );
    }

    #[test]
    fn missing_credentials_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = ExecPlan {
            credentials: vec![("gitlab_secret".into(), "MM_GITLABSETTINGS_SECRET".into())],
            ..Default::default()
        };
        let err = environment(&plan, Some(dir.path())).expect_err("missing");
        assert!(format!("{err:#}").contains("credential \"gitlab_secret\" is missing"));
        let err = environment(&plan, None).expect_err("no dir");
        assert!(format!("{err:#}").contains("CREDENTIALS_DIRECTORY"));
    }

    #[test]
    fn unusable_credentials_are_named_without_their_content() {
        let plan = ExecPlan {
            credentials: vec![("c".into(), "V".into())],
            ..Default::default()
        };
        for (content, what) in [
            (&b""[..], "is empty"),
            (&b"\n"[..], "is empty"),
            (&b"s3cr\xffet"[..], "is not UTF-8"),
            (&b"s3cr\0et"[..], "NUL byte"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("c"), content).expect("write");
            let err = format!(
                "{:#}",
                environment(&plan, Some(dir.path())).expect_err(what)
            );
            assert!(
                err.contains("credential \"c\"") && err.contains(what),
                "{err}"
            );
            assert!(!err.contains("s3cr"), "{err}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("c")).expect("mkdir");
        let err = format!(
            "{:#}",
            environment(&plan, Some(dir.path())).expect_err("dir")
        );
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn mappings_name_a_credential_and_a_variable() {
        assert!(parse_mapping("smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD").is_ok());
        for bad in ["x", "=V", "n=", "../x=V", "n=A-B", "n=MY VAR", ".=V"] {
            assert!(parse_mapping(bad).is_err(), "{bad}");
        }
    }
}
