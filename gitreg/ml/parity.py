"""Cross-runtime parity: do two runtimes give the same answers on the same inputs? (pure numpy)

Two criteria; ``expected`` (the original model) is the reference:

* **scale** (the default): an output passes when ``max |a - b| <= tolerance * scale(b)``, the scale
  being the root mean square of the reference output (:data:`DEFAULT_TOLERANCE` = 1e-4). The error
  is judged against how large the output is: a correct ResNet-50-class export is ~1e-5 of its
  logits' scale off eager torch whatever that scale is (5e-5 absolute on logits of ~5), and a model
  whose logits are ~1e-9 gets no free pass from an absolute term. Integer outputs (labels) must be
  equal.
* **elementwise** (``rtol``/``atol`` given, e.g. set in the registry's ``gitreg.toml``): an element
  passes when ``|a - b| <= atol + rtol * |b|`` (numpy's ``allclose``), gitreg's rule before the
  scale criterion; a registry that sets them keeps it.

Under both, a classifier's labels (argmax of its scores) must agree on every row, unless the
reference's own top two are within ``2 * LABEL_TIE * scale`` (and the allowed error) of each other:
a tie, where either label is right. That check holds when the tolerance is loosened for a big model.
The sidecar records per pair the scale, max absolute error, error relative to the scale, max
relative error and label agreement (README, "Parity", has the zoo's measurements).

A model with several outputs (a torch model's tuple, dict of heads or ``ModelOutput``) is judged by
its prediction output on every run; on the whole batch each other output is compared too, at its own
scale (a small auxiliary head is not measured against the logits' scale), and recorded under the
pair's ``outputs`` table: a wrong head fails the pair (:func:`run_outputs`, :func:`each_output`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gitreg.errors import InputError, first_line
from gitreg.ml.arrays import is_numeric
from gitreg.ml.runtime import Heads, heads_of, holding, resource_of, stage, trim_heap

DEFAULT_TOLERANCE = 1e-4  # max |a - b| / RMS(b): correct zoo exports <= ~1e-6, ResNet-50 at 224x224 ~1e-5
DEFAULT_RTOL = 1e-4  # the elementwise rule's values, for callers that ask for it
DEFAULT_ATOL = 1e-5
LABEL_TIE = 2.5e-5  # a label may differ only where the reference's top two are this close (x scale, each side)
BATCH = 8192  # rows per runtime call: large enough to be vectorised, small enough to bound memory
SELF_CHECK_ROWS = 257  # random rows for a file's self-check: an odd batch (batch size changes some kernels)
SLICE = 7  # rows per call of the sliced runs
SINGLES = 16  # rows run one at a time by a torch export's sliced runners (then slices of SLICE)
SMALL = 128  # rows run in single rows and slices before the rest goes as one batch
SYMBOLIC_LENGTH = 16  # random inputs' size on a symbolic axis beyond the batch


@dataclass(frozen=True)
class Pair:
    """One comparison, e.g. onnxruntime against eager torch."""

    actual: str
    expected: str
    samples: int
    max_abs: float
    max_rel: float
    passed: bool
    argmax_agreement: float | None = None
    worst_index: tuple[int, ...] = ()
    worst_actual: float | None = None
    worst_expected: float | None = None
    problem: str | None = None  # shape or dtype mismatch, non-finite values, labels that differ
    scale: float | None = None  # RMS of the reference output
    scale_error: float | None = None  # max_abs / scale
    label_flips: int | None = None  # rows whose label differs beyond a tie (classifiers)
    output: str | None = None  # the output compared, when not the prediction (an entry of ``outputs``)
    outputs: tuple[Pair, ...] = ()  # the other outputs, one comparison each: ``passed`` needs them all
    prediction_passed: bool | None = None  # with ``outputs``: the prediction's own verdict

    @property
    def key(self) -> str:
        return f"{self.actual}_vs_{self.expected}"

    @property
    def title(self) -> str:
        where = f", output {self.output!r}" if self.output is not None else ""
        return f"{self.actual} vs {self.expected}{where}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "samples": self.samples,
            "scale": self.scale,
            "max_abs_error": self.max_abs,
            "scale_error": self.scale_error,
            "max_rel_error": self.max_rel,
            "passed": self.passed,
            "argmax_agreement": self.argmax_agreement,
            "label_flips": self.label_flips,
            "problem": self.problem,
        }
        if self.outputs:  # a sub-table per output, keyed by its name (quoted in TOML when it must be)
            d["outputs"] = {str(o.output): o.output_dict() for o in self.outputs}
        return {k: v for k, v in d.items() if v is not None}

    def output_dict(self) -> dict[str, Any]:
        """An entry of a pair's ``outputs`` table: the figures of one output."""
        d = {
            "scale": self.scale,
            "max_abs_error": self.max_abs,
            "scale_error": self.scale_error,
            "max_rel_error": self.max_rel,
            "passed": self.passed,
            "problem": self.problem,
        }
        return {k: v for k, v in d.items() if v is not None}

    def describe(self) -> str:
        """What failed, naming the worst element (and the output, for another output than the
        prediction), in one line for the error a failed push prints."""
        bad = [o.describe() for o in self.outputs if not o.passed]
        if bad and self.prediction_passed:
            return "; ".join(bad)
        return "; ".join([self.worst(), *bad])

    def worst(self) -> str:
        if self.problem:
            return f"{self.title}: {self.problem}"
        where = ",".join(str(i) for i in self.worst_index)
        scaled = ""
        if self.scale_error is not None and self.scale is not None:
            scaled = f"; {self.scale_error:.2g} of the output's scale {self.scale:.3g}"
        return (
            f"{self.title}: worst element [{where}] is {self.worst_actual:.7g} "
            f"vs {self.worst_expected:.7g} (max abs error {self.max_abs:.3g} over {self.samples} samples{scaled})"
        )


