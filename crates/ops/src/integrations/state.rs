//! What `sync` manages, kept root-only in `<state_directory>/state.json`: the ids of the
//! webhooks and commands it created (so a rerun updates them, and only they are ever
//! pruned), and digests of the secrets it gave GitLab (GitLab never shows them again, so
//! the digest is how a rerun knows GitLab has the current one). What `--adopt` took over is
//! marked adopted: kept up to date like the rest, but never removed, only forgotten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Webhook name to its Mattermost id and team.
    #[serde(default)]
    pub webhooks: BTreeMap<String, Managed>,
    /// Project path to its slash command's Mattermost id and team.
    #[serde(default)]
    pub commands: BTreeMap<String, Managed>,
    /// Project path to what GitLab was given.
    #[serde(default)]
    pub gitlab_projects: BTreeMap<String, GitLabApplied>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Managed {
    pub id: String,
    pub team_id: String,
    /// Taken over with `--adopt` rather than created: never deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adopted: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GitLabApplied {
    pub project_id: u64,
    /// SHA-256 of the webhook URL in GitLab's Mattermost notifications.
    #[serde(default)]
    pub webhook_sha256: Option<String>,
    /// SHA-256 of the command token in GitLab's Mattermost slash commands.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The Mattermost notifications were set up outside `sync` and adopted: never deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub notifications_adopted: bool,
    /// The Mattermost slash commands were set up outside `sync` and adopted: never deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub slash_commands_adopted: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn file(state_directory: &str) -> PathBuf {
    Path::new(state_directory).join("state.json")
}

pub fn load(path: &Path) -> Result<State> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not the state `integrations sync` writes",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Written after every change, so that a run stopped half-way leaves a state that names
/// everything it created.
pub fn save(path: &Path, state: &State) -> Result<()> {
    let text = serde_json::to_string_pretty(state)?;
    crate::files::write_secret(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_root_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir.path().join("integrations").to_string_lossy());
        assert_eq!(load(&path).unwrap(), State::default());
        let mut s = State::default();
        s.webhooks.insert(
            "ci".into(),
            Managed {
                id: "h1".into(),
                team_id: "t1".into(),
                adopted: false,
            },
        );
        s.webhooks.insert(
            "old".into(),
            Managed {
                id: "h0".into(),
                team_id: "t1".into(),
                adopted: true,
            },
        );
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), s);
        // A state written before adoption existed still reads, as created by `sync`.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("adopted").count(), 1, "{text}");
        let before: State = serde_json::from_str(
            r#"{"webhooks":{"ci":{"id":"h1","team_id":"t1"}},"gitlab_projects":{"g/p":{"project_id":3}}}"#,
        )
        .unwrap();
        assert!(!before.webhooks["ci"].adopted);
        assert!(!before.gitlab_projects["g/p"].notifications_adopted);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_ne!(digest("a"), digest("b"));
        assert_eq!(digest("a").len(), 64);
    }
}
