"""The steps of docs/getting-started.md that the system test runs, so that the document stays
true: a fenced ```sh block right after an HTML comment `<!-- system-test: NAME -->` is the
step NAME, run as root inside the container. Unmarked blocks are illustrations."""

import re
from pathlib import Path

MARK = re.compile(r"<!--\s*system-test:\s*([\w-]+)\s*-->\s*\n```sh\n(.*?)\n```", re.S)


class DocError(RuntimeError):
    pass


def steps(path):
    """{name: script} of every marked block in the document at `path`."""
    text = Path(path).read_text()
    found = {}
    for match in MARK.finditer(text):
        name, script = match.group(1), match.group(2)
        if name in found:
            raise DocError(f"{path}: two blocks are marked system-test: {name}")
        found[name] = script
    return found


def step(path, name):
    found = steps(path)
    if name not in found:
        raise DocError(
            f"{path} has no ```sh block marked <!-- system-test: {name} -->; "
            f"marked: {', '.join(sorted(found)) or 'none'}"
        )
    return found[name]
