"""Push speed: ``Registry.push_files`` of a 200 MB ONNX artifact vs hashing + copying it.

Fixture: a local bare registry (``Registry(path).init()``), whose cache clone is created by one
untimed warm-up push of a tiny model, and one 200 MB valid ONNX file per timed run (a float32
initializer of 50M values, a different seed each, so every push stores a new LFS object).

Timed (3 runs each, min and median, the same files for every contender):

* gitreg: ``Registry(path).push_files([file], "big")`` (validate ONNX from a skeleton of the file,
  copy it into the registry's LFS store while hashing the copy, commit + annotated tag with plumbing,
  then, the registry being on this machine, its new objects linked in and refs moved in one
  ``update-ref --stdin`` transaction);
* context: the same with ``gitreg.directWrites = false`` in the registry's git config, which makes
  gitreg go through ``git push --atomic`` and the registry's pre-receive hook (how every remote
  registry is written);
* baseline 1: hashlib sha256 of the file (1 MiB blocks), then ``cp`` of it (target: gitreg <= 1.3x);
  also the one-pass floor (read once, hash and write each block);
* baseline 2: the git-lfs work-tree way, in a clone with ``git lfs install --local`` and
  ``git lfs track "*.onnx"``: ``git add`` + ``git commit`` + ``git tag -a`` + ``git push --atomic``
  (git-lfs's pre-push hook uploads the object). Copying the file into the work tree is not timed.

Then the small-model case, where the interpreter's start-up and imports are the cost: the CLI
``gitreg push small.onnx --name small --registry PATH`` of a 4 KB pre-exported ONNX file (a new
file each run; median of ``--small-runs``, default 7; target <= 0.5 s), next to ``python -c pass``,
``python -c "import gitreg.cli"`` and ``python -c "import onnx"`` measured in the same run, with
the ratios, the import breakdown of one more push (``python -X importtime``) and which heavy
modules it loaded: numpy and onnxruntime, which the push's parity self-check of the file needs
(~0.13 s of imports; gitreg/ml/filecheck.py), and none of onnx's package init, ml_dtypes, torch or
scikit-learn (see gitreg/ml/onnxcore.py). The 200 MB case times ``Registry.push_files``, the write
primitive, which runs no model: ``gitreg push``/``gitreg.push`` add the self-check on top.

    python benchmarks/bench_push.py [--size-mb 200] [--runs 3] [--profile] [--small-runs 7] [--small-only]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import (  # isolation (isolate() below) must happen before gitreg is imported
    IDENTITY,
    MB,
    copy_hashing,
    git,
    gitreg_argv,
    header,
    isolate,
    machine_note,
    make_big_onnx,
    measure_cmd,
    med,
    ratio_line,
    row,
    run_checked,
    sha256_file,
)

ROOT = isolate("push")
os.environ.update(IDENTITY)  # explicit: author/committer fixed before gitreg is imported

from gitreg import Registry  # noqa: E402

NAME = "big"
TARGET = 1.3
SMALL_TARGET = 0.5  # seconds, median wall of `gitreg push small.onnx --name small`
HEAVY = ("onnx", "onnx.helper", "ml_dtypes", "torch", "sklearn")  # what a push should not load
EXPECTED = ("numpy", "onnxruntime")  # what it does load: the parity self-check runs the file under onnxruntime
# One push in a fresh interpreter, through the CLI's own entry point, then what it had imported.
PUSH_AND_LIST = """
import json, sys
from gitreg.cli import main
try:
    main(sys.argv[2:])
except SystemExit as e:
    if e.code:
        raise
print(json.dumps([m for m in json.loads(sys.argv[1]) if m in sys.modules]))
"""
# The time the push spends loading onnx's checker and ModelProto (invisible to -X importtime:
# gitreg.ml.onnxcore loads them without the import statement).
ONNXCORE_LOAD = """
import time
t0 = time.perf_counter()
try:
    from gitreg.ml import onnxcore
except ImportError:  # a gitreg from before onnxcore (PYTHONPATH=<an older export>)
    print("nan")
