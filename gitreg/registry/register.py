"""``gitreg.push(model, ...)``: export a live model, check parity, then register the files.

``push`` exports into a temporary folder, runs the parity check, and only then hands the files to
``Registry.push_files``: a model that cannot export, or whose artifacts disagree with it, leaves
the registry untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import InputError, ParityFailed
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
    Returns the new :class:`gitreg.ModelVersion`.
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
        paths = [model] if isinstance(model, (str, Path)) else list(model)
        return register(paths)
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
