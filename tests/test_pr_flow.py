"""Promotion by pull request, end to end with real git: ``promote --pr``, CI's ``gate --changed``, merge, apply.

The registry is a bare repo at ``<srv>/acme/registry.git``, so ``${{ github.server_url }}/${{
github.repository }}.git`` in the workflow resolves to it. The workflow is the one ``gitreg init
--github`` commits to the registry; the test parses it from the pull request's checkout and runs
its ``run:`` steps in order under bash, with the ``GITHUB_*`` variables Actions sets, in a non-bare
clone whose LFS smudge is off (as ``actions/checkout`` with ``lfs: false``). Steps that install
gitreg (already installed here) or call the GitHub API are skipped, and the test says which.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gitreg import Registry
from tests.support.cli import run_cli
from tests.support.gto import gto_executable, gto_json, require_gto
from tests.support.repo import git

GATES = """
[gates.production]
data = "datasets/holdout.npz"
rules = ["eval.accuracy >= 0.9", "eval.accuracy >= current.eval.accuracy - 0.01"]
"""
WORKFLOW = ".github/workflows/gitreg.yml"


def classifier_onnx(path: Path, perm: tuple[int, int, int]) -> Path:
    """x[N,4] @ W -> scores[N,3]; W picks input column perm[j] for class j (identity: accuracy 1.0)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((4, 3), dtype=np.float32)
    for j, i in enumerate(perm):
        w[i, j] = 1.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["scores"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    """A registry with the GitHub workflow, require_pr production gated on a dataset, three versions of m.

    v1.0.0 and v1.2.0 are perfect on the holdout, v1.1.0 is a third right.
    """
    root = tmp_path / "srv"
    reg_path = root / "acme" / "registry.git"
    p = run_cli("init", "--github", "--registry", str(reg_path))
    assert p.returncode == 0, p.stderr
    wt = tmp_path / "configure"
    git("clone", "-q", str(reg_path), str(wt))
    cfg = wt / "gitreg.toml"
    text = cfg.read_text()
    assert "require_pr = false" in text
    cfg.write_text(text.replace("require_pr = false", "require_pr = true") + GATES)
    git("-C", str(wt), "commit", "-qam", "production through reviewed, gated pull requests")
    git("-C", str(wt), "push", "-q", "origin", "main")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    np.savez(tmp_path / "holdout.npz", X=x, y=x[:, :3].argmax(axis=1))
    assert (
        run_cli("dataset", "push", str(tmp_path / "holdout.npz"), "--name", "holdout", "-r", str(reg_path)).returncode
        == 0
    )
    reg = Registry(reg_path)
    for version, perm in (("1.0.0", (0, 1, 2)), ("1.1.0", (1, 2, 0)), ("1.2.0", (0, 1, 2))):
        onnx_path = classifier_onnx(tmp_path / "models" / version / "model.onnx", perm)
        reg.push_files([onnx_path], "m", version=version, metrics={"acc": 1.0 if perm == (0, 1, 2) else 0.33})
    return root


def registry_of(srv: Path) -> Path:
    return srv / "acme" / "registry.git"


def refs(reg: Path) -> str:
    return git("--git-dir", str(reg), "for-each-ref", "--format=%(refname) %(objectname)")


def gitreg_shim(tmp_path: Path) -> Path:
    """A bin folder whose ``gitreg`` runs this checkout's gitreg (what ``pip install`` puts on PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "gitreg"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gitreg "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def checkout(srv: Path, tmp_path: Path, branch: str, name: str) -> Path:
    """What actions/checkout leaves: a full-history, non-bare clone with LFS off, at the PR's head."""
    wt = tmp_path / name
    env = {**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"}
    subprocess.run(["git", "clone", "-q", str(registry_of(srv)), str(wt)], check=True, env=env, capture_output=True)
    subprocess.run(["git", "-C", str(wt), "checkout", "-q", "-b", "pr", f"origin/{branch}"], check=True, env=env)
    return wt


class Actions:
    """Just enough of GitHub Actions to run a job's ``run:`` steps: env, ``${{ }}``, ``if: always()``."""

    def __init__(self, srv: Path, tmp_path: Path, event: str, workdir: Path, extra: dict[str, str]) -> None:
        self.workflow = yaml.safe_load((workdir / WORKFLOW).read_text())  # the file as committed by init --github
        temp = tmp_path / f"runner-{event}-{len(list(tmp_path.glob('runner-*')))}"
        temp.mkdir()
        self.summary, self.output = temp / "step-summary.md", temp / "output.txt"
        self.summary.touch()
        self.output.touch()
        self.github = {
            "server_url": (srv).as_uri(),
            "repository": "acme/registry",
            "event_name": event,
            "token": "not-a-token",
            "run_id": "1",
            "actor": "reviewer",
            "actor_id": "42",
        }
        self.env = {
            **os.environ,
            "PATH": f"{gitreg_shim(tmp_path)}{os.pathsep}{os.environ['PATH']}",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_SERVER_URL": self.github["server_url"],
            "GITHUB_REPOSITORY": "acme/registry",
            "GITHUB_WORKSPACE": str(workdir),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "RUNNER_TEMP": str(temp),
            **extra,
        }
        self.env.pop("GITREG_REGISTRY", None)
        self.workdir = workdir
        self.outcomes: dict[str, str] = {}
        self.skipped: list[str] = []

    def expr(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            key = m.group(1).strip()
            if key.startswith("github."):
                return self.github[key.removeprefix("github.")]
            if key.startswith("steps.") and key.endswith(".outcome"):
                return self.outcomes.get(key.split(".")[1], "skipped")
            raise AssertionError(f"the test does not know the expression ${{{{ {key} }}}}: teach Actions.expr")

        return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))

    def run_job(self, job: str) -> list[tuple[str, int, str, str]]:
        """Run ``job``'s steps in order; (name, exit code, stdout, stderr) for each step that ran."""
        spec = self.workflow["jobs"][job]
        env = {**self.env, **{k: self.expr(v) for k, v in (self.workflow.get("env") or {}).items()}}
        env.update({k: self.expr(v) for k, v in (spec.get("env") or {}).items()})
        ran, failed = [], False
        for step in spec["steps"]:
            name = step.get("name", step.get("uses", "?"))
            if "run" not in step:
                continue  # `uses:` steps: checkout and setup-python, done by the test
            script = step["run"]
            if "pip install" in script:
                assert "gitreg" in script  # installs gitreg; this environment already has it
                self.skipped.append(name)
                continue
            if re.search(r"(?m)^\s*gh\s|\bgh api\b", script):
                self.skipped.append(name)  # the GitHub API is out of reach here
                continue
            if not step_runs(str(step.get("if", "")), failed):
                continue
            step_env = {**env, **{k: self.expr(v) for k, v in (step.get("env") or {}).items()}}
            p = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", self.expr(script)],
                cwd=self.workdir,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if "id" in step:
                self.outcomes[step["id"]] = "success" if p.returncode == 0 else "failure"
            ran.append((name, p.returncode, p.stdout, p.stderr))
            failed = failed or p.returncode != 0
        return ran


def step_runs(condition: str, failed: bool) -> bool:
    """A step's ``if:`` with Actions' status functions (``success()`` is implied when none is named)."""
    cond = re.sub(r"^\$\{\{(.*)\}\}$", r"\1", condition.strip()).strip()
    if not cond:
        return not failed
    if not re.search(r"\b(always|cancelled|failure|success)\(\)", cond):
        raise AssertionError(f"the test does not evaluate the step condition {cond!r}: teach step_runs")
    py = cond.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)
    for fn, value in (("always()", True), ("cancelled()", False), ("failure()", failed), ("success()", not failed)):
        py = py.replace(fn, str(value))
    assert re.fullmatch(r"[\sA-Za-z()]*", py) and set(re.findall(r"[A-Za-z]+", py)) <= {
        "True",
        "False",
        "and",
        "or",
        "not",
    }, py
    return bool(eval(py, {"__builtins__": {}}, {}))  # only True/False/and/or/not remain (checked above)


