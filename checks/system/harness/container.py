"""A Debian tree (bookworm; trixie for the omnibus scenario) booted with systemd-nspawn: real
systemd as PID 1.

The base tree (debootstrap plus the packages the scenarios need) is made once and cached;
every run boots a fresh copy of it. Nothing of the host that makes it may shape it: the
packages are only downloaded and unpacked with the host's network, then configured (every
maintainer script) in namespaces of their own — no network but a loopback, a fixed host
name, a fixed time zone — and what the scenarios rely on (PostgreSQL's port, the host name,
/etc/hosts, resolv.conf, the time zone) is written explicitly and checked. The cache key is
the recipe itself (this module's tree-making functions and constants), so a changed recipe
never reuses an old tree.

The container has its own network namespace (loopback only), so the services inside never
collide with the host's and every name the config uses can be pointed at 127.0.0.1 in the
container's /etc/hosts.
"""

import fcntl
import hashlib
import inspect
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .log import step

# The suite every scenario runs on, and the newer one the omnibus scenario's hosts run
# (Debian 13: the current stable release, with PostgreSQL 17 as GitLab 19 ships it).
SUITE = "bookworm"
SUITES = ("bookworm", "trixie")
HOSTNAME = "mattermost-system-test"
TIMEZONE = "Etc/UTC"
# The port the tree's PostgreSQL cluster listens on, whatever the host runs.
POSTGRES_PORT = 5432
# Where the tree records what it was made with, for the checks after boot.
TREE_FACTS = "etc/system-test-tree.json"
# What the scenarios use inside the container, installed into the cached tree.
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "postgresql",
    "nginx-light",
    "python3",
    "python3-aiosmtpd",
    "openssl",
    "ca-certificates",
    "curl",
    "procps",
    "less",
    # The acme scenario's ACME client (docs/certificates.md), against Pebble.
    "certbot",
    # python3-cryptography needs it through a virtual package debootstrap does not resolve.
    "python3-cffi-backend",
]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The environment every command in the tree runs with: nothing inherited from the host.
TREE_ENV = {"PATH": PATH, "LANG": "C.UTF-8", "TZ": TIMEZONE, "HOME": "/root",
            "DEBIAN_FRONTEND": "noninteractive"}


class ContainerError(RuntimeError):
    pass


