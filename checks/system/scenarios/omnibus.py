"""omnibus: an Omnibus host with real data, moved onto a new host by the migration guide's
own commands, then back (rollback).

Runs on its own with the 10 build (`--mattermost 10 --scenario omnibus`); the 11 build is
the new host's. Two containers from the same tree: the old host (the one the harness
booted), made Omnibus-shaped from the fixture (harness/omnibus.py), and a new host booted
here. Files travel between them only through the harness (playing `rsync` and `scp`).
- On the old host (Mattermost 10 as Omnibus ran it): real data through the API — an admin,
  a password user, the GitLab user (signed in through the stand-in with the application
  Omnibus registered), a team, public and private channels, a direct message, a thread and a
  reaction, posts with an image (preview and thumbnail made by Mattermost) and another file,
  a custom emoji, a profile picture, a public file link, a personal access token, an
  incoming webhook used by the project's GitLab notifications and a slash command used by
  the project's GitLab slash-commands integration, System Console changes.
- The guide's marked blocks (docs/migrating-from-omnibus.md), verbatim: import with
  --omnibus-root, a pre-sync while the old server serves (then more data), stop, the final
  export, and on the new host migrate import and apply (Mattermost 11).
- On the new host: every row of the old side by id, every file (previews and thumbnails too)
  downloads with the old checksum, the public link, the access token, password login, the
  GitLab user signs in to the same account with the application Omnibus registered (no new
  one), webhook and slash command, the System Console changes, objects owned by the service
  role, files by the service account, AtRestEncryptKey as before, no secret in a
  world-readable file.
- Rollback by the guide: the new server stops, the old one starts with its data, and GitLab
  sign-in works there (its application was not renewed).
"""

import base64
import hashlib
import json
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

from harness import container as containers
from harness import docs, omnibus as omni, site as sites
from harness.context import GETTING_STARTED, Context, ScenarioFailed, expect
from harness.log import step

from . import upgrade

GUIDE = Path(__file__).resolve().parents[3] / "docs/migrating-from-omnibus.md"
BUNDLE = "/var/tmp/mattermost-move"
ADMIN = {"username": "omni-admin", "email": "omni-admin@system-test.invalid"}
USER = {"username": "omni-pat", "email": "omni-pat@system-test.invalid"}
SLASH_TRIGGER = "gitlab-omnibus"
# Tables compared row by row (by id) between the old and the new host.
TABLES = dict(upgrade.TABLES, reactions="postid || ':' || userid || ':' || emojiname",
              emoji="id", useraccesstokens="id", preferences="userid || ':' || category || ':' || name")


class OmnibusSite:
    """What the clients need: Mattermost's URL on this host, and GitLab's."""

    def __init__(self, fixture, url=None):
        self.fixture = fixture
        self.public_url = (url or fixture.url).rstrip("/")
        self.gitlab_url = fixture.gitlab_url.rstrip("/")
        self.env = {}

    def hosts(self):
        return [h for h in (self.fixture.host, self.fixture.gitlab_host, self.fixture.new_host) if h]


def run(ctx):
    if ctx.build_info.get("line") != "10" or not ctx.next_build_info:
        raise upgrade.Skipped("the old host runs the 10 build Omnibus shipped: "
                              "run `checks/system/run --mattermost 10 --scenario omnibus`")
    fixture = ctx.omnibus_fixture
    site = OmnibusSite(fixture)
    old = ctx
    old.site = site
    facts = []
    make_old_host(old, fixture)
    data = make_data(old)
    facts.append(f"old host ({fixture.variant()}): {data['summary']}")
    before = snapshot(old)
    moved = follow_guide(old, fixture, data)
    new = moved["new"]
    facts.append(moved["summary"])
    try:
        facts.append(check_new_host(new, fixture, data, before))
    except ScenarioFailed:
        new.save_journal("omnibus-new-host")
        raise
    facts.append(roll_back(old, new, data, before))
    return "; ".join(facts)


