//! `integrations sync` against a stand-in for Mattermost's local-mode socket and the GitLab
//! stub's projects and integrations: a fresh setup, and one moved off Omnibus, whose GitLab
//! integrations, webhook and slash command exist already (`--adopt`); and `--dry-run --json`,
//! the plan for scripts (each change with its action, what is up to date, what is no longer
//! declared) with no secret in it, `--json` without `--dry-run` refused (exit 2).

// The full command: these tests run the importers or the operations.
#![cfg(feature = "full")]

mod support;

#[path = "support/mattermost_local.rs"]
mod mattermost_local;

use std::path::PathBuf;

use mattermost_local::Mattermost;
use serde_json::{json, Value};
use support::gitlab_stub::{Stub, ADMIN_TOKEN};
use support::*;

const SITE: &str = "https://chat.example.test";
const PROJECT: &str = "group/project";

struct Site {
    gitlab: Stub,
    mm: Mattermost,
    token: PathBuf,
    team_id: String,
    channel_id: String,
    project_id: u64,
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
        let team_id = mm.team("eng");
        let channel_id = mm.channel("eng", "town-square");
        let gitlab = Stub::start(true);
        let project_id = gitlab.add_project(PROJECT);
        let token = dir.path().join("token");
        write_file(&token, ADMIN_TOKEN, 0o600);
        Site {
            dir,
            gitlab,
            mm,
            token,
            team_id,
            channel_id,
            project_id,
        }
    }

    /// The config; `declared`: whether the webhook and project are declared.
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
            "-vvv",
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

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join("state/state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// What the Omnibus server left: a webhook in the channel, GitLab's notifications posting
    /// to it at the old Mattermost address, a slash command calling the old GitLab's trigger
    /// and GitLab's slash commands holding its token. Returns the hook id and the token.
    fn omnibus_setup(&self) -> (String, String) {
        let hook = self.mm.insert_hook(&self.channel_id, "GitLab (Omnibus)");
        let old_trigger = format!(
            "http://old-gitlab.example.test/api/v4/projects/{}/services/mattermost_slash_commands/trigger",
            self.project_id
        );
        let (_, token) = self
            .mm
            .insert_command(&self.team_id, "project", &old_trigger);
        self.gitlab.set_integration(
            self.project_id,
            "mattermost",
            &format!("https://old-chat.example.test/hooks/{hook}"),
            json!({"push_events": true, "issues_events": true, "channel": ""}),
        );
        self.gitlab.set_integration(
            self.project_id,
            "mattermost-slash-commands",
            &token,
            json!({}),
        );
        (hook, token)
    }

    fn secret(&self, slug: &str) -> Option<String> {
        self.gitlab
            .integration(self.project_id, slug)
            .and_then(|i| i.secret)
    }
}

fn assert_no_secret(out: &str, err: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !out.contains(s) && !err.contains(s),
            "{s} leaked:\n{out}\n{err}"
        );
    }
    assert!(!err.contains(ADMIN_TOKEN), "the token leaked");
}

