"""The server-side pre-receive hook, over a ``file://`` bare registry and over smart HTTP.

Every test runs twice: against a local registry made by ``gitreg init`` (which installs its own
shim), and against a repo served by ``git http-backend`` + giftless with the shipped
``hooks/pre-receive`` copied in, as an administrator of a self-hosted server would. Pushes are made
with plain git from a plain clone; a rejection must name its rule in a ``remote:`` line and leave
every ref of the registry as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitreg import Registry, api
from tests.support.repo import REPO_ROOT, git
from tests.support.servers import http_registry

SHIPPED_HOOK = REPO_ROOT / "hooks" / "pre-receive"
# Commit files as they are: the tests' isolated config has no LFS filters, and these make sure.
NO_LFS = ["-c", "filter.lfs.clean=cat", "-c", "filter.lfs.process=", "-c", "filter.lfs.required=false"]


@dataclass(frozen=True)
class Remote:
    """A hooked registry: its bare repo on disk and the URL clients use."""

    bare: Path
    url: str
    registry: Registry

    def refs(self) -> str:
        return git("--git-dir", str(self.bare), "for-each-ref", "--format=%(objectname) %(refname)")

    def commit_of(self, tag: str) -> str:
        return git("--git-dir", str(self.bare), "rev-parse", f"refs/tags/{tag}^{{commit}}")


@pytest.fixture(params=["file", pytest.param("http", marks=pytest.mark.http)])
def remote(request: pytest.FixtureRequest, tmp_path: Path, onnx_file) -> Iterator[Remote]:
    """A registry with m@v1.0.0, m@v1.1.0 and other@v1.0.0, behind its pre-receive hook."""
    if request.param == "file":
        bare = tmp_path / "registry.git"
        reg = Registry(bare)
        reg.init()
        yield _seed(Remote(bare, bare.as_uri(), reg), onnx_file)
        return
    # The shipped shim finds gitreg through $GITREG, as a server admin would point it at an install.
    wrapper = tmp_path / "bin" / "gitreg"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m gitreg "$@"\n')
    wrapper.chmod(0o755)
    with http_registry(tmp_path / "srv", env={"GITREG": str(wrapper)}) as server:
        bare, url = server.create_repo("org/registry.git")
        shutil.copy2(SHIPPED_HOOK, bare / "hooks" / "pre-receive")
        reg = Registry(url)
        assert reg.init() is True  # the first commit already goes through the hook
        yield _seed(Remote(bare, url, reg), onnx_file)


def _seed(remote: Remote, onnx_file) -> Remote:
    for name, version in (("m", "1.0.0"), ("m", "1.1.0"), ("other", "1.0.0")):
        remote.registry.push_files([onnx_file()], name, version=version)
    return remote


def clone(remote: Remote, dest: Path) -> Path:
    git("clone", "-q", remote.url, str(dest))
    return dest


def push(work: Path, *refspecs: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(work), "push", "--no-verify", "--porcelain", "origin", *refspecs],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_rejected(p: subprocess.CompletedProcess, rule: str, *fragments: str) -> str:
    """The push failed, and a ``remote:`` line names ``rule`` (and says ``fragments``); that line."""
    assert p.returncode != 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith(f"remote: gitreg: REJECT {rule}: ")]
    assert lines, p.stderr
    assert any(all(f in ln for f in fragments) for ln in lines), (fragments, lines)
    assert "pre-receive hook declined" in p.stdout + p.stderr
    return lines[0]


def annotated(work: Path, tag: str, target: str, message: str | None = None) -> None:
    git("-C", str(work), "tag", "-a", tag, "-m", message or f"hand-made {tag}", target)


# -- immutable-tag ----------------------------------------------------------------------------------
def test_version_tags_cannot_be_deleted_or_moved(remote: Remote, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "w")
    before = remote.refs()
    assert_rejected(push(work, ":refs/tags/m@v1.0.0"), "immutable-tag", "refusing to delete m@v1.0.0")
    git("-C", str(work), "tag", "-f", "-a", "m@v1.0.0", "-m", "moved", "m@v1.1.0^{commit}")
    assert_rejected(push(work, "--force", "refs/tags/m@v1.0.0"), "immutable-tag", "refusing to move m@v1.0.0")
    assert remote.refs() == before


# -- lfs-required, lfs-object-missing, sidecar ------------------------------------------------------
def test_content_rules_reject_commits_on_main(remote: Remote, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "w")
    before = remote.refs()
    folder = work / "models" / "m"

    def attempt(files: dict[str, bytes]) -> subprocess.CompletedProcess:
        for name, content in files.items():
            (folder / name).write_bytes(content)
        git("-C", str(work), *NO_LFS, "add", "-A")
        git("-C", str(work), "commit", "-qm", "by hand")
        p = push(work, "HEAD:main")
        git("-C", str(work), "reset", "-q", "--hard", "origin/main")
        return p

    line = assert_rejected(attempt({"weights.bin": os.urandom(1_100_000)}), "lfs-required", "models/m/weights.bin")
    assert "1100000 bytes (limit 1000000)" in line
    assert_rejected(attempt({"model.toml": b"schema = [\n"}), "sidecar", "corrupt sidecar models/m/model.toml")
    assert_rejected(
        attempt({"model.toml": b'schema = 1\n[model]\nname = "m"\n'}), "sidecar", "needs string 'name' and 'version'"
    )
    # A registry whose LFS store is its own lfs/objects (what `gitreg init` sets up locally; set by
    # hand on the served repo) refuses pointers to objects that were never uploaded.
    git("--git-dir", str(remote.bare), "config", "gitreg.localLfs", "true")
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'ab' * 32}\nsize 10\n".encode()
    assert_rejected(attempt({"model.onnx": pointer}), "lfs-object-missing", "models/m/model.onnx", "abababababab")
    assert remote.refs() == before


# -- stage-tag --------------------------------------------------------------------------------------
def test_stage_tags_must_point_at_a_registered_version_of_their_model(remote: Remote, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "w")
    before = remote.refs()
    first = git("-C", str(work), "rev-list", "--max-parents=0", "HEAD")  # "Initialise gitreg registry"
    other = remote.commit_of("other@v1.0.0")
    cases = [
        # (tag, target, fragments the rejection must say)
        ("m#production#5", first, ["points at", first[:12], "no registered version of m"]),
        ("m#production#5", other, ["holds no registered version of m"]),  # another model's version
        ("m#production!#5", first, ["no registered version of m"]),  # unassignment
        ("m#production", first, ["no registered version of m"]),  # GTO's counter-less legacy form
        ("ghost#production#1", remote.commit_of("m@v1.0.0"), ["no registered version of ghost"]),
    ]
    for tag, target, fragments in cases:
        annotated(work, tag, target)
        assert_rejected(push(work, f"refs/tags/{tag}"), "stage-tag", tag, *fragments)
        git("-C", str(work), "tag", "-d", tag)
    # A lightweight stage tag: gitreg and GTO would ignore it, so the hook says so instead.
    git("-C", str(work), "tag", "m#production#5", "m@v1.0.0^{commit}")
    assert_rejected(push(work, "refs/tags/m#production#5"), "stage-tag", "lightweight")
    git("-C", str(work), "tag", "-d", "m#production#5")
    # One bad tag in an atomic push takes nothing with it.
    annotated(work, "m#staging#5", "m@v1.0.0^{commit}")
    annotated(work, "m#production#6", first)
    p = push(work, "--atomic", "refs/tags/m#staging#5", "refs/tags/m#production#6")
    assert_rejected(p, "stage-tag", "m#production#6")
    assert remote.refs() == before
    assert git("-C", str(work), "ls-remote", "--tags", "origin", "m#*") == ""


def test_assignment_after_deregistration_is_refused(remote: Remote, tmp_path: Path) -> None:
    remote.registry.deprecate("m@v1.0.0")  # m@v1.0.0! is on the registry now
    work = clone(remote, tmp_path / "w")
    before = remote.refs()
    annotated(work, "m#production#9", "m@v1.0.0^{commit}")
    line = assert_rejected(push(work, "refs/tags/m#production#9"), "stage-tag", "m@v1.0.0")
    assert "deregistered" in line
    assert remote.refs() == before
    # Unassigning a deregistered version only cleans up: allowed.
    annotated(work, "m#production!#9", "m@v1.0.0^{commit}")
    assert push(work, "refs/tags/m#production!#9").returncode == 0


def test_gto_style_stage_tags_pass(remote: Remote, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "w")
    # What `gto assign` writes: an annotated name#stage#N on the version's commit.
    annotated(work, "m#production#1", "m@v1.1.0^{commit}", "Assigning stage production to artifact m version v1.1.0")
    p = push(work, "refs/tags/m#production#1")
    assert p.returncode == 0, p.stderr
    assert remote.registry.show("m#production").version == "1.1.0"
    # A version and its stage in one push (`gto register` + `gto assign`, then `git push --tags`),
    # with a deregistration of another version pushed after that version's assignment.
    (work / "notes.txt").write_text("v2\n")
    git("-C", str(work), "add", "notes.txt")
    git("-C", str(work), "commit", "-qm", "notes")
    annotated(work, "m@v2.0.0", "HEAD", "Registering artifact m version v2.0.0")
    annotated(work, "m#staging#2", "HEAD")
    annotated(work, "m#staging#3", "m@v1.0.0^{commit}")
    annotated(work, "m@v1.0.0!", "m@v1.0.0^{commit}", "Deregistering artifact m version v1.0.0")
    p = push(work, "--atomic", "HEAD:main", "--tags")
    assert p.returncode == 0, p.stderr
    assert remote.commit_of("m#staging#2") == remote.commit_of("m@v2.0.0")
    assert remote.registry.show("m#staging").version == "2.0.0"
    # Unassigning with GTO's form passes too.
    annotated(work, "m#production!#4", "m@v1.1.0^{commit}")
    assert push(work, "refs/tags/m#production!#4").returncode == 0
    assert "production" not in {s.name: s for s in remote.registry.list()}["m"].stages


def test_gitreg_writes_pass_the_hook(remote: Remote, tmp_path: Path, onnx_file) -> None:
    reg = remote.registry
    ev, _ = api.promote("m@v1.0.0", "production", registry=reg)
    assert ev.tag == "m#production#1"
    api.promote("m@v1.1.0", "production", registry=reg)
    ev, _ = api.rollback("m", "production", registry=reg)
    assert (ev.version, reg.show("m#production").version) == ("1.0.0", "1.0.0")
    api.demote("m", "production", registry=reg)
    assert "production" not in {s.name: s for s in reg.list()}["m"].stages
    assert reg.deprecate("m@v1.0.0").tag == "m@v1.0.0!"
    api.promote("other@v1.0.0", "staging", registry=reg)
    assert reg.deprecate("other#staging").event == "unassignment"
    # A merged promotion pull request: stages.toml changed on main by plain git, then `apply`.
    work = clone(remote, tmp_path / "w")
    (work / "stages.toml").write_text('[m]\nstaging = "v1.1.0"\n')
    git("-C", str(work), "commit", "-qam", "Promote m v1.1.0 to staging")
    assert push(work, "HEAD:main").returncode == 0
    [applied] = api.apply(registry=reg)
    assert (applied.version, applied.stage) == ("1.1.0", "staging")
    assert api.apply(registry=reg) == []
    assert reg.push_files([onnx_file()], "m").ref == "m@v1.1.1"
    assert reg.deprecate("other").tag == "other@deprecated"
    tags = git("--git-dir", str(remote.bare), "tag", "-l").split()
    assert {"m#production#1", "m#production!#4", "m@v1.0.0!", "m@v1.1.1", "other@deprecated"} <= set(tags)
    report = reg.check()
    assert report.ok, report.problems
