"""integrations: GitLab notifications and slash commands, declared and synced.

A second config file (/etc/gitlab-mattermost.d/integrations.toml) declares an incoming
webhook for the test team's town-square and the stand-in's project `group/project` posting
to it (push and merge-request events) with a slash command. Then:
- `apply` with both files turns on what the integrations need (incoming webhooks, commands,
  the user name override), visible in `env` and live in Mattermost;
- `integrations sync --dry-run` plans and changes nothing; `sync` creates the webhook in the
  declared channel, writes its URL root-only, and sets up both GitLab integrations with
  GitLab's field names (the stand-in holds them);
- a push and a merge-request payload in the format GitLab's Mattermost integration sends,
  posted to the webhook URL, appear as posts in the channel, under the declared user name;
- the slash command, executed in Mattermost, reaches the stand-in's trigger URL with the
  command's token, and GitLab's answer comes back;
- a second sync changes nothing; a Developer's token is refused (403, the project named);
- moved to another team, the webhook and the command are made anew there (Mattermost cannot
  move them), the old ones deleted, and GitLab is given the new URL and token;
- a project removed from the config is reported, and removed with --prune; declared again,
  GitLab's integrations (kept inactive by GitLab) are switched back on.
With a config that turns local mode off, `sync` (which talks to Mattermost over the local-mode
socket) refuses naming it, exit 1, and changes nothing in GitLab.
"""

import json
import time

from harness import site as sites
from harness.context import CONFIG_IN_CONTAINER, expect, expect_local_mode_refusal

EXTRA = "/etc/gitlab-mattermost.d/integrations.toml"
URL_FILE = "/var/lib/gitlab-mattermost/integrations/webhook-gitlab.url"
PROJECT = sites.GITLAB_PROJECT
TRIGGER = "project"
USERNAME = "gitlab-bot"


def config(team, channel, with_project=True):
    text = f"""\
[integrations]
owner = "sysadmin"

[integrations.incoming_webhooks.gitlab]
team = "{team}"
channel = "{channel}"
display_name = "GitLab"
description = "GitLab notifications"
"""
    if with_project:
        text += f"""
[integrations.gitlab_projects."{PROJECT['path']}"]
webhook = "gitlab"
username = "{USERNAME}"
events = ["push", "merge_request"]
notify_only_broken_pipelines = true
branches_to_be_notified = "all"

[integrations.gitlab_projects."{PROJECT['path']}".slash_commands]
enable = true
trigger = "{TRIGGER}"
"""
    return text


def run(ctx):
    team, channel = ctx.team_and_channel()
    ctx.container.run(["mkdir", "-p", "/etc/gitlab-mattermost.d"])
    ctx.container.write(EXTRA, config(team["name"], channel["name"]))
    if not ctx.local_mode:
        return sync_refuses_without_local_mode(ctx)
    facts = [settings_follow(ctx), dry_run_changes_nothing(ctx)]
    facts.append(first_sync(ctx, channel))
    facts.append(gitlab_payloads_become_posts(ctx, channel))
    facts.append(slash_command_reaches_gitlab(ctx, channel))
    facts.append(second_sync_is_a_no_op(ctx))
    facts.append(developer_token_is_refused(ctx))
    facts.append(another_team_replaces_webhook_and_command(ctx, team, channel))
    facts.append(removed_project_is_reported_then_pruned(ctx, team, channel))
    return "; ".join(facts)


def sync(ctx, *extra, token=sites.ADMIN_TOKEN_FILE, check=True):
    return ctx.container.run(["gitlab-mattermost", "integrations", "sync", CONFIG_IN_CONTAINER, EXTRA,
                              "--token-file", token, *extra], check=check)


def sync_refuses_without_local_mode(ctx):
    before = project_state(ctx)
    out = sync(ctx, check=False)
    expect_local_mode_refusal(out, "integrations sync")
    expect(project_state(ctx) == before, "a refused sync changed the project's integrations in GitLab")
    return ("local mode off: integrations sync refuses naming it (exit 1) and GitLab's project is "
            "unchanged; the webhooks and commands it makes are tested with local mode on")


def standin(ctx):
    return json.loads(ctx.container.run(["cat", sites.GITLAB_STATE]).stdout)


