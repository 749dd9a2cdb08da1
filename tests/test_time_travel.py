"""Time travel: "what was in production then, who put it there, and why?"

The history is written by gitreg itself (push, promote, a forced promotion with a reason, a
rollback, a demotion), each event a second apart as gitreg stamps them; the test reads the
times back from ``history --json`` and asks ``show/list/pull --at`` about each moment, by ISO time,
by epoch seconds and by registry commit.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.when import parse_when
from gitreg.errors import UsageError
from tests.support.cli import invoke, one_error_line


def epoch(iso_time: str) -> int:
    return int(datetime.strptime(iso_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


@pytest.fixture
def timeline(registry: Registry, registry_path: Path, onnx_file) -> list[dict]:
    r = str(registry_path)
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        registry.push_files([onnx_file()], "m", version=v)
    steps = [
        ("promote", "m@v1.0.0", "--to", "production"),
        ("promote", "m@v1.1.0", "--to", "production"),
        ("promote", "m@v1.2.0", "--to", "production", "--force", "--reason", "hotfix for ticket 42"),
        ("rollback", "m", "--stage", "production"),
        ("promote", "m@v1.2.0", "--to", "staging"),
        ("demote", "m", "--stage", "production"),
    ]
    for step in steps:
        res = invoke(*step, "-r", r)
        assert res.exit_code == 0, (step, res.stderr)
    res = invoke("history", "m", "--json", "-r", r)
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def test_show_at_each_moment_names_the_holder_of_then(timeline: list[dict], registry_path: Path) -> None:
    r = str(registry_path)
    production = [e for e in timeline if e["stage"] == "production"]
    assert [(e["event"], e["version"]) for e in production[:4]] == [
        ("assignment", "1.0.0"),
        ("assignment", "1.1.0"),
        ("assignment", "1.2.0"),
        ("assignment", "1.1.0"),  # the rollback
    ]
    # demote unassigns every version with a live assignment (GTO's unassign tags), the holder last
    demoted = production[4:]
    assert {e["event"] for e in demoted} == {"unassignment"} and demoted[-1]["version"] == "1.1.0"
    moments = [*production[:4], demoted[-1]]
    expected = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.1.0", None]
    for event, holder in zip(moments, expected):
        for when in (event["time"], f"@{epoch(event['time'])}"):
            res = invoke("show", "m#production", "--at", when, "--json", "-r", r)
            if holder is None:
                assert res.exit_code == 1 and "production" in one_error_line(res.stderr)
            else:
                assert res.exit_code == 0, res.stderr
                assert f"v{json.loads(res.stdout)['version']}" == holder, (when, holder)
    # One second before the first assignment nobody held production; the versions existed.
    before = f"@{epoch(production[0]['time']) - 1}"
    assert invoke("show", "m#production", "--at", before, "-r", r).exit_code == 1
    assert invoke("show", "m", "--at", before, "-r", r).exit_code == 0


def test_who_and_why_come_from_the_history_window(timeline: list[dict], registry_path: Path) -> None:
    r = str(registry_path)
    forced = next(e for e in timeline if e.get("forced"))
    res = invoke(
        "history", "m", "--stage", "production", "--since", forced["time"], "--until", forced["time"], "--json", "-r", r
    )
    assert res.exit_code == 0, res.stderr
    (event,) = json.loads(res.stdout)
    assert event["version"] == "1.2.0" and event["reason"] == "hotfix for ticket 42" and event["author"]
    res = invoke("history", "m", "--stage", "staging", "-r", r)
    assert res.exit_code == 0 and "staging" in res.stdout and "production" not in res.stdout
    res = invoke("history", "m", "--since", "2999-01-01", "--json", "-r", r)
    assert res.exit_code == 0 and json.loads(res.stdout) == []


def test_list_and_pull_at_a_moment_and_at_a_registry_commit(
    timeline: list[dict], registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    r = str(registry_path)
    first_push = timeline[0]["time"]
    res = invoke("list", "--at", f"@{epoch(first_push) - 1}", "--json", "-r", r)
    assert res.exit_code == 0 and json.loads(res.stdout) == []
    res = invoke("list", "m", "--at", first_push, "--json", "-r", r)
    assert [v["version"] for v in json.loads(res.stdout)] == ["1.0.0"]
    # A registry commit means "as of that commit's time": v1.1.0's registration commit.
    commit = registry.show("m@v1.1.0").commit
    assert registry.show("m", at=commit).version == "1.1.0"
    assert registry.show("m", at=commit[:12]).version == "1.1.0"
    # pull --at fetches what production held then, verified as any pull.
    second = [e for e in timeline if e["stage"] == "production"][1]
    res = invoke("pull", "m#production", "--at", second["time"], "-o", str(tmp_path / "then"), "--json", "-r", r)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["version"] == "v1.1.0"
    now = registry.list()[0]
    assert now.stages == {"staging": "v1.2.0"}  # reading the past changed nothing


def test_bad_points_in_time_are_one_line_errors(registry: Registry, registry_path: Path, onnx_file) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    for bad, fragment in (
        ("yesterday-ish", "is not a date or time"),
        ("2026-13-45", "is not a valid date"),
        ("deadbeefdeadbeef", "no such commit"),
    ):
        res = invoke("show", "m", "--at", bad, "-r", str(registry_path))
        assert res.exit_code == 2 and fragment in one_error_line(res.stderr), res.stderr


def test_parse_when_forms() -> None:
    assert parse_when("2026-11-03T14:00:00Z") == 1793714400
    assert parse_when("2026-11-03 15:00+01:00") == 1793714400
    assert parse_when("2026-11-03T14:00Z") == 1793714400
    assert parse_when("@1793714400") == 1793714400
    local = datetime(2026, 11, 3).astimezone()  # a date without a zone is local midnight, as in git
    assert parse_when("2026-11-03") == int(local.timestamp())
    with pytest.raises(UsageError, match="--since"):
        parse_when("soon", "--since")
