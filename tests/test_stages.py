"""Stages: gates, direct promotion, rollback, demotion, apply — checked through gitreg and GTO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gitreg import Registry, api
from gitreg.errors import GitregError, StageError, StageRace, UsageError
from gitreg.registry import promotion
from tests.support.cli import invoke
from tests.support.fuzz import commit_on_main
from tests.support.gto import gto_json, require_gto
from tests.support.repo import configure, git

CONFIG = """
[gates.production]
rules = ["metrics.acc >= 0.85", "metrics.acc >= current.metrics.acc - 0.01"]
"""


@pytest.fixture
def three(registry: Registry, registry_path: Path, tmp_path: Path, onnx_file) -> Registry:
    configure(registry_path, tmp_path, CONFIG)
    for version, acc in (("1.0.0", 0.90), ("1.1.0", 0.96), ("1.2.0", 0.80)):
        registry.push_files([onnx_file()], "m", version=version, metrics={"acc": acc})
    return registry


def tags(registry_path: Path) -> list[str]:
    return git("--git-dir", str(registry_path), "tag", "-l").split()


def stages_toml(registry_path: Path) -> str:
    return git("--git-dir", str(registry_path), "show", "main:stages.toml")


def test_gates_promotion_rollback_demotion(three: Registry, registry_path: Path) -> None:
    # No holder yet: the `current` rule is skipped with a notice, the absolute rule passes.
    report = api.gate("m@v1.0.0", "production", registry=three)
    assert report.passed and report.current is None
    ev, _ = api.promote("m@v1.0.0", "production", registry=three)
    assert (ev.event, ev.version, ev.stage, ev.tag) == ("assignment", "1.0.0", "production", "m#production#1")
    assert 'production = "v1.0.0"' in stages_toml(registry_path)

    ev, report = api.promote("m@v1.1.0", "production", registry=three)
    assert report.current == "v1.0.0" and ev.tag == "m#production#2"
    assert three.show("m#production").version == "1.1.0"

    # A worse model fails, exit 3, nothing written.
    before = tags(registry_path)
    p = invoke("promote", "m@v1.2.0", "--to", "production", "--registry", str(registry_path))
    assert p.exit_code == 3, p.stderr
    assert p.stderr.startswith("error: m@v1.2.0 failed the production gate: metrics.acc >= 0.85")
    assert tags(registry_path) == before and 'production = "v1.1.0"' in stages_toml(registry_path)
    p = invoke("gate", "m@v1.2.0", "--stage", "production", "--registry", str(registry_path), "--json")
    assert p.exit_code == 3
    body = json.loads(p.stdout)
    assert body["passed"] is False and body["current"] == "v1.1.0"

    # --force needs a reason, and records who and why.
    with pytest.raises(UsageError, match="--force needs --reason"):
        api.promote("m@v1.2.0", "production", force=True, registry=three)
    ev, _ = api.promote("m@v1.2.0", "production", force=True, reason="hotfix for incident 42", registry=three)
    assert "gates skipped (--force) by Test Author <author@example.com>: hotfix for incident 42" in ev.message

    # Rollback: back to the previous holder, through the gates (v1.1.0 beats the current v1.2.0).
    ev, report = api.rollback("m", "production", registry=three)
    assert ev.version == "1.1.0" and report.passed and ev.message.endswith("; gitreg: rollback")
    assert three.show("m#production").version == "1.1.0"
    with pytest.raises(GitregError, match="failed the production gate"):
        api.rollback("m", "production", to="1.0.0", registry=three)  # 0.90 >= 0.96 - 0.01 fails


def _rollback_then_demote(three: Registry, registry_path: Path) -> list[tuple[str, str | None, str | None]]:
    """Promote twice, roll back (gated, then forced), demote; returns the stage events of ``m``."""
    api.promote("m@v1.0.0", "production", registry=three)
    api.promote("m@v1.1.0", "production", registry=three)
    with pytest.raises(GitregError, match="failed the production gate") as e:
        api.rollback("m", "production", registry=three)  # v1.0.0 (0.90) < v1.1.0 (0.96) - 0.01
    assert e.value.exit_code == 3
    ev, _ = api.rollback("m", "production", force=True, reason="bad release", registry=three)
    assert ev.version == "1.0.0"
    # Demotion unassigns every live assignment, so no older holder silently takes the stage back.
    ev = api.demote("m", "production", registry=three)
    assert ev.event == "unassignment"
    assert "production" not in {s.name: s for s in three.list()}["m"].stages
    assert "production" not in stages_toml(registry_path)
    with pytest.raises(StageError, match="no version of m holds production"):
        api.demote("m", "production", registry=three)
    history = [(e.event, e.version, e.stage) for e in three.history("m") if e.stage]
    assert history[:4] == [
        ("assignment", "1.0.0", "production"),
        ("assignment", "1.1.0", "production"),
        ("assignment", "1.0.0", "production"),
        ("unassignment", "1.1.0", "production"),
    ]
    assert history[-1] == ("unassignment", "1.0.0", "production")
    return history


@pytest.mark.slow
def test_rollback_to_a_worse_version_is_gated_and_demote_empties_the_stage(three: Registry, registry_path: Path):
    _rollback_then_demote(three, registry_path)


@pytest.mark.gto
def test_gto_reads_rollback_and_demotion_the_same(three: Registry, registry_path: Path):
    require_gto()
    history = _rollback_then_demote(three, registry_path)
    gto = gto_json(["show"], registry_path)
    assert gto["m"]["stage"].get("production") is None
    gto_hist = [(e["event"], e["version"], e["stage"]) for e in gto_json(["history", "m"], registry_path)]
    assert sorted(x for x in gto_hist if x[2]) == sorted((ev, f"v{v}", s) for ev, v, s in history)


def test_bad_stage_requests(three: Registry, registry_path: Path, tmp_path: Path) -> None:
    with pytest.raises(StageError, match="unknown stage 'prod': this registry's stages are staging, production"):
        api.promote("m@v1.0.0", "prod", registry=three)
    three.deprecate("m@v1.0.0")
    with pytest.raises(StageError, match=r"m@v1\.0\.0 is deregistered"):
        api.promote("m@v1.0.0", "staging", registry=three)
    api.promote("m@v1.1.0", "staging", registry=three)
    with pytest.raises(StageError, match="already holds staging"):
        api.promote("m@v1.1.0", "staging", registry=three)
    text = git("--git-dir", str(registry_path), "show", "main:gitreg.toml").replace(
        "require_pr = false", "require_pr = true"
    )
    wt = tmp_path / "pr"
    git("clone", "-q", str(registry_path), str(wt))
    (wt / "gitreg.toml").write_text(text)
    git("-C", str(wt), "commit", "-qam", "production needs a PR")
    git("-C", str(wt), "push", "-q", "origin", "main")
    p = invoke("promote", "m@v1.1.0", "--to", "production", "--direct", "--registry", str(registry_path))
    assert p.exit_code == 1 and "production requires a reviewed pull request" in p.stderr
    assert "--pr" in p.stderr
    three.deprecate("m")
    with pytest.raises(StageError, match="deprecated"):
        api.promote("m@v1.2.0", "staging", registry=three)


def test_apply_reconciles_stages_toml_idempotently(three: Registry, registry_path: Path, tmp_path: Path) -> None:
    # A merged promotion PR: stages.toml changed on main, no tag yet.
    configure(registry_path, tmp_path, "", stages='[m]\nstaging = "v1.2.0"\nproduction = "v1.1.0"\n')
    events = api.apply(registry=three)
    assert sorted((e.stage, e.version) for e in events) == [("production", "1.1.0"), ("staging", "1.2.0")]
    assert three.show("m#production").version == "1.1.0" and three.show("m#staging").version == "1.2.0"
    before = tags(registry_path)
    p = invoke("apply", "--registry", str(registry_path))
    assert p.exit_code == 0 and p.stdout.strip() == "stage tags already match stages.toml"
    assert tags(registry_path) == before
    configure(registry_path, tmp_path, "", stages='[m]\nstaging = "v9.9.9"\n')
    with pytest.raises(StageError, match="not registered"):
        api.apply(registry=three)


def test_racing_promotions_one_wins_the_other_retries(three: Registry, registry_path: Path) -> None:
    # Both judged against "no holder"; the second to publish must not promote over the first.
    a = api.gate("m@v1.0.0", "production", registry=three)
    b = api.gate("m@v1.1.0", "production", registry=three)
    assert a.current is None and b.current is None
    promotion.assign(three, "m@v1.0.0", "production", expect_current=None)
    with pytest.raises(StageRace, match="changed while this promotion ran"):
        promotion.assign(three, "m@v1.1.0", "production", expect_current=None)


@pytest.mark.slow  # three real processes at once
def test_concurrent_promotions_never_collide(three: Registry, registry_path: Path) -> None:
    # Real processes at once: counters never collide, every tag is distinct.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitreg", "promote", f"m@v{v}", "--to", "staging", "--registry", str(registry_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in ("1.0.0", "1.1.0", "1.2.0")
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code in (0, 1) for code, _ in results), results
    assert any(code == 0 for code, _ in results)
    for code, err in results:
        assert "Traceback" not in err
        if code == 1:
            assert "changed while this promotion ran" in err or "already holds staging" in err
    counters = [t.rsplit("#", 1)[1] for t in tags(registry_path) if "#" in t]
    assert len(counters) == len(set(counters))


def test_diff_reports_metrics_signature_and_artifacts(three: Registry, registry_path: Path, onnx_file) -> None:
    three.push_files([onnx_file(n_in=5)], "m", version="2.0.0", metrics={"acc": 0.97}, params={"lr": 0.1})
    p = invoke("diff", "m@v1.1.0", "m@v2.0.0", "--registry", str(registry_path), "--json")
    assert p.exit_code == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["metrics"]["acc"]["delta"] == pytest.approx(0.01)
    assert d["signature"]["breaking"] is True and "x" in d["signature"]["inputs_changed"]
    assert d["params"] == {"lr": {"a": None, "b": 0.1}}
    assert d["artifacts"]["onnx"]["same"] is False
    p = invoke("diff", "m@v1.1.0", "m@v2.0.0", "--registry", str(registry_path))
    assert "signature: BREAKING (inputs x changed)" in p.stdout
    assert np.isclose(float(p.stdout.split("(+")[1].split(")")[0]), 0.01)


def test_bad_rules_are_clear_errors(registry: Registry, registry_path: Path, tmp_path: Path, onnx_file) -> None:
    registry.push_files([onnx_file()], "m", metrics={"acc": 0.9})
    # the hook refuses such a gitreg.toml now: written past it, as a registry from before the rule has it
    text = git("--git-dir", str(registry_path), "show", "main:gitreg.toml")
    commit_on_main(registry_path, {"gitreg.toml": (text + '\n[gates.staging]\nrules = ["metrics.acc >= "]\n').encode()})
    p = invoke("promote", "m", "--to", "staging", "--registry", str(registry_path))
    assert p.exit_code == 1 and "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert lines[0].startswith("error: gate rule syntax error")
    caret = next(ln for ln in lines if ln.strip() == "^")
    assert caret.index("^") == lines[lines.index(caret) - 1].index("metrics") + len("metrics.acc >= ")
    assert tags(registry_path) == ["m@v1.0.0"]
    text = git("--git-dir", str(registry_path), "show", "main:gitreg.toml")
    commit_on_main(
        registry_path, {"gitreg.toml": (text + '\n[gates.production]\nrules = ["metrics.f1 > 0.5"]\n').encode()}
    )
    report = api.gate("m", "production", registry=registry)
    assert not report.passed and report.result.outcomes[0].note == "metrics.f1 is missing"
