"""Judging gate rules: evaluate parsed rules (:mod:`gitreg.core.rules`) against a version's context.

A gate fails, it does not crash: a missing name or a type mismatch gives ``passed=False`` and a note
naming it; inside ``and``/``or`` such an operand is "unknown" (``unknown or true`` is true), so operand
order never matters. Rules reading ``current.*`` are skipped when the stage has no holder.
:class:`GateResult` renders the per-rule table for the terminal, JSON and Markdown (``$GITHUB_STEP_SUMMARY``).
This module is pure: no I/O.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitreg.core.rules import (
    CURRENT,
    OPS,
    ORDER_OPS,
    SKIP_NOTE,
    Arith,
    Bool,
    BoolOp,
    Compare,
    Expr,
    Name,
    Neg,
    Not,
    Number,
    Rule,
    format,
    names,
    parse,
)

__all__ = ["GateResult", "Outcome", "evaluate", "evaluate_all"]


# -- evaluation -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """One rule's verdict. ``passed`` is None when the rule was skipped (which does not fail a gate)."""

    rule: str
    passed: bool | None
    value: Any = None  # left-hand side of a top-level comparison, else the rule's truth value
    threshold: Any = None  # right-hand side of a top-level comparison
    note: str | None = None

    @property
    def result(self) -> str:
        return "skip" if self.passed is None else "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "passed": self.passed,
            "result": self.result,
            "value": self.value,
            "threshold": self.threshold,
            "note": self.note,
        }


class _Problem(Exception):
    """Why a rule cannot be judged true: becomes the outcome's note, and the rule fails."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


_MISSING = object()


def _find(scope: Any, parts: list[str]) -> Any:
    # Sidecar metrics are flat ("val.acc" = 0.9), so the longest dotted key wins at each level; the
    # shorter splits are tried when a longer key exists but does not lead to the field.
    if not isinstance(scope, Mapping):
        return _MISSING
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in scope:
            v = scope[key]
            if k == len(parts):
                return v
            got = _find(v, parts[k:])
            if got is not _MISSING:
                return got
    return _MISSING


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    return type(v).__name__


def _describe(v: Any) -> str:
    if isinstance(v, bool):
        return f"{_show(v)} (a boolean)"
    if _is_number(v):
        return f"{_show(v)} (a number)"
    if isinstance(v, str):
        return f"{v!r} (a string)"
    return f"a value of type {type(v).__name__}"


def _show(v: Any, against: Any = None) -> str:
    """``v`` for a person: floats to 6 significant digits (the stored value keeps them all; a whole
    number stays ``1.0``), more when that would make it look equal to the value it is compared with
    (``against``) but is not."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        short = _short(v)
        other = against if isinstance(against, (int, float)) and not isinstance(against, bool) else None
        if other is not None and v != other and short == _short(float(other)):
            return repr(v)
        return short
    return str(v)


def _short(v: float) -> str:
    return f"{v:.1f}" if v.is_integer() and abs(v) < 1e16 else f"{v:.6g}"


class _Evaluator:
    def __init__(self, context: Mapping[str, Any]) -> None:
        self.context = context

    def lookup(self, name: Name) -> Any:
        parts = name.path.split(".")
        scope: Any = self.context
        if parts[0] == CURRENT:
            scope, parts = self.context.get(CURRENT), parts[1:]
        section = scope.get(parts[0]) if isinstance(scope, Mapping) else None
        v = _find(section, parts[1:])
        if v is _MISSING or v is None:
            raise _Problem(f"{name.path} is missing")
        if isinstance(v, Mapping):
            fields = ", ".join(sorted(map(str, v))[:5])
            raise _Problem(f"{name.path} is a table (with {fields or 'no fields'}), not a value")
        if isinstance(v, (list, tuple)):
            raise _Problem(f"{name.path} is a list, not a value")
        return v

    def value(self, e: Expr) -> Any:
        if isinstance(e, (Number, Bool)):
            return e.value
        if isinstance(e, Name):
            return self.lookup(e)
        if isinstance(e, Neg):
            return -self.number(e.operand, e)
        if isinstance(e, Not):
            return not self.truth(e.operand)
        if isinstance(e, BoolOp):
            return self.bool_op(e)
        if isinstance(e, Arith):
            return self.arith(e)
        if isinstance(e, Compare):
            return self.compare(e, self.value(e.left), self.value(e.right))
        raise TypeError(f"not a gate rule expression: {e!r}")

    def truth(self, e: Expr) -> bool:
        v = self.value(e)
        if not isinstance(v, bool):
            raise _Problem(f"{format(e)} is {_describe(v)}, not true/false")
        return v

    def bool_op(self, e: BoolOp) -> bool:
        # Three-valued, like SQL: an operand that cannot be judged (missing, wrong type) is unknown, and
        # `unknown or true` is true, `unknown and false` false; so the order of operands never matters.
        decisive = e.op == "or"
        problem: _Problem | None = None
        for side in (e.left, e.right):
            try:
                if self.truth(side) is decisive:
                    return decisive
            except _Problem as p:
                problem = problem or p
        if problem is not None:
            raise problem
        return not decisive

    def number(self, e: Expr, parent: Expr) -> Any:
        v = self.value(e)
        if not _is_number(v):
            raise _Problem(f"cannot compute {format(parent)}: {format(e)} is {_describe(v)}, not a number")
        return v

    def arith(self, e: Arith) -> Any:
        a, b = self.number(e.left, e), self.number(e.right, e)
        try:
            return OPS[e.op](a, b)
        except ZeroDivisionError:
            raise _Problem(f"division by zero in {format(e)}") from None
        except OverflowError:
            raise _Problem(f"number too large in {format(e)}") from None

    def compare(self, e: Compare, a: Any, b: Any) -> bool:
        if e.op in ORDER_OPS:
            for side, v in ((e.left, a), (e.right, b)):
                if not _is_number(v):
                    raise _Problem(f"cannot compare {format(e)}: {format(side)} is {_describe(v)}, not a number")
        else:
            ta, tb = _type(a), _type(b)
            if ta != tb:
                raise _Problem(
                    f"cannot compare {format(e)}: {format(e.left)} is {_describe(a)} "
                    f"but {format(e.right)} is {_describe(b)}"
                )
            if ta not in ("boolean", "number", "string"):
                raise _Problem(f"cannot compare {format(e)}: {format(e.left)} is {_describe(a)}")
        try:
            return bool(OPS[e.op](a, b))
        except OverflowError:  # a huge int against a float
            raise _Problem(f"number too large in {format(e)}") from None


