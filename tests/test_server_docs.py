"""docs/server.md as a test: the team server it describes runs on 127.0.0.1, and refuses strangers.

Every ``sh`` block of docs/server.md runs in order, each in its own ``bash`` with ``SRV``,
``BACKUP``, ``ALICE_PASSWORD`` (and, once the server is up, ``REGISTRY``) set the way the page's
variables block says; a block that cannot run here has ``<!-- not run: REASON -->`` right above
it. The server-side blocks lay out ``$SRV`` (repository, hook, key, htpasswd, ``giftless.yaml``,
the proxy's JWT). The ``waitress-serve`` block runs as written (on a free port): giftless with
that config refuses an anonymous upload by itself. Then ``tests/support/servers.py`` stands in
for the page's nginx block (same ``htpasswd``, same ``Authorization`` for giftless, giftless
with the same ``giftless.yaml``) and the client and backup blocks run against it.

The credential test puts alice's password in the registry URL (``http://alice:SECRET@…``) and
checks that gitreg never shows or stores it: not in stdout or stderr of any command, success or
failure, not in the registry's tags, commits and sidecars, not in the cache clone.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import one_error_line, run_cli
from tests.support.onnxfiles import make_onnx
from tests.support.readme import split_comment
from tests.support.repo import REPO_ROOT, git
from tests.support.servers import HttpServer, ProxyAuth, http_registry

DOC = REPO_ROOT / "docs" / "server.md"
REPO = "ml/registry.git"  # the page's repository, under $SRV/git
VARIABLES = {"SRV", "REGISTRY", "ALICE_PASSWORD", "BACKUP"}
_MARKER = re.compile(r"^<!--\s*not run:\s*(?P<reason>.*?)\s*-->$")
_FENCE = re.compile(r"^(?P<fence>```+)\s*(?P<lang>[\w+-]*)\s*$")
_SERVICE = "waitress-serve"


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # docs/server.md line of the block's first line
    not_run: str | None  # the marker's reason, when one sits right above the fence

    @property
    def where(self) -> str:
        return f"docs/server.md:{self.line}"


def doc_blocks() -> list[Block]:
    lines = DOC.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        above = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        marker = _MARKER.match(above)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == m["fence"])
        found.append(
            Block(m["lang"], "\n".join(lines[i + 1 : end]) + "\n", i + 2, marker["reason"] if marker else None)
        )
        i = end + 1
    return found


def runnable() -> list[Block]:
    return [b for b in doc_blocks() if b.not_run is None]


def script(block: Block) -> str:
    """``block`` under ``set -euo pipefail``, with docs/server.md's line numbers in errors."""
    head = "set -euo pipefail; trap 'echo \"docs/server.md:$LINENO: exit $?\" >&2' ERR"
    return head + "\n" * (block.line - 1) + block.text


# -- what the page shows, checked without running it ---------------------------------------------------
def test_every_block_runs_or_says_why_not() -> None:
    found = doc_blocks()
    assert sum(b.not_run is None for b in found) >= 6, "the page's commands are what this test runs"
    markers = [ln for ln in DOC.read_text().splitlines() if ln.strip().startswith("<!--") and "not run" in ln]
    assert len(markers) == sum(b.not_run is not None for b in found), "a marker sits right above its fence"
    for b in found:
        if b.not_run is None:
            assert b.lang == "sh", f"{b.where}: a ```{b.lang} block runs only as sh; mark it <!-- not run: why -->"
        else:
            assert len(b.not_run) > 10, f"{b.where}: say why the block cannot run here"
    assert [b for b in runnable() if _SERVICE in b.text], "the page shows how giftless is started"


def test_variables_block_names_exactly_what_the_test_sets() -> None:
    [block] = [b for b in doc_blocks() if b.text.startswith("export SRV=")]
    exported = {split_comment(ln)[0].split("=", 1)[0].removeprefix("export ") for ln in block.text.splitlines()}
    assert exported == VARIABLES
    text = "".join(b.text for b in runnable())
    used = set(re.findall(r"\$\{?([A-Z_]+)", text))
    assigned = set(re.findall(r"^([A-Z_]+)=", text, re.MULTILINE))
    assert used <= VARIABLES | assigned, f"set by no one: {used - VARIABLES - assigned}"