@dataclass(frozen=True)
class Report:
    rtol: float | None  # None (with atol None): the scale criterion
    atol: float | None
    pairs: tuple[Pair, ...]
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def criterion(self) -> str:
        return "scale" if self.rtol is None and self.atol is None else "elementwise"

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.pairs)

    @property
    def samples(self) -> int:
        return max((p.samples for p in self.pairs), default=0)

    def failures(self) -> list[Pair]:
        return [p for p in self.pairs if not p.passed]

    def to_section(self) -> dict[str, Any]:
        """The sidecar's ``[parity]`` table."""
        out: dict[str, Any] = {"passed": self.passed, "criterion": self.criterion}
        if self.criterion == "scale":
            out["tolerance"] = self.tolerance
        else:
            out["rtol"], out["atol"] = elementwise(self.rtol, self.atol)
        out["samples"] = self.samples
        for p in self.pairs:
            out[p.key] = p.to_dict()
        return out

    def rule(self) -> str:
        if self.criterion == "scale":
            return f"error <= {self.tolerance:g} x each output's scale, labels equal"
        rtol, atol = elementwise(self.rtol, self.atol)
        return f"rtol={rtol:g}, atol={atol:g}"

    def message(self) -> str:
        bad = self.failures()
        if not bad:
            return f"parity passed ({self.rule()})"
        return f"parity failed ({self.rule()}): " + "; ".join(p.describe() for p in bad)


def elementwise(rtol: float | None, atol: float | None) -> tuple[float, float]:
    """The elementwise rule's (rtol, atol): one given alone takes the other's old default."""
    return (DEFAULT_RTOL if rtol is None else rtol), (DEFAULT_ATOL if atol is None else atol)


