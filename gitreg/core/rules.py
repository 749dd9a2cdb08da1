"""The gate rule language: parse and print the conditions a version must meet for a stage.

A rule is a small expression over dotted names, e.g. ``eval.accuracy >= 0.95``, ``parity.passed`` or
``eval.f1_weighted >= current.eval.f1_weighted - 0.005``. It is parsed by hand into frozen dataclasses and
evaluated against a nested mapping, never with Python's ``eval``: a ``gitreg.toml`` arriving in a pull
request must not be able to run code in CI. Grammar, lowest precedence first::

    rule       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum [("<" | "<=" | ">" | ">=" | "==" | "!=") sum]      (not chained)
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | "true" | "false" | NAME | "(" or ")"
    NAME       := ROOT ("." FIELD)+       ROOT := metrics | eval | parity | artifacts | params | current.<ROOT>

Names are dynamically typed, literals are not: ``3 and x`` or ``(a < b) + 1`` are rejected when parsed,
while a name holding the wrong kind of value fails the rule with a note when evaluated. A gate fails,
it does not crash: a missing name or a type mismatch gives ``passed=False`` and a note naming it. Inside
``and``/``or`` such an operand is "unknown" (``unknown or true`` is true), so operand order never matters.
Judging rules against a version is :mod:`gitreg.core.verdict`. This module is pure: no I/O.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gitreg.errors import RuleError

__all__ = [
    "COMPARE_OPS",
    "CURRENT",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "OPS",
    "ORDER_OPS",
    "ROOTS",
    "SKIP_NOTE",
    "Arith",
    "Bool",
    "BoolOp",
    "Compare",
    "Expr",
    "Name",
    "Neg",
    "Not",
    "Number",
    "Rule",
    "format",
    "names",
    "parse",
]

ROOTS = ("metrics", "eval", "parity", "artifacts", "params")
# The parser, the printer and the evaluator recurse once or more per level (about 12 frames per
# parenthesis): a rule from a pull request must not reach Python's recursion limit. A real rule is
# a line, nests a few levels and joins a handful of conditions.
MAX_LENGTH = 1000  # characters
MAX_DEPTH = 32  # nested parentheses, "not"s and "-"s while parsing; levels of the parsed tree
CURRENT = "current"
SKIP_NOTE = "no current holder of the stage; rule skipped"
_EXAMPLES = {
    "metrics": "metrics.loss",
    "eval": "eval.accuracy",
    "parity": "parity.passed",
    "artifacts": "artifacts.onnx.size",
    "params": "params.lr",
}
COMPARE_OPS = ("<", "<=", ">", ">=", "==", "!=")
ORDER_OPS = frozenset(("<", "<=", ">", ">="))  # numbers only; == and != also take booleans and strings
_KEYWORDS = frozenset(("and", "or", "not", "true", "false"))
# What each operator computes: the parser checks operand kinds, :mod:`gitreg.core.verdict` applies these.
OPS = {
    **{"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv},
    **{"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne},
}


# -- the tree ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Number:
    """A literal; always finite and non-negative (a minus sign is a ``Neg``), so printing round-trips."""

    value: int | float

    def __post_init__(self) -> None:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"Number needs an int or float, got {v!r}")
        if isinstance(v, float) and (not math.isfinite(v) or math.copysign(1.0, v) < 0):
            raise ValueError(f"Number must be finite and non-negative, got {v!r}")
        if isinstance(v, int) and v < 0:
            raise ValueError(f"Number must be non-negative, got {v!r}")


@dataclass(frozen=True)
class Bool:
    value: bool


@dataclass(frozen=True)
class Name:
    """A dotted name such as ``eval.accuracy`` or ``current.metrics.val.acc``."""

    path: str

    @property
    def root(self) -> str:
        """``eval``, ``metrics``, … or ``current.eval``, ``current.metrics``, …"""
        parts = self.path.split(".")
        return ".".join(parts[:2]) if parts[0] == CURRENT else parts[0]


@dataclass(frozen=True)
class Neg:
    operand: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Compare:
    op: str  # < <= > >= == !=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    left: Expr
    right: Expr


Expr = Number | Bool | Name | Neg | Not | Arith | Compare | BoolOp


@dataclass(frozen=True)
class Rule:
    """A parsed rule. ``source`` (the text as written) is kept for reports but is not part of equality."""

    expr: Expr
    source: str | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        """The rule as the user wrote it, or its canonical form when built in code."""
        return self.source.strip() if self.source else format(self)

    def __str__(self) -> str:
        return format(self)


# -- printing ---------------------------------------------------------------------------------------
_ARITH_PREC = {"+": 5, "-": 5, "*": 6, "/": 6}
_BOOL_PREC = {"or": 1, "and": 2}
_ATOM = 9


def _prec(e: Expr) -> int:
    if isinstance(e, BoolOp):
        return _BOOL_PREC[e.op]
    if isinstance(e, Not):
        return 3
    if isinstance(e, Compare):
        return 4
    if isinstance(e, Arith):
        return _ARITH_PREC[e.op]
    if isinstance(e, Neg):
        return 7
    return _ATOM


def _fmt(e: Expr, min_prec: int) -> str:
    s = _fmt_raw(e)
    return f"({s})" if _prec(e) < min_prec else s


def _fmt_raw(e: Expr) -> str:
    if isinstance(e, Number):
        return repr(e.value)  # shortest text that reads back as the same float (or the int itself)
    if isinstance(e, Bool):
        return "true" if e.value else "false"
    if isinstance(e, Name):
        return e.path
    if isinstance(e, Neg):
        # "- -x", not "-(-x)": parentheses would nest the text twice as deep as the tree, so a rule
        # near MAX_DEPTH would not parse back; the space keeps it from reading as one "--" token.
        if isinstance(e.operand, Neg):
            return "- " + _fmt_raw(e.operand)
        return "-" + _fmt(e.operand, _ATOM)
    if isinstance(e, Not):
        return "not " + _fmt(e.operand, 3)
    if isinstance(e, Compare):
        return f"{_fmt(e.left, 5)} {e.op} {_fmt(e.right, 5)}"
    if isinstance(e, (Arith, BoolOp)):
        p = _prec(e)
        # Left-associative: a right operand of the same precedence keeps its parentheses.
        return f"{_fmt(e.left, p)} {e.op} {_fmt(e.right, p + 1)}"
    raise TypeError(f"not a gate rule expression: {e!r}")


def format(rule: Rule | Expr) -> str:
    """Canonical text for a rule: single spaces, only the parentheses the precedence needs."""
    return _fmt_raw(rule.expr if isinstance(rule, Rule) else rule)


# -- tokens -----------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\))",
    re.ASCII,
)
_WORDISH = re.compile(r"[A-Za-z0-9_.]*", re.ASCII)
_MISTAKES = {"=": "use '==' to compare", "!": "use 'not'", "&": "use 'and'", "|": "use 'or'"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # number, name, kw, op, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            reason = _MISTAKES.get(ch) or (
                "strings are not part of gate rules" if ch in "'\"" else f"unexpected character {ch!r}"
            )
            raise RuleError(text, pos, reason)
        kind, tok = m.lastgroup or "", m.group()
        end = m.end()
        if kind == "number":
            tail = _WORDISH.match(text, end)
            if tail and tail.group():  # 1e, 1.5.3, 2x: not a number and not a number-then-name either
                raise RuleError(text, pos, f"invalid number '{tok}{tail.group()}'")
        elif kind == "name":
            if end < len(text) and text[end] == ".":
                raise RuleError(text, end, "expected a field name after '.'")
            if tok in _KEYWORDS:
                kind = "kw"
        if kind != "ws":
            toks.append(_Tok(kind, tok, pos))
        pos = end
    toks.append(_Tok("end", "", len(text)))
    return toks


# -- parsing ----------------------------------------------------------------------------------------
def _kind(e: Expr) -> str:
    """What a node yields, known before evaluation: 'bool', 'num', or 'any' for a name."""
    if isinstance(e, (Bool, Compare, BoolOp, Not)):
        return "bool"
    if isinstance(e, (Number, Neg, Arith)):
        return "num"
    return "any"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        if len(text) > MAX_LENGTH:
            raise RuleError(text, MAX_LENGTH, f"the rule is longer than {MAX_LENGTH} characters", kind="error")
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0  # parentheses, "not"s and "-"s open around the token being read

    def deeper(self, pos: int) -> None:
        """Enter one more nesting level, refusing the rule before the recursion gets anywhere near the limit."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(pos, f"the rule is nested deeper than {MAX_DEPTH} levels", kind="error")

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, pos: int, reason: str, kind: str = "syntax error") -> RuleError:
        return RuleError(self.text, pos, reason, kind=kind)

    def need(self, e: Expr, pos: int, want: str, what: str) -> None:
        k = _kind(e)
        if want == "bool" and k == "num":
            raise self.error(pos, f"{what} needs a condition (true/false), not a number", kind="error")
        if want == "num" and k == "bool":
            raise self.error(pos, f"{what} needs a number, not a condition", kind="error")

    def rule(self) -> Expr:
        if self.peek().kind == "end":
            raise self.error(0, "empty rule")
        e = self.or_()
        t = self.peek()
        if t.kind != "end":
            reason = (
                "unmatched ')'" if t.text == ")" else f"expected 'and', 'or' or the end of the rule, found '{t.text}'"
            )
            raise self.error(t.pos, reason)
        if _kind(e) == "num":
            raise self.error(0, "a rule must be a condition (true/false), e.g. eval.accuracy >= 0.95", kind="error")
        return e

    def _bool_chain(self, op: str, sub: Callable[[], Expr]) -> Expr:
        start = self.peek().pos
        left = sub()
        while self.peek().kind == "kw" and self.peek().text == op:
            self.need(left, start, "bool", f"'{op}'")
            self.take()
            rstart = self.peek().pos
            right = sub()
            self.need(right, rstart, "bool", f"'{op}'")
            left = BoolOp(op, left, right)
        return left

    def or_(self) -> Expr:
        return self._bool_chain("or", self.and_)

    def and_(self) -> Expr:
        return self._bool_chain("and", self.not_)

    def not_(self) -> Expr:
        t = self.peek()
        if t.kind == "kw" and t.text == "not":
            self.take()
            self.deeper(t.pos)
            start = self.peek().pos
            operand = self.not_()
            self.need(operand, start, "bool", "'not'")
            self.depth -= 1
            return Not(operand)
        return self.comparison()

    def comparison(self) -> Expr:
        start = self.peek().pos
        left = self.sum_()
        t = self.peek()
        if not (t.kind == "op" and t.text in COMPARE_OPS):
            return left
        self.take()
        rstart = self.peek().pos
        right = self.sum_()
        if t.text in ORDER_OPS:
            self.need(left, start, "num", f"'{t.text}'")
            self.need(right, rstart, "num", f"'{t.text}'")
        elif {_kind(left), _kind(right)} == {"bool", "num"}:
            raise self.error(t.pos, f"'{t.text}' cannot compare a condition with a number", kind="error")
        nxt = self.peek()
        if nxt.kind == "op" and nxt.text in COMPARE_OPS:
            raise self.error(nxt.pos, "comparisons cannot be chained; join them with 'and'")
        return Compare(t.text, left, right)

    def _arith_chain(self, ops: tuple[str, ...], sub: Callable[[], Expr]) -> Expr:
        start = self.peek().pos
        left = sub()
        while self.peek().kind == "op" and self.peek().text in ops:
            op = self.take().text
            self.need(left, start, "num", f"'{op}'")
            rstart = self.peek().pos
            right = sub()
            self.need(right, rstart, "num", f"'{op}'")
            left = Arith(op, left, right)
        return left

    def sum_(self) -> Expr:
        return self._arith_chain(("+", "-"), self.product)

    def product(self) -> Expr:
        return self._arith_chain(("*", "/"), self.unary)

    def unary(self) -> Expr:
        t = self.peek()
        if t.kind == "op" and t.text == "-":
            self.take()
            self.deeper(t.pos)
            start = self.peek().pos
            operand = self.unary()
            self.need(operand, start, "num", "'-'")
            self.depth -= 1
            return Neg(operand)
        return self.atom()

    def atom(self) -> Expr:
        prev = self.toks[self.i - 1] if self.i else None
        t = self.take()
        if t.kind == "number":
            return self.number(t)
        if t.kind == "kw" and t.text in ("true", "false"):
            return Bool(t.text == "true")
        if t.kind == "name":
            return self.name(t)
        if t.kind == "op" and t.text == "(":
            self.deeper(t.pos)
            inner = self.or_()
            self.depth -= 1
            close = self.peek()
            if close.text != ")":
                found = "" if close.kind == "end" else f", found '{close.text}'"
                raise self.error(close.pos, f"expected ')' to close the '(' at column {t.pos + 1}{found}")
            self.take()
            return inner
        found = "" if t.kind == "end" else f", found '{t.text}'"
        after = f" after '{prev.text}'" if prev is not None else ""
        raise self.error(t.pos, f"expected a value{after}{found}")

    def number(self, t: _Tok) -> Number:
        if any(c in t.text for c in ".eE"):
            v: int | float = float(t.text)
            if not math.isfinite(v):
                raise self.error(t.pos, f"number '{t.text}' is out of range")
        else:
            v = int(t.text)
        return Number(v)

    def name(self, t: _Tok) -> Name:
        parts = t.text.split(".")
        root, rest = parts[0], parts[1:]
        if root == CURRENT:
            if not rest or rest[0] not in ROOTS:
                raise self.error(
                    t.pos, f"'{CURRENT}' is followed by one of {', '.join(ROOTS)}, e.g. current.eval.accuracy"
                )
            root, rest = f"{CURRENT}.{rest[0]}", rest[1:]
        elif root not in ROOTS:
            if not rest and root.lower() in _KEYWORDS:
                raise self.error(t.pos, f"write '{root.lower()}' in lower case")
            reason = f"unknown name '{t.text}': names start with {', '.join(ROOTS)} or {CURRENT}"
            if t.pos >= 2 and self.text[t.pos - 1] == "-" and not self.text[t.pos - 2].isspace():
                reason += " (a name cannot contain '-'; put spaces around a minus sign)"
            raise self.error(t.pos, reason, kind="error")
        if not rest:
            example = _EXAMPLES[root.removeprefix(f"{CURRENT}.")]
            raise self.error(t.pos, f"'{t.text}' is a whole section; name a field in it, e.g. {example}", kind="error")
        return Name(t.text)