def project_state(ctx):
    return standin(ctx)["projects"][PROJECT["path"]]


def settings_follow(ctx):
    env = ctx.container.run(["gitlab-mattermost", "env", CONFIG_IN_CONTAINER, EXTRA]).stdout
    for line in ("MM_SERVICESETTINGS_ENABLEINCOMINGWEBHOOKS=true", "MM_SERVICESETTINGS_ENABLECOMMANDS=true",
                 "MM_SERVICESETTINGS_ENABLEPOSTUSERNAMEOVERRIDE=true"):
        expect(line in env.splitlines(), f"`env` lacks {line}:\n{env}")
    ctx.container.run(["gitlab-mattermost", "apply", CONFIG_IN_CONTAINER, EXTRA, "--no-doctor"])
    ctx.wait_ready()
    live = ctx.mmctl("config", "get", "ServiceSettings.EnablePostUsernameOverride").stdout.strip()
    expect(live == "true", f"EnablePostUsernameOverride is {live!r} in Mattermost after apply")
    return "the integrations' settings are in `env` and live after apply"


def dry_run_changes_nothing(ctx):
    before = project_state(ctx)
    out = sync(ctx, "--dry-run").stdout
    expect("would create webhook gitlab" in out, f"the dry run does not plan the webhook:\n{out}")
    expect("would set up GitLab group/project" in out, f"the dry run does not plan GitLab:\n{out}")
    expect(ctx.container.run(["test", "-e", URL_FILE], check=False).returncode != 0,
           "the dry run wrote the webhook URL file")
    expect(project_state(ctx) == before, "the dry run changed GitLab")
    return "--dry-run planned the webhook, the command and both GitLab integrations and changed nothing"


def first_sync(ctx, channel):
    out = sync(ctx)
    said = out.stdout + out.stderr
    mode = ctx.container.run(["stat", "-c", "%a %U", URL_FILE]).stdout.strip()
    expect(mode == "600 root", f"webhook URL file mode {mode}")
    url = ctx.container.run(["cat", URL_FILE]).stdout.strip()
    expect(url.startswith(f"{ctx.site.site_url}/hooks/"), f"webhook URL {url!r}")
    expect(url not in said, "sync printed the webhook URL (it holds the webhook's key)")
    hook_id = url.rsplit("/", 1)[1]
    hook = ctx.api("GET", f"/api/v4/hooks/incoming/{hook_id}", login=ctx.admin_login)
    expect(hook["channel_id"] == channel["id"], f"the webhook posts to {hook['channel_id']}, not {channel['id']}")
    expect(hook["display_name"] == "GitLab", f"display name {hook['display_name']!r}")
    integration = project_state(ctx)["integrations"]
    notif = integration["mattermost"]
    expect(notif["webhook"] == url, "GitLab's Mattermost notifications do not hold the webhook URL")
    expect(notif["push_events"] and notif["merge_requests_events"] and not notif["issues_events"]
           and not notif["pipeline_events"], f"GitLab's events: {notif}")
    expect(notif["properties"]["username"] == USERNAME
           and notif["properties"]["branches_to_be_notified"] == "all", f"GitLab's properties: {notif['properties']}")
    ctx.state["integrations_webhook"] = url
    expect("mattermost-slash-commands" in integration, "GitLab has no Mattermost slash commands integration")
    return f"sync created webhook {hook_id} in {channel['name']} (URL file 0600 root) and both GitLab integrations"


def channel_posts(ctx, channel):
    posts = ctx.api("GET", f"/api/v4/channels/{channel['id']}/posts?per_page=50", login=ctx.admin_login)
    return [posts["posts"][i] for i in posts["order"]]


GITLAB = "https://gitlab.example.com"


def push_payload(marker):
    """What GitLab's Mattermost notifications post for a push (Integrations::ChatMessage::
    PushMessage through Slack::Messenger): Slack-style `<url|text>` links, one attachment per
    commit, the user name the project sets, no icon."""
    project = f"{GITLAB}/{PROJECT['path']}"
    text = (f"Administrator (root) pushed to branch <{project}/-/commits/main|main> of "
            f"<{project}|Group / Project> (<{project}/-/compare/1a2b3c4d...3c4d5e6f|Compare changes>)")
    return {
        "username": USERNAME,
        "text": text,
        "fallback": text,
        "attachments": [{"text": f"<{project}/-/commit/3c4d5e6f|3c4d5e6f>: {marker} - Administrator",
                         "color": "#345"}],
    }


