"""``gitreg.push(model, ...)``: export a live model (or take exported files), check parity, then register.

``push`` exports into a temporary folder, runs the parity check, and only then hands the files to
``Registry.push_files``: a model that cannot export, or whose artifacts disagree with it, leaves
the registry untouched. Files pushed as they are get the check :mod:`gitreg.ml.filecheck` makes
(TorchScript against ONNX, or the ONNX file's self-check) and what their outputs mean
(:mod:`gitreg.ml.outputs`), so ``parity.passed`` and ``gitreg eval`` work for them as for exports.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import InputError, MissingDependency, ParityFailed, UsageError
from gitreg.ml.arrays import numeric_array
from gitreg.ml.parity import run_parity
from gitreg.registry.registry import Registry
from gitreg.registry.values import ModelVersion


def push(
    reg: Registry,
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
    script: bool = False,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int | None = None,
    allow_parity_failure: bool = False,
    command: str | None = None,
    sign: bool = False,
) -> ModelVersion:
    """Export ``model`` (torch module, scikit-learn estimator, or artifact paths), check parity, register it.

    ``example_inputs`` is one batch shaped like real input (``X[:2]``); ``eval_data=(X, y)`` adds all
    of ``X`` to the parity check; ``sign=True`` signs the version tag (git's own signing config).
    For files, ``task``, ``class_names`` and ``output_names=[NAME]`` (the graph output that is the
    prediction) override what gitreg reads from the ONNX file, and the inputs of the check are
    ``example_inputs`` and ``eval_data``'s X, or seeded random rows shaped by the signature.
    Returns the new :class:`gitreg.ModelVersion`, with its sidecar.
    """
    from gitreg.ml import export as export_mod

    def register(paths: Sequence[str | os.PathLike[str]], **exported: Any) -> ModelVersion:
        return reg.push_files(
            paths,
            name,
            sign=sign,
            version=version,
            bump=bump,
            metrics=metrics,
            params=params,
            labels=labels,
            description=description,
            parent=parent,
            data=data,
            command=command,
            **exported,
        )

    kind = export_mod.kind_of(model)
    if kind == "files":
        if output_names is not None and len(output_names) != 1:
            raise UsageError("for files, output_names=[NAME] names the one graph output that is the prediction")
        return push_files(
            reg,
            [model] if isinstance(model, (str, Path)) else list(model),
            name,
            register,
            example_inputs=example_inputs,
            eval_data=eval_data,
            task=task,
            class_names=class_names,
            output=output_names[0] if output_names else None,
            allow_parity_failure=allow_parity_failure,
        )
    from gitreg.core.refs import check_name

    check_name(name)  # before minutes of export
    if sign:
        reg.backend.signer()  # so is a missing signing key
    eval_x = eval_x_of(eval_data)
    if example_inputs is None and kind == "sklearn" and eval_x is not None:
        example_inputs = eval_x[: min(len(eval_x), 16)]
    cfg = reg.config()
    with tempfile.TemporaryDirectory(prefix="gitreg-export-") as tmp:
        ex = export_mod.export(
            model,
            Path(tmp),
            example_inputs,
            script=script,
            input_names=input_names,
            output_names=output_names,
            opset=opset,
            class_names=class_names,
            task=task,
        )
        inputs = parity_inputs(ex.inputs, eval_x)
        report = run_parity(ex.runners, ex.reference, inputs, cfg.rtol, cfg.atol, ex.classifier)
        if not report.passed and not allow_parity_failure:
            raise ParityFailed(
                f"{report.message()}; nothing was pushed",
                hint="fix the export, loosen [parity] rtol/atol in the registry's gitreg.toml, "
                "or push anyway with allow_parity_failure=True (--allow-parity-failure), which records passed = false",
                report=report,
            )
        return register(
            ex.files,
            signature=ex.signature,
            extra_sections={"parity": report.to_section()},
            framework=ex.framework,
            artifact_info=ex.artifact_info,
        )


def push_files(
    reg: Registry,
    paths: Sequence[str | os.PathLike[str]],
    name: str,
    register: Callable[..., ModelVersion],
    *,
    example_inputs: Any = None,
    eval_data: Any = None,
    task: str | None = None,
    class_names: Sequence[Any] | None = None,
    output: str | None = None,
    allow_parity_failure: bool = False,
) -> ModelVersion:
    """Check exported files, then ``register`` them with their signature and ``[parity]``.

    Refuses (ParityFailed, nothing written) when the check fails, unless ``allow_parity_failure``.
    """
    from gitreg.core.refs import check_name
    from gitreg.ml import artifacts, filecheck, outputs

    check_name(name)
    found = {inp.kind: inp for inp in artifacts.collect([os.fspath(p) for p in paths])}
    onnx_in = found.get("onnx")
    if onnx_in is None:  # TorchScript alone: no signature to make inputs from, no second runtime
        if output is not None or example_inputs is not None:
            raise UsageError("--output and --example-inputs need an ONNX file (a .pt alone has no signature)")
        given = {"task": task, "classes": list(class_names) if class_names is not None else None}
        return register(paths, signature={k: v for k, v in given.items() if v is not None})
    sig = outputs.override(onnx_in.info.get("signature", {}), task=task, classes=class_names, output=output)
    x = eval_x_of(eval_data)
    if example_inputs is not None:
        rows = filecheck.check_inputs(sig, example_inputs)
        inputs = parity_inputs(rows, x) if x is not None else rows
    else:
        inputs = filecheck.check_inputs(sig, x)
    ts, skipped = None, None
    if "torchscript" in found:
        try:
            ts = filecheck.load_torchscript(found["torchscript"].path)
        except MissingDependency:
            skipped = "not compared with the ONNX file: torch is not installed"
    cfg = reg.config()
    checked = filecheck.check_files(onnx_in.path, sig, inputs, cfg.rtol, cfg.atol, torchscript=ts)
    report = checked.report
    if not report.passed and not allow_parity_failure:
        raise ParityFailed(
            f"{report.message()}; nothing was pushed",
            hint="re-export the file (a dynamic batch axis, eval mode), loosen [parity] rtol/atol in the registry's "
            "gitreg.toml, or push anyway with --allow-parity-failure, which records passed = false",
            report=report,
        )
    section = report.to_section()
    if skipped:
        section["torchscript"] = skipped
    return register(paths, signature=outputs.settle(sig, checked.prediction), extra_sections={"parity": section})


def eval_x_of(eval_data: Any) -> np.ndarray | None:
    """The X of ``eval_data`` (``(X, y)`` or X alone) as a numeric array; None without eval data."""
    if eval_data is None:
        return None
    x = eval_data[0] if isinstance(eval_data, (tuple, list)) else eval_data
    arr = numeric_array(x, "eval_data X")
    if arr.ndim == 0 or len(arr) == 0:
        raise InputError("eval_data is empty: give (X, y) with at least one row")
    return arr


def parity_inputs(example: tuple[np.ndarray, ...], eval_x: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """The example batch, plus every eval row for single-input models (cast to the example's dtype)."""
    if eval_x is None:
        return example
    if len(example) != 1:
        raise InputError("eval_data works for single-input models; pass several inputs as example_inputs")
    ex = example[0]
    if eval_x.shape[1:] != ex.shape[1:]:
        raise InputError(f"eval_data X has shape {eval_x.shape}; the example inputs have {ex.shape}")
    return (np.concatenate([ex, eval_x.astype(ex.dtype)]),)
