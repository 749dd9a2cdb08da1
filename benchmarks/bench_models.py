"""Issue 11's benchmarks (printed, not asserted): real-sized models end to end.

(a) ``resnet`` / ``bert``: ``gitreg.push(model, name, example_inputs=..., registry=PATH)`` (TorchScript
    trace + dynamo ONNX export + parity + push into a temp local registry) against
    ``torch.onnx.export(model, ..., dynamo=True)`` alone, on the same model. Each measurement runs
    in a fresh subprocess under a fresh wrapper process; peak RSS is the wrapper's
    ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the child and everything it ran, git included).
    The model is built (random init) before the timer starts in both. Models: a ResNet-50-class
    net (bottleneck blocks [3, 4, 6, 3], widths 64..2048, 224x224 input, ~25.6M params) and a
    BERT-base-sized encoder (``BertModel(BertConfig())``: 12 layers, 768 hidden, ~110M params).
    Printed: both times and peaks, the peak of gitreg's process during each step it announces
    (``gitreg.ml.runtime.stage``: TorchScript, ONNX export, each parity runtime), the ratio gitreg /
    export alone, and what gitreg adds over the exporter against the target "<= 1.5x the model's
    size" (float32 parameter bytes).
(b) ``eval``: ``gitreg eval`` on 10,000 tokenised sequences (random token ids, length 64) of a small
    BERT-style classifier (``BertForSequenceClassification``, 2 layers, 128 hidden) against an eager
    torch ``DataLoader`` loop at batch 32: same weights, same data, each side in its own process.
(c) ``big``: push and pull of a ~3 GB ONNX model whose weights sit in an external data file (one
    Gather over a [rows, 1024] float32 initializer) against ``sha256sum`` + ``cp`` of the same bytes.
    Skipped with a message when the temp dir's file system has < 10 GB free.

Usage::

    python benchmarks/bench_models.py                    # everything, full size (~10 min on 2 CPUs)
    python benchmarks/bench_models.py --only resnet      # or bert, eval, big (repeatable)
    python benchmarks/bench_models.py --quick            # small sizes, ~1-2 min: a smoke check
    python benchmarks/bench_models.py --only big --big-gb 1 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = str(Path(__file__).resolve().parents[1])
PARTS = ("resnet", "bert", "eval", "big")

# Runs one command and waits; prints its last stdout line then the peak RSS (KiB) of it and its
# reaped descendants.
WRAPPER = r"""
import json, resource, subprocess, sys
p = subprocess.run(json.loads(sys.argv[1]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
if p.returncode:
    sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
    sys.exit(p.returncode)
lines = p.stdout.decode().strip().splitlines()
print(lines[-1] if lines else "{}")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

# Model builders, shared by the children (argv: kind, size).
BUILD = r"""
import os, sys, time
import numpy as np
import torch
from torch import nn

def resnet(quick):
    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, stride):
            super().__init__()
            cout = mid * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())
        def forward(self, x):
            return torch.relu(self.body(x) + self.skip(x))
    torch.manual_seed(0)
    w = 16 if quick else 64
    layers = [nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = w
    for i, n in enumerate([3, 4, 6, 3]):
        mid = w * 2 ** i
        for j in range(n):
            layers.append(Bottleneck(cin, mid, 2 if j == 0 and i else 1))
            cin = mid * 4
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)).eval()
    side = 64 if quick else 224
    x = np.random.default_rng(0).standard_normal((2, 3, side, side)).astype(np.float32)
    return model, x

def bert(quick):
    from transformers import BertConfig, BertModel
    small = dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512)
    cfg = BertConfig(**small) if quick else BertConfig()
    torch.manual_seed(0)
    model = BertModel(cfg).eval()
    rng = np.random.default_rng(0)
    x = {"input_ids": rng.integers(0, cfg.vocab_size, (2, 64)).astype(np.int64),
         "attention_mask": np.ones((2, 64), dtype=np.int64)}
    return model, x

kind, quick = sys.argv[1], sys.argv[2] == "quick"
model, x = resnet(quick) if kind == "resnet" else bert(quick)
params = sum(p.numel() for p in model.parameters())
"""

CHILD_GITREG = (
    BUILD
    + r"""
import json, threading
import gitreg
from gitreg.ml import runtime
reg = sys.argv[3]
# peak RSS of this process per step gitreg announces (gitreg.ml.runtime.stage), sampled every 10 ms
step, peaks, done = ["before export"], {}, threading.Event()
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS")) / 1024
def sample():
    while not done.wait(0.01):
        peaks[step[0]] = max(peaks.get(step[0], 0.0), rss_mb())
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
with runtime.reporting(lambda what: step.__setitem__(0, what or "between steps, then the push")):
    mv = gitreg.push(model, kind, example_inputs=x, registry=reg)
wall = time.perf_counter() - t
done.set()
print(json.dumps({"wall": wall, "params": params, "ref": str(getattr(mv, "ref", mv)), "steps": peaks}))
"""
)

CHILD_EXPORT = (
    BUILD
    + r"""
import json
out = sys.argv[3]
t = time.perf_counter()
with torch.no_grad():
    if isinstance(x, dict):
        torch.onnx.export(model, (), out, kwargs={k: torch.from_numpy(v) for k, v in x.items()}, dynamo=True)
    else:
        torch.onnx.export(model, (torch.from_numpy(x),), out, dynamo=True)
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "params": params, "bytes": os.path.getsize(out)}))
"""
)

CHILD_BUILD_ONLY = (
    BUILD
    + r"""
import json
print(json.dumps({"params": params}))
"""
)


def wrapped(code: str, *args: str) -> tuple[dict, float]:
    """(the child's JSON line, peak RSS in MB of the child and everything it ran)."""
    argv = [sys.executable, "-c", code, *args]
    out = common.run_checked([sys.executable, "-c", WRAPPER, json.dumps(argv)]).stdout.decode().strip().splitlines()
    return json.loads(out[-2]), int(out[-1]) * 1024 / common.MB


def part_models(kind: str, root: Path, quick: bool, runs: int) -> None:
    size = "quick" if quick else "full"
    title = {"resnet": "ResNet-50-class, 224x224, batch 2", "bert": "BERT-base encoder (BertConfig()), seq 64, batch 2"}
    if quick:
        title = {"resnet": "ResNet-50 layout at width 16, 64x64", "bert": "BERT encoder, 2 layers, 128 hidden, seq 64"}
    common.header(f"(a) {title[kind]}{' [quick size]' if quick else ''}: gitreg.push vs torch.onnx.export(dynamo=True)")
    base, base_rss = wrapped(CHILD_BUILD_ONLY, kind, size)
    model_mb = base["params"] * 4 / common.MB
    print(f"  model: {base['params']:,} params = {model_mb:.1f} MB float32; build-only peak RSS {base_rss:.0f} MB")
    g_walls, g_rss, e_walls, e_rss = [], [], [], []
    for i in range(runs):
        reg = root / f"{kind}-reg-{i}.git"
        common.run_checked([*common.gitreg_argv(), "init", "--registry", str(reg)])
        res, rss = wrapped(CHILD_EXPORT, kind, size, str(root / f"{kind}-{i}.onnx"))
        e_walls.append(res["wall"])
        e_rss.append(rss)
        print(f"  run {i + 1}: torch.onnx.export(dynamo=True)   {res['wall']:7.1f} s  peak {rss:7.0f} MB")
        res, rss = wrapped(CHILD_GITREG, kind, size, str(reg))
        g_walls.append(res["wall"])
        g_rss.append(rss)
        print(f"  run {i + 1}: gitreg.push (export+parity+push) {res['wall']:7.1f} s  peak {rss:7.0f} MB", res["ref"])
        for what, mb in res.get("steps", {}).items():
            print(f"         peak RSS while {what:<44} {mb * 1024 * 1024 / common.MB:7.0f} MB")
        shutil.rmtree(reg, ignore_errors=True)
        (root / f"{kind}-{i}.onnx").unlink(missing_ok=True)
    gw, ew = common.med(g_walls), common.med(e_walls)
    gr, er = max(g_rss), max(e_rss)
    print(f"  {'gitreg.push, median wall':<58} {gw:10.1f} s")
    print(f"  {'torch.onnx.export(dynamo=True) alone, median wall':<58} {ew:10.1f} s")
    common.ratio_line("time ratio gitreg / export alone", gw, ew)
    print(f"  {'peak RSS gitreg / export alone (max of runs)':<58} {gr:7.0f} / {er:.0f} MB = {gr / er:.2f}x")
    extra = gr - er
    verdict = "MET" if extra <= 1.5 * model_mb else "MISSED"
    print(
        f"  gitreg adds {extra:.0f} MB over the exporter = {extra / model_mb:.2f}x the model's size "
        f"({model_mb:.0f} MB), target <= 1.5x the model's size: {verdict}"
    )


CHILD_EVAL_FIXTURE = r"""
import sys
import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification
import gitreg
reg, out, rows, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = BertConfig(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512, max_position_embeddings=128, num_labels=2)
torch.manual_seed(0)
model = BertForSequenceClassification(cfg).eval()
torch.save(model.state_dict(), out + "/cls.pt")
rng = np.random.default_rng(0)
ids = rng.integers(0, cfg.vocab_size, (rows, length)).astype(np.int64)
mask = np.ones((rows, length), dtype=np.int64)
y = rng.integers(0, 2, rows).astype(np.int64)
gitreg.push(model, "cls", version="1.0.0", example_inputs={"input_ids": ids[:2], "attention_mask": mask[:2]},
            class_names=[0, 1], registry=reg)
np.savez(out + "/tokens.npz", input_ids=ids, attention_mask=mask, y=y)
"""

CHILD_EVAL_GITREG = r"""
import json, sys, time
from gitreg import api
reg, data, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
api.evaluate("cls@v1.0.0", data, registry=reg)
walls, infer = [], []
for _ in range(runs):
    t = time.perf_counter()
    _, ev = api.evaluate("cls@v1.0.0", data, registry=reg)
    walls.append(time.perf_counter() - t)
    infer.append(ev.seconds)
print(json.dumps({"wall": walls, "inference": infer, "rows": ev.samples, "accuracy": ev.metrics["accuracy"]}))
"""

CHILD_EVAL_TORCH = r"""
import json, sys, time
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from transformers import BertConfig, BertForSequenceClassification
out, runs = sys.argv[1], int(sys.argv[2])
cfg = BertConfig(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512, max_position_embeddings=128, num_labels=2)
model = BertForSequenceClassification(cfg)
model.load_state_dict(torch.load(out + "/cls.pt"))
with np.load(out + "/tokens.npz") as z:
    ids, mask, y = z["input_ids"], z["attention_mask"], z["y"]
loader = DataLoader(TensorDataset(torch.from_numpy(ids), torch.from_numpy(mask)), batch_size=32)
def loop():
    model.eval()
    preds = []
    with torch.no_grad():
        for a, m in loader:
            preds.append(model(input_ids=a, attention_mask=m).logits.argmax(1))
    return torch.cat(preds).numpy()
loop()
ts = []
for _ in range(runs):
    t = time.perf_counter(); pred = loop(); ts.append(time.perf_counter() - t)
print(json.dumps({"wall": ts, "accuracy": float((pred == y).mean())}))
"""


def child_json(code: str, *args: str) -> dict:
    p = common.run_checked([sys.executable, "-c", code, *args])
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def rate_row(label: str, rows: int, ts: list[float]) -> None:
    print(f"  {label:<58} median {common.med(ts):8.3f} s  {rows / common.med(ts):>10,.0f} seq/s  (n={len(ts)})")


def part_eval(root: Path, rows: int, length: int, runs: int) -> None:
    common.header(f"(b) gitreg eval: small BERT classifier (2 layers, 128 hidden) on {rows:,} x {length} token ids")
    reg = root / "eval-reg.git"
    t0 = time.perf_counter()
    common.run_checked([*common.gitreg_argv(), "init", "--registry", str(reg)])
    common.run_checked([sys.executable, "-c", CHILD_EVAL_FIXTURE, str(reg), str(root), str(rows), str(length)])
    data = root / "tokens.npz"
    print(f"  [fixture: classifier pushed, {rows:,} sequences in {data.name}, {time.perf_counter() - t0:.1f} s]")
    ours = child_json(CHILD_EVAL_GITREG, str(reg), str(data), str(runs))
    base = child_json(CHILD_EVAL_TORCH, str(root), str(runs))
    cli, _ = common.measure_cmd(
        [*common.gitreg_argv(), "eval", "cls@v1.0.0", "--data", str(data), "--json", "--registry", str(reg)], runs
    )
    n = ours["rows"]
    rate_row("gitreg api.evaluate (data + model + ORT + all metrics)", n, ours["wall"])
    rate_row("  of which onnxruntime inference", n, ours["inference"])
    rate_row("gitreg eval --json, subprocess (cold)", n, cli)
    rate_row("baseline: eager torch, DataLoader batch 32, argmax only", n, base["wall"])
    same = abs(ours["accuracy"] - base["accuracy"]) < 1e-9
    print(
        f"  accuracy (random labels): gitreg {ours['accuracy']:.4f}, baseline {base['accuracy']:.4f}"
        f"  ({'same predictions' if same else 'DIFFERENT: check'})"
    )
    for label, ts in (
        ("speed-up, api.evaluate", ours["wall"]),
        ("speed-up, inference only", ours["inference"]),
        ("speed-up, gitreg eval CLI, cold", cli),
    ):
        print(f"  {label:<58} {common.med(base['wall']) / common.med(ts):10.2f}x")


def make_external_onnx(folder: Path, n_bytes: int, sparse: bool) -> tuple[Path, Path]:
    """``model.onnx`` (Y = Gather(W, ids)) with ``W`` float32 [rows, 1024] in ``weights.bin``.

    The data file is written with 64 MiB of random bytes repeated (real disk writes; sha256 and copy
    do real work), or as a sparse file (``--sparse``: ``truncate``, zeros, nearly free)."""
    import numpy as np
    from onnx import TensorProto, helper

    cols = 1024
    rows = n_bytes // (4 * cols)
    total = rows * cols * 4
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "weights.bin"
    with open(data, "wb") as f:
        if sparse:
            f.truncate(total)
        else:
            block = np.random.default_rng(1).standard_normal((1 << 24,), dtype=np.float32).tobytes()  # 64 MiB
            left = total
            while left:
                k = min(left, len(block))
                f.write(block[:k])
                left -= k
    w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[rows, cols])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(total))):
        e = w.external_data.add()
        e.key, e.value = k, v
    x = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 8])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 8, cols])
    graph = helper.make_graph([helper.make_node("Gather", ["W", "ids"], ["Y"], axis=0)], "big", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gitreg-bench")
    model.ir_version = 8
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path, data


def part_big(root: Path, gb: float, runs: int, sparse: bool) -> None:
    common.header(f"(c) push / pull of a {gb:g} GB external-data ONNX model vs sha256sum + cp")
    free = shutil.disk_usage(root).free
    df = common.run_checked(["df", "-h", "/tmp", str(root)]).stdout.decode().strip()
    print("  " + df.replace("\n", "\n  "))
    need = max(10e9, 3.5 * gb * 1e9)
    if free < need:
        print(f"  SKIPPED: {free / 1e9:.1f} GB free under {root}, need >= {need / 1e9:.0f} GB")
        return
    t0 = time.perf_counter()
    model, data = make_external_onnx(root / "big", int(gb * 1e9), sparse)
    size = model.stat().st_size + data.stat().st_size
    note = " (sparse)" if sparse else ""
    print(f"  [fixture: {model.name} + {data.name}, {size:,} B{note}, {time.perf_counter() - t0:.1f} s]")
    cli = common.gitreg_argv()
    push_t, pull_t, base_t, push_rss, pull_rss = [], [], [], [], []
    for i in range(runs):
        reg = root / f"big-reg-{i}.git"
        common.run_checked([*cli, "init", "--registry", str(reg)])
        common.settle(root, data)
        t = time.perf_counter()
        _, rss = wrapped_cmd([*cli, "push", str(model), "--name", "big", "--registry", str(reg)])
        push_t.append(time.perf_counter() - t)
        push_rss.append(rss)
        out = root / f"pulled-{i}"
        shutil.rmtree(root / "home" / ".cache" / "gitreg", ignore_errors=True)  # pull from the registry, not a cache
        common.settle(root)
        t = time.perf_counter()
        _, rss = wrapped_cmd([*cli, "pull", "big", "-o", str(out), "--registry", str(reg)])
        pull_t.append(time.perf_counter() - t)
        pull_rss.append(rss)
        got = common.tree_bytes(out)
        if got < size:
            print(f"  WARNING: the pull wrote {got:,} B, less than the model's {size:,} B")
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(reg, ignore_errors=True)
        shutil.rmtree(root / "home" / ".cache" / "gitreg", ignore_errors=True)
        # baseline: sha256sum + cp of the same bytes (model.onnx and weights.bin)
        dst = root / f"copy-{i}"
        dst.mkdir()
        common.settle(root, data)
        t = time.perf_counter()
        common.run_checked(["sha256sum", str(model), str(data)])
        common.run_checked(["cp", str(model), str(data), str(dst)])
        base_t.append(time.perf_counter() - t)
        shutil.rmtree(dst, ignore_errors=True)
        print(
            f"  run {i + 1}: push {push_t[-1]:6.1f} s ({push_rss[-1]:.0f} MB peak)  pull {pull_t[-1]:6.1f} s "
            f"({pull_rss[-1]:.0f} MB peak, {got:,} B written)  sha256sum + cp {base_t[-1]:6.1f} s"
        )
    b = common.med(base_t)
    print(f"  {'sha256sum + cp, median':<58} {b:10.1f} s  ({size / 1e6 / b:,.0f} MB/s)")
    print(f"  {'gitreg push, median (CLI, includes ORT self-check)':<58} {common.med(push_t):10.1f} s")
    print(f"  {'gitreg pull, median (CLI, cold cache)':<58} {common.med(pull_t):10.1f} s")
    common.ratio_line("push / (sha256sum + cp)", common.med(push_t), b)
    common.ratio_line("pull / (sha256sum + cp)", common.med(pull_t), b)
    print(f"  peak RSS: push {max(push_rss):.0f} MB, pull {max(pull_rss):.0f} MB (model {size / 1e6:,.0f} MB)")


def wrapped_cmd(argv: list[str]) -> tuple[dict | None, float]:
    out = common.run_checked([sys.executable, "-c", WRAPPER, json.dumps(argv)]).stdout.decode().strip().splitlines()
    return None, int(out[-1]) * 1024 / common.MB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=PARTS, help="run only this part (repeatable)")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke check in ~1-2 min")
    ap.add_argument("--runs", type=int, default=None, help="runs per measurement (default 1 for (a)/(c), 3 for (b))")
    ap.add_argument("--rows", type=int, default=None, help="(b) sequences (default 10,000; --quick 1,000)")
    ap.add_argument("--big-gb", type=float, default=None, help="(c) model size in GB (default 3; --quick 0.2)")
    ap.add_argument("--sparse", action="store_true", help="(c) write the weights as a sparse file of zeros")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    parts = args.only or list(PARTS)
    root = common.isolate("models", keep=args.keep)
    common.machine_note()
    t0 = time.perf_counter()
    for part in parts:
        if part in ("resnet", "bert"):
            part_models(part, root, args.quick, args.runs or 1)
        elif part == "eval":
            part_eval(root, args.rows or (1_000 if args.quick else 10_000), 64, args.runs or 3)
        elif part == "big":
            part_big(root, args.big_gb or (0.2 if args.quick else 3.0), args.runs or 1, args.sparse)
    common.machine_note()
    print(f"[total {time.perf_counter() - t0:.1f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