def compare(
    actual_name: str,
    actual: np.ndarray,
    expected_name: str,
    expected: np.ndarray,
    rtol: float | None = None,
    atol: float | None = None,
    classifier: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Pair:
    """Compare two outputs; ``expected`` is the reference (the original model). ``rtol``/``atol``
    both None: the scale criterion with ``tolerance``; else the elementwise rule (module docstring)."""
    a = np.asarray(actual)
    b = np.asarray(expected)
    n = int(b.shape[0]) if b.ndim else 1

    def whole(problem: str | None) -> Pair:
        """A verdict on the outputs as a whole (no element to point at): errors 0 when it passed, else inf."""
        err = 0.0 if problem is None else float("inf")
        return Pair(actual_name, expected_name, n, err, err, passed=problem is None, problem=problem)

    if a.shape != b.shape:
        if a.size == b.size and a.squeeze().shape == b.squeeze().shape:  # (n, 1) against (n,)
            a = a.reshape(b.shape)
        else:
            return whole(f"output shape {a.shape} differs from {b.shape}")
    if not (is_numeric(a.dtype) and is_numeric(b.dtype)):
        return whole(None if np.array_equal(a, b) else "non-numeric outputs differ")
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    if not (np.isfinite(a64).all() and np.isfinite(b64).all()):
        nan_same = bool(np.array_equal(a64, b64, equal_nan=True))
        if not nan_same:
            return whole("non-finite values (nan/inf) differ")
        a64, b64 = np.nan_to_num(a64), np.nan_to_num(b64)
    diff = np.abs(a64 - b64)
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.sqrt(np.mean(np.square(b64)))) if b64.size else 0.0
    scale_error = 0.0 if max_abs == 0 else (max_abs / scale if scale > 0 else math.inf)
    labels = np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)
    if rtol is None and atol is None:
        allowed = np.full(diff.shape, 0.0 if labels else tolerance * scale)
    else:
        r, t = elementwise(rtol, atol)
        allowed = t + r * np.abs(b64)
    excess = diff - allowed
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(b64 != 0, diff / np.abs(b64), np.where(diff == 0, 0.0, np.inf))
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
    passed = bool((excess <= 0).all())
    agreement, flips, problem = None, None, None
    if classifier and a64.ndim == 2 and a64.shape[1] > 1 and n:
        got, want = a64.argmax(axis=1), b64.argmax(axis=1)
        agreement = float(np.mean(got == want))
        rows = np.arange(n)
        margin = b64[rows, want] - b64[rows, got]  # how far the reference prefers its own label
        tie = np.minimum(allowed, LABEL_TIE * scale)  # a loosened tolerance does not loosen labels
        slack = tie[rows, want] + tie[rows, got]
        real = np.flatnonzero((got != want) & (margin > slack))
        flips = int(real.size)
        if flips:
            i = int(real[0])
            problem = (
                f"{flips} of {n} labels differ (first: row {i}, class {int(got[i])} vs {int(want[i])}; "
                f"max abs error {max_abs:.3g}, {scale_error:.2g} of the output's scale {scale:.3g})"
            )
            passed = False
    return Pair(
        actual=actual_name,
        expected=expected_name,
        samples=n,
        max_abs=max_abs,
        max_rel=float(rel.max()) if rel.size else 0.0,
        passed=passed,
        argmax_agreement=agreement,
        worst_index=tuple(int(i) for i in worst),
        worst_actual=float(a64[worst]) if excess.size else None,
        worst_expected=float(b64[worst]) if excess.size else None,
        problem=problem,
        scale=scale,
        scale_error=scale_error,
        label_flips=flips,
    )


