"""The scenarios, one per file, in the order they run (later ones build on the state the
earlier ones leave: users, posts, the registered GitLab application). Each takes the
harness's Context and returns a one-paragraph summary of what it proved, or raises
ScenarioFailed saying what did not hold."""

from . import acme, apply, basic, env, integrations, lifecycle, oauth, omnibus, smtp, upgrade
from . import backup_timer
from . import local_mode

SCENARIOS = {
    "basic": basic.run,
    "env": env.run,
    "oauth": oauth.run,
    "smtp": smtp.run,
    "lifecycle": lifecycle.run,
    "apply": apply.run,
    "backup_timer": backup_timer.run,
    "acme": acme.run,
    "local_mode": local_mode.run,
    "integrations": integrations.run,
    # Last: it replaces the server's release (and puts it back).
    "upgrade": upgrade.run,
    # On its own, in containers of its own: an Omnibus host moved to a new host.
    "omnibus": omnibus.run,
}

# Scenarios that run only when asked for, and alone.
STANDALONE = ("omnibus",)

# Raised by a scenario that cannot run on this line: reported as skipped, with why.
Skipped = upgrade.Skipped