# -- the server ------------------------------------------------------------------------------------------
@dataclass
class Team:
    srv: Path
    env: dict[str, str]  # what the page's blocks run with
    server: HttpServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.base_url}/{REPO}"

    @property
    def bare(self) -> Path:
        return self.srv / "git" / REPO

    def run(self, block: Block, cwd: Path) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            ["bash", "-c", script(block)], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, f"{block.where} failed (exit {p.returncode})\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        assert "Traceback" not in p.stderr, p.stderr
        return p

    def proxy_authorization(self) -> str:
        """What the page's nginx sends giftless: the value its ``nginx-lfs-auth.conf`` sets."""
        conf = (self.srv / "nginx-lfs-auth.conf").read_text()
        m = re.fullmatch(r'proxy_set_header Authorization "(Bearer [\w.-]+)";\n', conf)
        assert m, conf
        return m[1]


def setup_blocks() -> tuple[list[Block], Block, list[Block]]:
    """The runnable blocks before the service block, that block, and those after it."""
    blocks = runnable()
    i = next(n for n, b in enumerate(blocks) if _SERVICE in b.text)
    return blocks[:i], blocks[i], blocks[i + 1 :]


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """The page's server-side blocks run into ``$SRV``; the server is started by the test."""
    srv, backup = tmp_path / "srv", tmp_path / "backup"
    env = {**os.environ, "SRV": str(srv), "BACKUP": str(backup), "ALICE_PASSWORD": secrets.token_urlsafe(18)}
    team = Team(srv, env)
    before, _, _ = setup_blocks()
    for block in before:
        team.run(block, tmp_path)
    yield team


