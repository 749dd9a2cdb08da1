"""``gitreg demo``: what a team does with gitreg, end to end, in a few seconds.

Trains a small torch MLP on scikit-learn's bundled digits (no download) and pushes an undertrained
version and a better one with ``gitreg.push`` (TorchScript + ONNX export, parity on the held-out
rows); stores the held-out rows as a registry dataset, evaluates both versions on it under
onnxruntime (``eval --record``) and writes the HTML comparison report; promotes the better one to
staging and production through the gates; shows the production gate refusing a worse candidate,
overrides it with ``--force`` as an on-call engineer might, and rolls production back. Ends by
loading production under onnxruntime to predict and ``gitreg check``.
Needs the ``torch``, ``sklearn`` and ``report`` extras (``make demo`` installs everything).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import IntegrityError, MissingDependency
from gitreg.registry.registry import Registry

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


DATASET = "datasets/digits-mlp-holdout.npz"  # its own name: never replaces a dataset of the user's
GATES = f"""
# Added by `gitreg demo` (the registry had no gates): what a team might start with.
[gates.staging]
data = "{DATASET}"
rules = ["parity.passed", "eval.accuracy >= 0.85"]

[gates.production]
data = "{DATASET}"
rules = ["parity.passed", "eval.accuracy >= 0.9", "eval.f1_macro >= current.eval.f1_macro - 0.005"]
"""


def _push(gitreg: Any, reg: Registry, data: tuple, epochs: int, say: Callable[[str], None]) -> Any:
    x_train, y_train, x_test, y_test = data
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
    say(f">>> gitreg.push(model, {NAME!r}, metrics={{'accuracy': {acc:.4f}}}, eval_data=...)  ->  {mv.ref}")
    return mv


def run(
    registry: str | None = None, say: Callable[[str], None] = print, report_path: str = "gitreg-demo-report.html"
) -> None:
    """The whole demo; raises GitregError on failure like any other command."""
    try:
        import torch  # noqa: F401
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise MissingDependency(e.name or "torch", "all", "the demo") from None
    import gitreg
    from gitreg import api
    from gitreg.errors import GateFailed
    from gitreg.ml import report
    from gitreg.store.files import atomic_write

    reg = Registry(registry)
    created = reg.init()  # idempotent; a path that holds something else is refused
    say(f"registry: {reg.url}{' (created)' if created else ''}")
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16.0).astype(np.float32), y.astype(np.int64), test_size=0.3, random_state=0, stratify=y
    )
    data = (x_train, y_train, x_test, y_test)
    weak, best = (_push(gitreg, reg, data, epochs, say) for epochs in (1, 15))  # undertrained, then better

    say("$ gitreg list")
    for m in reg.list():
        say(f"  {m.name:20} latest {m.latest}  ({m.versions} versions)")
    shown = reg.show(best.ref)
    sc = shown.sidecar
    assert sc is not None
    ort_pair = sc.parity["onnxruntime_vs_eager"]
    say(
        f"$ gitreg show {best.ref}  ->  accuracy {sc.metrics['accuracy']}, artifacts "
        f"{', '.join(f'{k} {a.size} B' for k, a in sc.artifacts.items())}; parity on {ort_pair['samples']} rows: "
        f"onnxruntime max abs error {ort_pair['max_abs_error']:.2g}, "
        f"argmax agreement {ort_pair['argmax_agreement']:.0%}"
    )

    # Held-out rows as a registry dataset: the gates and anyone else evaluate on the same bytes.
    with tempfile.TemporaryDirectory(prefix="gitreg-demo-") as tmp:
        holdout = Path(tmp) / "digits-mlp-holdout.npz"
        np.savez(holdout, X=x_test, y=y_test)
        fp = reg.push_dataset(holdout, "digits-mlp-holdout")
    pushed = f"{DATASET} ({fp['sha256'][:12]}…)"
    say(f"$ gitreg dataset push digits-mlp-holdout.npz --name digits-mlp-holdout  ->  {pushed}")
    evals = {}
    for mv in (weak, best):
        _, ev, rec = api.record_evaluation(mv.ref, DATASET, registry=reg)
        evals[mv.ref] = ev
        say(
            f"$ gitreg eval {mv.ref} --data {DATASET} --record  ->  accuracy {ev.metrics['accuracy']:.4f}, "
            f"f1_macro {ev.metrics['f1_macro']:.4f}, log_loss {ev.metrics['log_loss']:.3f} "
            f"({ev.samples} rows, {ev.rows_per_second:,.0f} rows/s); kept on {rec.git_ref}"
        )
    a, b = (reg.show(mv.ref) for mv in (weak, best))
    html = report.html_compare(
        a.ref, evals[a.ref], a.sidecar.to_dict() if a.sidecar else {},
        b.ref, evals[b.ref], b.sidecar.to_dict() if b.sidecar else {},
    )  # fmt: skip
    out = atomic_write(report_path, html)
    say(f"$ gitreg report {a.ref} {b.ref} --data {DATASET} -o {report_path}  ->  {out.resolve()}")

    # Gates and promotion (direct mode: the registry's stages do not require a pull request).
    if not reg.config().raw.get("gates"):
        cfg = reg.read_file("gitreg.toml") or b""
        reg.commit_files({"gitreg.toml": cfg.decode() + GATES}, "gitreg demo: gates for staging and production")
        say("gitreg.toml: added gates for staging and production (see README, Stages and gates)")
    for stage in ("staging", "production"):
        event, gate = api.promote(best.ref, stage, registry=reg)
        assert gate is not None  # not forced: the gates ran
        say(f"$ gitreg promote {best.ref} --to {stage}  ->  {event.tag} ({gate.result.summary()})")

    worse = _push(gitreg, reg, data, 2, say)  # a new candidate that is not good enough
    try:
        api.promote(worse.ref, "production", registry=reg)
        raise IntegrityError(f"the production gate let {worse.ref} through")
    except GateFailed as e:
        failed = api.gate(worse.ref, "production", registry=reg)
        say(f"$ gitreg promote {worse.ref} --to production  ->  refused (exit 3): {e.message}")
        for line in failed.result.table().splitlines():
            say(f"  {line}")
    event, _ = api.promote(
        worse.ref, "production", force=True, reason="demo: on-call override of the gate", registry=reg
    )
    say(f"$ gitreg promote {worse.ref} --to production --force --reason '...'  ->  {event.tag} (override recorded)")
    event, _ = api.rollback(NAME, "production", registry=reg)
    say(f"$ gitreg rollback {NAME} --stage production  ->  {event.tag}: production is {best.ref} again")
    history = reg.history(NAME)
    say(f"$ gitreg history {NAME}  ->  {len(history)} events: " + ", ".join(sorted({e.event for e in history})))

    predictor = gitreg.load(f"{NAME}#production", registry=reg)
    preds = predictor.predict(x_test)  # float32 or float64, one vectorised onnxruntime call
    say(
        f">>> gitreg.load('{NAME}#production').predict(X_test)  ->  {preds[:10].tolist()}…  "
        f"accuracy {float((preds == y_test).mean()):.4f} on {len(x_test)} held-out digits "
        f"({predictor.model_version.ref})"
    )
    check = reg.check()
    say(
        f"$ gitreg check  ->  {'ok' if check.ok else 'PROBLEMS'}: {check.versions} versions, "
        f"{check.objects} artifact objects verified"
    )
    if not check.ok:
        raise IntegrityError("the registry check failed", check.problems)
    say(f"next: open {report_path}; gitreg pull {NAME}#production -o ./model; gitreg predict {NAME} --data X.npz")
