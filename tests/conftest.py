"""Test isolation and factories: real git, real git-lfs, real bare registries in ``tmp_path``.

Every test runs with its own HOME, XDG dirs, no system or global git config and a fixed identity,
so neither the user's config nor Debian's ``/etc/gitconfig`` (which enables LFS filters) leaks in,
and nothing the tests do leaks out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gitreg import Registry

REPO_ROOT = Path(__file__).resolve().parents[1]
# The project's own tools (gitreg, check-jsonschema, ...) sit next to the interpreter running the tests,
# whatever PATH the caller had: a fresh machine has .venv/bin on no one's PATH.
TOOLS_DIR = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig-test"
    gitconfig.write_text("")
    values = {
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
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    path = os.environ.get("PATH", os.defpath)
    monkeypatch.setenv("PATH", f"{TOOLS_DIR}{os.pathsep}{path}")
    for k in ("GITREG_REGISTRY", "GITREG_DEBUG", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(k, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return values


def make_onnx(path: Path, seed: int = 0, n_in: int = 4, n_out: int = 3, pad: int = 0) -> Path:
    """A small valid ONNX model (MatMul) built with the onnx helper API; ``pad`` adds weight bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(size=(n_in, n_out)).astype(np.float32), "W")
    inits = [w]
    if pad:
        inits.append(numpy_helper.from_array(rng.normal(size=(pad // 4,)).astype(np.float32), "pad"))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def onnx_file(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10_000))

    def make(seed: int | None = None, **kw) -> Path:
        i = next(counter)
        return make_onnx(tmp_path / "artifacts" / f"m{i}.onnx", seed if seed is not None else i, **kw)

    return make


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    """A fresh registry created by ``gitreg init`` (a bare repo on local disk)."""
    path = tmp_path / "registry.git"
    Registry(path).init()
    return path


@pytest.fixture
def registry(registry_path: Path) -> Registry:
    return Registry(registry_path)


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    """Plain git, for tests that check a repository without going through gitreg."""
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {p.stderr}")
    return p.stdout.strip()


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
