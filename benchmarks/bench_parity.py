"""The parity zoo's figures: how far correct and broken exports of deep standard networks are from eager torch.

For each model of ``tests/support/zoo.py`` (a ResNet-50-like bottleneck stack, a MobileNet-like
depthwise stack, one with logits of ~1e-9, a 4-layer transformer encoder, a 2-layer LSTM, the digits
MLP trained and untrained) and each broken variant (a baked-in batch size, a branch on the batch
size frozen by tracing, a wrong operator and a wrong constant edited into the ONNX file, a statistic
over the batch), every runtime (TorchScript, onnxruntime; on the whole batch, and on single rows and
slices of 7) is compared with eager torch on the whole batch. Printed per pair: the output's scale
(RMS of eager's output), the max absolute error, the error relative to the scale, top-1 agreement,
the old elementwise verdict (rtol 1e-4, atol 1e-5) and the verdict of gitreg's default criterion.

Usage: ``python benchmarks/bench_parity.py [--rows N]``. Nothing is pushed; about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cases(rows: int):
    from tests.support import models, zoo

    x_digits, _ = models.digits()
    img, img64 = zoo.images(rows), zoo.images(rows, 64, seed=1)
    seq = zoo.series(rows)
    trained = models.mlp()
    import torch

    torch.manual_seed(0)
    untrained = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    yield "resnet16 (32x32)", zoo.resnet(), img, None
    yield "resnet16 w32 (64x64)", zoo.resnet(width=32), img64, None
    yield "mobilenet", zoo.mobilenet(), img, None
    yield "mobilenet logits~1e-9", zoo.mobilenet(out_scale=1e-9), img, None
    yield "encoder 4L", zoo.encoder(), seq.repeat(8, axis=2), None
    yield "lstm 2L", zoo.lstm(), seq, None
    yield "digits mlp trained", trained, x_digits[:rows], None
    yield "digits mlp untrained", untrained, x_digits[:rows], None
    yield "BROKEN baked batch", zoo.baked_resnet(), img, "baked"
    yield "BROKEN traced branch", zoo.traced_branch(), img, None
    yield "BROKEN batch statistic", zoo.batch_stat(), seq[:, 0], None
    yield "BROKEN wrong op resnet", zoo.resnet(blocks=4, width=8), img, "op"
    yield "BROKEN x1.01 mobilenet~1e-9", zoo.mobilenet(out_scale=1e-9), img, "scale"
    yield "BROKEN wrong op encoder", zoo.encoder(), seq.repeat(8, axis=2), "op"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=32)
    args = ap.parse_args()
    from gitreg.ml import export, parity, runtime
    from gitreg.ml.parity import sliced
    from tests.support import zoo

    head = f"{'model':30} {'pair':32} {'scale':>9} {'max_abs':>9} {'err/scale':>9} {'top1':>6} {'old':>4} {'new':>4}"
    print(head)
    print("-" * len(head))
    for name, model, x, broken in cases(args.rows):
        with tempfile.TemporaryDirectory() as tmp:
            example = x[:4] if broken == "baked" else x[:2]
            ex = export.export(model, Path(tmp), example)
            runners = dict(ex.runners)
            onnx = Path(tmp) / "model.onnx"
            if broken == "op":
                zoo.wrong_operator(onnx, Path(tmp) / "b.onnx")
                runners["onnxruntime"] = runtime.ort_runner(Path(tmp) / "b.onnx")
            elif broken == "scale":
                zoo.scaled_output(onnx, Path(tmp) / "b.onnx", 1.01)
                runners["onnxruntime"] = runtime.ort_runner(Path(tmp) / "b.onnx")
            if broken in ("op", "scale"):
                runners["onnxruntime_sliced"] = sliced(
                    runners["onnxruntime"], parity.SINGLES, parity.SMALL
                )  # the edited file too
            xs = (x,)
            if broken == "baked":
                xs = (x[:4],)
            ref = runners["eager"](*xs)
            for rt, fn in runners.items():
                if rt == "eager":
                    continue
                try:
                    got = np.asarray(fn(*xs))
                except Exception as e:
                    print(f"{name:30} {rt + ' vs eager':32} failed: {str(e).splitlines()[0][:60]}")
                    continue
                pair = parity.compare(rt, got, "eager", ref, classifier=True)  # gitreg's default
                old = parity.compare(rt, got, "eager", ref, rtol=1e-4, atol=1e-5, classifier=True)
                scale = float(np.sqrt(np.mean(ref.astype(np.float64) ** 2)))
                diff = float(np.abs(got.astype(np.float64) - ref).max()) if got.shape == ref.shape else float("inf")
                top1 = pair.argmax_agreement
                print(
                    f"{name:30} {rt + ' vs eager':32} {scale:9.2e} {diff:9.2e} {diff / max(scale, 1e-300):9.2e} "
                    f"{'' if top1 is None else f'{top1:.3f}':>6} {'ok' if old.passed else 'FAIL':>4} "
                    f"{'ok' if pair.passed else 'FAIL':>4}"
                )


if __name__ == "__main__":
    main()
