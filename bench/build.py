#!/usr/bin/env python3
"""Benchmark of what a NixOS host pays for the compiler: a clean release build of the lean
binary (what `nixos-rebuild` builds and the unit runs: render, check, exec, upgrade-guard)
beside a clean build of the full command, then the start-time costs of the lean binary.

Each build runs `cargo build --locked` in an empty target directory of its own, with the
profile nix/package.nix uses (`release` for the full command, `lean` for the compiler; the
crate sources come from cargo's local registry cache, as they would from a vendored Nix
build). With `--before REV` the full command of an earlier revision is built the same way
(from a temporary git worktree), and the lean build is compared with that one. Reported per build: CPU seconds of cargo and every compiler process it ran (user +
system, from wait4's rusage), wall seconds, the peak of the memory all of them held at once
(sampled from /proc every 50 ms), and the number of crates the binary links (`cargo tree`,
normal dependencies without proc-macros, the workspace's own crates included).

Then, for the lean binary: CPU of `render examples/full.toml` and of `exec` (read the rendered
environment file and a credential, then exec `true`), each next to `true` itself.

Targets (from the issue that split the workspace): lean build at most 1/4 of the full build's
CPU seconds and at most 400 MiB peak memory; render at most 3x the CPU of `true`; exec at most
2 ms of CPU of its own. A benchmark, not a test: it prints figures and whether the targets
hold; it exits non-zero only when it cannot run. The last line reads
`lean build: <cpu> CPU-s (<percent>% of full), peak <mib> MiB`.

Usage: bench/build.py [--runs N] [--keep DIR] [--before REV]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.sysconf("SC_PAGE_SIZE")

BUILDS = [
    # (label, cargo profile, extra cargo arguments): as nix/package.nix builds each.
    ("full", "release", []),
    ("lean", "lean", ["--no-default-features"]),
]


def session_rss(sid):
    """Bytes resident in every process of session sid (cargo runs rustc and build scripts
    in the session it was started in)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            # Fields after the command name, which may hold spaces: ") state ppid pgrp session".
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:
                continue
            with open(f"/proc/{entry}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return total


def measured_build(profile, args, target_dir, source=ROOT):
    """Run a clean cargo build of the workspace at source; return (cpu seconds, wall seconds,
    peak bytes)."""
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir, CARGO_TERM_COLOR="never")
    env.pop("RUSTC_WRAPPER", None)  # a compiler cache would measure the cache
    cmd = ["cargo", "build", "--profile", profile, "--locked", "--offline", "-q", "-p", "gitlab-mattermost"] + args
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=source, env=env, start_new_session=True)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, session_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, ru = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"build failed: {' '.join(cmd)}")
    return ru.ru_utime + ru.ru_stime, wall, peak


def linked_crates(args, source=ROOT):
    """Crates the binary links: normal dependencies, proc-macros left out (they run in the
    compiler, not in the binary)."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--offline", "-p", "gitlab-mattermost", "-e", "normal,no-proc-macro",
         "--prefix", "none"] + args,
        cwd=source, capture_output=True, text=True, check=True).stdout
    return len({line.split(" (")[0].strip() for line in out.splitlines() if line.strip()})


def cpu_of(cmd, env=None):
    """CPU seconds (user + system) of one run of cmd, from wait4's rusage."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {cmd}\n{err}")
    return ru.ru_utime + ru.ru_stime


def median_cpu(cmd, runs, env=None):
    for _ in range(2):  # warm the page cache
        cpu_of(cmd, env)
    return statistics.median(cpu_of(cmd, env) for _ in range(runs))


