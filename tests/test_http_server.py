"""The test HTTP topology works with real git and git-lfs, without gitreg.

A push over smart HTTP uploads LFS objects to giftless, a fresh clone smudges them back,
``git lfs push --object-id`` works from a bare repo, and a served repo's pre-receive hook
runs with the server's environment and speaks to the client as ``remote:`` lines.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import HttpServer, http_registry

pytestmark = pytest.mark.http

# Debian's /etc/gitconfig sets these; the isolated environment below ignores it.
LFS_FILTERS = [
    "-c", "filter.lfs.clean=git-lfs clean -- %f",
    "-c", "filter.lfs.smudge=git-lfs smudge -- %f",
    "-c", "filter.lfs.process=git-lfs filter-process",
    "-c", "filter.lfs.required=true",
]  # fmt: skip
HOOK_MARK = "hook-env-passed-through"


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Isolate git from the machine's and user's config; the server inherits this too."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    global_config = home / "gitconfig"
    global_config.write_text("")
    for key, value in {
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(global_config),
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_LFS_SKIP_SMUDGE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def server(tmp_path: Path, git_env: None) -> Iterator[HttpServer]:
    with http_registry(tmp_path / "srv", env={"GITSRV_HOOK_MARK": HOOK_MARK}) as srv:
        yield srv


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def test_push_and_clone_lfs_file_over_http(server: HttpServer, tmp_path: Path) -> None:
    _, url = server.create_repo("org/registry.git")
    work = tmp_path / "w1"
    git("clone", "--quiet", url, str(work))  # empty repo: "You appear to have cloned an empty repository"
    git("lfs", "install", "--local", cwd=work)
    git("lfs", "track", "models/**/*.onnx", cwd=work)
    payload = os.urandom(3 * 1024 * 1024)
    oid = hashlib.sha256(payload).hexdigest()
    (work / "models" / "m").mkdir(parents=True)
    (work / "models" / "m" / "model.onnx").write_bytes(payload)
    # A plain blob over http.postBuffer (1 MiB) makes git send the pack chunked.
    (work / "plain.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    git("add", ".gitattributes", "models", "plain.bin", cwd=work)
    git("commit", "--quiet", "-m", "add model", cwd=work)
    assert git("lfs", "ls-files", "--long", cwd=work).stdout.split()[0] == oid
    git("push", "--quiet", "origin", "main", cwd=work)

    stored = list(server.lfs_root.rglob(oid))
    assert len(stored) == 1 and stored[0].read_bytes() == payload
    assert git("ls-remote", url, "refs/heads/main").stdout.startswith(git("rev-parse", "HEAD", cwd=work).stdout.strip())

    clone = tmp_path / "w2"
    git(*LFS_FILTERS, "clone", "--quiet", url, str(clone))
    assert (clone / "models" / "m" / "model.onnx").read_bytes() == payload
    assert (clone / "plain.bin").read_bytes() == (work / "plain.bin").read_bytes()


def test_lfs_push_object_id_from_bare_repo(server: HttpServer, tmp_path: Path) -> None:
    _, url = server.create_repo("org/bare-push.git")
    local = tmp_path / "local.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(local))
    git("remote", "add", "origin", url, cwd=local)
    payload = os.urandom(1024 * 1024)
    oid = hashlib.sha256(payload).hexdigest()
    obj = local / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    obj.parent.mkdir(parents=True)
    obj.write_bytes(payload)

    git("lfs", "push", "--object-id", "origin", oid, cwd=local)

    stored = list(server.lfs_root.rglob(oid))
    assert len(stored) == 1 and stored[0].read_bytes() == payload


def test_pre_receive_hook_runs_with_server_env(server: HttpServer, tmp_path: Path) -> None:
    bare, url = server.create_repo("org/hooked.git")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text('#!/bin/sh\necho "rejected by hook: $GITSRV_HOOK_MARK" >&2\nexit 1\n')
    hook.chmod(0o755)
    work = tmp_path / "w"
    git("clone", "--quiet", url, str(work))
    (work / "README").write_text("hello\n")
    git("add", "README", cwd=work)
    git("commit", "--quiet", "-m", "readme", cwd=work)

    push = git("push", "origin", "main", cwd=work, check=False)

    assert push.returncode != 0
    assert f"remote: rejected by hook: {HOOK_MARK}" in push.stderr
    assert "pre-receive hook declined" in push.stderr
    assert git("ls-remote", url).stdout == ""
