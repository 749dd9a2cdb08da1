"""Crash leftovers: temporary files a killed write left are reported by ``check`` and removed by the next write.

A write killed mid-way (SIGKILL, power loss) leaves what it had open: a partial LFS copy in
``lfs/tmp/gitreg-*``, a temporary index ``gitreg-index-*``, git's ``objects/xx/tmp_obj_*``, an
object being linked into a local registry (``objects/xx/.<oid>.<random>.tmp``). Files untouched
for ``files.STALE_AFTER`` seconds belong to no live writer: ``check`` warns about them (count and
size, not a problem: exit 0) and the next write removes them. Younger ones are left alone — they
may be a concurrent writer's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gitreg import Registry
from gitreg.store import files
from gitreg.store.location import cache_dir
from tests.support.cli import invoke

OLD = time.time() - files.STALE_AFTER - 60


def plant(path: Path, size: int, when: float | None = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    if when is not None:
        os.utime(path, (when, when))
    return path


def test_check_reports_stale_leftovers_and_the_next_write_removes_them(
    registry: Registry, registry_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m")
    cache = cache_dir(registry.backend.url)
    stale = [
        plant(registry_path / "lfs" / "tmp" / "gitreg-1234-deadbeef", 1500),
        plant(registry_path / "gitreg-index-abc123", 400),
        plant(registry_path / "objects" / "ab" / "tmp_obj_XyZ123", 0),
        plant(registry_path / "objects" / "cd" / ".ef0123456789.4a5b6c7d8e9f.tmp", 100),
    ]
    fresh = plant(registry_path / "lfs" / "tmp" / "gitreg-99-cafebabe", 700, when=None)  # a live writer's
    in_cache = plant(cache / "lfs" / "tmp" / "gitreg-5678-feedface", 300)
    not_ours = plant(registry_path / "lfs" / "tmp" / "git-lfs-download-1", 50)  # git-lfs's own: not touched

    p = invoke("check", "--registry", str(registry_path))
    assert p.exit_code == 0, (p.stdout, p.stderr)  # a warning, not a problem
    warned = [ln for ln in p.stderr.splitlines() if "interrupted writes" in ln]
    assert warned == [
        f"warning: 4 files, 2.0 kB of temporary files left by interrupted writes in {registry_path} "
        "(the next write removes them)"
    ], p.stderr
    assert all(f.exists() for f in [*stale, fresh, in_cache])  # check only reads

    pushed = invoke("push", str(onnx_file()), "--name", "m", "--registry", str(registry_path))
    assert pushed.exit_code == 0, pushed.stderr

    assert [f for f in stale if f.exists()] == []
    assert not in_cache.exists()  # the cache clone the write went through is swept too
    assert fresh.exists() and not_ours.exists()
    again = invoke("check", "--registry", str(registry_path))
    assert again.exit_code == 0 and "interrupted writes" not in again.stderr
    assert Registry(registry_path).check().ok


def test_a_killed_push_leaves_a_partial_copy_that_check_reports_and_the_next_push_removes(
    registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    """A real crash: SIGKILL while the artifact is being copied into the store."""
    src = onnx_file(pad=0)
    big = tmp_path / "big.onnx"
    big.write_bytes(src.read_bytes())
    with open(big, "r+b") as fh:  # sparse: costs no disk, and copies for long enough to be killed
        fh.truncate(1 << 30)
    # has_room says yes: the point is the copy, whatever the free space of the machine running this.
    code = (
        "import gitreg.store.lfs as lfs; from pathlib import Path; lfs.has_room = lambda *a: True; "
        f"lfs.store(Path({str(big)!r}), Path({str(registry_path / 'lfs')!r}))"
    )
    writer = tmp_path / "writer.py"
    writer.write_text(code)
    proc = subprocess.Popen([sys.executable, str(writer)])
    tmp_dir = registry_path / "lfs" / "tmp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(p.stat().st_size > 0 for p in tmp_dir.glob("gitreg-*")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = list(tmp_dir.glob("gitreg-*"))
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < 1 << 30, partial
    os.utime(partial[0], (OLD, OLD))

    report = Registry(registry_path).check()
    assert report.ok
    assert any("1 file," in w and "interrupted writes" in w for w in report.warnings), report.warnings

    Registry(registry_path).push_files([src], "m")
    assert not partial[0].exists()
    assert not any("interrupted writes" in w for w in Registry(registry_path).check().warnings)
