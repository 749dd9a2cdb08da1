"""Issue 5's evaluation figure: ``gitreg eval`` of the digits MLP on 100,000 rows x 64 features.

Fixture: the digits MLP of ``tests/support/models.py`` pushed to a local registry (its weights also
saved with ``torch.save`` for the baseline), and 100,000 rows drawn with replacement from
scikit-learn's 1,797 digits (scaled to [0, 1]) plus Gaussian jitter (sigma 0.05, clipped), with
their labels, as one ``.npz``.

Timed, each side in its own fresh process (onnxruntime's and torch's thread pools interfere):

1. ``gitreg.api.evaluate(ref, "big.npz")`` in-process, warm (after one untimed call): reads the
   .npz, loads the ONNX artifact from the registry into onnxruntime, runs it in batches of 65,536
   rows and computes every metric (accuracy, P/R/F1, confusion matrix, log loss, ROC AUC per class).
   Also its inference share (``Evaluation.seconds``), and ``gitreg eval REF --data big.npz --json``
   as a subprocess (cold: includes Python start and ``import onnxruntime``).
2. Baseline: the tutorial loop, eager torch over ``DataLoader(TensorDataset(X), batch_size=32)``
   in ``eval()`` + ``no_grad()``, collecting argmax predictions (no metrics at all). Its accuracy
   must equal gitreg's: same weights, same predictions.

Target: gitreg's evaluation >= 10x the baseline's rows/s (median against median). The verdict is
printed three ways: the whole ``api.evaluate`` (data, model, inference and every metric; the
baseline computes no metric), its inference alone (the baseline's work), and the cold CLI.

Usage: ``python benchmarks/bench_eval.py [--rows N] [--runs N] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

CHILD_FIXTURE = r"""
import sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
from tests.support import models
import gitreg
reg, out, rows = gitreg.Registry(sys.argv[2]), sys.argv[3], int(sys.argv[4])
x, y = models.digits()
mlp = models.mlp()
torch.save(mlp.state_dict(), out + "/mlp.pt")
gitreg.push(mlp, "digits", version="1.0.0", example_inputs=x[:2], eval_data=(x, y), registry=reg)
rng = np.random.default_rng(0)
pick = rng.integers(0, len(x), rows)
big = np.clip(x[pick] + rng.normal(0.0, 0.05, (rows, x.shape[1])), 0.0, 1.0).astype(np.float32)
np.savez(out + "/big.npz", X=big, y=y[pick])
"""

CHILD_GITREG = r"""
import json, sys, time
from gitreg import api
reg, data, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
api.evaluate("digits@v1.0.0", data, registry=reg)
walls, infer = [], []
for _ in range(runs):
    t = time.perf_counter()
    _, ev = api.evaluate("digits@v1.0.0", data, registry=reg)
    walls.append(time.perf_counter() - t)
    infer.append(ev.seconds)
print(json.dumps({"wall": walls, "inference": infer, "rows": ev.samples, "accuracy": ev.metrics["accuracy"]}))
"""

CHILD_TORCH = r"""
import json, sys, time
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
out, runs = sys.argv[1], int(sys.argv[2])
mlp = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
mlp.load_state_dict(torch.load(out + "/mlp.pt"))
with np.load(out + "/big.npz") as z:
    x, y = z["X"], z["y"]
loader = DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=32)
def loop():
    mlp.eval()
    preds = []
    with torch.no_grad():
        for (batch,) in loader:
            preds.append(mlp(batch).argmax(1))
    return torch.cat(preds).numpy()
loop()
ts = []
for _ in range(runs):
    t = time.perf_counter(); pred = loop(); ts.append(time.perf_counter() - t)
print(json.dumps({"wall": ts, "accuracy": float((pred == y).mean())}))
"""


def child(code: str, *args: str) -> dict:
    p = common.run_checked([sys.executable, "-c", code, *args])
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def rate_row(label: str, rows: int, ts: list[float]) -> None:
    rates = [rows / t for t in ts]
    print(
        f"  {label:<58} median {common.med(ts):8.3f} s  {rows / common.med(ts):>12,.0f} rows/s"
        f"  (best {max(rates):,.0f}, n={len(ts)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows of evaluation data")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per contender")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = common.isolate("eval", keep=args.keep)
    repo = str(Path(__file__).resolve().parents[1])
    reg = root / "registry.git"
    common.machine_note()

    t0 = time.perf_counter()
    common.run_checked([*common.gitreg_argv(), "init", "--registry", str(reg)])
    common.run_checked([sys.executable, "-c", CHILD_FIXTURE, repo, str(reg), str(root), str(args.rows)])
    data = root / "big.npz"
    print(f"[fixture: digits MLP pushed, {args.rows:,} x 64 rows in {data.name}, {time.perf_counter() - t0:.1f} s]")

    common.header(f"evaluation of the digits MLP on {args.rows:,} rows (fresh process per contender)")
    ours = child(CHILD_GITREG, str(reg), str(data), str(args.runs))
    base = child(CHILD_TORCH, str(root), str(args.runs))
    cli, _ = common.measure_cmd(
        [*common.gitreg_argv(), "eval", "digits@v1.0.0", "--data", str(data), "--json", "--registry", str(reg)], 3
    )
    rows = ours["rows"]
    rate_row("gitreg api.evaluate (load data + model, ORT, all metrics)", rows, ours["wall"])
    rate_row("  of which onnxruntime inference", rows, ours["inference"])
    rate_row("gitreg eval --json, subprocess (+ start, import ORT)", rows, cli)
    rate_row("baseline: eager torch, DataLoader batch 32, argmax only", rows, base["wall"])
    print(f"  accuracy: gitreg {ours['accuracy']:.6f}, baseline {base['accuracy']:.6f}", end="")
    print("  (same)" if abs(ours["accuracy"] - base["accuracy"]) < 1e-9 else "  (DIFFERENT: check the fixture)")
    for label, ts in (
        ("speed-up, whole api.evaluate (median)", ours["wall"]),
        ("speed-up, the same work: predictions (median)", ours["inference"]),
        ("speed-up, the CLI, cold (median)", cli),
    ):
        speedup = common.med(base["wall"]) / common.med(ts)
        verdict = "MET" if speedup >= 10 else "MISSED"
        print(f"  {label:<58} {speedup:10.1f}x  target >= 10x: {verdict}")
    common.machine_note()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"[total {time.perf_counter() - t0:.1f} s]")
