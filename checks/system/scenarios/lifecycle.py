"""lifecycle: being written."""

from harness.context import ScenarioFailed


def run(ctx):
    raise ScenarioFailed("scenario lifecycle is not written yet")
