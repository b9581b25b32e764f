"""upgrade: from the 10 line to the 11 line with `apply`, and back with `rollback`.

Runs on the 10 build (`--mattermost 10`); the harness stages the 11 build beside it.
- real data through the API on 10: a password user, the GitLab user (signed in through the
  stand-in), a public and a private channel, 60 posts, a file, an incoming webhook and a
  slash command; every row of the main tables (by id) and the file's checksum are taken;
- the admin unpacks the 11 release into its own directory and points the config at it
  (`mattermost.version = "11.7"`, `install_dir`); `apply` stops 10, backs everything up,
  starts 11 and says how long Mattermost was down;
- on 11: every row is still there (what 11 adds at its first start is listed), the file
  downloads with the same checksum, the password user logs in, the GitLab user signs in
  (through /gitlab-sign-in) to the same account, the webhook posts;
- `rollback` with the config as it was: 10 runs again with the pre-upgrade data (the post the
  webhook made on 11 is gone), the password user logs in, and webhook management works (11's
  migration removes those permissions; a database 11 migrated would refuse it).
"""

import hashlib
import json
import re
import time

from harness import site as sites
from harness.context import CONFIG_IN_CONTAINER, ScenarioFailed, expect
from harness.mattermost import config_for_line

from . import oauth

NEXT_TARBALL_DIR = "/root/install/next"
NEXT_INSTALL_DIR = "/opt/mattermost-11"
PASSWORD_USER = {"username": "pat-password", "email": "pat@system-test.invalid"}
# Each table with the columns that identify a row.
TABLES = {"users": "id", "teams": "id", "channels": "id", "posts": "id", "fileinfo": "id",
          "incomingwebhooks": "id", "commands": "id", "channelmembers": "channelid || ':' || userid",
          "teammembers": "teamid || ':' || userid"}
POSTS = 60


class Skipped(Exception):
    """The scenario cannot run on this line; the message says why."""


def run(ctx):
    if ctx.build_info.get("line") != "10" or not ctx.next_build_info:
        raise Skipped("the upgrade starts from the 10 build: run `checks/system/run --mattermost 10`")
    data = make_data(ctx)
    before = rows(ctx)
    old_config = ctx.container.run(["cat", CONFIG_IN_CONTAINER]).stdout
    upgrade = upgrade_to_11(ctx, old_config)
    after = rows(ctx)
    lost = {t: sorted(before[t] - after[t])[:5] for t in TABLES if before[t] - after[t]}
    expect(not lost, f"rows lost by the upgrade (first few ids per table): {lost}")
    added = {t: len(after[t] - before[t]) for t in TABLES if after[t] - before[t]}
    on_11 = still_works_on_11(ctx, data)
    back = roll_back(ctx, old_config, data, before)
    return (f"on 10: {data['summary']}; {upgrade}; on 11: every row of {', '.join(f'{t} ({len(before[t])})' for t in TABLES)} "
            f"still there{added_text(ctx, added, before, after)}, {on_11}; {back}")


def added_text(ctx, added, before, after):
    """What the new release added at its first start (said, not hidden)."""
    if not added:
        return ""
    users = sorted(after["users"] - before["users"])
    names = sql(ctx, "SELECT username || CASE WHEN isbot THEN ' (bot)' ELSE '' END FROM users WHERE id IN ("
                + ", ".join(f"'{u}'" for u in users) + ")") if users else []
    return (" (11 added " + ", ".join(f"{n} {t}" for t, n in added.items())
            + (f": {', '.join(names)}" if names else "") + ")")


# ---- data on 10 -------------------------------------------------------------------------
def make_data(ctx):
    team, town = ctx.team_and_channel()
    admin = ctx.admin_login
    password = "Pat-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:12]
    ctx.mmctl("user", "create", "--email", PASSWORD_USER["email"], "--username",
              PASSWORD_USER["username"], "--password", password, "--email-verified")
    ctx.mmctl("team", "users", "add", team["name"], PASSWORD_USER["username"])
    private = ctx.api("POST", "/api/v4/channels", {
        "team_id": team["id"], "name": f"private-{time.time_ns() % 10**8}",
        "display_name": "Private upgrade", "type": "P"}, login=admin)
    for n in range(POSTS):
        channel = town if n % 2 else private
        ctx.api("POST", "/api/v4/posts", {"channel_id": channel["id"],
                                         "message": f"upgrade probe {n}"}, login=admin)
    file_id, file_sha = upload_file(ctx, town["id"], admin)
    hook = ctx.api("POST", "/api/v4/hooks/incoming", {
        "channel_id": town["id"], "display_name": "upgrade hook"}, login=admin)
    command = ctx.api("POST", "/api/v4/commands", {
        "team_id": team["id"], "trigger": "upgradeprobe", "method": "P",
        "url": f"{ctx.site.gitlab_url or 'https://example.invalid'}/probe"}, login=admin)
    # The application's id and secret files are read at start (as after `gitlab register`).
    oauth.register(ctx)
    ctx.systemctl("restart", "mattermost")
    ctx.wait_ready()
    gitlab_user = sign_in_with_gitlab(ctx, "/oauth/gitlab/login")
    return {
        "team": team, "town": town, "private": private, "password": password,
        "file_id": file_id, "file_sha": file_sha, "hook": hook, "command": command,
        "gitlab_user": gitlab_user,
        "summary": (f"a password user, the GitLab user {gitlab_user['username']}, a private channel, "
                    f"{POSTS} posts, a file, an incoming webhook and a slash command"),
    }


