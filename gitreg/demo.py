"""``gitreg demo``: what a training script does with gitreg, end to end, in a few seconds.

Trains a small torch MLP on scikit-learn's bundled digits (no download), pushes an undertrained
version and a better one with ``gitreg.push`` (TorchScript + ONNX export, parity on the held-out
rows), then lists, shows, pulls, checks, and loads the better one under onnxruntime to predict.
Needs the ``torch`` and ``sklearn`` extras (``make demo`` installs everything).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gitreg.errors import IntegrityError, MissingDependency
from gitreg.registry import Registry

NAME = "digits-mlp"


def _train(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> Any:
    """A 64-32-10 MLP, mini-batch Adam; ``epochs`` decides how good it gets."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def run(registry: str | None = None, say: Callable[[str], None] = print) -> None:
    """The whole demo; raises GitregError on failure like any other command."""
    try:
        import torch  # noqa: F401
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise MissingDependency(e.name or "torch", "all", "the demo") from None
    import gitreg

    reg = Registry(registry)
    created = reg.init()  # idempotent; a path that holds something else is refused
    say(f"registry: {reg.url}{' (created)' if created else ''}")
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16.0).astype(np.float32), y.astype(np.int64), test_size=0.3, random_state=0, stratify=y
    )
    pushed = []
    for epochs in (1, 15):  # an undertrained version, then a better one
        model = _train(x_train, y_train, epochs)
        acc = _accuracy(model, x_test, y_test)
        mv = gitreg.push(
            model,
            NAME,
            example_inputs=x_train[:2],
            eval_data=(x_test, y_test),
            metrics={"accuracy": round(acc, 4)},
            params={"epochs": epochs, "hidden": 32, "lr": 3e-3},
            class_names=list(range(10)),
            description=f"64-32-10 MLP on digits, {epochs} epoch(s)",
            registry=reg,
            command="gitreg demo",
        )
        pushed.append(mv)
        say(f">>> gitreg.push(model, {NAME!r}, metrics={{'accuracy': {acc:.4f}}}, eval_data=...)  ->  {mv.ref}")
    say("$ gitreg list")
    for m in reg.list():
        say(f"  {m.name:20} latest {m.latest}  ({m.versions} versions)")
    best = reg.show(NAME)
    sc = best.sidecar
    assert sc is not None
    ort_pair = sc.parity["onnxruntime_vs_eager"]
    say(
        f"$ gitreg show {NAME}  ->  {best.ref}: accuracy {sc.metrics['accuracy']}, artifacts "
        f"{', '.join(f'{k} {a.size} B' for k, a in sc.artifacts.items())}; parity on {ort_pair['samples']} rows: "
        f"onnxruntime max abs error {ort_pair['max_abs_error']:.2g}, "
        f"argmax agreement {ort_pair['argmax_agreement']:.0%}"
    )
    say(f"$ gitreg history {NAME}  ->  {len(reg.history(NAME))} events")
    predictor = gitreg.load(best.ref, registry=reg)
    preds = predictor.predict(x_test)  # float32 or float64, one vectorised onnxruntime call
    say(
        f">>> gitreg.load({best.ref!r}).predict(X_test)  ->  {preds[:10].tolist()}…  "
        f"accuracy {float((preds == y_test).mean()):.4f} on {len(x_test)} held-out digits"
    )
    report = reg.check()
    say(
        f"$ gitreg check  ->  {'ok' if report.ok else 'PROBLEMS'}: {report.versions} versions, "
        f"{report.objects} artifact objects verified"
    )
    if not report.ok:
        raise IntegrityError("the registry check failed", report.problems)
    say(f"next: gitreg pull {best.ref} -o ./model   or   gitreg predict {NAME} --data X.npz")
