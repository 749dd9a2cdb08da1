"""A repository a team used GTO in, read as it is and then adopted by ``gitreg init``.

The team's repository is written by the real GTO CLI: a working clone with a plain model file
annotated in ``dvc.yaml`` (GTO 1.x), an LFS model annotated in GTO 0.x's ``artifacts.yaml``,
``gto register``/``assign`` tags, all pushed to a bare repository with no ``gitreg.toml``. gitreg
reads it (list, show, history, stage resolution, pull of the annotated files, verified), refuses
to write to it with the way out, adopts it in one commit that changes no tag, and then every
command works — while GTO still reads everything the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from gitreg import Registry
from tests.support.cli import invoke, one_error_line
from tests.support.gto import gto_json, require_gto, run_gto
from tests.support.repo import git

pytestmark = pytest.mark.gto


def gto(work: Path, *args: str) -> None:
    """One gto write, in a later wall-clock second than the last (GTO orders by whole seconds)."""
    time.sleep(1.05)
    p = run_gto(list(args), work)
    assert p.returncode == 0, f"gto {' '.join(args)}: {p.stderr}\n{p.stdout}"


def sh(work: Path, *args: str) -> str:
    p = subprocess.run(["git", *args], cwd=work, capture_output=True, text=True, env=os.environ, check=False)
    assert p.returncode == 0, f"git {' '.join(args)}: {p.stderr}"
    return p.stdout.strip()


def tags(bare: Path) -> str:
    return git("--git-dir", str(bare), "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags")


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """(bare repository, working clone, file contents by version) of a team that used GTO."""
    require_gto()
    bare = tmp_path / "team.git"
    git("init", "-q", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "work"
    git("clone", "-q", str(bare), str(work))
    sh(work, "checkout", "-q", "-b", "main")
    sh(work, "lfs", "install", "--local")
    sh(work, "lfs", "track", "models/*.bin")
    (work / "models").mkdir()
    (work / "dvc.yaml").write_text("artifacts:\n  churn:\n    path: models/churn.pkl\n    type: model\n")
    (work / "artifacts.yaml").write_text("legacy:\n  type: model\n  path: models/legacy.bin\n")
    contents: dict[str, bytes] = {}
    for i, version in enumerate(("v1.0.0", "v1.1.0")):
        contents[f"churn@{version}"] = f"pickled churn model {i}\n".encode() * 50
        contents[f"legacy@{version}"] = os.urandom(4096)
        (work / "models" / "churn.pkl").write_bytes(contents[f"churn@{version}"])
        (work / "models" / "legacy.bin").write_bytes(contents[f"legacy@{version}"])
        sh(work, "add", "-A")
        sh(work, "commit", "-q", "-m", f"train {version}")
        gto(work, "register", "churn", "HEAD", "--version", version)
        gto(work, "register", "legacy", "HEAD", "--version", version)
    gto(work, "assign", "churn", "--version", "v1.0.0", "--stage", "prod")
    gto(work, "assign", "churn", "--version", "v1.1.0", "--stage", "dev")
    gto(work, "assign", "legacy", "--version", "v1.1.0", "--stage", "prod")
    sh(work, "push", "-q", "origin", "main", "--tags")
    assert git("--git-dir", str(bare), "cat-file", "-e", "main:artifacts.yaml") == ""
    return bare, work, contents


def test_a_gto_repository_is_read_as_it_is(team: tuple[Path, Path, dict[str, bytes]], tmp_path: Path) -> None:
    bare, _, contents = team
    r = str(bare)
    res = invoke("list", "--json", "-r", r)
    assert res.exit_code == 0, res.stderr
    listed = {m["name"]: m for m in json.loads(res.stdout)}
    assert listed["churn"]["latest"] == "v1.1.0" and listed["churn"]["stages"] == {"dev": "v1.1.0", "prod": "v1.0.0"}
    assert listed["legacy"]["stages"] == {"prod": "v1.1.0"}
    res = invoke("show", "churn#prod", "--json", "-r", r)
    assert res.exit_code == 0 and json.loads(res.stdout)["version"] == "1.0.0"
    res = invoke("history", "churn", "-r", r)
    assert res.exit_code == 0 and "churn#prod#" in res.stdout
    # pull: the annotated file at the commit the version's tag names; plain blob and LFS object alike
    for ref, tag, fname in (
        ("churn#prod", "churn@v1.0.0", "churn.pkl"),
        ("churn@v1.1.0", "churn@v1.1.0", "churn.pkl"),
        ("legacy#prod", "legacy@v1.1.0", "legacy.bin"),
    ):
        out = tmp_path / "pulled" / ref
        res = invoke("pull", ref, "-o", str(out), "--json", "-r", r)
        assert res.exit_code == 0, res.stderr
        assert json.loads(res.stdout)["files"] == [str(out / fname)]
        assert hashlib.sha256((out / fname).read_bytes()).digest() == hashlib.sha256(contents[tag]).digest()
    # a version no annotation names the files of: one line that says so
    sh(team[1], "rm", "-q", "dvc.yaml")
    sh(team[1], "commit", "-q", "-m", "drop the annotation")
    gto(team[1], "register", "churn", "HEAD", "--version", "v1.2.0")
    sh(team[1], "push", "-q", "origin", "main", "--tags")
    res = invoke("pull", "churn@v1.2.0", "-o", str(tmp_path / "none"), "-r", r)
    assert res.exit_code == 1 and "no annotation names its files" in one_error_line(res.stderr)
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())


def test_writes_point_at_adoption_and_init_adopts_without_touching_a_tag(
    team: tuple[Path, Path, dict[str, bytes]], tmp_path: Path, onnx_file
) -> None:
    bare, work, _ = team
    r = str(bare)
    before = tags(bare)
    main_before = git("--git-dir", r, "rev-parse", "main")
    res = invoke("push", str(onnx_file()), "--name", "scorer", "-r", r)
    assert res.exit_code == 1 and "GTO repository" in one_error_line(res.stderr) and "gitreg init" in res.stderr
    assert tags(bare) == before and git("--git-dir", r, "rev-parse", "main") == main_before

    res = invoke("init", "--registry", r)
    assert res.exit_code == 0, res.stderr
    assert tags(bare) == before  # every tag kept, none moved
    assert git("--git-dir", r, "rev-parse", "main^") == main_before  # one commit on top, nothing rewritten
    changed = git("--git-dir", r, "diff", "--name-only", "main^", "main").split()
    assert sorted(changed) == ["gitreg.toml", "stages.toml"]  # the repo's own .gitattributes kept
    config = git("--git-dir", r, "show", "main:gitreg.toml")
    assert 'order = ["prod", "dev"]' in config
    stages = git("--git-dir", r, "show", "main:stages.toml")
    assert 'prod = "v1.0.0"' in stages and 'dev = "v1.1.0"' in stages
    assert invoke("init", "--registry", r).exit_code == 0  # idempotent: already a registry
    assert git("--git-dir", r, "rev-parse", "main^") == main_before  # the second init wrote nothing

    # every gitreg command now works on it ...
    reg = Registry(bare)
    reg.push_files([onnx_file()], "scorer", version="1.0.0")
    for step in (("promote", "churn@v1.1.0", "--to", "prod"), ("promote", "scorer@v1.0.0", "--to", "dev")):
        res = invoke(*step, "-r", r)
        assert res.exit_code == 0, res.stderr
    res = invoke("check", "-r", r)
    assert res.exit_code == 0, res.stdout + res.stderr
    # ... and GTO still reads everything, the same way gitreg does
    shown = {m["name"]: m for m in json.loads(invoke("list", "--json", "-r", r).stdout)}
    gto_view = gto_json(["show"], bare)
    assert set(gto_view) == {"churn", "legacy", "scorer"}
    for name, g in gto_view.items():
        assert g["version"] == shown[name]["latest"], (name, g, shown[name])
        assert {st: holder for st, holder in g["stage"].items() if holder} == shown[name]["stages"], name
    assert shown["churn"]["stages"]["prod"] == "v1.1.0"
    assert [g["version"] for g in gto_json(["show", "churn#prod"], bare)] == ["v1.1.0"]
    sh(work, "pull", "-q", "origin", "main")  # the team's clone fast-forwards: nothing rewritten
    assert (work / "gitreg.toml").exists()
