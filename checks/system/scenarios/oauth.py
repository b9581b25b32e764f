"""oauth: "Sign in with GitLab" end to end, against the GitLab stand-in.

- `gitlab-mattermost gitlab register` creates the application in GitLab (admin token) and
  writes the id and secret files (0600), with the redirect URIs of the site URL;
- after a restart, a scripted browser (the VM tests' oauth_login client, cookie jar and all)
  signs in to GitLab and through Mattermost's GitLab login: MMAUTHTOKEN is set, and
  /api/v4/users/me is the GitLab user (auth_service gitlab, same username and email);
- a second sign-in of the same user works (the login path, not sign-up);
- per line: on 10 the client config offers GitLab and the sign-in starts at Mattermost's own
  /oauth/gitlab/login; on 11 Team Edition the client config offers no GitLab (no button in
  any app) and the sign-in starts at the link nginx serves, /gitlab-sign-in — if a build
  closes the route, this fails and says so;
- with a wrong secret the sign-in fails, and `gitlab-mattermost doctor` names the cause.
"""

import json

from harness import site as sites
from harness.context import CONFIG_IN_CONTAINER, ScenarioFailed, expect

# The sign-in link nginx serves with gitlab.allow_team_edition_route (docs/operations.md).
TEAM_EDITION_SIGN_IN = "/gitlab-sign-in"


def run(ctx):
    site = ctx.site
    expect(site.gitlab_url, "the config does not enable GitLab sign-in (gitlab.enable)")
    registered = register(ctx)
    ctx.systemctl("restart", "mattermost")
    ctx.wait_ready()
    offered = client_config_offers_gitlab(ctx)
    user = sign_in(ctx, expect_consent=True)
    again = sign_in(ctx, expect_consent=True)
    expect(again["id"] == user["id"], "the second sign-in made another user")
    doctor = doctor_passes(ctx)
    refused = wrong_secret_is_named(ctx)
    return (f"{offered}; {registered}; signed in as {user['username']} <{user['email']}> via "
            f"{user['auth_service']} from {start_path(ctx)} twice; {doctor}; {refused}")


def doctor_passes(ctx):
    """doctor's oauth check passes; on 11 Team Edition it follows the route to GitLab."""
    result = ctx.container.run(["gitlab-mattermost", "doctor", CONFIG_IN_CONTAINER, "--only", "oauth"],
                               check=False)
    report = result.stdout + result.stderr
    expect(result.returncode == 0, f"doctor --only oauth failed:\n{report[-3000:]}")
    if team_edition_route(ctx):
        doctor_json = ctx.container.run(["gitlab-mattermost", "doctor", CONFIG_IN_CONTAINER, "--only",
                                         "oauth", "--json"], check=False).stdout
        expect("leads through /oauth/gitlab/login to GitLab's authorize endpoint" in doctor_json,
               f"doctor did not follow the Team Edition route:\n{doctor_json[-3000:]}")
        return "doctor follows /gitlab-sign-in through /oauth/gitlab/login to GitLab"
    return "doctor's oauth check passes"


def team_edition_route(ctx):
    """Team Edition on 11: no GitLab button; the sign-in starts at the link nginx serves."""
    return ctx.build_info["line"] != "10"


def start_path(ctx):
    return TEAM_EDITION_SIGN_IN if team_edition_route(ctx) else "/oauth/gitlab/login"


def client_config_offers_gitlab(ctx):
    """What the web, desktop and mobile apps read to show a GitLab button."""
    config = ctx.api("GET", "/api/v4/config/client?format=old")
    offered = config.get("EnableSignUpWithGitLab") == "true"
    if team_edition_route(ctx):
        expect(not offered, "Team Edition 11 offers GitLab sign-in in its client config: "
                            "the edition rules changed, revisit gitlab.allow_team_edition_route")
        return "the client config offers no GitLab button (Team Edition 11)"
    expect(offered, f"the client config does not offer GitLab: {config.get('EnableSignUpWithGitLab')!r}")
    return "the client config offers GitLab"


