//! `integrations sync --dry-run --json`: the plan for scripts (each change with its action,
//! what is up to date, what is no longer declared), with no secret in it, against the same
//! stand-ins for Mattermost's local-mode socket and GitLab as the sync tests; and `--json`
//! without `--dry-run` refused (exit 2).

// The full command: these tests run the operations.
#![cfg(feature = "full")]

mod support;

// Shared with the sync tests, which use more of it.
#[allow(dead_code)]
#[path = "support/mattermost_local.rs"]
mod mattermost_local;

use std::path::PathBuf;

use mattermost_local::Mattermost;
use serde_json::Value;
use support::gitlab_stub::{Stub, ADMIN_TOKEN};
use support::*;

const SITE: &str = "https://chat.example.test";
const PROJECT: &str = "group/project";

struct Site {
    gitlab: Stub,
    mm: Mattermost,
    token: PathBuf,
    /// Last: removed after the servers stop.
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        // Not under /tmp: the config refuses a socket in the unit's private /tmp.
        let dir = tempfile::tempdir_in(socket_parent()).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let mm = Mattermost::start(&dir.path().join("data/mm.sock"));
        mm.user("admin");
        mm.team("eng");
        mm.channel("eng", "town-square");
        let gitlab = Stub::start(true);
        gitlab.add_project(PROJECT);
        let token = dir.path().join("token");
        write_file(&token, ADMIN_TOKEN, 0o600);
        Site {
            dir,
            gitlab,
            mm,
            token,
        }
    }

    fn config(&self, declared: bool) -> PathBuf {
        let d = self.dir.path().display();
        let mut text = format!(
            "external_url = \"{SITE}\"\n\
             [directories]\ndata = \"{d}/data\"\n\
             [gitlab]\nurl = \"{}\"\n\
             [nginx]\nenable = false\n\
             [settings.ServiceSettings]\nEnableLocalMode = true\nLocalModeSocketLocation = \"{d}/data/mm.sock\"\n\
             [integrations]\nowner = \"admin\"\nstate_directory = \"{d}/state\"\n",
            self.gitlab.url
        );
        if declared {
            text.push_str(&format!(
                "[integrations.incoming_webhooks.gitlab]\nteam = \"eng\"\nchannel = \"town-square\"\n\
                 [integrations.gitlab_projects.\"{PROJECT}\"]\nwebhook = \"gitlab\"\nevents = [\"push\", \"merge_request\"]\n\
                 [integrations.gitlab_projects.\"{PROJECT}\".slash_commands]\nenable = true\ntrigger = \"project\"\n"
            ));
        }
        let path = self
            .dir
            .path()
            .join(if declared { "site.toml" } else { "none.toml" });
        std::fs::write(&path, text).unwrap();
        path
    }

    fn sync(&self, declared: bool, extra: &[&str]) -> (i32, String, String) {
        let config = self.config(declared);
        let mut args = vec![
            "integrations",
            "sync",
            config.to_str().unwrap(),
            "--token-file",
            self.token.to_str().unwrap(),
            "--timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        let (out, err) = text(&o);
        (o.status.code().unwrap_or(-1), out, err)
    }
}

fn plan(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn actions(v: &Value) -> Vec<(String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["what"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_dry_run_plan_as_json_names_each_change_and_no_secret() {
    let s = Site::new();
    let (code, out, err) = s.sync(true, &["--dry-run", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = plan(&out);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["ok"], true);
    let a = actions(&v);
    assert!(
        a.iter().any(
            |(act, what)| act == "create" && what.contains("webhook gitlab in eng/town-square")
        ),
        "{a:?}"
    );
    assert!(
        a.iter()
            .any(|(act, what)| act == "create" && what.contains("slash command /project")),
        "{a:?}"
    );
    assert!(a.iter().any(|(act, _)| act == "configure"), "{a:?}");
    // Nothing was made.
    assert!(s.mm.hooks().is_empty() && s.mm.commands().is_empty());
    assert!(!s.dir.path().join("state/state.json").exists());

    // Made for real, then planned again: up to date.
    let (code, out, err) = s.sync(true, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let hook = s.mm.hooks()[0]["id"].as_str().unwrap().to_string();
    let token = s.mm.commands()[0]["token"].as_str().unwrap().to_string();
    let (code, out, err) = s.sync(true, &["--dry-run", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = plan(&out);
    assert_eq!(v["changes"], serde_json::json!([]), "{v}");
    assert!(!v["up_to_date"].as_array().unwrap().is_empty(), "{v}");

    // Undeclared: what --prune would remove, the webhook named by its first four characters.
    let (code, out, err) = s.sync(false, &["--dry-run", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = plan(&out);
    let stale = v["not_declared"].to_string();
    assert!(
        stale.contains(&format!("webhook gitlab ({}…)", &hook[..4])),
        "{v}"
    );
    let (code, out, err) = s.sync(false, &["--prune", "--dry-run", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = plan(&out);
    let a = actions(&v);
    assert!(
        a.iter().any(|(act, what)| act == "remove"
            && what.contains(&format!("webhook gitlab ({}…)", &hook[..4]))),
        "{a:?}"
    );
    for text in [&out, &err] {
        assert!(
            !text.contains(&hook) && !text.contains(&token) && !text.contains(ADMIN_TOKEN),
            "a secret leaked:\n{text}"
        );
    }
    // The plain report names the stale webhook the same way, never by its whole id.
    let (_, out, _) = s.sync(false, &["--dry-run"]);
    assert!(
        out.contains(&format!(
            "webhook gitlab ({}…) is no longer declared",
            &hook[..4]
        )) && !out.contains(&hook),
        "{out}"
    );
    assert_eq!(s.mm.hooks().len(), 1, "the dry runs removed nothing");
}

#[test]
fn json_without_dry_run_is_refused() {
    let s = Site::new();
    let (code, out, err) = s.sync(true, &["--json"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("--dry-run"), "{err}");
    assert!(s.mm.hooks().is_empty(), "nothing was made");
}
