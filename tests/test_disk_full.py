"""Full disks: push, pull and load meet ENOSPC on a real, small tmpfs and end in one ``DiskFull`` line.

Each test mounts its own tmpfs (``mount -t tmpfs -o size=…``) for the registry, the cache or the
pull destination, so the kernel itself answers "No space left on device". Mounting needs root:
without it these tests are skipped (they say so). Two routes reach the full filesystem: gitreg's
own check of the free space before writing (the usual one), and — with ``lfs.has_room`` told to
say yes — the kernel's ENOSPC in the middle of a copy. Either way the error names the filesystem,
the exit code is 1, no ref moves and no temporary or partial file is left.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import gitreg
from gitreg import Registry
from gitreg.errors import DiskFull
from gitreg.store import files, lfs
from tests.support.cli import invoke, one_error_line
from tests.support.onnxfiles import make_onnx
from tests.support.repo import git

PAD = 600_000  # an artifact of ~600 kB: fits a 2 MB tmpfs, not what is left of it once filled


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """``mount(name, size)``: a fresh tmpfs at ``tmp_path/name``, unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the disk-full tests run as root only")
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def fill(fs: Path, leave: int = 0) -> Path:
    """Fill ``fs`` but for ``leave`` bytes (0: until the kernel says ENOSPC)."""
    st = os.statvfs(fs)
    free = st.f_bfree * st.f_frsize
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as fh:  # unbuffered: ENOSPC comes from write(), not close()
        try:
            left = max(free - leave, 0)
            while left > 0:
                left -= fh.write(b"\0" * min(left, 1 << 20))
            while leave == 0:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def free_bytes(fs: Path) -> int:
    st = os.statvfs(fs)
    return st.f_bfree * st.f_frsize


def refs(repo: Path) -> str:
    return git("--git-dir", str(repo), "for-each-ref", "--format=%(refname) %(objectname)")


def temporaries(root: Path) -> list[Path]:
    """Every temporary or partial file gitreg or git could leave under ``root``, however new."""
    found = [p for p in root.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or "tmp_obj_" in p.name)]
    found += [p for p in root.rglob("lfs/tmp/*")]
    found += [p for p in root.rglob("gitreg-index-*")]
    return sorted(found)


def artifact(tmp_path: Path, seed: int, pad: int = PAD) -> Path:
    return make_onnx(tmp_path / "artifacts" / f"a{seed}.onnx", seed=seed, pad=pad)


@pytest.fixture
def registry_on_tmpfs(tmpfs: Callable[[str, str], Path]) -> tuple[Path, Path]:
    """(mount point, registry) — a registry alone on a 2 MB tmpfs."""
    fs = tmpfs("regfs", "2m")
    reg = fs / "registry.git"
    assert Registry(reg).init() is True
    return fs, reg


