"""Tables on the way into an export: the columns a model was fitted on, their order and kinds, and how
ONNX takes them.

A scikit-learn model fitted on a pandas DataFrame knows its columns by name (``feature_names_in_``);
an ONNX file knows inputs by position unless each column is an input of its own. This module decides
the layout — one ``[N, 1]`` input per column (text columns, or a ``ColumnTransformer`` that picks
columns by name), else one ``[N, C]`` float input whose column order the signature records — and
turns a frame into the arrays of that layout, refusing a missing column instead of reading another
in its place. numpy only at import; pandas is recognised by duck typing and imported only to build a
frame (:func:`frame_from` for named columns read from a file, :func:`rebuild` for the original model
on the parity inputs). Prediction maps frames to inputs in :mod:`gitreg.ml.predictor` (``arrange``),
from what :meth:`Layout.signature` records. Which models take the table in float64 rather than float32
(:func:`wants_double`: transforms before a tree model) is decided here too; pandas' nullable columns
(``Int64``, ``boolean``) reach the model as floats, ``pd.NA`` as NaN, as scikit-learn reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gitreg.errors import InputError, MissingDependency

__all__ = [
    "TEXT",
    "Column",
    "Layout",
    "frame_from",
    "is_frame",
    "is_nullable",
    "is_tree_model",
    "layout_of",
    "rebuild",
    "wants_double",
]

TEXT = "object"  # the ONNX string tensor, as the signature names its dtype (onnx's numpy name)


# scikit-learn's tree models (a Pipeline of transforms before one gets a double input: wants_double)
TREES = frozenset(
    f"{kind}{task}"
    for kind in ("DecisionTree", "ExtraTree", "RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting")
    for task in ("Classifier", "Regressor")
)
# Transforms whose skl2onnx converters were measured right in double (breast cancer, before a forest:
# 5e-8); Binarizer's is not (0.38), SimpleImputer's and PolynomialFeatures' do not run in onnxruntime.
DOUBLE_TRANSFORMS = frozenset(
    {
        *("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "Normalizer", "PCA", "TruncatedSVD"),
        *("KBinsDiscretizer", "QuantileTransformer", "PowerTransformer"),
        *("SelectKBest", "SelectPercentile", "VarianceThreshold"),
    }
)


def is_tree_model(part: Any) -> bool:
    """A tree ensemble (scikit-learn's trees and forests, gradient boosting, xgboost, lightgbm, catboost)."""
    top = type(part).__module__.split(".")[0]
    return type(part).__name__ in TREES or top in ("xgboost", "lightgbm", "catboost")


def wants_double(model: Any) -> bool:
    """A Pipeline of transforms (:data:`DOUBLE_TRANSFORMS`) before a tree model: fitted on float64, the
    transforms must run in float64, or rounding their results to float32 moves rows across split
    thresholds (StandardScaler + XGBClassifier on breast cancer: probabilities off by 0.35 in float32)."""
    steps = [s for _, s in getattr(model, "steps", None) or [] if s is not None and s != "passthrough"]
    return (
        len(steps) > 1 and is_tree_model(steps[-1]) and all(type(s).__name__ in DOUBLE_TRANSFORMS for s in steps[:-1])
    )


def is_frame(x: Any) -> bool:
    """A pandas DataFrame (duck typing: pandas is never imported for this)."""
    return hasattr(x, "columns") and hasattr(x, "dtypes") and hasattr(x, "iloc")


@dataclass(frozen=True)
class Column:
    """One column of the frame a model was fitted on: its name, the frame's dtype (``float64``,
    ``category``, ``str``…) and what its ONNX input takes (``float32``, ``int64`` or text)."""

    name: str
    dtype: str
    onnx: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "dtype": self.dtype, "onnx": self.onnx}


def column_of(name: str, dtype: Any) -> Column:
    """The :class:`Column` for a frame column of pandas ``dtype``; InputError for dates and the like."""
    shown = str(dtype)
    if shown == "category":
        cats = getattr(dtype, "categories", None)
        kind = np.asarray(cats).dtype if cats is not None else np.dtype(object)
    else:
        try:
            kind = np.dtype(dtype)
        except TypeError:  # pandas' own dtypes: str/string, Int64, boolean...
            numpy_dtype = getattr(dtype, "numpy_dtype", None)
            kind = np.dtype(numpy_dtype) if numpy_dtype is not None else np.dtype(object)
    if kind.kind in "OUS":
        return Column(name, shown, TEXT)
    if is_nullable(dtype) and kind.kind in "iubf":  # pd.NA reaches the model as NaN, as in scikit-learn
        return Column(name, shown, "float32")
    if kind.kind in "iub":
        return Column(name, shown, "int64")
    if kind.kind == "f":
        return Column(name, shown, "float32")
    raise InputError(
        f"column {name!r} has dtype {shown}, which an ONNX model cannot take: convert it to numbers or text "
        "before fitting (e.g. a timestamp as seconds)"
    )


