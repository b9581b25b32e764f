#!/usr/bin/env python3
"""Benchmark of what a NixOS host pays for the compiler: a clean release build of the lean
binary (what `nixos-rebuild` builds and the unit runs: render, check, exec, upgrade-guard)
beside a clean build of the full command, then the start-time costs of the lean binary.

Each build runs `cargo build --locked` in an empty target directory of its own, with the
profile and link nix/package.nix uses (`release` for the full command, `lean` for the
compiler, linked statically at a fixed address as the package links it; the
crate sources come from cargo's local registry cache, as they would from a vendored Nix
build). With `--before REV` the full command of an earlier revision is built the same way
(from a temporary git worktree), and the lean build is compared with that one. Reported per build: CPU seconds of cargo and every compiler process it ran (user +
system, from wait4's rusage), wall seconds, the peak of the memory all of them held at once
(the sum of their proportional set sizes, sampled from /proc every 50 ms; the sum of their
resident set sizes beside it, which counts shared pages once per process), and the number of
crates the binary links (`cargo tree`,
normal dependencies without proc-macros, the workspace's own crates included).

Then, for the lean binary: CPU of `render examples/full.toml`, into a new directory (as a NixOS
build renders) and over the previous rendering (as `apply` does: the old one is checked, swapped
out and removed), and of `exec` (read the rendered environment file and a credential, then exec
`true`), each next to `true` itself.

The lean build is measured twice: with cargo's default number of jobs (one per CPU) and with
one job, as a one-CPU host builds it; the CPU figure is the first's, the peak the second's (the
first's is printed beside it).

Targets (from the issue that split the workspace): lean build at most 1/4 of the full build's
CPU seconds and at most 400 MiB peak memory; render at most 3x the CPU of `true`; exec at most
2 ms of CPU of its own. A benchmark, not a test: it prints figures and whether the targets
hold; it exits non-zero only when it cannot run. The last line reads
`lean build: <cpu> CPU-s (<percent>% of full), peak <mib> MiB`.

Usage: bench/build.py [--runs N] [--keep DIR] [--before REV]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BUILDS = [
    # (label, cargo profile, feature arguments, jobs, static): as nix/package.nix builds each;
    # jobs None is cargo's default, one per CPU; static links the binary as the package does
    # the compiler (LEAN_RUSTFLAGS).
    ("full", "release", [], None, False),
    ("lean", "lean", ["--no-default-features"], None, True),
    # The same with one job, as a one-CPU host (the 1 GB VPS) builds it: its peak is what
    # such a host needs; with two jobs two compilers run side by side.
    ("lean-j1", "lean", ["--no-default-features"], 1, True),
]

# What nix/package.nix sets for the compiler alone: statically linked, at a fixed address.
# Given with an explicit --target, as nixpkgs' build hook does, so that the flags reach only
# what is linked into the binary (not build scripts or proc-macros).
LEAN_RUSTFLAGS = "-C target-feature=+crt-static -C relocation-model=static"


def session_memory(sid):
    """(RSS, PSS) in bytes of every process of session sid (cargo runs rustc and build
    scripts in the session it was started in). RSS counts a page once per process that maps
    it, so the compiler's shared library (librustc_driver, ~150 MiB) is counted once per rustc
    running; PSS splits each shared page between its sharers, so the PSS of all processes is
    the memory they hold together."""
    rss = pss = 0
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
            with open(f"/proc/{entry}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return rss, pss


def host_triple():
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("host: "))


def built_binary(target_dir, profile, static):
    triple = [host_triple()] if static else []
    return os.path.join(target_dir, *triple, profile, "gitlab-mattermost")


def build_command(profile, args, env, jobs=None, static=False):
    """The cargo command that builds the binary as nix/package.nix does, and env with the
    RUSTFLAGS it needs (none, or LEAN_RUSTFLAGS for the statically linked compiler)."""
    env = dict(env)
    env.pop("RUSTFLAGS", None)
    cmd = ["cargo", "build", "--profile", profile, "--locked", "--offline", "-q", "-p", "gitlab-mattermost"] + args
    if jobs:
        cmd.append(f"-j{jobs}")
    if static:
        env["RUSTFLAGS"] = LEAN_RUSTFLAGS
        cmd += ["--target", host_triple()]
    return cmd, env


def measured_build(profile, args, target_dir, source=ROOT, jobs=None, static=False):
    """Run a clean cargo build of the workspace at source; return (cpu seconds, wall seconds,
    peak RSS bytes, peak PSS bytes)."""
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir, CARGO_TERM_COLOR="never")
    env.pop("RUSTC_WRAPPER", None)  # a compiler cache would measure the cache
    cmd, env = build_command(profile, args, env, jobs, static)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=source, env=env, start_new_session=True)
    peak_rss = peak_pss = 0
    done = threading.Event()

    def sample():
        nonlocal peak_rss, peak_pss
        while not done.is_set():
            rss, pss = session_memory(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, ru = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"build failed: {' '.join(cmd)}")
    return ru.ru_utime + ru.ru_stime, wall, peak_rss, peak_pss


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


def median_cpu(cmd, runs, env=None, before=None):
    """Median CPU of cmd over runs, after two runs that warm the page cache; `before` runs
    ahead of each, outside what is measured."""
    def one():
        if before:
            before()
        return cpu_of(cmd, env)
    for _ in range(2):
        one()
    return statistics.median(one() for _ in range(runs))


def start_costs(binary, runs, scratch):
    """Median CPU of true, render (into a new directory, as a NixOS build does, and over the
    previous rendering, as `apply` does) and exec (without the cost of `true` it execs)."""
    example = os.path.join(ROOT, "examples/full.toml")
    out = os.path.join(scratch, "rendered")
    render_cmd = [binary, "render", example, "--out", out]
    # Into a new directory: the previous run's rendering is removed before each run.
    render_new = median_cpu(render_cmd, runs, before=lambda: shutil.rmtree(out, ignore_errors=True))
    subprocess.run(render_cmd, check=True, capture_output=True)
    credentials = os.path.join(scratch, "credentials")
    os.makedirs(credentials, exist_ok=True)
    with open(os.path.join(credentials, "smtp_password"), "w") as f:
        f.write("not-a-real-password\n")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=credentials)
    true = median_cpu(["true"], runs)
    render = median_cpu(render_cmd, runs)
    exec_total = median_cpu(
        [binary, "exec", "--env-file", os.path.join(out, "mattermost.env"),
         "--credential", "smtp_password=MM_EMAILSETTINGS_SMTPPASSWORD", "--", "true"], runs, env)
    return true, render_new, render, exec_total - true


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
    for label, profile, extra, jobs, static in BUILDS:
        target = os.path.join(base, label)
        if os.path.exists(target) and os.listdir(target):
            sys.exit(f"{target} is not empty: a clean build needs an empty target directory")
        jobs_note = (f" -j{jobs}" if jobs else "") + (" static" if static else "")
        print(f"building {label} (--profile {profile} {' '.join(extra) or 'default features'}{jobs_note}) in {target} …",
              flush=True)
        cpu, wall, rss, pss = measured_build(profile, extra, target, jobs=jobs, static=static)
        results[label] = dict(cpu=cpu, wall=wall, rss=rss, pss=pss,
                              crates=linked_crates(extra),
                              binary=built_binary(target, profile, static))

    if args.before:
        source = os.path.join(base, "before-source")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "--force", source, args.before],
                       check=True, capture_output=True)
        try:
            target = os.path.join(base, "before")
            print(f"building the full command of {args.before} in {target} …", flush=True)
            cpu, wall, rss, pss = measured_build("release", [], target, source)
            results["before"] = dict(cpu=cpu, wall=wall, rss=rss, pss=pss, crates=linked_crates([], source),
                                     binary=built_binary(target, "release", False))
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", source], check=False)

    print()
    print(f"{'':8}{'CPU s':>9}{'wall s':>9}{'peak MiB':>10}{'peak RSS':>10}{'crates':>8}{'binary MiB':>12}")
    for label, r in results.items():
        size = os.path.getsize(r["binary"]) / 2**20
        print(f"{label:8}{r['cpu']:9.1f}{r['wall']:9.1f}{r['pss'] / 2**20:10.0f}{r['rss'] / 2**20:10.0f}"
              f"{r['crates']:8}{size:12.1f}")
    print("peak MiB: the memory all processes held at once (sum of PSS); peak RSS: the sum of their RSS, "
          "which counts the compiler's shared library once per rustc")

    # On tmpfs, where fsync is free: the compiler's own CPU, not the kernel's work to make the
    # output durable (bench/render.py reports both).
    scratch_base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=scratch_base) as scratch:
        true, render_new, render_over, exec_own = start_costs(results["lean"]["binary"], args.runs, scratch)
    print()
    print(f"lean binary, {args.runs} runs each on {scratch_base or 'disk'}, median CPU: true {true * 1000:.2f} ms")
    for what, cpu in [("into a new directory (a NixOS build)", render_new),
                      ("over the previous rendering (apply)", render_over)]:
        ratio = cpu / max(true, 1e-9)
        print(f"  render examples/full.toml {what}: {cpu * 1000:.2f} ms = {ratio:.2f}x true "
              f"(target <= 3x: {'met' if ratio <= 3 else 'missed'})")
    print(f"  exec: {exec_own * 1000:.2f} ms beyond true (target <= 2 ms: {'met' if exec_own <= 0.002 else 'missed'})")

    full, lean, one_job = results.get("before", results["full"]), results["lean"], results["lean-j1"]
    percent = 100 * lean["cpu"] / full["cpu"]
    compared = f"the full command of {args.before}" if args.before else "the full command"
    print(f"compared with {compared}: lean CPU <= 25% of full: {'met' if percent <= 25 else 'missed'}; "
          f"peak <= 400 MiB with one job: {'met' if one_job['pss'] <= 400 * 2**20 else 'missed'} "
          f"({one_job['pss'] / 2**20:.0f} MiB; {lean['pss'] / 2**20:.0f} MiB with {os.cpu_count()} jobs)")
    if not args.keep:
        subprocess.run(["rm", "-rf", base], check=False)
    print(f"lean build: {lean['cpu']:.0f} CPU-s ({percent:.0f}% of full), peak {one_job['pss'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
