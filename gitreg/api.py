"""The public facade: the calls a training script, a notebook or a service makes — a few lines per verb.

``gitreg.push(model, ...)`` exports, checks parity and registers (:mod:`gitreg.registry.register`);
``gitreg.load(ref)`` returns a ready predictor from bytes just hashed against the sidecar
(:mod:`gitreg.registry.loading`); ``gate``/``promote``/``rollback``/``demote`` are the promotion
workflow (:mod:`gitreg.workflow`). Every function takes ``registry=`` (a :class:`Registry`, a path
or URL, or None for the default resolution).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.registry.registry import Registry
from gitreg.registry.values import HistoryEvent, ModelVersion

if TYPE_CHECKING:
    import numpy as np

    from gitreg.ml.evaluate import Evaluation
    from gitreg.ml.parity import Report as ParityReport
    from gitreg.registry.records import Recorded
    from gitreg.workflow.changed import ChangedReport
    from gitreg.workflow.gating import GateReport
    from gitreg.workflow.pr import PromotionRequest

RegistryLike = Registry | str | os.PathLike[str] | None


def registry_of(registry: RegistryLike) -> Registry:
    """``registry`` as a :class:`Registry` (a path or URL is opened; None resolves the default)."""
    return registry if isinstance(registry, Registry) else Registry(registry)


def push(
    model: Any,
    name: str,
    *,
    example_inputs: Any = None,
    eval_data: Any = None,
    version: str | None = None,
    bump: str | None = None,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    description: str | None = None,
    parent: str | None = None,
    data: Sequence[str | os.PathLike[str]] = (),
    registry: RegistryLike = None,
    script: bool = False,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int | Mapping[str, int] | None = None,
    allow_parity_failure: bool = False,
    command: str | None = None,
    sign: bool = False,
    files: Sequence[str | os.PathLike[str]] = (),
    prediction_output: str | None = None,
    dynamic: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Export ``model`` (torch module, scikit-learn estimator, or artifact paths), check parity, register it.

    ``example_inputs`` is one batch shaped like real input (``X[:2]``); ``eval_data=(X, y)`` adds all
    of ``X`` to the parity check; ``sign=True`` signs the version tag (git's own signing config).
    ``files`` are files the model needs (tokenizer, label map), versioned with it and available
    from ``load(...).files``. ``example_inputs``/``eval_data`` X may be a tuple (one array per input), a dict
    keyed by input name or a DataFrame; ``prediction_output`` names the output that is the prediction
    (torch: default ``logits``, ``probabilities``, else the first); ``dynamic={"input_ids": {1: "seq"}}``
    declares named dynamic axes beyond the batch. Returns the new :class:`gitreg.ModelVersion`.
    """
    from gitreg.registry import register

    return register.push(
        registry_of(registry),
        model,
        name,
        example_inputs=example_inputs,
        eval_data=eval_data,
        version=version,
        bump=bump,
        metrics=metrics,
        params=params,
        labels=labels,
        description=description,
        parent=parent,
        data=data,
        script=script,
        class_names=class_names,
        task=task,
        input_names=input_names,
        output_names=output_names,
        opset=opset,
        allow_parity_failure=allow_parity_failure,
        command=command,
        sign=sign,
        files=files,
        prediction_output=prediction_output,
        dynamic=dynamic,
    )


def load(ref: str, runtime: str = "onnxruntime", registry: RegistryLike = None) -> Any:
    """A registered model, ready to predict.

    ``onnxruntime`` (default) gives a :class:`gitreg.Predictor`; ``torchscript`` gives the
    ``torch.jit`` module, loaded from bytes whose sha256 was just checked against the sidecar
    (a TorchScript file is code: PyTorch says to run only files you trust).
    """
    from gitreg.registry import loading

    return loading.load(registry_of(registry), ref, runtime)


def check_parity(ref: str, data: Any = None, registry: RegistryLike = None) -> tuple[ModelVersion, ParityReport]:
    """Re-check a stored version: TorchScript under torch against ONNX under onnxruntime.

    A version with ONNX alone gets a self-check: the whole batch against the same rows run in
    small odd-sized slices (a frozen batch axis or nondeterminism shows up), and output shapes.
    ``data`` is an array or a .npy/.npz/.csv path; without it, seeded random inputs shaped by the
    signature are used. Needs no training code.
    """
    from gitreg.registry import loading

    return loading.check_parity(registry_of(registry), ref, data)


def predict(
    ref: str, x: Any, runtime: str = "onnxruntime", proba: bool = False, registry: RegistryLike = None
) -> np.ndarray:
    """One vectorised prediction, under either runtime; what ``gitreg predict`` prints."""
    from gitreg.registry import loading

    return loading.predict(registry_of(registry), ref, x, runtime, proba)