#[test]
fn a_fresh_setup_is_created_a_rerun_changes_nothing_and_prune_removes_it() {
    let s = Site::new();
    let (code, out, err) = s.sync(true, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("create webhook gitlab in eng/town-square"),
        "{out}"
    );
    assert!(!out.contains("adopt"), "{out}");
    let hooks = s.mm.hooks();
    assert_eq!(hooks.len(), 1);
    let hook = hooks[0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.secret("mattermost"), Some(format!("{SITE}/hooks/{hook}")));
    let commands = s.mm.commands();
    assert_eq!(commands.len(), 1);
    let token = commands[0]["token"].as_str().unwrap().to_string();
    assert_eq!(
        s.secret("mattermost-slash-commands").as_deref(),
        Some(token.as_str())
    );
    assert_no_secret(&out, &err, &[&token, &hook]);

    let writes = (s.gitlab.writes().len(), s.mm.writes().len());
    let (code, out, _) = s.sync(true, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no changes"), "{out}");
    assert_eq!((s.gitlab.writes().len(), s.mm.writes().len()), writes);

    let (code, out, err) = s.sync(false, &["--prune"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        s.mm.hooks().is_empty() && s.mm.commands().is_empty(),
        "{out}"
    );
    // The webhook's id is the secret part of its URL: named by its first characters only.
    assert!(
        out.contains(&format!("removed webhook gitlab ({}…)", &hook[..4])),
        "{out}"
    );
    assert_no_secret(&out, &err, &[&hook]);
    let kept = s.gitlab.integration(s.project_id, "mattermost").unwrap();
    assert!(!kept.active && kept.secret.is_none(), "{kept:?}");

    // GitLab keeps a deleted integration, inactive: declaring the project again sets it up
    // without --adopt, as it is nobody's.
    let (code, out, err) = s.sync(true, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        s.gitlab
            .integration(s.project_id, "mattermost")
            .unwrap()
            .active
    );
}

#[test]
fn a_setup_moved_off_omnibus_is_left_alone_without_adopt() {
    let s = Site::new();
    let (hook, token) = s.omnibus_setup();
    let (code, out, err) = s.sync(true, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("active Mattermost notifications for it that `sync` did not set up")
            && err.contains("--adopt"),
        "{err}"
    );
    assert!(out.contains("webhook gitlab was not created"), "{out}");
    assert_eq!(s.gitlab.writes(), Vec::<String>::new());
    assert_eq!(s.mm.writes(), Vec::<String>::new());
    assert_eq!(
        s.secret("mattermost").as_deref(),
        Some(format!("https://old-chat.example.test/hooks/{hook}").as_str())
    );
    assert_no_secret(&out, &err, &[&hook, &token]);
}

#[test]
fn adopt_takes_over_the_omnibus_setup_and_repoints_the_webhook() {
    let s = Site::new();
    let (hook, token) = s.omnibus_setup();

    let (code, out, err) = s.sync(true, &["--adopt", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "would adopt webhook gitlab: the incoming webhook \"GitLab (Omnibus)\" in eng/town-square",
        "would adopt GitLab group/project: Mattermost notifications, set up outside `sync`",
        "a URL naming the old Mattermost is repointed",
        "would adopt slash command /project (eng) of group/project",
        "would adopt GitLab group/project: Mattermost slash commands",
    ] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }
    assert_eq!(s.gitlab.writes(), Vec::<String>::new());
    assert_eq!(s.mm.writes(), Vec::<String>::new());
    assert!(!s.dir.path().join("state/state.json").exists());

    let (code, out, err) = s.sync(true, &["--adopt"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("adopt webhook gitlab"), "{out}");
    assert_no_secret(&out, &err, &[&hook, &token]);
    // Nothing duplicated: the same webhook and command, brought to the declaration.
    let hooks = s.mm.hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["id"], hook.as_str());
    assert_eq!(hooks[0]["display_name"], "gitlab");
    let commands = s.mm.commands();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0]["token"], token.as_str());
    assert_eq!(
        commands[0]["url"],
        format!(
            "{}/api/v4/projects/{}/integrations/mattermost_slash_commands/trigger",
            s.gitlab.url, s.project_id
        )
        .as_str()
    );
    // GitLab posts to this server now, to the webhook id the old URL named.
    assert_eq!(s.secret("mattermost"), Some(format!("{SITE}/hooks/{hook}")));
    let n = s.gitlab.integration(s.project_id, "mattermost").unwrap();
    assert_eq!(n.fields["merge_requests_events"], json!(true));
    assert_eq!(n.fields["issues_events"], json!(false));
    assert_eq!(
        s.secret("mattermost-slash-commands").as_deref(),
        Some(token.as_str())
    );
    let state = s.state();
    assert_eq!(state["webhooks"]["gitlab"]["adopted"], json!(true));
    assert_eq!(state["commands"][PROJECT]["adopted"], json!(true));
    assert_eq!(
        state["gitlab_projects"][PROJECT]["notifications_adopted"],
        json!(true)
    );
    assert_eq!(
        state["gitlab_projects"][PROJECT]["slash_commands_adopted"],
        json!(true)
    );

    // Adopted is managed: a plain rerun (as the NixOS unit's) changes nothing.
    let writes = (s.gitlab.writes().len(), s.mm.writes().len());
    let (code, out, _) = s.sync(true, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no changes"), "{out}");
    assert_eq!((s.gitlab.writes().len(), s.mm.writes().len()), writes);

    // Never deleted, only forgotten.
    let (code, out, err) = s.sync(false, &["--prune", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("would forget it (adopted, so it stays)"),
        "{out}"
    );
    let (code, out, err) = s.sync(false, &["--prune"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("forgot webhook gitlab")
            && out.contains("forgot GitLab project group/project"),
        "{out}"
    );
    assert_eq!(s.mm.hooks().len(), 1);
    assert_eq!(s.mm.commands().len(), 1);
    assert!(
        s.gitlab
            .integration(s.project_id, "mattermost")
            .unwrap()
            .active
    );
    assert!(
        s.gitlab
            .integration(s.project_id, "mattermost-slash-commands")
            .unwrap()
            .active
    );
    assert!(!s.gitlab.writes().iter().any(|w| w.starts_with("DELETE")));
    assert_eq!(s.state()["webhooks"], json!({}));
    assert_eq!(s.state()["gitlab_projects"], json!({}));
}

#[test]
fn several_webhooks_in_the_channel_need_the_one_named() {
    let s = Site::new();
    let (hook, _) = s.omnibus_setup();
    let other = s.mm.insert_hook(&s.channel_id, "Jenkins");
    let (code, out, err) = s.sync(true, &["--adopt"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("2 incoming webhooks") && err.contains("--adopt-webhook gitlab=ID"),
        "{err}"
    );
    assert_eq!(s.mm.hooks().len(), 2, "nothing created");
    let named = format!("gitlab={hook}");
    let (code, out, err) = s.sync(true, &["--adopt", "--adopt-webhook", &named]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(s.state()["webhooks"]["gitlab"]["id"], hook.as_str());
    assert_eq!(s.secret("mattermost"), Some(format!("{SITE}/hooks/{hook}")));
    let jenkins = s.mm.hooks().into_iter().find(|h| h["id"] == other.as_str());
    assert_eq!(jenkins.unwrap()["display_name"], "Jenkins", "left alone");

    // --adopt-webhook alone is refused: it only says which one --adopt takes.
    let o = run(&[
        "integrations",
        "sync",
        s.config(true).to_str().unwrap(),
        "--adopt-webhook",
        &named,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--adopt"), "{}", text(&o).1);
}

impl Site {
    /// `sync` with the declared config changed by `edit` (written to site.toml).
    fn sync_edited(&self, edit: impl Fn(String) -> String) -> (i32, String, String, PathBuf) {
        let config = self.config(true);
        let edited = edit(std::fs::read_to_string(&config).unwrap());
        std::fs::write(&config, edited).unwrap();
        let o = run(&[
            "integrations",
            "sync",
            config.to_str().unwrap(),
            "--token-file",
            self.token.to_str().unwrap(),
            "--timeout",
            "5",
        ]);
        let (out, err) = text(&o);
        (o.status.code().unwrap_or(-1), out, err, config)
    }

    fn nothing_changed(&self) {
        assert!(self.mm.writes().is_empty(), "{:?}", self.mm.writes());
        assert!(
            self.gitlab.writes().is_empty(),
            "{:?}",
            self.gitlab.writes()
        );
        assert!(self.mm.hooks().is_empty());
        assert!(!self.dir.path().join("state/state.json").exists());
    }
}

fn with_url_file(text: String, path: &std::path::Path) -> String {
    text.replace(
        "[integrations.incoming_webhooks.gitlab]\n",
        &format!(
            "[integrations.incoming_webhooks.gitlab]\nurl_file = \"{}\"\n",
            path.display()
        ),
    )
}

#[test]
fn a_url_file_naming_the_config_is_refused_and_the_config_kept() {
    let s = Site::new();
    let config = s.dir.path().join("site.toml");
    let mut given = String::new();
    let (code, out, err, written) = s.sync_edited(|t| with_url_file(t, &config));
    assert_eq!(written, config);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("url_file") && err.contains("config file"),
        "{err}"
    );
    given.push_str(&with_url_file(
        std::fs::read_to_string(s.config(true)).unwrap(),
        &config,
    ));
    // `config(true)` wrote the unedited text again: the run was given `given`.
    std::fs::write(&config, &given).unwrap();
    let o = run(&[
        "integrations",
        "sync",
        config.to_str().unwrap(),
        "--token-file",
        s.token.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), given);
    s.nothing_changed();
}

#[test]
fn a_url_file_naming_the_state_file_is_refused() {
    let s = Site::new();
    let state = s.dir.path().join("state/state.json");
    let (code, out, err, _) = s.sync_edited(|t| with_url_file(t, &state));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("gitlab.url_file") && err.contains("the state file"),
        "{err}"
    );
    s.nothing_changed();
}

#[test]
fn url_files_that_are_links_directories_or_fifos_are_refused_at_once() {
    let s = Site::new();
    let elsewhere = s.dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "keep me\n").unwrap();
    let link = s.dir.path().join("link.url");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let fifo = s.dir.path().join("fifo.url");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let dir = s.dir.path().join("adir");
    std::fs::create_dir(&dir).unwrap();
    let (code, out, err, _) = s.sync_edited(|t| {
        let t = with_url_file(t, &link);
        format!(
            "{t}[integrations.incoming_webhooks.second]\nteam = \"eng\"\nchannel = \"town-square\"\nurl_file = \"{}\"\n\
             [integrations.incoming_webhooks.third]\nteam = \"eng\"\nchannel = \"town-square\"\nurl_file = \"{}\"\n",
            fifo.display(),
            dir.display()
        )
    });
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert!(err.contains("FIFO"), "{err}");
    assert!(err.contains("a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep me\n");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    s.nothing_changed();
}

#[test]
fn an_owner_that_is_no_user_name_never_reaches_the_socket() {
    for owner in ["ad\\r\\nmin", "admin/../users", "admin?x=1", "Admin", "a b"] {
        let s = Site::new();
        let (code, out, err, _) =
            s.sync_edited(|t| t.replace("owner = \"admin\"", &format!("owner = \"{owner}\"")));
        assert_eq!(code, 2, "{owner}: {out}\n{err}");
        assert!(
            err.contains("integrations.owner") && err.contains("not a Mattermost user name"),
            "{owner}: {err}"
        );
        s.nothing_changed();
    }
}

// ---- `--dry-run --json`: the plan for scripts, with no secret in it ----------------------

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
