"""Pull speed and bytes: ``Registry.pull`` of one version of a 50 MB artifact.

Fixture: a local bare registry holding 20 versions (``big@v1.1.0`` .. ``big@v1.20.0``) of a 50 MB
valid ONNX model (one float32 initializer of 12.5M values, a different seed per version), each
registered with ``Registry.push_files``. With giftless installed (``tests/support/requirements-http.txt``)
the same 20 versions also go to a smart-HTTP git + LFS server on 127.0.0.1, for the remote cases.

Timed (3 runs each, min and median, a fresh destination folder each run):

* local registry (read in place, no cache);
* local registry with a fresh, empty ``$XDG_CACHE_HOME`` each run (shows the cache is not used);
* HTTP registry, fresh cache each run (bare partial clone + LFS download), and warm cache;
* baselines: ``cp`` + hashlib sha256 (1 MiB blocks) of the same object file; the same plus an
  ``fsync`` of the copy (gitreg fsyncs before its rename); one-pass read+hash+write; for HTTP, an
  LFS batch request + GET of the object with hashing.

Bytes: what landed in the destination plus the growth of the gitreg cache dir (``du -sb``), as a
ratio to the artifact size.

    python benchmarks/bench_pull.py [--versions 20] [--size-mb 50] [--runs 3] [--no-http]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    IDENTITY,
    MB,
    copy_hashing,
    du_bytes,
    header,
    isolate,
    machine_note,
    make_big_onnx,
    measure,
    med,
    ratio_line,
    row,
    sha256_file,
    tree_bytes,
)

ROOT = isolate("pull")
os.environ.update(IDENTITY)  # explicit: author/committer fixed before gitreg is imported

from gitreg import Registry  # noqa: E402
from gitreg.store import lfs  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
NAME = "big"
TIME_TARGET = 1.5
BYTES_TARGET = 1.02


def cache_root() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "gitreg"


class Counter:
    """Fresh destination (and optionally fresh cache) per run, and the bytes each run wrote."""

    def __init__(self, tag: str, fresh_cache: bool) -> None:
        self.tag, self.fresh_cache, self.k = tag, fresh_cache, 0
        self.dest: Path = ROOT
        self.cache_before = 0
        self.written: list[tuple[int, int]] = []  # (dest bytes, cache growth)

    def before(self) -> None:
        self.k += 1
        self.dest = ROOT / "out" / f"{self.tag}-{self.k}"
        shutil.rmtree(self.dest, ignore_errors=True)
        if self.fresh_cache:
            os.environ["XDG_CACHE_HOME"] = str(ROOT / "caches" / f"{self.tag}-{self.k}")
        self.cache_before = du_bytes(cache_root())
        os.sync()

    def after(self) -> None:
        self.written.append((tree_bytes(self.dest), du_bytes(cache_root()) - self.cache_before))
        shutil.rmtree(self.dest, ignore_errors=True)


def timed_pull(url: str, ref: str, runs: int, tag: str, fresh_cache: bool) -> tuple[list[float], Counter]:
    c = Counter(tag, fresh_cache)
    times = []
    saved = os.environ["XDG_CACHE_HOME"]
    try:
        for _ in range(runs):
            c.before()
            t0 = time.perf_counter()
            res = Registry(url).pull(ref, c.dest)
            times.append(time.perf_counter() - t0)
            assert res.bytes > 0
            c.after()
    finally:
        os.environ["XDG_CACHE_HOME"] = saved
    return times, c


def print_bytes(label: str, c: Counter, size: int) -> None:
    dest, cache = c.written[-1]
    print(
        f"  {label}: destination {dest:,} B + cache growth {cache:,} B = {dest + cache:,} B for a {size:,} B artifact"
    )
    ratio_line("    (destination + cache growth) / artifact size", dest + cache, size, BYTES_TARGET)
    if cache:
        ratio_line("    cache growth alone (= what came over the transport) / size", cache, size)


def http_get_object(url: str, oid: str, size: int, dest: Path) -> str:
    """Baseline download: one LFS batch request, then GET the object, hashing while writing."""
    body = json.dumps(
        {"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]}
    ).encode()
    req = urllib.request.Request(
        lfs.lfs_endpoint(url) + "/objects/batch", data=body, method="POST",
        headers={"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as resp:
        action = json.load(resp)["objects"][0]["actions"]["download"]
    get = urllib.request.Request(action["href"], headers=action.get("header", {}))
    import hashlib

    h = hashlib.sha256()
    with urllib.request.urlopen(get, timeout=60) as resp, open(dest, "wb") as out:
        while block := resp.read(1 << 20):
            h.update(block)
            out.write(block)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--size-mb", type=float, default=50.0, help="artifact size in MB (10^6 bytes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-http", action="store_true", help="skip the HTTP (remote, fresh-cache) cases")
    ap.add_argument("--keep", action="store_true", help="keep the temp fixture")
    args = ap.parse_args()
    n_floats = int(args.size_mb * MB) // 4
    pick = (args.versions + 1) // 2
    ref = f"{NAME}@v1.{pick}.0"

    http_ok = not args.no_http
    if http_ok:
        try:
            import giftless  # noqa: F401
            import waitress  # noqa: F401
        except ImportError:
            http_ok = False
            print(
                "[HTTP cases skipped: giftless/waitress not installed "
                "(pip install -r tests/support/requirements-http.txt)]"
            )

    machine_note()
    header("fixture")
    local = ROOT / "registry.git"
    Registry(local).init()
    srcs = ROOT / "src"
    srcs.mkdir()
    t_gen = t_push = 0.0
    files = []
    for i in range(1, args.versions + 1):
        t0 = time.perf_counter()
        f = make_big_onnx(srcs / f"v{i}.onnx", n_floats, seed=i)
        t_gen += time.perf_counter() - t0
        t0 = time.perf_counter()
        Registry(local).push_files([f], NAME, version=f"1.{i}.0")
        t_push += time.perf_counter() - t0
        files.append(f)
    size = files[0].stat().st_size
    print(
        f"  local registry: {args.versions} versions of a {size:,} B ONNX artifact "
        f"(generate {t_gen:.1f} s, push_files {t_push:.1f} s total)"
    )

    mv = Registry(local).show(ref)
    art = mv.sidecar.artifacts["onnx"]  # type: ignore[union-attr]
    obj = lfs.object_path(local / "lfs", art.sha256)
    assert obj.is_file() and obj.stat().st_size == art.size
    print(f"  pulling {ref} (object {art.sha256[:12]}..., {art.size:,} B)")

    # -- baselines ------------------------------------------------------------------------------
    header(f"baselines ({args.runs} runs)")
    bdst = ROOT / "out" / "baseline.bin"
    bdst.parent.mkdir(parents=True, exist_ok=True)

    def cp_sha() -> None:
        subprocess.run(["cp", str(obj), str(bdst)], check=True)
        assert sha256_file(bdst) == art.sha256

    def cp_sha_fsync() -> None:
        cp_sha()
        fd = os.open(bdst, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def one_pass() -> None:
        assert copy_hashing(obj, bdst) == art.sha256

    def clean() -> None:
        bdst.unlink(missing_ok=True)
        os.sync()

    b_cp = measure(cp_sha, args.runs, clean)
    row("cp + sha256 (hashlib, 1 MiB blocks)", b_cp)
    b_fsync = measure(cp_sha_fsync, args.runs, clean)
    row("cp + sha256 + fsync", b_fsync)
    b_one = measure(one_pass, args.runs, clean)
    row("one pass: read + sha256 + write (no fsync)", b_one)
    clean()

    # -- gitreg, local ----------------------------------------------------------------------------
    header(f"gitreg Registry.pull, local file registry ({args.runs} runs)")
    t_local, c_local = timed_pull(str(local), ref, args.runs, "local", fresh_cache=False)
    row("Registry(path).pull(ref, dest)", t_local)
    t_fresh, c_fresh = timed_pull(str(local), ref, args.runs, "local-fresh", fresh_cache=True)
    row("Registry(path).pull(ref, dest), fresh XDG_CACHE_HOME", t_fresh)
    print_bytes("local", c_local, art.size)
    print_bytes("local, fresh cache", c_fresh, art.size)

    results = {"local": t_local, "local, fresh cache": t_fresh}

    # -- gitreg, HTTP ---------------------------------------------------------------------------
    if http_ok:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.support.servers import http_registry

        header("HTTP registry (smart-HTTP git + giftless LFS on 127.0.0.1)")
        with http_registry(ROOT / "http") as srv:
            _, url = srv.create_repo("org/registry.git")
            t0 = time.perf_counter()
            Registry(url).init()
            for i, f in enumerate(files, 1):
                Registry(url).push_files([f], NAME, version=f"1.{i}.0")
            print(f"  pushed {len(files)} versions over HTTP in {time.perf_counter() - t0:.1f} s")
            bh = ROOT / "out" / "http-baseline.bin"
            b_http = measure(
                lambda: http_get_object(url, art.sha256, art.size, bh), args.runs, lambda: bh.unlink(missing_ok=True)
            )
            row("baseline: LFS batch + GET + sha256 (urllib)", b_http)
            t_hfresh, c_hfresh = timed_pull(url, ref, args.runs, "http-fresh", fresh_cache=True)
            row("Registry(url).pull, fresh cache (clone + LFS download)", t_hfresh)
            # warm: one untimed pull fills the cache, then timed pulls reuse it
            os.environ["XDG_CACHE_HOME"] = str(ROOT / "caches" / "http-warm")
            Registry(url).pull(ref, ROOT / "out" / "warmup")
            t_hwarm, c_hwarm = timed_pull(url, ref, args.runs, "http-warm", fresh_cache=False)
            row("Registry(url).pull, warm cache (fetch + copy from cache)", t_hwarm)
            print_bytes("HTTP, fresh cache", c_hfresh, art.size)
            print_bytes("HTTP, warm cache", c_hwarm, art.size)
            results["HTTP, fresh cache"] = t_hfresh
            results["HTTP, warm cache"] = t_hwarm
            results["_http_baseline"] = b_http

    header("ratios (gitreg median / baseline median; lower is better)")
    for label, ts in results.items():
        if label.startswith("_"):
            continue
        if label.startswith("HTTP"):
            continue  # a local copy is no baseline for a download: see the HTTP ratios below
        ratio_line(f"pull [{label}] / (cp + sha256)", med(ts), med(b_cp), TIME_TARGET)
        ratio_line(f"pull [{label}] / (cp + sha256 + fsync)", med(ts), med(b_fsync))
        ratio_line(f"pull [{label}] / one-pass read+sha256+write", med(ts), med(b_one))
    if "_http_baseline" in results:
        for label in ("HTTP, fresh cache", "HTTP, warm cache"):
            ratio_line(
                f"pull [{label}] / (LFS batch + GET + sha256)", med(results[label]), med(results["_http_baseline"])
            )
    machine_note()
    return 0


if __name__ == "__main__":
    sys.exit(main())