def gate_job(srv: Path, tmp_path: Path, branch: str) -> tuple[Actions, list[tuple[str, int, str, str]]]:
    wt = checkout(srv, tmp_path, branch, f"pr-{branch.replace('/', '-')}")
    # actions/checkout of a pull_request: a detached merge ref; what matters is HEAD and origin/main.
    actions = Actions(srv, tmp_path, "pull_request", wt, {"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": branch})
    return actions, actions.run_job("gate")


def merge(srv: Path, tmp_path: Path, branch: str) -> None:
    """The reviewer presses "Merge": a merge commit of the PR branch on main, pushed."""
    wt = tmp_path / f"merge-{branch.replace('/', '-')}"
    env = {**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"}
    subprocess.run(["git", "clone", "-q", str(registry_of(srv)), str(wt)], check=True, env=env)
    git("-C", str(wt), "merge", "-q", "--no-ff", "-m", f"Merge pull request from {branch}", f"origin/{branch}")
    git("-C", str(wt), "push", "-q", "origin", "main")


def apply_job(srv: Path, tmp_path: Path) -> list[tuple[str, int, str, str]]:
    """The push-to-main job after the merge, in a checkout of main (it only needs the workflow file)."""
    wt = tmp_path / f"main-{len(list(tmp_path.glob('main-*')))}"
    subprocess.run(
        ["git", "clone", "-q", str(registry_of(srv)), str(wt)],
        check=True,
        env={**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"},
    )
    return Actions(srv, tmp_path, "push", wt, {"GITHUB_REF": "refs/heads/main"}).run_job("apply")


def promote(srv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_cli("promote", *args, "--registry", str(registry_of(srv)), env=env)


# -- the whole flow -------------------------------------------------------------------------------
@pytest.mark.slow
def test_promotion_pull_request_gated_merged_applied(srv: Path, tmp_path: Path) -> None:
    reg = registry_of(srv)
    # require_pr: plain `promote` asks for a pull request; local gates first (v1.0.0 passes, no holder yet).
    p = promote(srv, "m@v1.0.0", "--to", "production")
    assert p.returncode == 0, p.stderr
    branch = "gitreg/promote/m/production/v1.0.0"
    assert f"branch  {branch} (pushed)" in p.stdout.splitlines()  # after the local gates' table
    assert "note: the registry is not on GitHub" in p.stderr and branch in p.stderr
    tip = git("--git-dir", str(reg), "rev-parse", f"refs/heads/{branch}")
    assert git("--git-dir", str(reg), "diff", "--name-only", "main", tip) == "stages.toml"
    assert git("--git-dir", str(reg), "rev-parse", f"{tip}^") == git("--git-dir", str(reg), "rev-parse", "main")
    assert 'production = "v1.0.0"' in git("--git-dir", str(reg), "show", f"{tip}:stages.toml")
    assert "m#production" not in git("--git-dir", str(reg), "tag", "-l")

    # Twice: nothing new is pushed.
    before = refs(reg)
    again = promote(srv, "m@v1.0.0", "--to", "production", "--json")
    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    assert (body["branch"], body["pushed"], body["commit"]) == (branch, False, tip)
    assert "### Gates" in body["body"] and body["gate"]["passed"] is True
    assert refs(reg) == before

    # CI on the pull request, exactly as the workflow runs it.
    actions, ran = gate_job(srv, tmp_path, branch)
    assert [r[0] for r in ran] == [
        "Run the gates of every stage this pull request changes",
        "Publish the report (job summary, and the text of the PR comment)",
    ], ran
    assert all(code == 0 for _, code, _, _ in ran), ran
    assert "Install gitreg (onnxruntime, no torch)" in actions.skipped
    summary = actions.summary.read_text()
    assert "m@v1.0.0 → production (no current holder)" in summary
    assert "| `eval.accuracy >= 0.9` | 1.0 | 0.9 | ✅ pass |" in summary and "promotion checks passed" in summary
    assert "report<<" in actions.output.read_text()

    merge(srv, tmp_path, branch)
    p = run_cli("check", "--registry", str(reg))  # merged, not applied yet: a warning, not a problem
    assert (
        p.returncode == 0
        and ("warning: m: stages.toml gives production to v1.0.0, but no stage tag does: run gitreg apply")
        in p.stderr.splitlines()
    )
    applied = apply_job(srv, tmp_path)
    assert [code for _, code, _, _ in applied] == [0, 0], applied
    assert applied[0][2].strip() == "m#production#1"
    assert applied[1][2].startswith("ok: 3 versions")

    # A worse candidate: refused locally (nothing pushed); asked for anyway, CI fails it.
    before = refs(reg)
    p = promote(srv, "m@v1.1.0", "--to", "production")
    assert p.returncode == 3 and p.stderr.startswith("error: m@v1.1.0 failed the production gate: eval.accuracy >= 0.9")
    assert "no branch was pushed" in p.stderr and refs(reg) == before
    p = promote(srv, "m@v1.1.0", "--to", "production", "--no-local-gates")
    assert p.returncode == 0, p.stderr
    bad_branch = "gitreg/promote/m/production/v1.1.0"
    actions, ran = gate_job(srv, tmp_path, bad_branch)
    assert [code for _, code, _, _ in ran] == [3, 0], ran
    assert "error:" not in ran[0][3] and "m@v1.1.0 -> production (current holder v1.0.0): FAILED" in ran[0][2]
    summary = actions.summary.read_text()
    assert "promotion checks FAILED" in summary and "current holder v1.0.0" in summary
    assert "| `eval.accuracy >= current.eval.accuracy - 0.01` |" in summary

    # The better one goes through the same way; history in gitreg and GTO shows both assignments.
    p = promote(srv, "m@v1.2.0", "--to", "production", "--reason", "retrained on more data", "--json")
    assert p.returncode == 0, p.stderr
    body = json.loads(p.stdout)["body"]
    assert body.startswith("Promote **m@v1.2.0** to **production**, replacing **m@v1.0.0**.")
    assert "Reason: retrained on more data" in body and "| `eval.accuracy >= 0.9` | 1.0 | 0.9 | ✅ pass |" in body
    assert "### Metrics: m@v1.0.0 → m@v1.2.0" in body and "| acc | 1 | 1 | +0 |" in body
    assert "### Signature\n\nUnchanged." in body and "### Parity" in body and "### Lineage" in body
    _, ran = gate_job(srv, tmp_path, "gitreg/promote/m/production/v1.2.0")
    assert [code for _, code, _, _ in ran] == [0, 0], ran
    merge(srv, tmp_path, "gitreg/promote/m/production/v1.2.0")
    applied = apply_job(srv, tmp_path)
    assert [code for _, code, _, _ in applied] == [0, 0], applied
    hist = json.loads(run_cli("history", "m", "--registry", str(reg), "--json").stdout)
    assert [(h["event"], h["version"], h["tag"]) for h in hist if h["stage"]] == [
        ("assignment", "1.0.0", "m#production#1"),
        ("assignment", "1.2.0", "m#production#2"),
    ]
    assert "applied from stages.toml" in hist[-1]["message"]

    if gto_executable() is not None:  # GTO reads the same tags
        gto = gto_json(["history", "m"], reg)
        assert sorted((e["event"], e["version"], e["stage"]) for e in gto if e["stage"]) == [  # GTO: newest first
            ("assignment", "v1.0.0", "production"),
            ("assignment", "v1.2.0", "production"),
        ]
        assert [g["version"] for g in gto_json(["show", "m#production"], reg)] == ["v1.2.0"]

    # The merged v1.0.0 branch is still on the registry; asking for v1.0.0 again replaces it.
    assert run_cli("demote", "m", "--stage", "production", "--registry", str(reg)).returncode == 0
    p = promote(srv, "m@v1.0.0", "--to", "production", "--no-local-gates")
    assert p.returncode == 0 and f"branch  {branch} (pushed)" in p.stdout.splitlines(), p.stderr
    new_tip = git("--git-dir", str(reg), "rev-parse", f"refs/heads/{branch}")
    assert new_tip != tip and git("--git-dir", str(reg), "rev-parse", f"{new_tip}^") == git(
        "--git-dir", str(reg), "rev-parse", "main"
    )
    require_gto()  # the GTO half above did not run without the GTO venv: say so


# -- bad input ------------------------------------------------------------------------------------
def pr_branch(srv: Path, tmp_path: Path, name: str, edit: dict[str, str]) -> str:
    """Someone pushes a hand-made promotion branch (files relative to the registry root)."""
    wt = tmp_path / f"edit-{name}"
    env = {**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"}
    subprocess.run(["git", "clone", "-q", str(registry_of(srv)), str(wt)], check=True, env=env)
    git("-C", str(wt), "checkout", "-q", "-b", name)
    for path, text in edit.items():
        (wt / path).write_text(text)
    git("-C", str(wt), "commit", "-qam", f"hand-made {name}")
    git("-C", str(wt), "push", "-q", "origin", name)
    return name


@pytest.mark.slow
def test_gate_changed_refuses_unknown_models_versions_and_stages(srv: Path, tmp_path: Path) -> None:
    stages = '[m]\nproduction = "v9.0.0"\nprod = "v1.0.0"\n\n[nope]\nproduction = "v1.0.0"\n'
    branch = pr_branch(srv, tmp_path, "bad-stages", {"stages.toml": stages})
    wt = checkout(srv, tmp_path, branch, "pr-bad")
    summary = tmp_path / "summary.md"
    p = run_cli("gate", "--changed", "--summary-md", str(summary), cwd=wt)
    assert p.returncode == 1, p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert errors == [  # one line each, in stages.toml order (sorted)
        "error: stages.toml (m): unknown stage 'prod': this registry's stages are staging, production",
        "error: stages.toml assigns m@v9.0.0 to production, but that version is not registered (see: gitreg history m)",
        "error: stages.toml assigns production to unknown model 'nope' (see: gitreg list)",
    ]
    text = summary.read_text()
    assert "promotion checks FAILED" in text and "unknown model 'nope'" in text
    # Not TOML at all: one line too.
    branch = pr_branch(srv, tmp_path, "not-toml", {"stages.toml": "[m\nproduction = 1\n"})
    p = run_cli("gate", "--changed", cwd=checkout(srv, tmp_path, branch, "pr-not-toml"))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: stages.toml in this pull request is not valid TOML")


@pytest.mark.slow
def test_gate_changed_fails_a_pr_that_edits_an_existing_version(srv: Path, tmp_path: Path) -> None:
    reg = registry_of(srv)
    sidecar = git("--git-dir", str(reg), "show", "main:models/m/model.toml")
    stages = '[m]\nproduction = "v1.2.0"\n'
    branch = pr_branch(
        srv,
        tmp_path,
        "sneaky",
        {"stages.toml": stages, "models/m/model.toml": sidecar.replace("acc = 1.0", "acc = 0.999")},
    )
    p = run_cli("gate", "--changed", "--json", cwd=checkout(srv, tmp_path, branch, "pr-sneaky"))
    assert p.returncode == 3, p.stderr
    assert p.stderr.splitlines() == [
        "problem: models/m/model.toml: this pull request edits files of m, whose versions are immutable; "
        "register a new version with gitreg push instead"
    ]
    body = json.loads(p.stdout)
    assert body["passed"] is False and body["gates"][0]["passed"] is True  # the gate itself would pass
    # A PR whose models/ folder is exactly a registered version's files is not an edit.
    wt = checkout(srv, tmp_path, branch, "pr-clean")
    git("-C", str(wt), "checkout", "-q", "origin/main", "--", "models")
    git("-C", str(wt), "commit", "-qm", "undo the edit")
    p = run_cli("gate", "--changed", cwd=wt)
    assert p.returncode == 0, p.stderr + p.stdout


def test_hand_pushed_stage_tag_is_reported_by_check(srv: Path, tmp_path: Path) -> None:
    reg = registry_of(srv)
    assert run_cli("check", "--registry", str(reg)).returncode == 0
    wt = tmp_path / "hand"
    git("clone", "-q", str(reg), str(wt))
    commit = git("--git-dir", str(reg), "rev-parse", "m@v1.1.0^{commit}")
    git("-C", str(wt), "tag", "-a", "m#production#1", commit, "-m", "Assigning stage production to artifact m")
    git("-C", str(wt), "push", "-q", "origin", "m#production#1")
    p = run_cli("check", "--registry", str(reg))
    assert p.returncode == 3
    assert (
        "problem: m#production#1: gives production to v1.1.0 but stages.toml on main says nobody; "
        "production requires a reviewed pull request, so this tag skipped review and gates"
    ) in p.stdout


@pytest.mark.slow
def test_direct_mode_and_option_conflicts(srv: Path, tmp_path: Path) -> None:
    reg = registry_of(srv)
    before = refs(reg)
    p = promote(srv, "m@v1.0.0", "--to", "production", "--direct")
    assert p.returncode == 1 and p.stderr.startswith("error: production requires a reviewed pull request")
    for args, message in (
        (["--pr", "--direct"], "--pr and --direct exclude each other"),
        (["--pr", "--force", "--reason", "x"], "--force applies to direct promotion"),
    ):
        p = promote(srv, "m@v1.0.0", "--to", "production", *args)
        assert p.returncode == 2 and p.stderr.startswith(f"error: {message}"), p.stderr
    p = promote(srv, "m@v1.0.0", "--to", "staging", "--no-local-gates")
    assert p.returncode == 2 and "--no-local-gates goes with --pr" in p.stderr
    p = run_cli("gate", "m@v1.0.0", "--changed")
    assert p.returncode == 2 and "drop REF and --stage" in p.stderr
    p = run_cli("gate", "--changed", "-r", str(reg))  # the test's cwd is no git checkout
    assert p.returncode == 1 and p.stderr.startswith("error: ") and "is not in a git checkout" in p.stderr
    p = run_cli("gate", "--changed", "--base", "origin/nope", cwd=checkout(srv, tmp_path, "main", "co-main"))
    assert p.returncode == 1 and p.stderr.startswith("error: base 'origin/nope' is not in this checkout")
    p = run_cli("gate", "--changed", cwd=tmp_path / "co-main")
    assert p.returncode == 0 and "does not change stages.toml: nothing to gate" in p.stdout, p.stderr
    assert refs(reg) == before
    # staging has no require_pr: --pr still asks for a pull request there.
    p = promote(srv, "m@v1.1.0", "--to", "staging", "--pr")
    assert p.returncode == 0 and "gitreg/promote/m/staging/v1.1.0" in p.stdout


def path_without_gh(tmp_path: Path) -> str:
    """PATH with git and git-lfs only (and python by absolute path): gh is not installed here."""
    bin_dir = tmp_path / "no-gh-bin"
    bin_dir.mkdir()
    for tool in ("git", "git-lfs", "sh"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize("gh", ["absent", "unauthenticated"])
def test_github_registry_without_usable_gh_prints_compare_url(
    registry_path: Path, tmp_path: Path, onnx_file, isolated_env: dict[str, Any], gh: str
) -> None:
    """A registry on github.com (here rewritten by url.insteadOf to a local bare repo): no gh, or a gh
    that is not logged in, gives the branch and the compare URL instead of a pull request."""
    if gh == "unauthenticated" and shutil.which("gh") is None:
        pytest.skip("gh is not installed (apt-get install gh)")
    url = "https://github.com/acme/models.git"
    Path(isolated_env["GIT_CONFIG_GLOBAL"]).write_text(f'[url "{registry_path.as_uri()}"]\n\tinsteadOf = {url}\n')
    reg = Registry(registry_path)
    reg.push_files([onnx_file()], "m", version="1.0.0")
    env = {"PATH": path_without_gh(tmp_path)} if gh == "absent" else {}
    env_clean = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN")}
    p = subprocess.run(
        [sys.executable, "-m", "gitreg", "promote", "m@v1.0.0", "--to", "production", "--pr", "--registry", url],
        capture_output=True,
        text=True,
        env={**env_clean, **env},
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    branch = "gitreg/promote/m/production/v1.0.0"
    assert p.stdout.splitlines() == [
        f"branch  {branch} (pushed)",
        f"open the pull request  https://github.com/acme/models/compare/main...{branch}?expand=1",
    ]
    why = "gh is not installed" if gh == "absent" else "gh is not authenticated"
    assert p.stderr.startswith(f"note: {why}"), p.stderr
    assert git("--git-dir", str(registry_path), "rev-parse", "--verify", f"refs/heads/{branch}")
