//! `integrations sync`: the declared webhooks and slash commands made real in Mattermost
//! (local mode), then GitLab's project integrations pointed at them (REST API).
//!
//! Idempotent: what exists is compared with what is declared and only differences are
//! written; a second run changes nothing. What `sync` created is recorded in
//! `<state_directory>/state.json`, so it updates rather than duplicates, and only what it
//! created is ever removed (`--prune`). One failing webhook or project does not stop the
//! others; every failure is reported at the end, with what was applied.
//!
//! What a declaration finds set up outside `sync` (after a move off Omnibus: GitLab's
//! integrations, the incoming webhook they post to and the slash command they answer, all
//! moved with the database) is taken over only with `--adopt`: recorded as adopted, brought
//! to the declaration, never deleted. Without it, a project whose GitLab integration is
//! active but not `sync`'s fails untouched, so nothing is duplicated or overwritten unasked.

mod gitlab;
mod local;
mod mattermost;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

use self::gitlab::{is_active, NOTIFICATIONS, SLASH_COMMANDS};
use self::local::Local;
use self::mattermost::{id_of, Directory, Objects};
use self::state::{GitLabApplied, Managed, State};
use super::args::NetArgs;
use super::gitlab::Secret;
use super::{files, tls};
use crate::config_args::ConfigArgs;
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
    /// With --dry-run: print the plan as JSON for scripts (each change with its action:
    /// create, update, remove, adopt, forget, write or configure; what is up to date, no
    /// longer declared, notes and failures). Webhooks are named by the first four characters
    /// of their id; no secret is printed.
    #[arg(long, requires = "dry_run")]
    pub json: bool,
    /// Remove the webhooks, slash commands and GitLab integrations `sync` created that the
    /// config no longer declares (without it they are only reported).
    #[arg(long)]
    pub prune: bool,
    /// Take over what the declarations find set up outside `sync`, as after a move off
    /// Omnibus: a declared project's active Mattermost notifications and slash commands in
    /// GitLab, its slash command in Mattermost (found by GitLab's trigger URL) and, for a
    /// webhook `sync` has not made yet, the one incoming webhook already in its channel.
    /// Each is set as declared and GitLab's webhook URL to this server's address of the
    /// webhook (the moved database keeps webhook ids, so a URL naming the old Mattermost is
    /// repointed). Adopted things are recorded, never removed (--prune only forgets them).
    /// Without it such a project fails, unchanged.
    #[arg(long)]
    pub adopt: bool,
    /// With --adopt: take over this incoming webhook for the declared webhook NAME, when its
    /// channel has several (ID ends the webhook's URL in System Console > Integrations >
    /// Incoming Webhooks). Repeatable.
    #[arg(long, value_name = "NAME=ID", requires = "adopt", value_parser = name_and_id)]
    pub adopt_webhook: Vec<(String, String)>,
    #[command(flatten)]
    pub net: NetArgs,
}

fn name_and_id(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, id)) if !n.trim().is_empty() && !id.trim().is_empty() => {
            Ok((n.trim().to_string(), id.trim().to_string()))
        }
        _ => Err(
            "expected NAME=ID: a webhook name of the config and a Mattermost incoming webhook id"
                .into(),
        ),
    }
}

/// What a run did or would do, said at the end.
#[derive(Default)]
struct Outcome {
    changed: Vec<Change>,
    unchanged: Vec<String>,
    stale: Vec<Stale>,
    notes: Vec<String>,
    failed: Vec<String>,
}

/// One change made (or, with --dry-run, to be made).
struct Change {
    /// create, update, remove, adopt, forget, write (a URL file) or configure (a GitLab
    /// project's integration).
    action: &'static str,
    text: String,
}

/// Something `sync` made that the config no longer declares.
struct Stale {
    text: String,
    /// Adopted: --prune only forgets it.
    adopted: bool,
}

impl Outcome {
    fn change(&mut self, action: &'static str, text: String) {
        self.changed.push(Change { action, text });
    }

    fn not_declared(&mut self, text: String, adopted: bool) {
        self.stale.push(Stale { text, adopted });
    }
}

