"""Run a registered model: an onnxruntime session behind ``predict``/``predict_proba``, and input checks.

Inputs are checked against the sidecar's signature before onnxruntime sees them, because
onnxruntime's own errors (``INVALID_ARGUMENT ... index: 1 Got: 63 Expected: 64``) do not say what
to do. Numeric arrays are cast to the signature's dtype: numpy's float64 default meets float32
models all the time, and the cast is what every user would write by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gitreg.errors import InputError, UsageError
from gitreg.ml import outputs
from gitreg.ml.arrays import as_array, numeric_array
from gitreg.ml.tabular import is_nullable

TEXT_DTYPES = ("object", "str")  # onnx string tensors, as the signature names them


def check_input(x: Any, spec: Mapping[str, Any], what: str = "X") -> np.ndarray:
    """``x`` as an array of ``spec``'s dtype, or an InputError saying how it does not fit."""
    dtype = spec.get("dtype")
    if dtype in TEXT_DTYPES:  # a string input (scikit-learn's categorical columns)
        arr = as_array(x, what)
        arr = arr.astype(object) if arr.dtype.kind in "US" else arr
    else:
        arr = numeric_array(x, what, need=f"the model takes {dtype or 'numbers'}")
    shape = list(spec.get("shape") or [])
    if shape and arr.ndim == len(shape) - 1 and shape[-1] == 1 and arr.ndim >= 1:
        arr = arr.reshape(*arr.shape, 1)  # one column of a table for an [N, 1] input
    if shape and arr.ndim != len(shape):
        want = "(" + ", ".join(str(d) for d in shape) + ")"
        hint = " (for one sample use X.reshape(1, -1))" if arr.ndim == len(shape) - 1 else ""
        raise InputError(f"{what} has shape {arr.shape}; the model takes {len(shape)}-D input {want}{hint}")
    for axis, (got, want) in enumerate(zip(arr.shape, shape)):
        if isinstance(want, int) and got != want:
            if axis == 0:
                raise InputError(
                    f"{what} has {got} rows; the model was exported with a fixed batch of {want} (axis 0 is not "
                    "dynamic: a batch size baked in at export; push it again with a dynamic batch axis)"
                )
            floats = str(dtype or "").startswith("float")
            noun = "features" if axis == 1 and len(shape) == 2 and floats else f"entries on axis {axis}"
            raise InputError(f"{what} has {got} {noun}; the model takes {want} (shape {arr.shape})")
    if arr.size == 0:
        raise InputError(f"{what} is empty")
    if dtype and dtype not in TEXT_DTYPES:
        try:
            target = np.dtype(dtype)
        except TypeError:
            target = None
        if target is not None and arr.dtype != target:
            if target.kind in "iu" and arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
                raise InputError(f"{what} has fractional values; the model takes {dtype} (token ids, indices)")
            arr = arr.astype(target)
    return np.ascontiguousarray(arr)


def is_frame(x: Any) -> bool:
    """A pandas DataFrame (duck typing: pandas is never imported)."""
    return hasattr(x, "columns") and hasattr(x, "to_numpy") and hasattr(x, "iloc")


class Columns(dict[str, Any]):
    """A table read from a file, column name -> 1-D array, in the file's order. ``np.asarray`` stacks
    it into a matrix; :func:`arrange` maps its columns to inputs by name."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = np.column_stack(list(self.values())) if self else np.zeros((0, 0))
        return arr.astype(dtype) if dtype is not None else arr


class NamedMatrix(np.ndarray):
    """A matrix of numbers read from a file with a header row: an ndarray whose ``columns`` name its
    columns, so :func:`arrange` can map them to inputs (or to a signature's ``columns``) by name."""

    columns: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: np.ndarray, columns: Sequence[str]) -> NamedMatrix:
        out = np.asarray(data).view(cls)
        out.columns = tuple(columns)
        return out

    def __array_finalize__(self, obj: Any) -> None:
        self.columns = getattr(obj, "columns", ())

    def table(self) -> Columns:
        plain = np.asarray(self).view(np.ndarray)
        return Columns((c, plain[:, j]) for j, c in enumerate(self.columns))


