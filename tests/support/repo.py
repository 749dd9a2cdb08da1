"""Where the project is, and plain git for checking a repository without going through gitreg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The project's own tools (gitreg, check-jsonschema, ...) sit next to the interpreter running the tests,
# whatever PATH the caller had: a fresh machine has .venv/bin on no one's PATH.
TOOLS_DIR = Path(sys.executable).parent


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    """Plain git, for tests that check a repository without going through gitreg."""
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {p.stderr}")
    return p.stdout.strip()


def configure(registry_path: Path, tmp_path: Path, extra: str = "", stages: str | None = None) -> None:
    """Edit the registry's gitreg.toml (append ``extra``) and stages.toml the way a person would:
    clone, commit, push."""
    wt = tmp_path / f"edit{len(list(tmp_path.glob('edit*')))}"
    git("clone", "-q", str(registry_path), str(wt))
    if extra:
        cfg = wt / "gitreg.toml"
        cfg.write_text(cfg.read_text() + extra)
    if stages is not None:
        (wt / "stages.toml").write_text(stages)
    git("-C", str(wt), "commit", "-qam", "configure")
    git("-C", str(wt), "push", "-q", "origin", "main")