@contextlib.contextmanager
def started(team: Team) -> Iterator[Team]:
    """The page's nginx + http-backend + giftless, as ``tests/support/servers.py`` runs them."""
    auth = ProxyAuth(team.srv / "htpasswd", team.proxy_authorization(), team.srv / "giftless.yaml")
    with http_registry(team.srv, auth=auth) as server:
        team.server = server
        team.env["REGISTRY"] = team.url
        yield team


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def batch_upload(url: str, oid: str, size: int, authorization: str | None = None) -> tuple[int, dict]:
    """POST an LFS batch ``upload`` for one object: (HTTP status, JSON answer or {})."""
    body = json.dumps({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]})
    headers = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
    if authorization:
        headers["Authorization"] = authorization
    req = urllib.request.Request(f"{url}/info/lfs/objects/batch", body.encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, {}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def other_machine(tmp_path: Path, name: str) -> dict[str, str]:
    """A machine without alice's credentials: its own HOME, git config and cache."""
    home = tmp_path / name
    home.mkdir()
    (home / ".gitconfig").write_text("")
    return {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"), "XDG_CACHE_HOME": str(home / "cache")}


def lfs_files(team: Team) -> list[Path]:
    return sorted(p for p in (team.srv / "lfs").rglob("*") if p.is_file())


# -- the walkthrough ---------------------------------------------------------------------------------------
@pytest.mark.http
def test_server_walkthrough_runs_and_refuses_strangers(team: Team, tmp_path: Path) -> None:
    _, service, after = setup_blocks()
    bare = team.bare
    assert git("--git-dir", str(bare), "cat-file", "-e", "main:gitreg.toml") == ""
    assert git("--git-dir", str(bare), "config", "gitreg.localLfs") == "false"
    assert (team.srv / "htpasswd").read_text().startswith("alice:$5$")

    # The service block as written, on a free port: giftless alone, with the page's config.
    port = free_port()
    command = service.text.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
    assert command != service.text
    proc = subprocess.Popen(
        ["bash", "-c", command], env=team.env, cwd=tmp_path, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "giftless.log").open("wb"),
    )  # fmt: skip
    try:
        giftless = f"http://127.0.0.1:{port}/{REPO}"
        deadline = time.monotonic() + 30
        while _refused(f"http://127.0.0.1:{port}/"):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "giftless.log").read_text()
            time.sleep(0.1)
        assert batch_upload(giftless, "0" * 64, 1)[0] == 401  # anonymous: no write, not even from the loopback
        assert batch_upload(giftless, "0" * 64, 1, basic("alice", team.env["ALICE_PASSWORD"]))[0] == 401
        status, answer = batch_upload(giftless, "0" * 64, 1, team.proxy_authorization())
        assert status == 200 and "upload" in answer["objects"][0]["actions"], answer
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)

    work = tmp_path / "work"
    model = make_onnx(work / "model.onnx", seed=7)
    oid = hashlib.sha256(model.read_bytes()).hexdigest()
    with started(team):
        # Strangers first: anonymous LFS, anonymous git push, gitreg without credentials, a wrong password.
        assert batch_upload(team.url, oid, model.stat().st_size)[0] == 401
        stranger = other_machine(tmp_path, "stranger")
        anon = subprocess.run(
            ["git", "push", team.url, "main:refs/heads/anon"], cwd=work, env={**os.environ, **stranger},
            capture_output=True, text=True,
        )  # fmt: skip
        assert anon.returncode != 0
        for args in (("list",), ("push", str(model), "--name", "intruder")):
            p = run_cli(*args, "--registry", team.url, env=stranger)
            assert p.returncode == 1, (p.stdout, p.stderr)
            one_error_line(p.stderr)
        wrong = other_machine(tmp_path, "wrong")
        approve = f"url={team.url}\nusername=alice\npassword=not-her-password\n\n"
        env_wrong = {**os.environ, **wrong}
        subprocess.run(["git", "config", "--global", "credential.helper", "store"], env=env_wrong, check=True)
        subprocess.run(["git", "credential", "approve"], input=approve, text=True, env=env_wrong, check=True)
        p = run_cli("push", str(model), "--name", "intruder", "--registry", team.url, env=wrong)
        assert p.returncode == 1, (p.stdout, p.stderr)
        one_error_line(p.stderr)
        assert git("--git-dir", str(bare), "for-each-ref", "refs/tags", "refs/heads/anon") == ""
        assert lfs_files(team) == []

        # Then the page's own client and backup blocks, as alice.
        for block in after:
            team.run(block, work)

        assert git("--git-dir", str(bare), "tag", "--list") == "digits@v1.0.0"
        # The hook runs behind http-backend: even alice cannot delete a version.
        pusher = tmp_path / "pusher"
        git("init", "-q", str(pusher))
        p = subprocess.run(
            ["git", "push", team.url, ":refs/tags/digits@v1.0.0"],
            cwd=pusher,
            env=team.env,
            capture_output=True,
            text=True,
        )
        assert p.returncode != 0 and "REJECT immutable-tag" in p.stderr, p.stderr
        assert git("--git-dir", str(bare), "tag", "--list") == "digits@v1.0.0"
        assert (team.srv / "lfs" / "ml" / "registry" / oid).read_bytes() == model.read_bytes()
        assert (work / "served" / "model.onnx").read_bytes() == model.read_bytes()
        assert "alice" in (Path(team.env["HOME"]) / ".git-credentials").read_text()
        for config in (Path(team.env["XDG_CACHE_HOME"]) / "gitreg").glob("*.git/config"):
            assert team.env["ALICE_PASSWORD"] not in config.read_text()
        # The restore drill holds every ref and object of the registry, and its hook.
        drill = Path(team.env["BACKUP"]) / "drill"
        refs = "--format=%(refname) %(objectname)"
        restored = drill / "git" / REPO
        assert git("--git-dir", str(restored), "for-each-ref", refs) == git(
            "--git-dir", str(bare), "for-each-ref", refs
        )
        assert (restored / "hooks" / "pre-receive").read_text() == (bare / "hooks" / "pre-receive").read_text()
        assert (drill / "lfs" / "ml" / "registry" / oid).read_bytes() == model.read_bytes()


