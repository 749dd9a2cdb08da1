"""The hook's entry point: ``python -m gitreg.hook pre-receive``, as every registry's shim runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitreg.store import hook


def test_install_writes_an_executable_shim_naming_the_stable_entry_point(tmp_path: Path) -> None:
    path = hook.install(tmp_path)  # a bare registry's git dir, with or without hooks/
    assert path == tmp_path / "hooks" / "pre-receive"
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n") and text.rstrip().endswith(" -m gitreg.hook pre-receive")
    assert os.access(path, os.X_OK) and sorted(os.listdir(path.parent)) == ["pre-receive"]
    hook.install(tmp_path)  # again: replaced in place
    assert path.read_text() == text


def test_old_and_new_entry_points_run_the_same_hook_without_the_cli() -> None:
    # gitreg.hook: what every shim runs; gitreg.store.hook: what shims of the first layered build ran.
    for module in ("gitreg.hook", "gitreg.store.hook"):
        p = subprocess.run([sys.executable, "-m", module, "nope"], capture_output=True, text=True, check=False)
        assert p.returncode == 2 and p.stderr == "usage: python -m gitreg.hook pre-receive\n", (module, p.stderr)
    code = "import sys, gitreg.hook, gitreg.store.hook as s; print('click' in sys.modules, gitreg.hook.main is s.main)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.split() == ["False", "True"]
