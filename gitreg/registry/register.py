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
from gitreg.ml.predictor import head, is_frame, rows_in
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
    For files, ``task``, ``class_names`` and ``output_names=[NAME]`` (the graph output that is the
    prediction) override what gitreg reads from the ONNX file, and the inputs of the check are
    ``example_inputs`` and ``eval_data``'s X, or seeded random rows shaped by the signature.
    Returns the new :class:`gitreg.ModelVersion`, with its sidecar.
    """
    from gitreg.ml import export as export_mod
    from gitreg.registry.push import check_metadata

    # Before minutes of export: push_files checks again, for callers that come straight to it.
    classes = {"classes": [str(c) for c in class_names]} if class_names is not None else None
    check_metadata(labels=labels, description=description, params=params, signature=classes)

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
            files=files,
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
        example_inputs = head(eval_x, 16)
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
            prediction_output=prediction_output,
            dynamic=dynamic,
        )
        inputs = parity_inputs(ex.inputs, eval_x, input_specs(ex))
        report = run_parity(ex.runners, ex.reference, inputs, cfg.rtol, cfg.atol, ex.classifier, cfg.tolerance)
        if not report.passed and not allow_parity_failure:
            raise ParityFailed(
                f"{report.message()}; nothing was pushed",
                hint="fix the export, loosen [parity] tolerance in the registry's gitreg.toml, "
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
        inputs = parity_inputs(rows, x, sig.get("inputs")) if x is not None else rows
    else:
        inputs = filecheck.check_inputs(sig, x)
    ts, skipped = None, None
    if "torchscript" in found:
        try:
            ts = filecheck.load_torchscript(found["torchscript"].path)
        except MissingDependency:
            skipped = "not compared with the ONNX file: torch is not installed"
    cfg = reg.config()
    checked = filecheck.check_files(
        onnx_in.path, sig, inputs, cfg.rtol, cfg.atol, torchscript=ts, tolerance=cfg.tolerance
    )
    report = checked.report
    if not report.passed and not allow_parity_failure:
        raise ParityFailed(
            f"{report.message()}; nothing was pushed",
            hint="re-export the file (a dynamic batch axis, eval mode), loosen [parity] tolerance in the registry's "
            "gitreg.toml, or push anyway with --allow-parity-failure, which records passed = false",
            report=report,
        )
    section = report.to_section()
    if skipped:
        section["torchscript"] = skipped
    return register(paths, signature=outputs.settle(sig, checked.prediction), extra_sections={"parity": section})


def eval_x_of(eval_data: Any) -> Any:
    """The X of ``eval_data`` (``(X, y)`` or X alone): an array as a numeric array; a tuple (one array
    per input), a dict keyed by input name or a DataFrame as given. None without eval data."""
    if eval_data is None:
        return None
    x = eval_data[0] if isinstance(eval_data, (tuple, list)) else eval_data
    if isinstance(x, (tuple, list, Mapping)) or is_frame(x):
        if rows_in(x) == 0:
            raise InputError("eval_data is empty: give (X, y) with at least one row")
        return x
    arr = numeric_array(x, "eval_data X")
    if arr.ndim == 0 or len(arr) == 0:
        raise InputError("eval_data is empty: give (X, y) with at least one row")
    return arr


def input_specs(ex: Any) -> list[dict[str, Any]]:
    """The exported model's input specs: the signature's when the exporter gave them (a table's
    ``columns``), else the ONNX file's (names, dtypes, shapes with symbolic axes)."""
    given = ex.signature.get("inputs")
    if given:
        return list(given)
    onnx = next((f for f in ex.files if Path(f).suffix == ".onnx"), None)
    if onnx is None:
        return []
    from gitreg.ml import artifacts

    return list(artifacts.inspect_onnx(Path(onnx)).get("signature", {}).get("inputs", []))


def parity_inputs(
    example: tuple[np.ndarray, ...], eval_x: Any, specs: Sequence[Mapping[str, Any]] | None = None
) -> tuple[np.ndarray, ...]:
    """The example batch plus every eval row (cast to the example's dtypes); the eval rows alone when
    their shapes differ from the example's on a dynamic axis (another sequence length)."""
    if eval_x is None:
        return example
    if isinstance(eval_x, np.ndarray) and len(example) == 1 and eval_x.shape[1:] == example[0].shape[1:]:
        return (np.concatenate([example[0], eval_x.astype(example[0].dtype)]),)
    if not specs:
        if len(example) != 1:
            raise InputError("eval_data for several inputs: give X as a tuple or a dict keyed by input name")
        raise InputError(f"eval_data X has shape {np.shape(eval_x)}; the example inputs have {example[0].shape}")
    from gitreg.ml.predictor import arrange

    # float32 inputs are read as float64 here: the original model sees the rows as given (a model
    # fitted on float64 splits on float64 thresholds), the onnxruntime runners cast to the input's dtype
    wide = [{**s, "dtype": "float64"} if s.get("dtype") == "float32" else s for s in specs]
    rows = arrange(wide, eval_x, "eval_data X")
    if len(rows) != len(example):
        raise InputError(f"eval_data X gives {len(rows)} input(s); the example inputs {len(example)}")
    if all(r.shape[1:] == e.shape[1:] and r.dtype == e.dtype for r, e in zip(rows, example)):
        return tuple(np.concatenate([e, r]) for e, r in zip(example, rows))
    return tuple(
        r.astype(e.dtype) if r.dtype != e.dtype and e.dtype.kind in "fiub" else r for r, e in zip(rows, example)
    )