# ---- the old host ---------------------------------------------------------------------------
def provision(container, site, workdir, state):
    """Host names, the test CA and the GitLab stand-in, as on the old host's network."""
    hosts = site.hosts()
    lines = [l for l in container.run(["cat", "/etc/hosts"]).stdout.splitlines() if "# system-test" not in l]
    container.write("/etc/hosts", "\n".join(lines + [f"127.0.0.1 {h} # system-test" for h in hosts]) + "\n")
    certs = Path(workdir) / "certs"
    if not (certs / "ca.pem").exists():
        subprocess.run(["bash", str(sites.MAKE_CERTS), str(certs), *hosts], check=True, capture_output=True)
    container.write("/usr/local/share/ca-certificates/system-test-ca.crt", (certs / "ca.pem").read_text())
    container.run(["update-ca-certificates"])
    sites.serve_gitlab(container, site, certs, state)
    container.run(["systemctl", "reload", "nginx"])
    return certs


def seed_gitlab(container, application):
    """GitLab as Omnibus left it: the application its reconfigure registered."""
    state = json.loads(container.run(["cat", sites.GITLAB_STATE]).stdout)
    state["applications"] = [application]
    state["next_id"] = application["id"] + 1
    container.write(sites.GITLAB_STATE, json.dumps(state), 0o600)
    container.run(["systemctl", "restart", "system-test-gitlab"])
    sites.wait_for_port(container, sites.GITLAB_STANDIN_PORT)


def make_old_host(ctx, fixture):
    certs = provision(ctx.container, ctx.site, ctx.workdir, ctx.state)
    seed_gitlab(ctx.container, fixture.oauth_application())
    omni.build_host(ctx.container, fixture, "/root/install/mattermost-*-linux-amd64.tar.gz", ctx.transfer)
    omni.serve_vhost(ctx.container, fixture, certs)
    wait_ping(ctx)
    # The guide's first step on the old host: the tool (getting-started's step).
    ctx.run_doc_step("install-compiler")