def start_costs(binary, runs, scratch):
    """Median CPU of true, render and exec (without the cost of `true` it execs)."""
    example = os.path.join(ROOT, "examples/full.toml")
    out = os.path.join(scratch, "rendered")
    subprocess.run([binary, "render", example, "--out", out], check=True, capture_output=True)
    credentials = os.path.join(scratch, "credentials")
    os.makedirs(credentials, exist_ok=True)
    with open(os.path.join(credentials, "smtp_password"), "w") as f:
        f.write("not-a-real-password\n")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=credentials)
    true = median_cpu(["true"], runs)
    render = median_cpu([binary, "render", example, "--out", out], runs)
    exec_total = median_cpu(
        [binary, "exec", "--env-file", os.path.join(out, "mattermost.env"),
         "--credential", "smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD", "--", "true"], runs, env)
    return true, render, exec_total - true


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=51, help="runs of each start-time command (median)")
    ap.add_argument("--keep", help="build into DIR/<label> and keep it (default: a temporary directory)")
    ap.add_argument("--before", metavar="REV",
                    help="also build the full command of git revision REV (e.g. the one before the "
                         "workspace was split) and compare the lean build with it")
    args = ap.parse_args()

    base = args.keep or tempfile.mkdtemp(prefix="gitlab-mattermost-build-")
    results = {}
    for label, profile, extra in BUILDS:
        target = os.path.join(base, label)
        if os.path.exists(target) and os.listdir(target):
            sys.exit(f"{target} is not empty: a clean build needs an empty target directory")
        print(f"building {label} (--profile {profile} {' '.join(extra) or 'default features'}) in {target} …",
              flush=True)
        cpu, wall, peak = measured_build(profile, extra, target)
        results[label] = dict(cpu=cpu, wall=wall, peak=peak, crates=linked_crates(extra),
                              binary=os.path.join(target, profile, "gitlab-mattermost"))

    if args.before:
        source = os.path.join(base, "before-source")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "--force", source, args.before],
                       check=True, capture_output=True)
        try:
            target = os.path.join(base, "before")
            print(f"building the full command of {args.before} in {target} …", flush=True)
            cpu, wall, peak = measured_build("release", [], target, source)
            results["before"] = dict(cpu=cpu, wall=wall, peak=peak, crates=linked_crates([], source),
                                     binary=os.path.join(target, "release", "gitlab-mattermost"))
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", source], check=False)

    print()
    print(f"{'':6}{'CPU s':>9}{'wall s':>9}{'peak MiB':>10}{'crates':>8}{'binary MiB':>12}")
    for label, r in results.items():
        size = os.path.getsize(r["binary"]) / 2**20
        print(f"{label:6}{r['cpu']:9.1f}{r['wall']:9.1f}{r['peak'] / 2**20:10.0f}{r['crates']:8}{size:12.1f}")

    # On tmpfs, where fsync is free: the compiler's own CPU, not the kernel's work to make the
    # output durable (bench/render.py reports both).
    scratch_base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=scratch_base) as scratch:
        true, render, exec_own = start_costs(results["lean"]["binary"], args.runs, scratch)
    ratio = render / max(true, 1e-9)
    print()
    print(f"lean binary, {args.runs} runs each on {scratch_base or 'disk'}, median CPU: true {true * 1000:.2f} ms, "
          f"render examples/full.toml {render * 1000:.2f} ms ({ratio:.2f}x true; target <= 3x: "
          f"{'met' if ratio <= 3 else 'missed'}), exec {exec_own * 1000:.2f} ms beyond true "
          f"(target <= 2 ms: {'met' if exec_own <= 0.002 else 'missed'})")

    full, lean = results.get("before", results["full"]), results["lean"]
    percent = 100 * lean["cpu"] / full["cpu"]
    compared = f"the full command of {args.before}" if args.before else "the full command"
    print(f"compared with {compared}: lean CPU <= 25% of full: {'met' if percent <= 25 else 'missed'}; "
          f"peak <= 400 MiB: {'met' if lean['peak'] <= 400 * 2**20 else 'missed'}")
    if not args.keep:
        subprocess.run(["rm", "-rf", base], check=False)
    print(f"lean build: {lean['cpu']:.0f} CPU-s ({percent:.0f}% of full), peak {lean['peak'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
