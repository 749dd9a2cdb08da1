"""Running ``gitreg``: in process through click's CliRunner (:func:`invoke`), or as a real process (:func:`run_cli`).

Use :func:`invoke` when a test checks one command's exit code, stdout and stderr; it sees the test's
environment (the autouse ``isolated_env`` sets it with monkeypatch) and current directory. Keep
:func:`run_cli` for what needs a process of its own: signals, a fresh interpreter's imports,
concurrency, PATH and the environment a child inherits, ``python -m gitreg`` itself.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from click.testing import CliRunner, Result

from gitreg.cli import cli


@contextlib.contextmanager
def _cwd(path: Path | str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def invoke(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    catch_exceptions: bool = False,
) -> Result:
    """``gitreg ARGS`` in this process; ``.exit_code``, ``.stdout`` and ``.stderr`` (separate streams)."""
    with _cwd(cwd):
        return CliRunner().invoke(
            cli, list(args), env=dict(env or {}), input=input, catch_exceptions=catch_exceptions, prog_name="gitreg"
        )


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """gitreg as a real subprocess (``python -m gitreg``), with the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "gitreg", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def one_error_line(stderr: str) -> str:
    """The ``error:`` line of a failed command, after checking stderr holds only ``error:``/``hint:`` lines."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr
    assert lines and lines[0].startswith("error: "), stderr
    assert all(ln.startswith(("error: ", "hint: ")) for ln in lines), stderr
    return lines[0]