def debian_mirror():
    """The Debian mirror this host's apt uses (a deb822 URIs: line or a one-line entry)."""
    sources = list(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[1]:
                    return parts[1] if not parts[1].startswith("[") else parts[2]
    raise ContainerError("no Debian mirror found in /etc/apt/sources.list(.d): cannot debootstrap")


def recipe_key(suite=SUITE):
    """A digest of everything that shapes the tree: the functions that make it, as source
    text, and the constants they read. Any change to the recipe gives a new key."""
    digest = hashlib.sha256()
    for part in (base_tree, cached_tree, debootstrap, _configure, _in_tree_isolated, _pin_postgresql):
        digest.update(inspect.getsource(part).encode())
    digest.update(repr((suite, HOSTNAME, TIMEZONE, POSTGRES_PORT, TREE_FACTS, PACKAGES,
                        sorted(TREE_ENV.items()))).encode())
    return digest.hexdigest()[:12]


def base_tree(cache_dir, suite=SUITE):
    """The cached base tree of a Debian suite, made when missing (a few minutes); trees of
    other recipes for the suite in the cache are removed."""
    if suite not in SUITES:
        raise ContainerError(f"no recipe for Debian {suite!r}: one of {', '.join(SUITES)}")

    def make(partial):
        step(f"making the container tree with debootstrap ({suite}, {len(PACKAGES)} packages; "
             "configured in a namespace without the host's network)")
        debootstrap(partial, suite, PACKAGES)
        _configure(partial, suite)

    return cached_tree(Path(cache_dir), f"debian-{suite}", recipe_key(suite), make)


def cached_tree(cache_dir, prefix, key, make, error=ContainerError):
    """`cache_dir/prefix-key`, made by `make(partial)` into a `.partial` directory and renamed
    when complete, so a killed run never leaves a tree that looks finished. One maker at a
    time (two runs may ask at once: the second waits, then finds the tree complete); trees of
    other keys with the same prefix are removed."""
    tree = cache_dir / f"{prefix}-{key}"
    if (tree / ".complete").exists():
        return tree
    for tool in ("debootstrap", "unshare", "chroot"):
        if not shutil.which(tool):
            raise error(f"{tool} is missing: apt-get install debootstrap util-linux coreutils")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{prefix}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (tree / ".complete").exists():
            return tree
        partial = tree.with_name(tree.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        make(partial)
        shutil.rmtree(tree, ignore_errors=True)
        partial.rename(tree)
        (tree / ".complete").write_text(key + "\n")
        for stale in cache_dir.glob(f"{prefix}-*"):
            if stale != tree:
                step(f"removing a tree of another recipe: {stale}")
                shutil.rmtree(stale, ignore_errors=True)
    return tree


def debootstrap(tree, suite, packages, error=ContainerError):
    """debootstrap in two stages: the first, with the host's network, only downloads and
    unpacks; the second, which runs every maintainer script, sees nothing of the host."""
    include = [f"--include={','.join(packages)}"] if packages else []
    subprocess.run(
        ["debootstrap", "--foreign", "--variant=minbase", *include, suite, str(tree), debian_mirror()],
        check=True, stdout=subprocess.DEVNULL, env={**TREE_ENV, "HOME": "/root"},
    )
    result = _in_tree_isolated(tree, ["/debootstrap/debootstrap", "--second-stage"])
    if result.returncode != 0:
        log = tree / "debootstrap/debootstrap.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else result.stderr[-3000:]
        raise error(f"debootstrap --second-stage failed ({result.returncode}):\n{tail}")


def _in_tree_isolated(tree, argv):
    """Runs argv chrooted into the tree in new network, UTS, IPC, PID and mount namespaces:
    no interface but a loopback (so no port of the host is seen as taken), the tree's own
    host name, and mounts that vanish with the command."""
    script = f'hostname {HOSTNAME} && ip link set lo up 2>/dev/null; exec chroot "$0" "$@"'
    return subprocess.run(
        ["unshare", "--net", "--uts", "--ipc", "--pid", "--mount", "--fork", "--",
         "sh", "-c", script, str(tree), *argv],
        env=TREE_ENV, capture_output=True, text=True,
    )


def _configure(tree, suite):
    """Writes what the host would otherwise decide: host name, hosts, resolver, time zone,
    and the PostgreSQL cluster's port; then records them for the checks after boot."""
    (tree / "etc/hostname").write_text(HOSTNAME + "\n")
    (tree / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n"
                                    "::1 localhost ip6-localhost ip6-loopback\n")
    # No resolver: the container has no network, and every name it uses is in /etc/hosts.
    resolv = tree / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("# the system test's container has no network: names are in /etc/hosts\n")
    localtime = tree / "etc/localtime"
    if localtime.is_symlink() or localtime.exists():
        localtime.unlink()
    localtime.symlink_to(f"/usr/share/zoneinfo/{TIMEZONE}")
    (tree / "etc/timezone").write_text(TIMEZONE + "\n")
    postgresql = _pin_postgresql(tree)
    (tree / TREE_FACTS).write_text(json.dumps(
        {"suite": suite, "hostname": HOSTNAME, "timezone": TIMEZONE, "postgresql": postgresql},
        indent=1, sort_keys=True) + "\n")


def _pin_postgresql(tree):
    """Sets the one cluster's port explicitly and checks it took."""
    clusters = sorted((tree / "etc/postgresql").glob("*/*/postgresql.conf"))
    if len(clusters) != 1:
        raise ContainerError(f"expected one PostgreSQL cluster in the tree, found {len(clusters)}: "
                             f"{[str(c) for c in clusters]}")
    version, name = clusters[0].parent.parent.name, clusters[0].parent.name
    result = _in_tree_isolated(tree, ["pg_conftool", version, name, "set", "port", str(POSTGRES_PORT)])
    if result.returncode != 0:
        raise ContainerError(f"pg_conftool set port failed: {result.stderr.strip()}")
    shown = _in_tree_isolated(tree, ["pg_conftool", "-s", version, name, "show", "port"])
    if shown.stdout.strip() != str(POSTGRES_PORT):
        raise ContainerError(f"the tree's PostgreSQL {version}/{name} has port {shown.stdout.strip()!r} "
                             f"after setting {POSTGRES_PORT}")
    return {"version": version, "cluster": name, "port": POSTGRES_PORT}


def tree_facts(tree):
    return json.loads((Path(tree) / TREE_FACTS).read_text())


class Container:
    """One booted container; `run` executes a command inside it."""

    def __init__(self, tree, log_path, binds=()):
        self.tree = Path(tree)
        self.log_path = Path(log_path)
        self.binds = list(binds)
        self.process = None
        self.leader = None

    def boot(self, timeout=120):
        step(f"booting {self.tree.name} with systemd-nspawn")
        args = [
            "systemd-nspawn",
            "--quiet",
            "--directory",
            str(self.tree),
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            # The tree's own resolv.conf and time zone, not copies of the host's.
            "--resolv-conf=off",
            "--timezone=off",
            "--link-journal=no",
            "--machine",
            HOSTNAME,
        ]
        for bind in self.binds:
            args.append(f"--bind={bind}")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.process.poll() is not None:
                raise ContainerError(
                    f"systemd-nspawn exited with {self.process.returncode}; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise ContainerError(f"no systemd in the container after {timeout} s")
            self.leader = self._find_leader()
            time.sleep(0.2)
        state = ""
        while time.monotonic() < deadline:
            state = self.run(
                ["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout
            ).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        self.verify(state)
        step("container is up: systemd running, PostgreSQL and nginx as the tree records")

    def verify(self, state):
        """Checks the booted container against what the tree records and the scenarios rely
        on, naming every mismatch at once, so that a wrong container fails here and not later
        inside a scenario."""
        facts = tree_facts(self.tree)
        problems = []
        if state != "running":
            failed = self.run(["systemctl", "--failed", "--no-legend", "--plain"], check=False)
            problems.append(f"systemd is {state!r}, not 'running'; failed units: "
                            f"{failed.stdout.strip() or 'none listed'}")
        hostname = self.run(["hostname"], check=False).stdout.strip()
        if hostname != facts["hostname"]:
            problems.append(f"host name is {hostname!r}, expected {facts['hostname']!r}")
        # No TZ in the environment: the zone comes from /etc/localtime, as for the services.
        zone = self.run(["date", "+%Z"], check=False).stdout.strip()
        if zone != "UTC":
            problems.append(f"time zone is {zone!r}, expected UTC ({facts['timezone']})")
        pg = facts["postgresql"]
        unit = f"postgresql@{pg['version']}-{pg['cluster']}"
        if self.run(["systemctl", "is-active", unit], check=False).stdout.strip() != "active":
            problems.append(f"{unit} is not active: {self.run(['systemctl', 'status', '--no-pager', unit], check=False).stdout[-1500:]}")
        socket = f"/run/postgresql/.s.PGSQL.{pg['port']}"
        if self.run(["test", "-S", socket], check=False).returncode != 0:
            listening = self.run(["ls", "-A", "/run/postgresql"], check=False).stdout.split()
            problems.append(f"PostgreSQL has no socket {socket} (in /run/postgresql: {listening})")
        else:
            port = self.run(["psql", "-h", "/run/postgresql", "-p", str(pg["port"]), "-tAc", "SHOW port"],
                            check=False, user="postgres").stdout.strip()
            if port != str(pg["port"]):
                problems.append(f"PostgreSQL answers on {socket} but reports port {port!r}")
        if self.run(["systemctl", "is-active", "nginx"], check=False).stdout.strip() != "active":
            problems.append("nginx is not active: " + self.run(
                ["journalctl", "-u", "nginx", "-n", "20", "--no-pager", "-o", "cat"], check=False).stdout)
        if problems:
            raise ContainerError("the booted container is not what the system test expects:\n  - "
                                 + "\n  - ".join(problems))

    def _find_leader(self):
        """The container's PID 1 as the host sees it: the child of systemd-nspawn."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return None
        for pid in pids:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
            except OSError:
                continue
        return None

    def run(self, argv, check=True, input=None, timeout=600, env=None, user=None):
        """Runs argv inside the container (all namespaces of its PID 1)."""
        if self.leader is None:
            raise ContainerError("the container is not running")
        environment = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": "/root", "TERM": "dumb"}
        environment.update(env or {})
        prefix = ["nsenter", "--target", str(self.leader), "--all", "--"]
        if user:
            prefix += ["runuser", "-u", user, "--"]
        result = subprocess.run(
            prefix + ["env", "-i", *[f"{k}={v}" for k, v in environment.items()], *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ContainerError(
                f"{' '.join(argv)} exited with {result.returncode}\n"
                f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
            )
        return result

    def sh(self, script, check=True, timeout=600, env=None):
        return self.run(["bash", "-euo", "pipefail", "-c", script], check=check,
                        timeout=timeout, env=env)

    def write(self, path, content, mode=0o644):
        """Writes a file into the running container (its /run is its own tmpfs)."""
        self.run(["install", "-D", "-m", f"{mode:o}", "/dev/stdin", path], input=content)

    def poweroff(self, timeout=120):
        """Powers the container off cleanly, or kills it after `timeout` seconds."""
        if self.process is None:
            return
        if self.process.poll() is None and self.leader is not None:
            subprocess.run(
                ["nsenter", "--target", str(self.leader), "--all", "--", "systemctl",
                 "poweroff", "--no-block"],
                capture_output=True,
            )
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            step("the container did not power off in time: killing it")
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        self.leader = None

    def reboot(self, timeout=180):
        """A reboot as the host sees it: systemd inside stops everything, nspawn exits,
        and the same tree boots again."""
        step("rebooting the container")
        self.run(["systemctl", "reboot", "--no-block"], check=False)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise ContainerError("the container did not shut down for the reboot") from err
        self.process = None
        self.leader = None
        self.boot()