def arrange(specs: Sequence[Mapping[str, Any]], given: Any, what: str = "X") -> tuple[np.ndarray, ...]:
    """The model's inputs in its order, each checked against its spec (:func:`check_input`), from one
    array (one input), a tuple/list (several, in order), a dict keyed by input name (an .npz's arrays),
    or a table (a DataFrame or :class:`Columns`): columns feed the inputs of their names (one input per
    column), or the single 2-D input in the order the signature's ``columns`` records (reordered by
    name; a missing column is an error, never a silent misread), else in the table's own order.
    Symbolic axes (``N``, a sequence length) must agree across inputs."""
    specs = list(specs) or [{}]
    names = [str(s.get("name") or f"input_{i}") for i, s in enumerate(specs)]
    if is_frame(given):
        given = Columns(
            # a nullable column (Int64, boolean with pd.NA) reaches the model as floats, NA as NaN
            (
                str(c),
                given[c].to_numpy(dtype=np.float64, na_value=np.nan)
                if is_nullable(getattr(given[c], "dtype", None))
                else given[c].to_numpy(),
            )
            for c in given.columns
        )
    elif isinstance(given, NamedMatrix) and given.ndim == 2 and len(given.columns) == given.shape[1]:
        given = given.table() if len(specs) > 1 or specs[0].get("columns") else np.asarray(given).view(np.ndarray)
    xs: tuple[Any, ...]
    if isinstance(given, Mapping):
        xs = _by_name(specs, names, given)
    elif isinstance(given, (tuple, list)) and len(specs) > 1:
        xs = tuple(given)
    else:
        xs = (given,)
    if len(xs) != len(specs):
        raise InputError(f"the model takes {len(specs)} input(s) ({', '.join(names)}), got {len(xs)}")
    labels = [what] if len(specs) == 1 else [f"input {n!r}" for n in names]
    out = tuple(check_input(x, s, w) for x, s, w in zip(xs, specs, labels))
    seen: dict[str, tuple[int, str, int]] = {}
    for arr, spec, label in zip(out, specs, labels):
        for axis, sym in enumerate(spec.get("shape") or ["N"]):
            if axis >= arr.ndim or isinstance(sym, int) or sym in ("?", ""):
                continue
            if sym in seen and seen[sym][0] != arr.shape[axis]:
                size, other, other_axis = seen[sym]
                if axis == 0:
                    raise InputError(
                        f"{label} has {arr.shape[0]} rows but {other} has {size}: give each input the same rows"
                    )
                raise InputError(
                    f"{label} has {arr.shape[axis]} on axis {axis} ({sym}) but {other} has {size} on axis "
                    f"{other_axis}: the model takes the same {sym} for both"
                )
            seen.setdefault(str(sym), (arr.shape[axis], label, axis))
    return out


def _by_name(specs: Sequence[Mapping[str, Any]], names: list[str], given: Mapping[str, Any]) -> tuple[Any, ...]:
    keys = [str(k) for k in given]
    if len(specs) == 1:
        if len(keys) == 1 and keys[0] in (names[0], "X"):
            return (given[keys[0]],)
        cols = [str(c.get("name") if isinstance(c, Mapping) else c) for c in specs[0].get("columns") or []]
        if not isinstance(given, Columns) and not cols:
            raise InputError(f"the model's input is {names[0]!r}; got {', '.join(keys)} (name it {names[0]!r} or X)")
        if cols:
            missing = [c for c in cols if c not in given]
            if missing:
                raise InputError(
                    f"the data has no column(s) {', '.join(map(repr, missing))} (the model takes "
                    f"{', '.join(map(str, cols))})"
                )
            return (np.column_stack([np.asarray(given[c]) for c in cols]),)
        return (np.asarray(given),)
    missing = [n for n in names if n not in given]
    if missing:
        raise InputError(
            f"no data for input(s) {', '.join(map(repr, missing))}: the model takes {', '.join(names)} "
            f"(got {', '.join(keys)})"
        )
    extra = [k for k in keys if k not in names]
    if extra and not isinstance(given, Columns):
        raise InputError(f"{', '.join(map(repr, extra))} is not an input of the model (it takes {', '.join(names)})")
    return tuple(given[n] for n in names)


def rows_in(x: Any) -> int:
    """Rows of an array, of a tuple/dict's first array, or of a DataFrame."""
    if isinstance(x, Mapping):
        x = next(iter(x.values()), None)
    elif isinstance(x, (tuple, list)) and x and not np.isscalar(x[0]):
        x = x[0]
    return len(x) if x is not None and hasattr(x, "__len__") else 0


