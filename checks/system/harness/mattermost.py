"""Mattermost built from its Go module through a wrapper module in ../mattermost/<line>.

Two lines are built: 11 (the default; the 11.4 development cycle, the newest 11-line commit
the Go module proxy serves) and 10 (the 10.10 development cycle, the line Omnibus shipped).
Each build is cached outside the repository, keyed by its wrapper's files and the build
command, so a machine builds each once (a few minutes on 2 cores). What lands in the cache has the layout of
Mattermost's release tarball: bin/mattermost, bin/mmctl, i18n/, templates/, fonts/ and a
stub client/root.html (the web app is not built: the API and the OAuth routes work without
it, and the stub keeps `GET /` from answering 500).
"""

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from .log import step

WRAPPERS = Path(__file__).resolve().parent.parent / "mattermost"
LINES = ("11", "10")
DEFAULT_LINE = "11"
SERVER_MODULE = "github.com/mattermost/mattermost/server/v8"
ASSETS = ("i18n", "templates", "fonts")


class BuildError(RuntimeError):
    pass


def wrapper(line):
    if line not in LINES:
        raise BuildError(f"no Mattermost line {line!r}: choose one of {', '.join(LINES)}")
    return WRAPPERS / line


def wrapper_version(line):
    """The server/v8 version the line's wrapper pins (a pseudo-version)."""
    for text in (wrapper(line) / "go.mod").read_text().splitlines():
        parts = text.split()
        if len(parts) == 2 and parts[0] == SERVER_MODULE:
            return parts[1]
    raise BuildError(f"{wrapper(line)}/go.mod does not require {SERVER_MODULE}")


def cache_key(line):
    """Covers everything that shapes the build: the wrapper's files and this recipe."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "tools.go"):
        digest.update((wrapper(line) / name).read_bytes())
    # The recipe: the build function and what it reads, as source text, so that any change
    # to how a build is made makes a new one (an edit elsewhere in this file does not).
    for part in (build, go_env, _finish_release_layout):
        digest.update(inspect.getsource(part).encode())
    digest.update(repr((SERVER_MODULE, ASSETS)).encode())
    return digest.hexdigest()[:16]


def go_env():
    env = dict(os.environ)
    # go.sum is committed: every module is verified against it, nothing is looked up.
    env.update({"GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"})
    return env


def build(cache_dir, line=DEFAULT_LINE):
    """Returns the directory of a built Mattermost of `line` (cached), building it when missing."""
    out = Path(cache_dir) / f"mattermost-{line}-{cache_key(line)}"
    if (out / "build.json").exists():
        return out
    if not shutil.which("go"):
        raise BuildError("Go is missing: Mattermost is built from its Go module (Go 1.24 or later)")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "bin").mkdir(parents=True)
    version = wrapper_version(line)
    step(f"building Mattermost (line {line}, {version}) from its Go module (cached in {out})")
    started = time.monotonic()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "go", "build", "-trimpath", "-tags", "production",
         "-ldflags", f"-X github.com/mattermost/mattermost/server/public/model.BuildNumber={version} "
                     "-X github.com/mattermost/mattermost/server/public/model.BuildHashEnterprise=none "
                     "-X github.com/mattermost/mattermost/server/public/model.BuildEnterpriseReady=false",
         "-o", str(partial / "bin") + "/",
         f"{SERVER_MODULE}/cmd/mattermost", f"{SERVER_MODULE}/cmd/mmctl"],
        cwd=wrapper(line), env=go_env(), capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise BuildError(f"go build failed:\n{result.stderr[-4000:]}")
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    seconds = time.monotonic() - started
    module_dir = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", SERVER_MODULE],
        cwd=wrapper(line), env=go_env(), capture_output=True, text=True, check=True,
    ).stdout.strip()
    _finish_release_layout(Path(module_dir), partial)
    (partial / "build.json").write_text(json.dumps(
        {"line": line, "version": version, "build_seconds": round(seconds, 1), "peak_rss_mib": round(peak_kib / 1024)},
        indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    step(f"built Mattermost in {seconds:.0f} s, peak memory {peak_kib / 1024:.0f} MiB")
    return out


def _finish_release_layout(module_dir, partial):
    """The assets beside bin/, as in Mattermost's release tarball, and a stub web app."""
    for asset in ASSETS:
        shutil.copytree(module_dir / asset, partial / asset)
    # The module cache is read-only; the copies must be ordinary files.
    subprocess.run(["chmod", "-R", "u+w,go+rX", str(partial)], check=True)
    (partial / "client").mkdir()
    (partial / "client/root.html").write_text(
        "<!doctype html><title>Mattermost</title><p>Mattermost (API only: no web app built)</p>\n"
    )


def release_tarball(build_dir, dest):
    """Packs the build like Mattermost's release tarball (a top-level mattermost/ folder)."""
    dest = Path(dest)
    with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
        tar.add(build_dir, arcname="mattermost",
                filter=lambda info: None if info.name.endswith("build.json") else info)
    return dest


# The `mattermost.version` each line runs as (and whether that version is past its end of
# life, so the config must say it knowingly).
CONFIG_VERSION = {"11": ("11.7", False), "10": ("10.11", True)}


def config_for_line(text, line):
    """The config text with `mattermost.version` set for the line's build (replacing what the
    config says there), so one config runs on either line. TOML is edited as text: the
    `[mattermost]` table gets the keys first, or is added at the end."""
    version, end_of_life = CONFIG_VERSION[line]
    keys = f'version = "{version}"\n' + ("allow_end_of_life = true\n" if end_of_life else "")
    lines = text.splitlines(keepends=True)
    out, section, placed = [], None, False
    for raw in lines:
        stripped = raw.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped.strip("[]").strip()
            out.append(raw)
            if section == "mattermost":
                out.append(keys)
                placed = True
            continue
        key = stripped.split("=", 1)[0].strip()
        if section == "mattermost" and key in ("version", "allow_end_of_life"):
            continue
        if section is None and key in ("mattermost.version", "mattermost.allow_end_of_life"):
            continue
        out.append(raw)
    if not placed:
        out.append("\n[mattermost]\n" + keys)
    return "".join(out)
