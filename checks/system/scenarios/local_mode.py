"""local_mode: a config may turn local mode off (it is on by default). The socket then goes
away, the documented `gitlab-mattermost mmctl` refuses and says how to turn it back on, and
the server is still administered through the REST API (mmctl logged in as the system admin);
turned back on, the socket is back with its mode."""

import shlex

from harness import docs
from harness.context import GETTING_STARTED, expect

from .upgrade import Skipped

OFF = "settings.ServiceSettings.EnableLocalMode=false"


def run(ctx):
    if not ctx.local_mode:
        raise Skipped("the config turns local mode off itself: every scenario ran through the REST API")
    socket = ctx.site.env["MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION"]
    ctx.ensure_admin()
    facts = [socket_is_private(ctx, socket)]
    ctx.reconfigure(OFF)
    ctx.local_mode_off = True
    ctx._admin_ready = False  # the same admin, now through the REST API
    try:
        expect(ctx.container.run(["test", "-e", socket], check=False).returncode != 0,
               f"local mode is off but {socket} is still there")
        facts.append(f"off: {socket} is gone")
        facts.append(documented_mmctl_refuses(ctx))
        live = ctx.mmctl("config", "get", "ServiceSettings.EnableLocalMode").stdout.strip()
        expect(live == "false", f"through the REST API, EnableLocalMode reads {live!r}")
        facts.append("mmctl through the REST API reads EnableLocalMode = false")
    finally:
        ctx.local_mode_off = None
        ctx._admin_ready = False
        ctx.reconfigure()
    facts.append("on again: " + socket_is_private(ctx, socket))
    return "; ".join(facts)


def socket_is_private(ctx, socket):
    directory = socket.rsplit("/", 1)[0]
    shown = ctx.container.run(["stat", "-c", "%a %U", directory]).stdout.split()
    expect(ctx.container.run(["test", "-S", socket], check=False).returncode == 0, f"no socket at {socket}")
    # The unit's RuntimeDirectory= is named after the service account, which owns it.
    account = directory.rsplit("/", 1)[1]
    expect(shown == ["750", account],
           f"{directory} is {shown}: 0750 and owned by {account} (root and the service user only) was expected")
    return f"{socket} in a 0750 directory of {shown[1]}"


def documented_mmctl_refuses(ctx):
    command = docs.step(GETTING_STARTED, "mmctl").strip()
    # The documented command, with the override the running server was applied with.
    off = command.replace(" -- ", f" --set {shlex.quote(OFF)} -- ", 1)
    result = ctx.container.run(["bash", "-c", off], check=False)
    expect(result.returncode != 0 and "local mode is off" in result.stderr
           and "it is on by default" in result.stderr,
           f"`{off}` should refuse naming local mode, got exit {result.returncode}: {result.stderr[-800:]}")
    return f"the documented mmctl refuses (exit {result.returncode}) and says local mode is on by default"