@pytest.fixture
def kernel_enospc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip gitreg's free-space check, so the copy starts and meets the kernel's ENOSPC half-way."""
    monkeypatch.setattr(lfs, "has_room", lambda folder, need: True)


def assert_full_error(stderr: str, fs: Path) -> str:
    line = one_error_line(stderr)
    assert f"the filesystem at {fs} is full (No space left on device)" in line, line
    assert "internal error" not in stderr and "cannot read artifact" not in stderr
    return line


# -- push --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["free-space check", "kernel ENOSPC mid-copy"])
def test_push_into_a_full_registry_names_the_filesystem_and_leaves_nothing(
    registry_on_tmpfs: tuple[Path, Path], tmp_path: Path, route: str, request: pytest.FixtureRequest
) -> None:
    fs, reg = registry_on_tmpfs
    assert invoke("push", str(artifact(tmp_path, 1, pad=0)), "--name", "m", "--registry", str(reg)).exit_code == 0
    fill(fs, leave=64_000)
    if route.startswith("kernel"):
        request.getfixturevalue("kernel_enospc")
    before, free = refs(reg), free_bytes(fs)
    big = artifact(tmp_path, 2)

    p = invoke("push", str(big), "--name", "m", "--registry", str(reg))

    assert p.exit_code == 1, (p.stdout, p.stderr)
    line = assert_full_error(p.stderr, fs)
    assert f"while writing {reg}/lfs/objects" in line, line  # the store, never the source file
    assert str(big) not in line
    assert refs(reg) == before
    assert temporaries(reg) == []
    assert free_bytes(fs) == free  # the partial copy is gone too
    assert big.stat().st_size > PAD  # the user's file untouched


@pytest.mark.parametrize("route", ["free-space check", "kernel ENOSPC mid-copy"])
def test_an_object_the_full_registry_already_holds_is_not_copied_again(
    registry_on_tmpfs: tuple[Path, Path], tmp_path: Path, route: str, request: pytest.FixtureRequest
) -> None:
    fs, reg = registry_on_tmpfs
    big = artifact(tmp_path, 3)
    assert invoke("push", str(big), "--name", "m", "--registry", str(reg)).exit_code == 0
    fill(fs, leave=150_000)  # room for a version's git objects, not for a second copy of the artifact
    if route.startswith("kernel"):
        request.getfixturevalue("kernel_enospc")

    p = invoke("push", str(big), "--name", "m", "--metric", "acc=0.9", "--registry", str(reg))

    assert p.exit_code == 0, p.stderr
    assert p.stdout.strip() == "m@v1.1.0"
    objects = [q for q in (reg / "lfs" / "objects").rglob("*") if q.is_file()]
    assert [q.name for q in objects] == [lfs.sha256_file(big)[0]]
    assert temporaries(reg) == []
    assert Registry(reg).check().ok


def test_git_objects_that_do_not_fit_the_registry(registry_on_tmpfs: tuple[Path, Path], tmp_path: Path) -> None:
    """The LFS object is there already; the version's commit, tree and tag (linked from the cache
    on another filesystem: copied) meet the full disk: DiskFull, no ``.tmp`` in objects/, no ref."""
    fs, reg = registry_on_tmpfs
    big = artifact(tmp_path, 4)
    assert invoke("push", str(big), "--name", "m", "--registry", str(reg)).exit_code == 0
    fill(fs)
    before = refs(reg)

    p = invoke("push", str(big), "--name", "m", "--metric", "acc=0.8", "--registry", str(reg))

    assert p.exit_code == 1, (p.stdout, p.stderr)
    line = assert_full_error(p.stderr, fs)
    assert f"{reg}/objects" in line, line
    assert refs(reg) == before
    assert temporaries(reg) == []
    assert Registry(reg).versions("m")[-1].version == "1.0.0"


def test_a_full_cache_clone_fails_cleanly(
    tmpfs: Callable[[str, str], Path], registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git itself meets ENOSPC (``hash-object -w`` in the cache clone): git leaves a 0-byte
    ``objects/xx/tmp_obj_*`` behind; gitreg removes it and names the cache's filesystem."""
    cache_fs = tmpfs("cachefs", "2m")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_fs))
    first = invoke("push", str(artifact(tmp_path, 5, pad=0)), "--name", "m", "--registry", str(registry_path))
    assert first.exit_code == 0, first.stderr
    fill(cache_fs)
    before = refs(registry_path)

    p = invoke("push", str(artifact(tmp_path, 6, pad=0)), "--name", "m", "--registry", str(registry_path))

    assert p.exit_code == 1, (p.stdout, p.stderr)
    assert_full_error(p.stderr, cache_fs)
    assert refs(registry_path) == before
    assert temporaries(cache_fs) == []


# -- pull and load -----------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["free-space check", "kernel ENOSPC mid-copy"])
def test_pull_into_a_full_filesystem(
    tmpfs: Callable[[str, str], Path],
    registry_path: Path,
    tmp_path: Path,
    route: str,
    request: pytest.FixtureRequest,
) -> None:
    big = artifact(tmp_path, 7)
    assert invoke("push", str(big), "--name", "m", "--registry", str(registry_path)).exit_code == 0
    out_fs = tmpfs("outfs", "256k")
    if route.startswith("kernel"):
        request.getfixturevalue("kernel_enospc")
    out = out_fs / "model"

    p = invoke("pull", "m", "-o", str(out), "--registry", str(registry_path))

    assert p.exit_code == 1, (p.stdout, p.stderr)
    line = assert_full_error(p.stderr, out_fs)
    assert str(out / "model.onnx") in line, line
    assert [q for q in out_fs.rglob("*") if q.is_file()] == []  # no partial, no temporary file


def test_load_with_a_full_cache(
    tmpfs: Callable[[str, str], Path], registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("push", str(artifact(tmp_path, 8)), "--name", "m", "--registry", str(registry_path)).exit_code == 0
    cache_fs = tmpfs("loadfs", "256k")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_fs))
    with pytest.raises(DiskFull) as caught:
        gitreg.load("m", registry=str(registry_path))
    assert caught.value.exit_code == 1
    assert caught.value.mount == str(cache_fs)
    # no partial or temporary file; the (empty) lock file loads share with `cache prune` may stay
    left = [q for q in cache_fs.rglob("*") if q.is_file() and not (q.suffix == ".lock" and q.stat().st_size == 0)]
    assert left == []


def test_disk_full_helpers_name_the_mount_point(tmpfs: Callable[[str, str], Path]) -> None:
    fs = tmpfs("small", "64k")
    target = fs / "deep" / "er" / "file.bin"
    assert files.mount_point(target) == fs  # the nearest existing parent's filesystem
    fill(fs)
    with pytest.raises(DiskFull) as caught:
        files.atomic_write(target, b"x" * 100_000)
    assert caught.value.mount == str(fs)
    assert [q.name for q in fs.rglob("*") if q.is_file()] == ["filler"]
