"""Where the project is, and plain git for checking a repository without going through gitreg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The project's own tools (gitreg, check-jsonschema, ...) sit next to the interpreter running the tests,
# whatever PATH the caller had: a fresh machine has .venv/bin on no one's PATH.
TOOLS_DIR = Path(sys.executable).parent


def home_env(root: Path) -> dict[str, str]:
    """The suite's isolated identity under ``root/home``: HOME, XDG folders, an empty global git config,
    no system config, a fixed author. conftest's autouse fixture and the module-scoped fixtures that
    outlive one test (registries built once per module) all use it."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig-test"
    gitconfig.write_text("")
    return {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.com",
    }


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
