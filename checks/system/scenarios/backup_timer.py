"""backup_timer: scheduled backups with retention, as a plain host gets them from `apply`.

With `backup.schedule = "daily"` and `backup.keep = 2`, `apply` installs
gitlab-mattermost-backup.service and its timer and starts the timer. Here:
- the timer is active and listed by `systemctl list-timers`;
- the service, started three times by hand (as the timer would), succeeds each time inside its
  sandbox, and exactly the 2 newest complete backups remain, each with its manifest, the
  database dump and config.json, in a directory only root can enter;
- without the schedule, `apply` stops, disables and removes the units and leaves the backups.
"""

import time

from harness.context import expect

DIRECTORY = "/var/backups/gitlab-mattermost"
SERVICE = "gitlab-mattermost-backup.service"
TIMER = "gitlab-mattermost-backup.timer"


def run(ctx):
    ctx.reconfigure("backup.schedule=daily", "backup.keep=2")
    facts = [timer_is_active(ctx), three_runs_keep_two(ctx), schedule_removed(ctx)]
    return "; ".join(facts)


def sh(ctx, script, check=True):
    return ctx.container.run(["sh", "-c", script], check=check)


def timer_is_active(ctx):
    state = ctx.systemctl("is-active", TIMER, check=False).stdout.strip()
    expect(state == "active", f"{TIMER} is {state!r}, not active")
    enabled = ctx.systemctl("is-enabled", TIMER, check=False).stdout.strip()
    expect(enabled == "enabled", f"{TIMER} is {enabled!r}, not enabled")
    listed = ctx.systemctl("list-timers", "--no-pager", TIMER).stdout
    expect(TIMER in listed and SERVICE in listed, f"list-timers does not show {TIMER}:\n{listed}")
    mode = sh(ctx, f"stat -c '%a %U' {DIRECTORY}").stdout.strip()
    expect(mode == "700 root", f"{DIRECTORY} is {mode}, expected 700 root")
    return f"{TIMER} is enabled, active and listed by systemctl list-timers; {DIRECTORY} is root's, 0700"


def complete_backups(ctx):
    out = sh(ctx, f"for d in {DIRECTORY}/mattermost-backup-*; do "
                  "[ -f \"$d/manifest.json\" ] && echo \"$d\"; done; true").stdout
    return sorted(line for line in out.splitlines() if line.strip())


def three_runs_keep_two(ctx):
    made = []
    for n in range(3):
        # Backups are named by the second they start in.
        time.sleep(1.5)
        result = ctx.systemctl("start", SERVICE, check=False)
        outcome = ctx.systemctl("show", "-p", "Result", "--value", SERVICE).stdout.strip()
        expect(result.returncode == 0 and outcome == "success",
               f"run {n + 1} of {SERVICE} failed ({outcome}):\n{ctx.journal('gitlab-mattermost-backup', 40)}")
        made.append(complete_backups(ctx)[-1])
    left = complete_backups(ctx)
    expect(left == made[1:], f"after 3 runs with keep 2: {left}, expected {made[1:]}")
    newest = left[-1]
    files = sh(ctx, f"ls {newest}").stdout.split()
    expect("config.json" in files and any(f.startswith("database-") for f in files),
           f"{newest} lacks the dump or config.json: {files}")
    return f"3 runs of {SERVICE} succeeded in its sandbox and left exactly the 2 newest complete backups"


def schedule_removed(ctx):
    kept = complete_backups(ctx)
    ctx.reconfigure()
    gone = sh(ctx, f"test ! -e /etc/systemd/system/{TIMER} && test ! -e /etc/systemd/system/{SERVICE}",
              check=False)
    expect(gone.returncode == 0, "the backup units are still installed without backup.schedule")
    state = ctx.systemctl("is-active", TIMER, check=False).stdout.strip()
    expect(state != "active", f"{TIMER} is still {state}")
    expect(complete_backups(ctx) == kept, "removing the schedule touched the backups")
    return "without backup.schedule apply stopped and removed the timer and kept the backups"
