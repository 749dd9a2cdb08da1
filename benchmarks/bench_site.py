"""Static site build: time and size for 100 models x 100 versions, and the incremental rebuild.

Fixture: ``bench_list.build`` (one ``git fast-import`` stream: a sidecar and an LFS pointer per
version, an annotated tag each, two stage tags per model), refs then packed. Timed in process with
``gitreg.workflow.site.build``: a full build into an empty folder, a no-op rebuild (nothing
changed: only the index is written), one model changed (a new stage tag, as a promotion makes)
and a rebuild of that model, then a full build at a quarter and half the versions per model to
show how it grows. Also printed: the largest page, and ``gitreg site`` as a subprocess.

    python benchmarks/bench_site.py                          # 100 x 100 (~1 min with the fixture)
    python benchmarks/bench_site.py --models 20 --versions 20   # quick
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import IDENTITY, git, gitreg_argv, header, isolate, machine_note, run_checked

ROOT = isolate("site")
os.environ.update(IDENTITY)

import bench_list  # noqa: E402  (after isolate: it reads the environment)

from gitreg import Registry  # noqa: E402
from gitreg.workflow import site  # noqa: E402


def tree_size(path: Path) -> tuple[int, int, int]:
    """(bytes, files, largest file's bytes) under ``path``."""
    sizes = [p.stat().st_size for p in path.rglob("*") if p.is_file()]
    return sum(sizes), len(sizes), max(sizes, default=0)


def promote_one(path: Path, model: str, version: str, counter: int) -> None:
    """A new stage tag on one model, as ``gitreg promote`` writes it (annotated, GTO's message)."""
    commit = git("--git-dir", str(path), "rev-parse", f"refs/tags/{model}@v{version}^{{commit}}")
    when = int(time.time()) + 10
    env = {**os.environ, "GIT_COMMITTER_DATE": f"{when} +0000"}
    subprocess.run(
        ["git", "--git-dir", str(path), "tag", "-a", f"{model}#qa#{counter}", commit, "-m",
         f"Assigning stage qa to artifact {model} version v{version}"],
        check=True, env=env, capture_output=True,
    )  # fmt: skip


def run(models: int, versions: int, label: str, incremental: bool) -> None:
    path = ROOT / f"registry-{models}x{versions}.git"
    ntags, secs = bench_list.build(path, models, versions)
    # Packed, as clone, fetch, gc and gitreg's own cache sync leave them: with 10k loose tags each
    # model's for-each-ref costs ~18 ms of git CPU instead of ~3 ms (the build ~3x slower).
    git("--git-dir", str(path), "pack-refs", "--all")
    header(f"{label}: {models} models x {versions} versions ({ntags} tags; fixture {secs:.1f} s)")
    reg = Registry(path)
    out = ROOT / f"site-{models}x{versions}"
    t0 = time.perf_counter()
    report = site.build(reg, out)
    full = time.perf_counter() - t0
    size, files, largest = tree_size(out)
    print(f"  full build            {full:8.2f} s   {report.pages} pages, {size / 1e6:.1f} MB in {files} files")
    per = full / max(report.versions, 1) * 1000
    print(f"  per version page      {per:8.2f} ms   largest page {largest / 1e3:.0f} kB")
    if not incremental:
        return
    t0 = time.perf_counter()
    noop = site.build(reg, out)
    print(f"  rebuild, no change    {time.perf_counter() - t0:8.2f} s   rebuilt {len(noop.rebuilt)} model(s)")
    promote_one(path, "m07", f"1.{max(versions // 2, 1)}.0", 3)
    t0 = time.perf_counter()
    one = site.build(reg, out)
    inc = time.perf_counter() - t0
    print(f"  rebuild, one changed  {inc:8.2f} s   rebuilt {one.rebuilt}, {one.pages} pages ({full / inc:.0f}x faster)")
    assert one.rebuilt == ("m07",), one.rebuilt
    t0 = time.perf_counter()
    run_checked([*gitreg_argv(), "site", "-o", str(out), "--registry", str(path)])
    print(f"  gitreg site (CLI, no change)  {time.perf_counter() - t0:.2f} s wall")
    shutil.rmtree(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--versions", type=int, default=100)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    machine_note()
    print(f"[root {ROOT}]")
    for frac in (4, 2):
        v = max(args.versions // frac, 1)
        run(args.models, v, f"growth 1/{frac}", incremental=False)
    run(args.models, args.versions, "target", incremental=True)


if __name__ == "__main__":
    main()