def register(ctx):
    id_file = ctx.site.secret_files["MM_GITLABSETTINGS_ID"]
    secret_file = ctx.site.secret_files["MM_GITLABSETTINGS_SECRET"]
    ctx.container.run(["gitlab-mattermost", "gitlab", "register", CONFIG_IN_CONTAINER,
                       "--token-file", sites.ADMIN_TOKEN_FILE])
    modes = ctx.container.run(["stat", "-c", "%a %U", id_file, secret_file]).stdout.split("\n")
    expect(all(m.startswith("600 root") for m in modes if m), f"id/secret file modes: {modes}")
    app_id = ctx.container.run(["cat", id_file]).stdout.strip()
    secret = ctx.container.run(["cat", secret_file]).stdout.strip()
    state = json.loads(ctx.container.run(["cat", sites.GITLAB_STATE]).stdout)
    apps = [a for a in state["applications"] if a["application_id"] == app_id]
    expect(apps, f"GitLab has no application {app_id}")
    expected = {f"{ctx.site.site_url}/signup/gitlab/complete", f"{ctx.site.site_url}/login/gitlab/complete"}
    expect(set(apps[0]["redirect_uris"]) == expected,
           f"redirect URIs {apps[0]['redirect_uris']}, expected {sorted(expected)}")
    expect(apps[0]["secret"] == secret, "the secret file does not hold GitLab's secret")
    # A rerun changes nothing.
    ctx.container.run(["gitlab-mattermost", "gitlab", "register", CONFIG_IN_CONTAINER,
                       "--token-file", sites.ADMIN_TOKEN_FILE])
    after = json.loads(ctx.container.run(["cat", sites.GITLAB_STATE]).stdout)
    expect(len(after["applications"]) == len(state["applications"]) and
           ctx.container.run(["cat", secret_file]).stdout.strip() == secret,
           "a second register changed the application or the secret")
    # Keep them across reboots: /run is a tmpfs.
    ctx.site.secret_values[id_file] = app_id
    ctx.site.secret_values[secret_file] = secret
    return f"register created application {apps[0]['id']} with the site's redirect URIs; a rerun changed nothing"


def sign_in(ctx, expect_consent):
    password = ctx.container.run(["cat", sites.GITLAB_PASSWORD_FILE]).stdout.strip()
    args = ["--gitlab", ctx.site.gitlab_url, "--mattermost", ctx.site.public_url,
            "--user", sites.GITLAB_USER["user"], "--password", password]
    if expect_consent:
        args += ["--expect", "consent"]
    args += ["--start", start_path(ctx)]
    result = ctx.client("oauth_login.py", *args, check=False)
    if result.returncode != 0 and team_edition_route(ctx):
        raise ScenarioFailed(
            f"sign-in through {TEAM_EDITION_SIGN_IN} (Team Edition's /oauth/gitlab/login route) failed: "
            "if this build closed the route, gitlab.allow_team_edition_route no longer works and users "
            f"need the Enterprise build\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    expect(result.returncode == 0, f"sign-in failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    out = result.stdout
    user = json.loads(out.strip().splitlines()[-1])
    expect(user["auth_service"] == "gitlab", f"auth_service {user['auth_service']!r}")
    expect(user["username"] == sites.GITLAB_USER["user"], f"username {user['username']!r}")
    expect(user["email"] == sites.GITLAB_USER["email"], f"email {user['email']!r}")
    return user


def wrong_secret_is_named(ctx):
    secret_file = ctx.site.secret_files["MM_GITLABSETTINGS_SECRET"]
    good = ctx.site.secret_values[secret_file]
    ctx.container.write(secret_file, "gloas-wrong-secret\n", mode=0o600)
    try:
        ctx.systemctl("restart", "mattermost")
        ctx.wait_ready()
        password = ctx.container.run(["cat", sites.GITLAB_PASSWORD_FILE]).stdout.strip()
        attempt = ctx.client("oauth_login.py", "--gitlab", ctx.site.gitlab_url, "--mattermost",
                             ctx.site.public_url, "--user", sites.GITLAB_USER["user"],
                             "--password", password, check=False)
        expect(attempt.returncode != 0, f"sign-in with a wrong secret succeeded:\n{attempt.stdout}")
        doctor = ctx.container.run(["gitlab-mattermost", "doctor", CONFIG_IN_CONTAINER], check=False)
        report = doctor.stdout + doctor.stderr
        expect(doctor.returncode != 0, "doctor passed with a wrong GitLab secret")
        expect("invalid_client" in report and secret_file in report,
               f"doctor does not name the wrong secret:\n{report[-3000:]}")
        expect("gloas-wrong-secret" not in report, "doctor printed the secret")
    finally:
        ctx.container.write(secret_file, good + "\n", mode=0o600)
        ctx.systemctl("restart", "mattermost")
        ctx.wait_ready()
    return "a wrong secret fails the sign-in and doctor names invalid_client and the secret file"
