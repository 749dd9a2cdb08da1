"""Offline reads (``GITREG_OFFLINE=1`` / ``--offline``) and the cache commands (``gitreg cache info|prune``).

A remote registry is read through its cache clone. To get one without a server, the registry is
addressed as ``ssh://registry.invalid/team.git`` and git's own ``url.<base>.insteadOf`` (in the test's
global git config) routes that to a bare repository on disk: git and git-lfs both follow it, and
removing the rule cuts the "network" — so a read that still works proves it used only the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.store.location import cache_dir
from tests.support.cli import invoke, one_error_line
from tests.support.onnxfiles import make_onnx
from tests.support.repo import REPO_ROOT, git
from tests.support.servers import http_registry

URL = "ssh://registry.invalid/team.git"


def _route(bare: Path | None) -> None:
    """Point URL at ``bare`` (None: at nothing, as when the network is down)."""
    cfg = Path(os.environ["GIT_CONFIG_GLOBAL"])
    target = bare.as_uri() if bare is not None else Path("/nonexistent/registry.git").as_uri()
    cfg.write_text(f'[url "{target}"]\n\tinsteadOf = {URL}\n')


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Path]:
    """A registry with m@v1.0.0 and m@v1.1.0 (different ONNX files), reachable as URL."""
    path = tmp_path / "registry.git"
    reg = Registry(path)
    reg.init()
    reg.push_files([make_onnx(tmp_path / "a" / "model.onnx", seed=1, pad=4000)], "m", version="1.0.0")
    reg.push_files([make_onnx(tmp_path / "b" / "model.onnx", seed=2, pad=4000)], "m", version="1.1.0")
    _route(path)
    yield path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ok(*args: str) -> str:
    res = invoke(*args)
    assert res.exit_code == 0, res.stderr
    return res.stdout


def fails(code: int, *args: str) -> str:
    res = invoke(*args)
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    return one_error_line(res.stderr)


def tags(bare: Path) -> str:
    return git("--git-dir", str(bare), "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags")


# -- offline reads ------------------------------------------------------------------------------------
def test_offline_reads_and_loads_what_was_cached(bare: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gitreg

    ok("pull", "m@v1.0.0", "-o", str(tmp_path / "first"), "--registry", URL)  # online: clone + the object
    _route(None)  # the network is gone
    assert "registry.invalid" in fails(1, "list", "--registry", URL)  # online reads now fail: proof
    listed = json.loads(ok("--offline", "list", "--json", "--registry", URL))
    assert [(m["name"], m["latest"]) for m in listed] == [("m", "v1.1.0")]
    assert json.loads(ok("--offline", "show", "m@v1.0.0", "--json", "--registry", URL))["version"] == "1.0.0"
    assert "v1.1.0" in ok("--offline", "history", "m", "--registry", URL)
    out = tmp_path / "again"
    ok("--offline", "pull", "m@v1.0.0", "-o", str(out), "--registry", URL)
    assert sha(out / "model.onnx") == sha(tmp_path / "first" / "model.onnx")
    assert "GITREG_OFFLINE" not in os.environ  # --offline lasts one command
    monkeypatch.setenv("GITREG_OFFLINE", "1")  # the library reads the same switch
    model = gitreg.load("m@v1.0.0", registry=URL)
    assert model.predict(__import__("numpy").ones((2, 4), dtype="float32")).shape[0] == 2
    info = json.loads(ok("info", "--json", "--registry", URL))
    assert info["offline"] is True and info["cache_fetched"]


def test_offline_an_uncached_artifact_is_one_error_naming_what_to_fetch(bare: Path, tmp_path: Path) -> None:
    ok("list", "--registry", URL)  # online: the clone (tags, sidecars), no artifact
    _route(None)
    out = tmp_path / "out"
    line = fails(1, "--offline", "pull", "m@v1.1.0", "-o", str(out), "--registry", URL)
    assert "offline" in line and "m@v1.1.0:model.onnx" in line and "not in the cache" in line
    res = invoke("--offline", "pull", "m@v1.1.0", "-o", str(out), "--registry", URL)
    assert f"hint: fetch it once online: gitreg pull m@v1.1.0 --registry {URL}" in res.stderr
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_offline_a_registry_never_cached_is_one_error(bare: Path) -> None:
    line = fails(1, "--offline", "list", "--registry", URL)
    assert line == f"error: offline, and no cached copy of {URL} is on this machine"
    assert not cache_dir(URL).exists()  # and it made none


def test_offline_writes_to_a_remote_registry_are_refused(bare: Path, tmp_path: Path) -> None:
    ok("list", "--registry", URL)
    before = tags(bare)
    new = make_onnx(tmp_path / "c" / "model.onnx", seed=3)
    for args in (
        ("push", str(new), "--name", "m", "--registry", URL),
        ("deprecate", "m@v1.0.0", "--registry", URL),
        ("promote", "m@v1.0.0", "--to", "staging", "--registry", URL),
    ):
        line = fails(1, "--offline", *args)
        assert line == f"error: offline: cannot write to {URL} (writes need the registry itself)", args
    assert tags(bare) == before


def test_offline_writes_to_a_local_registry_still_work(bare: Path, tmp_path: Path) -> None:
    """No network is involved: offline is about remote registries."""
    new = make_onnx(tmp_path / "c" / "model.onnx", seed=3)
    ok("--offline", "push", str(new), "--name", "m", "--version", "2.0.0", "--registry", str(bare))
    assert "refs/tags/m@v2.0.0" in tags(bare)


def test_offline_shows_the_registry_as_last_fetched(bare: Path, tmp_path: Path) -> None:
    ok("list", "--registry", URL)
    Registry(bare).push_files([make_onnx(tmp_path / "d" / "model.onnx", seed=4)], "m", version="1.2.0")
    assert json.loads(ok("--offline", "list", "--json", "--registry", URL))[0]["latest"] == "v1.1.0"
    assert json.loads(ok("list", "--json", "--registry", URL))[0]["latest"] == "v1.2.0"


# -- cache info and prune -----------------------------------------------------------------------------
def _objects(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("gitreg/*.git/lfs/objects/*/*/*") if len(p.name) == 64)


def test_cache_info_reports_each_registry_and_totals(bare: Path, tmp_path: Path) -> None:
    ok("pull", "m@v1.0.0", "-o", str(tmp_path / "o1"), "--registry", URL)
    ok("pull", "m@v1.1.0", "-o", str(tmp_path / "o2"), "--registry", URL)
    data = json.loads(ok("cache", "info", "--json"))
    cache_root = Path(os.environ["XDG_CACHE_HOME"]) / "gitreg"
    assert data["root"] == str(cache_root) and data["offline"] is False
    (entry,) = [r for r in data["registries"] if r["url"] == URL]
    sizes = [(tmp_path / o / "model.onnx").stat().st_size for o in ("o1", "o2")]
    assert entry["objects"] == 2 and entry["object_bytes"] == sum(sizes)
    assert entry["bytes"] > entry["object_bytes"] and entry["last_fetch"].endswith("Z")
    assert data["total_bytes"] >= sum(r["bytes"] for r in data["registries"])
    human = ok("cache", "info")
    assert URL in human and "total" in human


def test_prune_older_than_dry_run_and_refetch(bare: Path, tmp_path: Path) -> None:
    ok("pull", "m@v1.0.0", "-o", str(tmp_path / "o1"), "--registry", URL)
    ok("pull", "m@v1.1.0", "-o", str(tmp_path / "o2"), "--registry", URL)
    cache_home = Path(os.environ["XDG_CACHE_HOME"])
    old, new = (
        next(p for p in _objects(cache_home) if p.name == sha(tmp_path / o / "model.onnx")) for o in ("o1", "o2")
    )
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    report = json.loads(ok("cache", "prune", "--older-than", "5", "--dry-run", "--json"))
    assert report["removed"] == 1 and report["dry_run"] is True and old.exists()
    report = json.loads(ok("cache", "prune", "--older-than", "5", "--json"))
    assert report["removed"] == 1 and report["bytes"] == (tmp_path / "o1" / "model.onnx").stat().st_size
    assert not old.exists() and new.exists()
    assert not [p for p in old.parent.iterdir() if p.name.endswith(".tmp")]  # nothing left aside
    out = tmp_path / "o3"
    ok("pull", "m@v1.0.0", "-o", str(out), "--registry", URL)  # fetched again, verified
    assert sha(out / "model.onnx") == old.name and old.exists()


def test_prune_keep_stages_keeps_the_staged_versions_artifacts(bare: Path, tmp_path: Path) -> None:
    import gitreg

    ok("promote", "m@v1.0.0", "--to", "staging", "--registry", str(bare))
    gitreg.load("m#staging", registry=URL)  # a load: the clone's object and an artifacts folder
    ok("pull", "m@v1.1.0", "-o", str(tmp_path / "o2"), "--registry", URL)
    staged = make_onnx(tmp_path / "a2" / "model.onnx", seed=1, pad=4000)
    report = json.loads(ok("cache", "prune", "--keep-stages", "--json"))
    left = {p.name for p in _objects(Path(os.environ["XDG_CACHE_HOME"]))}
    assert left == {sha(staged)}
    arts = Path(os.environ["XDG_CACHE_HOME"]) / "gitreg" / "artifacts"
    assert [p.name for p in arts.iterdir() if not p.name.startswith(".")] == [sha(staged)]
    assert report["removed"] == 1 and report["keep_stages"] is True
    ok("cache", "prune")  # without --keep-stages: everything prunable goes
    assert not _objects(Path(os.environ["XDG_CACHE_HOME"])) and not any(arts.iterdir())


def test_prune_one_registry_and_all(bare: Path, tmp_path: Path) -> None:
    ok("pull", "m@v1.0.0", "-o", str(tmp_path / "o1"), "--registry", URL)
    report = json.loads(ok("cache", "prune", "--registry", URL, "--json"))
    assert [e["what"] for e in report["entries"]] == [URL] and report["removed"] == 1
    assert "no cache of" in fails(2, "cache", "prune", "--registry", "ssh://other.invalid/x.git")
    report = json.loads(ok("cache", "prune", "--all", "--json"))
    assert any(e["whole"] and e["what"] == URL for e in report["entries"])
    assert not list((Path(os.environ["XDG_CACHE_HOME"]) / "gitreg").glob("*.git"))  # the local one's too
    assert "--all removes whole clones" in fails(2, "cache", "prune", "--all", "--keep-stages")
    assert json.loads(ok("list", "--json", "--registry", URL))[0]["latest"] == "v1.1.0"  # clones again


_READER = """
import hashlib, sys
from pathlib import Path
import numpy as np
import gitreg
from gitreg import Registry
from gitreg.store.location import cache_dir
url, out, rounds, want = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
reg = Registry(url)
for i in range(rounds):
    res = reg.pull("m@v1.0.0", out / str(i), format="onnx")
    got = hashlib.sha256((out / str(i) / "model.onnx").read_bytes()).hexdigest()
    assert got == want, (i, got)
    assert gitreg.load("m@v1.0.0", registry=url).predict(np.ones((1, 4), dtype="float32")).shape[0] == 1