def evaluate(
    ref: str, data: Any, target: str | None = None, registry: RegistryLike = None
) -> tuple[ModelVersion, Evaluation]:
    """Evaluate the stored ONNX artifact under onnxruntime on ``data`` (a path, ``datasets/NAME.npz``
    in the registry, or an ``(X, y)`` pair). Returns (ModelVersion, :class:`gitreg.ml.evaluate.Evaluation`)."""
    from gitreg.registry import loading

    return loading.evaluate(registry_of(registry), ref, data, target)


def record_evaluation(
    ref: str, data: Any, target: str | None = None, registry: RegistryLike = None
) -> tuple[ModelVersion, Evaluation, Recorded]:
    """Evaluate like :func:`evaluate`, then keep the result with the version (``eval --record``).

    The version's tag and artifacts stay as they are: the result goes into a new commit on the
    version's evaluation record (see :mod:`gitreg.registry.records`), which ``show`` and ``history`` read.
    """
    from gitreg.registry import loading

    return loading.record_evaluation(registry_of(registry), ref, data, target)


def model_card(ref: str, registry: RegistryLike = None) -> str:
    """The version's model card (README.md text), generated from its sidecar."""
    from gitreg.registry import loading

    return loading.model_card(registry_of(registry), ref)


# -- stages ------------------------------------------------------------------------------------------
def gate(
    ref: str, stage: str, data: str | None = None, registry: RegistryLike = None, target: str | None = None
) -> GateReport:
    """Judge ``ref`` against ``stage``'s rules; a :class:`gitreg.workflow.gating.GateReport` (no writes)."""
    from gitreg.workflow import gating

    return gating.run(registry_of(registry), ref, stage, data, target)


def promote(
    ref: str,
    stage: str,
    *,
    force: bool = False,
    reason: str | None = None,
    data: str | None = None,
    registry: RegistryLike = None,
    rollback: bool = False,
    sign: bool = False,
) -> tuple[HistoryEvent, GateReport | None]:
    """Gates, then ``stages.toml`` + stage tag in one atomic write. Returns (history event, gate report).

    ``sign=True`` signs the stage tag with the user's git signing setup (checked before the gates run).
    """
    from gitreg.workflow import promote as promote_mod

    return promote_mod.promote(
        registry_of(registry), ref, stage, force=force, reason=reason, data=data, rollback=rollback, sign=sign
    )


def rollback(
    name: str,
    stage: str,
    to: str | None = None,
    *,
    force: bool = False,
    reason: str | None = None,
    registry: RegistryLike = None,
    sign: bool = False,
) -> tuple[HistoryEvent, GateReport | None]:
    """Give ``stage`` back to its previous holder (or ``to``), through the gates unless ``force``."""
    from gitreg.workflow import promote as promote_mod

    return promote_mod.rollback(registry_of(registry), name, stage, to, force=force, reason=reason, sign=sign)


def demote(
    name: str, stage: str, reason: str | None = None, registry: RegistryLike = None, sign: bool = False
) -> HistoryEvent:
    """Take ``stage`` away from its holder (GTO's unassign tag); ``sign`` signs the unassign tags."""
    from gitreg.workflow import promote as promote_mod

    return promote_mod.demote(registry_of(registry), name, stage, reason, sign=sign)


def apply(registry: RegistryLike = None) -> list[HistoryEvent]:
    """Create the stage tags ``stages.toml`` asks for (after a promotion PR merged); idempotent."""
    from gitreg.registry import promotion

    return promotion.apply(registry_of(registry))


def request_promotion(
    ref: str,
    stage: str,
    *,
    local_gates: bool = True,
    data: str | None = None,
    reason: str | None = None,
    registry: RegistryLike = None,
) -> PromotionRequest:
    """Promotion by pull request: gates, a ``gitreg/promote/...`` branch editing stages.toml, the PR.

    Returns a :class:`gitreg.workflow.pr.PromotionRequest`; running it twice reuses the branch and the PR.
    """
    from gitreg.workflow import pr

    return pr.request(registry_of(registry), ref, stage, local_gates=local_gates, data=data, reason=reason)


def gate_changed(
    path: str | os.PathLike[str] = ".",
    base: str = "origin/main",
    registry: str | None = None,
    data: str | None = None,
    target: str | None = None,
) -> ChangedReport:
    """CI's gate: every stage assignment the checkout at ``path`` changes against ``base``.

    Returns a :class:`gitreg.workflow.changed.ChangedReport` (``exit_code`` 0, 1 bad request, 3 failed).
    """
    from gitreg.workflow import changed

    return changed.changed(path, base, registry, data, target)
