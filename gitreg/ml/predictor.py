"""Run a registered model: an onnxruntime session behind ``predict``/``predict_proba``, and input checks.

Inputs are checked against the sidecar's signature before onnxruntime sees them, because
onnxruntime's own errors (``INVALID_ARGUMENT ... index: 1 Got: 63 Expected: 64``) do not say what
to do. Numeric arrays are cast to the signature's dtype: numpy's float64 default meets float32
models all the time, and the cast is what every user would write by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gitreg.errors import InputError, UsageError
from gitreg.ml import outputs
from gitreg.ml.arrays import numeric_array


def check_input(x: Any, spec: Mapping[str, Any], what: str = "X") -> np.ndarray:
    """``x`` as an array of ``spec``'s dtype, or an InputError saying how it does not fit."""
    arr = numeric_array(x, what, need=f"the model takes {spec.get('dtype', 'numbers')}")
    shape = list(spec.get("shape") or [])
    if shape and arr.ndim != len(shape):
        want = "(" + ", ".join(str(d) for d in shape) + ")"
        hint = " (for one sample use X.reshape(1, -1))" if arr.ndim == len(shape) - 1 else ""
        raise InputError(f"{what} has shape {arr.shape}; the model takes {len(shape)}-D input {want}{hint}")
    for axis, (got, want) in enumerate(zip(arr.shape, shape)):
        if axis > 0 and isinstance(want, int) and got != want:
            noun = "features" if axis == 1 and len(shape) == 2 else f"entries on axis {axis}"
            raise InputError(f"{what} has {got} {noun}; the model takes {want} (shape {arr.shape})")
    if arr.size == 0:
        raise InputError(f"{what} is empty")
    dtype = spec.get("dtype")
    if dtype:
        try:
            target = np.dtype(dtype)
        except TypeError:
            target = None
        if target is not None and arr.dtype != target:
            arr = arr.astype(target)
    return np.ascontiguousarray(arr)


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

    def feed(self, *xs: Any) -> dict[str, np.ndarray]:
        if len(xs) != len(self._inputs):
            raise InputError(f"the model takes {len(self._inputs)} input(s) ({', '.join(self._inputs)}), got {len(xs)}")
        names = self._inputs if len(xs) > 1 else ["X"]
        return {n: check_input(x, s, what) for n, x, s, what in zip(self._inputs, xs, self._specs, names)}

    def run(self, *xs: Any) -> dict[str, np.ndarray]:
        """Every output by name, for one vectorised batch (a ZipMap output as an ``[N, C]`` array)."""
        outs = self.session.run(None, self.feed(*xs))
        classes = self.signature.get("classes")
        result = {}
        for name, value in zip(self._outputs, outs):
            if outputs.is_zipmap(value) and value and not classes and self._zipmap_classes is None:
                self._zipmap_classes = list(value[0])
            result[name] = outputs.as_array(value, classes)
        return result

    def predict(self, *xs: Any) -> np.ndarray:
        """Class labels for a classifier (mapped through ``classes`` when known), values otherwise."""
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


def read_array_file(path: str, target: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` (and ``y`` when present) from .npy, .npz (``X``/``y`` keys, never pickles) or .csv."""
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
                if "X" in keys:
                    return z["X"], (z["y"] if "y" in keys else None)
                if len(keys) == 1:
                    return z[keys[0]], None
                raise InputError(f"{path} holds {', '.join(keys)}: name the inputs 'X' (and labels 'y')")
        if suffix == ".csv":
            return _read_csv(p, target)
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    raise InputError(f"unsupported data file {path}: use .npy, .npz (X, y) or .csv")


def _read_csv(p: Any, target: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    import csv

    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise InputError(f"{p} is empty")
    header = rows[0]
    try:
        float(header[0])
        body, header = rows, []
    except ValueError:
        body = rows[1:]
    try:
        data = np.array([[float(c) for c in r] for r in body if r], dtype=np.float64)
    except ValueError as e:
        raise InputError(f"{p}: every cell must be a number ({e})") from None
    if target is None:
        return data, None
    if target not in header:
        raise InputError(f"{p} has no column {target!r} (columns: {', '.join(header)})")
    j = header.index(target)
    return np.delete(data, j, axis=1), data[:, j]
