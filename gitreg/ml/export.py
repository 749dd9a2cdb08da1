"""Turn a live model into registry artifacts: TorchScript + ONNX for torch, ONNX for scikit-learn.

Every export also hands back *runners*: plain ``numpy -> numpy`` callables for the original model
and each artifact's runtime, which :mod:`gitreg.ml.parity` compares. torch, skl2onnx and
onnxruntime are imported here, lazily, so nothing on the read path pays for them.

The exporters live beside this dispatcher: :mod:`gitreg.ml.export_torch` (TorchScript + ONNX
with torch 2.13's dynamo exporter) and :mod:`gitreg.ml.export_sklearn` (skl2onnx, ``zipmap=False``);
this module holds what they share: :class:`Exported`, the onnxruntime runners, the dispatcher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.errors import InputError, UnsupportedModel
from gitreg.ml.runtime import Exported


def kind_of(model: Any) -> str:
    """``torch``, ``sklearn`` or ``files``, decided without importing either library."""
    if isinstance(model, (str, Path)) or (
        isinstance(model, (list, tuple)) and model and all(isinstance(m, (str, Path)) for m in model)
    ):
        return "files"
    mro = type(model).__mro__
    if any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in mro):
        if any(c.__module__.startswith("torch.jit") for c in mro):
            raise UnsupportedModel(
                "a TorchScript module cannot be exported again: push the original nn.Module, "
                "or save it with torch.jit.save and push the .pt file"
            )
        return "torch"
    if any(c.__module__.startswith("sklearn.") for c in mro) and hasattr(model, "predict"):
        return "sklearn"
    if type(model).__module__.split(".")[0] == "catboost" and hasattr(model, "predict"):
        return "sklearn"  # its scikit-learn API, not a subclass; converted with CatBoost's own ONNX export
    raise UnsupportedModel(
        f"cannot push a {type(model).__module__}.{type(model).__qualname__}: gitreg takes a torch.nn.Module, "
        "a fitted scikit-learn estimator or Pipeline, or paths to .onnx/.pt files"
    )


def export(
    model: Any,
    out_dir: Path,
    example_inputs: Any = None,
    *,
    script: bool = False,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int | Mapping[str, int] | None = None,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
    prediction_output: str | None = None,
    dynamic: Mapping[str, Any] | None = None,
) -> Exported:
    """Export ``model`` into ``out_dir`` (which must exist); see the module docstring. ``opset`` is the
    main ONNX opset, or a dict of domain -> version (``{"": 17, "ai.onnx.ml": 3}``; torch takes the main one)."""
    if task not in (None, "classification", "regression"):
        raise InputError(f"invalid task {task!r}: use classification or regression")
    kind = kind_of(model)
    if kind == "torch":
        from gitreg.ml.export_torch import export_torch

        return export_torch(
            model,
            out_dir,
            example_inputs,
            script=script,
            input_names=input_names,
            output_names=output_names,
            opset=(opset.get("", opset.get("ai.onnx")) if isinstance(opset, Mapping) else opset),
            class_names=class_names,
            task=task,
            prediction_output=prediction_output,
            dynamic=dynamic,
        )
    if dynamic:
        raise InputError("dynamic= is for torch models (a scikit-learn model's only dynamic axis is the batch)")
    if kind == "sklearn":
        from gitreg.ml.export_sklearn import export_sklearn

        return export_sklearn(model, out_dir, example_inputs, opset=opset, class_names=class_names, task=task)
    raise UnsupportedModel("export() takes a model object; push files with Registry.push_files")
