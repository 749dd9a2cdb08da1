"""Storing artifacts: the kernel copy and the hash of the copy agree, whatever the copy falls back to."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.errors import ArtifactError
from gitreg.store import lfs

SIZE = 300_001  # several copy steps and hash blocks with the small sizes below, and an odd tail


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lfs, "COPY_STEP", 65_536)
    monkeypatch.setattr(lfs, "HASH_BLOCK", 10_000)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    p = tmp_path / "model.onnx"
    p.write_bytes(os.urandom(SIZE))
    return p


def check_stored(ptr: lfs.Pointer, src: Path, root: Path) -> None:
    data = src.read_bytes()
    assert (ptr.oid, ptr.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert lfs.object_path(root, ptr.oid).read_bytes() == data
    assert list((root / "tmp").iterdir()) == []  # no temporary file left behind


def test_store_copies_and_hashes_in_steps(small_steps: None, src: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    ptr = lfs.store(src, tmp_path / "lfs", on_progress=seen.append)
    check_stored(ptr, src, tmp_path / "lfs")
    assert sum(seen) == SIZE and len(seen) > 1
    assert lfs.store(src, tmp_path / "lfs") == ptr  # storing it again keeps the one object


@pytest.mark.parametrize("code", [errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP])
def test_store_falls_back_to_read_write(
    small_steps: None, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refuse(*_a: object) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "copy_file_range", refuse)
    check_stored(lfs.store(src, tmp_path / "lfs"), src, tmp_path / "lfs")


def test_store_without_copy_file_range(
    small_steps: None, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    check_stored(lfs.store(src, tmp_path / "lfs"), src, tmp_path / "lfs")


def test_store_does_not_trust_an_early_zero(
    small_steps: None, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "copy_file_range", lambda *_a: 0)  # some filesystems copy nothing and say 0
    check_stored(lfs.store(src, tmp_path / "lfs"), src, tmp_path / "lfs")


def test_store_failure_mid_copy_leaves_nothing(
    small_steps: None, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.copy_file_range
    calls = iter(range(100))

    def flaky(fin: int, fout: int, n: int) -> int:
        if next(calls) == 2:
            raise OSError(errno.EIO, "I/O error")
        return real(fin, fout, n)

    monkeypatch.setattr(os, "copy_file_range", flaky)
    with pytest.raises(ArtifactError, match="I/O error"):
        lfs.store(src, tmp_path / "lfs")
    assert list((tmp_path / "lfs" / "tmp").iterdir()) == []
    assert not (tmp_path / "lfs" / "objects").exists()


def test_store_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot read artifact"):
        lfs.store(tmp_path / "nope.onnx", tmp_path / "lfs")


def test_local_registry_gets_objects_without_git_lfs_push(
    registry: Registry, registry_path: Path, onnx_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_push(*_a: object) -> None:
        raise AssertionError("git lfs push should not run for a registry on this machine")

    monkeypatch.setattr(lfs, "push_objects", no_push)
    f = onnx_file(pad=100_000)
    mv = registry.push_files([f], "m")
    oid = registry.show(mv.ref).sidecar.artifacts["onnx"].sha256
    assert lfs.object_path(registry_path / "lfs", oid).read_bytes() == f.read_bytes()
    assert registry.check().ok
    cache_objects = registry.backend.cache().git_dir / "lfs" / "objects"
    assert not cache_objects.exists() or not any(p.is_file() for p in cache_objects.rglob("*"))