print("ok", rounds)
"""

_PRUNER = """
import sys, time
from gitreg.registry import cache
end, n = time.time() + float(sys.argv[1]), 0
while time.time() < end:
    n += cache.prune().removed
print("pruned", n)
"""


@pytest.mark.slow
def test_prune_is_safe_while_other_processes_pull_and_load(bare: Path, tmp_path: Path) -> None:
    """Readers pulling and loading in a loop while prune runs again and again: every read succeeds
    and verifies, and prune did remove things under them."""
    want = sha(make_onnx(tmp_path / "a1" / "model.onnx", seed=1, pad=4000))
    ok("list", "--registry", URL)  # the clone exists: readers race on objects, not on cloning
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = [sys.executable, "-c", _READER, URL]
    pipes = {"env": env, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    readers = [subprocess.Popen([*argv, str(tmp_path / f"r{i}"), "8", want], **pipes) for i in range(3)]
    pruner = subprocess.Popen([sys.executable, "-c", _PRUNER, "6"], **pipes)
    results = [(*p.communicate(timeout=180), p.returncode) for p in readers]
    for out, err, code in results:
        assert code == 0 and out.strip() == "ok 8", err
    out, err = pruner.communicate(timeout=60)
    assert pruner.returncode == 0, err
    assert int(out.split()[1]) > 0  # it really removed objects while the readers ran


@pytest.mark.http
def test_offline_over_http_after_the_server_is_gone_and_no_token_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTTP topology: pull online, stop the server, pull and load offline; the token given in
    the URL is in no output of the cache commands."""
    import gitreg

    model = make_onnx(tmp_path / "m" / "model.onnx", seed=5, pad=4000)
    with http_registry(tmp_path / "srv") as srv:
        _, served = srv.create_repo("org/registry.git")
        url = served.replace("http://", "http://alice:s3cret-token@")
        ok("init", "--registry", url)
        ok("push", str(model), "--name", "m", "--registry", url)
        ok("pull", "m", "-o", str(tmp_path / "online"), "--registry", url)
    assert "error: " in fails(1, "list", "--registry", url)  # the server is gone
    out = tmp_path / "offline"
    ok("--offline", "pull", "m", "-o", str(out), "--registry", url)
    assert sha(out / "model.onnx") == sha(model)
    monkeypatch.setenv("GITREG_OFFLINE", "1")
    assert gitreg.load("m", registry=url).model_version.version == "1.0.0"
    monkeypatch.delenv("GITREG_OFFLINE")
    shown = ok("cache", "info", "--json") + ok("cache", "info") + ok("cache", "prune", "--dry-run")
    assert served in shown and "s3cret-token" not in shown
    (entry,) = [r for r in json.loads(ok("cache", "info", "--json"))["registries"] if r["url"] == served]
    assert entry["objects"] == 1 and entry["object_bytes"] == model.stat().st_size


def test_ref_locks_a_killed_git_left_in_the_cache_are_cleared_by_the_next_read(bare: Path, tmp_path: Path) -> None:
    """A push or fetch killed mid-update leaves git's ``….lock`` files in the cache clone; git then
    refuses every later fetch ("remove the file manually to continue"). Found by the SIGKILL runs."""
    ok("list", "--registry", URL)
    cache = cache_dir(URL)
    planted = [cache / "refs" / "remotes" / "origin" / "main.lock", cache / "packed-refs.lock"]
    for lock in planted:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text("0" * 40 + "\n")
    Registry(bare).push_files([make_onnx(tmp_path / "c" / "model.onnx", seed=3)], "m", version="1.2.0")
    assert "1.2.0" in ok("list", "m", "--registry", URL)  # the fetch of the new tag went through
    assert not any(p.exists() for p in planted)
    res = invoke("push", str(make_onnx(tmp_path / "d" / "model.onnx", seed=4)), "--name", "m", "--registry", URL)
    assert res.exit_code == 0, res.stderr
