"""The CLI as a process at the ends of its life: output into a closed pipe, Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gitreg import Registry


def test_output_into_a_closed_pipe_ends_quietly(registry: Registry, registry_path: Path, onnx_file) -> None:
    for i in range(3):
        registry.push_files([onnx_file()], "m", metrics={"a": float(i)})
    gitreg = f"{sys.executable} -m gitreg"
    for cmd in (f"history m --registry {registry_path}", f"list m --registry {registry_path}"):
        p = subprocess.run(
            # `true` exits without reading: the pipe is closed long before gitreg (~0.1 s to start) writes
            ["bash", "-o", "pipefail", "-c", f"{gitreg} {cmd} | true"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert "internal error" not in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert "BrokenPipe" not in p.stderr and p.stderr == "", p.stderr
        assert p.returncode in (0, 1), p.returncode  # 1 when gitreg saw the pipe close, as click ends it
