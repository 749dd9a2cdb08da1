"""Folding tag records into registry state (pure; no repository)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gitreg.core.refs import Kind, parse_tag
from gitreg.core.state import TagRecord, _parse_tag, fold


def rec(tag: str, commit: str, t: int, annotated: bool = True) -> TagRecord:
    return TagRecord(tag=tag, commit=commit, annotated=annotated, time=t, author="a", author_email="a@x")


def test_versions_latest_and_deregistration() -> None:
    st = fold(
        [
            rec("m@v1.0.0", "c1", 1),
            rec("m@v1.10.0", "c3", 3),
            rec("m@v1.9.0", "c2", 2),
            rec("m@v1.10.0!", "c3", 4),
            rec("other@v0.1.0", "c4", 5),
        ]
    )
    m = st["m"]
    assert [v.version for v in m.active_versions()] == ["1.0.0", "1.9.0"]
    assert m.latest().version == "1.9.0"
    assert m.versions["1.10.0"].deregistered
    assert set(st) == {"m", "other"}


def test_prerelease_is_latest_like_gto() -> None:
    m = fold([rec("m@v1.10.0", "c1", 1), rec("m@v2.0.0-rc.1", "c2", 2)])["m"]
    assert m.latest().version == "2.0.0-rc.1"


def test_stage_holder_follows_counter_and_falls_back_on_unassign() -> None:
    records = [
        rec("m@v1.0.0", "c1", 1),
        rec("m@v1.1.0", "c2", 2),
        rec("m#prod#1", "c1", 3),
        rec("m#prod#2", "c2", 4),
    ]
    assert fold(records)["m"].stages == {"prod": "1.1.0"}
    records.append(rec("m#prod!#3", "c2", 5))
    m = fold(records)["m"]
    assert m.stages == {"prod": "1.0.0"}  # falls back to the earlier, still-active assignment
    assert m.next_counter == 4
    records.append(rec("m#prod!#4", "c1", 6))
    assert fold(records)["m"].stages == {}


def test_counter_orders_stage_events_not_time() -> None:
    # Tagger clocks can disagree; the counter is the order gitreg writes.
    m = fold(
        [
            rec("m@v1.0.0", "c1", 1),
            rec("m@v1.1.0", "c2", 2),
            rec("m#prod#2", "c2", 3),
            rec("m#prod#5", "c1", 3),
        ]
    )["m"]
    assert m.stages == {"prod": "1.0.0"}


def test_stage_on_deregistered_version_is_ignored_like_gto() -> None:
    m = fold(
        [
            rec("m@v1.0.0", "c1", 1),
            rec("m@v1.1.0", "c2", 2),
            rec("m#prod#1", "c1", 3),
            rec("m#prod#2", "c2", 4),
            rec("m@v1.1.0!", "c2", 5),
        ]
    )["m"]
    assert m.stages == {"prod": "1.0.0"}


def test_problems_are_reported_not_fatal() -> None:
    m = fold(
        [
            rec("m@v1.0.0", "c1", 1),
            rec("m@v1.1.0", "c1", 2),
            rec("m#prod#1", "zz", 3),
            rec("m@v2.0.0", "c9", 4, annotated=False),
        ]
    )["m"]
    text = "\n".join(m.problems)
    assert "same commit" in text and "holds no version" in text and "lightweight" in text
    assert "2.0.0" not in m.versions


def test_deprecation_and_revival() -> None:
    records = [rec("m@v1.0.0", "c1", 1), rec("m@deprecated", "c1", 2)]
    assert fold(records)["m"].deprecated
    records.append(rec("m@v1.1.0", "c2", 3))
    assert not fold(records)["m"].deprecated


def test_history_is_in_time_order_with_versions_resolved() -> None:
    m = fold([rec("m#prod#1", "c1", 3), rec("m@v1.0.0", "c1", 1), rec("m@v1.0.0!", "c1", 9)])["m"]
    assert [(e.kind, e.version) for e in m.events] == [
        (Kind.REGISTER, "1.0.0"),
        (Kind.ASSIGN, "1.0.0"),
        (Kind.DEREGISTER, "1.0.0"),
    ]
    assert m.last_time == 9


def test_non_registry_tags_are_ignored() -> None:
    assert fold([rec("v1.0.0", "c1", 1), rec("release-2024", "c2", 2)]) == {}


# Tag names that stress the grammar: GTO's broader names, counters, cancellations, near misses.
TRICKY_TAGS = [
    "m@v1.0.0",
    "m@v1.0.0!",
    "m@v1.0.0#3",
    "m@v1.0.0!#4",
    "m@v1.0.0-rc.1+build.5",
    "m#prod",
    "m#prod#2",
    "m#prod!#7",
    "m@deprecated",
    "m@deprecated#9",
    "models/churn@v2.0.0",
    "a//b@v1.0.0",
    "Big_Model-2#Stage/x#1",
    "m@1.0.0",
    "m@v1.0",
    "m@v01.0.0",
    "m#",
    "-m@v1.0.0",
    "m@v1.0.0!!",
    "v1.0.0",
    "",
]


@given(st.one_of(st.sampled_from(TRICKY_TAGS), st.from_regex(r"\A[a-zA-Z0-9_/#@!.+-]{0,24}\Z")))
def test_fold_parses_tags_as_parse_tag_does(tag: str) -> None:
    ev = parse_tag(tag)
    expected = None if ev is None else (ev.kind, ev.name, ev.version, ev.stage, ev.counter)
    assert _parse_tag(tag) == expected


def test_latest_of_equal_versions_is_the_last_registered_like_a_stable_sort() -> None:
    m = fold([rec("m@v1.0.0+a", "c1", 1), rec("m@v1.0.0+b", "c2", 2), rec("m@v0.9.0", "c3", 3)])["m"]
    assert m.latest(strict=False) is m.active_versions()[-1]
    assert m.latest(strict=False).version == "1.0.0+b"