struct Sync<'a> {
    plan: &'a Plan,
    args: &'a SyncArgs,
    local: Local,
    state_path: PathBuf,
    state: State,
    out: Outcome,
}

/// The files `integrations sync` writes, each with what it is (for messages): its state
/// and each declared webhook's URL file.
pub fn written_files(plan: &Plan) -> Vec<(&'static str, PathBuf)> {
    let i = &plan.config.integrations;
    let mut files = vec![(
        "the state file of `integrations sync`",
        state::file(&i.state_directory),
    )];
    for (name, w) in &i.incoming_webhooks {
        files.push(("the URL file of a webhook", url_file_of(plan, name, w)));
    }
    files
}

fn url_file_of(plan: &Plan, name: &str, w: &IncomingWebhook) -> PathBuf {
    w.url_file.as_ref().map(PathBuf::from).unwrap_or_else(|| {
        Path::new(&plan.config.integrations.state_directory).join(format!("webhook-{name}.url"))
    })
}

/// Mattermost's rule for user names (`model.IsValidUsername`): 1 to 64 of lowercase
/// letters, digits, `.`, `-` and `_`. The owner goes into the path of a request on the
/// local-mode socket, so nothing else may reach it.
const USERNAME_MAX: usize = 64;

fn check_owner(owner: &str) -> Result<(), crate::diag::Diagnostic> {
    let plain = owner
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if !owner.is_empty() && owner.len() <= USERNAME_MAX && plain {
        return Ok(());
    }
    Err(crate::diag::Diagnostic::new(
        "integrations.owner",
        format!("{owner:?} is not a Mattermost user name (1 to {USERNAME_MAX} lowercase letters, digits, `.`, `-` or `_`)"),
    )
    .with_hint("set integrations.owner to the user name of a Mattermost user, as System Console > Users shows it"))
}

/// Everything `sync` would refuse before asking anything of Mattermost or GitLab, at once
/// (exit 2): an owner that is no user name, and files it writes that are not its own (a
/// config file, the token, a secret file the config reads, another file it writes, a
/// symbolic link, a directory, a FIFO, a device).
fn check_inputs(plan: &Plan, args: &SyncArgs) -> Result<(), crate::diag::Diagnostics> {
    use crate::output::target::{inspect_owned_file, same_path};
    use crate::output::Input;
    let mut d = crate::diag::Diagnostics::default();
    let i = &plan.config.integrations;
    if let Some(owner) = &i.owner {
        if let Err(e) = check_owner(owner) {
            d.push(e);
        }
    }
    let mut read = super::gitlab::read_inputs(
        &args.config,
        args.token_file.as_deref(),
        args.net.ca_file.as_deref(),
    );
    read.extend(super::gitlab::secret_files_except(plan, None));
    // The state file last: a URL file naming it is reported at the webhook.
    let mut written = written_files(plan);
    written.rotate_left(1);
    let keys = i
        .incoming_webhooks
        .iter()
        .map(|(name, w)| match w.url_file {
            Some(_) => format!("integrations.incoming_webhooks.{name}.url_file"),
            None => format!("integrations.incoming_webhooks.{name} (its URL file in integrations.state_directory)"),
        })
        .chain(std::iter::once("integrations.state_directory".to_string()));
    for (n, ((_, path), key)) in written.iter().zip(keys).enumerate() {
        // A file shared with one before is reported there.
        if written[..n].iter().any(|(_, p)| same_path(p, path)) {
            continue;
        }
        let mut others = read.clone();
        others.extend(
            written
                .iter()
                .enumerate()
                .filter(|(m, _)| *m != n)
                .map(|(_, (what, p))| Input::new(p, what)),
        );
        if let Err(e) = inspect_owned_file(&key, path, &others) {
            d.push(e);
        }
    }
    d.into_result(())
}