def merge_request_payload(marker):
    """What GitLab's Mattermost notifications post for an opened merge request (MergeMessage):
    all in the text, no attachments."""
    project = f"{GITLAB}/{PROJECT['path']}"
    text = (f"Administrator (root) opened merge request <{project}/-/merge_requests/1|!1 *{marker}*> "
            f"in <{project}|Group / Project>")
    return {"username": USERNAME, "text": text, "fallback": text, "attachments": []}


def gitlab_payloads_become_posts(ctx, channel):
    url = ctx.state["integrations_webhook"]
    hook_path = url[len(ctx.site.site_url):]
    seen = []
    for kind, build in (("push", push_payload), ("merge request", merge_request_payload)):
        marker = f"system-test {kind} {time.time_ns()}"
        # GitLab posts the JSON as the form field `payload`, not as a JSON body.
        ctx.client("mm_api.py", "--url", ctx.site.site_url, "--form-field", "payload",
                   "POST", hook_path, json.dumps(build(marker)))
        deadline = time.monotonic() + 15
        while True:
            posts = [p for p in channel_posts(ctx, channel)
                     if marker in p["message"] or any(marker in (a.get("text") or "")
                                                       for a in p.get("props", {}).get("attachments", []))]
            if posts or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        expect(posts, f"the {kind} payload posted to the webhook did not appear in {channel['name']}")
        shown_as = posts[0].get("props", {}).get("override_username")
        expect(shown_as == USERNAME, f"the {kind} post is shown as {shown_as!r}, not {USERNAME!r}")
        seen.append(kind)
    return f"GitLab-format {' and '.join(seen)} payloads posted to the webhook appear in {channel['name']} as {USERNAME}"


def slash_command_reaches_gitlab(ctx, channel):
    before = len([e for e in standin(ctx)["log"] if e["event"] == "slash-command-triggered"])
    answer = ctx.api("POST", "/api/v4/commands/execute",
                     {"channel_id": channel["id"], "command": f"/{TRIGGER} help"}, login=ctx.admin_login)
    triggered = [e for e in standin(ctx)["log"] if e["event"] == "slash-command-triggered"]
    expect(len(triggered) == before + 1, f"the stand-in's trigger URL was not called with the token: {standin(ctx)['log'][-5:]}")
    call = triggered[-1]
    expect(call["project"] == PROJECT["id"] and call["command"] == f"/{TRIGGER}" and call["text"] == "help",
           f"the trigger got {call}")
    text = json.dumps(answer)
    expect("Available commands for group/project" in text, f"GitLab's answer did not come back: {text[:500]}")
    return f"/{TRIGGER} help reached the stand-in's trigger URL with the command's token and its answer came back"


def second_sync_is_a_no_op(ctx):
    before = project_state(ctx)
    hooks = ctx.api("GET", "/api/v4/hooks/incoming?per_page=200", login=ctx.admin_login)
    out = sync(ctx).stdout
    expect("no changes" in out, f"a second sync changed something:\n{out}")
    expect(project_state(ctx) == before, "a second sync changed GitLab")
    after = ctx.api("GET", "/api/v4/hooks/incoming?per_page=200", login=ctx.admin_login)
    expect(len(after) == len(hooks), f"{len(hooks)} webhooks before, {len(after)} after")
    return "a second sync changed nothing in Mattermost or GitLab"


def developer_token_is_refused(ctx):
    # A changed username makes the sync want to write, with a Developer's token.
    ctx.container.write(EXTRA, ctx.container.run(["cat", EXTRA]).stdout.replace(USERNAME, "other-bot"))
    try:
        out = sync(ctx, token=sites.USER_TOKEN_FILE, check=False)
    finally:
        ctx.container.write(EXTRA, ctx.container.run(["cat", EXTRA]).stdout.replace("other-bot", USERNAME))
    said = out.stdout + out.stderr
    expect(out.returncode == 1, f"sync with a Developer's token exited {out.returncode}:\n{said}")
    expect("GitLab project group/project" in said and "HTTP 403" in said, f"the refusal does not name project and answer:\n{said}")
    expect("up to date: webhook gitlab" in said, f"the Mattermost side was not reported:\n{said}")
    return "a Developer's token is refused with the project and GitLab's 403 named, the rest reported"


