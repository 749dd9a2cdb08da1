"""scikit-learn estimators and pipelines to ONNX with skl2onnx (``zipmap=False``: class probabilities
are a plain float tensor). skl2onnx and scikit-learn are imported inside the function.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import ExportError, InputError, MissingDependency
from gitreg.ml.arrays import numeric_array
from gitreg.ml.runtime import Exported, as_tuple, one_line, ort_runner, plain


def export_sklearn(
    model: Any,
    out_dir: Path,
    example_inputs: Any,
    *,
    opset: int | None = None,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
) -> Exported:
    try:
        import skl2onnx
        from skl2onnx.common.data_types import FloatTensorType
        from sklearn.base import is_classifier
    except ImportError as e:
        raise MissingDependency(e.name or "skl2onnx", "sklearn", "exporting a scikit-learn model") from None
    raw = as_tuple(example_inputs)
    if len(raw) != 1:
        raise InputError("a scikit-learn model needs example_inputs (or eval_data): one 2-D array of samples")
    x = numeric_array(raw[0], "example_inputs", need="a scikit-learn model takes a 2-D numeric array")
    if x.ndim != 2:
        raise InputError(f"scikit-learn example_inputs must be a 2-D numeric array, got shape {x.shape}")
    x = x.astype(np.float32)
    n_features = getattr(model, "n_features_in_", x.shape[1])
    if x.shape[1] != n_features:
        raise InputError(f"example_inputs have {x.shape[1]} features; the model was fitted on {n_features}")
    classifier = is_classifier(model)
    proba = classifier and hasattr(model, "predict_proba")
    try:
        onx = skl2onnx.convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, int(n_features)]))],
            options={id(model): {"zipmap": False}} if classifier else None,
            target_opset=opset,
        )
    except Exception as e:
        msg = one_line(e)
        if "shape calculator" in msg or "MissingShapeCalculator" in type(e).__name__:
            msg = "skl2onnx has no converter for it"
        raise ExportError(
            f"skl2onnx cannot convert {type(model).__name__}: {msg}; nothing was pushed",
            hint="see skl2onnx's supported estimators, or export to ONNX yourself and push the .onnx file",
        ) from None
    onnx_path = out_dir / "model.onnx"
    onnx_path.write_bytes(onx.SerializeToString())
    outputs = [o.name for o in onx.graph.output]

    if proba:
        out_index = outputs.index("probabilities") if "probabilities" in outputs else len(outputs) - 1

        def original(xs: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict_proba(xs))
    else:
        out_index = 0

        def original(xs: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict(xs))

    classes = class_names if class_names is not None else getattr(model, "classes_", None)
    sig: dict[str, Any] = {
        "task": task or ("classification" if classifier else "regression"),
        "output": "probabilities" if proba else ("labels" if classifier else "values"),
    }
    if classes is not None:
        sig["classes"] = [plain(c) for c in classes]
    import sklearn

    return Exported(
        framework="sklearn",
        files=[onnx_path],
        inputs=(x,),
        reference="sklearn",
        runners={"sklearn": original, "onnxruntime": ort_runner(onnx_path, out_index)},
        signature=sig,
        artifact_info={
            "onnx": {"exporter": f"skl2onnx {skl2onnx.__version__} scikit-learn {sklearn.__version__} (zipmap=False)"}
        },
    )


