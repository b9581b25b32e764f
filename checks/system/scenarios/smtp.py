"""smtp: being written."""

from harness.context import ScenarioFailed


def run(ctx):
    raise ScenarioFailed("scenario smtp is not written yet")