def wait_ping(ctx, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ctx.client("mm_api.py", "--url", ctx.site.public_url, "GET", "/api/v4/system/ping",
                      check=False).returncode == 0:
            return
        time.sleep(1)
    raise ScenarioFailed(f"Mattermost at {ctx.site.public_url} not ready after {timeout} s:\n"
                         + ctx.container.run(["journalctl", "-n", "60", "--no-pager", "-o", "cat"],
                                             check=False).stdout)


def png(width=96, height=64):
    """A real RGB PNG (a gradient), so that Mattermost makes a preview and a thumbnail."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
        for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def put_binary(container, path, data):
    container.run(["bash", "-c", f"base64 -d > {path}"], input=base64.b64encode(data).decode())


def curl_json(ctx, token, *args):
    out = ctx.container.run(["curl", "-fsS", "-H", f"Authorization: Bearer {token}", *args]).stdout
    return json.loads(out) if out.strip() else None


def make_data(ctx):
    admin_password = "Omni-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:14]
    # The first account of a Mattermost becomes its system admin.
    ctx.api("POST", "/api/v4/users", {**ADMIN, "password": admin_password})
    admin = f"{ADMIN['username']}:{admin_password}"
    me = ctx.api("GET", "/api/v4/users/me", login=admin)
    expect("system_admin" in me.get("roles", ""), f"the first user is not a system admin: {me}")
    # System Console changes (saved in config.json).
    ctx.api("PUT", "/api/v4/config/patch", {
        "ServiceSettings": {"EnableCustomEmoji": True, "EnableUserAccessTokens": True},
        "FileSettings": {"EnablePublicLink": True},
        "TeamSettings": {"MaxChannelsPerTeam": 321},
    }, login=admin)
    team = ctx.api("POST", "/api/v4/teams", {"name": "omnibus", "display_name": "Omnibus", "type": "O"},
                   login=admin)
    town = ctx.api("GET", f"/api/v4/teams/{team['id']}/channels/name/town-square", login=admin)
    private = ctx.api("POST", "/api/v4/channels", {"team_id": team["id"], "name": "omnibus-private",
                                                   "display_name": "Private", "type": "P"}, login=admin)
    user_password = "Pat-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:14]
    user = ctx.api("POST", "/api/v4/users", {**USER, "password": user_password}, login=admin)
    ctx.api("POST", f"/api/v4/teams/{team['id']}/members", {"team_id": team["id"], "user_id": user["id"]},
            login=admin)
    ctx.api("POST", f"/api/v4/channels/{private['id']}/members", {"user_id": user["id"]}, login=admin)
    direct = ctx.api("POST", "/api/v4/channels/direct", [me["id"], user["id"]], login=admin)
    pat = f"{USER['username']}:{user_password}"
    root = ctx.api("POST", "/api/v4/posts", {"channel_id": town["id"], "message": "omnibus thread root"},
                   login=admin)
    ctx.api("POST", "/api/v4/posts", {"channel_id": town["id"], "root_id": root["id"],
                                     "message": "a reply in the thread"}, login=pat)
    ctx.api("POST", "/api/v4/reactions", {"user_id": user["id"], "post_id": root["id"],
                                         "emoji_name": "+1"}, login=pat)
    ctx.api("POST", "/api/v4/posts", {"channel_id": direct["id"], "message": "a direct message"}, login=pat)
    for n in range(40):
        ctx.api("POST", "/api/v4/posts", {"channel_id": (town if n % 2 else private)["id"],
                                         "message": f"omnibus probe {n}"}, login=admin)
    token = upgrade.session_token(ctx, admin)
    put_binary(ctx.container, "/tmp/omnibus-picture.png", png())
    image = curl_json(ctx, token, "-F", f"channel_id={town['id']}", "-F", "files=@/tmp/omnibus-picture.png",
                      f"{ctx.site.public_url}/api/v4/files")["file_infos"][0]
    ctx.api("POST", "/api/v4/posts", {"channel_id": town["id"], "message": "a picture",
                                     "file_ids": [image["id"]]}, login=admin)
    other_id, _ = upgrade.upload_file(ctx, private["id"], admin)
    link = ctx.api("GET", f"/api/v4/files/{image['id']}/link", login=admin)["link"]
    emoji = curl_json(ctx, token, "-F", "image=@/tmp/omnibus-picture.png", "-F",
                      "emoji=" + json.dumps({"creator_id": me["id"], "name": "omnibus"}),
                      f"{ctx.site.public_url}/api/v4/emoji")
    curl_json(ctx, token, "-F", "image=@/tmp/omnibus-picture.png",
              f"{ctx.site.public_url}/api/v4/users/{me['id']}/image")
    access = ctx.api("POST", f"/api/v4/users/{me['id']}/tokens", {"description": "omnibus automation"},
                     login=admin)
    hook = ctx.api("POST", "/api/v4/hooks/incoming", {"channel_id": town["id"], "display_name": "GitLab"},
                   login=admin)
    command = ctx.api("POST", "/api/v4/commands", {
        "team_id": team["id"], "trigger": SLASH_TRIGGER, "method": "P",
        "url": f"{ctx.site.gitlab_url}/api/v4/projects/{sites.GITLAB_PROJECT['id']}"
               "/integrations/mattermost_slash_commands/trigger"}, login=admin)
    # The project's integrations in GitLab, as an admin set them up years ago.
    gitlab_api(ctx, "PUT", "mattermost", {"webhook": f"{ctx.site.public_url}/hooks/{hook['id']}",
                                          "push_events": True})
    gitlab_api(ctx, "PUT", "mattermost-slash-commands", {"token": command["token"]})
    gitlab_user = upgrade.sign_in_with_gitlab(ctx, "/oauth/gitlab/login")
    plugin_secret = "plugin-secret-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:16]
    ctx.api("POST", f"/api/v4/plugins/{omni.PLUGIN_ID}/enable", login=admin)
    ctx.api("PUT", "/api/v4/config/patch",
            {"PluginSettings": {"Plugins": {omni.PLUGIN_ID: {"apisecret": plugin_secret}}}}, login=admin)
    expect(plugin_active(ctx, admin), f"the plugin {omni.PLUGIN_ID} did not start on the old host")
    files = file_checksums(ctx, admin)
    public = public_link_sha(ctx, link)
    expect(public == files[image["id"]]["file"], "the public link serves another file")
    data = {
        "admin": admin, "admin_id": me["id"], "pat": pat, "team": team, "town": town, "private": private,
        "direct": direct, "image": image, "other_file": other_id, "link": link, "emoji": emoji,
        "access_token": access["token"], "hook": hook, "command": command, "gitlab_user": gitlab_user,
        "files": files, "plugin_secret": plugin_secret,
        "summary": (f"an admin, a password user, the GitLab user {gitlab_user['username']}, public, private "
                    f"and direct channels, a thread with a reaction, 44 posts, {len(files)} files "
                    "(an image with preview and thumbnail), a custom emoji, a profile picture, a public "
                    "link, an access token, an incoming webhook and a slash command used by GitLab's "
                    "project integrations, a plugin enabled with a secret setting, System Console changes"),
    }
    return data


def gitlab_api(ctx, method, slug, body):
    token = ctx.container.run(["cat", sites.ADMIN_TOKEN_FILE]).stdout.strip()
    project = sites.GITLAB_PROJECT["id"]
    ctx.container.run(["curl", "-fsS", "-X", method, "-H", f"PRIVATE-TOKEN: {token}", "-H",
                       "Content-Type: application/json", "-d", json.dumps(body),
                       f"{ctx.site.gitlab_url}/api/v4/projects/{project}/integrations/{slug}"])


def file_checksums(ctx, login):
    """SHA-256 of every file Mattermost serves for every FileInfo: the file, and its preview
    and thumbnail when it has them."""
    token = upgrade.session_token(ctx, login)
    infos = sql(ctx, "SELECT id, coalesce(previewpath, ''), coalesce(thumbnailpath, '') FROM fileinfo "
                     "WHERE deleteat = 0")
    out = {}
    for line in infos:
        file_id, preview, thumb = line.split("|")
        sums = {"file": download_sha(ctx, token, f"/api/v4/files/{file_id}")}
        if preview:
            sums["preview"] = download_sha(ctx, token, f"/api/v4/files/{file_id}/preview")
        if thumb:
            sums["thumbnail"] = download_sha(ctx, token, f"/api/v4/files/{file_id}/thumbnail")
        out[file_id] = sums
    return out


def download_sha(ctx, token, path):
    ctx.container.run(["curl", "-fsS", "-o", "/tmp/omnibus-download", "-H", f"Authorization: Bearer {token}",
                       f"{ctx.site.public_url}{path}"])
    return ctx.container.run(["sha256sum", "/tmp/omnibus-download"]).stdout.split()[0]


def public_link_sha(ctx, link):
    ctx.container.run(["curl", "-fsS", "-o", "/tmp/omnibus-public", link])
    return ctx.container.run(["sha256sum", "/tmp/omnibus-public"]).stdout.split()[0]


def sql(ctx, query):
    """Rows (`|`-separated) from Mattermost's database on this host: Omnibus's cluster as
    gitlab-psql, or the new host's as postgres."""
    omnibus_host = ctx.container.run(["test", "-d", omni.PG_DIR + "/data"], check=False).returncode == 0 \
        and ctx.container.run(["systemctl", "is-active", omni.PG_UNIT], check=False).stdout.strip() == "active"
    if omnibus_host and not ctx.state.get("moved"):
        argv = ["runuser", "-u", "gitlab-psql", "--", "psql", "-h", omni.PG_DIR, "-d", "mattermost_production"]
    else:
        argv = ["runuser", "-u", "postgres", "--", "psql", "-d", "mattermost_production"]
    out = ctx.container.run(argv + ["-XAt", "-c", query]).stdout
    return [l for l in out.splitlines() if l.strip()]


def snapshot(ctx):
    return {t: set(sql(ctx, f"SELECT {key} FROM {t}")) for t, key in TABLES.items()}


# ---- the guide ----------------------------------------------------------------------------
def guide(ctx, name, timeout=1200, env=None):
    script = docs.step(GUIDE, name)
    step(f"docs/migrating-from-omnibus.md step {name!r}")
    result = ctx.container.run(["bash", "-euxo", "pipefail", "-c", f"cd /root\n{script}"],
                               check=False, timeout=timeout, env=env)
    if result.returncode != 0:
        raise ScenarioFailed(f"guide step {name} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout + result.stderr


def boot_new_host(ctx):
    """A second container from the same tree: the new host, with the 11 build staged."""
    tree = ctx.workdir / "new-tree"
    step(f"copying the container tree for the new host to {tree}")
    subprocess.run(["cp", "-a", "--reflink=auto", str(ctx.new_tree or ctx.tree), str(tree)], check=True)
    staged = ctx.workdir / "install-new"
    staged.mkdir(parents=True, exist_ok=True)
    for deb in ctx.staged.glob("gitlab-mattermost_*.deb"):
        shutil.copy2(deb, staged / deb.name)
    for tarball in (ctx.staged / "next").glob("*.tar.gz"):
        shutil.copy2(tarball, staged / "mattermost-11-linux-amd64.tar.gz")
    box = containers.Container(tree, ctx.workdir / "new-container.log", binds=[
        f"{sites.CHECKS}:{sites.CHECKS_IN_CONTAINER}:norbind",
        f"{staged}:/root/install", f"{ctx.transfer}:{omni.TRANSFER_IN_CONTAINER}"])
    ctx.other_containers.append(box)
    box.boot()
    new = Context(box, ctx.site, ctx.config, ctx.workdir, ctx.next_build_info)
    new.state["gitlab"] = ctx.state["gitlab"]
    return new


def carry(old, new, paths):
    """What the admin copies from the old host to the new one (the guide's `rsync -a --delete`),
    with owners, modes and times kept, and nothing left that the old side no longer has."""
    names = " ".join(paths)
    old.container.sh(f"umask 077 && tar -C / -cpf {omni.TRANSFER_IN_CONTAINER}/carry.tar {names}")
    new.container.sh(f"cd / && rm -rf {names} && tar -C / -xpf {omni.TRANSFER_IN_CONTAINER}/carry.tar "
                     f"&& rm {omni.TRANSFER_IN_CONTAINER}/carry.tar")


def follow_guide(old, fixture, data):
    report = guide(old, "import")
    expect("taken from" in report, f"the import report does not say where the secrets came from:\n{report[-3000:]}")
    guide(old, "pre-sync")
    if fixture.same_host:
        return follow_guide_on_the_same_host(old, data)
    # The new host is made ready while the old one serves: installed, the config and the
    # pre-synced bundle carried over, the config checked.
    new = prepare_new_host(old)
    carry(old, new, ["root/mattermost.toml", "root/mattermost-secrets", "etc/gitlab/ssl", BUNDLE.lstrip("/")])
    if fixture.uid_holder:
        uid_taken(new, fixture)
    else:
        guide(new, "new-config")
    if fixture.new_url:
        change_url(new, fixture)
    presync = guide(new, "import-pre-sync")
    expect("the bundle is not final" in presync, f"the import of a pre-synced bundle did more than copy files:\n"
                                                 f"{presync[-2000:]}")
    write_late_data(old, data)
    # Downtime: from here until the new host answers.
    stopped = time.monotonic()
    guide(old, "stop-old")
    guide(old, "final-export")
    final_s = time.monotonic() - stopped
    carry(old, new, [BUNDLE.lstrip("/")])
    import_started = time.monotonic()
    imported = guide(new, "migrate-import")
    import_s = time.monotonic() - import_started
    expect("nothing lost" in imported, f"migrate import did not verify:\n{imported[-3000:]}")
    new.state["moved"] = True
    apply_started = time.monotonic()
    guide(new, "apply")
    new.wait_ready(timeout=600)
    apply_s = time.monotonic() - apply_started
    downtime = time.monotonic() - stopped
    manifest = json.loads(new.container.run(["cat", f"{BUNDLE}/migration.json"]).stdout)
    pre = next(p for p in manifest["passes"] if not p["final"])
    fin = manifest["passes"][-1]
    expect(fin["final"] and 1 <= fin["copied"] < pre["copied"] and fin["copied_bytes"] >= 200_000,
           f"the final pass should copy only what changed after the pre-sync (the 200000-byte upload): "
           f"pre-sync {pre['copied']} files, final {fin['copied']} files / {fin['copied_bytes']} B")
    old.timings.update({
        "omnibus_presync_s": round(pre["seconds"], 2), "omnibus_final_export_s": round(fin["seconds"], 2),
        "omnibus_import_s": round(import_s, 1), "omnibus_apply_s": round(apply_s, 1),
        "omnibus_downtime_s": round(downtime, 1)})
    versions = f"PostgreSQL {manifest['source']['pg_version_num'] // 10000} → " + new.container.run(
        ["runuser", "-u", "postgres", "--", "psql", "-XAtc", "SHOW server_version_num"]).stdout.strip()[:2]
    return {"new": new, "summary": (
        f"the guide moved it ({versions}; pre-sync {pre['copied']} files / {pre['copied_bytes']} B in {pre['seconds']:.1f} s "
        f"while serving; final pass {fin['copied']} files / {fin['copied_bytes']} B plus the database in "
        f"{fin['seconds']:.1f} s; Mattermost unavailable {downtime:.1f} s from `gitlab-ctl stop` to ready on "
        f"the new host: stop and final export {final_s:.1f} s, migrate import with its verification "
        f"{import_s:.1f} s, apply with the first start of 11 {apply_s:.1f} s, the rest the harness's copy)")}


def write_late_data(old, data):
    """Users go on working after the pre-sync: this must reach the new server too."""
    late = old.api("POST", "/api/v4/posts", {"channel_id": data["town"]["id"],
                                             "message": "written after the pre-sync"}, login=data["admin"])
    late_file, late_sha = upgrade.upload_file(old, data["town"]["id"], data["admin"])
    data["late_post"], data["late_file"], data["late_sha"] = late["id"], late_file, late_sha
    data["files"] = file_checksums(old, data["admin"])


def follow_guide_on_the_same_host(host, data):
    """The guide's same-host path: Mattermost 11 installed beside Omnibus's, the config
    rendering the vhost for Omnibus's nginx, the address handed over after apply."""
    host.container.run(["bash", "-euxo", "pipefail", "-c",
                        "cd /root/install/next\n" + docs.step(GETTING_STARTED, "install-mattermost")])
    guide(host, "same-host-config")
    presync = guide(host, "import-pre-sync")
    expect("the bundle is not final" in presync, f"the import of a pre-synced bundle did more:\n{presync[-2000:]}")
    write_late_data(host, data)
    stopped = time.monotonic()
    guide(host, "stop-old")
    guide(host, "final-export")
    imported = guide(host, "migrate-import")
    expect("nothing lost" in imported, f"migrate import did not verify:\n{imported[-3000:]}")
    host.state["moved"] = True
    guide(host, "apply")
    guide(host, "same-host-switch")
    host.wait_ready(timeout=600)
    downtime = time.monotonic() - stopped
    host.timings["omnibus_downtime_s"] = round(downtime, 1)
    return {"new": host, "summary": (
        f"the guide moved it on the same host (Omnibus's nginx now includes the rendered vhost); "
        f"Mattermost unavailable {downtime:.1f} s from `gitlab-ctl stop` to ready")}


def prepare_new_host(old):
    new = boot_new_host(old)
    provision(new.container, new.site, new.workdir, new.state)
    # The same GitLab: its state (applications, users, integrations) as the old host saw it.
    new.container.write(sites.GITLAB_STATE, old.container.run(["cat", sites.GITLAB_STATE]).stdout, 0o600)
    new.container.run(["systemctl", "restart", "system-test-gitlab"])
    sites.wait_for_port(new.container, sites.GITLAB_STANDIN_PORT)
    new.run_doc_step("install-compiler")
    new.run_doc_step("install-mattermost")
    return new


def change_url(new, fixture):
    """The guide's changed-URL block, with a certificate for the new name where certbot would
    have put it; from then on the clients use the new address."""
    certs = Path(new.workdir) / "certs"
    new.container.write("/etc/ssl/mattermost/fullchain.pem", (certs / f"{fixture.new_host}.pem").read_text())
    new.container.write("/etc/ssl/mattermost/privkey.pem", (certs / f"{fixture.new_host}.key").read_text(), 0o600)
    out = guide(new, "changed-url", env={"NEW_URL": fixture.new_url})
    expect("created application" in out and "kept" in out,
           f"gitlab register did not create a new application beside Omnibus's:\n{out[-3000:]}")
    new.site = OmnibusSite(fixture, fixture.new_url)


def uid_taken(new, fixture):
    """The new host already has an account with the old uid: the dry run must refuse, naming
    it, and the guide's fix (free ids in the config) must be enough."""
    holder = fixture.uid_holder
    new.container.run(["groupadd", "--system", "--gid", str(fixture.gid), holder])
    new.container.run(["useradd", "--system", "--uid", str(fixture.uid), "--gid", str(fixture.gid), holder])
    result = new.container.run(["bash", "-euo", "pipefail", "-c", "cd /root\n" + docs.step(GUIDE, "new-config")],
                               check=False)
    output = result.stdout + result.stderr
    expect(result.returncode == 2 and holder in output,
           f"the dry run did not refuse the uid {fixture.uid} that {holder} holds (exit {result.returncode}):\n"
           f"{output[-3000:]}")
    guide(new, "uid-taken")


# ---- the new host -------------------------------------------------------------------------
def check_new_host(new, fixture, data, before):
    facts = []
    version = upgrade.server_version(new)
    expect(version.startswith("11."), f"the new host runs {version!r}, not the 11 line")
    after = snapshot(new)
    lost = {t: sorted(before[t] - after[t])[:5] for t in TABLES if before[t] - after[t]}
    expect(not lost, f"rows lost by the move (first few per table): {lost}")
    late = sql(new, f"SELECT count(*) FROM posts WHERE id = '{data['late_post']}'")
    expect(late == ["1"], "the post written after the pre-sync did not arrive")
    facts.append(f"on 11 ({version}): every row of {', '.join(f'{t} ({len(before[t])})' for t in TABLES)}")
    files = file_checksums(new, data["admin"])
    differ = [f for f in data["files"] if files.get(f) != data["files"][f]]
    expect(not differ, f"files that download differently on the new host: {differ}")
    facts.append(f"all {len(files)} files with their previews and thumbnails download with the old checksums")
    link = data["link"]
    if fixture.new_url:
        # Links carry the address: the same link at the new name, and what the server hands out.
        link = link.replace(fixture.url.rstrip("/"), fixture.new_url.rstrip("/"))
        handed = new.api("GET", f"/api/v4/files/{data['image']['id']}/link", login=data["admin"])["link"]
        expect(handed == link, f"the new host hands out {handed}, expected {link}")
    expect(public_link_sha(new, link) == data["files"][data["image"]["id"]]["file"],
           "the public link does not serve the file on the new host")
    me = json.loads(new.container.run(["curl", "-fsS", "-H", f"Authorization: Bearer {data['access_token']}",
                                       f"{new.site.public_url}/api/v4/users/me"]).stdout)
    expect(me["id"] == data["admin_id"], "the personal access token does not work on the new host")
    pat = new.api("GET", "/api/v4/users/me", login=data["pat"])
    expect(pat["username"] == USER["username"], "password login on the new host")
    apps_before = gitlab_applications(new)
    user = upgrade.sign_in_with_gitlab(new, "/gitlab-sign-in")
    expect(user["id"] == data["gitlab_user"]["id"], "the GitLab user signed in to another account")
    omnibus_app = fixture.oauth_application()["application_id"]
    expect(gitlab_applications(new) == apps_before, "signing in changed GitLab's applications")
    if fixture.new_url:
        expect(len(apps_before) == 2 and apps_before[0] == omnibus_app,
               f"expected Omnibus's application kept and one new: {apps_before}")
        facts.append(f"at the new address {fixture.new_url}: the public link, access token, password login, and "
                     "GitLab sign-in to the same account with a new application (Omnibus's kept for the old host)")
    else:
        expect(apps_before == [omnibus_app], f"GitLab's applications changed: {apps_before}")
        facts.append("public link, access token, password login, and GitLab sign-in to the same account with "
                     "the application Omnibus registered (none added)")
    text = f"posted through the old webhook on the new host {time.time_ns()}"
    new.container.run(["curl", "-fsS", "-H", "Content-Type: application/json", "-d", json.dumps({"text": text}),
                       f"{new.site.public_url}/hooks/{data['hook']['id']}"])
    found = new.api("POST", f"/api/v4/teams/{data['team']['id']}/posts/search",
                    {"terms": f'"{text}"', "is_or_search": False}, login=data["admin"])
    expect(found.get("order"), "the webhook's post is not found on the new host")
    answer = new.api("POST", "/api/v4/commands/execute", {"channel_id": data["town"]["id"],
                                                          "command": f"/{SLASH_TRIGGER} help"}, login=data["admin"])
    expect("Available commands" in json.dumps(answer), f"the slash command did not reach GitLab: {answer}")
    config = new.api("GET", "/api/v4/config", login=data["admin"])
    expect(config["TeamSettings"]["MaxChannelsPerTeam"] == 321 and config["FileSettings"]["EnablePublicLink"],
           "the System Console changes did not move")
    facts.append("webhook, slash command and System Console changes work")
    expect(plugin_active(new, data["admin"]), "the plugin is not active on the new host")
    held = new.container.run(["grep", "-c", data["plugin_secret"], "/var/lib/mattermost/config/config.json"],
                             check=False).stdout.strip()
    expect(held == "1", "the plugin's secret setting did not move with config.json")
    new.api("POST", f"/api/v4/plugins/{omni.PLUGIN_ID}/disable", login=data["admin"])
    expect(not plugin_active(new, data["admin"]), "an admin cannot disable the plugin on the new host")
    new.api("POST", f"/api/v4/plugins/{omni.PLUGIN_ID}/enable", login=data["admin"])
    expect(plugin_active(new, data["admin"]), "an admin cannot enable the plugin again on the new host")
    facts.append("the plugin is active with its secret setting (in config.json only) and an admin can toggle it")
    foreign = sql(new, "SELECT c.relname || ' ' || pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n "
                       "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> 'mattermost'")
    expect(not foreign, f"objects not owned by the service role: {foreign[:5]}")
    strays = new.container.run(["find", "/var/lib/mattermost", "!", "-type", "l", "!", "-user", "mattermost"]).stdout.split()
    expect(not strays, f"files not owned by the service account: {strays[:5]}")
    key = fixture.mattermost_secrets["sql_at_rest_encrypt_key"]
    held = new.container.run(["bash", "-c", "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value mattermost)/environ "
                                            "| grep -c '^MM_SQLSETTINGS_ATRESTENCRYPTKEY=" + key + "$'"], check=False)
    expect(held.stdout.strip() == "1", "the new server does not run with the old AtRestEncryptKey")
    # On the same host Omnibus's files are still there (its env directory holds the secrets,
    # as Omnibus left them): only what the move made is checked.
    omnibus_paths = ["/opt/gitlab", "/etc/gitlab", "/var/opt/gitlab", "/var/log/gitlab"] if fixture.same_host else []
    leaks = world_readable_leaks(new, [key, fixture.mattermost_secrets["gitlab_secret"], data["plugin_secret"]],
                                 omnibus_paths)
    expect(not leaks, f"a secret is in world-readable files: {leaks}")
    facts.append("every database object owned by the service role, every file by the service account, "
                 "the old AtRestEncryptKey in use, no secret in a world-readable file")
    return "; ".join(facts)


def plugin_active(ctx, login):
    plugins = ctx.api("GET", "/api/v4/plugins", login=login)
    return any(p["id"] == omni.PLUGIN_ID for p in plugins.get("active") or [])


def gitlab_applications(ctx):
    state = json.loads(ctx.container.run(["cat", sites.GITLAB_STATE]).stdout)
    return [a["application_id"] for a in state["applications"]]


def world_readable_leaks(ctx, values, skip=()):
    patterns = "\n".join(values) + "\n"
    ctx.container.write("/root/.secret-patterns", patterns, 0o600)
    # /var/lib/system-test holds the stand-ins' own state (GitLab's side).
    prune = " ".join(f"-path {p} -prune -o" for p in ["/var/lib/system-test", *skip])
    out = ctx.container.run(["bash", "-c",
                             f"find /etc /var /opt /root /tmp /srv -xdev {prune} "
                             "-type f -perm -o+r -size -20M -print0 2>/dev/null "
                             "| xargs -0 -r grep -lF -f /root/.secret-patterns 2>/dev/null || true"]).stdout
    ctx.container.run(["rm", "-f", "/root/.secret-patterns"])
    return [l for l in out.splitlines() if l.strip()]


# ---- rollback -----------------------------------------------------------------------------
def roll_back(old, new, data, before):
    if new is old:
        guide(old, "same-host-rollback")
        old.state["moved"] = False
    else:
        guide(new, "rollback-new")
        guide(old, "rollback-old")
    wait_ping(old)
    now = snapshot(old)
    differ = {t: (len(before[t]), len(now[t])) for t in TABLES if not before[t] <= now[t]}
    expect(not differ, f"rows missing on the old host after the rollback (before, now): {differ}")
    pat = old.api("GET", "/api/v4/users/me", login=data["pat"])
    expect(pat["username"] == USER["username"], "password login on the old host after the rollback")
    user = upgrade.sign_in_with_gitlab(old, "/oauth/gitlab/login")
    expect(user["id"] == data["gitlab_user"]["id"], "GitLab sign-in on the old host after the rollback")
    return ("rollback: the new server stopped, the old one started with all its data, password login and "
            "GitLab sign-in work there (its application secret was never renewed)")
