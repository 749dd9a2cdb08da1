"""Issue 11's read side (printed, not asserted): ``gitreg parity`` and ``gitreg.load`` of a ResNet-50-class model.

The model is ``bench_models.py``'s ResNet-50-class net (bottleneck blocks [3, 4, 6, 3], widths
64..2048, 224x224 input, ~25.6M params, random init), pushed once with ``gitreg.push`` into a temp
local registry. Then, each in a fresh process under a fresh wrapper process (peak RSS = the
wrapper's ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the child and everything it ran, git included):

(1) ``gitreg parity REF`` (the CLI): TorchScript under torch against ONNX under onnxruntime on the
    seeded random rows the sidecar's signature gives (``gitreg.ml.parity.synthetic``: 257 rows);
(2) ``gitreg.load(REF)`` then ``.predict(x)`` on a batch of 8 images: wall time and peak RSS
    (``VmHWM``) after the load and after the predict, and the RSS left after the load (``VmRSS``);
(3) baselines for (2): ``onnxruntime.InferenceSession(path)`` (defaults) + ``run`` on the same batch;
    the same from the path with gitreg's session options (ORT_ENABLE_EXTENDED), which isolates
    what handing onnxruntime the hashed bytes (not the path) costs (onnxruntime's Python wrapper
    keeps the bytes for the session's life: ``self._model_bytes``); and the same options on a
    sealed ``memfd`` the bytes were hashed into as they were copied (one way to keep "run only the
    bytes hashed" without a copy in Python). Each predict is timed first call, then best of 2 more;
(4) the baseline for (1): the eager torch model's forward on the same 257 rows, in one batch (the
    forward alone, and its whole process: import torch, build the model, forward).

The exported model's spatial axes are symbolic, so parity's synthetic rows are 257 x 3x16x16
(``SYMBOLIC_LENGTH``), not 224x224; so (1) and (4) are repeated with ``--data`` of ``--data-rows``
full-size images (default 32), the case of a user checking on real inputs.

The artifact cache is primed once before the timed runs (that first, cold-cache load is printed
too), so the timed loads read a local, verified file like the baselines.

Usage::

    python benchmarks/bench_reads.py              # full size, 2 runs each (~3 min on 2 CPUs)
    python benchmarks/bench_reads.py --quick      # width 16, 64x64: a smoke check (~1 min)
    python benchmarks/bench_reads.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_models
import common

# Peak (VmHWM) and current (VmRSS) RSS of this process in MB; shared by the children below.
PROC = r"""
import json, sys, time
import numpy as np
def mem():
    with open("/proc/self/status") as f:
        d = {ln.split(":")[0]: int(ln.split()[1]) for ln in f if ln.startswith(("VmHWM", "VmRSS"))}
    return d["VmHWM"] * 1024 / 1e6, d["VmRSS"] * 1024 / 1e6
def warm_s(fn, n=2):  # best of n more calls: the steady state, after the first call's planning
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return min(ts)
def batch8(side):
    return np.random.default_rng(1).standard_normal((8, 3, side, side)).astype(np.float32)
"""

CHILD_LOAD = (
    PROC
    + r"""
ref, side = sys.argv[1], int(sys.argv[2])
x = batch8(side)
t = time.perf_counter()
import gitreg
m = gitreg.load(ref)
load_s = time.perf_counter() - t
load_hwm, load_rss = mem()
t = time.perf_counter()
y = m.predict(x)
pred_s = time.perf_counter() - t
hwm, rss = mem()
warm = warm_s(lambda: m.predict(x))
print(json.dumps({"load": load_s, "predict": pred_s, "warm": warm, "load_hwm": load_hwm, "load_rss": load_rss,
                  "hwm": hwm, "rss": rss, "out": np.asarray(y).tolist()}))
"""
)

CHILD_ORT = (
    PROC
    + r"""
