"""lifecycle: what an admin does to a running server keeps the data and applies the change.

- `systemctl restart` and a reboot of the container keep users and posts;
- a re-render with a changed setting plus a restart applies it;
- a changed secret file is picked up on restart;
- `gitlab-mattermost backup`, dropping the database and `restore` bring the posts back;
- timings: start-to-ready over 5 restarts (median), and what the exec wrapper costs of it.
"""

import re
import statistics
import time

from harness.context import CONFIG_IN_CONTAINER, ScenarioFailed, expect

BACKUPS = "/var/backups/mattermost"


def run(ctx):
    post = a_post(ctx)
    facts = [
        restart_keeps(ctx, post),
        reboot_keeps(ctx, post),
        rerender_applies(ctx),
        secret_change_applies(ctx),
        backup_restore(ctx, post),
        timings(ctx),
    ]
    return "; ".join(facts)


def a_post(ctx):
    _, channel = ctx.team_and_channel()
    text = f"lifecycle probe {time.time_ns()}"
    return ctx.api("POST", "/api/v4/posts", {"channel_id": channel["id"], "message": text},
                   login=ctx.admin_login)


def post_exists(ctx, post):
    got = ctx.api("GET", f"/api/v4/posts/{post['id']}", login=ctx.admin_login, check=False)
    return isinstance(got, dict) and got.get("message") == post["message"]


def restart_keeps(ctx, post):
    ctx.systemctl("restart", "mattermost")
    ctx.wait_ready()
    expect(post_exists(ctx, post), "the post is gone after systemctl restart")
    return "restart kept users and posts"


def reboot_keeps(ctx, post):
    ctx.container.reboot()
    # /run is a fresh tmpfs: put back what the host's secret store would (sops-nix, agenix,
    # an admin), and the stand-ins; the unit retries (Restart=always) and is restarted here.
    ctx.provision()
    ctx.systemctl("restart", "mattermost")
    ctx.wait_ready()
    enabled = ctx.systemctl("is-enabled", "mattermost", check=False).stdout.strip()
    expect(enabled == "enabled", f"mattermost.service is {enabled} after the reboot")
    expect(post_exists(ctx, post), "the post is gone after a reboot")
    return "a reboot kept users and posts (the unit is enabled)"


def effective(ctx, setting):
    out = ctx.mmctl("config", "get", setting).stdout.strip()
    return out.strip('"')


def rerender_applies(ctx):
    setting, key = "TeamSettings.MaxChannelsPerTeam", "settings.TeamSettings.MaxChannelsPerTeam"
    before = effective(ctx, setting)
    wanted = "4321" if before != "4321" else "1234"
    ctx.reconfigure(f"{key}={wanted}")
    got = effective(ctx, setting)
    ctx.reconfigure()  # back to the config as written
    expect(got == wanted, f"{setting} is {got} after re-rendering with {wanted} and a restart")
    expect(effective(ctx, setting) == before, f"{setting} did not return to {before}")
    return f"a re-render with {setting}={wanted} and a restart applied it"


def secret_change_applies(ctx):
    var = next((v for v in ("MM_SQLSETTINGS_ATRESTENCRYPTKEY", "MM_EMAILSETTINGS_SMTPPASSWORD")
                if v in ctx.site.secret_files), None)
    if var is None:
        return "no secret besides GitLab's to change"
    path = ctx.site.secret_files[var]
    old = ctx.site.secret_values[path]
    new = old.rsplit("-", 1)[0] + "-changed" + str(time.time_ns())[-6:]
    ctx.site.secret_values[path] = new
    ctx.container.write(path, new + "\n", mode=0o600)
    if var == "MM_EMAILSETTINGS_SMTPPASSWORD":
        ctx.provision()  # the SMTP stand-in must expect the new password
    ctx.systemctl("restart", "mattermost")
    ctx.wait_ready()
    environ = ctx.container.run(["cat", f"/proc/{ctx.main_pid()}/environ"]).stdout.split("\0")
    expect(f"{var}={new}" in environ, f"{var} still has the old value after a restart")
    return f"a changed {path} reached the server on restart"


def backup_restore(ctx, post):
    ctx.container.run(["mkdir", "-p", BACKUPS])
    ctx.container.run(["gitlab-mattermost", "backup", CONFIG_IN_CONTAINER, "--to", BACKUPS])
    listing = ctx.container.run(["ls", "-1", BACKUPS]).stdout.split()
    backups = sorted(n for n in listing if n.startswith("mattermost-backup-"))
    expect(backups, f"no backup in {BACKUPS}: {listing}")
    name = database_name(ctx)
    ctx.systemctl("stop", "mattermost")
    ctx.container.run(["runuser", "-u", "postgres", "--", "dropdb", name])
    ctx.container.run(["gitlab-mattermost", "restore", CONFIG_IN_CONTAINER, "--from",
                       f"{BACKUPS}/{backups[-1]}", "--force"])
    ctx.systemctl("start", "mattermost")
    ctx.wait_ready()
    expect(post_exists(ctx, post), "the post did not come back with restore")
    return f"backup, dropdb {name} and restore brought the posts back"


def database_name(ctx):
    dsn = ctx.site.env["MM_SQLSETTINGS_DATASOURCE"]
    found = re.match(r"postgres://[^/]*/([^?]+)", dsn)
    if not found:
        raise ScenarioFailed(f"no database name in {dsn}")
    return found.group(1)


def timings(ctx):
    median, runs = ctx.median_restart(5)
    ctx.timings["start_to_ready_s"] = median
    ctx.timings["start_to_ready_runs_s"] = runs
    # The wrapper's part: reading the env file and exec'ing, timed on its own.
    script = ("for i in $(seq 20); do s=$(date +%s%N); gitlab-mattermost exec --env-file "
              "/etc/gitlab-mattermost/mattermost.env -- /bin/true; e=$(date +%s%N); "
              "echo $(( (e - s) / 1000 )); done")
    micros = [int(x) for x in ctx.container.sh(script).stdout.split()]
    wrapper_ms = round(statistics.median(micros) / 1000, 2)
    ctx.timings["exec_wrapper_ms"] = wrapper_ms
    return f"start-to-ready median {median} s over 5 restarts, of which the exec wrapper ~{wrapper_ms} ms"
