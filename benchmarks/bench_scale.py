"""Reads at 10,000 and 100,000 versions: p50/p95 of list, show, history, pull, and a cache clone's fetch.

Fixture: ``bench_list.build`` (100 models x V versions through one ``git fast-import``, two stage
tags per model, refs packed as clone/fetch/gc leave them); model ``m42``'s LFS objects are real, so
``pull`` works. Every gitreg figure is a subprocess wall time of the CLI (start-up and imports
included), taken ``--runs`` times: p50 (median) and p95 (nearest rank), CPU (user+sys) median next to
it, the load average printed before each block — the machine may be shared. Baselines: the one
``git for-each-ref`` that ``list`` asked for (tagger dates: every tag object opened) and the listing of
names and ids alone. ``list`` is also timed right after one new tag (the incremental path).

Fetch: the registry served by ``git daemon`` on 127.0.0.1 (``file://`` is read in place, like a
path) and read through gitreg's cache clone: the first read (clone), a read with nothing new (the
sync every read of a remote registry makes) and one after a new tag, next to ``git ls-remote`` and a
plain no-op ``git fetch`` of the same refspecs (and of ``main`` alone).

    python benchmarks/bench_scale.py                          # 10k and 100k (~4 min)
    python benchmarks/bench_scale.py --sizes 10000 --runs 5   # 10k only (~40 s)
    python benchmarks/bench_scale.py --gitreg-path /tmp/old   # CLI from another tree (before/after)
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import IDENTITY, git, gitreg_argv, header, isolate, machine_note, measure_cmd, run_checked

ROOT = isolate("scale")
os.environ.update(IDENTITY)

import bench_list  # noqa: E402  (after isolate: it reads the environment)

MODEL = "m42"
TARGETS = {  # seconds, p50, on the machine the issue names
    (10_000, "list"): 0.2,
    (10_000, "history"): 0.2,
    (10_000, "show"): 0.15,
    (100_000, "list"): 0.5,
}
LEAN = "%(refname:lstrip=2)%00%(objecttype)%00%(objectname)%00%(*objectname)%00%(*objecttype)%00%(taggerdate:raw)"


def p95(ts: Sequence[float]) -> float:
    s = sorted(ts)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def p50(ts: Sequence[float]) -> float:
    s = sorted(ts)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Results:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, str], tuple[float, float, float]] = {}

    def add(self, size: int, label: str, walls: Sequence[float], cpus: Sequence[float] | None = None) -> None:
        cpu = p50(cpus) if cpus else float("nan")
        self.rows[(size, label)] = (p50(walls), p95(walls), cpu)
        target = TARGETS.get((size, label.split()[0]))
        verdict = ""
        if target is not None and label.split()[0] in ("list", "show", "history") and len(label.split()) == 1:
            verdict = f"  target p50 <= {target:g} s: {'MET' if p50(walls) <= target else 'MISSED'}"
        cpu_s = f"  cpu p50 {cpu:6.3f} s" if cpus else ""
        print(f"  {label:<34} p50 {p50(walls):7.3f} s  p95 {p95(walls):7.3f} s  (n={len(walls)}){cpu_s}{verdict}")


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[list[float], list[float]]:
    run_checked(argv, env=env)  # warm-up, untimed
    return measure_cmd(argv, runs, env=env)


def gitreg_block(res: Results, size: int, path: Path, cli: list[str], runs: int, env: dict[str, str]) -> None:
    reg = str(path)
    header(f"gitreg CLI at {size:,} versions, local registry (load {load()})")
    cases = {
        "list": [*cli, "list", "--registry", reg, "--json"],
        "show": [*cli, "show", MODEL, "--registry", reg],
        "history": [*cli, "history", MODEL, "--registry", reg, "--json"],
    }
    for label, argv in cases.items():
        res.add(size, label, *timed(argv, runs, env))
    out = ROOT / "pulled"
    walls, cpus = [], []
    import resource

    for i in range(runs + 1):
        dest = out / str(i)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run_checked([*cli, "pull", MODEL, "--registry", reg, "-o", str(dest)], env=env)
        if i:  # the first is the warm-up
            walls.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    shutil.rmtree(out, ignore_errors=True)
    res.add(size, "pull", walls, cpus)

    # One new tag before each timed list: the refs changed, so only that model is folded again.
    head = git("--git-dir", reg, "rev-parse", f"refs/tags/{MODEL}@v1.1.0^{{commit}}")
    walls, cpus = [], []
    for i in range(runs):
        git("--git-dir", reg, "tag", "-a", "-m", "bench", f"{MODEL}#bench{i}#{9000 + i}", head)
        w, c = measure_cmd(cases["list"], 1, env=env)
        walls += w
        cpus += c
    for i in range(runs):
        git("--git-dir", reg, "tag", "-d", f"{MODEL}#bench{i}#{9000 + i}")
    res.add(size, "list after one new tag", walls, cpus)


def floors(res: Results, size: int, path: Path, runs: int, env: dict[str, str]) -> None:
    header(f"floors at {size:,} versions (load {load()})")
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import gitreg.cli, gitreg.registry": [sys.executable, "-c", "import gitreg.cli, gitreg.registry"],
        "for-each-ref, tagger dates": ["git", "--git-dir", str(path), "for-each-ref", f"--format={LEAN}", "refs/tags"],
        "for-each-ref, names and ids": [
            "git", "--git-dir", str(path), "for-each-ref", "--format=%(objectname) %(refname:lstrip=2)", "refs/tags",
        ],
    }  # fmt: skip
    for label, argv in cases.items():
        res.add(size, label, *timed(argv, runs, env))


class GitDaemon:
    """``git daemon`` on 127.0.0.1 serving ROOT read-only: a registry URL that is not a local path,
    so gitreg reads it through its cache clone (``file://`` is read in place, like a path)."""

    def __enter__(self) -> GitDaemon:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        argv = ["git", "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1", f"--port={self.port}"]
        self.proc = subprocess.Popen([*argv, f"--base-path={ROOT}", str(ROOT)], stderr=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("git daemon did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()


def fetch_block(res: Results, size: int, path: Path, cli: list[str], runs: int, env: dict[str, str]) -> None:
    header(f"cache clone of a git:// registry at {size:,} versions, git daemon on 127.0.0.1 (load {load()})")
    with GitDaemon() as daemon:
        url = f"git://127.0.0.1:{daemon.port}/{path.name}"
        walls = []
        for i in range(max(1, runs // 2)):  # each from an empty cache: the clone
            cache = ROOT / f"cache-{size}-{i}"
            e = {**env, "XDG_CACHE_HOME": str(cache)}
            t0 = time.perf_counter()
            run_checked([*cli, "list", "--registry", url, "--json"], env=e)
            walls.append(time.perf_counter() - t0)
            if i:
                shutil.rmtree(cache, ignore_errors=True)
        res.add(size, "first read (clone + list)", walls)
        e = {**env, "XDG_CACHE_HOME": str(ROOT / f"cache-{size}-0")}
        res.add(size, "read, nothing new (sync + list)", *timed([*cli, "list", "--registry", url, "--json"], runs, e))
        res.add(size, "read, nothing new (sync + show)", *timed([*cli, "show", MODEL, "--registry", url], runs, e))
        head = git("--git-dir", str(path), "rev-parse", f"refs/tags/{MODEL}@v1.1.0^{{commit}}")
        walls, cpus = [], []
        for i in range(runs):
            git("--git-dir", str(path), "tag", "-a", "-m", "bench", f"{MODEL}#fetch{i}#{8000 + i}", head)
            w, c = measure_cmd([*cli, "list", "--registry", url, "--json"], 1, env=e)
            walls += w
            cpus += c
        res.add(size, "read after one new tag (fetch + list)", walls, cpus)
        clone = next((ROOT / f"cache-{size}-0" / "gitreg").glob("*.git"))
        res.add(size, "git ls-remote (refs advertised)", *timed(["git", "ls-remote", url], runs, env))
        fetch = ["git", "--git-dir", str(clone), "fetch", "--quiet", "--prune", "--no-write-fetch-head", "origin"]
        spec = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", "+refs/gitreg/*:refs/gitreg/*"]
        res.add(size, "git fetch, nothing new (gitreg's refspecs)", *timed([*fetch, *spec], runs, env))
        res.add(size, "git fetch main only (v2 ref prefix)", *timed([*fetch, spec[0]], runs, env))
    shutil.rmtree(ROOT / f"cache-{size}-0", ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="versions, comma-separated (100 models each)")
    ap.add_argument("--runs", type=int, default=7, help="timed runs of each command (p50, p95)")
    ap.add_argument("--gitreg-path", help="prepend this folder to PYTHONPATH of the CLI (another gitreg tree)")
    ap.add_argument("--no-fetch", action="store_true", help="skip the cache clone block")
    ap.add_argument("--keep", action="store_true", help="keep the temp fixtures")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(s % 100 or s < 100 for s in sizes):
        ap.error("--sizes: multiples of 100 (100 models x V versions)")
    env = dict(os.environ)
    if args.gitreg_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.gitreg_path, env.get("PYTHONPATH")]))
    cli = gitreg_argv()
    where = run_checked([sys.executable, "-c", "import gitreg; print(gitreg.__file__)"], env=env).stdout.decode()
    print(f"[gitreg from {where.strip()}]")
    machine_note()
    res = Results()
    for size in sizes:
        path = ROOT / f"registry-{size}.git"
        header(f"fixture: {size:,} versions")
        ntags, secs = bench_list.build(path, 100, size // 100, real=MODEL)
        git("--git-dir", str(path), "pack-refs", "--all")
        print(f"  100 models x {size // 100} versions, {ntags} tags, built in {secs:.1f} s, refs packed")
        bench_list.check_fixture(path, 100, size // 100)
        floors(res, size, path, args.runs, env)
        gitreg_block(res, size, path, cli, args.runs, env)
        if not args.no_fetch:
            fetch_block(res, size, path, cli, args.runs, env)
        if size != sizes[-1]:
            shutil.rmtree(path, ignore_errors=True)

    header("summary: p50 (p95) in seconds; ratio = gitreg p50 / for-each-ref-with-tagger-dates p50")
    labels = sorted({label for _, label in res.rows}, key=list(dict.fromkeys(label for _, label in res.rows)).index)
    print(f"  {'':<40}" + "".join(f"{s:>24,}" for s in sizes))
    for label in labels:
        cells = []
        for s in sizes:
            r = res.rows.get((s, label))
            base = res.rows.get((s, "for-each-ref, tagger dates"))
            ratio = (
                f" {r[0] / base[0]:4.1f}x"
                if r and base and label.split()[0] in ("list", "show", "history", "pull")
                else ""
            )
            cells.append(f"{r[0]:.3f} ({r[1]:.3f}){ratio}" if r else "-")
        print(f"  {label:<40}" + "".join(f"{c:>24}" for c in cells))
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        print(f"\n  growth {a:,} -> {b:,} ({b / a:g}x the tags):")
        for label in ("list", "show", "history", "pull", "for-each-ref, tagger dates"):
            if (a, label) in res.rows and (b, label) in res.rows:
                print(f"    {label:<38} {res.rows[(b, label)][0] / res.rows[(a, label)][0]:6.1f}x")
    machine_note()
    return 0


if __name__ == "__main__":
    sys.exit(main())
