"""scikit-learn estimators and pipelines to ONNX with skl2onnx (``zipmap=False``: class probabilities
are a plain float tensor). skl2onnx and scikit-learn are imported inside the functions.

Beyond skl2onnx's own converters: xgboost and lightgbm models (their scikit-learn APIs) convert with
onnxmltools' converters, registered here when such a model is pushed (``gitreg[boosting]``); CatBoost
models with CatBoost's own ONNX export (``catboost.utils.convert_to_onnx_object``: its one tree-ensemble
node is copied into skl2onnx's graph, so a CatBoost model at the end of a Pipeline converts too); the
``ai.onnx.ml`` opset is lowered to what a converter supports when it says so; a model fitted on a
DataFrame gets the columns' layout of :mod:`gitreg.ml.tabular` (one input per column for text or a
``ColumnTransformer``) and the signature records the columns. Parity runs the original model on the
rows as given (float64) and onnxruntime on their cast to its input dtype, as ``load().predict`` does;
a Pipeline whose transforms feed a tree model, fitted on float64, gets a double input (the transforms
run in float64, a Cast to float32 sits in front of the tree ensemble), since transforms rounded to
float32 move rows across split thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import ExportError, InputError, MissingDependency
from gitreg.ml import converters, tabular
from gitreg.ml.arrays import numeric_array
from gitreg.ml.parity import sliced
from gitreg.ml.runtime import Exported, as_tuple, holding, one_line, ort_runner, ort_session, plain, resource_of

# Libraries whose scikit-learn-API models skl2onnx converts only with onnxmltools' converters.
ML_OPSET_HINT = re.compile(r"target_opset=\{'ai\.onnx\.ml': (\d+)\}")


def export_sklearn(
    model: Any,
    out_dir: Path,
    example_inputs: Any,
    *,
    opset: int | Mapping[str, int] | None = None,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
) -> Exported:
    """Convert ``model`` with skl2onnx into ``out_dir/model.onnx``; :class:`Exported` with the sklearn
    and onnxruntime runners. ``opset`` is the main opset (int) or a dict of domain -> version
    (``{"": 17, "ai.onnx.ml": 3}``). Raises ExportError (one line, root cause kept), InputError,
    MissingDependency."""
    try:
        import skl2onnx
        import sklearn
        from sklearn.base import is_classifier
    except ImportError as e:
        raise MissingDependency(e.name or "skl2onnx", "sklearn", "exporting a scikit-learn model") from None
    raw = as_tuple(example_inputs)
    if len(raw) != 1:
        raise InputError("a scikit-learn model needs example_inputs (or eval_data): one 2-D array or DataFrame")
    converters.register_boosting(model)
    converters.register_catboost(model)
    first = raw[0]
    if isinstance(first, Mapping) and not tabular.is_frame(first):  # named columns read from a file
        first = tabular.frame_from(first)
    names = getattr(model, "feature_names_in_", None)
    if names is not None and not tabular.is_frame(first):  # fitted on a DataFrame, shown an array
        arr = numeric_array(first, "example_inputs", need="give a DataFrame with the columns the model was fitted on")
        if arr.ndim == 2 and arr.shape[1] == len(names):
            first = tabular.frame_from({str(n): arr[:, j] for j, n in enumerate(names)})
    if tabular.is_frame(first):
        frame = first
        fitted = tabular.layout_of(frame, model)
        if not fitted.per_column and tabular.wants_double(model) and not fitted.all_float32:
            fitted = fitted.in_double()
        layout: tabular.Layout | None = fitted
        # the matrix in float64: the original model sees the frame's own values, onnxruntime their cast
        inputs = fitted.arrays(frame, "example_inputs", exact=True)
        if fitted.per_column:
            initial = [(c.name, _tensor_type(c.onnx, 1)) for c in fitted.columns]
        else:
            initial = [("input", _tensor_type(fitted.matrix_dtype, len(fitted.columns)))]
        dtypes = {str(c): t for c, t in zip(frame.columns, frame.dtypes)}

        def as_model_input(*xs: np.ndarray) -> Any:
            return tabular.rebuild(xs, fitted, dtypes)
    else:
        layout = None
        x = numeric_array(first, "example_inputs", need="give a 2-D numeric array or a pandas DataFrame")
        if x.ndim != 2:
            raise InputError(f"scikit-learn example_inputs must be a 2-D array or a DataFrame, got shape {x.shape}")
        n_features = getattr(model, "n_features_in_", x.shape[1])
        if x.shape[1] != n_features:
            raise InputError(f"example_inputs have {x.shape[1]} features; the model was fitted on {n_features}")
        # float64 data and transforms before a tree model: a double input (see wants_double)
        kind = "float64" if x.dtype != np.float32 and tabular.wants_double(model) else "float32"
        # the parity rows in float64, exactly as given: the original model sees the user's values and
        # onnxruntime their cast to its input dtype, as load().predict(x) does
        inputs = (x.astype(np.float64),)
        initial = [("input", _tensor_type(kind, int(n_features)))]

        def as_model_input(*xs: np.ndarray) -> Any:
            # float64 also for float32 rows (exact), the dtype a float64-fitted estimator needs
            # (KMeans: "Buffer dtype mismatch ... got double")
            return np.asarray(xs[0], dtype=np.float64)

    classifier = is_classifier(model)
    labels_only = _labels_only(model)
    proba = classifier and hasattr(model, "predict_proba")
    to_convert = converters.without_xgboost_names(model)
    options = {id(to_convert): {"zipmap": False}} if classifier else None
    predict: Callable[..., Any] = model.predict_proba if proba else model.predict

    def original(*xs: np.ndarray) -> np.ndarray:
        return np.asarray(predict(as_model_input(*xs)))

    onx = None
    if any(type(t).__name__ == "DoubleTensorType" for _, t in initial):
        converters.float_trees(to_convert)
        onx = _double_if_faithful(skl2onnx, to_convert, initial, options, opset, original, inputs, proba)
        if onx is None:  # a transform without a (correct) double converter: float32 as before
            initial = [(n, _tensor_type("float32", t.shape[1])) if n == "input" else (n, t) for n, t in initial]
            layout = layout if layout is None else tabular.layout_of(first, model)
    if onx is None:
        onx = convert(skl2onnx, to_convert, initial, options, opset)
    onnx_path = out_dir / "model.onnx"
    onnx_path.write_bytes(onx.SerializeToString())
    out_index = _out_index(onx, proba)

    classes = class_names if class_names is not None else getattr(model, "classes_", None)
    if classes is None and labels_only:
        classes = _cluster_labels(model)
    sig: dict[str, Any] = {
        "task": task or ("classification" if classifier or labels_only else "regression"),
        "output": "probabilities" if proba else ("labels" if classifier or labels_only else "values"),
    }
    if classes is not None:
        sig["classes"] = [plain(c) for c in classes]
    if layout is not None:
        sig.update(layout.signature())
        if not layout.per_column:  # the predictor maps a frame's columns onto the matrix by these names
            from gitreg.ml.artifacts import describe_onnx

            described = describe_onnx(onx)["signature"]["inputs"]
            sig["inputs"] = [{**described[0], "columns": layout.names}]
    versions = f"skl2onnx {skl2onnx.__version__} scikit-learn {sklearn.__version__}"
    for lib in converters.libraries(model):
        versions += f" {lib} {converters.version_of(lib)}"
    # one session for both runs, made from the file when parity reaches it and released after
    session = ort_runner(onnx_path, out_index, lazy=True)
    ort = holding(_cast_for(onx, session), resource_of(session))
    return Exported(
        framework="sklearn",
        files=[onnx_path],
        inputs=tuple(inputs),
        reference="sklearn",
        runners={
            "sklearn": original,
            "onnxruntime": ort,
            "onnxruntime_sliced": sliced(ort),
        },
        signature=sig,
        artifact_info={"onnx": {"exporter": f"{versions} (zipmap=False)"}},
    )


def _tensor_type(kind: str, width: int) -> Any:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType

    cls = {
        "float32": FloatTensorType,
        "float64": DoubleTensorType,
        "int64": Int64TensorType,
        tabular.TEXT: StringTensorType,
    }[kind]
    return cls([None, width])


def _out_index(onx: Any, proba: bool) -> int:
    outputs = [o.name for o in onx.graph.output]
    return (outputs.index("probabilities") if "probabilities" in outputs else len(outputs) - 1) if proba else 0


def _double_if_faithful(
    skl2onnx: Any, model: Any, initial: list[Any], options: Any, opset: Any, original: Any, xs: Any, proba: bool
) -> Any:
    """The double-input conversion, or None when it fails, onnxruntime cannot run it (no double
    Imputer; PolynomialFeatures' Concat) or it disagrees with the model on the example rows where
    float32 would not (skl2onnx's double Binarizer is wrong: 0.38 on breast cancer probabilities)."""
    try:
        onx = convert(skl2onnx, model, initial, options, opset)
        session = ort_session(onx.SerializeToString())
        index = _out_index(onx, proba)

        def run(*arrays: np.ndarray) -> np.ndarray:
            return np.asarray(session.run(None, {i.name: a for i, a in zip(session.get_inputs(), arrays)})[index])

        got = _cast_for(onx, run)(*xs)
        want = original(*xs)
        scale = max(1.0, float(np.abs(want).max(initial=0.0)))
        if np.shape(got) != np.shape(want) and np.size(got) == np.size(want):
            got = np.reshape(got, np.shape(want))
        return onx if float(np.abs(np.asarray(got, np.float64) - want).max(initial=0.0)) <= 1e-5 * scale else None
    except Exception:  # any failure of the double path means float32, as before
        return None


def _cast_for(onx: Any, run: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``run`` with each numeric array cast to the ONNX input's dtype first (the predictor's cast)."""
    from onnx.helper import tensor_dtype_to_np_dtype

    dtypes = [tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type) for i in onx.graph.input]

    def cast(*xs: np.ndarray) -> np.ndarray:
        return run(
            *(
                x.astype(d) if x.dtype != d and x.dtype.kind in "fiub" and d.kind in "fiub" else x
                for x, d in zip(xs, dtypes)
            )
        )

    cast.resource = getattr(run, "resource", None)  # type: ignore[attr-defined]  # the session the parity check frees
    return cast


def target_opset(opset: int | Mapping[str, int] | None, ml: int | None = None) -> int | dict[str, int] | None:
    """skl2onnx's ``target_opset``: None (its default), the main opset, or a domain -> version dict
    (``ai.onnx`` may be spelled ``""``); ``ml`` sets ``ai.onnx.ml`` unless the caller did."""
    if isinstance(opset, Mapping):
        out = {("" if k == "ai.onnx" else str(k)): int(v) for k, v in opset.items()}
    elif opset is None:
        if ml is None:
            return None
        import skl2onnx
        from onnx.defs import onnx_opset_version

        out = {"": min(onnx_opset_version(), int(skl2onnx.get_latest_tested_opset_version()))}
    else:
        out = {"": int(opset)}
    if ml is not None:
        out.setdefault("ai.onnx.ml", ml)
    if set(out) == {""} and not isinstance(opset, Mapping):
        return out[""]
    return out


def convert(skl2onnx: Any, model: Any, initial: list[Any], options: Any, opset: int | Mapping[str, int] | None) -> Any:
    """``skl2onnx.convert_sklearn``; when a converter asks for an older ``ai.onnx.ml`` (IsolationForest,
    HistGradientBoosting and onnxmltools' tree converters do), once more with that version."""
    import warnings

    ml: int | None = None
    for _ in range(2):
        try:
            with warnings.catch_warnings():
                # protobuf 6 on what skl2onnx's tree converters write (a bool in an int list): a warning
                # here, an error under protobuf 7 (hence the pin); nothing the user can act on
                warnings.filterwarnings("ignore", message="Field onnx.AttributeProto", category=DeprecationWarning)
                return skl2onnx.convert_sklearn(
                    model, initial_types=initial, options=options, target_opset=target_opset(opset, ml)
                )
        except Exception as e:
            asked = ML_OPSET_HINT.search(str(e))
            if asked and ml is None and not (isinstance(opset, Mapping) and "ai.onnx.ml" in opset):
                ml = int(asked.group(1))
                continue
            raise export_error(model, e) from None
    raise AssertionError("unreachable")  # pragma: no cover


def export_error(model: Any, e: BaseException) -> ExportError:
    name = type(model).__name__
    msg = one_line(e)[:300]
    missing = "shape calculator" in msg or type(e).__name__ in ("MissingShapeCalculator", "MissingConverter")
    if missing:
        unknown = _unconvertible(model)
        what = f"{unknown} ({_module_of(unknown, model)})" if unknown and unknown != name else name
        return ExportError(
            f"skl2onnx cannot convert {name}: skl2onnx has no converter for {'it' if what == name else what}; "
            "nothing was pushed",
            hint="xgboost and lightgbm models need pip install 'gitreg[boosting]'; for other estimators see "
            "skl2onnx's supported list, or export to ONNX yourself and push the .onnx file",
        )
    cause = _root_cause(e)
    hint = "see skl2onnx's supported estimators and options, or export to ONNX yourself and push the .onnx file"
    if cause is not None:
        msg += f" (caused by {type(cause).__name__}: {one_line(cause)[:300]})"
        if "AttributeProto" in str(cause) and "got a boolean" in str(cause):
            hint = "protobuf 7 rejects what skl2onnx writes here: pip install 'protobuf<7' (gitreg[sklearn] pins it)"
    return ExportError(f"skl2onnx cannot convert {name}: {msg}; nothing was pushed", hint=hint)


def _root_cause(e: BaseException) -> BaseException | None:
    """The innermost exception ``e`` was raised from (or while handling), if any."""
    seen: list[BaseException] = [e]
    cur: BaseException | None = e
    while cur is not None and len(seen) < 10:
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
        if cur is not None and cur not in seen:
            seen.append(cur)
    return seen[-1] if len(seen) > 1 else None


def _unconvertible(model: Any) -> str | None:
    """The class name of the first part of ``model`` skl2onnx has no converter for, if it can tell."""
    try:
        from skl2onnx._supported_operators import sklearn_operator_name_map
    except ImportError:  # pragma: no cover - skl2onnx moved it
        return None
    for part in converters.parts(model):
        if type(part) not in sklearn_operator_name_map:
            return type(part).__name__
    return None


def _module_of(class_name: str, model: Any) -> str:
    part = next(p for p in converters.parts(model) if type(p).__name__ == class_name)
    return type(part).__module__.split(".")[0]


def _labels_only(model: Any) -> bool:
    """A clusterer or outlier detector: its ``predict`` gives labels (cluster ids, -1/1), not values."""
    from sklearn.base import is_outlier_detector

    try:
        from sklearn.base import is_clusterer
    except ImportError:  # scikit-learn < 1.6
        return bool(is_outlier_detector(model) or getattr(model, "_estimator_type", None) == "clusterer")
    return bool(is_outlier_detector(model) or is_clusterer(model))


def _cluster_labels(model: Any) -> list[int] | None:
    from sklearn.base import is_outlier_detector

    if is_outlier_detector(model):
        return [-1, 1]
    n = getattr(model, "n_clusters", None)
    return list(range(int(n))) if isinstance(n, int) else None
