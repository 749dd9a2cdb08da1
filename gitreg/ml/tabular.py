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
from what :meth:`Layout.signature` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gitreg.errors import InputError, MissingDependency

__all__ = ["TEXT", "Column", "Layout", "frame_from", "is_frame", "layout_of", "rebuild"]

TEXT = "object"  # the ONNX string tensor, as the signature names its dtype (onnx's numpy name)


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

    def arrays(self, frame: Any, what: str = "X") -> tuple[np.ndarray, ...]:
        """``frame``'s columns in this layout, matched by name: reordered when the frame's order
        differs, InputError when one is missing (extra columns are left out)."""
        present = [str(c) for c in frame.columns]
        missing = [n for n in self.names if n not in present]
        if missing:
            raise InputError(
                f"{what} has no column(s) {', '.join(map(repr, missing))}; the model was fitted on "
                f"{', '.join(self.names)}"
            )
        by_name = {str(c): c for c in frame.columns}
        cols = [_onnx_values(frame[by_name[c.name]].to_numpy(), c, what) for c in self.columns]
        if self.per_column:
            return tuple(v.reshape(-1, 1) for v in cols)
        return (np.column_stack(cols).astype(np.float32),)  # int64 columns too: the matrix is float

    def signature(self) -> dict[str, Any]:
        """What the sidecar's ``[signature]`` records: ``columns`` (name, frame dtype, ONNX dtype, in
        the fitted order) and ``layout``."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "layout": "one input per column" if self.per_column else "one matrix input in column order",
        }


def layout_of(frame: Any, model: Any) -> Layout:
    """The layout for a model fitted on ``frame``: the fitted column order (``feature_names_in_``) when
    the model has one, else the frame's; one input per column when any column is text or the model
    holds a ``ColumnTransformer`` (it picks columns by name, which skl2onnx resolves by input name),
    else one float matrix (integer columns cast, as scikit-learn itself does)."""
    fitted = getattr(model, "feature_names_in_", None)
    names = [str(c) for c in (fitted if fitted is not None else frame.columns)]
    dtypes = {str(c): t for c, t in zip(frame.columns, frame.dtypes)}
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


def _onnx_values(values: np.ndarray, col: Column, what: str) -> np.ndarray:
    if col.onnx == TEXT:
        return np.asarray([str(v) for v in values], dtype=object)
    if values.dtype.kind not in "iufb":
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{what} column {col.name!r} holds text; the model takes numbers there") from None
    return values.astype(col.onnx)


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