def _refused(url: str) -> bool:
    """Whether nothing listens at ``url`` yet."""
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return False
    except OSError:
        return True
    return False


# -- credentials never leak --------------------------------------------------------------------------------
@pytest.mark.http
def test_a_password_in_the_registry_url_is_never_shown_or_stored(team: Team, tmp_path: Path) -> None:
    """The URL's user:password reaches git and git-lfs through a credential helper defined in their
    environment only: not in any output or error, sidecar (``[lineage] command`` included), tag,
    the registry's history, or any file of the cache clone (its ``config`` included)."""
    secret = team.env["ALICE_PASSWORD"]
    wrong = "Wrong" + secrets.token_urlsafe(12)
    code_token = "Code" + secrets.token_urlsafe(12)
    work = tmp_path / "work"
    model = make_onnx(work / "model.onnx", seed=8)
    # The training code's checkout has a token in its remote too: lineage records that URL.
    git("init", "-q", str(work))
    git("-C", str(work), "remote", "add", "origin", f"https://bob:{code_token}@git.example.com/ml/train.git")
    outputs: list[str] = []

    def gitreg(*args: str, code: int = 0) -> None:
        p = run_cli(*args, cwd=work)
        outputs.append(p.stdout + p.stderr)
        assert p.returncode == code, (args[0], p.stdout, p.stderr)
        if code:
            one_error_line(p.stderr)

    with started(team):
        assert team.server is not None
        host = team.server.base_url.removeprefix("http://")
        url = f"http://alice:{secret}@{host}/{REPO}"
        bad = f"http://alice:{wrong}@{host}/{REPO}"
        gitreg("push", str(model), "--name", "leaky", "--metric", "acc=0.5", "--registry", url)
        gitreg("list", "--registry", url)
        gitreg("history", "leaky", "--registry", url)
        gitreg("pull", "leaky", "-o", str(tmp_path / "pulled"), "--registry", url)
        assert (tmp_path / "pulled" / "model.onnx").read_bytes() == model.read_bytes()
        gitreg("show", "leaky", "--registry", url)
        gitreg("check", "--deep", "--registry", url)
        gitreg("info", "--registry", url)
        gitreg("list", "--registry", f"http://alice:{secret}@{host}/ml/nope.git", code=1)
        gitreg("push", str(model), "--name", "leaky", "--version", "1.0.0", "--registry", url, code=1)
        gitreg("list", "--registry", bad, code=1)
        gitreg("pull", "leaky", "-o", str(tmp_path / "p2"), "--registry", bad, code=1)
        gitreg("push", str(model), "--name", "leaky", "--bump", "patch", "--registry", bad, code=1)

    shown = "\n".join(outputs)
    assert "leaky@v1.0.0" in shown and "refused the credentials" in shown  # the commands said something
    tags = git("--git-dir", str(team.bare), "for-each-ref", "--format=%(refname) %(contents)", "refs/tags")
    assert tags.startswith("refs/tags/leaky@v1.0.0 ") and tags.count("refs/tags/") == 1
    lineage = git("--git-dir", str(team.bare), "show", "leaky@v1.0.0:models/leaky/model.toml").split("[lineage.code]")[
        1
    ]
    assert 'repo = "https://git.example.com/ml/train.git"' in lineage  # the code's remote, without its token
    cache = Path(team.env["XDG_CACHE_HOME"]) / "gitreg"
    kept = [p for p in cache.rglob("*") if p.is_file()]
    history = git("--git-dir", str(team.bare), "log", "--all", "-p")
    assert any(p.name == "packed-refs" for p in kept) and any("lfs" in p.parts for p in kept), kept
    for token in (secret, wrong, code_token):
        assert token not in shown, _around(shown, token)
        assert token not in tags and token not in lineage and token not in history
        for path in kept:
            assert token.encode() not in path.read_bytes(), path


def _around(text: str, token: str) -> str:
    i = text.find(token)
    return text[max(0, i - 300) : i + 100]
