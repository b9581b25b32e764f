"""What every scenario gets: the booted container, what the config names, and helpers to act
as an admin (mmctl through local mode, as the docs say), as an API client (the same client
scripts as the NixOS VM tests) and as the host's operator (systemctl, journalctl)."""

import json
import secrets
import shlex
import statistics
import time
from pathlib import Path

from . import docs, site as sites
from .log import step

GETTING_STARTED = Path(__file__).resolve().parents[3] / "docs/getting-started.md"
CONFIG_IN_CONTAINER = "/etc/gitlab-mattermost.toml"
CLIENTS = f"{sites.CHECKS_IN_CONTAINER}/vm/clients"
ADMIN = {"username": "sysadmin", "email": "sysadmin@system-test.invalid"}


class ScenarioFailed(AssertionError):
    pass


def expect(condition, message):
    if not condition:
        raise ScenarioFailed(message)


def expect_local_mode_refusal(result, what):
    """`what`, a command that needs Mattermost's local-mode socket, run while local mode is off:
    it must refuse with exit 1 and say that local mode is off."""
    expect(result.returncode == 1 and "local mode is off" in result.stderr,
           f"with local mode off, {what} should refuse naming it (exit 1), got exit "
           f"{result.returncode}: {result.stderr[-1000:]}")