@dataclass(frozen=True)
class Layout:
    """How a frame's columns reach the ONNX graph: ``per_column`` (one ``[N, 1]`` input named after each
    column) or one ``[N, C]`` float input named ``input`` in ``columns`` order."""

    columns: tuple[Column, ...]
    per_column: bool

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def matrix_dtype(self) -> str:
        """The one matrix input's dtype: float64 when :meth:`in_double` made it so, else float32."""
        return "float64" if any(c.onnx == "float64" for c in self.columns) else "float32"

    @property
    def all_float32(self) -> bool:
        return all(c.dtype == "float32" for c in self.columns)

    def in_double(self) -> Layout:
        """This matrix layout with a float64 input (every column a double in the matrix)."""
        return replace(self, columns=tuple(replace(c, onnx="float64") for c in self.columns))

    def arrays(self, frame: Any, what: str = "X", exact: bool = False) -> tuple[np.ndarray, ...]:
        """``frame``'s columns in this layout, matched by name: reordered when the frame's order
        differs, InputError when one is missing (extra columns are left out). ``exact``: the matrix
        in float64 whatever its input's dtype (the values as the frame holds them)."""
        present = [str(c) for c in frame.columns]
        missing = [n for n in self.names if n not in present]
        if missing:
            raise InputError(
                f"{what} has no column(s) {', '.join(map(repr, missing))}; the model was fitted on "
                f"{', '.join(self.names)}"
            )
        by_name = {str(c): c for c in frame.columns}
        wide = exact and not self.per_column
        cols = [_onnx_values(frame[by_name[c.name]], c, what, wide) for c in self.columns]
        if self.per_column:
            return tuple(v.reshape(-1, 1) for v in cols)
        # int64 columns too: the matrix is float
        return (np.column_stack(cols).astype(np.float64 if wide else self.matrix_dtype),)

    def signature(self) -> dict[str, Any]:
        """What the sidecar's ``[signature]`` records: ``columns`` (name, frame dtype, ONNX dtype, in
        the fitted order) and ``layout``."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "layout": "one input per column" if self.per_column else "one matrix input in column order",
        }


def layout_of(frame: Any, model: Any) -> Layout:
    """The layout for a model fitted on ``frame``: the fitted column order (``feature_names_in_``, or a
    CatBoost model's ``feature_names_``) when the model has one, else the frame's; one input per column
    when any column is text or the model holds a ``ColumnTransformer`` (it picks columns by name, which
    skl2onnx resolves by input name), else one float matrix (integer columns cast, as scikit-learn
    itself does; nullable ``Int64``/``boolean`` columns as floats, ``pd.NA`` as NaN)."""
    fitted = getattr(model, "feature_names_in_", None)
    dtypes = {str(c): t for c, t in zip(frame.columns, frame.dtypes)}
    if fitted is None and type(model).__module__.split(".")[0] == "catboost":
        own = [str(n) for n in getattr(model, "feature_names_", None) or []]  # CatBoost matches columns by name
        fitted = own if own and set(own) <= set(dtypes) else None
    names = [str(c) for c in (fitted if fitted is not None else frame.columns)]
    missing = [n for n in names if n not in dtypes]
    if missing:
        raise InputError(
            f"example_inputs have no column(s) {', '.join(map(repr, missing))}; the model was fitted on "
            f"{', '.join(names)}"
        )
    columns = tuple(column_of(n, dtypes[n]) for n in names)
    per_column = any(c.onnx == TEXT for c in columns) or _has_column_transformer(model)
    return Layout(columns, per_column)


def _has_column_transformer(model: Any) -> bool:
    seen = [model]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        try:
            seen += list(get_params(deep=True).values())
        except Exception:  # a third-party estimator with an unusual get_params
            pass
    return any(type(m).__name__ == "ColumnTransformer" for m in seen)


def _onnx_values(column: Any, col: Column, what: str, wide: bool = False) -> np.ndarray:
    """One column (a pandas Series) as its ONNX input's dtype (float64 when ``wide``); a missing value
    of a nullable column (``pd.NA``) as NaN."""
    if col.onnx == TEXT:
        return np.asarray([str(v) for v in np.asarray(column)], dtype=object)
    kind = np.float64 if wide and col.onnx != "int64" else col.onnx
    if is_nullable(getattr(column, "dtype", None)):
        try:
            return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan)).astype(kind)
        except (TypeError, ValueError):
            raise InputError(f"{what} column {col.name!r} holds text; the model takes numbers there") from None
    values = np.asarray(column.to_numpy() if hasattr(column, "to_numpy") else column)
    if values.dtype.kind not in "iufb":
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{what} column {col.name!r} holds text; the model takes numbers there") from None
    if values.dtype.kind == "f" and np.dtype(kind).kind in "iu" and np.isnan(values).any():
        raise InputError(f"{what} column {col.name!r} has missing values; the model takes integers there")
    return values.astype(kind)


def is_nullable(dtype: Any) -> bool:
    """A pandas nullable number or boolean dtype (``Int64``, ``boolean``, ``Float64``…), whose missing
    value ``pd.NA`` numpy cannot hold in an integer or bool array."""
    return any(c.__name__ == "BaseMaskedDtype" for c in type(dtype).__mro__)


def frame_from(columns: Mapping[str, Any]) -> Any:
    """A DataFrame from named 1-D columns (a CSV or Parquet file read by the predictor)."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingDependency("pandas", "tabular", "a table of named columns for a scikit-learn model") from None
    return pd.DataFrame({str(k): np.asarray(v).reshape(-1) for k, v in columns.items()})


def rebuild(xs: Sequence[np.ndarray], layout: Layout, dtypes: Mapping[str, Any]) -> Any:
    """A DataFrame for the original model from arrays in ``layout``, each column back in its fitted
    pandas dtype (``dtypes``), so the model sees what it was fitted on (names, categories, float64)."""
    import pandas as pd

    if layout.per_column:
        data = {c.name: np.asarray(x).reshape(-1) for c, x in zip(layout.columns, xs)}
    else:
        matrix = np.asarray(xs[0])
        data = {c.name: matrix[:, j] for j, c in enumerate(layout.columns)}
    frame = pd.DataFrame(data)
    return frame.astype({n: dtypes[n] for n in layout.names if n in dtypes})