def upload_file(ctx, channel_id, login):
    token = session_token(ctx, login)
    ctx.container.sh("head -c 200000 /dev/urandom > /tmp/upgrade-probe.bin")
    out = ctx.container.run(["curl", "-fsS", "-H", f"Authorization: Bearer {token}",
                             "-F", f"channel_id={channel_id}", "-F", "files=@/tmp/upgrade-probe.bin",
                             f"{ctx.site.public_url}/api/v4/files"]).stdout
    file_id = json.loads(out)["file_infos"][0]["id"]
    ctx.api("POST", "/api/v4/posts", {"channel_id": channel_id, "message": "a file",
                                     "file_ids": [file_id]}, login=login)
    sha = ctx.container.run(["sha256sum", "/tmp/upgrade-probe.bin"]).stdout.split()[0]
    return file_id, sha


def downloaded_sha(ctx, file_id, login):
    token = session_token(ctx, login)
    ctx.container.run(["curl", "-fsS", "-o", "/tmp/upgrade-download.bin", "-H",
                       f"Authorization: Bearer {token}",
                       f"{ctx.site.public_url}/api/v4/files/{file_id}"])
    return ctx.container.run(["sha256sum", "/tmp/upgrade-download.bin"]).stdout.split()[0]


def session_token(ctx, login):
    user, _, password = login.partition(":")
    body = json.dumps({"login_id": user, "password": password})
    headers = ctx.container.run(["curl", "-fsS", "-D", "-", "-o", "/dev/null", "-H",
                                 "Content-Type: application/json", "-d", body,
                                 f"{ctx.site.public_url}/api/v4/users/login"]).stdout
    found = re.search(r"^token:\s*(\S+)", headers, re.I | re.M)
    if not found:
        raise ScenarioFailed(f"no session token for {user}: {headers}")
    return found.group(1)


