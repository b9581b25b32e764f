//! The webhooks and slash commands in Mattermost, through the local-mode API: what a
//! declaration means there, and how it differs from what exists.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};

use super::local::Local;
use crate::schema::IncomingWebhook;

/// Mattermost's limits on a command's display name and description.
const DISPLAY_NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 128;

/// Ids looked up once per run.
pub struct Directory<'a> {
    api: &'a Local,
    teams: BTreeMap<String, String>,
    channels: BTreeMap<(String, String), String>,
}

impl<'a> Directory<'a> {
    pub fn new(api: &'a Local) -> Self {
        Directory {
            api,
            teams: BTreeMap::new(),
            channels: BTreeMap::new(),
        }
    }

    fn id_at(&self, path: &str, what: &str) -> Result<String> {
        let r = self.api.send("GET", path, None)?;
        if !r.ok() {
            return Err(anyhow!(
                "{what}: Mattermost answered HTTP {}: {}",
                r.status,
                r.message()
            ));
        }
        r.json()?
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{what}: Mattermost's answer has no id"))
    }

    pub fn user(&self, username: &str) -> Result<String> {
        self.id_at(
            &format!("/api/v4/users/username/{username}"),
            &format!("the owner, Mattermost user {username:?} (integrations.owner)"),
        )
    }

    pub fn team(&mut self, team: &str) -> Result<String> {
        if let Some(id) = self.teams.get(team) {
            return Ok(id.clone());
        }
        let id = self.id_at(
            &format!("/api/v4/teams/name/{team}"),
            &format!("team {team:?}"),
        )?;
        self.teams.insert(team.to_string(), id.clone());
        Ok(id)
    }

    pub fn channel(&mut self, team: &str, channel: &str) -> Result<String> {
        let k = (team.to_string(), channel.to_string());
        if let Some(id) = self.channels.get(&k) {
            return Ok(id.clone());
        }
        let id = self.id_at(
            &format!("/api/v4/teams/name/{team}/channels/name/{channel}"),
            &format!("channel {channel:?} in team {team:?}"),
        )?;
        self.channels.insert(k, id.clone());
        Ok(id)
    }
}

/// The fields of an incoming webhook that a declaration sets.
pub fn webhook_fields(name: &str, w: &IncomingWebhook, channel_id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("channel_id".into(), json!(channel_id));
    m.insert(
        "display_name".into(),
        json!(w.display_name.clone().unwrap_or_else(|| name.to_string())),
    );
    m.insert("description".into(), json!(w.description));
    m.insert(
        "username".into(),
        json!(w.username.clone().unwrap_or_default()),
    );
    m.insert(
        "icon_url".into(),
        json!(w.icon_url.clone().unwrap_or_default()),
    );
    m.insert("channel_locked".into(), json!(w.lock_to_channel));
    m
}

fn cut(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        s.chars().take(max).collect()
    }
}

/// The fields of a project's slash command, worded as GitLab suggests on its integration
/// page.
pub fn command_fields(
    project: &str,
    trigger: &str,
    url: &str,
    username: &str,
    auto_complete: bool,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("trigger".into(), json!(trigger));
    m.insert("method".into(), json!("P"));
    m.insert("url".into(), json!(url));
    m.insert("username".into(), json!(username));
    m.insert(
        "display_name".into(),
        json!(cut(format!("GitLab / {project}"), DISPLAY_NAME_MAX)),
    );
    m.insert(
        "description".into(),
        json!(cut(
            format!("Perform common operations on GitLab project {project}"),
            DESCRIPTION_MAX
        )),
    );
    m.insert("auto_complete".into(), json!(auto_complete));
    m.insert(
        "auto_complete_desc".into(),
        json!(cut(
            format!("Perform common operations on: {project}"),
            DESCRIPTION_MAX
        )),
    );
    m.insert("auto_complete_hint".into(), json!("[help]"));
    m
}

