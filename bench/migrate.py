#!/usr/bin/env python3
"""Benchmark of a move off Omnibus: how much of the copying `migrate export` does while the old
server still serves (the pre-sync) and how much is left for the downtime (the final pass and
`migrate import`), for a data directory of a few GB.

On this host, as root, with its PostgreSQL (peer authentication as root, the socket in
/var/run/postgresql): a scratch Omnibus root with GB of uploads (files of 64 KiB to 8 MiB, like
Mattermost's attachments), a database of posts, then
1. `migrate export` (pre-sync, the server "serving"), and `migrate import` of that bundle on
   the new side (files only: a pre-sync there too),
2. users keep working: a share of the files is added or changed,
3. `migrate export --final` (the delta and the database): downtime begins here,
4. `migrate import` again (the delta, the restore, and the verification of every file).
Prints one row per phase: seconds, files and bytes copied. A benchmark, not a test: it exits
non-zero only when it cannot run.

Usage: bench/migrate.py [--gigabytes 3] [--posts 200000] [--changed-percent 1]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOCKET = "/var/run/postgresql"


def psql(db, sql):
    return subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", SOCKET, "-d", db, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def make_files(data, total_bytes, rng):
    """Files of 64 KiB to 8 MiB under teams/…/channels/… until total_bytes."""
    written, n = 0, 0
    block = os.urandom(8 << 20)
    while written < total_bytes:
        size = min(rng.choice([64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20]), total_bytes - written)
        path = data / f"teams/t{n % 7}/channels/c{n % 97}/users/u{n % 31}/{n:08d}/file.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        start = rng.randrange(0, len(block) - size + 1)
        path.write_bytes(block[start:start + size] + n.to_bytes(8, "little"))
        written += size
        n += 1
    return n, written


def change_files(data, percent, rng):
    files = sorted(p for p in data.rglob("*") if p.is_file())
    picked = rng.sample(files, max(1, len(files) * percent // 100))
    for p in picked:
        with open(p, "ab") as f:
            f.write(b"edited")
    for i in range(len(picked)):
        new = data / f"teams/new/{i:06d}/file.bin"
        new.parent.mkdir(parents=True, exist_ok=True)
        new.write_bytes(os.urandom(256 << 10))
    return len(picked)


def timed(argv):
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def main():
    parser = argparse.ArgumentParser(prog="bench/migrate.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("--gigabytes", type=float, default=3.0)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--changed-percent", type=int, default=1)
    parser.add_argument("--binary", default=str(ROOT / "target/release/gitlab-mattermost"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: migrate import gives files to the service account")
    binary = args.binary
    if not Path(binary).exists():
        subprocess.run(["cargo", "build", "--release", "--locked", "-q", "-p", "gitlab-mattermost"],
                       cwd=ROOT, check=True)
    rng = random.Random(7)
    stamp = f"{os.getpid()}_{time.time_ns() % 10**9}"
    old_db, new_db, role = f"bench_old_{stamp}", "bench_new_" + stamp, f"benchmm{stamp[-6:]}"
    work = Path(tempfile.mkdtemp(prefix="gitlab-mattermost-bench-migrate-", dir="/var/tmp"))
    try:
        home = work / "old/var/opt/gitlab/mattermost"
        files, size = make_files(home / "data", int(args.gigabytes * (1 << 30)), rng)
        (home / "plugins").mkdir()
        (home / "config.json").write_text("{}\n")
        psql("postgres", f"CREATE DATABASE {old_db}")
        psql(old_db, "CREATE TABLE posts (id text primary key, message text, createat bigint);"
                     f"INSERT INTO posts SELECT md5(g::text), repeat('benchmark post ', 20), g "
                     f"FROM generate_series(1, {args.posts}) g; ANALYZE posts")
        bundle = work / "bundle"
        export = [binary, "migrate", "export", "--omnibus-root", str(work / "old"), "--to", str(bundle),
                  "--pg-host", SOCKET, "--pg-user", "postgres", "--database", old_db, "--pg-bin", "/nonexistent"]
        rows = []
        seconds, _ = timed(export)
        rows.append(("export pre-sync (serving)", seconds))
        uid = 61_000 + os.getpid() % 1000
        config = work / "site.toml"
        new = work / "new"
        config.write_text(
            f'external_url = "http://chat.example.test"\n[account]\nuser = "{role}"\ngroup = "{role}"\n'
            f'uid = {uid}\ngid = {uid}\n[directories]\ndata = "{new}"\nconfig = "{new}/config"\n'
            f'plugins = "{new}/plugins"\nclient_plugins = "{new}/client-plugins"\n'
            f'[database]\nname = "{new_db}"\nuser = "{role}"\nsocket_dir = "{SOCKET}"\n')
        importing = [binary, "migrate", "import", str(config), "--from", str(bundle),
                     "--state-dir", str(work / "state"), "--report", str(work / "report.json")]
        seconds, _ = timed(importing)
        rows.append(("import pre-sync (serving)", seconds))
        changed = change_files(home / "data", args.changed_percent, rng)
        seconds, _ = timed(export + ["--final"])
        rows.append(("final export (down)", seconds))
        seconds, out = timed(importing)
        rows.append(("final import + verify (down)", seconds))
        manifest = json.loads((bundle / "migration.json").read_text())
        pre, fin = manifest["passes"][0], manifest["passes"][-1]
        print(f"{files} files, {size / (1 << 30):.2f} GiB; {args.posts} posts; "
              f"{changed} files changed and {changed} added after the pre-sync; dump {manifest['dump']['size'] >> 20} MiB")
        print(f"{'phase':30} {'seconds':>8}  what")
        print(f"{rows[0][0]:30} {rows[0][1]:8.1f}  {pre['copied']} files, {pre['copied_bytes'] / (1 << 30):.2f} GiB into the bundle")
        print(f"{rows[1][0]:30} {rows[1][1]:8.1f}  the same into place on the new side (files only)")
        print(f"{rows[2][0]:30} {rows[2][1]:8.1f}  {fin['copied']} files, {fin['copied_bytes'] / (1 << 20):.1f} MiB + database")
        print(f"{rows[3][0]:30} {rows[3][1]:8.1f}  the delta into place, the restore, every file's checksum on both sides")
        down = rows[2][1] + rows[3][1]
        print(f"downtime (final export + final import; the copy between hosts adds the delta's transfer): "
              f"{down:.1f} s, of a {sum(r[1] for r in rows):.1f} s move")
        verdict = json.loads((work / "report.json").read_text())
        if verdict["problems"]:
            raise SystemExit(f"the verification found problems: {verdict['problems'][:5]}")
    finally:
        for db in (old_db, new_db):
            subprocess.run(["psql", "-XAtq", "-h", SOCKET, "-d", "postgres", "-c",
                            f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], capture_output=True)
        subprocess.run(["psql", "-XAtq", "-h", SOCKET, "-d", "postgres", "-c", f"DROP ROLE IF EXISTS {role}"],
                       capture_output=True)
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
