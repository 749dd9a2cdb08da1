"""The pre-commit hooks of ``.pre-commit-hooks.yaml``, run on real checkouts of real registries.

Each hook runs exactly as pre-commit would run it: the ``entry`` split like a shell would, from the
checkout's root, followed by the tracked files its ``files`` pattern matches (unless
``pass_filenames`` is false). Only ``gitreg`` itself is spelled ``python -m gitreg``, so the
interpreter under test is the one that runs. No network: the hooks' environments are not built.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitreg import Registry
from tests.support.cli import run_cli
from tests.support.repo import REPO_ROOT, git

HOOKS = {h["id"]: h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}


def run_hook(hook_id: str, checkout: Path) -> subprocess.CompletedProcess:
    hook = HOOKS[hook_id]
    argv = shlex.split(hook["entry"])
    assert argv[0] == "gitreg"
    if hook.get("pass_filenames", True):
        tracked = git("-C", str(checkout), "ls-files").splitlines()
        argv += [f for f in tracked if re.search(hook.get("files", ""), f)]
    return subprocess.run(
        [sys.executable, "-m", "gitreg", *argv[1:]], cwd=checkout, capture_output=True, text=True, check=False
    )


@pytest.fixture
def checkout(registry: Registry, registry_path: Path, onnx_file, tmp_path: Path) -> Path:
    """A plain ``git clone`` of a registry holding m@v1.0.0, m@v1.1.0 (on main) and other@v1.0.0."""
    registry.push_files([onnx_file()], "m", version="1.0.0")
    registry.push_files([onnx_file()], "other", version="1.0.0")
    registry.push_files([onnx_file()], "m", version="1.1.0")
    dest = tmp_path / "checkout"
    git("clone", "-q", registry_path.as_uri(), str(dest))
    return dest


def test_manifest_declares_both_hooks() -> None:
    assert set(HOOKS) == {"gitreg-check", "gitreg-validate-sidecar"}
    for hook in HOOKS.values():
        assert hook["language"] == "python" and hook["name"] and hook["entry"].startswith("gitreg ")
    files = re.compile(HOOKS["gitreg-validate-sidecar"]["files"])
    assert files.search("models/digits/model.toml") and not files.search("models/digits/model.onnx")
    assert not files.search("model.toml") and not files.search("datasets/model.toml")
    assert HOOKS["gitreg-check"]["pass_filenames"] is False


def test_validate_sidecar_on_a_checkout(checkout: Path, registry: Registry, tmp_path: Path) -> None:
    p = run_hook("gitreg-validate-sidecar", checkout)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    # A smudged checkout holds the artifact itself instead of its pointer: hashed against the sidecar.
    registry.pull("m@v1.1.0", tmp_path / "pulled")
    onnx = checkout / "models" / "m" / "model.onnx"
    onnx.write_bytes((tmp_path / "pulled" / "model.onnx").read_bytes())
    assert run_hook("gitreg-validate-sidecar", checkout).returncode == 0
    data = bytearray(onnx.read_bytes())
    data[-1] ^= 1
    onnx.write_bytes(bytes(data))
    p = run_hook("gitreg-validate-sidecar", checkout)
    assert p.returncode == 3
    assert p.stdout.startswith("problem: models/m/model.toml: [artifacts.onnx] says sha256 ")
    assert "model.onnx hashes to" in p.stdout
    git("-C", str(checkout), "checkout", "--", "models/m/model.onnx")
    # Edits a person could make by hand, one line each.
    toml = checkout / "models" / "other" / "model.toml"
    good = toml.read_text()
    toml.write_text(good.replace('name = "other"', 'name = "m"'))
    p = run_hook("gitreg-validate-sidecar", checkout)
    assert p.returncode == 3
    assert p.stdout == "problem: models/other/model.toml: model name 'm' does not match its folder models/other/\n"
    toml.write_text(re.sub(r"size = \d+", "size = 7", good, count=1))
    p = run_hook("gitreg-validate-sidecar", checkout)
    assert p.returncode == 3 and "7 bytes; the LFS pointer model.onnx says" in p.stdout
    toml.write_text("schema = [\n")
    p = run_hook("gitreg-validate-sidecar", checkout)
    assert p.returncode == 3 and p.stdout.startswith("problem: corrupt sidecar models/other/model.toml:")
    assert len(p.stdout.splitlines()) == 1 and "Traceback" not in p.stderr
    p = run_cli("validate-sidecar", "models/nope/model.toml", cwd=checkout)
    assert p.returncode == 2 and p.stderr.startswith("error: no such file: models/nope/model.toml\n")


def test_check_on_a_checkout(checkout: Path, registry: Registry, registry_path: Path, onnx_file) -> None:
    p = run_hook("gitreg-check", checkout)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == "ok: 3 versions, 3 artifact objects checked\n"
    # The checkout never fetched these objects (no LFS smudge): they were looked up on origin.
    assert not (checkout / ".git" / "lfs" / "objects").exists()

    # New versions arrive with `git fetch` (origin/main and tags move, the local main does not).
    registry.push_files([onnx_file()], "m", version="2.0.0")
    git("-C", str(checkout), "fetch", "-q", "--tags", "origin")
    p = run_hook("gitreg-check", checkout)
    assert p.returncode == 0 and p.stdout.startswith("ok: 4 versions"), p.stdout

    # What a promotion pull request could get wrong in stages.toml is caught before the commit.
    registry.deprecate("m@v1.0.0")
    git("-C", str(checkout), "fetch", "-q", "--tags", "origin")
    stages = checkout / "stages.toml"
    stages.write_text('[m]\nproduction = "v1.0.0"\nstaging = "v9.9.9"\n[other]\nprod = "v1.0.0"\n')
    p = run_hook("gitreg-check", checkout)
    assert p.returncode == 3
    assert p.stdout.splitlines()[:3] == [
        "problem: stages.toml (work tree): m.production = 'v1.0.0': m@v1.0.0 is deregistered",
        "problem: stages.toml (work tree): m.staging = 'v9.9.9': m@v9.9.9 is not a registered version",
        "problem: stages.toml (work tree): other.prod = 'v1.0.0': unknown stage "
        "(gitreg.toml [stages] order: staging, production)",
    ]
    stages.write_text('[m]\nproduction = "v2.0.0"\n')
    assert run_hook("gitreg-check", checkout).returncode == 0

    # An object gone from the registry is reported against the checkout's origin.
    oid = registry.show("m@v1.1.0").sidecar.artifacts["onnx"].sha256
    (registry_path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).unlink()
    p = run_hook("gitreg-check", checkout)
    assert p.returncode == 3
    gone = f"problem: m@v1.1.0:model.onnx: LFS object {oid[:12]}… is missing from this checkout and from its origin"
    assert gone in p.stdout
    # An object the checkout has (git lfs pull would put it there) is verified locally instead.
    local = checkout / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    local.parent.mkdir(parents=True)
    local.write_bytes(b"not the model")
    p = run_hook("gitreg-check", checkout)
    assert p.returncode == 3 and f"LFS object {oid[:12]}… is corrupt" in p.stdout


def test_checkout_is_read_only_for_gitreg(checkout: Path, registry_path: Path, onnx_file) -> None:
    before = git("-C", str(checkout), "for-each-ref")
    for args in (["push", str(onnx_file()), "--name", "m"], ["deprecate", "m@v1.0.0"], ["init"]):
        p = run_cli(*args, "--registry", ".", cwd=checkout)
        assert p.returncode == 1, (args, p.stderr)
        assert p.stderr.splitlines() == [
            f"error: {checkout} is a checkout of a registry; gitreg reads it but writes only to a registry",
            f"hint: use --registry {registry_path.as_uri()}",
        ]
    assert git("-C", str(checkout), "for-each-ref") == before
    assert not (checkout / ".git" / "hooks" / "pre-receive").exists()
    shown = run_cli("show", "m", "--registry", ".", "--json", cwd=checkout)
    assert shown.returncode == 0 and '"version": "1.1.0"' in shown.stdout


@pytest.mark.http
def test_check_on_a_checkout_of_an_http_registry(tmp_path: Path, onnx_file) -> None:
    from tests.support.servers import http_registry

    with http_registry(tmp_path / "srv") as server:
        _, url = server.create_repo("org/registry.git")
        reg = Registry(url)
        reg.init()
        reg.push_files([onnx_file()], "m")
        dest = tmp_path / "checkout"
        git("clone", "-q", url, str(dest))
        p = run_hook("gitreg-check", dest)
        assert (p.returncode, p.stdout) == (0, "ok: 1 versions, 1 artifact objects checked\n"), p.stderr
        oid = reg.show("m").sidecar.artifacts["onnx"].sha256
        [stored] = list(server.lfs_root.rglob(oid))
        os.unlink(stored)
        p = run_hook("gitreg-check", dest)
        assert p.returncode == 3
        assert f"LFS object {oid[:12]}… is missing from this checkout and from its origin {url}" in p.stdout
