#!/usr/bin/env python3
"""Benchmark of an upgrade's downtime: how long Mattermost is down (stop of 10 → 11 ready)
when `gitlab-mattermost apply` moves a server from the 10 line to the 11 line, and how that
grows with the database.

For each size it boots a fresh system-test container (checks/system, as root), installs the 10
build by docs/getting-started.md, makes a team, a channel and one post through the API, then
copies that post in SQL to N posts (ANALYZEd), and runs the upgrade scenario's own upgrade step
(apply with the 11 build): the figures are what apply reports — downtime, and the backup's part
of it — plus the database's size. A benchmark, not a test: it prints a table and exits non-zero
only when it cannot run.

Usage: bench/upgrade.py [--posts 10000 --posts 100000] [--config FILE]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "checks/system"))

from harness import container as containers  # noqa: E402
from harness import mattermost, site as sites  # noqa: E402
from harness.context import CONFIG_IN_CONTAINER, Context  # noqa: E402

import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402

# The runner is a script without .py: load it as a module for its helpers.
_loader = importlib.machinery.SourceFileLoader("system_run", str(ROOT / "checks/system/run"))
system_run = importlib.util.module_from_spec(importlib.util.spec_from_loader("system_run", _loader))
_loader.exec_module(system_run)

from scenarios import upgrade  # noqa: E402


def fill(ctx, posts):
    """N posts in the channel, copied in SQL from one made through the API."""
    _, channel = ctx.team_and_channel()
    template = ctx.api("POST", "/api/v4/posts", {"channel_id": channel["id"], "message": "bench template"},
                       login=ctx.admin_login)
    name = ctx.site.env["MM_SQLSETTINGS_DATASOURCE"].split("/")[3].split("?")[0]
    sql = (
        f"CREATE TEMP TABLE tpl AS SELECT * FROM posts WHERE id = '{template['id']}';"
        "INSERT INTO posts SELECT (jsonb_populate_record(NULL::posts, to_jsonb(tpl) || jsonb_build_object("
        "'id', substr(md5('bench' || g::text), 1, 26), 'createat', tpl.createat + g, "
        "'updateat', tpl.createat + g, 'message', 'bench post ' || g))).* "
        f"FROM tpl, generate_series(1, {posts - 1}) g;"
        "ANALYZE posts;"
        "SELECT count(*) || '|' || pg_database_size(current_database()) FROM posts;"
    )
    out = ctx.container.run(["runuser", "-u", "postgres", "--", "psql", "-XAt", "-d", name,
                             "-c", sql], timeout=1800).stdout.split()
    count, size = out[-1].split("|")
    return int(count), f"{int(size) / 2**20:.0f} MiB"


def one(args, posts, compiler, build_dir, next_dir, config):
    workdir = Path(tempfile.mkdtemp(prefix="gitlab-mattermost-bench-upgrade-", dir="/var/tmp"))
    tree = containers.base_tree(system_run.cache_dir())
    run_tree = workdir / "tree"
    subprocess.run(["cp", "-a", "--reflink=auto", str(tree), str(run_tree)], check=True)
    staged, info, next_info = system_run.stage(workdir, compiler, build_dir, next_dir)
    site = sites.read(str(compiler), str(config))
    box = containers.Container(run_tree, workdir / "container.log", binds=[
        f"{ROOT / 'checks'}:{sites.CHECKS_IN_CONTAINER}:norbind",
        f"{sites.SMTP_SERVER}:{sites.SMTP_IN_CONTAINER}",
        f"{staged}:/root/install"])
    ctx = Context(box, site, config, workdir, info, next_info)
    try:
        box.boot()
        ctx.install()
        count, size = fill(ctx, posts)
        old = ctx.container.run(["cat", CONFIG_IN_CONTAINER]).stdout
        upgrade.upgrade_to_11(ctx, old)
        return {"posts": count, "database": size, "downtime_s": ctx.timings["upgrade_downtime_s"],
                "backup_s": ctx.timings["upgrade_backup_s"]}
    finally:
        box.poweroff()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(prog="bench/upgrade.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, action="append", help="posts in the database (repeatable)")
    parser.add_argument("--config", default=str(ROOT / "examples/full.toml"))
    args = parser.parse_args()
    sizes = args.posts or [10_000, 100_000]
    system_run.preflight()
    compiler = system_run.build_compiler()
    config = system_run.config_for_line(Path(args.config).resolve(), "10")
    build_dir = mattermost.build(system_run.cache_dir(), "10")
    next_dir = mattermost.build(system_run.cache_dir(), "11")
    rows = [one(args, n, compiler, build_dir, next_dir, config) for n in sizes]
    print(f"{'posts':>8}  {'database':>10}  {'downtime (stop → ready)':>24}  {'of it the backup':>16}")
    for r in rows:
        print(f"{r['posts']:>8}  {r['database']:>10}  {r['downtime_s']:>22.1f} s  {r['backup_s']:>14.1f} s")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