def sign_in_with_gitlab(ctx, start):
    password = ctx.container.run(["cat", sites.GITLAB_PASSWORD_FILE]).stdout.strip()
    result = ctx.client("oauth_login.py", "--gitlab", ctx.site.gitlab_url, "--mattermost",
                        ctx.site.public_url, "--user", sites.GITLAB_USER["user"],
                        "--password", password, "--start", start, check=False)
    expect(result.returncode == 0, f"GitLab sign-in from {start} failed:\n{result.stdout[-2000:]}\n"
                                   f"{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def sql(ctx, query):
    name = ctx.site.env["MM_SQLSETTINGS_DATASOURCE"].split("/")[3].split("?")[0]
    out = ctx.container.run(["runuser", "-u", "postgres", "--", "psql", "-XAt", "-d", name,
                             "-c", query]).stdout
    return [line for line in out.splitlines() if line.strip()]


def rows(ctx):
    """Every row's identity, per table."""
    return {t: set(sql(ctx, f"SELECT {key} FROM {t}")) for t, key in TABLES.items()}


# ---- the upgrade --------------------------------------------------------------------------
def upgrade_to_11(ctx, old_config):
    ctx.container.sh(f"rm -rf {NEXT_INSTALL_DIR} /tmp/next && mkdir -p /tmp/next && "
                     f"tar --no-same-owner -xzf {NEXT_TARBALL_DIR}/mattermost-*-linux-amd64.tar.gz -C /tmp/next && "
                     f"mv /tmp/next/mattermost {NEXT_INSTALL_DIR}")
    new_config = with_install_dir(config_for_line(old_config, "11"), NEXT_INSTALL_DIR)
    ctx.container.write(CONFIG_IN_CONTAINER, new_config)
    result = ctx.container.run(["gitlab-mattermost", "apply", CONFIG_IN_CONTAINER, "--no-doctor"],
                               check=False, timeout=1200)
    output = result.stdout + result.stderr
    expect(result.returncode == 0, f"apply did not upgrade:\n{output[-4000:]}")
    down = re.search(r"upgraded from .* Mattermost was down ([0-9.]+) s \(stop → ready, of which the "
                     r"backup took ([0-9.]+) s\)", output)
    expect(down, f"apply did not say how long Mattermost was down:\n{output[-3000:]}")
    ctx.timings["upgrade_downtime_s"] = float(down.group(1))
    ctx.timings["upgrade_backup_s"] = float(down.group(2))
    ctx.wait_ready()
    version = server_version(ctx)
    expect(version.startswith("11."), f"after the upgrade the server reports version {version!r}")
    last = json.loads(ctx.container.run(["cat", "/var/lib/gitlab-mattermost/upgrades/last.json"]).stdout)
    ctx.state["upgrade_backup"] = last["backup"]
    listing = ctx.container.run(["find", last["backup"], "-maxdepth", "2"]).stdout
    for part in ("manifest.json", "config.json", "files", "secrets"):
        expect(part in listing, f"the backup lacks {part}:\n{listing}")
    again = ctx.container.run(["gitlab-mattermost", "apply", CONFIG_IN_CONTAINER, "--no-doctor"]).stdout
    expect("no changes, nothing restarted" in again, f"a second apply after the upgrade:\n{again}")
    return (f"apply upgraded 10 to 11 ({version}) with Mattermost down {down.group(1)} s, "
            f"{down.group(2)} s of it the backup into {last['backup']}")


def with_install_dir(text, install_dir):
    """The config with mattermost.install_dir set (in its [mattermost] table)."""
    lines = [l for l in text.splitlines(keepends=True) if not l.strip().startswith("install_dir")]
    out = []
    for line in lines:
        out.append(line)
        if line.strip() == "[mattermost]":
            out.append(f'install_dir = "{install_dir}"\n')
    return "".join(out)


def server_version(ctx):
    config = ctx.api("GET", "/api/v4/config/client?format=old")
    return config.get("Version", "")


def still_works_on_11(ctx, data):
    pat = f"{PASSWORD_USER['username']}:{data['password']}"
    me = ctx.api("GET", "/api/v4/users/me", login=pat)
    expect(me["username"] == PASSWORD_USER["username"], f"password login on 11: {me}")
    sha = downloaded_sha(ctx, data["file_id"], ctx.admin_login)
    expect(sha == data["file_sha"], "the file downloads with another checksum on 11")
    user = sign_in_with_gitlab(ctx, oauth.TEAM_EDITION_SIGN_IN)
    expect(user["id"] == data["gitlab_user"]["id"],
           f"the GitLab user signed in to another account on 11: {user['id']} != {data['gitlab_user']['id']}")
    text = f"posted through the webhook on 11 {time.time_ns()}"
    ctx.container.run(["curl", "-fsS", "-H", "Content-Type: application/json", "-d",
                       json.dumps({"text": text}), f"{ctx.site.public_url}/hooks/{data['hook']['id']}"])
    found = ctx.api("POST", f"/api/v4/teams/{data['team']['id']}/posts/search",
                    {"terms": f'"{text}"', "is_or_search": False}, login=ctx.admin_login)
    expect(found.get("order"), f"the webhook's post is not found on 11: {found}")
    data["post_on_11"] = text
    return ("the file has the same checksum, the password user logs in, the GitLab user signs in "
            "to the same account through /gitlab-sign-in, the webhook posts")


# ---- rollback -----------------------------------------------------------------------------
def roll_back(ctx, old_config, data, before):
    ctx.container.write(CONFIG_IN_CONTAINER, old_config)
    backup = ctx.state["upgrade_backup"]
    result = ctx.container.run(["gitlab-mattermost", "rollback", CONFIG_IN_CONTAINER, "--from", backup],
                               check=False, timeout=1200)
    output = result.stdout + result.stderr
    expect(result.returncode == 0, f"rollback failed:\n{output[-4000:]}")
    ctx.wait_ready()
    version = server_version(ctx)
    expect(version.startswith("10."), f"after the rollback the server reports version {version!r}")
    now = rows(ctx)
    differ = {t: (len(before[t]), len(now[t])) for t in TABLES if now[t] != before[t]}
    expect(not differ, f"after the rollback these tables differ from before the upgrade (before, now): {differ}")
    pat = f"{PASSWORD_USER['username']}:{data['password']}"
    me = ctx.api("GET", "/api/v4/users/me", login=pat)
    expect(me["username"] == PASSWORD_USER["username"], f"password login after the rollback: {me}")
    found = ctx.api("POST", f"/api/v4/teams/{data['team']['id']}/posts/search",
                    {"terms": f'"{data["post_on_11"]}"', "is_or_search": False}, login=ctx.admin_login)
    expect(not found.get("order"), "the post made on 11 survived the rollback")
    hook = ctx.api("POST", "/api/v4/hooks/incoming", {
        "channel_id": data["town"]["id"], "display_name": "after rollback"}, login=ctx.admin_login,
        check=False)
    expect(isinstance(hook, dict) and hook.get("id"), f"webhook management after the rollback: {hook}")
    user = sign_in_with_gitlab(ctx, "/oauth/gitlab/login")
    expect(user["id"] == data["gitlab_user"]["id"], "the GitLab user signed in to another account after the rollback")
    down = re.search(r"rolled back from .* Mattermost was down ([0-9.]+) s", output)
    return (f"rollback brought 10 ({version}) back with exactly the pre-upgrade rows (the 11 post gone) in {down.group(1) if down else '?'} s of downtime: password login, GitLab sign-in and "
            f"webhook management work")
