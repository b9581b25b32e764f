//! Secrets found while importing: never written into the config, only referenced by path.
//!
//! With `--secrets-dir` each known value is written to its own file there (mode 0600, written
//! to a temporary file and renamed, so a reader never sees half a secret). Without it, the
//! config references a file under `/etc/gitlab-mattermost-secrets/` and the report says
//! which file to create from what.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::report::{Origin, Report, Section};

/// Where secret files are referenced when no `--secrets-dir` is given.
pub const DEFAULT_DIR: &str = "/etc/gitlab-mattermost-secrets";

/// One secret: where it goes in the config, and its value when the inputs held it.
#[derive(Debug, Clone)]
pub struct Secret {
    /// File name inside the secrets directory, e.g. `smtp-password`.
    pub file: String,
    /// What it is, e.g. `the SMTP password (EmailSettings.SMTPPassword)`.
    pub what: String,
    /// Where the value came from.
    pub origin: Option<Origin>,
    /// The value, when gitlab.rb or config.json held it. `None`: the report says where to get it.
    pub value: Option<String>,
    /// How to obtain the value when the inputs did not hold it.
    pub how_to_get: Option<String>,
}

/// All secrets of one import.
#[derive(Debug, Default)]
pub struct Secrets {
    dir: Option<PathBuf>,
    list: Vec<Secret>,
}

impl Secrets {
    /// `dir` is `--secrets-dir`, made absolute (the config must name absolute paths).
    pub fn new(dir: Option<&Path>) -> Result<Secrets> {
        let dir = match dir {
            Some(d) => Some(std::path::absolute(d).with_context(|| {
                format!("cannot make the secrets directory {} absolute", d.display())
            })?),
            None => None,
        };
        Ok(Secrets {
            dir,
            list: Vec::new(),
        })
    }

    /// Register a secret and return the path the config references.
    pub fn add(&mut self, secret: Secret) -> String {
        let path = self.path_of(&secret.file);
        if !self.list.iter().any(|s| s.file == secret.file) {
            self.list.push(secret);
        }
        path
    }

    fn path_of(&self, file: &str) -> String {
        match &self.dir {
            Some(d) => d.join(file).to_string_lossy().into_owned(),
            None => format!("{DEFAULT_DIR}/{file}"),
        }
    }

    /// Whether the secret `file` is referenced but its value was in no input.
    pub fn lacks_value(&self, file: &str) -> bool {
        self.list
            .iter()
            .any(|s| s.file == file && s.value.is_none())
    }

    /// Give the secret `file` the value found elsewhere (an Omnibus host's files).
    pub fn fill(&mut self, file: &str, value: String, origin: Origin, what: &str) {
        if let Some(s) = self.list.iter_mut().find(|s| s.file == file) {
            s.value = Some(value);
            s.origin = Some(origin);
            s.what = what.to_string();
            s.how_to_get = None;
        }
    }

    /// Every secret value known, for tests that check none leaked into the output.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.list.iter().filter_map(|s| s.value.as_deref())
    }

    /// `--secrets-dir`, absolute.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The files `--secrets-dir` gets: path and value of every secret the inputs held.
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        match &self.dir {
            None => Vec::new(),
            Some(_) => self
                .list
                .iter()
                .filter_map(|s| Some((PathBuf::from(self.path_of(&s.file)), s.value.clone()?)))
                .collect(),
        }
    }

    /// Tell the report which files are written (with `--secrets-dir`) or must be created.
    /// Nothing is written here: [`write_files`] does that once every output was checked.
    pub fn finish(&self, report: &mut Report) {
        for s in &self.list {
            let path = self.path_of(&s.file);
            let text = match (&self.dir, &s.value) {
                (Some(_), Some(_)) => {
                    format!("{path}: written (mode 0600) with {}", s.what)
                }
                (None, Some(_)) => format!(
                    "create {path} (mode 0600, owned by root) holding {}, the value at {}",
                    s.what,
                    s.origin
                        .as_ref()
                        .map_or_else(|| "the input".to_string(), |o| o.to_string())
                ),
                (_, None) => format!(
                    "create {path} (mode 0600, owned by root) holding {}: {}",
                    s.what,
                    s.how_to_get
                        .as_deref()
                        .unwrap_or("the inputs did not hold it")
                ),
            };
            report.add(Section::Secrets, None, text);
        }
    }
}

/// Create `dir` (mode 0700) and create each `(path, value)` there (mode 0600, atomically),
/// except files that already hold exactly that value. The targets were checked with
/// [`crate::output::target::inspect_file_target`] before; a file another run created
/// meanwhile with another value is refused, never replaced.
pub fn write_files(dir: &Path, files: &[(PathBuf, String)]) -> Result<()> {
    create_private_dir(dir)?;
    for (path, value) in files {
        let same = std::fs::read(path).is_ok_and(|b| b == value.as_bytes());
        if !same {
            write_secret(path, value)?;
        }
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the secrets directory {}", dir.display()))
}

/// Create `path` holding `value` with mode 0600, atomically, only if nothing is there.
fn write_secret(path: &Path, value: &str) -> Result<()> {
    crate::output::create_file_exclusively("--secrets-dir", path, value.as_bytes(), 0o600).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_written_private_and_referenced_by_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("s");
        let mut s = Secrets::new(Some(&target)).expect("absolute");
        let path = s.add(Secret {
            file: "smtp-password".into(),
            what: "the SMTP password".into(),
            origin: None,
            value: Some("hunter2".into()),
            how_to_get: None,
        });
        let mut report = Report::new("x");
        s.finish(&mut report);
        write_files(s.dir().expect("a directory"), &s.files()).expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("readable"), "hunter2");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&target)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert!(!report.to_string().contains("hunter2"));
    }

    #[test]
    fn without_a_directory_the_report_says_what_to_create() {
        let mut s = Secrets::new(None).expect("no dir");
        let path = s.add(Secret {
            file: "gitlab-secret".into(),
            what: "GitLab's OAuth application secret".into(),
            origin: None,
            value: None,
            how_to_get: Some(
                "jq -r .mattermost.gitlab_secret /etc/gitlab/gitlab-secrets.json".into(),
            ),
        });
        assert_eq!(path, "/etc/gitlab-mattermost-secrets/gitlab-secret");
        let mut report = Report::new("x");
        s.finish(&mut report);
        assert!(s.files().is_empty());
        let text = report.to_string();
        assert!(text.contains("create /etc/gitlab-mattermost-secrets/gitlab-secret"));
        assert!(text.contains("gitlab-secrets.json"));
    }
}
