//! `integrations sync`: the declared webhooks and slash commands made real in Mattermost
//! (local mode), then GitLab's project integrations pointed at them (REST API).
//!
//! Idempotent: what exists is compared with what is declared and only differences are
//! written; a second run changes nothing. What `sync` created is recorded in
//! `<state_directory>/state.json`, so it updates rather than duplicates, and only what it
//! created is ever removed (`--prune`). One failing webhook or project does not stop the
//! others; every failure is reported at the end, with what was applied.

mod gitlab;
mod local;
mod mattermost;
mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

use self::gitlab::{NOTIFICATIONS, SLASH_COMMANDS};
use self::local::Local;
use self::mattermost::{id_of, Directory, Objects};
use self::state::{GitLabApplied, Managed, State};
use super::args::NetArgs;
use super::gitlab::Secret;
use super::{files, tls};
use crate::cli::ConfigArgs;
use crate::schema::{GitLabProject, IncomingWebhook};
use crate::validate::integrations::trigger_of;
use crate::validate::Plan;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// File holding a GitLab personal access token (scope api) of a Maintainer of every
    /// declared project, or of an administrator. Needed when GitLab projects are declared.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove the webhooks, slash commands and GitLab integrations `sync` created that the
    /// config no longer declares (without it they are only reported).
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// What a run did or would do, said at the end.
#[derive(Default)]
struct Outcome {
    changed: Vec<String>,
    unchanged: Vec<String>,
    stale: Vec<String>,
    failed: Vec<String>,
}

struct Sync<'a> {
    plan: &'a Plan,
    args: &'a SyncArgs,
    local: Local,
    state_path: PathBuf,
    state: State,
    out: Outcome,
}

/// Run `integrations sync`; exit 1 when anything failed.
pub fn run(plan: &Plan, args: &SyncArgs) -> Result<ExitCode> {
    let Some(lm) = &plan.local_mode else {
        bail!("`integrations sync` talks to Mattermost over its local-mode socket, and local mode is off: set settings.ServiceSettings.EnableLocalMode = true, then run `gitlab-mattermost apply`");
    };
    let i = &plan.config.integrations;
    let state_path = state::file(&i.state_directory);
    let mut sync = Sync {
        plan,
        args,
        local: Local {
            socket: lm.socket.clone(),
            timeout: args.net.timeout(),
        },
        state: state::load(&state_path)?,
        state_path,
        out: Outcome::default(),
    };
    sync.run()?;
    Ok(sync.report())
}

