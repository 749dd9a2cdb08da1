"""The team topology for the reliability tests: a served registry as ``docs/server.md`` sets it up,
"machines" that run ``python -m gitreg`` with a HOME and cache of their own, and the checks every
reliability test ends with (:func:`assert_consistent`).

A served registry is made the way the document makes it: ``gitreg init`` on the server's disk
(which installs the ``pre-receive`` hook), ``gitreg.localLfs false`` (objects live in giftless),
and, on loopback only, ``http.receivepack`` instead of an authenticating front.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitreg import Registry
from gitreg.core.sidecar import tomllib  # tomli on 3.10
from tests.support.repo import git
from tests.support.servers import HttpServer

REPO = "org/registry.git"
# The one warning `check` gives on an HTTP registry with artifacts: it checks presence, not bytes.
PRESENCE_ONLY = "checked for presence only"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Machine:
    """One person's or CI job's machine: its own HOME, XDG dirs (so its own cache clone) and identity."""

    name: str
    root: Path
    env: dict[str, str]

    @property
    def cache(self) -> Path:
        return Path(self.env["XDG_CACHE_HOME"])

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gitreg", *args]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``gitreg ARGS`` on this machine, to the end."""
        return subprocess.run(
            self.argv(*args), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """``gitreg ARGS`` in a session of its own (so ``os.killpg(p.pid, ...)`` reaches its git and git-lfs)."""
        return subprocess.Popen(
            self.argv(*args), cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip

    def cache_repos(self) -> list[Path]:
        return sorted((self.cache / "gitreg").glob("*.git"))


def machine(tmp_path: Path, name: str) -> Machine:
    """A fresh machine under ``tmp_path/machines/name`` (starting from the test's isolated environment)."""
    root = tmp_path / "machines" / name
    home = root / "home"
    home.mkdir(parents=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITREG_")}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=f"{name}@example.com",
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=f"{name}@example.com",
    )
    return Machine(name, root, env)


def serve_registry(server: HttpServer, rel: str = REPO) -> tuple[Path, str]:
    """A registry served as ``docs/server.md`` makes one; returns (bare path on the server, URL)."""
    bare = server.git_root / rel
    bare.parent.mkdir(parents=True, exist_ok=True)
    assert Registry(bare).init() is True
    assert os.access(bare / "hooks" / "pre-receive", os.X_OK)
    for key, value in (
        ("gitreg.localLfs", "false"),
        ("http.receivepack", "true"),
        ("uploadpack.allowFilter", "true"),
        ("uploadpack.allowAnySHA1InWant", "true"),
    ):
        git("--git-dir", str(bare), "config", key, value)
    return bare, f"{server.base_url}/{rel}"


def lfs_object(server: HttpServer, oid: str, rel: str = REPO) -> Path:
    """Where giftless's LocalStorage keeps ``oid`` of the served repo ``rel``."""
    return server.lfs_root / rel.removesuffix(".git") / oid


def artifact_sha256(bare: Path, tag: str, kind: str = "onnx") -> str:
    """The sha256 the sidecar at ``tag`` records for its ``kind`` artifact (read with plain git)."""
    name = tag.split("@")[0]
    sidecar = tomllib.loads(git("--git-dir", str(bare), "cat-file", "blob", f"{tag}:models/{name}/model.toml"))
    return str(sidecar["artifacts"][kind]["sha256"])


# -- processes --------------------------------------------------------------------------------------------
def group_processes(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in process group ``pgid``, from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
            fields = stat[stat.rindex(b")") + 2 :].split()
            if fields[0] == b"Z" or int(fields[2]) != pgid:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        found.append((int(entry.name), cmdline))
    return found


def wait_group_gone(pgid: int, timeout: float = 60) -> None:
    """Wait until no process of group ``pgid`` is left (a killed push's git and git-lfs included)."""
    deadline = time.monotonic() + timeout
    while group_processes(pgid):
        assert time.monotonic() < deadline, f"process group {pgid} still running: {group_processes(pgid)}"
        time.sleep(0.02)


def wait_server_idle(server_pid: int, timeout: float = 60) -> None:
    """Wait until the server runs nothing but itself (no http-backend, receive-pack or hook left)."""
    deadline = time.monotonic() + timeout
    while [p for p, _ in group_processes(server_pid) if p != server_pid]:
        assert time.monotonic() < deadline, f"server still busy: {group_processes(server_pid)}"
        time.sleep(0.02)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- the checks every reliability test ends with ------------------------------------------------------------
@dataclass
class Facts:
    """What the served bare repository holds, read with plain git."""

    versions: dict[str, str] = field(default_factory=dict)  # tag -> commit
    stages: dict[str, str] = field(default_factory=dict)  # stage tag -> commit
    evaluations: dict[str, str] = field(default_factory=dict)  # refs/gitreg/evaluations/... -> commit
    main: list[str] = field(default_factory=list)  # main's commits, newest first


def read_facts(bare: Path) -> Facts:
    gd = ["--git-dir", str(bare)]
    facts = Facts()
    fmt = "%(refname)%00%(objecttype)%00%(*objectname)%00%(objectname)"
    for line in git(*gd, "for-each-ref", f"--format={fmt}", "refs/tags", "refs/gitreg").splitlines():
        ref, kind, peeled, oid = line.split("\0")
        if ref.startswith("refs/gitreg/evaluations/"):
            facts.evaluations[ref] = oid
            continue
        tag = ref.removeprefix("refs/tags/")
        assert kind == "tag", f"{tag} is not an annotated tag"
        (facts.versions if "@" in tag else facts.stages)[tag] = peeled
    facts.main = git(*gd, "rev-list", "main").split()
    return facts


def assert_consistent(
    bare: Path, server: HttpServer, url: str, checker: Machine, deep: bool = False, cli_check: bool = True
) -> Facts:
    """The registry is whole: ``git fsck`` clean; every version tag annotated and on a linear ``main``;
    every stage tag on a version of its model; every evaluation record descends from its version;
    every version's artifact object in giftless's storage with its sidecar's size (and sha256 when
    ``deep``); ``gitreg check`` from ``checker`` exits 0 with no problem and no warning but the
    presence-only one (``--deep``: none at all; ``cli_check=False``: not run). Returns what the
    repository holds."""
    gd = ["--git-dir", str(bare)]
    fsck = subprocess.run(
        ["git", *gd, "fsck", "--strict", "--no-dangling", "--no-progress"], capture_output=True, text=True
    )
    assert fsck.returncode == 0 and fsck.stdout.strip() == "", (fsck.stdout, fsck.stderr)
    facts = read_facts(bare)
    on_main = set(facts.main)
    assert git(*gd, "rev-list", "--merges", "main") == "", "main is not linear"
    by_commit: dict[str, str] = {}
    for tag, commit in facts.versions.items():
        assert commit in on_main, f"{tag} is not on main"
        by_commit[commit] = tag
        name = tag.split("@")[0]
        sidecar = tomllib.loads(git(*gd, "cat-file", "blob", f"{commit}:models/{name}/model.toml"))
        for art in sidecar["artifacts"].values():
            stored = lfs_object(server, art["sha256"])
            assert stored.is_file(), f"{tag}: artifact object {art['sha256']} missing from giftless"
            assert stored.stat().st_size == art["size"], f"{tag}: artifact object {art['sha256']} truncated"
            if deep:
                assert sha256_of(stored) == art["sha256"], f"{tag}: artifact object {art['sha256']} corrupt"
    for tag, commit in facts.stages.items():
        held = by_commit.get(commit, "")
        assert held.split("@")[0] == tag.split("#")[0], f"stage tag {tag} is on {commit}, not a version of its model"
    for ref, commit in facts.evaluations.items():
        name, version = ref.removeprefix("refs/gitreg/evaluations/").rsplit("/", 1)
        base = facts.versions.get(f"{name}@{version}")
        assert base is not None, f"{ref} records a version that does not exist"
        assert subprocess.run(["git", *gd, "merge-base", "--is-ancestor", base, commit]).returncode == 0, ref
    if not cli_check:
        return facts
    args = ["check", "--json", "--registry", url] + (["--deep"] if deep else [])
    p = checker.run(*args)
    assert p.returncode == 0, (p.stdout, p.stderr)
    report = json.loads(p.stdout)
    assert report["ok"] is True and report["problems"] == [], report
    assert report["versions"] == len(facts.versions), (report, sorted(facts.versions))
    assert all(PRESENCE_ONLY in w for w in report["warnings"]) and not (deep and report["warnings"]), report
    return facts
