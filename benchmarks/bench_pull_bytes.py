"""Bytes over the wire: one ``gitreg pull`` over HTTP from a new machine, and a ``gitreg bundle``.

Fixture: a registry served as ``docs/server.md`` sets one up (``gitreg init`` on the server's disk, so
its ``pre-receive`` hook runs; ``gitreg.localLfs false``; LFS in giftless), on the test server
``tests/support/gitsrv.py`` with its opt-in byte log (``GITSRV_BYTE_LOG``), holding ``--versions``
versions (default 20) of a ``--size-mb`` MB (default 5) ONNX model, a different seed each.

Measured, from the server's side (WSGI bodies as the app reads and yields them, plus an estimate of
the HTTP request/status lines and headers):

* ``gitreg pull m@v1.<mid>.0 -o DIR`` with an empty ``$XDG_CACHE_HOME`` (a new machine: the bare,
  blobless cache clone is made by this pull), split into git protocol and LFS, against the
  artifact's size;
* a second pull of another version on the same machine (warm cache);
* ``gitreg bundle m@v1.1.0 m@v1.2.0 m@v1.3.0 -o FILE``: the file's size against the sum of the
  three LFS objects, and what creating it fetched over the wire.

    python benchmarks/bench_pull_bytes.py [--versions 20] [--size-mb 5] [--keep]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import IDENTITY, MB, gitreg_argv, header, isolate, machine_note, make_big_onnx, tree_bytes

ROOT = isolate("pull-bytes")
os.environ.update(IDENTITY)

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from gitreg import Registry  # noqa: E402
from tests.reliability.team import serve_registry  # noqa: E402
from tests.support.servers import http_registry  # noqa: E402

NAME = "m"


class ByteLog:
    """The server's byte log (``gitsrv.count_bytes``): totals of the lines written since :meth:`mark`."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> dict[str, dict[str, int]]:
        """Per kind (``git``, ``lfs``): requests, bytes up (bodies + heads), bytes down (bodies + heads)."""
        time.sleep(0.2)  # the last response's line is written when waitress closes its iterable
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        with self.path.open() as f:
            f.seek(self.offset)
            for line in f:
                kind, _method, _path, _status, req_body, resp_body, req_head, resp_head = line.rstrip("\n").split("\t")
                t = totals[kind]
                t["requests"] += 1
                t["up_body"] += int(req_body)
                t["down_body"] += int(resp_body)
                t["up_head"] += int(req_head)
                t["down_head"] += int(resp_head)
        return {k: dict(v) for k, v in totals.items()}


def gitreg(*args: str) -> str:
    p = subprocess.run([*gitreg_argv(), *args], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"gitreg {' '.join(args)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return p.stdout


def report(label: str, totals: dict[str, dict[str, int]], size: int) -> int:
    """Print the split and return the total bytes both ways."""
    grand = 0
    print(f"  {label}")
    for kind in ("git", "lfs"):
        t = totals.get(kind, {})
        up, down = t.get("up_body", 0) + t.get("up_head", 0), t.get("down_body", 0) + t.get("down_head", 0)
        grand += up + down
        print(
            f"    {kind:<4} {t.get('requests', 0):3d} requests  down {down:>12,} B "
            f"(bodies {t.get('down_body', 0):,})  up {up:>9,} B (bodies {t.get('up_body', 0):,})"
        )
    print(f"    total over the wire {grand:,} B for {size:,} B of artifacts: ratio {grand / size:.4f}")
    return grand


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--size-mb", type=float, default=5.0, help="artifact size in MB (10^6 bytes)")
    ap.add_argument("--keep", action="store_true", help="keep the temp fixture")
    args = ap.parse_args()
    n_floats = int(args.size_mb * MB) // 4
    mid = (args.versions + 1) // 2
    machine_note()

    log = ByteLog(ROOT / "bytes.tsv")
    with http_registry(ROOT / "http", env={"GITSRV_BYTE_LOG": str(log.path)}) as srv:
        header("fixture")
        _, url = serve_registry(srv)
        t0 = time.perf_counter()
        sizes = {}
        (ROOT / "src").mkdir()
        for i in range(1, args.versions + 1):
            f = make_big_onnx(ROOT / "src" / f"v{i}.onnx", n_floats, seed=i)
            Registry(url).push_files([f], NAME, version=f"1.{i}.0")
            sizes[i] = f.stat().st_size
            f.unlink()
        took = time.perf_counter() - t0
        print(f"  {args.versions} versions of a ~{sizes[1]:,} B ONNX model pushed over HTTP in {took:.1f} s")

        header(f"gitreg pull {NAME}@v1.{mid}.0 on a new machine (empty cache)")
        os.environ["XDG_CACHE_HOME"] = str(ROOT / "cache-new-machine")
        out = ROOT / "out-1"
        log.mark()
        gitreg("pull", f"{NAME}@v1.{mid}.0", "-o", str(out), "--registry", url)
        pulled = tree_bytes(out)
        report(f"pull {NAME}@v1.{mid}.0 (wrote {pulled:,} B to the destination)", log.since_mark(), sizes[mid])

        header("a second version on the same machine (warm cache)")
        other = mid + 1 if mid < args.versions else mid - 1
        log.mark()
        gitreg("pull", f"{NAME}@v1.{other}.0", "-o", str(ROOT / "out-2"), "--registry", url)
        report(f"pull {NAME}@v1.{other}.0", log.since_mark(), sizes[other])

        header("gitreg bundle of 3 versions (on a new machine)")
        os.environ["XDG_CACHE_HOME"] = str(ROOT / "cache-bundler")
        bundle = ROOT / "three.bundle"
        refs = [f"{NAME}@v1.{i}.0" for i in (1, 2, 3)]
        log.mark()
        gitreg("bundle", *refs, "-o", str(bundle), "--registry", url)
        wire = log.since_mark()
        objects = sum(sizes[i] for i in (1, 2, 3))
        size = bundle.stat().st_size
        print(f"  {' '.join(refs)}: bundle file {size:,} B; their LFS objects {objects:,} B")
        print(f"  bundle / sum of the LFS objects: {size / objects:.4f}")
        print(f"  overhead {size - objects:,} B (tar headers, manifest, git bundle of tags and commits)")
        report("what creating it fetched", wire, objects)
    return 0


if __name__ == "__main__":
    sys.exit(main())
