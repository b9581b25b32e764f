"""Debian 11 (bullseye) trees: one to build the package in (the oldest glibc the package
supports), one as a fresh Debian 11 host to install it on.

Made with debootstrap like the system test's trees (the same mirror, the maintainer scripts
run without the host's network) and cached beside them, keyed by the recipe: a changed recipe
never reuses an old tree.
"""

import fcntl
import hashlib
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "checks/system"))

from harness.container import TREE_ENV, debian_mirror, _in_tree_isolated  # noqa: E402

SUITE = "bullseye"
# What compiling needs beside the mounted Rust toolchain: a C compiler and linker with
# Debian 11's glibc to link against, and dpkg-shlibdeps to read the package's dependencies
# off the binary as Debian 11 numbers them.
BUILD_PACKAGES = ("gcc", "libc6-dev", "dpkg-dev")
# A fresh host: only what debootstrap's minimal variant installs.
HOST_PACKAGES = ()


class TreeError(RuntimeError):
    pass


def cache_dir():
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gitlab-mattermost/system-test"
    return Path(os.environ.get("GITLAB_MATTERMOST_SYSTEM_TEST_CACHE", default))


def build_tree():
    """The tree the package is compiled in."""
    return _tree("build", BUILD_PACKAGES)


def host_tree():
    """A fresh Debian 11 host (copy it before changing it)."""
    return _tree("host", HOST_PACKAGES)


def _key(role, packages):
    digest = hashlib.sha256()
    for part in (_tree, _make, _bootstrap):
        digest.update(inspect.getsource(part).encode())
    digest.update(repr((SUITE, role, packages, sorted(TREE_ENV.items()))).encode())
    return digest.hexdigest()[:12]


def _tree(role, packages):
    key = _key(role, packages)
    root = cache_dir()
    tree = root / f"debian-{SUITE}-{role}-{key}"
    if (tree / ".complete").exists():
        return tree
    root.mkdir(parents=True, exist_ok=True)
    # One maker at a time (two system-test runs may ask at once): the second waits, then
    # finds the tree complete.
    with open(root / f"debian-{SUITE}-{role}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (tree / ".complete").exists():
            return tree
        return _make(tree, root, role, key, packages)


def _make(tree, root, role, key, packages):
    for tool in ("debootstrap", "unshare", "chroot"):
        if not shutil.which(tool):
            raise TreeError(f"{tool} is missing: apt-get install debootstrap util-linux coreutils")
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _bootstrap(partial, packages)
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    (tree / ".complete").write_text(key + "\n")
    for stale in root.glob(f"debian-{SUITE}-{role}-*"):
        if stale != tree:
            shutil.rmtree(stale, ignore_errors=True)
    return tree


def _bootstrap(tree, packages):
    """debootstrap in two stages: the host's network only downloads and unpacks; every
    maintainer script runs in namespaces of its own."""
    print(f"==> making a Debian 11 tree with debootstrap ({tree.name})", file=sys.stderr, flush=True)
    include = [f"--include={','.join(packages)}"] if packages else []
    subprocess.run(
        ["debootstrap", "--foreign", "--variant=minbase", *include, SUITE, str(tree), debian_mirror()],
        check=True, stdout=subprocess.DEVNULL, env={**TREE_ENV, "HOME": "/root"},
    )
    result = _in_tree_isolated(tree, ["/debootstrap/debootstrap", "--second-stage"])
    if result.returncode != 0:
        log = tree / "debootstrap/debootstrap.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else result.stderr[-3000:]
        raise TreeError(f"debootstrap --second-stage failed ({result.returncode}):\n{tail}")
