"""Fuzzing the pure readers: references, tags, versions, names, sidecars, gitreg.toml, stages.toml, gate rules.

Each property: whatever the input, the reader returns a value or raises a ``GitregError`` subclass,
never another exception; and what it accepts survives a round trip through its own writer. Inputs are
near-valid documents with values of the wrong type, bombs (deep nesting, long dotted keys, huge
strings), control characters and unicode. Example counts: tests/support/fuzz.py (``HYPOTHESIS_PROFILE=slow``
for ten times more).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg.core import card, diff, rules, sidecar, stages, verdict
from gitreg.core.refs import MAX_NAME, Version, check_name, format_tag, parse_reference, parse_tag
from gitreg.core.settings import RegistryConfig, unknown_keys
from gitreg.errors import (
    ConfigError,
    GitregError,
    InvalidName,
    InvalidReference,
    InvalidVersion,
    RuleError,
    SidecarError,
    StageError,
)
from tests.support.fuzz import (
    CONTROL,
    VALID_CONFIG,
    VALID_SIDECAR,
    VALID_STAGES,
    bombs,
    documents,
    dumps,
    fuzz,
    hostile_text,
    mutated,
    references,
    semver,
    toml_values,
    versions,
)


# -- names, versions, references, tags ----------------------------------------------------------------
@fuzz(200)
@given(st.one_of(hostile_text, st.from_regex(r"[a-z0-9_-]{1,120}\n?", fullmatch=True)))
def test_a_name_is_accepted_only_when_it_is_plain(text: str) -> None:
    try:
        name = check_name(text)
    except InvalidName as e:
        assert "\n" not in e.message
        return
    assert name == text and len(name) <= MAX_NAME
    assert name.isascii() and not CONTROL.search(name) and "\n" not in name
    assert parse_reference(name).name == name


@fuzz(200)
@given(st.one_of(versions, hostile_text))
def test_a_version_parses_or_is_refused(text: str) -> None:
    try:
        v = Version.parse(text)
    except InvalidVersion:
        return
    assert Version.parse(str(v)) == v and str(Version.parse(str(v))) == str(v)
    assert Version.parse(v.tag_form) == v
    for part in ("major", "minor", "patch"):
        assert v.bump(part) > v or (part == "patch" and v.pre)


@fuzz(200)
@given(st.one_of(references, hostile_text))
def test_a_reference_parses_or_is_refused(text: str) -> None:
    try:
        ref = parse_reference(text)
    except (InvalidReference, InvalidVersion):
        return
    again = parse_reference(str(ref))
    assert again == ref
    assert not CONTROL.search(str(ref))


@fuzz(200)
@given(
    st.one_of(
        hostile_text,
        st.builds(
            lambda n, v, bang: f"{n}@v{v}{bang}", st.sampled_from(["m", "A/b", "x"]), semver, st.sampled_from(["", "!"])
        ),
        st.builds(
            lambda n, s, c: f"{n}#{s}{c}",
            st.sampled_from(["m", "a//b"]),
            st.sampled_from(["prod", "p!", "s"]),
            st.sampled_from(["", "#1", "#007", "#x"]),
        ),
    )
)
def test_any_tag_name_is_an_event_or_none_and_events_format_back(text: str) -> None:
    event = parse_tag(text)  # never raises: any tag may sit in a registry
    if event is not None:
        # A counter may be written with leading zeros (``#007``): the event is the same, its tag canonical
        # (the hook refuses such a tag: one counter, one spelling).
        assert parse_tag(format_tag(event)) == event
        if event.counter is None or not re.search(r"#0\d+\Z", text):
            assert format_tag(event) == text


# -- sidecars -------------------------------------------------------------------------------------------
def _load(text: str | bytes) -> sidecar.Sidecar | None:
    try:
        return sidecar.loads(text, where="h@v1.0.0:models/h/model.toml")
    except SidecarError as e:
        assert e.message.startswith(("corrupt sidecar", "sidecar ")), e.message
        return None


@fuzz(250)
@given(documents(VALID_SIDECAR))
def test_a_sidecar_loads_or_raises_sidecar_error(text: str) -> None:
    sc = _load(text)
    if sc is None:
        return
    # What loads accepts, the canonical writer writes and loads reads back the same.
    canon = sidecar.dumps(sc)
    again = sidecar.loads(canon)
    assert sidecar.dumps(again) == canon
    assert [a.path for a in again.stored_files()] == [a.path for a in sc.stored_files()]
    for art in sc.stored_files():
        assert sidecar.file_path_problem(art.path) is None or art.kind in sc.artifacts


@fuzz(150)
@given(
    st.one_of(bombs(), st.binary(max_size=200), st.binary(max_size=40).map(lambda b: dumps(VALID_SIDECAR).encode() + b))
)
def test_sidecar_bombs_and_bytes_are_sidecar_errors(raw: str | bytes) -> None:
    _load(raw)


def test_sidecar_bombs_past_the_caps_are_refused_before_parsing() -> None:
    from tests.support.fuzz import deep

    for kind in ("array", "inline"):
        with pytest.raises(SidecarError, match="nests deeper"):
            sidecar.loads(deep(kind, 100_000))
    with pytest.raises(SidecarError, match="dotted key"):
        sidecar.loads(deep("dotted", 20_000))
    with pytest.raises(SidecarError, match="dotted key"):
        sidecar.loads(deep("tables", 20_000))
    with pytest.raises(SidecarError, match="larger than"):
        sidecar.loads(deep("string", sidecar.MAX_BYTES + 1))


@fuzz(150)
@given(documents(VALID_SIDECAR), documents(VALID_SIDECAR))
def test_cards_and_diffs_of_any_accepted_sidecars_render(a_text: str, b_text: str) -> None:
    a, b = _load(a_text), _load(b_text)
    for sc in (a, b):
        if sc is not None:
            text = card.model_card(sc.to_dict(), "h@v1.0.0")
            assert isinstance(text, str) and text
    if a is not None and b is not None:
        d = diff.diff("h@v1.0.0", a.to_dict(), "h@v1.1.0", b.to_dict())
        assert all(isinstance(line, str) for line in diff.render(d))


@fuzz(150)
@given(mutated(VALID_SIDECAR), mutated(VALID_SIDECAR))
def test_cards_and_diffs_render_whatever_types_a_dict_holds(a: dict[str, Any], b: dict[str, Any]) -> None:
    # What loads would refuse, a dict built in code may still hold: the renderers show what they can.
    assert card.model_card(a, "h@v1.0.0")
    d = diff.diff("h@v1.0.0", a, "h@v1.1.0", b)
    assert all(isinstance(line, str) for line in diff.render(d))


@fuzz(200)
@given(st.dictionaries(hostile_text, st.one_of(toml_values, st.floats()), max_size=5))
def test_metrics_are_finite_numbers_under_printable_names(metrics: dict[str, Any]) -> None:
    try:
        out = sidecar.check_metrics(metrics)
    except ValueError:
        return
    for k, v in out.items():
        assert k and not CONTROL.search(k)
        assert not isinstance(v, bool) and math.isfinite(v)


# -- gitreg.toml -----------------------------------------------------------------------------------------
@fuzz(150)
@given(documents(VALID_CONFIG), st.data())
def test_gitreg_toml_parses_or_raises_config_error_naming_it(text: str, data: st.DataObject) -> None:
    try:
        cfg = RegistryConfig.parse(text)
    except ConfigError as e:
        assert "gitreg.toml" in e.message
        return
    assert all(isinstance(s, str) and s for s in cfg.stages)
    assert isinstance(cfg.tolerance, float) and math.isfinite(cfg.tolerance)
    assert isinstance(cfg.max_plain_blob_bytes, int) and cfg.max_plain_blob_bytes >= 0
    assert isinstance(unknown_keys(cfg.raw), list)
    stage = data.draw(st.one_of(st.sampled_from(cfg.stages or ("staging",)), hostile_text), label="stage")
    try:
        pol = stages.policy(cfg, stage)
    except StageError:
        assert stage not in cfg.stages
        return
    # A gate's rules from a pull request: each parses or is a RuleError; parsed ones judge any data.
    context = data.draw(_contexts, label="context")
    for text_rule in pol.rules:
        try:
            rule = rules.parse(text_rule)
        except RuleError:
            continue
        outcome = verdict.evaluate(rule, context)
        assert outcome.passed in (True, False, None)


# -- stages.toml -----------------------------------------------------------------------------------------
@fuzz(200)
@given(st.one_of(documents(VALID_STAGES), st.binary(max_size=100).map(lambda b: b.decode("latin-1"))))
def test_stages_toml_parses_or_raises_stage_error(text: str) -> None:
    raw = text.encode("utf-8", errors="surrogatepass")
    try:
        assignments, problems = stages.parse_stages(raw, where="on main")
    except StageError as e:
        assert "stages.toml" in e.message
        return
    assert all(isinstance(p, str) and p.startswith("stages.toml on main: ") for p in problems)
    assert not any("\n" in p or "\r" in p for p in problems), problems  # keys and values quoted: one line each
    again = stages.read_stages(stages.dump_stages(assignments).encode())
    assert again == {m: s for m, s in assignments.items() if s}


# -- gate rules ------------------------------------------------------------------------------------------
rule_text = st.one_of(
    hostile_text,
    st.text(
        alphabet=list("()<>=!.+-*/ eval.accuracy metrics.f1 current.parity.passed and or not 0123456789e\t\n"),
        max_size=60,
    ),
    # Nesting and length on both sides of the caps (rules.MAX_DEPTH, rules.MAX_LENGTH), far past them too.
    st.integers(1, 1200).map(lambda n: "(" * n + "parity.passed" + ")" * n),
    st.integers(1, 1200).map(lambda n: "not " * n + "parity.passed"),
    st.integers(1, 1200).map(lambda n: "-" * n + "1 < eval.accuracy"),
    st.integers(1, 600).map(lambda n: " + ".join(["metrics.a"] * n) + " > 1"),
    st.integers(1, 600).map(lambda n: " and ".join(["parity.passed"] * n)),
)
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**400), 10**400), st.floats(), st.text(max_size=3))
_section = st.dictionaries(
    st.sampled_from(["accuracy", "f1", "passed", "a", "lr", "onnx"]),
    st.recursive(_leaf, lambda c: st.dictionaries(st.sampled_from(["size", "x"]), c, max_size=2), max_leaves=3),
    max_size=4,
)
_contexts = st.fixed_dictionaries(
    {k: _section for k in ("metrics", "eval", "parity", "artifacts", "params")},
    optional={
        "current": st.one_of(st.none(), st.fixed_dictionaries({k: _section for k in ("metrics", "eval", "parity")}))
    },
)


@fuzz(150)
@given(rule_text, _contexts)
def test_a_rule_parses_or_points_at_its_column_and_never_crashes_a_gate(text: str, context: dict[str, Any]) -> None:
    try:
        rule = rules.parse(text)
    except RuleError as e:
        assert 0 <= e.column <= len(text)
        assert e.message.count("\n") == 2  # reason, the rule, the caret
        assert "\n" not in e.message.split("\n")[1][2:], "the rule line must be one line"
        return
    except GitregError:
        raise AssertionError("a rule that does not parse must be a RuleError") from None
    assert rules.parse(rules.format(rule)) == rule
    result = verdict.evaluate_all([rule], context)
    assert len(result.outcomes) == 1
    assert isinstance(result.table(), str)
