"""The tag and reference grammar: property round trips plus readable tables."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg.core.refs import (
    Kind,
    Reference,
    TagEvent,
    Version,
    check_name,
    format_tag,
    parse_reference,
    parse_tag,
    tag_message,
)
from gitreg.errors import InvalidName, InvalidReference, InvalidVersion

names = st.from_regex(r"\A[a-z0-9](?:[a-z0-9_-]{0,20}[a-z0-9])?\Z")
nums = st.integers(min_value=0, max_value=10**6)
pre_ids = st.one_of(st.integers(0, 999).map(str), st.from_regex(r"\A[a-z][a-z0-9-]{0,6}\Z"))
versions = st.builds(
    Version,
    nums,
    nums,
    nums,
    st.one_of(st.none(), st.lists(pre_ids, min_size=1, max_size=3).map(".".join)),
    st.one_of(st.none(), st.from_regex(r"\A[0-9a-zA-Z-]{1,6}(\.[0-9a-zA-Z-]{1,6}){0,2}\Z")),
)
counters = st.one_of(st.none(), st.integers(0, 10**6))


@st.composite
def events(draw) -> TagEvent:
    kind = draw(st.sampled_from(list(Kind)))
    name = draw(names)
    counter = draw(counters)
    if kind in (Kind.REGISTER, Kind.DEREGISTER):
        return TagEvent(kind, name, version=str(draw(versions)), counter=counter)
    if kind in (Kind.ASSIGN, Kind.UNASSIGN):
        return TagEvent(kind, name, stage=draw(names), counter=counter)
    return TagEvent(kind, name, counter=counter)


@given(events())
def test_parse_inverts_format(ev: TagEvent) -> None:
    assert parse_tag(format_tag(ev)) == ev


@settings(max_examples=40, deadline=None)
@given(events())
def test_every_formatted_tag_is_a_valid_git_ref(ev: TagEvent) -> None:
    tag = format_tag(ev)
    p = subprocess.run(["git", "check-ref-format", f"refs/tags/{tag}"], check=False)
    assert p.returncode == 0, tag


@given(versions)
def test_version_round_trip(v: Version) -> None:
    assert Version.parse(str(v)) == v
    assert Version.parse(v.tag_form) == v


@given(st.text(max_size=30))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    ev = parse_tag(text)
    if ev is not None:
        assert format_tag(ev) == text.replace("#0", "#0")  # re-formatting a parsed tag gives it back


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("churn@v1.0.0", TagEvent(Kind.REGISTER, "churn", version="1.0.0")),
        ("churn@v1.0.0-rc.1", TagEvent(Kind.REGISTER, "churn", version="1.0.0-rc.1")),
        ("churn@v1.0.0+build.5", TagEvent(Kind.REGISTER, "churn", version="1.0.0+build.5")),
        ("churn@v1.0.0!", TagEvent(Kind.DEREGISTER, "churn", version="1.0.0")),
        ("churn#prod#3", TagEvent(Kind.ASSIGN, "churn", stage="prod", counter=3)),
        ("churn#prod", TagEvent(Kind.ASSIGN, "churn", stage="prod")),
        ("churn#prod-5", TagEvent(Kind.ASSIGN, "churn", stage="prod-5")),
        ("churn#prod!#4", TagEvent(Kind.UNASSIGN, "churn", stage="prod", counter=4)),
        ("churn@deprecated", TagEvent(Kind.DEPRECATE, "churn")),
        ("models/churn@v1.0.0", TagEvent(Kind.REGISTER, "models/churn", version="1.0.0")),
    ],
)
def test_gto_tag_table(tag: str, expected: TagEvent) -> None:
    assert parse_tag(tag) == expected


@pytest.mark.parametrize(
    "tag",
    [
        "my.model@v1.0.0",
        "-x@v1.0.0",
        "x-@v1.0.0",
        "churn@1.0.0",
        "churn#pr.od#1",
        "churn@deprecated!",
        "churn@created",
        "churn@v01.0.0",
        "churn@V1.0.0",
        "churn@v1.0",
        "v1.0.0",
        "models//churn@v1.0.0",
        "",
    ],
)
def test_not_registry_tags(tag: str) -> None:
    assert parse_tag(tag) is None


@pytest.mark.parametrize("name", ["a", "digits", "digits-mlp", "m_2", "0model"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Digits", "dig its", "a@b", "a#b", "a!b", "a/b", "a:b", "-a", "a-", "a.b", "ä"])
def test_invalid_names_say_the_rule(name: str) -> None:
    with pytest.raises(InvalidName, match="lower-case letters"):
        check_name(name)


@pytest.mark.parametrize(
    "text, ref",
    [
        ("digits", Reference("digits")),
        ("digits@latest", Reference("digits")),
        ("digits@v1.2.0", Reference("digits", version="1.2.0")),
        ("digits@1.2.0", Reference("digits", version="1.2.0")),
        ("digits#production", Reference("digits", stage="production")),
    ],
)
def test_references(text: str, ref: Reference) -> None:
    assert parse_reference(text) == ref


@pytest.mark.parametrize("text", ["digits@", "digits#", "digits@v1", "@v1.0.0", "digits@v1.0.0#prod", "a b"])
def test_bad_references(text: str) -> None:
    with pytest.raises((InvalidReference, InvalidVersion)):
        parse_reference(text)


def test_semver_precedence() -> None:
    order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.9.0",
        "1.10.0",
        "2.0.0-rc.1",
        "2.0.0",
    ]
    parsed = [Version.parse(v) for v in order]
    assert sorted(reversed(parsed)) == parsed
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")  # build metadata has no precedence


@pytest.mark.parametrize(
    "start, part, expected",
    [
        ("1.2.3", "major", "2.0.0"),
        ("1.2.3", "minor", "1.3.0"),
        ("1.2.3", "patch", "1.2.4"),
        ("1.3.0-rc.1", "patch", "1.3.0"),
    ],
)
def test_bump(start: str, part: str, expected: str) -> None:
    assert str(Version.parse(start).bump(part)) == expected


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "1.0.0.0", "x", "", "1.0.0-"])
def test_invalid_versions(text: str) -> None:
    with pytest.raises(InvalidVersion, match="semantic versioning"):
        Version.parse(text)


def test_messages_match_gto() -> None:
    assert tag_message(TagEvent(Kind.REGISTER, "churn", version="0.0.1")) == "Registering artifact churn version v0.0.1"
    assert (
        tag_message(TagEvent(Kind.ASSIGN, "churn", version="0.0.1", stage="prod"))
        == "Assigning stage prod to artifact churn version v0.0.1"
    )
    assert (
        tag_message(TagEvent(Kind.UNASSIGN, "churn", version="0.0.1", stage="prod"))
        == "Unassigning stage 'prod' to artifact 'churn' version 'v0.0.1'"
    )
    assert (
        tag_message(TagEvent(Kind.DEREGISTER, "churn", version="0.0.1"))
        == "Deregistering artifact churn version v0.0.1"
    )
    assert tag_message(TagEvent(Kind.DEPRECATE, "churn")) == "Deprecating artifact 'churn'"


def test_public_api_is_curated() -> None:
    import gitreg

    assert gitreg.__all__ == sorted(gitreg.__all__)
    for name in gitreg.__all__:
        assert getattr(gitreg, name) is not None