def evaluate(rule: Rule | str, context: Mapping[str, Any]) -> Outcome:
    """Judge one rule against ``context`` (``{"metrics": …, "eval": …, "parity": …, "artifacts": …,
    "params": …, "current": {same shape} or None}``). Never raises for data problems: a missing name or a
    type mismatch fails the rule with a note. Rules reading ``current.*`` are skipped when the stage has
    no holder. Raises RuleError only when ``rule`` is text that does not parse."""
    r = parse(rule) if isinstance(rule, str) else rule
    text = r.text
    if context.get(CURRENT) is None and any(n.split(".")[0] == CURRENT for n in names(r)):
        return Outcome(text, None, note=SKIP_NOTE)
    ev = _Evaluator(context)
    e = r.expr
    if isinstance(e, Compare):
        # Evaluate both sides even when one fails, so the report still shows what could be read.
        sides: list[Any] = []
        problems: list[str] = []
        for side in (e.left, e.right):
            try:
                sides.append(ev.value(side))
            except _Problem as p:
                sides.append(None)
                problems.append(p.note)
        left, right = sides
        if problems:
            return Outcome(text, False, left, right, "; ".join(problems))
        try:
            return Outcome(text, ev.compare(e, left, right), left, right)
        except _Problem as p:
            return Outcome(text, False, left, right, p.note)
    try:
        v = ev.value(e)
    except _Problem as p:
        return Outcome(text, False, note=p.note)
    if not isinstance(v, bool):
        return Outcome(text, False, v, note=f"{format(e)} is {_describe(v)}, not true/false")
    return Outcome(text, v, v)


# -- reports ----------------------------------------------------------------------------------------
_MARKS = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⏭️ skip"}


@dataclass(frozen=True)
class GateResult:
    """Every rule of a stage's gate; the gate passes when no rule failed (skipped rules do not fail it)."""

    outcomes: tuple[Outcome, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed is not False for o in self.outcomes)

    def failures(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.passed is False)

    def summary(self) -> str:
        """One line, e.g. ``gate failed: 1 of 3 rules failed, 1 skipped``."""
        n, bad = len(self.outcomes), len(self.failures())
        skipped = sum(o.passed is None for o in self.outcomes)
        tail = f", {skipped} skipped" if skipped else ""
        if bad:
            return f"gate failed: {bad} of {n} rule{'s' if n != 1 else ''} failed{tail}"
        return f"gate passed: {n - skipped} of {n} rule{'s' if n != 1 else ''} passed{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "rules": [o.to_dict() for o in self.outcomes]}

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(rule, value, threshold, result) as text; the result carries the note, if any."""
        return [
            (
                o.rule,
                _show(o.value, o.threshold),
                _show(o.threshold, o.value),
                o.result + (f": {o.note}" if o.note else ""),
            )
            for o in self.outcomes
        ]

    def markdown(self, title: str | None = None) -> str:
        """A Markdown table for ``$GITHUB_STEP_SUMMARY``."""

        def cell(s: str) -> str:
            return s.replace("|", "\\|").replace("\n", " ")

        lines = [f"### {title}", ""] if title else []
        lines += ["| rule | value | threshold | result |", "|---|---|---|---|"]
        for o, (rule, value, threshold, _) in zip(self.outcomes, self.rows()):
            result = _MARKS[o.result] + (f": {o.note}" if o.note else "")
            lines.append(f"| `{cell(rule)}` | {cell(value)} | {cell(threshold)} | {cell(result)} |")
        lines += ["", f"**{self.summary()}**"]
        return "\n".join(lines) + "\n"

    def table(self) -> str:
        """A plain-text table for the terminal, in the CLI's style (upper-case headers, two-space gaps)."""
        cells = [["RULE", "VALUE", "THRESHOLD", "RESULT"], *[list(r) for r in self.rows()]]
        widths = [max(len(r[i]) for r in cells) for i in range(4)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def evaluate_all(rules: Iterable[Rule | str], context: Mapping[str, Any]) -> GateResult:
    """Judge every rule of a gate. All rules are parsed first, so a typo raises RuleError before any runs."""
    parsed = [parse(r) if isinstance(r, str) else r for r in rules]
    return GateResult(tuple(evaluate(r, context) for r in parsed))
