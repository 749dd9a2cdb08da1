"""Gates: judge a version against a stage's rules before it may hold the stage.

The rules (``[gates.<stage>] rules`` in ``gitreg.toml``) see the version's sidecar — ``metrics``,
``params``, ``parity``, ``artifacts`` — and ``eval``, a fresh onnxruntime evaluation of its ONNX
artifact on the gate's ``data``, computed only when a rule mentions ``eval``. ``current`` is the
same for the version holding the stage now, so a rule can say "no worse than production".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitreg.core import rules as gates_mod
from gitreg.core import verdict
from gitreg.core.stages import StagePolicy, policy
from gitreg.errors import InputError
from gitreg.registry.registry import Registry
from gitreg.registry.values import ModelVersion


@dataclass(frozen=True)
class GateReport:
    ref: str
    stage: str
    current: str | None  # the holder the rules were judged against
    result: verdict.GateResult
    data: Mapping[str, Any] | None = None  # the data eval.* rules ran on: name, sha256, size, rows

    @property
    def passed(self) -> bool:
        return bool(self.result.passed)

    def failed_rules(self) -> list[str]:
        """The rules that failed (not those that were skipped)."""
        return [o.rule for o in self.result.outcomes if o.passed is False]

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.data) if self.data is not None else None
        return {"ref": self.ref, "stage": self.stage, "current": self.current, "data": data, **self.result.to_dict()}


def _needs(rules: tuple[str, ...], root: str) -> bool:
    return any(any(n == root or n.startswith(root + ".") for n in gates_mod.names(r)) for r in rules)


def data_path(reg: Registry, pol: StagePolicy, override: str | None) -> str | None:
    """The gate's data: ``--data``, or ``[gates.<stage>] data`` (a registry dataset or a local path)."""
    if override:
        return override
    if pol.data is None:
        return None
    if pol.data.startswith("datasets/"):
        from gitreg.registry import datasets

        return str(datasets.fetch(reg.backend, pol.data))
    return pol.data


def context(
    reg: Registry, mv: ModelVersion, data: str | None, need_eval: bool, target: str | None = None
) -> dict[str, Any]:
    """What rules can name for one version."""
    sc = mv.sidecar
    ctx: dict[str, Any] = {
        "metrics": dict(sc.metrics) if sc else {},
        "params": dict(sc.params) if sc else {},
        "parity": dict(sc.parity) if sc else {},
        "artifacts": {k: {"size": a.size, "sha256": a.sha256, **dict(a.extra)} for k, a in sc.artifacts.items()}
        if sc
        else {},
    }
    if need_eval:
        if data is None:
            raise InputError(
                "a gate rule uses eval.* but the stage has no data",
                hint="set [gates.<stage>] data in gitreg.toml, or pass --data FILE",
            )
        from gitreg.ml import evaluate
        from gitreg.registry import loading

        x, y = evaluate.load_data(data, target)
        ctx["eval"] = evaluate.evaluate(loading.load(reg, mv.ref), x, y).metrics
    return ctx


def run(reg: Registry, ref: str, stage: str, data: str | None = None, target: str | None = None) -> GateReport:
    """Evaluate ``stage``'s rules for ``ref`` (no writes)."""
    cfg = reg.config()
    pol = policy(cfg, stage)
    mv = reg.show(ref)
    holder = reg.backend.model_state(mv.name).stages.get(stage)
    need_eval = _needs(pol.rules, "eval") or _needs(pol.rules, "current.eval")
    path = data_path(reg, pol, data) if need_eval else None
    ctx = context(reg, mv, path, _needs(pol.rules, "eval"), target)
    current = None
    if holder is not None and holder != mv.version and _needs(pol.rules, "current"):
        cur = reg.show(f"{mv.name}@v{holder}")
        current = context(reg, cur, path, _needs(pol.rules, "current.eval"), target)
    ctx["current"] = current
    result = verdict.evaluate_all(pol.rules, ctx)
    fingerprint = None
    if path is not None:  # which bytes the verdict rests on: a report names its data by hash
        from gitreg.ml import metadata

        fingerprint = metadata.data_fingerprint(path)
        fingerprint["name"] = data or pol.data or fingerprint["name"]
    return GateReport(mv.ref, stage, f"v{holder}" if holder else None, result, fingerprint)
