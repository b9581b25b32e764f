"""Debian 11 (bullseye) trees: one to build the package in (the oldest glibc the package
supports), one as a fresh Debian 11 host to install it on.

Made with debootstrap like the system test's trees (the same mirror, the maintainer scripts
run without the host's network) and cached beside them, keyed by the recipe: a changed recipe
never reuses an old tree.
"""

import hashlib
import inspect
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "checks/system"))

from harness.container import TREE_ENV, cached_tree, debootstrap  # noqa: E402

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
    for part in (_tree, cached_tree, debootstrap):
        digest.update(inspect.getsource(part).encode())
    digest.update(repr((SUITE, role, packages, sorted(TREE_ENV.items()))).encode())
    return digest.hexdigest()[:12]


def _tree(role, packages):
    def make(partial):
        print(f"==> making a Debian 11 tree with debootstrap ({partial.name})", file=sys.stderr, flush=True)
        debootstrap(partial, SUITE, packages, error=TreeError)

    return cached_tree(cache_dir(), f"debian-{SUITE}-{role}", _key(role, packages), make, error=TreeError)