class Context:
    def __init__(self, container, site, config, workdir, build_info, next_build_info=None):
        self.container = container
        # The 11 build staged beside the 10 one for the upgrade scenario (else None).
        self.next_build_info = next_build_info
        self.site = site
        self.config = Path(config)
        self.workdir = Path(workdir)
        self.build_info = build_info
        self.state = {}
        self.timings = {}
        self.admin_password = "Adm1n-" + secrets.token_hex(8)
        self._admin_ready = False
        # Set by the local_mode scenario while Mattermost runs without local mode.
        self.local_mode_off = None
        # Set by the harness: the base tree, the staged install files, the transfer directory,
        # the Omnibus fixture; containers a scenario booted besides this one.
        self.tree = self.new_tree = self.staged = self.transfer = self.omnibus_fixture = None
        self.other_containers = []

    # ---- installation, by the document -------------------------------------------------
    def run_doc_step(self, name, env=None):
        script = docs.step(GETTING_STARTED, name)
        step(f"docs/getting-started.md step {name!r}")
        return self.container.run(
            ["bash", "-euxo", "pipefail", "-c", f"cd /root/install\n{script}"],
            env=env, timeout=900,
        )

    def install(self):
        """Everything up to a running Mattermost, as docs/getting-started.md tells an admin."""
        self.run_doc_step("install-compiler")
        self.run_doc_step("install-mattermost")
        expect(self.site.install_dir == "/opt/mattermost" or self.container.run(
            ["test", "-x", f"{self.site.install_dir}/bin/mattermost"], check=False).returncode == 0,
            f"mattermost.install_dir is {self.site.install_dir}, but the getting-started steps "
            "install Mattermost into /opt/mattermost")
        self.container.write(CONFIG_IN_CONTAINER, self.config.read_text())
        self.provision()
        started = time.monotonic()
        self.run_doc_step("render-and-install")
        self.timings["first_start_s"] = round(time.monotonic() - started, 1)
        self.wait_ready()

    def provision(self):
        sites.provision(self.container, self.site, self.workdir, self.state)
        # The stand-in's vhost is in nginx's conf.d; nginx reads it on (re)load.
        if self.systemctl("is-active", "nginx", check=False).stdout.strip() == "active":
            self.systemctl("reload", "nginx")

    def reconfigure(self, *overrides):
        """Applies the config again (with `--set` overrides) the way getting-started.md does:
        `gitlab-mattermost apply` when the document uses it (it restarts Mattermost itself
        when needed), else `render` and a restart."""
        sets = [a for o in overrides for a in ("--set", o)]
        if "gitlab-mattermost apply" in docs.step(GETTING_STARTED, "render-and-install"):
            result = self.container.run(["gitlab-mattermost", "apply", CONFIG_IN_CONTAINER, "--no-doctor", *sets])
        else:
            result = self.container.run(["gitlab-mattermost", "render", CONFIG_IN_CONTAINER, "--out",
                                         "/etc/gitlab-mattermost", *sets])
            self.systemctl("restart", "mattermost")
        self.wait_ready()
        return result

    # ---- services ----------------------------------------------------------------------
    def systemctl(self, *args, check=True):
        return self.container.run(["systemctl", *args], check=check)

    def main_pid(self):
        return int(self.systemctl("show", "-p", "MainPID", "--value", "mattermost").stdout.strip())

    def wait_ready(self, timeout=180):
        """Active (Type=notify: READY=1 was sent) and answering its ping through nginx."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.systemctl("is-active", "mattermost", check=False).stdout.strip()
            if state == "active":
                ping = self.client("mm_api.py", "--url", self.site.public_url, "GET",
                                   "/api/v4/system/ping", check=False)
                if ping.returncode == 0:
                    return
            elif state == "failed":
                raise ScenarioFailed("mattermost.service failed:\n" + self.journal("mattermost", 60))
            time.sleep(1)
        raise ScenarioFailed(f"Mattermost not ready after {timeout} s:\n" + self.journal("mattermost", 60))

    def restart_and_time(self):
        """Seconds from `systemctl start` to the unit being active (READY=1): the server is
        stopped first, so its shutdown is not counted."""
        self.systemctl("stop", "mattermost")
        started = time.monotonic()
        self.systemctl("start", "mattermost")
        seconds = time.monotonic() - started
        self.wait_ready()
        return seconds

    def journal(self, unit, lines=80):
        return self.container.run(["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"],
                                  check=False).stdout

    def save_journal(self, name):
        try:
            text = self.container.run(["journalctl", "-b", "--no-pager"], check=False).stdout
            (self.workdir / f"journal-{name}.log").write_text(text)
            step(f"journal saved to {self.workdir}/journal-{name}.log")
        except Exception as err:  # the container may be gone
            step(f"no journal for {name}: {err}")

    # ---- clients -------------------------------------------------------------------------
    def client(self, script, *args, check=True, timeout=300):
        """Runs one of the VM tests' client scripts inside the container."""
        result = self.container.run(["python3", f"{CLIENTS}/{script}", *args], check=False,
                                    timeout=timeout)
        if check and result.returncode != 0:
            raise ScenarioFailed(f"{script} {' '.join(args)}: exit {result.returncode}\n"
                                 f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result

    def api(self, method, path, body=None, login=None, check=True):
        """One REST call through nginx as `login` (USER:PASSWORD); returns the parsed JSON."""
        args = ["--url", self.site.public_url]
        if login:
            args += ["--login", login]
        args += [method, path]
        if body is not None:
            args.append(json.dumps(body))
        result = self.client("mm_api.py", *args, check=check)
        try:
            return json.loads(result.stdout) if result.stdout.strip() else None
        except ValueError:
            return result.stdout

    @property
    def local_mode(self):
        """Whether Mattermost runs with local mode (the default): as the config says, unless a
        scenario turned it off with `reconfigure` (`local_mode_off`)."""
        if self.local_mode_off is not None:
            return not self.local_mode_off
        return self.site.env.get("MM_SERVICESETTINGS_ENABLELOCALMODE") == "true"

    def mmctl(self, *args, check=True):
        """mmctl --local, exactly as docs/getting-started.md tells an admin to run it: the
        documented command with its example arguments (`system status`) replaced by ours. A
        config that turns local mode off is administered through the REST API instead: mmctl
        logged in, through nginx, as the system admin the API made."""
        if self.local_mode:
            command = docs.step(GETTING_STARTED, "mmctl").strip()
            expect(command.endswith(" system status") and "\n" not in command,
                   "the getting-started mmctl step must be one command ending in `system status`")
            full = command[: -len("system status")] + " ".join(shlex.quote(a) for a in args)
        else:
            self.ensure_admin()
            full = f"{shlex.quote(self.site.install_dir + '/bin/mmctl')} " + " ".join(shlex.quote(a) for a in args)
        result = self.container.run(["bash", "-c", full], check=False)
        if check and result.returncode != 0:
            raise ScenarioFailed(f"mmctl {' '.join(args)}: exit {result.returncode}\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    @property
    def admin_login(self):
        self.ensure_admin()
        return f"{ADMIN['username']}:{self.admin_password}"

    def ensure_admin(self):
        if self._admin_ready:
            return
        if not self.local_mode:
            self._ensure_admin_through_the_api()
            self._admin_ready = True
            return
        existing = self.mmctl("user", "search", ADMIN["username"], check=False)
        if ADMIN["username"] not in existing.stdout:
            self.mmctl("user", "create", "--email", ADMIN["email"], "--username", ADMIN["username"],
                       "--password", self.admin_password, "--system-admin", "--email-verified")
        self._admin_ready = True

    def _ensure_admin_through_the_api(self):
        """Without local mode: the first account made through the API is Mattermost's system
        admin; mmctl then logs in as it (its credentials in root's mmctl config)."""
        self._admin_ready = True  # the calls below log in as the admin
        login = self.api("POST", "/api/v4/users/login",
                         {"login_id": ADMIN["username"], "password": self.admin_password}, check=False)
        if not (isinstance(login, dict) and login.get("username") == ADMIN["username"]):
            made = self.api("POST", "/api/v4/users", {"email": ADMIN["email"], "username": ADMIN["username"],
                                                     "password": self.admin_password}, check=False)
            expect(isinstance(made, dict) and made.get("username") == ADMIN["username"],
                   "local mode is off and Mattermost refused the system test's first account "
                   f"(sign-up with email off?), so nothing can administer it: {made}")
            expect(isinstance(made, dict) and "system_admin" in made.get("roles", ""),
                   f"the first account made through the API is no system admin: {made}")
        self.container.write("/root/.mmctl-admin-password", self.admin_password, 0o600)
        mmctl = shlex.quote(self.site.install_dir + "/bin/mmctl")
        self.container.run(["bash", "-c", f"{mmctl} auth login {shlex.quote(self.site.public_url)} "
                            f"--name system-test --username {shlex.quote(ADMIN['username'])} "
                            "--password-file /root/.mmctl-admin-password"])

    def team_and_channel(self):
        """A team with the admin in it and its town-square channel (made once)."""
        if "team" not in self.state:
            team = self.api("POST", "/api/v4/teams", {"name": "system-test", "display_name": "System test",
                                                      "type": "O"}, login=self.admin_login, check=False)
            if not isinstance(team, dict) or "id" not in team:
                team = self.api("GET", "/api/v4/teams/name/system-test", login=self.admin_login)
            channel = self.api("GET", f"/api/v4/teams/{team['id']}/channels/name/town-square",
                               login=self.admin_login)
            self.state["team"], self.state["channel"] = team, channel
        return self.state["team"], self.state["channel"]

    def median_restart(self, runs=5):
        times = [self.restart_and_time() for _ in range(runs)]
        return round(statistics.median(times), 2), [round(t, 2) for t in times]