def check(
    outputs: Mapping[str, np.ndarray],
    reference: str,
    rtol: float | None = None,
    atol: float | None = None,
    classifier: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Report:
    """Every runtime in ``outputs`` against ``reference``."""
    ref = outputs[reference]
    pairs = tuple(
        compare(name, out, reference, ref, rtol, atol, classifier, tolerance)
        for name, out in outputs.items()
        if name != reference
    )
    return Report(rtol, atol, pairs, tolerance)


def sliced(run: Callable[..., np.ndarray], singles: int = 64, small: int = 1024) -> Callable[..., np.ndarray]:
    """``run`` on the same rows in small pieces: the first ``singles`` rows it is given one at a time,
    then slices of :data:`SLICE` up to row ``small`` (counted across calls), the rest as it comes. A
    batch size baked in, a branch on the batch size frozen by tracing, a statistic over the batch
    show up; so do tree ensembles under onnxruntime, which sum in another order for one row than for
    a batch and flip labels on tied votes (a 50-tree forest: ~4% of rows one at a time disagreed)."""
    seen = 0

    def run_sliced(*xs: np.ndarray) -> np.ndarray:
        nonlocal seen
        n = len(xs[0])
        one, few = max(0, min(n, singles - seen)), max(0, min(n, small - seen))
        starts = [*range(one), *range(one, few, SLICE), *([few] if few < n else [])]
        ends = [*starts[1:], n]
        seen += n
        return np.concatenate([np.asarray(run(*(x[a:b] for x in xs))) for a, b in zip(starts, ends)])

    return holding(run_sliced, resource_of(run))  # the runtime it slices is released with it


def batched(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Run ``fn`` over ``x`` in large slices and stack the results (vectorised, bounded memory)."""
    if len(x) <= batch:
        return np.asarray(fn(x))
    return np.concatenate([np.asarray(fn(x[i : i + batch])) for i in range(0, len(x), batch)])


def batched_heads(fn: Heads, inputs: tuple[np.ndarray, ...], batch: int = BATCH) -> dict[str, np.ndarray]:
    """:func:`batched` for a runner of every output by name: each output's slices stacked."""
    if len(inputs) != 1 or len(inputs[0]) <= batch:
        return {k: np.asarray(v) for k, v in fn(*inputs).items()}
    x = inputs[0]
    parts = [fn(x[i : i + batch]) for i in range(0, len(x), batch)]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def each_output(
    pair: Pair,
    actual: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    rtol: float | None,
    atol: float | None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Pair:
    """``pair`` (the prediction's comparison) with the other outputs compared one by one, each at its
    own scale (integer outputs exactly); it passes only when they all do."""
    inf = float("inf")
    found = []
    for name, want in expected.items():
        if name in actual:
            one = compare(pair.actual, actual[name], pair.expected, want, rtol, atol, tolerance=tolerance)
        else:
            one = Pair(pair.actual, pair.expected, pair.samples, inf, inf, False, problem="the output is missing")
        found.append(replace(one, output=name))
    ok = all(o.passed for o in found)
    return replace(pair, passed=pair.passed and ok, outputs=tuple(found), prediction_passed=pair.passed)


def run_parity(
    runners: Mapping[str, Any],
    reference: str,
    inputs: tuple[np.ndarray, ...],
    rtol: float | None,
    atol: float | None,
    classifier: bool,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Report:
    """Run every runtime on ``inputs`` (large batches) and compare each with ``reference``."""
    return run_outputs(runners, reference, inputs, rtol, atol, classifier, tolerance)[0]


def run_outputs(
    runners: Mapping[str, Any],
    reference: str,
    inputs: tuple[np.ndarray, ...],
    rtol: float | None,
    atol: float | None,
    classifier: bool,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[Report, dict[str, np.ndarray]]:
    """:func:`run_parity`, and what each runtime gave (a runtime that failed is missing).

    The runtimes run in the order given; a runner's resource (:func:`gitreg.ml.runtime.holding`: an
    onnxruntime session, a TorchScript module) is released after the last runner that uses it, so
    give the runners of one runtime next to each other and at most one copy of the weights beside
    the original model is alive at a time. A runner marked with every output by name
    (:func:`gitreg.ml.runtime.with_heads`) is run through that instead, once: its prediction is
    compared as any runner's, and each other output too (:func:`each_output`)."""
    outputs: dict[str, np.ndarray] = {}
    heads: dict[str, dict[str, np.ndarray]] = {}  # the other outputs of runners marked with them
    broken: list[Pair] = []
    n = len(inputs[0]) if inputs else 0
    order = list(runners.items())
    last = {id(r): i for i, (_, fn) in enumerate(order) if (r := resource_of(fn)) is not None}
    try:
        for i, (rt, fn) in enumerate(order):
            try:
                with stage(f"checking parity ({rt.replace('_', ', ')})"):
                    marked = heads_of(fn)
                    if marked is not None:
                        got = batched_heads(marked[0], inputs)
                        outputs[rt] = got.pop(marked[1])
                        heads[rt] = got
                    elif len(inputs) == 1:
                        outputs[rt] = batched(fn, inputs[0])
                    else:
                        outputs[rt] = np.asarray(fn(*inputs))
            except Exception as e:
                if rt == reference:
                    raise InputError(f"the original model failed on the parity inputs: {first_line(e)}") from None
                inf = float("inf")
                broken.append(Pair(rt, reference, n, inf, inf, False, problem=f"{rt} failed: {first_line(e)}"))
            res = resource_of(fn)
            if res is not None and last.get(id(res)) == i:
                res.release()
            else:  # a run's working memory, freed, is handed back before the next runtime loads
                trim_heap()
    finally:
        for _, fn in order:
            res = resource_of(fn)
            if res is not None:
                res.release()
    report = check(outputs, reference, rtol, atol, classifier, tolerance)
    pairs = tuple(
        each_output(p, heads[p.actual], heads[reference], rtol, atol, tolerance)
        if p.actual in heads and reference in heads
        else p
        for p in report.pairs
    )
    return Report(rtol, atol, pairs + tuple(broken), tolerance), outputs


# -- a file on its own ---------------------------------------------------------------------------------
def self_check(
    run: Callable[..., np.ndarray],
    inputs: tuple[np.ndarray, ...],
    expected_shape: Sequence[Any] = (),
    rtol: float | None = None,
    atol: float | None = None,
    classifier: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[Report, np.ndarray | None]:
    """The check of an ONNX file with no original model beside it: the whole batch against the same
    rows run in slices of :data:`SLICE` (a frozen batch axis, a statistic over the batch, or
    nondeterminism shows up), then 3 rows' output against ``expected_shape`` (the signature's, ``N``
    first). Returns the report and the whole batch's output (None when the runtime failed on it).
    """
    n = len(inputs[0]) if inputs else 0
    inf = float("inf")

    def in_slices(*xs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(run(*(x[i : i + SLICE] for x in xs))) for i in range(0, n, SLICE)])

    try:
        report, outs = run_outputs(
            {"onnxruntime": run, "onnxruntime_sliced": in_slices},
            "onnxruntime",
            inputs,
            rtol,
            atol,
            classifier,
            tolerance,
        )
    except InputError as e:  # the file itself failed on the whole batch: that is the finding
        why = e.message.replace("the original model failed", f"onnxruntime failed on {n} rows")
        return Report(rtol, atol, (Pair("onnxruntime", "inputs", n, inf, inf, False, problem=why),), tolerance), None
    problem: str | None = None
    try:
        out = np.asarray(run(*(x[:3] for x in inputs)))
    except Exception as e:
        problem = f"onnxruntime failed on 3 rows: {first_line(e)}"
    else:
        want = list(expected_shape)
        if out.ndim == 0 or out.shape[0] != min(3, n):
            got = out.shape[0] if out.ndim else "no"
            problem = f"{min(3, n)} input rows gave {got} output rows: the batch axis is not dynamic"
        elif want and (
            len(want) != out.ndim or any(isinstance(w, int) and w != g for w, g in zip(want[1:], out.shape[1:]))
        ):
            problem = f"output shape {out.shape} does not match the signature {want}"
    if problem:
        bad = Pair("onnxruntime", "signature", 3, inf, inf, False, problem=problem)
        report = Report(report.rtol, report.atol, (*report.pairs, bad), tolerance)
    return report, outs.get("onnxruntime")


def synthetic(specs: Sequence[Mapping[str, Any]], rows: int = SELF_CHECK_ROWS) -> tuple[np.ndarray, ...]:
    """Seeded random inputs shaped by the signature's input specs: ``rows`` on the batch axis,
    :data:`SYMBOLIC_LENGTH` on any other symbolic axis (a sequence length: position tables are
    short), normal floats, small integers (token ids, indices)."""
    rng = np.random.default_rng(0)
    out = []
    for spec in specs:
        name = spec.get("name", "X")
        raw = spec.get("shape")
        if not raw:
            raise InputError(f"the signature gives no shape for input {name!r}: give example inputs (--data)")
        shape = [rows if i == 0 else d if isinstance(d, int) else SYMBOLIC_LENGTH for i, d in enumerate(raw)]
        try:
            dtype = np.dtype(spec.get("dtype", "float32"))
        except TypeError:
            dtype = np.dtype(object)
        if dtype == np.bool_:
            out.append(rng.integers(0, 2, size=shape).astype(bool))
        elif np.issubdtype(dtype, np.integer):
            out.append(rng.integers(0, 10, size=shape).astype(dtype))
        elif np.issubdtype(dtype, np.floating):
            out.append(rng.standard_normal(shape).astype(dtype))
        else:
            dt = spec.get("dtype")
            raise InputError(f"cannot make random inputs of dtype {dt} for {name!r}: give example inputs")
    return tuple(out)
