"""``gitreg demo``: train a tiny model, push two versions, list, show, pull, check, predict.

It stays inside the core dependencies (numpy, onnx, onnxruntime): the "training" is a softmax
regression fitted with numpy on synthetic data, exported with the ``onnx`` helper API. Later
issues grow it into the torch/scikit-learn flow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gitreg.registry import Registry

NAME = "demo-classifier"


def _data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centers = np.array([[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 1.0, 0.0], [0.0, 0.0, 2.0, 2.0]])
    y = rng.integers(0, 3, n)
    x = centers[y] + rng.normal(scale=1.2, size=(n, 4))
    return x.astype(np.float32), y


def _fit(x: np.ndarray, y: np.ndarray, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    w, b = np.zeros((4, 3), np.float32), np.zeros(3, np.float32)
    onehot = np.eye(3, dtype=np.float32)[y]
    for _ in range(epochs):
        z = x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - onehot) / len(x)
        w -= 0.5 * x.T @ grad
        b -= 0.5 * grad.sum(0)
    return w, b


def _export(w: np.ndarray, b: np.ndarray, path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["z"]),
            helper.make_node("Add", ["z", "B"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "softmax_regression",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gitreg-demo")
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run(registry: str | None = None, say: Callable[[str], None] = print) -> None:
    """The whole demo; raises GitregError on failure like any other command."""
    import onnxruntime as ort

    reg = Registry(registry)
    say(f"registry: {reg.url}")
    rng = np.random.default_rng(0)
    x_train, y_train = _data(rng, 2000)
    x_test, y_test = _data(rng, 500)
    with tempfile.TemporaryDirectory(prefix="gitreg-demo-") as tmp:
        work = Path(tmp)
        pushed = []
        for epochs in (1, 50):  # an undertrained version, then a better one
            w, b = _fit(x_train, y_train, epochs)
            acc = float(((x_test @ w + b).argmax(1) == y_test).mean())
            path = _export(w, b, work / f"model-{epochs}.onnx")
            mv = reg.push_files(
                [path],
                NAME,
                metrics={"accuracy": round(acc, 4)},
                params={"epochs": epochs},
                description=f"softmax regression, {epochs} epochs",
                command="gitreg demo",
            )
            pushed.append(mv)
            say(f"$ gitreg push {path.name} --name {NAME} --metric accuracy={acc:.4f}  ->  {mv.ref}")
        say("$ gitreg list")
        for m in reg.list():
            say(f"  {m.name:20} latest {m.latest}  ({m.versions} versions)")
        best = reg.show(NAME)
        say(
            f"$ gitreg show {NAME}  ->  {best.ref}, accuracy {best.sidecar.metrics['accuracy']}, "
            f"sha256 {best.sidecar.artifacts['onnx'].sha256[:12]}…"
        )
        say(f"$ gitreg history {NAME}  ->  {len(reg.history(NAME))} events")
        out = work / "pulled"
        res = reg.pull(pushed[-1].ref, out)
        say(f"$ gitreg pull {pushed[-1].ref} -o {out.name}  ->  {res.bytes} bytes, sha256 verified")
        sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
        proba = sess.run(None, {"input": x_test})[0]
        acc = float((proba.argmax(1) == y_test).mean())
        say(f"predict with onnxruntime on {len(x_test)} held-out rows: accuracy {acc:.4f}")
        report = reg.check()
        say(
            f"$ gitreg check  ->  {'ok' if report.ok else 'PROBLEMS'}: {report.versions} versions, "
            f"{report.objects} artifact objects verified"
        )
        if not report.ok:
            from gitreg.errors import IntegrityError

            raise IntegrityError("the registry check failed", report.problems)
