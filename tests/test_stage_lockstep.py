"""stages.toml and the stage tags in lockstep, and rollback that walks back instead of toggling.

Every write that changes a stage changes stages.toml and the tags in one atomic write; ``apply``
(which CI runs on every push to main) must then find nothing to do, and ``check`` must report any
disagreement that plain git introduced.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitreg import Registry, api
from gitreg.errors import UsageError
from tests.support.cli import invoke
from tests.support.repo import git


def stages_of(registry_path: Path, name: str = "m") -> dict[str, str]:
    from gitreg.core.stages import read_stages

    return read_stages(git("--git-dir", str(registry_path), "show", "main:stages.toml").encode()).get(name, {})


def holders(registry: Registry, name: str = "m") -> dict[str, str]:
    return {s: f"v{v}" for s, v in registry.backend.model_state(name).stages.items()}


@pytest.fixture
def four(registry: Registry, onnx_file) -> Registry:
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        registry.push_files([onnx_file()], "m", version=version)
    return registry


def test_deprecating_a_stage_updates_stages_toml_in_the_same_write(four: Registry, registry_path: Path) -> None:
    api.promote("m@v1.0.0", "staging", registry=four)
    api.promote("m@v1.1.0", "staging", registry=four)
    before = git("--git-dir", str(registry_path), "rev-parse", "main")
    event = four.deprecate("m#staging")
    # GTO's rule: unassigning the newest holder hands the stage back to the one before.
    assert holders(four) == {"staging": "v1.0.0"} == stages_of(registry_path)
    # one commit on main, and it is the one the unassign tag was published with (same write)
    assert git("--git-dir", str(registry_path), "rev-parse", "main~1") == before
    assert git("--git-dir", str(registry_path), "log", "-1", "--format=%s", "main").startswith("Deprecate m#staging")
    assert event.event == "unassignment"
    assert api.apply(registry=four) == []  # nothing resurrected
    assert holders(four) == {"staging": "v1.0.0"}
    four.deprecate("m#staging")
    assert holders(four) == {} and stages_of(registry_path) == {}
    assert api.apply(registry=four) == []
    assert four.check().ok, four.check().problems


def test_deregistering_a_holder_updates_stages_toml(four: Registry, registry_path: Path) -> None:
    api.promote("m@v1.1.0", "production", registry=four)
    api.promote("m@v1.2.0", "production", registry=four)
    api.promote("m@v1.2.0", "staging", registry=four)
    four.deprecate("m@v1.2.0")
    assert holders(four) == {"production": "v1.1.0"} == stages_of(registry_path)
    assert api.apply(registry=four) == []  # used to exit 1: "assigns ... but that version is deregistered"
    assert four.check().ok, four.check().problems
    # deregistering a version that holds nothing leaves stages.toml alone (no commit on main)
    before = git("--git-dir", str(registry_path), "rev-parse", "main")
    four.deprecate("m@v1.0.0")
    assert git("--git-dir", str(registry_path), "rev-parse", "main") == before


def test_check_reports_drift_that_plain_git_introduced(four: Registry, registry_path: Path, tmp_path: Path) -> None:
    api.promote("m@v1.0.0", "staging", registry=four)
    assert four.check().ok
    # a stage tag pushed by hand (as `gto assign` would): the tags now say v1.1.0, stages.toml v1.0.0
    commit = git("--git-dir", str(registry_path), "rev-list", "-n1", "m@v1.1.0")
    git(
        "--git-dir", str(registry_path),
        "-c", "user.name=x", "-c", "user.email=x@example.com",
        "tag", "-a", "m#staging#9", commit, "-m", "Assigning stage staging to artifact m version v1.1.0",
    )  # fmt: skip
    report = four.check()
    assert not report.ok
    assert any("m#staging#9: gives staging to v1.1.0 but stages.toml on main says v1.0.0" in p for p in report.problems)
    r = invoke("check", "--registry", str(registry_path))
    assert r.exit_code == 3 and "stages.toml" in r.stdout + r.stderr


def test_rollback_twice_walks_back_instead_of_toggling(four: Registry, registry_path: Path) -> None:
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        api.promote(f"m@v{v}", "production", registry=four)
    first, _ = api.rollback("m", "production", registry=four)
    assert first.version == "1.1.0" and holders(four)["production"] == "v1.1.0"
    second, _ = api.rollback("m", "production", registry=four)
    assert second.version == "1.0.0", "the second rollback must not bring back v1.2.0"
    assert stages_of(registry_path) == {"production": "v1.0.0"}
    # nothing older to go back to
    with pytest.raises(Exception, match="no previous holder"):
        api.rollback("m", "production", registry=four)
    # a version promoted again on purpose is a rollback target again
    api.promote("m@v1.2.0", "production", registry=four)
    api.promote("m@v1.3.0", "production", registry=four)
    third, _ = api.rollback("m", "production", registry=four)
    assert third.version == "1.2.0"


def test_rollback_force_needs_a_reason(four: Registry, registry_path: Path) -> None:
    api.promote("m@v1.0.0", "production", registry=four)
    api.promote("m@v1.1.0", "production", registry=four)
    before = git("--git-dir", str(registry_path), "for-each-ref")
    with pytest.raises(UsageError, match="--force needs --reason"):
        api.rollback("m", "production", force=True, registry=four)
    r = invoke("rollback", "m", "--stage", "production", "--force", "--registry", str(registry_path))
    assert r.exit_code == 2 and "--force needs --reason" in r.stderr
    assert git("--git-dir", str(registry_path), "for-each-ref") == before
    event, report = api.rollback("m", "production", force=True, reason="bad canary", registry=four)
    assert report is None and event.version == "1.0.0" and "bad canary" in event.message
