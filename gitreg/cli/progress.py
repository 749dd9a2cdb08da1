"""A one-line progress display for long copies on a terminal (push into the store, pull out of it).

It appears only when stderr is a terminal, the command is not printing ``--json``, and the work has
run longer than a couple of seconds; it redraws at most five times a second and clears itself at
the end, so quick commands and scripted ones print exactly what they did before.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from gitreg.store import lfs

DELAY = 2.0  # seconds of silence before the line appears
EVERY = 0.2  # seconds between redraws


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class Line:
    """Draws ``what: done / total (pct)`` on ``stream`` with a carriage return; ``close`` wipes it."""

    def __init__(self, stream: TextIO, delay: float = DELAY, every: float = EVERY) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.delay, self.every = delay, every
        self.last = 0.0
        self.width = 0

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or (now - self.last < self.every and done < total):
            return
        self.last = now
        pct = f" ({100 * done // total}%)" if total else ""
        text = f"{what}: {_size(done)} / {_size(total)}{pct}"
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = max(self.width, len(text))

    def close(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


@contextmanager
def progress(enabled: bool = True) -> Iterator[None]:
    """Show progress of the block's transfers on stderr, if enabled and stderr is a terminal."""
    stream = sys.stderr
    if not enabled or not stream.isatty():
        yield
        return
    line = Line(stream)
    try:
        with lfs.reporting(line):
            yield
    finally:
        line.close()