/// The wanted fields `found` does not have.
pub fn differing(wanted: &Map<String, Value>, found: &Value) -> Vec<String> {
    wanted
        .iter()
        .filter(|(k, v)| {
            let f = found.get(k.as_str());
            match v {
                Value::String(s) if s.is_empty() => {
                    !matches!(f, None | Some(Value::Null)) && f != Some(v)
                }
                _ => f != Some(v),
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// One kind of object under `/api/v4/<collection>`: hooks/incoming or commands.
/// The id of an object Mattermost answered with.
pub fn id_of(object: &Value) -> String {
    object
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub struct Objects<'a> {
    pub api: &'a Local,
    /// `hooks/incoming` or `commands`
    pub collection: &'static str,
    /// "webhook" or "slash command", for messages.
    pub noun: &'static str,
}

/// How messages name an incoming webhook: its id is the secret part of its URL (whoever has
/// it can post), so only its first characters, enough to tell webhooks apart in the System
/// Console.
pub fn webhook_label(id: &str) -> String {
    let shown: String = id.chars().take(4).collect();
    format!("{shown}…")
}

impl Objects<'_> {
    /// How a message names the object `id`: a webhook's id is a secret (see
    /// [`webhook_label`]); a slash command's is not (its token is).
    fn label(&self, id: &str) -> String {
        match self.collection {
            "hooks/incoming" => webhook_label(id),
            _ => id.to_string(),
        }
    }

    /// The object, or `None` when it is gone (deleted in the System Console).
    pub fn get(&self, id: &str) -> Result<Option<Value>> {
        let r = self
            .api
            .send("GET", &format!("/api/v4/{}/{id}", self.collection), None)?;
        match r.status {
            200 => {
                let v = r.json()?;
                // A deleted command is still answered, with its deletion time.
                let deleted = v.get("delete_at").and_then(Value::as_i64).unwrap_or(0) != 0;
                Ok((!deleted).then_some(v))
            }
            404 => Ok(None),
            // Mattermost answers a deleted command id with 403 or 404 depending on version.
            403 if self.collection == "commands" => Ok(None),
            _ => Err(anyhow!(
                "reading {} {}: HTTP {}: {}",
                self.noun,
                self.label(id),
                r.status,
                r.message()
            )),
        }
    }

    /// Every live object of a team: the incoming webhooks (page by page) or the custom slash
    /// commands. What `--adopt` chooses from.
    pub fn in_team(&self, team_id: &str) -> Result<Vec<Value>> {
        const PER_PAGE: usize = 200;
        let mut all = Vec::new();
        for page in 0.. {
            let path = match self.collection {
                "commands" => format!("/api/v4/commands?team_id={team_id}&custom_only=true"),
                c => format!("/api/v4/{c}?team_id={team_id}&page={page}&per_page={PER_PAGE}"),
            };
            let r = self.api.send("GET", &path, None)?;
            if !r.ok() {
                return Err(anyhow!(
                    "listing the {}s of the team: Mattermost answered HTTP {}: {}",
                    self.noun,
                    r.status,
                    r.message()
                ));
            }
            let items = match r.json()? {
                Value::Array(a) => a,
                _ => return Err(anyhow!("listing the {}s: not a list", self.noun)),
            };
            let n = items.len();
            all.extend(items.into_iter().filter(|v| {
                v.get("delete_at").and_then(Value::as_i64).unwrap_or(0) == 0
                    && v.get("team_id").and_then(Value::as_str) == Some(team_id)
            }));
            if self.collection == "commands" || n < PER_PAGE {
                break;
            }
        }
        Ok(all)
    }

    pub fn create(&self, body: &Map<String, Value>) -> Result<Value> {
        let r = self.api.send(
            "POST",
            &format!("/api/v4/{}", self.collection),
            Some(&Value::Object(body.clone())),
        )?;
        if !r.ok() {
            return Err(anyhow!(
                "creating the {}: Mattermost answered HTTP {}: {}",
                self.noun,
                r.status,
                r.message()
            ));
        }
        r.json()
    }

    /// Update with the whole object (Mattermost's PUT replaces it).
    pub fn update(&self, found: &Value, changes: &Map<String, Value>) -> Result<Value> {
        let mut body = found.clone();
        let id = id_of(found);
        if let Value::Object(o) = &mut body {
            o.extend(changes.clone());
        }
        let r = self.api.send(
            "PUT",
            &format!("/api/v4/{}/{id}", self.collection),
            Some(&body),
        )?;
        if !r.ok() {
            return Err(anyhow!(
                "updating the {} {}: Mattermost answered HTTP {}: {}",
                self.noun,
                self.label(&id),
                r.status,
                r.message()
            ));
        }
        r.json()
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        let r = self
            .api
            .send("DELETE", &format!("/api/v4/{}/{id}", self.collection), None)?;
        if r.ok() || r.status == 404 {
            Ok(())
        } else {
            Err(anyhow!(
                "deleting the {} {}: Mattermost answered HTTP {}: {}",
                self.noun,
                self.label(id),
                r.status,
                r.message()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_match_absent_fields() {
        let w: IncomingWebhook =
            serde_json::from_value(json!({"team": "t", "channel": "c"})).unwrap();
        let wanted = webhook_fields("ci", &w, "ch1");
        let found = json!({"channel_id": "ch1", "display_name": "ci", "description": "", "channel_locked": false});
        assert_eq!(differing(&wanted, &found), Vec::<String>::new());
        let found = json!({"channel_id": "ch2", "display_name": "ci", "username": "x", "channel_locked": true});
        assert_eq!(
            differing(&wanted, &found),
            vec!["channel_id", "username", "channel_locked"]
        );
    }

    #[test]
    fn command_texts_fit_mattermosts_limits() {
        let long = format!("group/{}", "p".repeat(300));
        let c = command_fields(&long, "p", "https://g/x", "GitLab", true);
        assert!(c["display_name"].as_str().unwrap().chars().count() <= DISPLAY_NAME_MAX);
        assert!(c["description"].as_str().unwrap().chars().count() <= DESCRIPTION_MAX);
        assert_eq!(c["method"], "P");
    }
}