else:
    onnxcore.model_class()
    print(time.perf_counter() - t0)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=200.0, help="artifact size in MB (10^6 bytes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one extra push_files and print the top")
    ap.add_argument("--keep", action="store_true", help="keep the temp fixture")
    ap.add_argument("--small-runs", type=int, default=7, help="runs of the small-model CLI push (>= 5)")
    ap.add_argument("--small-only", action="store_true", help="only the small-model CLI push")
    args = ap.parse_args()
    n_floats = int(args.size_mb * MB) // 4

    machine_note()
    header("fixture")
    reg = ROOT / "registry.git"
    Registry(reg).init()
    warm = make_big_onnx(ROOT / "warm.onnx", 1000, seed=0)
    t0 = time.perf_counter()
    Registry(reg).push_files([warm], "warmup")
    print(f"  warm-up push (creates the cache clone): {time.perf_counter() - t0:.2f} s")
    small_push(reg, max(args.small_runs, 5))
    if args.small_only:
        machine_note()
        return 0
    src = ROOT / "src"
    src.mkdir()
    t0 = time.perf_counter()
    n_files = args.runs + (1 if args.profile else 0)
    files = [make_big_onnx(src / f"run{k}.onnx", n_floats, seed=100 + k) for k in range(n_files)]
    size = files[0].stat().st_size
    print(f"  {n_files} ONNX files of {size:,} B generated in {time.perf_counter() - t0:.1f} s")
    out = ROOT / "out"
    out.mkdir()

    def settle(warm: Path | None = None) -> None:
        common.settle(ROOT, warm)  # flush earlier writes, evict the fixture's page cache but warm's

    # -- gitreg ---------------------------------------------------------------------------------
    header(f"gitreg Registry.push_files ({args.runs} runs, a new {size // MB} MB object each)")
    t_gitreg = []
    for k in range(args.runs):
        settle(files[k])
        t0 = time.perf_counter()
        mv = Registry(reg).push_files([files[k]], NAME)
        t_gitreg.append(time.perf_counter() - t0)
        print(f"    run {k + 1}: {mv.ref} in {t_gitreg[-1]:.3f} s")
    row("Registry(path).push_files([file], 'big')", t_gitreg)

    # -- context: the same registry addressed by URL, so the write goes through `git push` ------------
    header(f"context: push_files with gitreg.directWrites = false: git push + the hook ({args.runs} runs)")
    git("--git-dir", str(reg), "config", "gitreg.directWrites", "false")
    t_push = []
    for k in range(args.runs):
        settle(files[k])
        t0 = time.perf_counter()
        Registry(reg).push_files([files[k]], f"{NAME}-push")
        t_push.append(time.perf_counter() - t0)
    git("--git-dir", str(reg), "config", "--unset", "gitreg.directWrites")
    row("push_files through git push --atomic + pre-receive hook", t_push)
    saved = med(t_push) - med(t_gitreg)
    print(f"  so writing refs directly (update-ref transaction, no receive-pack/hook) saves ~{saved:.3f} s a push")

    # -- baseline 1 -------------------------------------------------------------------------------
    header(f"baseline 1: sha256 + copy ({args.runs} runs)")
    t_sha_cp, t_one = [], []
    dst = out / "copy.bin"
    for k in range(args.runs):
        dst.unlink(missing_ok=True)
        settle(files[k])
        t0 = time.perf_counter()
        sha256_file(files[k])
        subprocess.run(["cp", str(files[k]), str(dst)], check=True)
        t_sha_cp.append(time.perf_counter() - t0)
    for k in range(args.runs):
        dst.unlink(missing_ok=True)
        settle(files[k])
        t0 = time.perf_counter()
        copy_hashing(files[k], dst)
        t_one.append(time.perf_counter() - t0)
    dst.unlink(missing_ok=True)
    row("sha256 (hashlib, 1 MiB) then cp", t_sha_cp)
    row("one pass: read + sha256 + write", t_one)

    # -- baseline 2: work tree + git-lfs -------------------------------------------------------------
    header(f"baseline 2: work tree + git-lfs: add + commit + tag + push ({args.runs} runs)")
    wt = ROOT / "wt"
    git("clone", "--quiet", str(reg), str(wt))
    git("lfs", "install", "--local", cwd=wt)
    git("lfs", "track", "*.onnx", cwd=wt)
    git("add", ".gitattributes", cwd=wt)
    git("commit", "--quiet", "-m", "track onnx", cwd=wt)
    git("push", "--quiet", "origin", "main", cwd=wt)
    (wt / "models" / "bigwt").mkdir(parents=True, exist_ok=True)
    t_wt, t_wt_steps = [], []
    for k in range(args.runs):
        target = wt / "models" / "bigwt" / "model.onnx"
        shutil.copyfile(files[k], target)  # the exported file is in the work tree: untimed
        settle(target)
        tag = f"bigwt@v1.0.{k}"
        steps = []
        t0 = time.perf_counter()
        for argv in (
            ["add", "models/bigwt/model.onnx"],
            ["commit", "--quiet", "-m", f"Register bigwt v1.0.{k}"],
            ["tag", "-a", tag, "-m", f"Registering artifact bigwt version v1.0.{k}"],
            ["push", "--quiet", "--atomic", "origin", "main", f"refs/tags/{tag}"],
        ):
            s0 = time.perf_counter()
            git(*argv, cwd=wt)
            steps.append(time.perf_counter() - s0)
        t_wt.append(time.perf_counter() - t0)
        t_wt_steps.append(steps)
        print(
            f"    run {k + 1}: add {steps[0]:.3f} s, commit {steps[1]:.3f} s, tag {steps[2]:.3f} s, "
            f"push {steps[3]:.3f} s"
        )
    row("git add + commit + tag + push (git-lfs filters and pre-push)", t_wt)
    ptr = git("show", "HEAD:models/bigwt/model.onnx", cwd=wt)
    assert ptr.startswith("version https://git-lfs.github.com/spec/v1"), "work tree did not store a pointer"

    header("ratios (median / median)")
    ratio_line("gitreg push_files / (sha256 + cp)", med(t_gitreg), med(t_sha_cp), TARGET)
    ratio_line("gitreg push_files / one-pass read+sha256+write", med(t_gitreg), med(t_one))
    ratio_line("context: push_files via git push + hook / (sha256 + cp)", med(t_push), med(t_sha_cp))
    ratio_line("work-tree git-lfs / (sha256 + cp)", med(t_wt), med(t_sha_cp))
    ratio_line("work-tree git-lfs / gitreg push_files", med(t_wt), med(t_gitreg))
    print(
        f"  throughput: gitreg {size / med(t_gitreg) / MB:.0f} MB/s, sha256+cp {size / med(t_sha_cp) / MB:.0f} MB/s, "
        f"work tree {size / med(t_wt) / MB:.0f} MB/s"
    )

    if args.profile:
        header("cProfile of one more push_files (cumulative time, top 30)")
        prof = cProfile.Profile()
        settle(files[-1])
        prof.enable()
        Registry(reg).push_files([files[-1]], NAME)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
        print(buf.getvalue())
    machine_note()
    return 0


