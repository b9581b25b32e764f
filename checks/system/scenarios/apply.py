"""apply: `gitlab-mattermost apply` as the one command of a plain host.

The container was set up by docs/getting-started.md, whose install step is `apply` on a fresh
host. Here:
- a second `apply` with the same config changes nothing and restarts nothing;
- a changed setting and `apply`: exactly one restart, and the new value is live;
- `gitlab-mattermost mmctl CONFIG -- user list` runs mmctl as the service user (with a config
  that turns local mode off, it refuses naming it, exit 1).
"""

import time

from harness.context import (CONFIG_IN_CONTAINER, docs, GETTING_STARTED, expect,
                             expect_local_mode_refusal)

SETTING, KEY = "TeamSettings.MaxChannelsPerTeam", "settings.TeamSettings.MaxChannelsPerTeam"


def run(ctx):
    expect("gitlab-mattermost apply" in docs.step(GETTING_STARTED, "render-and-install"),
           "docs/getting-started.md does not install with `gitlab-mattermost apply`")
    facts = [second_apply_is_a_no_op(ctx), changed_setting_restarts_once(ctx), mmctl_wrapper(ctx)]
    return "; ".join(facts)


def invocation(ctx):
    return ctx.systemctl("show", "-p", "InvocationID", "--value", "mattermost").stdout.strip()


def journal_cursor(ctx):
    out = ctx.container.run(["journalctl", "-n", "0", "--show-cursor", "--no-pager"]).stdout
    return out.strip().rsplit("-- cursor: ", 1)[1]


def starts_after(ctx, cursor):
    """How often systemd started mattermost.service since the journal was at `cursor`."""
    out = ctx.container.run(["journalctl", "--after-cursor", cursor, "-u", "mattermost.service",
                             "--no-pager", "-o", "cat"], check=False).stdout
    return sum(1 for line in out.splitlines() if line.startswith("Started mattermost.service"))


def apply(ctx, *sets):
    args = ["gitlab-mattermost", "apply", CONFIG_IN_CONTAINER, "--no-doctor"]
    for value in sets:
        args += ["--set", value]
    return ctx.container.run(args)


def second_apply_is_a_no_op(ctx):
    before = invocation(ctx)
    out = apply(ctx)
    said = out.stdout + out.stderr
    expect("no changes, nothing restarted" in said, f"a second apply did not say so:\n{said[-2000:]}")
    expect(invocation(ctx) == before, "a second apply restarted Mattermost")
    return "a second apply changed nothing and restarted nothing"


def changed_setting_restarts_once(ctx):
    current = ctx.mmctl("config", "get", SETTING).stdout.strip().strip('"')
    wanted = "777" if current != "777" else "778"
    cursor = journal_cursor(ctx)
    before = invocation(ctx)
    apply(ctx, f"{KEY}={wanted}")
    ctx.wait_ready()
    time.sleep(1)
    starts = starts_after(ctx, cursor)
    live = ctx.mmctl("config", "get", SETTING).stdout.strip().strip('"')
    expect(invocation(ctx) != before and starts == 1, f"{starts} starts of mattermost.service, expected 1")
    expect(live == wanted, f"{SETTING} is {live}, expected {wanted}")
    apply(ctx)  # back to the config as written
    ctx.wait_ready()
    return f"a changed {SETTING} applied with exactly one restart and is live"


def mmctl_wrapper(ctx):
    ctx.ensure_admin()
    out = ctx.container.run(["gitlab-mattermost", "mmctl", CONFIG_IN_CONTAINER, "--", "user", "list"],
                            check=False)
    if not ctx.local_mode:
        expect_local_mode_refusal(out, "gitlab-mattermost mmctl")
        return "with local mode off, gitlab-mattermost mmctl -- user list refuses naming it (exit 1)"
    expect(out.returncode == 0, f"gitlab-mattermost mmctl -- user list: exit {out.returncode}\n{out.stderr}")
    expect("sysadmin" in out.stdout, f"user list does not show the admin: {out.stdout[-500:]}")
    return "gitlab-mattermost mmctl -- user list works"
