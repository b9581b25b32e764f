"""basic: the service runs under the rendered unit, unchanged and sandboxed, behind nginx.

- the loaded unit is the rendered file itself, with no drop-in weakening it;
- `systemd-analyze security` on the running unit scores 2.0 or less;
- Type=notify: the unit became active only after Mattermost reported READY=1;
- https through nginx answers, and plain http redirects to https keeping path and query;
- an authenticated websocket through nginx receives a real `posted` event;
- `mmctl --local` works exactly as docs/getting-started.md tells an admin to run it;
- `gitlab-mattermost status` (Omnibus: `gitlab-ctl status`) reports the unit active, the
  release, the ping directly and through nginx, and the database OK (exit 0), and after
  `systemctl stop mattermost` exits 1 naming the unit.
"""

import json
import re

from harness import docs
from harness.context import (CONFIG_IN_CONTAINER, GETTING_STARTED, ScenarioFailed, expect,
                             expect_local_mode_refusal)

MAX_EXPOSURE = 2.0


def run(ctx):
    facts = [
        unit_is_the_rendered_one(ctx),
        sandbox_exposure(ctx),
        notify_readiness(ctx),
        https_and_redirect(ctx),
        websocket_event(ctx),
        mmctl_as_documented(ctx),
        status_reports(ctx),
    ]
    return "; ".join(facts)


def unit_is_the_rendered_one(ctx):
    show = ctx.systemctl("show", "mattermost", "-p", "FragmentPath", "-p", "DropInPaths").stdout
    fields = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
    expect(not fields.get("DropInPaths"), f"drop-ins change the unit: {fields.get('DropInPaths')}")
    loaded = ctx.container.run(["cat", fields["FragmentPath"]]).stdout
    rendered = ctx.container.run(["cat", "/etc/gitlab-mattermost/systemd/mattermost.service"]).stdout
    expect(loaded == rendered, f"the loaded unit {fields['FragmentPath']} differs from the rendered one")
    return f"unit {fields['FragmentPath']} is the rendered file, no drop-ins"


def sandbox_exposure(ctx):
    out = ctx.container.run(["systemd-analyze", "security", "--no-pager", "mattermost.service"],
                            check=False).stdout
    found = re.search(r"Overall exposure level for mattermost\.service:\s*([\d.]+)", out)
    expect(found, f"no exposure level in systemd-analyze security output:\n{out[-1500:]}")
    exposure = float(found.group(1))
    ctx.timings["security_exposure"] = exposure
    expect(exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{out[-3000:]}")
    return f"systemd-analyze security exposure {exposure} on the running unit"


def notify_readiness(ctx):
    props = ctx.systemctl("show", "mattermost", "-p", "Type", "-p", "ActiveState", "-p", "SubState",
                          "-p", "NotifyAccess", "-p", "MainPID").stdout
    fields = dict(line.split("=", 1) for line in props.splitlines() if "=" in line)
    expect(fields.get("Type") == "notify", f"Type={fields.get('Type')}")
    expect(fields.get("ActiveState") == "active" and fields.get("SubState") == "running",
           f"not running: {fields}")
    # The wrapper exec()s Mattermost: the main PID is the server itself, which sent READY=1.
    comm = ctx.container.run(["cat", f"/proc/{fields['MainPID']}/comm"]).stdout.strip()
    expect(comm == "mattermost", f"the main process is {comm!r}, not mattermost (the wrapper must exec)")
    return "Type=notify unit active with the server as main PID (READY=1 reached systemd)"


def https_and_redirect(ctx):
    site = ctx.site
    ping = ctx.api("GET", "/api/v4/system/ping")
    expect(isinstance(ping, dict) and ping.get("status") == "OK", f"ping at the site URL: {ping}")
    # The vhost itself, also when the site URL is an outer load balancer in front of it.
    direct = ctx.client("mm_api.py", "--url", site.external_url, "GET", "/api/v4/system/ping").stdout
    expect('"OK"' in direct, f"ping through the rendered vhost {site.external_url}: {direct}")
    if site.http_port is None:
        return f"https {site.external_url} answers (no http listener rendered)"
    host = site.server_names[0]
    port = "" if site.http_port == 80 else f":{site.http_port}"
    out = ctx.container.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                             f"http://{host}{port}/some/path?q=1"]).stdout.split()
    expected = f"{site.external_url}/some/path?q=1"
    expect(out[0] == "301" and out[1:] == [expected], f"http redirect: {out}, expected 301 {expected}")
    return f"https {site.external_url} answers; http redirects with 301 keeping path and query"


