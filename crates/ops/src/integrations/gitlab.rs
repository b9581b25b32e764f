//! GitLab's project integrations API: `GET /projects/:path` for the id, and
//! `GET`/`PUT`/`DELETE /projects/:id/integrations/{mattermost,mattermost-slash-commands}`.
//!
//! GitLab never returns the webhook URL or the command token, so what it holds is compared
//! field by field for everything else, and by the digest `sync` recorded for the secrets.

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};

use crate::gitlab;
use crate::http::Answer;
use crate::schema::{GitLabEvent, GitLabProject};

pub const NOTIFICATIONS: &str = "mattermost";
pub const SLASH_COMMANDS: &str = "mattermost-slash-commands";

/// GitLab's project integrations, through the one GitLab API client.
pub struct Api(gitlab::Api);

/// The URL Mattermost posts a project's slash command to.
pub fn trigger_url(gitlab_url: &str, project_id: u64) -> String {
    format!(
        "{}/api/v4/projects/{project_id}/integrations/mattermost_slash_commands/trigger",
        gitlab_url.trim_end_matches('/')
    )
}

/// Whether a slash command's request URL is GitLab's trigger for this project: under any
/// GitLab address (the old one, after a move) and in the `services` spelling of GitLab
/// before 14.
pub fn triggers(url: &str, project_id: u64) -> bool {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    ["integrations", "services"].iter().any(|w| {
        path.ends_with(&format!(
            "/api/v4/projects/{project_id}/{w}/mattermost_slash_commands/trigger"
        ))
    })
}

/// Whether GitLab has the integration and it is switched on (a deleted one stays, inactive).
pub fn is_active(found: Option<&Value>) -> bool {
    found.and_then(|f| f.get("active")).and_then(Value::as_bool) == Some(true)
}

/// The fields of GitLab's Mattermost notifications, without the webhook (compared by
/// digest): every event switched on or off, its channel, and the project's options.
pub fn notification_fields(p: &GitLabProject) -> Map<String, Value> {
    let mut m = Map::new();
    let channel = p.channel.clone().unwrap_or_default();
    m.insert(
        "username".into(),
        json!(p.username.clone().unwrap_or_default()),
    );
    m.insert("channel".into(), json!(channel));
    m.insert(
        "notify_only_broken_pipelines".into(),
        json!(p.notify_only_broken_pipelines),
    );
    m.insert(
        "branches_to_be_notified".into(),
        json!(p.branches_to_be_notified.as_str()),
    );
    for e in GitLabEvent::ALL {
        m.insert(e.events_field().into(), json!(p.events.contains(&e)));
        m.insert(e.channel_field().into(), json!(channel));
    }
    m
}

/// A value as GitLab may report it: booleans as `true`, `"true"` or `"1"`, absent strings as
/// `null`.
fn same(wanted: &Value, found: Option<&Value>) -> bool {
    let truthy = |v: &Value| match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" || s == "1" => Some(true),
        Value::String(s) if s == "false" || s == "0" || s.is_empty() => Some(false),
        Value::Null => Some(false),
        _ => None,
    };
    match (wanted, found) {
        (Value::Bool(w), Some(f)) => truthy(f) == Some(*w),
        (Value::Bool(w), None) => !w,
        (Value::String(w), None | Some(Value::Null)) => w.is_empty(),
        (w, Some(f)) => w == f,
        _ => false,
    }
}

