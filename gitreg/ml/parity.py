"""Cross-runtime parity: do two runtimes give the same answers on the same inputs? (pure numpy)

An element passes when ``|a - b| <= atol + rtol * |b|`` (numpy's ``allclose`` rule, ``b`` the
reference). Relative error alone is never the judge: correct float32 exports reach 1e-3..1e-2
relative error on logits near zero (a tiny denominator), so it is recorded, not used.
For classifiers the argmax agreement is recorded beside it; labels flipping while every element
is within tolerance cannot happen, but a user reading the sidecar wants the figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gitreg.errors import InputError, first_line
from gitreg.ml.arrays import is_numeric

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5
BATCH = 8192  # rows per runtime call: large enough to be vectorised, small enough to bound memory
SELF_CHECK_ROWS = 257  # random rows for a file's self-check: an odd batch (batch size changes some kernels)
SLICE = 7  # rows per call of the self-check's sliced run
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
    problem: str | None = None  # shape or dtype mismatch, non-finite values

    @property
    def key(self) -> str:
        return f"{self.actual}_vs_{self.expected}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "samples": self.samples,
            "max_abs_error": self.max_abs,
            "max_rel_error": self.max_rel,
            "passed": self.passed,
            "argmax_agreement": self.argmax_agreement,
            "problem": self.problem,
        }
        return {k: v for k, v in d.items() if v is not None}

    def describe(self) -> str:
        """One line naming the worst element, for the error a failed push prints."""
        if self.problem:
            return f"{self.actual} vs {self.expected}: {self.problem}"
        where = ",".join(str(i) for i in self.worst_index)
        return (
            f"{self.actual} vs {self.expected}: worst element [{where}] is {self.worst_actual:.7g} "
            f"vs {self.worst_expected:.7g} (max abs error {self.max_abs:.3g} over {self.samples} samples)"
        )


@dataclass(frozen=True)
class Report:
    rtol: float
    atol: float
    pairs: tuple[Pair, ...]

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
        out: dict[str, Any] = {"passed": self.passed, "rtol": self.rtol, "atol": self.atol, "samples": self.samples}
        for p in self.pairs:
            out[p.key] = p.to_dict()
        return out

    def message(self) -> str:
        bad = self.failures()
        if not bad:
            return f"parity passed (rtol={self.rtol:g}, atol={self.atol:g})"
        return f"parity failed (rtol={self.rtol:g}, atol={self.atol:g}): " + "; ".join(p.describe() for p in bad)


def compare(
    actual_name: str,
    actual: np.ndarray,
    expected_name: str,
    expected: np.ndarray,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    classifier: bool = False,
) -> Pair:
    """Compare two outputs elementwise; ``expected`` is the reference (the original model)."""
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
    excess = diff - (atol + rtol * np.abs(b64))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(b64 != 0, diff / np.abs(b64), np.where(diff == 0, 0.0, np.inf))
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
    agreement = None
    if classifier and a64.ndim == 2 and a64.shape[1] > 1 and n:
        agreement = float(np.mean(a64.argmax(axis=1) == b64.argmax(axis=1)))
    return Pair(
        actual=actual_name,
        expected=expected_name,
        samples=n,
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        passed=bool((excess <= 0).all()),
        argmax_agreement=agreement,
        worst_index=tuple(int(i) for i in worst),
        worst_actual=float(a64[worst]) if excess.size else None,
        worst_expected=float(b64[worst]) if excess.size else None,
    )


def check(
    outputs: Mapping[str, np.ndarray],
    reference: str,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    classifier: bool = False,
) -> Report:
    """Every runtime in ``outputs`` against ``reference``."""
    ref = outputs[reference]
    pairs = tuple(
        compare(name, out, reference, ref, rtol, atol, classifier) for name, out in outputs.items() if name != reference
    )
    return Report(rtol, atol, pairs)


def batched(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Run ``fn`` over ``x`` in large slices and stack the results (vectorised, bounded memory)."""
    if len(x) <= batch:
        return np.asarray(fn(x))
    return np.concatenate([np.asarray(fn(x[i : i + batch])) for i in range(0, len(x), batch)])


def run_parity(
    runners: Mapping[str, Any],
    reference: str,
    inputs: tuple[np.ndarray, ...],
    rtol: float,
    atol: float,
    classifier: bool,
) -> Report:
    """Run every runtime on ``inputs`` (large batches) and compare each with ``reference``."""
    return run_outputs(runners, reference, inputs, rtol, atol, classifier)[0]


def run_outputs(
    runners: Mapping[str, Any],
    reference: str,
    inputs: tuple[np.ndarray, ...],
    rtol: float,
    atol: float,
    classifier: bool,
) -> tuple[Report, dict[str, np.ndarray]]:
    """:func:`run_parity`, and what each runtime gave (a runtime that failed is missing)."""
    outputs: dict[str, np.ndarray] = {}
    broken: list[Pair] = []
    n = len(inputs[0]) if inputs else 0
    for rt, fn in runners.items():
        try:
            if len(inputs) == 1:
                outputs[rt] = batched(fn, inputs[0])
            else:
                outputs[rt] = np.asarray(fn(*inputs))
        except Exception as e:
            if rt == reference:
                raise InputError(f"the original model failed on the parity inputs: {first_line(e)}") from None
            inf = float("inf")
            broken.append(Pair(rt, reference, n, inf, inf, False, problem=f"{rt} failed: {first_line(e)}"))
    report = check(outputs, reference, rtol, atol, classifier)
    return Report(rtol, atol, report.pairs + tuple(broken)), outputs


# -- a file on its own ---------------------------------------------------------------------------------
def self_check(
    run: Callable[..., np.ndarray],
    inputs: tuple[np.ndarray, ...],
    expected_shape: Sequence[Any] = (),
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    classifier: bool = False,
) -> tuple[Report, np.ndarray | None]:
    """The check of an ONNX file with no original model beside it: the whole batch against the same
    rows run in slices of :data:`SLICE` (a frozen batch axis, a statistic over the batch, or
    nondeterminism shows up), then 3 rows' output against ``expected_shape`` (the signature's, ``N``
    first). Returns the report and the whole batch's output (None when the runtime failed on it).
    """
    n = len(inputs[0]) if inputs else 0
    inf = float("inf")

    def sliced(*xs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(run(*(x[i : i + SLICE] for x in xs))) for i in range(0, n, SLICE)])

    try:
        report, outs = run_outputs(
            {"onnxruntime": run, "onnxruntime_sliced": sliced}, "onnxruntime", inputs, rtol, atol, classifier
        )
    except InputError as e:  # the file itself failed on the whole batch: that is the finding
        why = e.message.replace("the original model failed", f"onnxruntime failed on {n} rows")
        return Report(rtol, atol, (Pair("onnxruntime", "inputs", n, inf, inf, False, problem=why),)), None
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
        report = Report(report.rtol, report.atol, (*report.pairs, bad))
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
