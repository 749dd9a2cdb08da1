"""What a model's outputs mean: which one is the prediction, which holds predicted labels, and of what kind.

The signature in the sidecar says so with these keys (besides ``inputs``/``outputs``):

- ``task``: ``classification`` or ``regression``;
- ``output``: the kind of the prediction output: ``probabilities`` (never transformed), ``logits``
  (softmax gives probabilities), ``scores`` (decision values: argmax only), ``labels`` or ``values``;
- ``prediction_output``: the name of the graph output holding the prediction;
- ``label_output``: the graph output holding predicted labels, when the model has one (skl2onnx
  classifiers: ``label`` with ``zipmap=False``, ``output_label`` by default);
- ``classes``: the class labels, in the order of the probability columns.

A pre-exported ONNX file says none of this, so :func:`infer` reads it from the outputs' types and a
few facts of the graph (:func:`graph_hints`): skl2onnx classifiers give a rank-1 int64/string label
output next to float ``[N, C]`` probabilities, or, by default, a ZipMap output, a sequence of
``{class: probability}`` maps that onnxruntime hands back as a list of dicts (:func:`zipmap_array`
makes it an ``[N, C]`` array, classes in key order). A single float output is a regression only when
the graph says so (an ``ai.onnx.ml`` regressor op, or skl2onnx's ``variable``): a torch export's
``[N, 1]`` output could as well be a binary logit. Whether a float ``[N, C]`` output holds
probabilities is decided from what the model gives at push (:func:`settle`), never assumed.

Pure: no onnx import (a ``ModelProto`` is read by attribute); numpy is imported by the functions that
make arrays, so inspecting a file at push (:func:`graph_hints`, :func:`infer`) loads neither.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from gitreg.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

TASKS = ("classification", "regression")
KINDS = ("probabilities", "logits", "scores", "labels", "values")
LABEL_DTYPES = ("int64", "int32", "object")  # "object" is onnx's string tensor (onnx.helper's name)
FLOAT_DTYPES = ("float32", "float64", "float16")
SEQUENCE = "sequence_type"  # the signature's dtype of a non-tensor output (artifacts.describe_onnx)
PROBABILITY_NAMES = ("probabilities", "output_probability")  # skl2onnx's names
PASSTHROUGH = ("Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten")
SUM_TOLERANCE = 1e-3  # |row sum - 1| of float32 probabilities (softmax over 1000 classes: ~1e-6)


# -- reading the graph (a ModelProto or its skeleton) -----------------------------------------------
def graph_hints(model: Any) -> dict[str, Any]:
    """What the graph says about its outputs: ZipMap outputs and their classes, the classes of its
    classifier op, outputs computed by an ``ai.onnx.ml`` regressor op, and the producer's name."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    inits = {t.name: t for t in graph.initializer}
    zipmap: dict[str, list[Any] | None] = {}
    classifier: list[list[Any]] = []
    regressor: list[str] = []
    for o in graph.output:
        node = _source(o.name, producers)
        if node is None or node.domain != "ai.onnx.ml":
            continue
        if node.op_type == "ZipMap":
            zipmap[o.name] = _classlabels(node)
        elif node.op_type.endswith("Regressor"):
            regressor.append(o.name)
    for node in graph.node:
        if node.domain == "ai.onnx.ml" and node.op_type.endswith("Classifier"):
            labels = _classlabels(node)
            if labels and labels not in classifier:
                classifier.append(labels)
    extracted: dict[str, list[Any]] = {}  # label output <- ArrayFeatureExtractor(classes initializer, argmax)
    for o in graph.output:
        node = _source(o.name, producers)
        if node is not None and node.op_type == "ArrayFeatureExtractor" and node.input and node.input[0] in inits:
            values = _tensor_values(inits[node.input[0]])
            if values:
                extracted[o.name] = values
    return {
        "zipmap": zipmap,
        "classes": classifier[0] if len(classifier) == 1 else None,
        "extracted": extracted,
        "regressor": regressor,
        "producer": str(getattr(model, "producer_name", "") or ""),
    }


def _source(name: str, producers: Mapping[str, Any]) -> Any:
    """The node computing ``name``, looking through casts, reshapes and identities."""
    node = producers.get(name)
    seen = 0
    while node is not None and node.op_type in PASSTHROUGH and node.input and seen < 16:
        node = producers.get(node.input[0])
        seen += 1
    return node


def _classlabels(node: Any) -> list[Any] | None:
    for a in node.attribute:
        if a.name in ("classlabels_ints", "classlabels_int64s") and len(a.ints):
            return [int(v) for v in a.ints]
        if a.name == "classlabels_strings" and len(a.strings):
            return [s.decode("utf-8", errors="replace") for s in a.strings]
    return None


