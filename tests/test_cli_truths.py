"""Small truths of the CLI: what it prints must say what happened, in the same words everywhere.

History shows overrides and rollbacks; promote shows its gates; every read command has --json;
usage errors are one ``error:`` line and a ``hint:``; list and check count versions alike; diff
never prints Python's None; verify's hint names the real problem; ``init --github`` keeps a chosen
pip spec; deprecating a model says what a later push does to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gitreg import Registry
from gitreg.workflow import github
from tests.support.cli import invoke, one_error_line
from tests.support.repo import REPO_ROOT, configure, git


def lines_of(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_history_shows_overrides_reasons_and_rollbacks(registry: Registry, registry_path: Path, onnx_file) -> None:
    r = ["--registry", str(registry_path)]
    registry.push_files([onnx_file()], "m")
    registry.push_files([onnx_file()], "m")
    assert invoke("promote", "m@v1.0.0", "--to", "production", *r).exit_code == 0
    p = invoke("promote", "m@v1.0.1", "--to", "production", "--force", "--reason", "hotfix for incident 42", *r)
    assert p.exit_code == 0, p.stderr
    assert invoke("rollback", "m", "--stage", "production", *r).exit_code == 0
    p = invoke("history", "m", *r)
    rows = lines_of(p.stdout)
    assert rows[0].split() == ["TIME", "EVENT", "VERSION", "STAGE", "TAG", "AUTHOR", "NOTE"]
    forced = next(ln for ln in rows if "m#production#2" in ln)
    assert "assignment (forced)" in forced and forced.endswith("hotfix for incident 42")
    back = next(ln for ln in rows if "m#production#3" in ln)
    assert " rollback " in back and "v1.0.0" in back
    plain = next(ln for ln in rows if "m#production#1" in ln)
    assert " assignment " in plain and "forced" not in plain
    events = {e["tag"]: e for e in json.loads(invoke("history", "m", "--json", *r).stdout)}
    assert events["m#production#2"]["forced"] is True and events["m#production#2"]["reason"] == "hotfix for incident 42"
    assert events["m#production#3"]["rollback"] is True and events["m#production#3"]["forced"] is False
    assert "forced" not in events["m@v1.0.0"]  # registrations carry no stage note


def test_promote_prints_the_gate_table_before_the_event(registry: Registry, registry_path: Path, onnx_file, tmp_path):
    r = ["--registry", str(registry_path)]
    registry.push_files([onnx_file()], "m", metrics={"acc": 0.5})
    registry.push_files([onnx_file()], "m", metrics={"acc": 0.9})
    registry.push_files([onnx_file()], "m", metrics={"acc": 0.4})
    configure(registry_path, tmp_path, '\n[gates.production]\nrules = ["metrics.acc >= 0.8"]\n')
    p = invoke("promote", "m@v1.1.0", "--to", "production", *r)
    assert p.exit_code == 0, p.stderr
    out = lines_of(p.stdout)
    assert out[0].split() == ["RULE", "VALUE", "THRESHOLD", "RESULT"]
    assert out[1].startswith("metrics.acc >= 0.8")
    assert out[-2] == "m@v1.1.0 -> production (no current holder): passed"
    assert out[-1] == "m#production#1"
    # Refused: the same table on stdout, the one error on stderr, nothing written.
    tags = git("--git-dir", str(registry_path), "tag", "-l")
    p = invoke("promote", "m@v1.2.0", "--to", "production", *r)
    assert p.exit_code == 3
    assert "metrics.acc >= 0.8" in p.stdout and "m@v1.2.0 -> production (current holder v1.1.0): FAILED" in p.stdout
    assert one_error_line(p.stderr).startswith("error: m@v1.2.0 failed the production gate")
    assert git("--git-dir", str(registry_path), "tag", "-l") == tags
    # --force says that the gates were skipped.
    p = invoke("promote", "m@v1.2.0", "--to", "production", "--force", "--reason", "test", *r)
    assert lines_of(p.stdout) == ["gates skipped (--force) for m@v1.2.0 -> production", "m#production#2"]
    p = invoke("rollback", "m", "--stage", "production", *r)
    assert p.exit_code == 0 and "m@v1.1.0 -> production (current holder v1.2.0): passed" in p.stdout
    # A promotion by pull request prints the local gates the same way, then the branch.
    assert invoke("config", "set", "stages.production.require_pr", "true", *r).exit_code == 0
    registry.push_files([onnx_file()], "m", metrics={"acc": 0.95})
    p = invoke("promote", "m@v1.3.0", "--to", "production", *r)
    assert p.exit_code == 0, p.stderr
    out = lines_of(p.stdout)
    assert out[0].split() == ["RULE", "VALUE", "THRESHOLD", "RESULT"] and out[1].startswith("metrics.acc >= 0.8")
    assert any(ln.startswith("branch  gitreg/promote/m/production/v1.3.0") for ln in out)


def test_card_report_and_validate_sidecar_take_json(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    r = ["--registry", str(registry_path)]
    registry.push_files([onnx_file()], "m", metrics={"accuracy": 0.9}, labels={"license": "mit"})
    registry.push_files([onnx_file()], "m")
    card = json.loads(invoke("card", "m@v1.0.0", "--json", *r).stdout)
    assert card["ref"] == "m@v1.0.0" and card["metadata"]["license"] == "mit"
    assert card["metadata"]["tags"] == ["gitreg", "onnx"]  # framework "onnx" is not repeated
    assert card["markdown"] == invoke("card", "m@v1.0.0", *r).stdout

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(30, 4)).astype(np.float32), y=rng.integers(0, 3, 30))
    p = invoke(
        "report", "m@v1.0.0", "m", "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "c.html"), "--json", *r
    )
    assert p.exit_code == 0, p.stderr
    body = json.loads(p.stdout)
    assert body["a"]["ref"] == "m@v1.0.0" and body["b"]["ref"] == "m@v1.0.1"
    assert body["a"]["samples"] == 30 and "accuracy" in body["b"]["metrics"]
    assert body["report"] == str(tmp_path / "c.html") and (tmp_path / "c.html").is_file()

    clone = tmp_path / "clone"
    git("clone", "-q", str(registry_path), str(clone))
    sidecar = "models/m/model.toml"
    p = invoke("validate-sidecar", sidecar, "--json", cwd=clone)
    assert p.exit_code == 0, p.stderr
    assert json.loads(p.stdout) == {"ok": True, "files": 1, "problems": []}
    (clone / sidecar).write_text("schema = [broken\n")
    p = invoke("validate-sidecar", sidecar, "--json", cwd=clone)
    assert p.exit_code == 3
    body = json.loads(p.stdout)
    assert body["ok"] is False and len(body["problems"]) == 1 and sidecar in body["problems"][0]


@pytest.mark.parametrize(
    "args, error, hint",
    [
        (["push", "--bogus"], "error: no such option '--bogus'. Did you mean '--bump'?", "hint: gitreg push --help"),
        (["nope"], "error: no such command 'nope'", "hint: gitreg --help"),
        (["--bogus"], "error: no such option '--bogus'", "hint: gitreg --help"),
        (["pull", "m", "--format", "pickle"], "error: invalid value for '--format': 'pickle' is not one of", None),
        (["dataset", "push"], "error: missing argument 'FILE'", "hint: gitreg dataset push --help"),
        (["config", "set", "parity.rtol"], "error: missing argument 'VALUE'", "hint: gitreg config set --help"),
        (["show"], "error: missing argument 'REF'", "hint: gitreg show --help"),
    ],
)
def test_usage_errors_are_one_error_line_and_a_hint(args: list[str], error: str, hint: str | None) -> None:
    p = invoke(*args)
    assert p.exit_code == 2
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 2, p.stderr
    assert lines[0].startswith(error), p.stderr
    assert lines[1] == (hint or f"hint: gitreg {args[0]} --help")


def test_a_group_without_a_command_still_prints_its_help() -> None:
    p = invoke("config")
    assert "show" in p.stdout + p.stderr and "Usage: gitreg config" in p.stdout + p.stderr


def test_list_and_check_count_versions_alike(registry: Registry, registry_path: Path, onnx_file) -> None:
    r = ["--registry", str(registry_path)]
    for _ in range(3):
        registry.push_files([onnx_file()], "m")
    registry.push_files([onnx_file()], "other")
    assert invoke("deprecate", "m@v1.0.1", *r).exit_code == 0
    assert invoke("deprecate", "other", *r).exit_code == 0
    rows = lines_of(invoke("list", *r).stdout)
    assert rows[0].split() == ["NAME", "LATEST", "VERSIONS", "STAGES", "STATUS", "UPDATED"]
    assert rows[1].split()[:4] == ["m", "v1.0.2", "2", "1"] and "1 deregistered" in rows[1]
    assert "deprecated" in rows[2]
    models = {m["name"]: m for m in json.loads(invoke("list", "--json", *r).stdout)}
    assert (models["m"]["versions"], models["m"]["deregistered"]) == (2, 1)
    report = json.loads(invoke("check", "--json", *r).stdout)
    assert (report["versions"], report["deregistered"]) == (3, 1)  # the sums of list's two numbers
    assert report["versions"] == sum(m["versions"] for m in models.values())
    assert invoke("check", *r).stdout == "ok: 3 versions (and 1 deregistered), 4 artifact objects checked\n"
    versions = lines_of(invoke("list", "m", *r).stdout)
    assert versions[0].split() == ["VERSION", "CREATED", "AUTHOR", "STAGES", "STATUS", "METRICS"]


def test_diff_never_prints_none(registry: Registry, registry_path: Path, onnx_file, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    registry.push_files([onnx_file()], "m")
    registry.push_files([onnx_file()], "m", parent="m@v1.0.0", data=[data])
    p = invoke("diff", "m@v1.0.0", "m@v1.0.1", "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert "None" not in p.stdout and "- ->" not in p.stdout
    assert "parent: none -> m@v1.0.0" in p.stdout
    assert any(ln.startswith("data ") and "train.csv: added (sha256 " in ln for ln in p.stdout.splitlines())
    p = invoke("diff", "m@v1.0.1", "m@v1.0.0", "--registry", str(registry_path))
    assert "parent: m@v1.0.0 -> none" in p.stdout and "train.csv: removed (was sha256 " in p.stdout


def test_verify_hint_names_the_real_problem(registry: Registry, registry_path: Path, onnx_file) -> None:
    registry.push_files([onnx_file()], "m")  # unsigned
    sc = registry.show("m").sidecar
    assert sc is not None
    oid = sc.artifacts["onnx"].sha256
    obj = registry_path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    data = obj.read_bytes()
    obj.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    p = invoke("verify", "m", "--allow-unsigned", "--registry", str(registry_path))
    assert p.exit_code == 3
    hint = next(ln for ln in p.stderr.splitlines() if ln.startswith("hint: "))
    assert "sign" not in hint and "not the artifact that was registered" in hint
    body = json.loads(invoke("verify", "m", "--allow-unsigned", "--json", "--registry", str(registry_path)).stdout)
    assert "sign" not in body["hint"]
    # Without --allow-unsigned the unsigned tag is the first problem, and the hint is about signing.
    p = invoke("verify", "m", "--registry", str(registry_path))
    assert "hint: sign versions with gitreg push --sign" in p.stderr


def test_init_github_keeps_a_chosen_pip_spec(registry_path: Path) -> None:
    r = ["--registry", str(registry_path)]
    spec = "gitreg @ https://example.org/gitreg-0.1.0-py3-none-any.whl"

    def workflow() -> str:
        return git("--git-dir", str(registry_path), "show", f"main:{github.WORKFLOW_PATH}")

    assert invoke("init", "--github", "--pip-spec", spec, *r).exit_code == 0
    head = git("--git-dir", str(registry_path), "rev-parse", "main")
    p = invoke("init", "--github", *r)
    assert p.exit_code == 0, p.stderr
    assert workflow().count(f'pip install "{spec}"') == 3
    assert git("--git-dir", str(registry_path), "rev-parse", "main") == head  # nothing to commit
    assert f"note: kept the workflow's pip spec '{spec}'" in p.stderr
    other = "gitreg==0.1.0"
    assert invoke("init", "--github", "--pip-spec", other, *r).exit_code == 0
    assert workflow().count(f'pip install "{other}"') == 3
    # A workflow that installs the gitreg that wrote it follows this gitreg.
    assert github.chosen_spec(github.render()) is None
    assert github.chosen_spec(github.render(spec)) == spec


def test_deprecating_a_model_says_what_a_later_push_does(registry: Registry, registry_path: Path, onnx_file) -> None:
    """GTO's rule, kept: a model is deprecated while its newest event is the deprecation, so a push
    un-deprecates it. Documented where the deprecation is made and in the README."""
    registry.push_files([onnx_file()], "m")
    assert invoke("deprecate", "m", "--registry", str(registry_path)).exit_code == 0
    assert Registry(registry_path).list()[0].deprecated
    registry.push_files([onnx_file()], "m")
    assert not Registry(registry_path).list()[0].deprecated
    assert "un-deprecates" in invoke("deprecate", "--help").stdout
    assert "un-deprecates" in (REPO_ROOT / "README.md").read_text()