path, side, opts_kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
x = batch8(side)
t = time.perf_counter()
import onnxruntime as ort
opts = ort.SessionOptions()
opts.log_severity_level = 3
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
if opts_kind == "gitreg":  # gitreg.ml.runtime.ort_session's options, from the path
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
elif opts_kind == "memfd":  # a possible fix: hash while copying into a sealed memfd, load that by path
    import fcntl, hashlib, os
    h, fd = hashlib.sha256(), os.memfd_create("model.onnx", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            os.write(fd, chunk)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
    h.hexdigest()  # compared with the sidecar here; then onnxruntime reads the sealed copy
    s = ort.InferenceSession(f"/proc/self/fd/{fd}", opts, providers=["CPUExecutionProvider"])
    os.close(fd)
else:
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
load_s = time.perf_counter() - t
load_hwm, load_rss = mem()
t = time.perf_counter()
feed = {s.get_inputs()[0].name: x}
y = s.run(None, feed)[0]
pred_s = time.perf_counter() - t
hwm, rss = mem()
warm = warm_s(lambda: s.run(None, feed))
print(json.dumps({"load": load_s, "predict": pred_s, "warm": warm, "load_hwm": load_hwm, "load_rss": load_rss,
                  "hwm": hwm, "rss": rss, "out": y.argmax(1).tolist()}))
"""
)

# gitreg.check_parity in process, with the peak RSS per step gitreg announces (sampled every 10 ms).
CHILD_PARITY_STEPS = (
    PROC
    + r"""
import threading
from gitreg import api
from gitreg.ml import runtime
ref, data = sys.argv[1], (None if sys.argv[2] == "-" else sys.argv[2])
step, peaks, done = ["imports, reading the version, loading the TorchScript file"], {}, threading.Event()
def sample():
    while not done.wait(0.01):
        peaks[step[0]] = max(peaks.get(step[0], 0.0), mem()[1])
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
with runtime.reporting(lambda what: step.__setitem__(0, what or "between the runtimes, comparing")):
    _, report = api.check_parity(ref, data)
wall = time.perf_counter() - t
done.set()
print(json.dumps({"wall": wall, "passed": report.passed, "steps": peaks, "hwm": mem()[0]}))
"""
)

# The eager model (bench_models' builder, same seed, so the pushed weights) on parity's own rows.
CHILD_EAGER = (
    bench_models.BUILD
    + r"""
import json
import os
from gitreg.ml.parity import synthetic
specs = json.loads(sys.argv[3])
xs = synthetic(specs) if sys.argv[4] == "-" else (np.load(sys.argv[4]),)
t = time.perf_counter()
with torch.no_grad():
    out = model(*(torch.from_numpy(a) for a in xs))
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "rows": len(xs[0]), "shape": list(out.shape)}))
"""
)


def line(label: str, wall: float, mb: float, extra: str = "") -> None:
    print(f"  {label:<52} {wall:8.2f} s  peak {mb:7.0f} MB{extra}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="width 16, 64x64 input: a smoke check")
    ap.add_argument("--runs", type=int, default=2, help="runs per measurement (default 2)")
    ap.add_argument("--data-rows", type=int, default=32, help="--data images (default 32; 0: skip)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = common.isolate("reads", keep=args.keep)
    common.machine_note()
    t_all = time.perf_counter()
    size, side = ("quick", 64) if args.quick else ("full", 224)
    cli = common.gitreg_argv()
    common.header(f"ResNet-50-class{' [quick size]' if args.quick else ''}, {side}x{side}: parity and load")

    reg = root / "reg.git"
    common.run_checked([*cli, "init", "--registry", str(reg)])
    t = time.perf_counter()
    res, rss = bench_models.wrapped(bench_models.CHILD_GITREG, "resnet", size, str(reg))
    ref = res["ref"].split()[0] if " " in res["ref"] else res["ref"]
    model_mb = res["params"] * 4 / common.MB
    print(f"  model: {res['params']:,} params = {model_mb:.1f} MB float32; pushed as {ref}")
    line("gitreg.push (setup; fresh process)", time.perf_counter() - t, rss)
    # Commands below find the registry through the environment, like a user with GITREG_REGISTRY.
    os.environ["GITREG_REGISTRY"] = str(reg)
    shown = json.loads(common.run_checked([*cli, "show", ref, "--json"]).stdout)
    sidecar = shown.get("sidecar", shown)
    specs = (sidecar.get("signature") or {}).get("inputs") or [{"name": "x", "shape": ["N", 3, side, side]}]
    onnx_art = (sidecar.get("artifacts") or {}).get("onnx", {})
    print(f"  parity inputs: synthetic rows for {json.dumps(specs)}; model.onnx {onnx_art.get('size', 0):,} B")

    # The baselines' file: the same verified bytes, pulled into a plain folder.
    pulled = root / "pulled"
    common.run_checked([*cli, "pull", ref, "-o", str(pulled), "--format", "onnx"])
    path = next(pulled.rglob("*.onnx"))

    # Prime the artifact cache (a cold-cache load: fetch + verify + load + predict).
    t = time.perf_counter()
    cold, rss = bench_models.wrapped(CHILD_LOAD, ref, str(side))
    wall = time.perf_counter() - t
    line("gitreg.load + predict, cold artifact cache (prime)", wall, rss, f"  (load {cold['load']:.2f} s)")

    data = None
    if args.data_rows:
        import numpy as np

        data = root / "images.npy"
        np.save(data, np.random.default_rng(2).standard_normal((args.data_rows, 3, side, side)).astype(np.float32))
    rows: dict[str, list[tuple[float, float]]] = {}
    detail: dict[str, list[dict]] = {}

    def record(key: str, wall: float, mb: float, res: dict | None = None) -> None:
        rows.setdefault(key, []).append((wall, mb))
        if res is not None:
            detail.setdefault(key, []).append(res)

    outs = {}
    for i in range(args.runs):
        print(f"  -- run {i + 1}")
        t = time.perf_counter()
        _, mb = bench_models.wrapped_cmd([*cli, "parity", ref])
        record("parity", time.perf_counter() - t, mb)
        line("gitreg parity REF (CLI)", rows["parity"][-1][0], mb)

        t = time.perf_counter()
        res, mb = bench_models.wrapped(CHILD_EAGER, "resnet", size, json.dumps(specs), "-")
        record("eager", res["wall"], mb, res)
        record("eager_proc", time.perf_counter() - t, mb)
        line(f"eager torch forward, same {res['rows']} rows, one batch", res["wall"], mb)
        line("  the same, whole process (import torch, build, forward)", rows["eager_proc"][-1][0], mb)
        if data is not None:
            t = time.perf_counter()
            _, mb = bench_models.wrapped_cmd([*cli, "parity", ref, "--data", str(data)])
            record("parity_data", time.perf_counter() - t, mb)
            line(f"gitreg parity REF --data ({args.data_rows} x 3x{side}x{side})", rows["parity_data"][-1][0], mb)
            t = time.perf_counter()
            res, mb = bench_models.wrapped(CHILD_EAGER, "resnet", size, json.dumps(specs), str(data))
            record("eager_data", res["wall"], mb, res)
            record("eager_data_proc", time.perf_counter() - t, mb)
            line(f"eager torch forward, same {res['rows']} rows, one batch", res["wall"], mb)
            line("  the same, whole process (import torch, build, forward)", rows["eager_data_proc"][-1][0], mb)

        for key, code, args_ in (
            ("load", CHILD_LOAD, (ref, str(side))),
            ("ort", CHILD_ORT, (str(path), str(side), "default")),
            ("ort_ext", CHILD_ORT, (str(path), str(side), "gitreg")),
            ("ort_memfd", CHILD_ORT, (str(path), str(side), "memfd")),
        ):
            res, mb = bench_models.wrapped(code, *args_)
            record(key, res["load"] + res["predict"], mb, res)
            outs[key] = res["out"]
            label = {
                "load": "gitreg.load(REF).predict(x8)",
                "ort": "InferenceSession(path) + run(x8), defaults",
                "ort_ext": "InferenceSession(path) + run(x8), gitreg's options",
                "ort_memfd": "the same from a sealed memfd of hashed bytes",
            }[key]
            line(
                label,
                res["load"] + res["predict"],
                mb,
                f"  (load {res['load']:.2f} s, HWM {res['load_hwm']:.0f} MB, RSS after {res['load_rss']:.0f} MB;"
                f" predict {res['predict']:.3f} s, then {res['warm']:.3f} s)",
            )

    for label, arg in (("synthetic rows", "-"), (f"--data, {args.data_rows} images", str(data) if data else None)):
        if arg is None:
            continue
        res, mb = bench_models.wrapped(CHILD_PARITY_STEPS, ref, arg)
        print(
            f"  steps of gitreg.check_parity ({label}), in process: {res['wall']:.2f} s, peak {mb:.0f} MB, "
            f"passed={res['passed']}"
        )
        for what, peak in res["steps"].items():
            print(f"         peak RSS while {what:<58} {peak:7.0f} MB")

    def med_wall(key: str) -> float:
        return common.med([w for w, _ in rows[key]])

    def max_mb(key: str) -> float:
        return max(m for _, m in rows[key])

    def med_of(key: str, field: str) -> float:
        return common.med([d[field] for d in detail[key]])

    common.header(f"summary: medians of wall, max of peaks over {args.runs} run(s); model {model_mb:.0f} MB")
    print(f"  {'':<46} {'wall s':>8} {'peak MB':>8} {'load s':>7} {'load HWM':>8} {'pred s':>7} {'warm s':>7}")
    sym = "x".join(str(d) if isinstance(d, int) else "16" for d in specs[0].get("shape", [])[1:])
    names = {
        "parity": f"gitreg parity REF (257 x {sym} synthetic)",
        "eager": "eager torch forward, same rows",
        "eager_proc": "  whole eager process (import, build, forward)",
        "parity_data": f"gitreg parity REF --data ({args.data_rows} x 3x{side}x{side})",
        "eager_data": "eager torch forward, same rows",
        "eager_data_proc": "  whole eager process (import, build, forward)",
        "load": "gitreg.load + predict(8)",
        "ort": "ORT InferenceSession(path) defaults + run(8)",
        "ort_ext": "ORT InferenceSession(path) gitreg opts + run(8)",
        "ort_memfd": "the same from a sealed memfd (possible fix)",
    }
    for key, name in names.items():
        if key not in rows:
            continue
        more = ""
        if key in ("load", "ort", "ort_ext", "ort_memfd"):
            top = max(d["load_hwm"] for d in detail[key])
            more = f" {med_of(key, 'load'):7.2f} {top:8.0f} {med_of(key, 'predict'):7.3f} {med_of(key, 'warm'):7.3f}"
        print(f"  {name:<46} {med_wall(key):8.2f} {max_mb(key):8.0f}{more}")
    common.ratio_line("parity wall / eager forward", med_wall("parity"), med_wall("eager"), width=46)
    common.ratio_line("parity wall / whole eager process", med_wall("parity"), med_wall("eager_proc"), width=46)
    common.ratio_line("parity peak / eager peak", max_mb("parity"), max_mb("eager"), width=46)
    if data is not None:
        pd, ef, ep = med_wall("parity_data"), med_wall("eager_data"), med_wall("eager_data_proc")
        common.ratio_line("parity --data wall / eager forward", pd, ef, width=46)
        common.ratio_line("parity --data wall / whole eager process", pd, ep, width=46)
        common.ratio_line("parity --data peak / eager peak", max_mb("parity_data"), max_mb("eager_data"), width=46)
    common.ratio_line("load+predict wall / ORT defaults", med_wall("load"), med_wall("ort"), width=46)
    common.ratio_line("load+predict peak / ORT defaults", max_mb("load"), max_mb("ort"), width=46)
    common.ratio_line("load+predict peak / ORT gitreg opts (path)", max_mb("load"), max_mb("ort_ext"), width=46)
    hwm = lambda k: max(d["load_hwm"] for d in detail[k])  # noqa: E731
    rss = lambda k: common.med([d["load_rss"] for d in detail[k]])  # noqa: E731
    print(
        f"  bytes-not-path cost at load: HWM {hwm('load') - hwm('ort_ext'):+.0f} MB, RSS left after load "
        f"{rss('load') - rss('ort_ext'):+.0f} MB (gitreg.load vs the same options from the path; "
        f"model.onnx {onnx_art.get('size', 0) / common.MB:.0f} MB; includes gitreg's own imports)"
    )
    common.ratio_line("load+predict peak / sealed memfd", max_mb("load"), max_mb("ort_memfd"), width=46)
    common.ratio_line(
        "warm predict, gitreg.load / ORT defaults", med_of("load", "warm"), med_of("ort", "warm"), width=46
    )
    common.ratio_line(
        "warm predict, ORT gitreg opts / defaults", med_of("ort_ext", "warm"), med_of("ort", "warm"), width=46
    )
    lbl = outs.get("load")
    same = lbl == outs.get("ort_ext")
    print(f"  predictions on the 8 images: gitreg.load == ORT from path: {same}  ({lbl})")
    common.machine_note()
    print(f"[total {time.perf_counter() - t_all:.1f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
