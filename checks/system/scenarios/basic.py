"""basic: the service runs under the rendered unit, unchanged and sandboxed, behind nginx.

- the loaded unit is the rendered file itself, with no drop-in weakening it;
- `systemd-analyze security` on the running unit scores 2.0 or less;
- Type=notify: the unit became active only after Mattermost reported READY=1;
- https through nginx answers, and plain http redirects to https keeping path and query;
- an authenticated websocket through nginx receives a real `posted` event;
- `mmctl --local` works exactly as docs/getting-started.md tells an admin to run it.
"""

import re

from harness.context import ScenarioFailed, expect

MAX_EXPOSURE = 2.0


def run(ctx):
    facts = [
        unit_is_the_rendered_one(ctx),
        sandbox_exposure(ctx),
        notify_readiness(ctx),
        https_and_redirect(ctx),
        websocket_event(ctx),
        mmctl_as_documented(ctx),
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
    result = ctx.mmctl("system", "status", check=False)
    if result.returncode != 0:
        raise ScenarioFailed(
            "the documented `mmctl --local system status` failed "
            f"(exit {result.returncode}): {result.stdout[-1000:]} {result.stderr[-1000:]}"
        )
    return "documented mmctl --local command works"
