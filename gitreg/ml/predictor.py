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


class Predictor:
    """A registered model under onnxruntime: ``predict``, ``predict_proba``, and the raw ``session``."""

    def __init__(self, session: Any, signature: Mapping[str, Any], version: Any = None) -> None:
        self.session = session
        self.signature = dict(signature)
        self.version = version  # the ModelVersion it came from
        self._inputs = [i.name for i in session.get_inputs()]
        self._outputs = [o.name for o in session.get_outputs()]
        specs = {s.get("name"): s for s in self.signature.get("inputs", [])}
        self._specs = [specs.get(n, {}) for n in self._inputs]

    def __repr__(self) -> str:
        ref = getattr(self.version, "ref", None)
        return f"Predictor({ref or 'onnx'}, inputs={self._inputs}, outputs={self._outputs})"

    @property
    def classes(self) -> list[Any] | None:
        return self.signature.get("classes")

    @property
    def task(self) -> str | None:
        return self.signature.get("task")

    def feed(self, *xs: Any) -> dict[str, np.ndarray]:
        if len(xs) != len(self._inputs):
            raise InputError(f"the model takes {len(self._inputs)} input(s) ({', '.join(self._inputs)}), got {len(xs)}")
        names = self._inputs if len(xs) > 1 else ["X"]
        return {n: check_input(x, s, what) for n, x, s, what in zip(self._inputs, xs, self._specs, names)}

    def run(self, *xs: Any) -> dict[str, np.ndarray]:
        """Every output by name, for one vectorised batch."""
        outs = self.session.run(None, self.feed(*xs))
        return dict(zip(self._outputs, outs))

    def _scores(self, outs: Mapping[str, np.ndarray]) -> np.ndarray:
        if "probabilities" in outs:
            return outs["probabilities"]
        return next(iter(outs.values()))

    def predict(self, *xs: Any) -> np.ndarray:
        """Class labels for a classifier (mapped through ``classes`` when known), values otherwise."""
        outs = self.run(*xs)
        if self.task == "classification":
            if "label" in outs:
                return outs["label"]
            scores = self._scores(outs)
            idx = scores.argmax(axis=1)
            classes = self.classes
            return np.asarray(classes)[idx] if classes else idx
        first = next(iter(outs.values()))
        return first.reshape(len(first)) if first.ndim == 2 and first.shape[1] == 1 else first

    def predict_proba(self, *xs: Any) -> np.ndarray:
        """Class probabilities (softmax over logits for torch classifiers)."""
        if self.task != "classification":
            raise UsageError("predict_proba needs a classifier; this model's task is " + str(self.task))
        outs = self.run(*xs)
        scores = self._scores(outs)
        if self.signature.get("output") == "labels":
            raise UsageError("this classifier has no probability output (its estimator has no predict_proba)")
        return scores if self.signature.get("output") == "probabilities" else softmax(scores.astype(np.float64))

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