impl Sync<'_> {
    fn would(&self) -> &'static str {
        if self.args.dry_run {
            "would "
        } else {
            ""
        }
    }

    fn save(&self) -> Result<()> {
        if self.args.dry_run {
            return Ok(());
        }
        state::save(&self.state_path, &self.state)
    }

    fn run(&mut self) -> Result<()> {
        let i = &self.plan.config.integrations;
        let declared = !i.incoming_webhooks.is_empty() || !i.gitlab_projects.is_empty();
        let local = Local {
            socket: self.local.socket.clone(),
            timeout: self.local.timeout,
        };
        let mut dir = Directory::new(&local);
        let owner = match (&i.owner, declared) {
            (Some(o), true) => Some(dir.user(o)?),
            _ => None,
        };
        for (name, w) in &i.incoming_webhooks {
            if let Err(e) = self.webhook(&mut dir, owner.as_deref(), name, w) {
                self.out.failed.push(format!("webhook {name}: {e:#}"));
            }
        }
        let needs_gitlab = !i.gitlab_projects.is_empty()
            || (self.args.prune && !self.state.gitlab_projects.is_empty());
        let gitlab = if needs_gitlab {
            Some(self.gitlab_api()?)
        } else {
            None
        };
        if let Some(api) = &gitlab {
            for (path, p) in &i.gitlab_projects {
                if let Err(e) = self.project(api, &mut dir, owner.as_deref(), path, p) {
                    self.out
                        .failed
                        .push(format!("GitLab project {path}: {e:#}"));
                }
            }
        }
        self.stale(&local, gitlab.as_ref())
    }

    fn gitlab_api(&self) -> Result<gitlab::Api> {
        let Some(url) = &self.plan.config.gitlab.url else {
            bail!("gitlab.url is not set");
        };
        let Some(token_file) = &self.args.token_file else {
            bail!("GitLab projects are declared: give a GitLab token with --token-file FILE (scope api, Maintainer of the projects or an administrator)");
        };
        let token = Secret(files::read_secret(token_file).context("--token-file")?);
        let roots = tls::trusted_roots(self.args.net.ca_file.as_deref())?;
        Ok(gitlab::Api::new(crate::ops::gitlab::Api::new(
            url,
            token,
            &roots,
            self.args.net.timeout(),
        )))
    }

    /// What `sync` recorded for `key`, and the object Mattermost still has under that id.
    fn find(&self, kind: Kind, key: &str) -> Result<(Option<Managed>, Option<Value>)> {
        let managed = kind.managed(&self.state).get(key).cloned();
        let found = match &managed {
            Some(m) => kind.objects(&self.local).get(&m.id)?,
            None => None,
        };
        Ok((managed, found))
    }

    /// Bring `found` up to `wanted`, reported as `label`; the object as Mattermost then has it
    /// (as found, when nothing differs or on a dry run).
    fn update_if_changed(
        &mut self,
        kind: Kind,
        found: Value,
        wanted: &Map<String, Value>,
        label: &str,
    ) -> Result<Value> {
        let diff = mattermost::differing(wanted, &found);
        if diff.is_empty() {
            self.out.unchanged.push(label.to_string());
            return Ok(found);
        }
        self.out.changed.push(format!(
            "{}update {label}: {}",
            self.would(),
            diff.join(", ")
        ));
        if self.args.dry_run {
            return Ok(found);
        }
        kind.objects(&self.local).update(&found, wanted)
    }

    /// Create `body` in Mattermost, record it under `key` (saved at once, so a rerun updates
    /// rather than duplicates), then delete the object it `replaces` (one that moved team).
    fn create(
        &mut self,
        kind: Kind,
        key: &str,
        team_id: &str,
        body: &Map<String, Value>,
        replaces: Option<&Managed>,
    ) -> Result<Value> {
        let objects = kind.objects(&self.local);
        let created = objects.create(body)?;
        let managed = Managed {
            id: id_of(&created),
            team_id: team_id.to_string(),
        };
        kind.managed_mut(&mut self.state)
            .insert(key.to_string(), managed);
        self.save()?;
        if let Some(old) = replaces {
            objects.delete(&old.id)?;
        }
        Ok(created)
    }

    fn url_file(&self, name: &str, w: &IncomingWebhook) -> PathBuf {
        w.url_file.as_ref().map(PathBuf::from).unwrap_or_else(|| {
            Path::new(&self.plan.config.integrations.state_directory)
                .join(format!("webhook-{name}.url"))
        })
    }

    fn webhook_url(&self, id: &str) -> String {
        format!(
            "{}/hooks/{id}",
            self.plan.site_url.url.trim_end_matches('/')
        )
    }

    /// One incoming webhook: found by the id `sync` recorded, else created.
    fn webhook(
        &mut self,
        dir: &mut Directory,
        owner: Option<&str>,
        name: &str,
        w: &IncomingWebhook,
    ) -> Result<()> {
        let team_id = dir.team(&w.team)?;
        let channel_id = dir.channel(&w.team, &w.channel)?;
        let wanted = mattermost::webhook_fields(name, w, &channel_id);
        let (managed, found) = self.find(Kind::Webhook, name)?;
        let where_ = format!("{}/{}", w.team, w.channel);
        let id = match found {
            Some(f) if f.get("team_id").and_then(Value::as_str) == Some(&team_id) => {
                let label = format!("webhook {name} ({where_})");
                id_of(&self.update_if_changed(Kind::Webhook, f, &wanted, &label)?)
            }
            other => {
                let moved = other.is_some();
                self.out.changed.push(format!(
                    "{}create webhook {name} in {where_}{}",
                    self.would(),
                    if moved { " (it moved to another team, which Mattermost cannot update: the old one is deleted)" } else { "" }
                ));
                if self.args.dry_run {
                    return Ok(());
                }
                let mut body = wanted.clone();
                body.insert("user_id".into(), json!(owner.unwrap_or_default()));
                let replaces = managed.as_ref().filter(|_| moved);
                let created = self.create(Kind::Webhook, name, &team_id, &body, replaces)?;
                id_of(&created)
            }
        };
        self.write_url(name, w, &id)
    }

    /// The webhook's URL, root-only: GitLab is given it from there.
    fn write_url(&mut self, name: &str, w: &IncomingWebhook, id: &str) -> Result<()> {
        let file = self.url_file(name, w);
        let url = self.webhook_url(id);
        if files::read_optional(&file)?.as_deref() == Some(url.as_str()) {
            return Ok(());
        }
        self.out.changed.push(format!(
            "{}write the URL of webhook {name} to {}",
            self.would(),
            file.display()
        ));
        if !self.args.dry_run {
            files::write_secret(&file, &url)?;
        }
        Ok(())
    }

    /// One GitLab project: its notifications, then its slash command.
    fn project(
        &mut self,
        api: &gitlab::Api,
        dir: &mut Directory,
        owner: Option<&str>,
        path: &str,
        p: &GitLabProject,
    ) -> Result<()> {
        let i = &self.plan.config.integrations;
        let hook = i
            .incoming_webhooks
            .get(&p.webhook)
            .with_context(|| format!("webhook {} is not declared", p.webhook))?;
        let project_id = api.project_id(path)?;
        let mut applied = self
            .state
            .gitlab_projects
            .get(path)
            .cloned()
            .unwrap_or(GitLabApplied {
                project_id,
                ..Default::default()
            });
        applied.project_id = project_id;
        let url_file = self.url_file(&p.webhook, hook);
        let url = files::read_optional(&url_file)?;
        let wanted = gitlab::notification_fields(p);
        let found = api.integration(path, project_id, NOTIFICATIONS)?;
        let mut diff = match &found {
            Some(f) => gitlab::differing(&wanted, f),
            None => vec!["not set up".to_string()],
        };
        if found
            .as_ref()
            .and_then(|f| f.get("active"))
            .and_then(Value::as_bool)
            == Some(false)
        {
            diff.push("active".into());
        }
        let url_digest = url.as_deref().map(state::digest);
        if url_digest.is_none() || url_digest != applied.webhook_sha256 {
            diff.push(format!("webhook (from {})", url_file.display()));
        }
        if diff.is_empty() {
            self.out
                .unchanged
                .push(format!("GitLab {path}: Mattermost notifications"));
        } else {
            self.out.changed.push(format!(
                "{}set up GitLab {path}: Mattermost notifications to webhook {}: {}",
                self.would(),
                p.webhook,
                diff.join(", ")
            ));
            if !self.args.dry_run {
                let Some(url) = &url else {
                    bail!(
                        "the URL of webhook {} is not in {} (its creation failed?)",
                        p.webhook,
                        url_file.display()
                    );
                };
                let mut body = wanted.clone();
                body.insert("webhook".into(), json!(url));
                api.put_integration(path, project_id, NOTIFICATIONS, &Value::Object(body))?;
                applied.webhook_sha256 = url_digest;
                self.state
                    .gitlab_projects
                    .insert(path.to_string(), applied.clone());
                self.save()?;
            }
        }
        self.state
            .gitlab_projects
            .entry(path.to_string())
            .or_insert(applied);
        if p.slash_commands.enable {
            self.slash_command(api, dir, owner, path, p, &hook.team, project_id)?;
        } else if self.state.commands.contains_key(path) {
            self.stale_command(api, path)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn slash_command(
        &mut self,
        api: &gitlab::Api,
        dir: &mut Directory,
        owner: Option<&str>,
        path: &str,
        p: &GitLabProject,
        hook_team: &str,
        project_id: u64,
    ) -> Result<()> {
        let s = &p.slash_commands;
        let team = s.team.clone().unwrap_or_else(|| hook_team.to_string());
        let team_id = dir.team(&team)?;
        let trigger = trigger_of(path, s.trigger.as_deref());
        let gitlab_url = self.plan.config.gitlab.url.clone().unwrap_or_default();
        let wanted = mattermost::command_fields(
            path,
            &trigger,
            &gitlab::trigger_url(&gitlab_url, project_id),
            &s.username,
            s.auto_complete,
        );
        let (managed, found) = self.find(Kind::Command, path)?;
        let command = match found {
            Some(f) if f.get("team_id").and_then(Value::as_str) == Some(&team_id) => {
                let label = format!("slash command /{trigger} ({team}) of {path}");
                self.update_if_changed(Kind::Command, f, &wanted, &label)?
            }
            other => {
                self.out.changed.push(format!(
                    "{}create slash command /{trigger} in team {team} for {path}",
                    self.would()
                ));
                if self.args.dry_run {
                    self.out.changed.push(format!("would set up GitLab {path}: Mattermost slash commands with the new command's token"));
                    return Ok(());
                }
                let mut body: Map<String, Value> = wanted.clone();
                body.insert("team_id".into(), json!(team_id));
                body.insert("creator_id".into(), json!(owner.unwrap_or_default()));
                let replaces = managed.as_ref().filter(|_| other.is_some());
                self.create(Kind::Command, path, &team_id, &body, replaces)?
            }
        };
        let token = command
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if token.is_empty() {
            bail!("Mattermost did not show the token of slash command /{trigger}");
        }
        let found = api.integration(path, project_id, SLASH_COMMANDS)?;
        let active = found
            .as_ref()
            .and_then(|f| f.get("active"))
            .and_then(Value::as_bool)
            == Some(true);
        let digest = state::digest(&token);
        let recorded = self
            .state
            .gitlab_projects
            .get(path)
            .and_then(|a| a.token_sha256.clone());
        if active && recorded.as_deref() == Some(digest.as_str()) {
            self.out
                .unchanged
                .push(format!("GitLab {path}: Mattermost slash commands"));
            return Ok(());
        }
        self.out.changed.push(format!(
            "{}set up GitLab {path}: Mattermost slash commands with the token of /{trigger}",
            self.would()
        ));
        if !self.args.dry_run {
            api.put_integration(path, project_id, SLASH_COMMANDS, &json!({"token": token}))?;
            if let Some(a) = self.state.gitlab_projects.get_mut(path) {
                a.token_sha256 = Some(digest);
            }
            self.save()?;
        }
        Ok(())
    }

    /// A project's slash command `sync` made that is no longer declared.
    fn stale_command(&mut self, api: &gitlab::Api, path: &str) -> Result<()> {
        let Some(m) = self.state.commands.get(path).cloned() else {
            return Ok(());
        };
        if !self.args.prune || self.args.dry_run {
            self.out.stale.push(format!("slash command {} of {path} (and GitLab's slash commands integration) is no longer declared{}", m.id, self.prune_hint()));
            return Ok(());
        }
        let commands = Kind::Command.objects(&self.local);
        if let Some(a) = self.state.gitlab_projects.get(path) {
            api.delete_integration(path, a.project_id, SLASH_COMMANDS)?;
        }
        commands.delete(&m.id)?;
        self.state.commands.remove(path);
        if let Some(a) = self.state.gitlab_projects.get_mut(path) {
            a.token_sha256 = None;
        }
        self.save()?;
        self.out.changed.push(format!(
            "removed slash command {} of {path} and GitLab's slash commands integration",
            m.id
        ));
        Ok(())
    }

    fn prune_hint(&self) -> &'static str {
        if self.args.dry_run && self.args.prune {
            ": would remove it"
        } else {
            ": run with --prune to remove it"
        }
    }

    /// What `sync` created that the config no longer declares.
    fn stale(&mut self, local: &Local, gitlab: Option<&gitlab::Api>) -> Result<()> {
        let i = &self.plan.config.integrations;
        let hooks = Kind::Webhook.objects(local);
        let gone: Vec<(String, Managed)> = self
            .state
            .webhooks
            .iter()
            .filter(|(n, _)| !i.incoming_webhooks.contains_key(*n))
            .map(|(n, m)| (n.clone(), m.clone()))
            .collect();
        for (name, m) in gone {
            if !self.args.prune || self.args.dry_run {
                self.out.stale.push(format!(
                    "webhook {name} ({}) is no longer declared{}",
                    m.id,
                    self.prune_hint()
                ));
                continue;
            }
            match hooks.delete(&m.id) {
                Ok(()) => {
                    self.state.webhooks.remove(&name);
                    self.save()?;
                    self.out
                        .changed
                        .push(format!("removed webhook {name} ({})", m.id));
                }
                Err(e) => self.out.failed.push(format!("webhook {name}: {e:#}")),
            }
        }
        let projects: Vec<(String, GitLabApplied)> = self
            .state
            .gitlab_projects
            .iter()
            .filter(|(p, _)| !i.gitlab_projects.contains_key(*p))
            .map(|(p, a)| (p.clone(), a.clone()))
            .collect();
        for (path, a) in projects {
            if !self.args.prune || self.args.dry_run {
                self.out.stale.push(format!("GitLab project {path} (id {}) is no longer declared: its Mattermost integrations stay{}", a.project_id, self.prune_hint()));
                if let Some(c) = self.state.commands.get(&path) {
                    self.out.stale.push(format!(
                        "slash command {} of {path} is no longer declared{}",
                        c.id,
                        self.prune_hint()
                    ));
                }
                continue;
            }
            let Some(api) = gitlab else { continue };
            let result = (|| -> Result<()> {
                api.delete_integration(&path, a.project_id, NOTIFICATIONS)?;
                if self.state.commands.contains_key(&path) {
                    self.stale_command(api, &path)?;
                }
                api.delete_integration(&path, a.project_id, SLASH_COMMANDS)?;
                Ok(())
            })();
            match result {
                Ok(()) => {
                    self.state.gitlab_projects.remove(&path);
                    self.save()?;
                    self.out.changed.push(format!(
                        "removed the Mattermost integrations of GitLab project {path}"
                    ));
                }
                Err(e) => self
                    .out
                    .failed
                    .push(format!("GitLab project {path}: {e:#}")),
            }
        }
        Ok(())
    }

    fn report(&self) -> ExitCode {
        let o = &self.out;
        for line in &o.changed {
            println!("{line}");
        }
        for line in &o.unchanged {
            println!("up to date: {line}");
        }
        for line in &o.stale {
            println!("not declared: {line}");
        }
        for line in &o.failed {
            eprintln!("error: {line}");
        }
        if o.changed.is_empty() && o.failed.is_empty() {
            println!("no changes");
        }
        if o.failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "{} failed; {} change(s) {}made (listed above) and recorded in {}",
                o.failed.len(),
                o.changed.len(),
                if self.args.dry_run { "would be " } else { "" },
                self.state_path.display()
            );
            ExitCode::from(1)
        }
    }
}

/// The two kinds of Mattermost objects `sync` manages.
#[derive(Clone, Copy)]
enum Kind {
    Webhook,
    Command,
}

impl Kind {
    fn objects(self, api: &Local) -> Objects<'_> {
        let (collection, noun) = match self {
            Kind::Webhook => ("hooks/incoming", "webhook"),
            Kind::Command => ("commands", "slash command"),
        };
        Objects {
            api,
            collection,
            noun,
        }
    }

    /// What `sync` created of this kind: webhooks by name, commands by project path.
    fn managed(self, state: &State) -> &BTreeMap<String, Managed> {
        match self {
            Kind::Webhook => &state.webhooks,
            Kind::Command => &state.commands,
        }
    }

    fn managed_mut(self, state: &mut State) -> &mut BTreeMap<String, Managed> {
        match self {
            Kind::Webhook => &mut state.webhooks,
            Kind::Command => &mut state.commands,
        }
    }
}
