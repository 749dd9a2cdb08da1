"""Issue 4's figures: export + parity + push of the digits MLP, and ``gitreg.load(...).predict`` speed.

1. ``gitreg.push(mlp, ...)`` (TorchScript trace + dynamo ONNX export + parity on 1,797 rows +
   push to a local registry), timed in fresh processes after ``import torch``: the first push of
   a process is "cold" (it pays onnxscript's import and the exporter's first-call setup), the
   second is "warm". Target: cold <= 3 s beyond ``import torch``.
2. ``gitreg.load(ref).predict(X)`` on all 1,797 digits in one batch against the tutorial loop:
   eager torch over ``DataLoader(TensorDataset(X), batch_size=32)`` in ``eval()`` + ``no_grad()``.
   Each runtime runs in its own process (onnxruntime's and torch's thread pools interfere).
   Target: >= 10x faster (median against median).

Usage: ``python benchmarks/bench_export.py [--runs N] [--reps N] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

CHILD_PUSH = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t_import = time.perf_counter() - t0
sys.path.insert(0, sys.argv[2])
from tests.support import models
mlp = models.mlp(steps=30)
x, y = models.digits()
import gitreg
reg = gitreg.Registry(sys.argv[1])
times = []
for _ in range(2):
    t = time.perf_counter()
    gitreg.push(mlp, "mlp", example_inputs=x[:2], eval_data=(x, y), metrics={"acc": 0.9}, registry=reg)
    times.append(time.perf_counter() - t)
print(json.dumps({"import_torch": t_import, "cold": times[0], "warm": times[1]}))
"""

CHILD_ORT = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
from tests.support import models
import gitreg
x, _ = models.digits()
model = gitreg.load(sys.argv[2], registry=sys.argv[1])
reps = int(sys.argv[4])
for _ in range(20):
    model.predict(x)
ts = []
for _ in range(reps):
    t = time.perf_counter(); model.predict(x); ts.append(time.perf_counter() - t)
print(json.dumps(ts))
"""

CHILD_TORCH = r"""
import json, sys, time
import torch
from torch.utils.data import DataLoader, TensorDataset
sys.path.insert(0, sys.argv[1])
from tests.support import models
x, _ = models.digits()
mlp = models.mlp(steps=30)
loader = DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=32)
def loop():
    mlp.eval()
    preds = []
    with torch.no_grad():
        for (batch,) in loader:
            preds.append(mlp(batch).argmax(1))
    return torch.cat(preds)
reps = int(sys.argv[2])
for _ in range(20):
    loop()
ts = []
for _ in range(reps):
    t = time.perf_counter(); loop(); ts.append(time.perf_counter() - t)
print(json.dumps(ts))
"""


def child(code: str, *args: str) -> object:
    p = common.run_checked([sys.executable, "-c", code, *args])
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="fresh processes for the push timing")
    ap.add_argument("--reps", type=int, default=200, help="timed predictions per runtime")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = common.isolate("export", keep=args.keep)
    repo = str(Path(__file__).resolve().parents[1])
    common.machine_note()

    common.header("export + parity + push of the digits MLP (fresh process each run)")
    runs = []
    for i in range(args.runs):
        reg = root / f"reg{i}.git"
        common.run_checked([*common.gitreg_argv(), "init", "--registry", str(reg)])
        runs.append(child(CHILD_PUSH, str(reg), repo))
    common.row("import torch", [r["import_torch"] for r in runs])
    common.row("gitreg.push(mlp) cold (first in the process)", [r["cold"] for r in runs], target=3.0)
    common.row("gitreg.push(mlp) warm (second in the process)", [r["warm"] for r in runs])

    common.header(f"predict on all 1,797 digits: gitreg.load().predict vs DataLoader loop ({args.reps} reps)")
    reg = root / "reg0.git"
    ort = child(CHILD_ORT, str(reg), "mlp", repo, str(args.reps))
    loop = child(CHILD_TORCH, repo, str(args.reps))
    for label, ts in (
        ("gitreg.load(ref).predict(X), one batch (onnxruntime)", ort),
        ("eager torch, DataLoader batch 32, eval + no_grad", loop),
    ):
        print(f"  {label:<58} min {min(ts) * 1e3:8.3f} ms  median {common.med(ts) * 1e3:8.3f} ms  (n={len(ts)})")
    r_med = common.med(loop) / common.med(ort)
    r_min = min(loop) / min(ort)
    verdict = "MET" if r_med >= 10 else "MISSED"
    print(f"  {'speed-up (median / min)':<58} {r_med:10.1f}x / {r_min:.1f}x  target >= 10x: {verdict}")
    common.machine_note()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"[total {time.perf_counter() - t0:.1f} s]")
