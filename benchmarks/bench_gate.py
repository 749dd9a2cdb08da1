"""Issue 5's gate figure: ``gitreg gate REF --stage production`` end to end, as CI runs it.

Fixture: a local registry holding two digits MLPs (``digits@v1.0.0``, 30 hidden units, and
``digits@v1.1.0``, 48, both trained on the first 1,200 of scikit-learn's 1,797 digits), the other
597 rows stored in the registry as a dataset (``gitreg dataset push holdout.npz --name
digits-holdout``), a ``gitreg.toml`` gate edited in through a clone as a person would::

    [gates.production]
    data = "datasets/digits-holdout.npz"
    rules = ["parity.passed", "eval.accuracy >= 0.9", "eval.f1_weighted >= current.eval.f1_weighted - 0.01"]

and ``digits@v1.0.0`` promoted to production. So the gate evaluates both the candidate and the
current holder under onnxruntime on the registry's dataset.

Timed (subprocesses, warm: one untimed run first fetches the dataset into the cache and writes
bytecode): ``gitreg gate digits@v1.1.0 --stage production --registry PATH``; floors measured in
the same run: ``python -c pass``, ``python -c "import onnxruntime"``, ``python -c "import gitreg.cli"``.
Target: gate wall time <= 2 s beyond ``import onnxruntime`` (median against median).

``--profile`` adds ``python -X importtime`` (the slowest imports) and cProfile (top functions by
cumulative time) of one more gate run.

Usage: ``python benchmarks/bench_gate.py [--runs N] [--profile] [--keep]``.
"""

from __future__ import annotations

import argparse
import pstats
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

GATE = """
[gates.production]
data = "datasets/digits-holdout.npz"
rules = ["parity.passed", "eval.accuracy >= 0.9", "eval.f1_weighted >= current.eval.f1_weighted - 0.01"]
"""

CHILD_FIXTURE = r"""
import sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
from tests.support import models
import gitreg
reg, out = gitreg.Registry(sys.argv[2]), sys.argv[3]
x, y = models.digits()
train, hold = slice(0, 1200), slice(1200, None)
np.savez(out + "/holdout.npz", X=x[hold], y=y[hold])
for version, hidden in (("1.0.0", 30), ("1.1.0", 48)):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(xt), yt).backward()
        opt.step()
    gitreg.push(m, "digits", version=version, example_inputs=x[:2], eval_data=(x[hold], y[hold]), registry=reg)
"""


def build(root: Path) -> Path:
    repo = str(Path(__file__).resolve().parents[1])
    reg = root / "registry.git"
    cli = common.gitreg_argv()
    common.run_checked([*cli, "init", "--registry", str(reg)])
    common.run_checked([sys.executable, "-c", CHILD_FIXTURE, repo, str(reg), str(root)])
    holdout = str(root / "holdout.npz")
    common.run_checked([*cli, "dataset", "push", holdout, "--name", "digits-holdout", "--registry", str(reg)])
    edit = root / "edit"
    common.git("clone", "-q", str(reg), str(edit))
    cfg = edit / "gitreg.toml"
    cfg.write_text(cfg.read_text() + GATE)
    common.git("-C", str(edit), "commit", "-qam", "Gate production on the digits holdout")
    common.git("-C", str(edit), "push", "-q", "origin", "main")
    common.run_checked([*cli, "promote", "digits@v1.0.0", "--to", "production", "--registry", str(reg)])
    return reg


def profile(argv: list[str], root: Path) -> None:
    """Where one gate run's time goes: the slowest imports, then the top functions."""
    import subprocess

    common.header("python -X importtime: slowest imports (cumulative, top-level packages)")
    p = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=False)
    rows = []
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) <= 2:  # top-level imports only (nested ones are inside these)
            rows.append((int(m.group(2)), int(m.group(1)), m.group(4)))
    total = sum(r[0] for r in rows)
    print(f"  all top-level imports: {total / 1e6:.3f} s")
    for cum, own, name in sorted(rows, reverse=True)[:12]:
        print(f"  {cum / 1e6:8.3f} s cumulative {own / 1e6:8.3f} s own  {name}")

    common.header("cProfile: top 25 by cumulative time")
    out = root / "gate.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), *argv], capture_output=True, check=False)
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    ap.add_argument("--profile", action="store_true", help="importtime and cProfile of one more gate run")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = common.isolate("gate", keep=args.keep)
    common.machine_note()

    t0 = time.perf_counter()
    reg = build(root)
    print(f"[fixture: 2 versions, dataset, gate config, production promotion in {time.perf_counter() - t0:.1f} s]")

    gate = [*common.gitreg_argv(), "gate", "digits@v1.1.0", "--stage", "production", "--registry", str(reg)]
    first = common.run_checked(gate).stdout.decode()  # untimed: fetches the dataset, writes bytecode
    print("\n  " + "\n  ".join(first.strip().splitlines()))

    common.header(f"gitreg gate, warm, against floors (subprocesses, {args.runs} runs each)")
    py = sys.executable
    floors = {
        "python -c pass": [py, "-c", "pass"],
        'python -c "import onnxruntime"': [py, "-c", "import onnxruntime"],
        'python -c "import gitreg.cli"': [py, "-c", "import gitreg.cli"],
    }
    results = {label: common.measure_cmd(argv, args.runs) for label, argv in floors.items()}
    results["gitreg gate digits@v1.1.0 --stage production"] = common.measure_cmd(gate, args.runs)
    for label, (walls, cpus) in results.items():
        common.row(label, walls, cpu=cpus)
    ort = common.med(results['python -c "import onnxruntime"'][0])
    gate_wall = common.med(results["gitreg gate digits@v1.1.0 --stage production"][0])
    beyond = gate_wall - ort
    verdict = "MET" if beyond <= 2.0 else "MISSED"
    print(f"  {'gate beyond import onnxruntime (median - median)':<58} {beyond:8.3f} s  target <= 2 s: {verdict}")
    if args.profile:
        profile(["-m", "gitreg", *gate[1:]], root)
    common.machine_note()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"[total {time.perf_counter() - t0:.1f} s]")