def head(x: Any, n: int) -> Any:
    """The first ``n`` rows of an array, a tuple/dict of arrays, or a DataFrame."""
    if isinstance(x, Mapping):
        return {k: v[:n] for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(v[:n] for v in x)
    return x[:n]


def run_error(e: BaseException, ref: str | None = None) -> InputError:
    """onnxruntime's refusal of an input (``[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid
    dimensions for input: x ...``) as one line naming the input and axis."""
    text = " ".join(str(e).split())
    text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", text)
    m = re.search(
        r"invalid dimensions for input: (\S+) for the following indices index: (\d+) Got: (\d+) Expected: (\d+)", text
    )
    who = ref or "the model"
    if m:
        name, axis, got, want = m.groups()
        extra = " (a batch size baked in at export: push it again with a dynamic batch axis)" if axis == "0" else ""
        return InputError(f"input {name!r} has {got} on axis {axis}; {who} takes {want}{extra}")
    return InputError(f"onnxruntime could not run {who} on this input: {text[:300]}")


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def probabilities(signature: Mapping[str, Any], scores: np.ndarray, what: str = "this classifier") -> np.ndarray:
    """Class probabilities from the prediction output: as they are when its kind is ``probabilities``
    (or, unrecorded, every row already is a distribution), softmax over ``logits``; UsageError for a
    classifier that gives labels or decision scores only."""
    kind = signature.get("output")
    if kind == "labels" or scores.ndim != 2:
        raise UsageError(f"{what} has no probability output (it predicts labels only)")
    if kind == "scores":
        raise UsageError(
            f"{what} gives decision scores, not probabilities (its rows do not sum to 1)",
            hint="re-export with probabilities (scikit-learn: an estimator with predict_proba)",
        )
    if kind == "probabilities" or (kind is None and outputs.looks_like_probabilities(scores)):
        return scores
    return softmax(scores.astype(np.float64))


class Predictor:
    """A registered model under onnxruntime: ``predict``, ``predict_proba``, and the raw ``session``.

    ``version`` is the version string (``"1.2.0"``), ``model_version`` the :class:`gitreg.ModelVersion`
    it came from (with its sidecar). ``signature`` is the sidecar's, with what the outputs tell
    filled in for versions pushed before gitreg recorded it (:func:`gitreg.ml.outputs.complete`).
    """

    def __init__(self, session: Any, signature: Mapping[str, Any], model_version: Any = None) -> None:
        self.session = session
        self.signature = outputs.complete(signature)
        self.model_version = model_version
        self._inputs = [i.name for i in session.get_inputs()]
        self._outputs = [o.name for o in session.get_outputs()]
        specs = {s.get("name"): s for s in self.signature.get("inputs", [])}
        self._specs = [specs.get(n, {}) for n in self._inputs]
        self._zipmap_classes: list[Any] | None = None
        self.files: dict[str, Any] = {}  # extra files stored with the version: name -> local path

    def __repr__(self) -> str:
        ref = getattr(self.model_version, "ref", None)
        return f"Predictor({ref or 'onnx'}, inputs={self._inputs}, outputs={self._outputs})"

    @property
    def version(self) -> str | None:
        """The version string, e.g. ``"1.2.0"`` (None for a Predictor built by hand)."""
        return getattr(self.model_version, "version", None)

    @property
    def classes(self) -> list[Any] | None:
        """Class labels in probability-column order: the signature's, else a ZipMap output's keys once run."""
        return self.signature.get("classes") or self._zipmap_classes

    @property
    def task(self) -> str | None:
        return self.signature.get("task")

    def arrange(self, *xs: Any) -> tuple[np.ndarray, ...]:
        """The inputs in the model's order, checked: one array, several in order, one tuple/list, a
        dict keyed by input name, or a DataFrame (see :func:`arrange`)."""
        specs = [{**s, "name": n} for n, s in zip(self._inputs, self._specs)]
        return arrange(specs, xs[0] if len(xs) == 1 else xs)

    def feed(self, *xs: Any) -> dict[str, np.ndarray]:
        return dict(zip(self._inputs, self.arrange(*xs)))

    def run(self, *xs: Any) -> dict[str, np.ndarray]:
        """Every output by name, for one vectorised batch (a ZipMap output as an ``[N, C]`` array)."""
        feed = self.feed(*xs)
        try:
            outs = self.session.run(None, feed)
        except Exception as e:
            raise run_error(e, getattr(self.model_version, "ref", None)) from None
        classes = self.signature.get("classes")
        rows = len(next(iter(feed.values())))
        result = {}
        for name, value in zip(self._outputs, outs):
            if isinstance(value, np.ndarray) and value.ndim and len(value) != rows and rows > 1:
                raise InputError(
                    f"{len(value)} output rows ({name}) for {rows} input rows: the model's batch axis is fixed "
                    f"(e.g. a reshape(2, -1)); give {len(value)} rows at a time or push it again with a dynamic batch"
                )
            if outputs.is_zipmap(value) and value and not classes and self._zipmap_classes is None:
                self._zipmap_classes = list(value[0])
            result[name] = outputs.as_array(value, classes)
        return result

    def predict(self, *xs: Any) -> np.ndarray:
        """Class labels for a classifier (mapped through ``classes`` when known), values otherwise.

        ``xs``: one array per input, or one tuple, dict keyed by input name, or DataFrame (:func:`arrange`)."""
        outs = self.run(*xs)
        if self.task == "classification":
            labels = outputs.labels_of(self.signature, outs)
            if labels is not None:
                return labels
            scores = outputs.prediction_of(self.signature, outs)
            idx = scores.argmax(axis=1)
            classes = self.classes
            return np.asarray(classes)[idx] if classes else idx
        first = outputs.prediction_of(self.signature, outs)
        return first.reshape(len(first)) if first.ndim == 2 and first.shape[1] == 1 else first

    def predict_proba(self, *xs: Any) -> np.ndarray:
        """Class probabilities: the model's own when it gives probabilities (never transformed),
        softmax over logits (torch classifiers)."""
        if self.task != "classification":
            raise UsageError(
                f"predict_proba needs a classifier; this model's task is {self.task}",
                hint="a classifier pushed as a file without a task: push it again (a new version) "
                "with --task classification",
            )
        if self.signature.get("output") == "labels":
            raise UsageError("this classifier has no probability output (its estimator has no predict_proba)")
        outs = self.run(*xs)
        return probabilities(self.signature, outputs.prediction_of(self.signature, outs))

    __call__ = predict


def read_array_file(path: str, target: str | None = None) -> tuple[Any, np.ndarray | None]:
    """``X`` (and ``y`` when present) from .npy, .npz, .csv or .parquet; never unpickles.

    An .npz gives ``X`` (and ``y``), or one array per input name (a dict, plus ``y``); a .csv with a
    header row and a .parquet file give :class:`Columns` (``target`` names the label column), which
    :func:`arrange` maps to the model's inputs by name; a .csv of numbers alone gives a matrix.
    """
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise InputError(f"data file not found: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False), None
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                keys: Sequence[str] = list(z.keys())
                y = z["y"] if "y" in keys else None
                if "X" in keys:
                    return z["X"], y
                rest = [k for k in keys if k != "y"]
                if len(rest) == 1:
                    return z[rest[0]], y
                if not rest:
                    raise InputError(f"{path} holds only y: add X (or one array per input name)")
                return {k: z[k] for k in rest}, y
        if suffix == ".csv":
            return _split(_read_csv(p), target, p)
        if suffix in (".parquet", ".pq"):
            return _split(_read_parquet(p), target, p)
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    raise InputError(f"unsupported data file {path}: use .npy, .npz (X, y or one array per input), .csv or .parquet")


def _split(table: Any, target: str | None, p: Any) -> tuple[Any, np.ndarray | None]:
    """``(X, y)`` from a table: the ``target`` column taken out."""
    if target is None:
        return table, None
    if isinstance(table, NamedMatrix):
        if target not in table.columns:
            raise InputError(f"{p} has no column {target!r} (columns: {', '.join(table.columns)})")
        j = table.columns.index(target)
        plain = np.asarray(table).view(np.ndarray)
        return NamedMatrix.of(np.delete(plain, j, axis=1), [c for c in table.columns if c != target]), plain[:, j]
    if isinstance(table, np.ndarray):
        raise InputError(f"{p} has no header row: name its columns to use --target {target}")
    if target not in table:
        raise InputError(f"{p} has no column {target!r} (columns: {', '.join(table)})")
    y = table[target]
    return Columns((k, v) for k, v in table.items() if k != target), y


def _read_csv(p: Any) -> Any:
    """A matrix of floats: plain (no header row) or a :class:`NamedMatrix`; :class:`Columns` when a column
    holds text (numbers as float64, anything else as strings)."""
    import csv

    with open(p, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if not rows:
        raise InputError(f"{p} is empty")
    header = rows[0]
    try:
        [float(c) for c in header]
    except ValueError:
        pass
    else:
        try:
            return np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
        except ValueError as e:
            raise InputError(f"{p}: every cell must be a number when there is no header row ({e})") from None
    body = rows[1:]
    if any(len(r) != len(header) for r in body):
        raise InputError(f"{p}: every row needs {len(header)} cells, one per column of the header")
    table = Columns()
    for j, name in enumerate(header):
        cells = [r[j] for r in body]
        try:
            table[name] = np.array([float(c) for c in cells], dtype=np.float64)
        except ValueError:
            table[name] = np.array(cells, dtype=object)
    if all(v.dtype.kind == "f" for v in table.values()):  # numbers only: a matrix that knows its column names
        return NamedMatrix.of(np.asarray(table, dtype=np.float64).reshape(len(body), len(header)), header)
    return table


def _read_parquet(p: Any) -> Columns:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"reading {p} needs pyarrow, which is not installed (pip install pyarrow), or save the data as .npz or .csv"
        ) from None
    t = pq.read_table(p)
    return Columns((name, np.asarray(t.column(name).to_numpy(zero_copy_only=False))) for name in t.column_names)
