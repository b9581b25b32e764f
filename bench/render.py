#!/usr/bin/env python3
"""Benchmark of `gitlab-mattermost render examples/full.toml`: the whole process, next to `true`.

By default it measures the compiler a NixOS host runs: the lean binary, built with the
profile and static link nix/package.nix uses (as bench/build.py builds it); `--binary` measures
another one (e.g. target/release/gitlab-mattermost, the full command).

Runs each command several times under /usr/bin/time -v and reports medians of CPU time
(user + system), peak RSS and wall time, plus the compiler's own split of wall time into
writing the files and making them durable (fsync of files and directories). Targets: CPU time
at most 3x that of `true`, peak RSS at most 10 MiB. A benchmark, not a test: it prints figures
and says whether the targets hold; it exits non-zero only when it cannot run.

Usage: bench/render.py [--runs N] [--binary PATH]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rusage_run(cmd):
    """Run cmd; return (cpu seconds, peak rss KiB, wall seconds, stderr) from wait4's rusage,
    which has microsecond CPU resolution (unlike /usr/bin/time's 10 ms ticks)."""
    import time
    err_file = tempfile.TemporaryFile()
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err_file)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    err_file.seek(0)
    err = err_file.read().decode()
    if p.returncode != 0:
        sys.exit(f"command failed: {cmd}\n{err}")
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss, wall, err


def time_v(cmd):
    """Run cmd under /usr/bin/time -v; return (cpu seconds, peak rss KiB, wall seconds, stderr)."""
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"command failed: {cmd}\n{r.stderr}")
    err = r.stderr

    def field(name):
        m = re.search(rf"{re.escape(name)}: (.+)", err)
        if not m:
            sys.exit(f"no '{name}' in time output:\n{err}")
        return m.group(1).strip()

    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = int(field("Maximum resident set size (kbytes)"))
    wall_text = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(p) for p in wall_text.split(":")]
    wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return cpu, rss, wall, err


def lean_binary():
    """Build (or bring up to date) the lean compiler in target/, linked as nix/package.nix
    links it, and return its path."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import build

    cmd, env = build.build_command("lean", ["--no-default-features"], os.environ, static=True)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    return build.built_binary(os.path.join(ROOT, "target"), "lean", static=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--binary", help="the binary to measure (default: the lean compiler, built as the "
                                     "package builds it)")
    args = ap.parse_args()
    if args.binary is None:
        args.binary = lean_binary()
    elif not os.path.exists(args.binary):
        sys.exit(f"{args.binary} does not exist")
    print(f"measuring {args.binary}")
    example = os.path.join(ROOT, "examples/full.toml")
    # Two places: tmpfs, where fsync is free, shows the compiler's own CPU cost; a disk
    # directory adds the kernel's work to make the output durable (fsync of every file and
    # directory), reported separately.
    places = [("tmpfs", "/dev/shm"), ("disk", tempfile.gettempdir())]
    results = {}
    for label, base in places:
        if not os.path.isdir(base):
            print(f"SKIPPED {label}: {base} does not exist")
            continue
        samples = {"true": [], "render": []}
        splits = {"write": [], "fsync": []}
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            out = os.path.join(tmp, "out")
            render = [args.binary, "-v", "render", example, "--out", out]
            for _ in range(2):  # warm the page cache
                rusage_run(render)
            for _ in range(args.runs):
                samples["true"].append(rusage_run(["true"])[:3])
                cpu, rss, wall, err = rusage_run(render)
                samples["render"].append((cpu, rss, wall))
                m = re.search(r"write_us=(\d+) fsync_us=(\d+)", err)
                if m:
                    splits["write"].append(int(m.group(1)))
                    splits["fsync"].append(int(m.group(2)))
            _, rss_gnu, _, _ = time_v([args.binary, "render", example, "--out", out])
            _, rss_true, _, _ = time_v(["true"])
        results[label] = (samples, splits, rss_gnu, rss_true)

    print(f"gitlab-mattermost render examples/full.toml, {args.runs} runs each, medians")
    print(f"{'':16}{'cpu ms':>9}{'wall ms':>9}{'peak RSS MiB':>14}")
    for label, (samples, splits, rss_gnu, rss_true) in results.items():
        def med(name, i):
            return statistics.median(s[i] for s in samples[name])
        print(f"{'true':16}{med('true', 0) * 1000:9.2f}{med('true', 2) * 1000:9.2f}{rss_true / 1024:14.1f}")
        print(f"{'render (' + label + ')':16}{med('render', 0) * 1000:9.2f}{med('render', 2) * 1000:9.2f}{rss_gnu / 1024:14.1f}")
        if splits["write"]:
            print(f"{'':16}inside: writing {statistics.median(splits['write']) / 1000:.2f} ms, "
                  f"fsync of files and directories {statistics.median(splits['fsync']) / 1000:.2f} ms")
        ratio = med("render", 0) / max(med("true", 0), 1e-6)
        print(f"{'':16}cpu ratio render/true {ratio:.2f} (target <= 3: {'met' if ratio <= 3 else 'missed'}); "
              f"peak RSS {'met' if rss_gnu <= 10 * 1024 else 'missed'} (target <= 10 MiB)")
    print("CPU is user + system time of the child (wait4 rusage); peak RSS is from /usr/bin/time -v.")


if __name__ == "__main__":
    main()
