"""Progress lines on stderr, with the seconds since the harness started."""

import sys
import time

_START = time.monotonic()


def step(message):
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def elapsed():
    return time.monotonic() - _START
