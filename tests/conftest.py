"""Fixtures: test isolation and factories for real git, real git-lfs, real bare registries in ``tmp_path``.

Every test runs with its own HOME, XDG dirs, no system or global git config and a fixed identity,
so neither the user's config nor Debian's ``/etc/gitconfig`` (which enables LFS filters) leaks in,
and nothing the tests do leaks out. Helpers that are not fixtures (``git``, ``run_cli``, ``invoke``,
``make_onnx``, ``REPO_ROOT``) live in ``tests/support``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitreg import Registry
from tests.support.onnxfiles import make_onnx
from tests.support.repo import TOOLS_DIR, home_env


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = home_env(tmp_path)
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


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A real HTTP server or the GTO CLI takes seconds to start: tests marked http or gto are slow too."""
    for item in items:
        if item.get_closest_marker("http") or item.get_closest_marker("gto"):
            item.add_marker(pytest.mark.slow)
