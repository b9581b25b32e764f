"""A Debian bookworm tree booted with systemd-nspawn: real systemd as PID 1.

The base tree (debootstrap plus the packages the scenarios need) is made once and cached;
every run boots a fresh copy of it. The container has its own network namespace (loopback
only), so the services inside never collide with the host's and every name the config
uses can be pointed at 127.0.0.1 in the container's /etc/hosts.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .log import step

SUITE = "bookworm"
TREE_REVISION = "2"
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
]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


def base_tree(cache_dir):
    """The cached base tree, made with debootstrap when missing (about a minute)."""
    # Bump TREE_REVISION when the way the tree is made changes.
    key = hashlib.sha256(" ".join([TREE_REVISION, SUITE, *PACKAGES]).encode()).hexdigest()[:12]
    tree = Path(cache_dir) / f"debian-{SUITE}-{key}"
    if (tree / ".complete").exists():
        return tree
    for tool in ("debootstrap", "systemd-nspawn"):
        if not shutil.which(tool):
            raise ContainerError(
                f"{tool} is missing: apt-get install debootstrap systemd-container"
            )
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    step(f"making the container tree with debootstrap ({SUITE}, {len(PACKAGES)} packages)")
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(partial),
            debian_mirror(),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (partial / "etc/hostname").write_text("mattermost-system-test\n")
    (partial / ".complete").write_text(key + "\n")
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    (tree / ".complete").touch()
    return tree


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
            "--machine",
            "mattermost-system-test",
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
        if state == "degraded":
            failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
            step(f"container is up (degraded: {failed.strip()})")
        elif state != "running":
            raise ContainerError(f"the container did not finish booting: {state!r}")
        else:
            step("container is up")

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