def small_push(reg: Path, runs: int) -> None:
    """``gitreg push small.onnx`` (CLI) next to the interpreter and import floors, same run."""
    src = ROOT / "small"
    src.mkdir()
    files = [make_big_onnx(src / f"small{k}.onnx", 1000, seed=1000 + k) for k in range(runs + 2)]
    cli = gitreg_argv()

    def push(f: Path) -> list[str]:
        return [*cli, "push", str(f), "--name", "small", "--registry", str(reg)]

    py = sys.executable
    run_checked(push(files[-1]))  # untimed: writes the bytecode cache of what a push loads
    for code in ("pass", "import gitreg.cli", "import onnx"):
        run_checked([py, "-c", code])  # the same for the floors
    header(f"small pre-exported ONNX ({files[0].stat().st_size:,} B): CLI push vs interpreter floors ({runs} runs)")
    floors = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import gitreg.cli'": [py, "-c", "import gitreg.cli"],
        "python -c 'import onnx'": [py, "-c", "import onnx"],
    }
    results: dict[str, tuple[list[float], list[float]]] = {}
    for label, argv in floors.items():
        results[label] = measure_cmd(argv, runs)
        row(label, results[label][0], cpu=results[label][1])
    walls, cpus = [], []
    for k in range(runs):
        w, c = measure_cmd(push(files[k]), 1)
        walls += w
        cpus += c
    row("gitreg push small.onnx --name small --registry PATH", walls, SMALL_TARGET, cpu=cpus)
    load = [float(run_checked([py, "-c", ONNXCORE_LOAD]).stdout) for _ in range(runs)]
    if load[0] == load[0]:  # not nan
        print(f"  of which gitreg.ml.onnxcore loads onnx's C++ checker + ModelProto: median {med(load) * 1000:.0f} ms")

    push_med = med(walls)
    ratio_line("push / python -c pass", push_med, med(results["python -c pass"][0]))
    ratio_line("push / python -c 'import gitreg.cli'", push_med, med(results["python -c 'import gitreg.cli'"][0]))
    ratio_line("python -c 'import onnx' / push", med(results["python -c 'import onnx'"][0]), push_med)

    header("what one more small push imports (python -X importtime, top-level imports by cumulative time)")
    argv = [py, "-X", "importtime", "-c", PUSH_AND_LIST, json.dumps(HEAVY + EXPECTED), *push(files[runs])[1:]]
    p = run_checked(argv)
    loaded = json.loads(p.stdout.decode().strip().splitlines()[-1])
    for name, us in top_imports(p.stderr.decode(), 10):
        print(f"  {us / 1000:8.1f} ms  {name}")
    heavy = [m for m in loaded if m in HEAVY]
    expected = ", ".join(m for m in loaded if m in EXPECTED) or "none"
    print(f"  heavy modules loaded by the push: {', '.join(heavy) or 'none'} (looked for {', '.join(HEAVY)})")
    print(f"  loaded for the parity self-check: {expected} (expected: {', '.join(EXPECTED)})")
    p = run_checked([py, "-X", "importtime", "-c", "import onnx"])
    print("  for comparison, python -c 'import onnx':")
    for name, us in top_imports(p.stderr.decode(), 1, ("ml_dtypes", "numpy")):
        print(f"  {us / 1000:8.1f} ms  {name}")


def top_imports(stderr: str, n: int, also: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """The ``n`` costliest top-level imports in ``-X importtime`` output, plus any module in ``also``."""
    top: list[tuple[str, int]] = []
    extra: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit():
            continue  # the header line
        if not name.startswith("  ") and name.strip():
            top.append((name.strip(), int(cumulative)))
        elif name.strip() in also:
            extra.setdefault(f"  (within) {name.strip()}", int(cumulative))
    return sorted(top, key=lambda t: -t[1])[:n] + list(extra.items())


if __name__ == "__main__":
    sys.exit(main())