def websocket_event(ctx):
    _, channel = ctx.team_and_channel()
    out = ctx.client("ws_event.py", "--url", ctx.site.public_url, "--login", ctx.admin_login,
                     "--channel", channel["id"]).stdout
    expect('"event": "posted"' in out, f"no posted event: {out}")
    return "websocket through nginx delivered a posted event"


def mmctl_as_documented(ctx):
    if not ctx.local_mode:
        return local_mode_off_refused(ctx)
    result = ctx.mmctl("system", "status", check=False)
    if result.returncode != 0:
        raise ScenarioFailed(
            "the documented `mmctl --local system status` failed "
            f"(exit {result.returncode}): {result.stdout[-1000:]} {result.stderr[-1000:]}"
        )
    return "documented mmctl --local command works"


def local_mode_off_refused(ctx):
    """A config that turns local mode off: the documented command says so and how to turn it
    back on (exit 1, nothing run), and the server is still administered through the API."""
    command = docs.step(GETTING_STARTED, "mmctl").strip()
    result = ctx.container.run(["bash", "-c", command], check=False)
    expect_local_mode_refusal(result, f"`{command}`")
    status = ctx.mmctl("system", "status")
    return ("local mode off: the documented mmctl refuses naming it (exit 1); mmctl through the "
            f"REST API works ({status.stdout.strip().splitlines()[0] if status.stdout.strip() else 'ok'})")


def status_lines(out):
    """`status` prints `OK   name  summary` or `FAIL name  summary`: name -> (marker, line)."""
    lines = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in ("OK", "FAIL", "--"):
            lines[parts[1]] = (parts[0], line)
    return lines


def status_reports(ctx):
    up = ctx.container.run(["gitlab-mattermost", "status", CONFIG_IN_CONTAINER], check=False)
    lines = status_lines(up.stdout)
    expect(up.returncode == 0, f"status exited {up.returncode} with everything up:\n{up.stdout}{up.stderr}")
    for name in ("unit", "version", "direct", "nginx", "database"):
        expect(lines.get(name, ("", ""))[0] == "OK", f"status: {name} is not OK:\n{up.stdout}")
    expect("mattermost.service active (running)" in lines["unit"][1], f"status unit line:\n{up.stdout}")
    expect(ctx.site.external_url in lines["nginx"][1], f"status nginx line:\n{up.stdout}")
    ctx.systemctl("stop", "mattermost")
    try:
        down = ctx.container.run(["gitlab-mattermost", "status", CONFIG_IN_CONTAINER, "--json"],
                                 check=False)
    finally:
        ctx.systemctl("start", "mattermost")
        ctx.wait_ready()
    expect(down.returncode == 1, f"status exited {down.returncode} with Mattermost stopped:\n{down.stdout}")
    report = json.loads(down.stdout)
    failed = {line["name"]: line for line in report["lines"] if line["status"] == "fail"}
    expect("unit" in failed and "mattermost.service" in failed["unit"]["summary"],
           f"status --json with Mattermost stopped does not name the unit: {down.stdout}")
    expect("direct" in failed and "nginx" in failed, f"the pings did not fail: {down.stdout}")
    return ("status: unit, release, ping direct and through nginx, database OK (exit 0); "
            "stopped: exit 1 naming mattermost.service")