def _tensor_values(t: Any) -> list[Any] | None:
    """A small int64/int32/string tensor's values; None for anything else (or a skeleton's placeholder)."""
    want = 1
    for d in t.dims:
        want *= int(d)
    if len(t.dims) != 1 or want == 0:
        return None
    values: list[Any]
    if t.data_type == 8:
        values = [s.decode("utf-8", errors="replace") for s in t.string_data]
    elif t.data_type in (6, 7):
        size = 8 if t.data_type == 7 else 4
        if t.raw_data:
            if len(t.raw_data) != want * size:
                return None
            values = list(struct.unpack(f"<{want}{'q' if size == 8 else 'i'}", t.raw_data))
        else:
            values = [int(v) for v in (t.int64_data if t.data_type == 7 else t.int32_data)]
    else:
        return None
    return values if len(values) == want else None


# -- inference on the signature -----------------------------------------------------------------------
def _rank(o: Mapping[str, Any]) -> int:
    return len(o.get("shape") or [])


def _width(o: Mapping[str, Any]) -> Any:
    shape = list(o.get("shape") or [])
    return shape[1] if len(shape) == 2 else None


def infer(outputs: Sequence[Mapping[str, Any]], hints: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keys of the module docstring that the outputs (and ``hints``, from :func:`graph_hints`) make
    certain; nothing when in doubt. ``output`` is set here only for a ZipMap (a map of probabilities
    by construction); a float ``[N, C]`` output's kind is left to :func:`settle`."""
    hints = hints or {}
    zipmap: Mapping[str, Any] = hints.get("zipmap") or {}
    outs = list(outputs)
    labels = [o for o in outs if o.get("dtype") in LABEL_DTYPES and _rank(o) == 1]
    seqs = [o for o in outs if o.get("name") in zipmap or o.get("dtype") == SEQUENCE]
    tables = [o for o in outs if o.get("dtype") in FLOAT_DTYPES and _rank(o) == 2]
    found: dict[str, Any] = {}
    if len(outs) == 2 and len(labels) == 1 and len(seqs) + len(tables) == 1:
        prob = (seqs or tables)[0]
        label = labels[0]["name"]
        found = {"task": "classification", "label_output": label, "prediction_output": prob["name"]}
        if prob in seqs:
            found["output"] = "probabilities"
        classes = zipmap.get(prob["name"]) or hints.get("classes") or (hints.get("extracted") or {}).get(label)
        if classes:
            found["classes"] = list(classes)
    elif len(outs) == 1 and outs[0].get("dtype") in FLOAT_DTYPES:
        o = outs[0]
        narrow = _rank(o) == 1 or (_rank(o) == 2 and _width(o) == 1)
        skl2onnx = str(hints.get("producer", "")).startswith("skl2onnx") and o.get("name") == "variable"
        if narrow and (o.get("name") in (hints.get("regressor") or ()) or skl2onnx):
            found = {"task": "regression", "output": "values", "prediction_output": o["name"]}
    return found


def complete(signature: Mapping[str, Any]) -> dict[str, Any]:
    """``signature`` with what :func:`infer` can tell from its outputs filled in where it says nothing
    (versions pushed before gitreg recorded it); keys it has are kept."""
    sig = dict(signature)
    if sig.get("task") and sig.get("prediction_output"):
        return sig
    guessed = infer(sig.get("outputs") or [])
    if sig.get("task") and guessed.get("task") != sig["task"]:
        return sig
    for k, v in guessed.items():
        sig.setdefault(k, v)
    if sig.get("task") == "classification" and not sig.get("output"):
        name = sig.get("prediction_output")
        if name in PROBABILITY_NAMES:
            sig["output"] = "probabilities"  # skl2onnx's names (zipmap=False) before gitreg recorded the kind
    return sig


# -- overrides from the command line, and what the model gave ---------------------------------------
def override(
    signature: Mapping[str, Any],
    *,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    output: str | None = None,
) -> dict[str, Any]:
    """``signature`` with ``--task``, ``--classes`` and ``--output NAME`` applied; UsageError when they
    do not fit the file. Keys set to None are dropped when the sidecar is written."""
    sig = dict(signature)
    names = [o.get("name") for o in sig.get("outputs") or []]
    if task is not None and task not in TASKS:
        raise UsageError(f"invalid task {task!r}: use classification or regression")
    if output is not None:
        if output not in names:
            raise UsageError(f"--output {output}: the model has no output of that name (it has: {', '.join(names)})")
        if output != sig.get("prediction_output"):
            spec = next(o for o in sig["outputs"] if o.get("name") == output)
            sig["prediction_output"] = output
            if output == sig.get("label_output"):
                sig["output"] = "labels"
            else:
                sig["output"] = "probabilities" if spec.get("dtype") == SEQUENCE else None
    if task is not None and task != sig.get("task"):
        sig["task"] = task
        if task == "regression":
            sig.update(output="values", classes=None, label_output=None)
        elif sig.get("output") == "values":
            sig["output"] = None
    if classes is not None:
        given = [_plain(c) for c in classes]
        if sig.get("task") == "regression":
            raise UsageError("--classes is for classifiers; this model is a regression (say --task classification)")
        carried = sig.get("classes")
        if carried and [str(c) for c in carried] != [str(c) for c in given]:
            raise UsageError(
                f"--classes {','.join(map(str, given))}: the file's classifier carries its own labels "
                f"({','.join(map(str, carried))}) and predicts those; leave --classes out or list the same"
            )
        sig["classes"] = list(carried) if carried else given
        sig["task"] = "classification"
    return sig


def settle(signature: Mapping[str, Any], prediction: np.ndarray | None) -> dict[str, Any]:
    """Decide a classifier's output kind from what it gave on the check's inputs: probabilities only
    when every row is a probability distribution; otherwise logits, or scores beside a label output."""
    sig = dict(signature)
    if sig.get("task") == "regression":
        sig["output"] = "values"
        return sig
    if sig.get("task") != "classification" or prediction is None:
        return sig
    kind = sig.get("output")
    width = prediction.shape[1] if prediction.ndim == 2 else None
    classes = sig.get("classes")
    if kind != "labels" and classes and width is not None and width != len(classes):
        raise UsageError(
            f"{len(classes)} classes for an output with {width} columns "
            f"({sig.get('prediction_output') or 'the prediction'}): give one class per column"
        )
    if kind in (None, "probabilities"):
        if width is not None and width > 1 and looks_like_probabilities(prediction):
            sig["output"] = "probabilities"
        elif width is not None and width > 1:
            sig["output"] = "scores" if sig.get("label_output") else "logits"
        elif width == 1 or prediction.ndim == 1:
            sig["output"] = "labels" if prediction.dtype.kind in "iuUSO" else None
    return sig


def looks_like_probabilities(a: np.ndarray) -> bool:
    """Every row a distribution: finite, in [0, 1], summing to 1 (float32 rounding allowed)."""
    import numpy as np

    if a.ndim != 2 or a.shape[1] < 2 or a.size == 0 or a.dtype.kind not in "fiu":
        return False
    f = a.astype(np.float64, copy=False)
    if not np.isfinite(f).all() or f.min() < -1e-6 or f.max() > 1 + 1e-6:
        return False
    return bool(np.abs(f.sum(axis=1) - 1.0).max() <= SUM_TOLERANCE)


# -- runtime outputs ------------------------------------------------------------------------------------
def zipmap_array(rows: Sequence[Mapping[Any, float]], classes: Sequence[Any] | None = None) -> np.ndarray:
    """onnxruntime's ZipMap output (a list of ``{class: probability}`` dicts) as a float32 ``[N, C]`` array:
    columns in ``classes`` order when given (and all present), else in the maps' key order.

    One pass over the values in C (``np.fromiter``): ~20 ms for 100k rows x 10 classes, next to the
    ~170 ms onnxruntime itself spends building those dicts (a ``zipmap=False`` export avoids both).
    """
    import numpy as np

    if not rows:
        return np.zeros((0, len(classes or ())), dtype=np.float32)
    keys = list(rows[0])
    order = [_plain(c) for c in classes] if classes else keys
    if order != keys and not set(order) <= set(keys):
        order = keys
    n, c = len(rows), len(order)
    if order == keys:
        flat = chain.from_iterable(r.values() for r in rows)
        return np.fromiter(flat, dtype=np.float32, count=n * c).reshape(n, c)
    pick = itemgetter(*order)
    return np.array([pick(r) for r in rows], dtype=np.float32).reshape(n, c)


def is_zipmap(value: Any) -> bool:
    return isinstance(value, list) and (not value or isinstance(value[0], Mapping))


def as_array(value: Any, classes: Sequence[Any] | None = None) -> np.ndarray:
    """One output of ``session.run`` as an array (a ZipMap's dicts become ``[N, C]`` probabilities)."""
    import numpy as np

    return zipmap_array(value, classes) if is_zipmap(value) else np.asarray(value)


def prediction_of(signature: Mapping[str, Any], outs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The prediction among ``outs`` (by name): the signature's ``prediction_output``, else an output
    called ``probabilities``, else the first output that is not the label output."""
    name = signature.get("prediction_output")
    if isinstance(name, str) and name in outs:
        return outs[name]
    if "probabilities" in outs:
        return outs["probabilities"]
    label = label_name(signature, outs)
    rest = [v for k, v in outs.items() if k != label]
    return rest[0] if rest else next(iter(outs.values()))


def label_name(signature: Mapping[str, Any], outs: Mapping[str, Any]) -> str | None:
    name = signature.get("label_output")
    if name in outs:
        return str(name)
    return "label" if "label" in outs else None


def labels_of(signature: Mapping[str, Any], outs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The predicted labels when the model has a label output, flattened; None otherwise."""
    name = label_name(signature, outs)
    if name is None and signature.get("output") == "labels":
        name = signature.get("prediction_output") or next(iter(outs), None)
    return outs[name].reshape(-1) if isinstance(name, str) and name in outs else None


def _plain(v: Any) -> Any:
    """A numpy scalar as its Python value (without importing numpy to ask)."""
    return v.item() if type(v).__module__ == "numpy" and hasattr(v, "item") else v
