"""Run the real GTO CLI (iterative/gto) from a scratch virtualenv.

gitreg writes git tags in GTO's grammar; these helpers let tests check that
the reference implementation reads a gitreg registry the same way.

The venv lives at ``$GITREG_GTO_VENV`` (default ``<repo>/.venvs/gto``).
Create it with::

    python -m tests.support.gto          # from the repository root

which is idempotent and prints the path of the ``gto`` executable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

GTO_VERSION = "1.10.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO_ROOT / ".venvs" / "gto"

# gto subcommands that accept ``-r/--repo`` (gto 1.10.1).
_REPO_COMMANDS = frozenset(
    {"show", "history", "stages", "check-ref", "doctor", "register", "assign", "promote", "deprecate"}
)

# Variables passed through from the caller's environment (or ``env``) when
# building the isolated environment for gto.  Everything else is dropped
# (notably PYTHONPATH, VIRTUAL_ENV, PYTHONHOME, GIT_DIR, GIT_WORK_TREE...).
_PASSTHROUGH = (
    "HOME",
    "USER",
    "LOGNAME",
    "TMPDIR",
    "SYSTEMROOT",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "XDG_CONFIG_HOME",
)


def venv_path() -> Path:
    """The GTO venv directory: ``$GITREG_GTO_VENV`` or ``<repo>/.venvs/gto``."""
    value = os.environ.get("GITREG_GTO_VENV")
    return Path(value).expanduser() if value else DEFAULT_VENV


def _bin_dir(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin")


def _exe(venv: Path, name: str) -> Path:
    return _bin_dir(venv) / (name + (".exe" if os.name == "nt" else ""))


def _installed(venv: Path) -> bool:
    exe = _exe(venv, "gto")
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        return False
    # Cheap version check without starting gto (its imports take ~1 s).
    pattern = f"gto-{GTO_VERSION}.dist-info"
    return any(venv.glob(f"lib/python*/site-packages/{pattern}")) or any(venv.glob(f"Lib/site-packages/{pattern}"))


def gto_executable() -> Path | None:
    """Path of ``gto`` in the GTO venv, or None if gto==GTO_VERSION is not installed."""
    venv = venv_path()
    return _exe(venv, "gto") if _installed(venv) else None


def ensure_gto_venv(path: Path | str | None = None) -> Path:
    """Create the venv at *path* and ``pip install gto==GTO_VERSION`` if missing.

    Idempotent.  Returns the path of the ``gto`` executable.
    """
    venv = Path(path) if path is not None else venv_path()
    if _installed(venv):
        return _exe(venv, "gto")
    python = _exe(venv, "python")
    if not python.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", f"gto=={GTO_VERSION}"],
        check=True,
    )
    if not _installed(venv):
        raise RuntimeError(f"gto {GTO_VERSION} not found in {venv} after pip install")
    return _exe(venv, "gto")


def gto_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for gto.

    HOME, git config/identity variables etc. come from *env* if given,
    otherwise from ``os.environ``; nothing else is inherited.
    """
    source = os.environ if env is None else env
    out = {k: source[k] for k in _PASSTHROUGH if k in source}
    if env is not None:
        # Caller-provided env is authoritative: keep all of its entries.
        out.update(env)
    if "PATH" not in out:
        # gto needs git on PATH; put the venv's bin dir first.
        path = os.environ.get("PATH", os.defpath)
        exe = gto_executable()
        out["PATH"] = str(exe.parent) + os.pathsep + path if exe else path
    out.setdefault("LANG", "C.UTF-8")
    out.setdefault("LC_ALL", "C.UTF-8")
    out.setdefault("PYTHONIOENCODING", "utf-8")
    out.setdefault("NO_COLOR", "1")
    out.setdefault("TERM", "dumb")
    out.setdefault("COLUMNS", "250")
    for key in (
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_NAMESPACE",
    ):
        if env is None or key not in env:
            out.pop(key, None)
    return out


def run_gto(
    args: Sequence[str],
    repo: Path | str,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``gto <args> -r <repo>`` (``-r`` only for subcommands that take it).

    Runs with ``cwd=repo`` (if it is a directory), an isolated environment (see
    :func:`gto_env`), ``text=True`` and captured output.  Does not check the
    return code.  Raises RuntimeError if gto is not installed.
    """
    exe = gto_executable()
    if exe is None:
        raise RuntimeError("gto venv not installed: run python -m tests.support.gto")
    args = [str(a) for a in args]
    cmd = [str(exe), *args]
    if args and args[0] in _REPO_COMMANDS and not ({"-r", "--repo"} & set(args)):
        cmd += ["-r", str(repo)]
    repo_path = Path(repo)
    return subprocess.run(
        cmd,
        cwd=str(repo_path) if repo_path.is_dir() else None,
        env=gto_env(env),
        text=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


def gto_json(
    args: Sequence[str],
    repo: Path | str,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Run gto with ``--json`` and return the parsed output.

    Raises AssertionError (with stderr/stdout) if gto fails or prints non-JSON.
    """
    args = [str(a) for a in args]
    if "--json" not in args:
        args.append("--json")
    proc = run_gto(args, repo, env)
    if proc.returncode != 0:
        raise AssertionError(
            f"gto {' '.join(args)} failed (exit {proc.returncode})\nstderr:\n{proc.stderr}\nstdout:\n{proc.stdout}"
        )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"gto {' '.join(args)} printed non-JSON ({exc})\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        ) from None


def require_gto() -> Path:
    """Return the gto executable, or skip the calling test if it is not installed."""
    exe = gto_executable()
    if exe is None:
        import pytest

        pytest.skip("gto venv not installed: run python -m tests.support.gto")
    return exe


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    path = Path(argv[0]) if argv else venv_path()
    print(ensure_gto_venv(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
