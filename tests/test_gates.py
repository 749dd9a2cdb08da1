"""The gate rule language: a readable table of rules and verdicts, carets under syntax errors, round trips."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg.core import rules as gates
from gitreg.core.rules import (
    ROOTS,
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
    names,
    parse,
)
from gitreg.core.verdict import GateResult, Outcome, evaluate, evaluate_all
from gitreg.errors import GitregError, RuleError

CTX: dict[str, Any] = {
    "metrics": {"loss": 0.25, "val.acc": 0.91, "val": {"f1": 0.8}, "train.loss": 0.1, "epochs": 10, "arch": "mlp"},
    "eval": {"accuracy": 0.97, "f1_weighted": 0.96, "samples": 360},
    "parity": {"passed": True, "rtol": 1e-4, "onnxruntime_vs_eager": {"max_abs_error": 3e-6, "passed": True}},
    "artifacts": {"onnx": {"size": 12_000_000, "path": "model.onnx"}},
    "params": {"lr": 0.001, "optimizer": "adam", "hidden": 64, "use_bn": False},
    "current": {
        "eval": {"accuracy": 0.96, "f1_weighted": 0.962},
        "metrics": {"val.acc": 0.93},
        "params": {"optimizer": "sgd"},
    },
}
NO_CURRENT = {**CTX, "current": None}
NO_EVAL = {k: v for k, v in CTX.items() if k != "eval"}
LONG = "not (metrics.loss > 0.3) and artifacts.onnx.size < 50e6 or parity.onnxruntime_vs_eager.max_abs_error <= 1e-5"

# (rule, context, passed, value, threshold, note contains)
CASES: list[tuple[str, dict[str, Any], bool | None, Any, Any, str | None]] = [
    ("eval.accuracy >= 0.95", CTX, True, 0.97, 0.95, None),
    ("eval.accuracy >= 0.98", CTX, False, 0.97, 0.98, None),
    ("parity.passed", CTX, True, True, None, None),
    ("not parity.passed", CTX, False, False, None, None),
    ("parity.onnxruntime_vs_eager.max_abs_error <= 1e-5", CTX, True, 3e-6, 1e-5, None),
    # comparing against the stage's current holder
    ("eval.f1_weighted >= current.eval.f1_weighted - 0.005", CTX, True, 0.96, 0.962 - 0.005, None),
    ("eval.f1_weighted >= current.eval.f1_weighted", CTX, False, 0.96, 0.962, None),
    ("eval.f1_weighted >= current.eval.f1_weighted - 0.005", NO_CURRENT, None, None, None, SKIP_NOTE),
    ("parity.passed or eval.accuracy > current.eval.accuracy", NO_CURRENT, None, None, None, SKIP_NOTE),
    ("current.metrics.val.acc > metrics.val.acc", CTX, True, 0.93, 0.91, None),
    # flat dotted metric keys win; nested tables still work
    ("metrics.val.acc > 0.9", CTX, True, 0.91, 0.9, None),
    ("metrics.val.f1 == 0.8", CTX, True, 0.8, 0.8, None),
    ("metrics.train.loss < 0.2", CTX, True, 0.1, 0.2, None),
    # precedence: or < and < not < comparison < +- < */ < unary minus
    ("false and false or true", CTX, True, True, None, None),
    ("true or true and false", CTX, True, True, None, None),
    ("not false and false", CTX, False, False, None, None),
    ("not eval.accuracy < 0.5", CTX, True, True, None, None),
    (LONG, CTX, True, True, None, None),
    ("2 + 3 * 4 == 14", CTX, True, 14, 14, None),
    ("(2 + 3) * 4 == 20", CTX, True, 20, 20, None),
    ("10 - 4 - 3 == 3", CTX, True, 3, 3, None),
    ("8 / 4 / 2 == 1", CTX, True, 1.0, 1, None),
    ("-2 * 3 == -6", CTX, True, -6, -6, None),
    ("- -3 == 3", CTX, True, 3, 3, None),
    ("-(1 - 3) == 2", CTX, True, 2, 2, None),
    # scientific numbers
    ("parity.rtol == 1e-4", CTX, True, 1e-4, 1e-4, None),
    ("artifacts.onnx.size < 5E7", CTX, True, 12_000_000, 5e7, None),
    ("1.5e+3 == 1500", CTX, True, 1500.0, 1500, None),
    # params: strings, booleans and integers
    ("params.optimizer == current.params.optimizer", CTX, False, "adam", "sgd", None),
    ("params.use_bn == false", CTX, True, False, False, None),
    ("params.hidden * 2 == 128", CTX, True, 128, 128, None),
    ("eval.samples / 2 >= 180", CTX, True, 180.0, 180, None),
    # missing names fail the rule, naming what is missing
    ("eval.precision > 0.5", CTX, False, None, 0.5, "eval.precision is missing"),
    ("eval.accuracy >= 0.9", NO_EVAL, False, None, 0.9, "eval.accuracy is missing"),
    ("eval.accuracy >= current.eval.precision", CTX, False, 0.97, None, "current.eval.precision is missing"),
    ("parity.passed and eval.precision > 0.5", CTX, False, None, None, "eval.precision is missing"),
    # and/or are order-independent: unknown or true is true, unknown and false is false
    ("parity.passed or eval.precision > 0.5", CTX, True, True, None, None),
    ("eval.precision > 0.5 or parity.passed", CTX, True, True, None, None),
    ("eval.precision > 0.5 and params.use_bn", CTX, False, False, None, None),
    # type errors fail with a note
    ("parity.passed > 0.5", CTX, False, True, 0.5, "parity.passed is true (a boolean), not a number"),
    ("params.optimizer + 1 > 2", CTX, False, None, 2, "'adam' (a string), not a number"),
    ("parity.passed == 1", CTX, False, True, 1, "parity.passed is true (a boolean) but 1 is 1 (a number)"),
    ("eval.accuracy", CTX, False, 0.97, None, "eval.accuracy is 0.97 (a number), not true/false"),
    ("not eval.samples", CTX, False, None, None, "eval.samples is 360 (a number), not true/false"),
    ("metrics.arch < 3", CTX, False, "mlp", 3, "not a number"),
    ("metrics.loss / 0 > 1", CTX, False, None, 1, "division by zero in metrics.loss / 0"),
    ("artifacts.onnx > 1", CTX, False, None, 1, "artifacts.onnx is a table (with path, size), not a value"),
]


@pytest.mark.parametrize(("rule", "context", "passed", "value", "threshold", "note"), CASES, ids=[c[0] for c in CASES])
def test_rule_table(rule: str, context: dict[str, Any], passed: Any, value: Any, threshold: Any, note: Any) -> None:
    out = evaluate(rule, context)
    assert out.rule == rule
    assert out.passed is passed
    assert out.value == pytest.approx(value) if isinstance(value, float) else out.value == value
    assert out.threshold == pytest.approx(threshold) if isinstance(threshold, float) else out.threshold == threshold
    if note is None:
        assert out.note is None
    else:
        assert out.note is not None and note in out.note


def test_current_key_absent_is_no_holder() -> None:
    ctx = {k: v for k, v in CTX.items() if k != "current"}
    assert evaluate("eval.accuracy > current.eval.accuracy", ctx) == Outcome(
        "eval.accuracy > current.eval.accuracy", None, note=SKIP_NOTE
    )


def test_longest_flat_key_first_then_backtracks() -> None:
    ctx = {"metrics": {"a.b": {"c": 1}, "a": {"b": {"c": 2, "d": 3}}, "a.b.c": 4}}
    assert evaluate("metrics.a.b.c == 4", ctx).passed
    assert evaluate("metrics.a.b.d == 3", ctx).passed  # "a.b" exists but has no d: fall back to a → b → d


# -- syntax errors ----------------------------------------------------------------------------------
SYNTAX = [
    ("eval.accuracy >= ", 17, "expected a value after '>='"),
    ("eval.accuracy >=", 16, "expected a value after '>='"),
    ("", 0, "empty rule"),
    ("   ", 0, "empty rule"),
    ("eval.a < eval.b < eval.c", 16, "cannot be chained"),
    ("(eval.a > 1", 11, "expected ')' to close the '(' at column 1"),
    ("eval.a > 1)", 10, "unmatched ')'"),
    ("eval.a = 1", 7, "use '=='"),
    ("eval.a > 1 && parity.passed", 11, "use 'and'"),
    ("eval.a > 1 || parity.passed", 11, "use 'or'"),
    ("!parity.passed", 0, "use 'not'"),
    ("eval.a > 1 parity.passed", 11, "expected 'and', 'or' or the end of the rule, found 'parity.passed'"),
    ("eval. > 1", 4, "expected a field name after '.'"),
    ("1.5.3 > eval.a", 0, "invalid number '1.5.3'"),
    ("eval.a > 1e", 9, "invalid number '1e'"),
    ("eval.a > 'x'", 9, "strings are not part of gate rules"),
    ("eval.a > 1e999", 9, "out of range"),
    ("not", 3, "expected a value after 'not'"),
    ("eval.a >= and parity.passed", 10, "expected a value after '>=', found 'and'"),
    ("()", 1, "expected a value after '(', found ')'"),
    ("True", 0, "write 'true' in lower case"),
    ("eval.a >\n1 >", 11, "cannot be chained"),
    # kinds known from literals are checked when parsing
    ("eval.a + 1", 0, "a rule must be a condition"),
    ("3 and parity.passed", 0, "'and' needs a condition (true/false), not a number"),
    ("parity.passed and 3", 18, "'and' needs a condition"),
    ("not 1", 4, "'not' needs a condition"),
    ("(eval.a > 1) + 1 > 0", 0, "'+' needs a number, not a condition"),
    ("true < 1", 0, "'<' needs a number"),
    ("true == 1", 5, "'==' cannot compare a condition with a number"),
    ("-true == false", 1, "'-' needs a number"),
    # unknown roots and whole sections
    ("foo.bar > 1", 0, "unknown name 'foo.bar'"),
    ("eval.a > accuracy", 9, "unknown name 'accuracy'"),
    ("metrics.val-acc > 1", 12, "a name cannot contain '-'"),
    ("current.foo.x > 1", 0, "'current' is followed by one of metrics, eval"),
    ("current > 1", 0, "'current' is followed by one of"),
    ("metrics > 1", 0, "'metrics' is a whole section; name a field in it, e.g. metrics.loss"),
    ("current.eval", 0, "e.g. eval.accuracy"),
]


@pytest.mark.parametrize(("rule", "column", "reason"), SYNTAX, ids=[s[0] or "<empty>" for s in SYNTAX])
def test_syntax_errors_point_at_the_column(rule: str, column: int, reason: str) -> None:
    with pytest.raises(RuleError) as exc:
        parse(rule)
    err = exc.value
    assert (err.column, err.rule) == (column, rule)
    assert reason in err.reason
    first, shown, caret = err.message.split("\n")
    assert first.startswith("gate rule ") and reason in first
    assert shown == "  " + "".join(" " if c.isspace() else c for c in rule)
    assert caret == " " * (2 + column) + "^"
    assert err.exit_code == 1 and isinstance(err, GitregError) and err.hint


def test_caret_message_layout() -> None:
    with pytest.raises(RuleError) as exc:
        parse("eval.accuracy >= ")
    assert exc.value.message == (
        "gate rule syntax error: expected a value after '>='\n  eval.accuracy >= \n" + " " * 19 + "^"
    )


def test_unknown_root_names_the_rule_and_is_a_parse_error() -> None:
    with pytest.raises(RuleError, match=r"unknown name 'accuracy'[^\n]*\n  eval.a >= 1 and accuracy > 2\n"):
        evaluate_all(["parity.passed", "eval.a >= 1 and accuracy > 2"], CTX)


def test_names_in_order_of_first_use() -> None:
    rule = "eval.f1 >= current.eval.f1 - 0.005 and (parity.passed or eval.f1 > 0.99) and metrics.val.acc > 0"
    assert names(rule) == ("eval.f1", "current.eval.f1", "parity.passed", "metrics.val.acc")
    assert parse(rule).expr and names(parse("true")) == ()
    assert Name("current.metrics.val.acc").root == "current.metrics" and Name("eval.x").root == "eval"


def test_canonical_text() -> None:
    assert gates.format(parse("not(metrics.loss>0.3)and  artifacts.onnx.size<50e6")) == (
        "not metrics.loss > 0.3 and artifacts.onnx.size < 50000000.0"
    )
    assert gates.format(parse("((eval.a - (1 - 2))) > 0")) == "eval.a - (1 - 2) > 0"
    assert gates.format(parse("- - 3 == 3")) == "- -3 == 3"
    assert str(parse("parity.passed  or  false")) == "parity.passed or false"
    assert parse("eval.x  >= 1").text == "eval.x  >= 1"  # reports show the rule as written
    assert Rule(Compare(">=", Name("eval.x"), Number(1))).text == "eval.x >= 1"


def test_numbers_cannot_be_negative_or_infinite() -> None:
    for bad in (-1, -0.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            Number(bad)
    with pytest.raises(TypeError):
        Number(True)


# -- reports ----------------------------------------------------------------------------------------
def test_evaluate_all_and_reports() -> None:
    rules = ["parity.passed", "eval.accuracy >= 0.98", "eval.f1_weighted >= current.eval.f1_weighted - 0.005"]
    res = evaluate_all(rules, NO_CURRENT)
    assert not res.passed
    assert [o.result for o in res.outcomes] == ["pass", "fail", "skip"]
    assert res.failures() == (res.outcomes[1],)
    assert res.summary() == "gate failed: 1 of 3 rules failed, 1 skipped"
    d = res.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["passed"] is False
    assert d["rules"][1] == {
        "rule": "eval.accuracy >= 0.98",
        "passed": False,
        "result": "fail",
        "value": 0.97,
        "threshold": 0.98,
        "note": None,
    }
    md = res.markdown(title="digits → production")
    assert md.splitlines()[:5] == [
        "### digits → production",
        "",
        "| rule | value | threshold | result |",
        "|---|---|---|---|",
        "| `parity.passed` | true |  | ✅ pass |",
    ]
    assert "| `eval.accuracy >= 0.98` | 0.97 | 0.98 | ❌ fail |" in md
    assert f"⏭️ skip: {SKIP_NOTE} |" in md
    assert md.rstrip().endswith("**gate failed: 1 of 3 rules failed, 1 skipped**")
    table = res.table().splitlines()
    assert table[0].split() == ["RULE", "VALUE", "THRESHOLD", "RESULT"]
    assert table[2].split() == ["eval.accuracy", ">=", "0.98", "0.97", "0.98", "fail"]
    assert table[3].endswith(f"skip: {SKIP_NOTE}")


def test_gate_passes_when_rules_pass_or_skip() -> None:
    res = evaluate_all([parse("parity.passed"), "eval.accuracy > current.eval.accuracy"], NO_CURRENT)
    assert res.passed and res.summary() == "gate passed: 1 of 2 rules passed, 1 skipped"
    assert evaluate_all([], CTX).passed
    assert "\\|" in GateResult((Outcome("params.x == params.y", False, "a|b", "c", None),)).markdown()


# -- properties ---------------------------------------------------------------------------------------
ROOT_NAMES = [*ROOTS, *(f"current.{r}" for r in ROOTS)]
fields = st.from_regex(r"\A[a-z0-9_]{1,6}\Z")
name_st = st.builds(
    lambda root, fs: Name(".".join([root, *fs])),
    st.sampled_from(ROOT_NAMES),
    st.lists(fields, min_size=1, max_size=3),
)
number_st = st.builds(
    Number,
    st.one_of(st.integers(0, 10**15), st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)),
)
num_expr = st.recursive(
    st.one_of(number_st, name_st),
    lambda c: st.one_of(st.builds(Arith, st.sampled_from("+-*/"), c, c), st.builds(Neg, c)),
    max_leaves=6,
)
bool_leaf = st.one_of(
    st.builds(Bool, st.booleans()),
    name_st,
    st.builds(Compare, st.sampled_from(gates.COMPARE_OPS), num_expr, num_expr),
)
bool_expr = st.recursive(
    bool_leaf,
    lambda c: st.one_of(
        st.builds(Not, c),
        st.builds(BoolOp, st.sampled_from(["and", "or"]), c, c),
        st.builds(Compare, st.sampled_from(["==", "!="]), c, c),
    ),
    max_leaves=8,
)
rules = st.builds(Rule, bool_expr)


def _noisy(draw: Any, e: Expr, min_prec: int) -> str:
    """Same tree as gates.format, but with extra parentheses, odd spacing and other number spellings."""

    def ws() -> str:
        return str(draw(st.sampled_from(["", " ", "  ", "\t", "\n "])))

    def ws1() -> str:  # keywords need a space around them
        return str(draw(st.sampled_from([" ", "  ", "\t", "\n"])))

    prec = gates._prec(e)
    if isinstance(e, Number):
        v = e.value
        spellings = [str(v), f"{v}.0", f"{v}e0"] if isinstance(v, int) else [repr(v), f"{v:.17e}", f"{v:.17E}"]
        s = draw(st.sampled_from(spellings))
    elif isinstance(e, Bool):
        s = "true" if e.value else "false"
    elif isinstance(e, Name):
        s = e.path
    elif isinstance(e, Neg):
        s = "-" + ws() + _noisy(draw, e.operand, 9)
    elif isinstance(e, Not):
        s = "not" + ws1() + _noisy(draw, e.operand, 3)
    elif isinstance(e, Compare):
        s = f"{_noisy(draw, e.left, 5)}{ws()}{e.op}{ws()}{_noisy(draw, e.right, 5)}"
    else:
        assert isinstance(e, (Arith, BoolOp))
        sp = ws1 if isinstance(e, BoolOp) else ws
        s = f"{_noisy(draw, e.left, prec)}{sp()}{e.op}{sp()}{_noisy(draw, e.right, prec + 1)}"
    if prec < min_prec or draw(st.integers(0, 5)) == 0:
        s = "(" + ws() + s + ws() + ")"
    return s


@given(rules)
def test_parse_format_round_trip(rule: Rule) -> None:
    text = gates.format(rule)
    assert parse(text) == rule
    assert gates.format(parse(text)) == text


@given(st.data(), rules)
def test_noisy_text_parses_to_the_same_tree_and_formats_to_a_fixed_point(data: st.DataObject, rule: Rule) -> None:
    text = _noisy(data.draw, rule.expr, 0)
    parsed = parse(text)
    assert parsed == rule
    canon = gates.format(parsed)
    assert gates.format(parse(canon)) == canon


@settings(max_examples=300)
@given(st.text(alphabet=list("eval.cur metrics_x0123456789e+-*/<>=!()andortufsl \t'"), max_size=40))
def test_any_text_parses_or_raises_rule_error(text: str) -> None:
    try:
        rule = parse(text)
    except RuleError as err:
        assert 0 <= err.column <= len(text)
        assert err.message.count("\n") == 2
    else:
        assert parse(gates.format(rule)) == rule


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**400), 10**400),
    st.floats(),
    st.text(max_size=3),
    st.dictionaries(fields, st.floats(), max_size=2),
)


@st.composite
def contexts(draw: Any, rule: Rule) -> dict[str, Any]:
    ctx: dict[str, Any] = {r: {} for r in ROOTS}
    ctx["current"] = draw(st.one_of(st.none(), st.just({r: {} for r in ROOTS})))
    for n in names(rule):
        parts = n.split(".")
        scope = ctx
        if parts[0] == "current":
            if ctx["current"] is None:
                continue
            scope, parts = ctx["current"], parts[1:]
        if draw(st.booleans()):
            scope[parts[0]][".".join(parts[1:])] = draw(values)
    return ctx


@given(st.data(), rules)
def test_evaluation_never_raises(data: st.DataObject, rule: Rule) -> None:
    ctx = data.draw(contexts(rule))
    out = evaluate(rule, ctx)
    assert out.passed in (True, False, None)
    assert (out.passed is None) == (out.note == SKIP_NOTE)
    assert out.rule == gates.format(rule)
    GateResult((out,)).markdown()
