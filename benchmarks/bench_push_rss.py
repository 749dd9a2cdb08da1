"""Push memory: peak RSS of ``gitreg push`` of a 500 MB ONNX file, beyond the CLI's own baseline.

Target (issue 4): the push peaks at <= 1.5x the model's size above the baseline, i.e. no artifact
is ever held in memory whole (let alone twice, as ``onnx.load`` does).

Each figure is the ``ru_maxrss`` of ``RUSAGE_CHILDREN`` seen by a fresh wrapper process that runs
one command and waits for it. Linux folds every reaped descendant into that maximum, so it is the
largest RSS of the command *or any process it ran* (git, the registry's pre-receive hook). Peak
RSS counts resident memory, not the page cache the file passes through.

* baseline: ``python -c "import gitreg.cli"`` (the interpreter plus the CLI, what every command pays);
* gitreg: ``gitreg push FILE --name big --registry PATH`` (validation, store, commit, tag, push);
* context: ``import gitreg.cli, onnx`` (what a push loaded before it stopped importing ``onnx``;
  it now loads only onnx's C++ checker and ``ModelProto``: gitreg/ml/onnxcore.py) and ``onnx.load``
  of the file (what gitreg did before its streaming scan).

    python benchmarks/bench_push_rss.py [--size-mb 500] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # isolation (isolate() below) must happen before gitreg is imported
    IDENTITY,
    MB,
    gitreg_argv,
    header,
    isolate,
    machine_note,
    make_big_onnx,
    run_checked,
)

ROOT = isolate("pushrss")
os.environ.update(IDENTITY)

from gitreg import Registry  # noqa: E402

TARGET = 1.5
# Runs one command, waits, prints the largest RSS among it and its reaped descendants (KiB on Linux).
WRAPPER = """
import json, resource, subprocess, sys
p = subprocess.run(json.loads(sys.argv[1]), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if p.returncode:
    sys.stderr.write(p.stderr.decode(errors="replace")[-2000:])
    sys.exit(p.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mb(argv: Sequence[str]) -> float:
    """Peak RSS in MB (10^6 bytes) of ``argv`` and everything it ran."""
    out = run_checked([sys.executable, "-c", WRAPPER, json.dumps(list(argv))]).stdout
    return int(out.decode().strip()) * 1024 / MB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=500.0, help="artifact size in MB (10^6 bytes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temp fixture")
    args = ap.parse_args()

    machine_note()
    header("fixture")
    reg = ROOT / "registry.git"
    Registry(reg).init()
    t0 = time.perf_counter()
    big = make_big_onnx(ROOT / "big.onnx", int(args.size_mb * MB) // 4, seed=7)
    size = big.stat().st_size
    print(f"  ONNX file of {size:,} B generated in {time.perf_counter() - t0:.1f} s")
    warm = make_big_onnx(ROOT / "warm.onnx", 1000, seed=0)
    cli = gitreg_argv()
    run_checked([*cli, "push", str(warm), "--name", "warmup", "--registry", str(reg)])  # cache clone, bytecode

    header(f"peak RSS, {args.runs} runs each (MB = 10^6 bytes)")
    rows = {
        "baseline: python -c 'import gitreg.cli'": [sys.executable, "-c", "import gitreg.cli"],
        "context: 'import gitreg.cli, onnx' (old push)": [sys.executable, "-c", "import gitreg.cli, onnx"],
        "gitreg push FILE --name big": [*cli, "push", str(big), "--name", "big", "--registry", str(reg)],
        "context: onnx.load(FILE) (the old validation)": [
            sys.executable,
            "-c",
            f"import onnx; onnx.load({str(big)!r}, load_external_data=False)",
        ],
    }
    peaks: dict[str, float] = {}
    for label, argv in rows.items():
        got = [peak_rss_mb(argv) for _ in range(args.runs)]
        peaks[label] = max(got)
        print(f"  {label:<50} max {max(got):8.1f} MB  median {statistics.median(got):8.1f} MB  (n={len(got)})")

    header("beyond the baseline, as a multiple of the model's size")
    base = peaks["baseline: python -c 'import gitreg.cli'"]
    for label in list(rows)[1:]:
        extra = peaks[label] - base
        verdict = ""
        if label.startswith("gitreg push"):
            verdict = f"  target <= {TARGET:g}x: {'MET' if extra <= TARGET * size / MB else 'MISSED'}"
        print(f"  {label:<50} +{extra:8.1f} MB = {extra / (size / MB):5.2f}x{verdict}")
    machine_note()
    return 0


if __name__ == "__main__":
    sys.exit(main())
