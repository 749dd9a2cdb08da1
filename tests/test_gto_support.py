"""Smoke test of tests/support/gto.py against the real GTO CLI.

Also pins down the exact tags GTO 1.10.1 writes, which gitreg must reproduce.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.gto import gto_json, require_gto, run_gto

pytestmark = pytest.mark.gto

NAME, EMAIL = "Test Bot", "bot@example.com"


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    gitconfig = home / "gitconfig"
    gitconfig.write_text("")
    return {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", os.defpath),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_AUTHOR_NAME": NAME,
        "GIT_AUTHOR_EMAIL": EMAIL,
        "GIT_COMMITTER_NAME": NAME,
        "GIT_COMMITTER_EMAIL": EMAIL,
        "LC_ALL": "C.UTF-8",
    }


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, env=env, text=True, capture_output=True)
    assert proc.returncode == 0, f"git {args} failed: {proc.stderr}"
    return proc.stdout


def gto_ok(args: list[str], repo: Path, env: dict[str, str]) -> None:
    proc = run_gto(args, repo, env)
    assert proc.returncode == 0, f"gto {args}: {proc.stderr}\n{proc.stdout}"


def test_gto_reads_and_writes(tmp_path: Path, git_env: dict[str, str]) -> None:
    require_gto()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, git_env, "init", "-q", "-b", "main")
    shas = []
    for i in (1, 2):
        (repo / f"f{i}.txt").write_text(f"{i}\n")
        git(repo, git_env, "add", f"f{i}.txt")
        git(repo, git_env, "commit", "-q", "-m", f"c{i}")
        shas.append(git(repo, git_env, "rev-parse", "HEAD").strip())
    c1, c2 = shas

    gto_ok(["register", "churn", "HEAD~1"], repo, git_env)
    gto_ok(["register", "churn", "HEAD"], repo, git_env)
    gto_ok(["assign", "churn", "--version", "v0.0.1", "--stage", "prod"], repo, git_env)

    # --- what GTO wrote, seen by plain git ---------------------------------
    fmt = "%(refname)|%(objecttype)|%(*objecttype)|%(*objectname)|%(taggername)|%(taggeremail)"
    refs = git(repo, git_env, "for-each-ref", f"--format={fmt}", "refs/tags").splitlines()
    assert sorted(refs) == sorted(
        [
            f"refs/tags/churn#prod#1|tag|commit|{c1}|{NAME}|<{EMAIL}>",
            f"refs/tags/churn@v0.0.1|tag|commit|{c1}|{NAME}|<{EMAIL}>",
            f"refs/tags/churn@v0.0.2|tag|commit|{c2}|{NAME}|<{EMAIL}>",
        ]
    )
    messages = {
        "churn@v0.0.1": "Registering artifact churn version v0.0.1",
        "churn@v0.0.2": "Registering artifact churn version v0.0.2",
        "churn#prod#1": "Assigning stage prod to artifact churn version v0.0.1",
    }
    for tag, message in messages.items():
        raw = git(repo, git_env, "cat-file", "tag", f"refs/tags/{tag}")
        header, _, body = raw.partition("\n\n")
        assert f"\ntag {tag}\n" in header
        assert body == message  # exact, no trailing newline

    # --- gto show --json ----------------------------------------------------
    assert gto_json(["show"], repo, git_env) == {
        "churn": {
            "version": "v0.0.2",
            "stage": {"prod": "v0.0.1"},
            "registered": True,
            "active": True,
        }
    }
    versions = gto_json(["show", "churn"], repo, git_env)
    assert [v["version"] for v in versions] == ["v0.0.2", "v0.0.1"]
    assert [v["commit_hexsha"] for v in versions] == [c2, c1]
    assert [v["ref"] for v in versions] == ["churn@v0.0.2", "churn@v0.0.1"]
    assert all(v["is_active"] and not v["discovered"] for v in versions)
    assert versions[0]["stages"] == []
    assert [(s["stage"], s["ref"]) for s in versions[1]["stages"]] == [("prod", "churn#prod#1")]

    # --- gto history churn --json ------------------------------------------
    history = gto_json(["history", "churn"], repo, git_env)
    assert all(
        set(h)
        == {
            "timestamp",
            "artifact",
            "event",
            "priority",
            "version",
            "stage",
            "commit",
            "author",
            "author_email",
            "message",
            "ref",
        }
        for h in history
    )
    # The three tags may share one tagger second, so compare without order...
    assert sorted(
        (
            h["event"],
            h["priority"],
            h["version"],
            h["stage"],
            h["commit"],
            h["ref"],
            h["message"],
            h["artifact"],
            h["author"],
            h["author_email"],
        )
        for h in history
    ) == sorted(
        [
            (
                "registration",
                3,
                "v0.0.1",
                None,
                c1,
                "churn@v0.0.1",
                messages["churn@v0.0.1"],
                "churn",
                NAME,
                EMAIL,
            ),
            (
                "registration",
                3,
                "v0.0.2",
                None,
                c2,
                "churn@v0.0.2",
                messages["churn@v0.0.2"],
                "churn",
                NAME,
                EMAIL,
            ),
            (
                "assignment",
                5,
                "v0.0.1",
                "prod",
                c1,
                "churn#prod#1",
                messages["churn#prod#1"],
                "churn",
                NAME,
                EMAIL,
            ),
        ]
    )
    # ...but newest first by (timestamp, priority): the assignment leads.
    assert history[0]["ref"] == "churn#prod#1"
    assert [h["timestamp"] for h in history] == sorted((h["timestamp"] for h in history), reverse=True)
