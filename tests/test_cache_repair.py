"""A damaged object in the cache clone of a remote registry is fetched again, not trusted and not fatal."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from tests.support.onnxfiles import make_onnx
from tests.support.repo import git
from tests.support.servers import http_registry

pytestmark = [pytest.mark.http, pytest.mark.slow]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with http_registry(tmp_path / "srv") as srv:
        _, served = srv.create_repo("org/registry.git")
        seed = tmp_path / "seed.git"
        Registry(seed).init()
        git("--git-dir", str(seed), "push", "--quiet", served, "refs/heads/main:refs/heads/main")
        yield served


def test_a_corrupt_cached_object_is_fetched_again(url: str, tmp_path: Path) -> None:
    model = make_onnx(tmp_path / "m.onnx", seed=3, pad=200_000)
    reg = Registry(url)
    reg.push_files([model], "m")
    oid = hashlib.sha256(model.read_bytes()).hexdigest()
    cached = next((Path(reg.backend.cache().git_dir) / "lfs" / "objects").rglob(oid))
    cached.write_bytes(b"not the model" * 100)  # bit rot, or someone else's hands
    out = tmp_path / "out"
    reg.pull("m", out, format="onnx")
    assert (out / "model.onnx").read_bytes() == model.read_bytes()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == oid  # the cache holds the right bytes again
