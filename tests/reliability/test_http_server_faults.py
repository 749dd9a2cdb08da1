"""The server goes away in the middle of a pull; the pull fails cleanly and the next one succeeds.

LFS downloads go through a slow link (``slowlink.py``) so the fault lands mid-transfer, at a random
(seeded) fraction of the object. Three faults: the whole server killed (SIGKILL: connections reset),
the server stopped (SIGTERM), and giftless alone down behind a front that stays up (the download cut
off, then ``502 Bad Gateway``, as nginx answers when giftless is gone). Each time: one clear error
line and no traceback; nothing at the pull's destination, not even a temporary file; the puller's
cache clone not poisoned (no partial object kept, nothing in ``lfs/objects`` that does not hash to
its name, ``git fsck`` clean); then, with the server back, the same machine pulls the same version
and gets exactly the bytes pushed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.slowlink import APP
from tests.reliability.team import (
    assert_consistent,
    machine,
    serve_registry,
    sha256_of,
    wait_server_idle,
)
from tests.support.cli import one_error_line
from tests.support.onnxfiles import make_onnx
from tests.support.repo import REPO_ROOT, git
from tests.support.servers import RestartableServer, restartable_http_registry

pytestmark = [pytest.mark.slow, pytest.mark.http]

PAD = 16_000_000
RATE = 8_000_000  # bytes/s for LFS downloads: a pull of the artifact takes ~2 s
FAULTS = ("server-killed", "server-stopped", "lfs-down")
SEED = 7


@pytest.fixture
def down_flag(tmp_path: Path) -> Path:
    return tmp_path / "lfs-down"


@pytest.fixture
def served(tmp_path: Path, down_flag: Path) -> Iterator[tuple[RestartableServer, Path, str]]:
    env = {"PYTHONPATH": str(REPO_ROOT), "SLOWLINK_BYTES_PER_S": str(RATE), "SLOWLINK_LFS_DOWN": str(down_flag)}
    with restartable_http_registry(tmp_path / "srv", env=env, app=APP) as srv:
        bare, url = serve_registry(srv.server)
        yield srv, bare, url


def partial_download(cache_root: Path) -> int:
    """Bytes git-lfs has downloaded so far into any cache clone under ``cache_root`` (0: none yet)."""
    parts = list((cache_root / "gitreg").glob("*.git/lfs/incomplete/*"))
    sizes = []
    for p in parts:
        try:
            sizes.append(p.stat().st_size)
        except FileNotFoundError:
            pass
    return max(sizes, default=0)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("fault", FAULTS)
def test_server_down_mid_pull_fails_cleanly_and_the_next_pull_succeeds(
    served: tuple[RestartableServer, Path, str], tmp_path: Path, down_flag: Path, fault: str
) -> None:
    srv, bare, url = served
    rng = random.Random(f"{SEED}-{fault}")
    publisher, puller = machine(tmp_path, "publisher"), machine(tmp_path, "puller")
    f = make_onnx(tmp_path / "artifacts" / "model.onnx", seed=5, pad=PAD)
    digest, size = sha256_of(f), f.stat().st_size
    p = publisher.run("push", str(f), "--name", "served", "--registry", url, "--json")
    assert p.returncode == 0, p.stderr
    tag = json.loads(p.stdout)["tag"]

    dest = tmp_path / "deploy"
    fraction = rng.uniform(0.1, 0.8)
    proc = puller.spawn("pull", tag, "-o", str(dest), "--registry", url)
    started = time.monotonic()
    while partial_download(puller.cache) < fraction * size:
        assert proc.poll() is None, ("the pull ended before the fault", proc.communicate())
        assert time.monotonic() - started < 120, "the download never got going"
        time.sleep(0.005)
    got = partial_download(puller.cache)
    if fault == "server-killed":
        srv.stop(hard=True)
    elif fault == "server-stopped":
        srv.stop()
    else:
        down_flag.touch()
    out, err = proc.communicate(timeout=300)
    failed_after = time.monotonic() - started
    print(
        f"\n{fault}: at {got / size:.0%} of {size} bytes; pull exit {proc.returncode} after {failed_after:.1f} s: "
        f"{err.strip() or '(no stderr)'}"
    )

    # One error line naming the LFS server as unreachable (exit 1: not an integrity failure), no
    # traceback, nothing at the destination, nothing half-kept in the cache.
    assert proc.returncode == 1, (proc.returncode, out, err)
    line = one_error_line(err)
    assert out == "" and "LFS server" in line and "lfs logs" not in line, line
    assert files_under(dest) == [], files_under(dest)
    [cache] = puller.cache_repos()
    assert files_under(cache / "lfs" / "incomplete") == []  # git-lfs would resume from a partial object
    for obj in files_under(cache / "lfs" / "objects"):
        assert sha256_of(obj) == obj.name, f"poisoned cache: {obj}"
    git("--git-dir", str(cache), "fsck", "--no-progress", "--no-dangling")

    # The server comes back; the same machine pulls again and gets exactly the bytes pushed.
    if fault == "lfs-down":
        down_flag.unlink()
    else:
        srv.start()
    p = puller.run("pull", tag, "-o", str(dest), "--registry", url)
    assert p.returncode == 0, p.stderr
    pulled = dest / "model.onnx"
    assert sha256_of(pulled) == digest
    assert [q.name for q in files_under(dest)] == ["model.onnx", "model.toml"]
    assert (dest / "model.toml").read_text() == git(
        "--git-dir", str(bare), "cat-file", "blob", f"{tag}:models/served/model.toml"
    ) + "\n"
    wait_server_idle(srv.pid)
    assert_consistent(bare, srv.server, url, publisher, deep=True)