def another_team_replaces_webhook_and_command(ctx, team, channel):
    """Mattermost cannot move a webhook or a command to another team: sync makes new ones
    there, deletes the old ones, and gives GitLab the new URL and token."""
    other = ctx.api("POST", "/api/v4/teams", {"name": "system-test-2", "display_name": "System test 2",
                                              "type": "O"}, login=ctx.admin_login, check=False)
    if not isinstance(other, dict) or "id" not in other:
        other = ctx.api("GET", "/api/v4/teams/name/system-test-2", login=ctx.admin_login)
    old_url = ctx.container.run(["cat", URL_FILE]).stdout.strip()
    ctx.container.write(EXTRA, config(other["name"], "town-square"))
    out = sync(ctx).stdout
    expect("moved to another team" in out, f"the webhook's move was not reported:\n{out}")
    new_url = ctx.container.run(["cat", URL_FILE]).stdout.strip()
    expect(new_url != old_url, "the webhook URL file still names the old webhook")
    hook = ctx.api("GET", f"/api/v4/hooks/incoming/{new_url.rsplit('/', 1)[1]}", login=ctx.admin_login)
    expect(hook["team_id"] == other["id"], f"the new webhook is in team {hook['team_id']}, not {other['id']}")
    gone = ctx.api("GET", f"/api/v4/hooks/incoming/{old_url.rsplit('/', 1)[1]}", login=ctx.admin_login, check=False)
    expect(isinstance(gone, dict) and gone.get("status_code") == 404, f"the old webhook still exists: {gone}")
    expect(project_state(ctx)["integrations"]["mattermost"]["webhook"] == new_url,
           "GitLab was not given the new webhook URL")
    triggers = lambda t: [c["trigger"] for c in ctx.api(  # noqa: E731
        "GET", f"/api/v4/commands?team_id={t['id']}&custom_only=true", login=ctx.admin_login)]
    expect(TRIGGER in triggers(other) and TRIGGER not in triggers(team),
           f"the slash command did not move: {triggers(other)} / {triggers(team)}")
    ctx.container.write(EXTRA, config(team["name"], channel["name"]))
    sync(ctx)
    expect("no changes" in sync(ctx).stdout, "the sync after moving back was not a no-op")
    return "a webhook and command moved to another team are made anew there, the old ones deleted, GitLab given the new URL"


def removed_project_is_reported_then_pruned(ctx, team, channel):
    ctx.container.write(EXTRA, config(team["name"], channel["name"], with_project=False))
    out = sync(ctx).stdout
    expect("not declared: GitLab project group/project" in out, f"the removed project is not reported:\n{out}")
    expect("mattermost" in project_state(ctx).get("integrations", {}), "sync without --prune removed GitLab's integration")
    out = sync(ctx, "--prune").stdout
    expect("removed the Mattermost integrations of GitLab project group/project" in out, f"--prune did not remove:\n{out}")
    # GitLab keeps a removed integration's record, inactive.
    left = project_state(ctx).get("integrations", {})
    expect(not [slug for slug, i in left.items() if i["active"]], f"GitLab still has active integrations: {left}")
    commands = ctx.api("GET", f"/api/v4/commands?team_id={team['id']}&custom_only=true", login=ctx.admin_login)
    expect(not [c for c in commands if c["trigger"] == TRIGGER], "--prune left the slash command")
    # Declared again: GitLab's inactive records are switched back on, a new command made.
    ctx.container.write(EXTRA, config(team["name"], channel["name"]))
    out = sync(ctx).stdout
    back = project_state(ctx).get("integrations", {})
    expect(all(back.get(slug, {}).get("active") for slug in ("mattermost", "mattermost-slash-commands")),
           f"declaring the project again did not reactivate GitLab's integrations: {back}\n{out}")
    expect("no changes" in sync(ctx).stdout, "the sync after reactivating was not a no-op")
    return ("a removed project is reported, --prune removes its integrations and slash command, "
            "and declaring it again switches GitLab's kept records back on")
