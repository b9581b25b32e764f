"""env: every variable the compiler renders reaches the running server, and means there what
the compiler meant.

- for each `MM_*` variable (`gitlab-mattermost env`), the server's effective setting
  (`mmctl --local config show`) has the rendered value; through the REST API (a config that
  turns local mode off) Mattermost hides some settings (the database's data source) behind its
  placeholder, and those must be in the server's environment as rendered instead;
- the secrets arrive through `LoadCredential=` and the `exec` wrapper: the server process's
  environment holds exactly the generated secret values, while no rendered file does;
- the other variables (proxies) are in the server's environment too;
- env-set settings are locked: the API reports them as set from the environment, and a
  change through the API does not change the effective value.
"""

import json

from harness.context import ScenarioFailed, expect

# What Mattermost's REST API shows instead of a setting it hides (model.FakeSetting); the
# local socket shows every value.
HIDDEN_BY_THE_API = "*" * 32


def run(ctx):
    config = json.loads(ctx.mmctl("config", "show", "--json").stdout)
    effective = flatten(config)
    environ = process_environment(ctx)
    plain = {k: v for k, v in ctx.site.env.items() if k not in ctx.site.secret_files}
    checked, hidden, mismatches = 0, [], []
    for name, rendered in sorted(plain.items()):
        if not name.startswith("MM_"):
            continue
        if name not in effective:
            mismatches.append(f"{name}: no such setting in the server's config")
            continue
        if not ctx.local_mode and effective[name] == HIDDEN_BY_THE_API:
            hidden.append(name)
        elif not same(rendered, effective[name]):
            mismatches.append(f"{name}: rendered {rendered!r}, server has {effective[name]!r}")
        checked += 1
    expect(not mismatches, "settings the server does not have as rendered:\n  " + "\n  ".join(mismatches))
    others = [k for k in plain if not k.startswith("MM_")]
    for name in others + hidden:
        expect(environ.get(name) == plain[name], f"{name} is {environ.get(name)!r} in the server's environment")
    secrets = check_secrets(ctx, environ)
    locked = check_locked(ctx, plain)
    shown_hidden = (f" ({len(hidden)} hidden by the REST API, in the server's environment as rendered: "
                    f"{', '.join(hidden)})" if hidden else "")
    return (f"{checked} MM_* settings effective as rendered{shown_hidden}; {len(others)} other variables "
            f"in the server's environment; {secrets}; {locked}")


def flatten(tree, prefix="MM"):
    """The config as Mattermost's environment names it: MM_<CATEGORY>_<FIELD>..., upper-case,
    nested structs adding _<FIELD>; a map-valued setting is also kept whole (JSON in env)."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}_{key.upper()}"
        out[name] = value
        if isinstance(value, dict):
            out.update(flatten(value, name))
    return out


def same(rendered, value):
    """Mattermost's reading of an environment value, compared with the effective setting."""
    if isinstance(value, bool):
        return rendered == ("true" if value else "false")
    if isinstance(value, (int, float)):
        try:
            return float(rendered) == float(value)
        except ValueError:
            return False
    if isinstance(value, list):
        return rendered.split(" ") == [str(v) for v in value]
    if isinstance(value, dict):
        try:
            return json.loads(rendered) == value
        except ValueError:
            return False
    return rendered == ("" if value is None else str(value))


def process_environment(ctx):
    pid = ctx.main_pid()
    raw = ctx.container.run(["cat", f"/proc/{pid}/environ"]).stdout
    return dict(entry.split("=", 1) for entry in raw.split("\0") if "=" in entry)


def check_secrets(ctx, environ):
    values = ctx.site.secret_values
    for var, path in sorted(ctx.site.secret_files.items()):
        expect(environ.get(var) == values[path],
               f"{var} in the server's environment is not the content of {path}")
    # None of them may sit in a rendered file or the unit.
    for path, value in values.items():
        found = ctx.container.run(["grep", "-rlF", value, "/etc/gitlab-mattermost", "/etc/systemd/system",
                                   "/etc/nginx"], check=False).stdout.strip()
        expect(not found, f"the secret from {path} is written in {found}")
    return f"{len(values)} secrets delivered by the credential wrapper and in no rendered file"


def check_locked(ctx, plain):
    login = ctx.admin_login
    locked = flatten(ctx.api("GET", "/api/v4/config/environment", login=login))
    missing = [n for n in plain if n.startswith("MM_") and locked.get(n) is not True]
    expect(not missing, "settings not reported as set from the environment: " + ", ".join(missing))
    name = "MM_TEAMSETTINGS_SITENAME"
    if name not in plain:
        return f"{len(locked)} env-set settings reported as locked"
    ctx.api("PUT", "/api/v4/config/patch", {"TeamSettings": {"SiteName": "Changed by the API"}}, login=login,
            check=False)
    after = flatten(json.loads(ctx.mmctl("config", "show", "--json").stdout))
    if after.get(name) != plain[name]:
        raise ScenarioFailed(f"an API change overrode the env-set {name}: {after.get(name)!r}")
    return f"{len(plain)} env-set settings locked (an API change to SiteName did not apply)"