/// Which wanted fields GitLab's answer does not have: looked up at the top (event flags)
/// and under `properties` (options and channels), as GitLab answers.
pub fn differing(wanted: &Map<String, Value>, found: &Value) -> Vec<String> {
    let props = found.get("properties");
    wanted
        .iter()
        .filter(|(k, w)| {
            let f = found
                .get(k.as_str())
                .or_else(|| props.and_then(|p| p.get(k.as_str())));
            !same(w, f)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

impl Api {
    pub fn new(api: gitlab::Api) -> Api {
        Api(api)
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer> {
        self.0.send(method, path, body)
    }

    /// One line for a refusal, naming the project and GitLab's answer (error answers carry
    /// no secret).
    fn refused(&self, what: &str, project: &str, a: &Answer) -> anyhow::Error {
        let cause = match a.status {
            401 => "the token is wrong, expired or revoked",
            403 => "the token's user may not do this (it needs the Maintainer role in the project, or to be an administrator, and scope `api`)",
            404 => "GitLab has no such project, or the token's user cannot see it",
            _ => "unexpected answer",
        };
        anyhow!(
            "GitLab project {project}: {what}: HTTP {} ({cause}): {}",
            a.status,
            a.excerpt()
        )
    }

    /// The project's numeric id.
    pub fn project_id(&self, project: &str) -> Result<u64> {
        let path = format!("/projects/{}", encode(project));
        let a = self.send("GET", &path, None)?;
        if a.status != 200 {
            return Err(self.refused("looking up the project", project, &a));
        }
        a.json()
            .and_then(|v| v.get("id").and_then(Value::as_u64))
            .ok_or_else(|| {
                anyhow!("GitLab project {project}: the answer to GET {path} has no numeric id")
            })
    }

    /// The integration as GitLab reports it; `None` when it was never set up.
    pub fn integration(&self, project: &str, id: u64, slug: &str) -> Result<Option<Value>> {
        let path = format!("/projects/{id}/integrations/{slug}");
        let a = self.send("GET", &path, None)?;
        match a.status {
            200 => Ok(a.json()),
            404 => Ok(None),
            _ => Err(self.refused(&format!("reading the {slug} integration"), project, &a)),
        }
    }

    pub fn put_integration(&self, project: &str, id: u64, slug: &str, body: &Value) -> Result<()> {
        let path = format!("/projects/{id}/integrations/{slug}");
        let a = self.send("PUT", &path, Some(body))?;
        if (200..300).contains(&a.status) {
            Ok(())
        } else {
            Err(self.refused(&format!("setting up the {slug} integration"), project, &a))
        }
    }

    pub fn delete_integration(&self, project: &str, id: u64, slug: &str) -> Result<()> {
        let path = format!("/projects/{id}/integrations/{slug}");
        let a = self.send("DELETE", &path, None)?;
        if (200..300).contains(&a.status) || a.status == 404 {
            Ok(())
        } else {
            Err(self.refused(&format!("removing the {slug} integration"), project, &a))
        }
    }
}

/// A project path as one URL path segment (`group/project` is `group%2Fproject`).
pub fn encode(project: &str) -> String {
    url::form_urlencoded::byte_serialize(project.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::BranchesToBeNotified;

    fn project() -> GitLabProject {
        serde_json::from_value(json!({"webhook": "ci", "events": ["push", "merge_request"]}))
            .unwrap()
    }

    #[test]
    fn every_event_is_switched_explicitly() {
        let f = notification_fields(&project());
        assert_eq!(f["push_events"], json!(true));
        assert_eq!(f["merge_requests_events"], json!(true));
        assert_eq!(f["issues_events"], json!(false));
        assert_eq!(f["incident_events"], json!(false));
        assert_eq!(f["branches_to_be_notified"], json!("default"));
        assert_eq!(f.len(), 4 + 2 * GitLabEvent::ALL.len());
    }

    #[test]
    fn gitlabs_spellings_of_the_same_value_are_the_same() {
        let mut p = project();
        p.branches_to_be_notified = BranchesToBeNotified::All;
        let wanted = notification_fields(&p);
        let mut found = json!({"properties": {}});
        for (k, v) in &wanted {
            let v = match v {
                Value::Bool(true) => json!("1"),
                Value::Bool(false) => Value::Null,
                Value::String(s) if s.is_empty() => Value::Null,
                other => other.clone(),
            };
            if k.ends_with("_events") {
                found[k] = v;
            } else {
                found["properties"][k] = v;
            }
        }
        assert_eq!(differing(&wanted, &found), Vec::<String>::new());
        found["properties"]["branches_to_be_notified"] = json!("default");
        found["push_events"] = json!(false);
        assert_eq!(
            differing(&wanted, &found),
            vec!["branches_to_be_notified", "push_events"]
        );
    }

    #[test]
    fn a_projects_trigger_is_known_under_any_gitlab_address() {
        let t = |u: &str| triggers(u, 7);
        assert!(t(&trigger_url("https://gitlab.example.test", 7)));
        assert!(t("http://old-gitlab.example.test/api/v4/projects/7/services/mattermost_slash_commands/trigger"));
        assert!(t(
            "https://g.example/api/v4/projects/7/integrations/mattermost_slash_commands/trigger/"
        ));
        assert!(!t(
            "https://g.example/api/v4/projects/17/integrations/mattermost_slash_commands/trigger"
        ));
        assert!(!t(
            "https://g.example/api/v4/projects/7/integrations/slack_slash_commands/trigger"
        ));
        assert!(is_active(Some(&json!({"active": true}))));
        assert!(!is_active(Some(&json!({"active": false}))));
        assert!(!is_active(None));
    }

    #[test]
    fn project_paths_are_one_segment() {
        assert_eq!(encode("group/sub group/p.x"), "group%2Fsub%20group%2Fp.x");
        assert_eq!(
            trigger_url("https://g.example/", 7),
            "https://g.example/api/v4/projects/7/integrations/mattermost_slash_commands/trigger"
        );
    }
}
