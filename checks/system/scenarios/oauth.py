"""oauth: being written."""

from harness.context import ScenarioFailed


def run(ctx):
    raise ScenarioFailed("scenario oauth is not written yet")