def parse(rule: str) -> Rule:
    """Parse a rule; raises RuleError (with a caret under the column) for bad syntax or an unknown name,
    and for a rule longer than :data:`MAX_LENGTH` characters or nested deeper than :data:`MAX_DEPTH`
    levels (a chain ``a + b + c`` is a level per operator: each one holds the rest)."""
    expr = _Parser(rule).rule()
    if _depth(expr) > MAX_DEPTH:
        raise RuleError(rule, 0, f"the rule is nested deeper than {MAX_DEPTH} levels (each operator is one)", "error")
    return Rule(expr, source=rule)


def _depth(e: Expr) -> int:
    """Levels of the tree under ``e``, counted without recursion (a long chain is a deep tree)."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(e, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(node, (Neg, Not)):
            stack.append((node.operand, d + 1))
        elif isinstance(node, (Arith, Compare, BoolOp)):
            stack += [(node.left, d + 1), (node.right, d + 1)]
    return deepest


def _walk(e: Expr) -> Iterable[Expr]:
    yield e
    if isinstance(e, (Neg, Not)):
        yield from _walk(e.operand)
    elif isinstance(e, (Arith, Compare, BoolOp)):
        yield from _walk(e.left)
        yield from _walk(e.right)


def names(rule: Rule | str) -> tuple[str, ...]:
    """The dotted names a rule reads, in order of first use: tells the caller which data it must load."""
    r = parse(rule) if isinstance(rule, str) else rule
    return tuple(dict.fromkeys(e.path for e in _walk(r.expr) if isinstance(e, Name)))
