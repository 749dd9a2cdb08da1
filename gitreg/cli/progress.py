"""A one-line progress display on a terminal: long copies (push into the store, pull out of it) and
long steps of an export (``exporting ONNX... 12 s``, ``checking parity (onnxruntime)... 3 s``).

It appears only when stderr is a terminal, the command is not printing ``--json``, and the work has
run longer than a couple of seconds (``GITREG_PROGRESS_DELAY`` seconds, default 2); it redraws at
most five times a second, is wiped when a step ends, and clears itself at the end, so quick
commands and scripted ones print exactly what they did before. The steps come from
:func:`gitreg.ml.runtime.stage`; a step blocks in torch or onnxruntime for seconds at a time, so a
background thread keeps its clock running.
"""

from __future__ import annotations

import os
import sys
import threading
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


def delay_from_env() -> float:
    """``GITREG_PROGRESS_DELAY`` (seconds before the line appears), else :data:`DELAY`."""
    try:
        return max(0.0, float(os.environ.get("GITREG_PROGRESS_DELAY", DELAY)))
    except ValueError:
        return DELAY


class Line:
    """Draws ``what: done / total (pct)`` for a copy, or ``step... N s`` for a running step
    (:meth:`status`, :meth:`tick`), on ``stream`` with a carriage return; ``close`` wipes it."""

    def __init__(self, stream: TextIO, delay: float = DELAY, every: float = EVERY) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.delay, self.every = delay, every
        self.last = 0.0
        self.width = 0
        self.lock = threading.Lock()
        self.step: str | None = None
        self.began: dict[str, tuple[float, int]] = {}  # per transfer: when it was first seen, bytes then
        self.step_start = 0.0
        self.shown = ""

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        began = self.began.setdefault(what, (now, 0))  # the rate counts from the transfer's first report
        if now - self.start < self.delay or (now - self.last < self.every and done < total):
            return
        self.last = now
        pct = f" ({100 * done // total}%)" if total else ""
        rate = (done - began[1]) / (now - began[0]) if now - began[0] >= 0.2 else 0.0
        speed = f", {_size(int(rate))}/s" if rate > 0 else ""
        self.draw(f"{what}: {_size(done)} / {_size(total)}{pct}{speed}")

    def status(self, what: str | None) -> None:
        """The step now running (None: no step); an ended step's line is wiped."""
        with self.lock:
            self.step, self.step_start = what, time.monotonic()
        if what is None:
            self.wipe()
        else:
            self.tick()

    def tick(self) -> None:
        """Redraw the running step with its seconds so far, once the line is due."""
        with self.lock:
            step, since = self.step, self.step_start
        now = time.monotonic()
        if step is None or now - self.start < self.delay:
            return
        self.draw(f"{step}... {int(now - since)} s")

    def draw(self, text: str) -> None:
        with self.lock:
            if text == self.shown:
                return
            self.stream.write("\r" + text.ljust(self.width))
            self.stream.flush()
            self.width = max(self.width, len(text))
            self.shown = text

    def wipe(self) -> None:
        with self.lock:
            if self.width:
                self.stream.write("\r" + " " * self.width + "\r")
                self.stream.flush()
            self.width, self.shown = 0, ""

    def close(self) -> None:
        self.wipe()


@contextmanager
def progress(enabled: bool = True) -> Iterator[None]:
    """Show the block's transfers and long steps on stderr, if enabled and stderr is a terminal."""
    stream = sys.stderr
    if not enabled or not stream.isatty():
        yield
        return
    from gitreg.ml import runtime  # numpy with it (~0.1 s): only for a terminal that shows steps

    line = Line(stream, delay=delay_from_env())
    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(line.every):
            line.tick()

    thread = threading.Thread(target=ticker, name="gitreg-progress", daemon=True)
    thread.start()
    try:
        with lfs.reporting(line), runtime.reporting(line.status):
            yield
    finally:
        stop.set()
        thread.join()
        line.close()