/// Run `integrations sync`; exit 1 when anything failed.
pub fn run(plan: &Plan, args: &SyncArgs) -> Result<ExitCode> {
    check_inputs(plan, args)?;
    let Some(lm) = &plan.local_mode else {
        bail!("`integrations sync` talks to Mattermost over its local-mode socket, and local mode is off: the config sets settings.ServiceSettings.EnableLocalMode = false (it is on by default); remove that line, then run `gitlab-mattermost apply`");
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
        let needs_gitlab = !i.gitlab_projects.is_empty()
            || (self.args.prune && !self.state.gitlab_projects.is_empty());
        // A missing token stops the run only after the webhooks are synced.
        let gitlab = needs_gitlab.then(|| self.gitlab_api());
        let waiting = match gitlab.as_ref().and_then(|g| g.as_ref().ok()) {
            Some(api) if !self.args.adopt => self.set_up_elsewhere(api),
            _ => BTreeMap::new(),
        };
        for (name, w) in &i.incoming_webhooks {
            if let Some(project) = waiting.get(name) {
                if !self.state.webhooks.contains_key(name) {
                    self.out.notes.push(format!("webhook {name} was not created: GitLab project {project} already posts to a webhook set up outside `sync`, which --adopt takes over"));
                    continue;
                }
            }
            if let Err(e) = self.webhook(&mut dir, owner.as_deref(), name, w) {
                self.out.failed.push(format!("webhook {name}: {e:#}"));
            }
        }
        let gitlab = gitlab.transpose()?;
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

    /// The webhooks (by name, with a project) of declared projects whose GitLab
    /// notifications are active but not `sync`'s: without `--adopt` they are not created, so
    /// that a first run after a move adds nothing beside what `--adopt` will take over. A
    /// project GitLab cannot answer for is left to the main pass, which reports it.
    fn set_up_elsewhere(&self, api: &gitlab::Api) -> BTreeMap<String, String> {
        let mut waiting = BTreeMap::new();
        for (path, p) in &self.plan.config.integrations.gitlab_projects {
            let ours = self
                .state
                .gitlab_projects
                .get(path)
                .is_some_and(|a| a.webhook_sha256.is_some() || a.notifications_adopted);
            if ours {
                continue;
            }
            let found = api
                .project_id(path)
                .and_then(|id| api.integration(path, id, NOTIFICATIONS));
            if let Ok(f) = found {
                if is_active(f.as_ref()) {
                    waiting.insert(p.webhook.clone(), path.clone());
                }
            }
        }
        waiting
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
        Ok(gitlab::Api::new(crate::gitlab::Api::new(
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
        self.out.change(
            "update",
            format!("{}update {label}: {}", self.would(), diff.join(", ")),
        );
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
            adopted: false,
        };
        kind.managed_mut(&mut self.state)
            .insert(key.to_string(), managed);
        self.save()?;
        if let Some(old) = replaces {
            if old.adopted {
                self.out.notes.push(format!(
                    "the {} {} adopted before stays in its team: `sync` did not create it",
                    objects.noun, key
                ));
            } else {
                objects.delete(&old.id)?;
            }
        }
        Ok(created)
    }

    /// Record `found` under `key` as adopted (saved at once) and bring it to `wanted`.
    fn adopt(
        &mut self,
        kind: Kind,
        key: &str,
        team_id: &str,
        found: Value,
        wanted: &Map<String, Value>,
        label: &str,
    ) -> Result<Value> {
        let managed = Managed {
            id: id_of(&found),
            team_id: team_id.to_string(),
            adopted: true,
        };
        // On a dry run too, in memory only: the rest of the run then sees it.
        kind.managed_mut(&mut self.state)
            .insert(key.to_string(), managed);
        self.save()?;
        self.update_if_changed(kind, found, wanted, label)
    }

    /// Ids `sync` already manages of this kind: never adopted a second time.
    fn taken(&self, kind: Kind) -> BTreeSet<String> {
        kind.managed(&self.state)
            .values()
            .map(|m| m.id.clone())
            .collect()
    }

    /// The incoming webhook to adopt for `name`: the one `--adopt-webhook` names, else the
    /// only one in its channel `sync` does not manage. Without `--adopt`, a note when the
    /// channel has some.
    fn adoptable_webhook(
        &mut self,
        name: &str,
        w: &IncomingWebhook,
        team_id: &str,
        channel_id: &str,
    ) -> Result<Option<Value>> {
        let where_ = format!("{}/{}", w.team, w.channel);
        let taken = self.taken(Kind::Webhook);
        let hooks = Kind::Webhook.objects(&self.local);
        let named = self.args.adopt_webhook.iter().find(|(n, _)| n == name);
        if let Some((_, id)) = named {
            let Some(f) = hooks.get(id)? else {
                bail!("--adopt-webhook {name}=…: Mattermost has no incoming webhook with that id");
            };
            if f.get("team_id").and_then(Value::as_str) != Some(team_id) {
                bail!("--adopt-webhook {name}=…: that incoming webhook belongs to another team than {} (Mattermost cannot move a webhook to another team)", w.team);
            }
            if taken.contains(id) {
                bail!("--adopt-webhook {name}=…: `sync` already manages that incoming webhook under another name");
            }
            return Ok(Some(f));
        }
        let mut others: Vec<Value> = hooks
            .in_team(team_id)?
            .into_iter()
            .filter(|h| h.get("channel_id").and_then(Value::as_str) == Some(channel_id))
            .filter(|h| !taken.contains(&id_of(h)))
            .collect();
        if others.is_empty() {
            return Ok(None);
        }
        let shown = others.iter().map(shown_name).collect::<Vec<_>>().join(", ");
        if !self.args.adopt {
            self.out.notes.push(format!(
                "{where_} already has {} incoming webhook(s) `sync` did not create ({shown}); after a move off Omnibus, --adopt takes over the one GitLab posts to instead of creating webhook {name}",
                others.len()
            ));
            return Ok(None);
        }
        if others.len() > 1 {
            bail!(
                "{where_} has {} incoming webhooks `sync` did not create ({shown}) and --adopt cannot tell which one GitLab posts to: name it with --adopt-webhook {name}=ID (ID ends its URL in System Console > Integrations > Incoming Webhooks); nothing was created",
                others.len()
            );
        }
        Ok(others.pop())
    }

    fn url_file(&self, name: &str, w: &IncomingWebhook) -> PathBuf {
        url_file_of(self.plan, name, w)
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
            // Never made, or deleted in Mattermost since: one set up outside `sync` may be
            // adopted.
            None => match self.adoptable_webhook(name, w, &team_id, &channel_id)? {
                Some(f) => {
                    self.out.change("adopt", format!(
                            "{}adopt webhook {name}: the incoming webhook {} in {where_}, set up outside `sync` (its id, and so its URL path, stays)",
                            self.would(),
                            shown_name(&f)
                        ));
                    let label = format!("webhook {name} ({where_})");
                    let adopted = self.adopt(Kind::Webhook, name, &team_id, f, &wanted, &label)?;
                    id_of(&adopted)
                }
                None => {
                    self.out.change(
                        "create",
                        format!("{}create webhook {name} in {where_}", self.would()),
                    );
                    if self.args.dry_run {
                        return Ok(());
                    }
                    let mut body = wanted.clone();
                    body.insert("user_id".into(), json!(owner.unwrap_or_default()));
                    id_of(&self.create(Kind::Webhook, name, &team_id, &body, None)?)
                }
            },
            other => {
                let moved = other.is_some();
                self.out.change("create", format!(
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
        self.out.change(
            "write",
            format!(
                "{}write the URL of webhook {name} to {}",
                self.would(),
                file.display()
            ),
        );
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
        let ours = applied.webhook_sha256.is_some() || applied.notifications_adopted;
        if is_active(found.as_ref()) && !ours {
            if !self.args.adopt {
                bail!(
                    "GitLab already has active Mattermost notifications for it that `sync` did not set up (after a move off Omnibus: the old server's, posting to its webhook URL); nothing of this project was changed. Rerun with --adopt (see it first with --dry-run --adopt) to take them over: they are then set as declared, pointed at this server's webhook {}, and never removed by --prune",
                    p.webhook
                );
            }
            applied.notifications_adopted = true;
            let hook_adopted = self
                .state
                .webhooks
                .get(&p.webhook)
                .is_some_and(|m| m.adopted);
            let whose = if hook_adopted {
                format!("webhook {} (adopted: the id the old server's URL names, since the database moved with it), so a URL naming the old Mattermost is repointed to this one", p.webhook)
            } else {
                format!(
                    "webhook {}, which `sync` made (GitLab never shows the URL it had)",
                    p.webhook
                )
            };
            self.out.change("adopt", format!(
                "{}adopt GitLab {path}: Mattermost notifications, set up outside `sync`; their webhook URL is set to this server's address of {whose}",
                self.would()
            ));
        }
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
            self.out.change(
                "configure",
                format!(
                    "{}set up GitLab {path}: Mattermost notifications to webhook {}: {}",
                    self.would(),
                    p.webhook,
                    diff.join(", ")
                ),
            );
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
        let applied = self
            .state
            .gitlab_projects
            .get(path)
            .cloned()
            .unwrap_or_default();
        let in_gitlab = api.integration(path, project_id, SLASH_COMMANDS)?;
        let foreign = is_active(in_gitlab.as_ref())
            && applied.token_sha256.is_none()
            && !applied.slash_commands_adopted;
        if foreign && !self.args.adopt {
            bail!("GitLab already has active Mattermost slash commands for it that `sync` did not set up (after a move off Omnibus: answering the old server's command); rerun with --adopt (see it first with --dry-run --adopt) to take them over with the project's slash command in Mattermost");
        }
        let (managed, found) = self.find(Kind::Command, path)?;
        let label = format!("slash command /{trigger} ({team}) of {path}");
        let adoptable = match &found {
            None => self.adoptable_command(&team, &team_id, project_id)?,
            Some(_) => None,
        };
        let command = match (found, adoptable) {
            (_, Some(f)) => {
                self.out.change("adopt", format!(
                    "{}adopt slash command /{} ({team}) of {path}: it calls GitLab's trigger of this project and was set up outside `sync`",
                    self.would(),
                    f.get("trigger").and_then(Value::as_str).unwrap_or_default()
                ));
                self.adopt(Kind::Command, path, &team_id, f, &wanted, &label)?
            }
            (Some(f), None) if f.get("team_id").and_then(Value::as_str) == Some(&team_id) => {
                self.update_if_changed(Kind::Command, f, &wanted, &label)?
            }
            (other, None) => {
                self.out.change(
                    "create",
                    format!(
                        "{}create slash command /{trigger} in team {team} for {path}",
                        self.would()
                    ),
                );
                if self.args.dry_run {
                    self.out.change("configure", format!("would set up GitLab {path}: Mattermost slash commands with the new command's token"));
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
        let active = is_active(in_gitlab.as_ref());
        let digest = state::digest(&token);
        let recorded = applied.token_sha256.clone();
        if foreign {
            self.out.change("adopt", format!(
                "{}adopt GitLab {path}: Mattermost slash commands, set up outside `sync`; given the token of /{trigger}",
                self.would()
            ));
        }
        if active && recorded.as_deref() == Some(digest.as_str()) {
            self.out
                .unchanged
                .push(format!("GitLab {path}: Mattermost slash commands"));
            return Ok(());
        }
        self.out.change(
            "configure",
            format!(
                "{}set up GitLab {path}: Mattermost slash commands with the token of /{trigger}",
                self.would()
            ),
        );
        if !self.args.dry_run {
            api.put_integration(path, project_id, SLASH_COMMANDS, &json!({"token": token}))?;
            if let Some(a) = self.state.gitlab_projects.get_mut(path) {
                a.token_sha256 = Some(digest);
                a.slash_commands_adopted |= foreign;
            }
            self.save()?;
        }
        Ok(())
    }

    /// The slash command in `team` that calls this project's GitLab trigger and that `sync`
    /// does not manage: adopted with `--adopt`, refused without it (a second command for the
    /// project would at best duplicate it).
    fn adoptable_command(
        &mut self,
        team: &str,
        team_id: &str,
        project_id: u64,
    ) -> Result<Option<Value>> {
        let taken = self.taken(Kind::Command);
        let commands = Kind::Command.objects(&self.local);
        let mut theirs: Vec<Value> = commands
            .in_team(team_id)?
            .into_iter()
            .filter(|c| {
                c.get("url")
                    .and_then(Value::as_str)
                    .is_some_and(|u| gitlab::triggers(u, project_id))
            })
            .filter(|c| !taken.contains(&id_of(c)))
            .collect();
        let shown = theirs
            .iter()
            .map(|c| {
                format!(
                    "/{}",
                    c.get("trigger").and_then(Value::as_str).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        match theirs.len() {
            0 => Ok(None),
            _ if !self.args.adopt => bail!(
                "team {team} already has the slash command {shown} for this project, set up outside `sync` (after a move off Omnibus: the old server's); rerun with --adopt (see it first with --dry-run --adopt) to take it over instead of adding another"
            ),
            1 => match theirs.pop() {
                // The listing may leave the token out: read the command itself.
                Some(c) => commands.get(&id_of(&c)),
                None => Ok(None),
            },
            n => bail!(
                "team {team} has {n} slash commands calling this project's GitLab trigger, set up outside `sync` ({shown}); --adopt cannot tell which GitLab answers: delete the unused ones in Mattermost's Integrations > Slash Commands, then rerun"
            ),
        }
    }

    /// A project's slash command `sync` made that is no longer declared.
    fn stale_command(&mut self, api: &gitlab::Api, path: &str) -> Result<()> {
        let Some(m) = self.state.commands.get(path).cloned() else {
            return Ok(());
        };
        let gitlab_adopted = self
            .state
            .gitlab_projects
            .get(path)
            .is_some_and(|a| a.slash_commands_adopted);
        if !self.args.prune || self.args.dry_run {
            self.out.not_declared(
                format!(
                    "slash command {} of {path} (and GitLab's slash commands integration) is no longer declared",
                    m.id
                ),
                m.adopted && gitlab_adopted,
            );
            return Ok(());
        }
        let commands = Kind::Command.objects(&self.local);
        let mut kept = Vec::new();
        match self.state.gitlab_projects.get(path) {
            Some(_) if gitlab_adopted => kept.push("GitLab's slash commands integration"),
            Some(a) => api.delete_integration(path, a.project_id, SLASH_COMMANDS)?,
            None => {}
        }
        if m.adopted {
            kept.push("the slash command");
        } else {
            commands.delete(&m.id)?;
        }
        self.state.commands.remove(path);
        if let Some(a) = self.state.gitlab_projects.get_mut(path) {
            a.token_sha256 = None;
            a.slash_commands_adopted = false;
        }
        self.save()?;
        self.out.change(
            "remove",
            if kept.is_empty() {
                format!(
                    "removed slash command {} of {path} and GitLab's slash commands integration",
                    m.id
                )
            } else {
                format!(
                    "forgot slash command {} of {path}; {} adopted, so left in place",
                    m.id,
                    kept.join(" and ")
                )
            },
        );
        Ok(())
    }

    /// What --prune does: remove, or only forget what was adopted.
    fn prune_hint_for(&self, adopted: bool) -> &'static str {
        match (self.args.dry_run && self.args.prune, adopted) {
            (true, false) => ": would remove it",
            (true, true) => ": would forget it (adopted, so it stays)",
            (false, false) => ": run with --prune to remove it",
            (false, true) => ": run with --prune to forget it (adopted, so it stays)",
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
                self.out.not_declared(
                    format!(
                        "webhook {name} ({}) is no longer declared",
                        mattermost::webhook_label(&m.id)
                    ),
                    m.adopted,
                );
                continue;
            }
            if m.adopted {
                self.state.webhooks.remove(&name);
                self.save()?;
                self.out.change(
                    "forget",
                    format!(
                        "forgot webhook {name} ({}): adopted, so it stays in Mattermost",
                        mattermost::webhook_label(&m.id)
                    ),
                );
                continue;
            }
            match hooks.delete(&m.id) {
                Ok(()) => {
                    self.state.webhooks.remove(&name);
                    self.save()?;
                    self.out.change(
                        "remove",
                        format!(
                            "removed webhook {name} ({})",
                            mattermost::webhook_label(&m.id)
                        ),
                    );
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
            let all_adopted =
                a.notifications_adopted && (a.slash_commands_adopted || a.token_sha256.is_none());
            if !self.args.prune || self.args.dry_run {
                self.out.not_declared(
                    format!(
                        "GitLab project {path} (id {}) is no longer declared: its Mattermost integrations stay",
                        a.project_id
                    ),
                    all_adopted,
                );
                if let Some(c) = self.state.commands.get(&path) {
                    self.out.not_declared(
                        format!("slash command {} of {path} is no longer declared", c.id),
                        false,
                    );
                }
                continue;
            }
            let Some(api) = gitlab else { continue };
            let result = (|| -> Result<()> {
                if !a.notifications_adopted {
                    api.delete_integration(&path, a.project_id, NOTIFICATIONS)?;
                }
                if self.state.commands.contains_key(&path) {
                    self.stale_command(api, &path)?;
                }
                if !a.slash_commands_adopted {
                    api.delete_integration(&path, a.project_id, SLASH_COMMANDS)?;
                }
                Ok(())
            })();
            match result {
                Ok(()) => {
                    self.state.gitlab_projects.remove(&path);
                    self.save()?;
                    let action = if a.notifications_adopted && a.slash_commands_adopted {
                        "forget"
                    } else {
                        "remove"
                    };
                    self.out.change(
                        action,
                        match (a.notifications_adopted, a.slash_commands_adopted) {
                            (false, false) => format!(
                                "removed the Mattermost integrations of GitLab project {path}"
                            ),
                            (true, true) => format!("forgot GitLab project {path}: its Mattermost integrations were adopted, so they stay"),
                            (true, false) => format!("forgot GitLab project {path}: its adopted Mattermost notifications stay; what `sync` set up of its slash commands is removed"),
                            (false, true) => format!("removed the Mattermost notifications of GitLab project {path}; its adopted slash commands stay"),
                        },
                    );
                }
                Err(e) => self
                    .out
                    .failed
                    .push(format!("GitLab project {path}: {e:#}")),
            }
        }
        Ok(())
    }

    /// The plan for scripts (`--dry-run --json`). Every full webhook id `sync` knows is
    /// redacted from it, should a message ever carry one.
    fn plan_json(&self) -> String {
        let mut redactor = super::http::Redactor::new();
        for m in self.state.webhooks.values() {
            redactor.add(&m.id);
        }
        let r = |t: &str| redactor.redact(t);
        let o = &self.out;
        let mut changes: Vec<Value> = o
            .changed
            .iter()
            .map(|c| json!({"action": c.action, "what": r(&c.text)}))
            .collect();
        let mut not_declared = Vec::new();
        for st in &o.stale {
            if self.args.prune {
                let action = if st.adopted { "forget" } else { "remove" };
                changes.push(json!({"action": action, "what": r(&st.text)}));
            } else {
                not_declared.push(json!({"what": r(&st.text), "adopted": st.adopted}));
            }
        }
        let texts = |list: &[String]| list.iter().map(|t| r(t)).collect::<Vec<_>>();
        let v = json!({
            "dry_run": self.args.dry_run,
            "ok": o.failed.is_empty(),
            "changes": changes,
            "up_to_date": texts(&o.unchanged),
            "not_declared": not_declared,
            "notes": texts(&o.notes),
            "failed": texts(&o.failed),
            "state_file": self.state_path.display().to_string(),
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    fn report(&self) -> ExitCode {
        let o = &self.out;
        if self.args.json {
            println!("{}", self.plan_json());
            return if o.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
        }
        for c in &o.changed {
            println!("{}", c.text);
        }
        for line in &o.unchanged {
            println!("up to date: {line}");
        }
        for st in &o.stale {
            println!(
                "not declared: {}{}",
                st.text,
                self.prune_hint_for(st.adopted)
            );
        }
        for line in &o.notes {
            println!("note: {line}");
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

/// An object as messages name it: its display name (never its id, which for a webhook is
/// its secret).
fn shown_name(object: &Value) -> String {
    let name = object
        .get("display_name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("(no display name)");
    format!("{name:?}")
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
