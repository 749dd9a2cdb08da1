"""The README as a test, like sqlite-utils' documentation tests: its walkthrough runs top to bottom.

Every ``sh`` and ``python`` block of README.md runs in README order on a fresh default registry
(``$XDG_DATA_HOME/gitreg/registry.git``, no ``--registry``), in a working directory holding only what a
reader brings (``tests/support/readme.py``: a trained model, ``train.py``, exported files, data files,
an ssh key). Every command must exit 0, unless its comment starts with ``exit N`` (then exactly N);
a comment ``-> NAME@vX.Y.Z`` names a version the block registers, which must then exist; every
``toml`` block is a ``gitreg.toml`` that gitreg accepts and the registry holds at that point. A block
that cannot run here says why in a marker right above it, and only a few may.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gitreg.core.settings import GITREG_TOML, RegistryConfig
from gitreg.core.sidecar import tomllib
from tests.support.readme import (
    Block,
    blocks,
    expected_exit,
    markers,
    python_script,
    shell_script,
    split_comment,
    write_fixtures,
)
from tests.support.repo import TOOLS_DIR, git

LANGUAGES = {"sh", "python", "toml", ""}  # "": a plain listing (the registry layout), shown, never run
# The only things the README may show without running them, by the program its commands start with.
NOT_RUN = {
    "make": "the project's own setup (apt-get, a .venv)",
    "gh": "GitHub.com's API, on a real repository",
}
_VERSION = re.compile(r"->\s*(?P<tag>[a-z0-9][a-z0-9_-]*@v\d+\.\d+\.\d+)")
_PLACEHOLDER = re.compile(r"\[-|\.\.\.|…|<[a-z]+>|\bORG/")


def _commands(block: Block) -> list[str]:
    """The commands of an ``sh`` block without comments, continuation lines and heredoc bodies."""
    out, heredoc = [], None
    for line in block.text.splitlines():
        if heredoc:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        command, _ = split_comment(line)
        if command:
            out.append(command)
        m = re.search(r"<<-?\s*'?\"?(\w+)", command)
        heredoc = m[1] if m else None
    return out


# -- what the README shows, checked without running it ----------------------------------------------
def test_every_block_is_shell_python_toml_or_a_plain_listing() -> None:
    found = blocks()
    assert sum(b.lang == "sh" for b in found) >= 10 and sum(b.lang == "python" for b in found) >= 3
    for b in found:
        assert b.lang in LANGUAGES, f"{b.where}: a ```{b.lang} block; this test runs sh and python, checks toml"


def test_blocks_not_run_say_why_and_stay_few() -> None:
    skipped = [b for b in blocks() if b.not_run is not None]
    assert len(skipped) <= len(NOT_RUN), [b.where for b in skipped]
    assert len(markers()) == len(skipped), "a marker must sit right above the fence of the block it skips"
    for b in skipped:
        assert len(b.not_run or "") > 10, f"{b.where}: say why the block cannot run here"
        for command in _commands(b):
            program = command.split()[0]
            assert program in NOT_RUN, f"{b.where}: `{command}` can run here; only {sorted(NOT_RUN)} may be skipped"


def test_runnable_commands_are_literal() -> None:
    """No `[--opt]`, `...` or `<name>` in what runs: alternatives go in the comment."""
    for b in blocks():
        if b.lang == "sh" and b.not_run is None:
            for command in _commands(b):
                assert not _PLACEHOLDER.search(command), f"{b.where}: `{command}` is not a command a reader can paste"


def test_toml_blocks_are_gitreg_toml_that_agrees_with_init() -> None:
    """Each ``toml`` block parses as a gitreg.toml and contradicts nothing ``gitreg init`` writes."""
    init = tomllib.loads(GITREG_TOML)
    toml_blocks = [b for b in blocks() if b.lang == "toml"]
    assert toml_blocks
    for b in toml_blocks:
        RegistryConfig.parse(b.text)
        shown = tomllib.loads(b.text)
        merged = _merge(init, shown)
        RegistryConfig.parse(_dump(merged))
        _assert_agrees(shown, init, b.where, only_common=True)


def test_harness_reads_comments_and_promised_exit_codes() -> None:
    assert split_comment('gitreg push --name digits -d "a # b"   # -> digits@v1.0.0') == (
        'gitreg push --name digits -d "a # b"',
        "-> digits@v1.0.0",
    )
    assert split_comment("echo a#b") == ("echo a#b", None)
    assert expected_exit("gitreg gate x --stage production   # exit 3: fails") == 3
    assert expected_exit("gitreg parity x   # TorchScript vs ONNX; exit 3 on failure") == 0
    script = shell_script(Block("sh", "true\nfalse   # exit 1: it fails\n", 5))
    assert script.count("\n") == 5 + 1  # README.md's line numbers
    assert subprocess.run(["bash", "-c", script], capture_output=True).returncode == 0
    wrong = shell_script(Block("sh", "true   # exit 3: it does not\n", 5))
    p = subprocess.run(["bash", "-c", wrong], capture_output=True, text=True)
    assert p.returncode == 1 and "README.md:5: exit 0, the README says 3" in p.stderr


# -- the walkthrough ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_readme_walkthrough_runs_top_to_bottom(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    work = Path.cwd()
    home = Path(isolated_env["HOME"])
    registry = Path(isolated_env["XDG_DATA_HOME"]) / "gitreg" / "registry.git"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_", "GITREG_"))}
    env.update(EDITOR="true", VISUAL="true", PAGER="cat", GIT_PAGER="cat")  # nothing waits for a person
    found = shutil.which("gitreg", path=env["PATH"])
    assert found and Path(found).parent == TOOLS_DIR, found  # the README's `gitreg` is this checkout's

    started = time.monotonic()
    write_fixtures(work, home)
    timings = [("fixtures", time.monotonic() - started)]
    for block in blocks():
        if block.not_run is not None or block.lang not in ("sh", "python", "toml"):
            continue
        began = time.monotonic()
        if block.lang == "toml":
            _check_toml(block, registry)
            continue
        if block.lang == "sh":
            argv = ["bash", "-c", shell_script(block)]
        else:
            argv = [sys.executable, "-c", python_script(block)]
        p = subprocess.run(
            argv, cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
        )
        assert p.returncode == 0, (
            f"the {block.lang} block at {block.where} failed (exit {p.returncode})\n"
            f"--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-3000:]}"
        )
        assert "Traceback" not in p.stderr, f"{block.where}\n{p.stderr[-3000:]}"
        for tag in _VERSION.findall(block.text):
            assert git("--git-dir", str(registry), "tag", "--list", tag) == tag, f"{block.where}: no {tag}"
        timings.append((block.where, time.monotonic() - began))
    assert git("--git-dir", str(registry), "tag", "--list", "digits@deprecated")  # it ran to the end
    print("\n".join(f"{where:16} {seconds:5.1f} s" for where, seconds in timings))


def _check_toml(block: Block, registry: Path) -> None:
    """A ``gitreg.toml`` block: valid, and what the registry's ``gitreg.toml`` on main says right now."""
    RegistryConfig.parse(block.text)
    holds = tomllib.loads(git("--git-dir", str(registry), "show", "main:gitreg.toml"))
    _assert_agrees(tomllib.loads(block.text), holds, block.where, only_common=False)


def _assert_agrees(shown: Mapping[str, Any], holds: Mapping[str, Any], where: str, only_common: bool) -> None:
    """Every value ``shown`` is what ``holds`` has (``only_common``: where ``holds`` has the key at all)."""
    for key, value in shown.items():
        if key not in holds:
            assert only_common, f"{where}: the registry's gitreg.toml has no {key!r}"
            continue
        if isinstance(value, Mapping) and isinstance(holds[key], Mapping):
            _assert_agrees(value, holds[key], f"{where} [{key}]", only_common)
        else:
            assert value == holds[key], f"{where}: {key} = {value!r}, but gitreg.toml has {holds[key]!r}"


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        both = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _merge(out[key], value) if both else value
    return out


def _dump(data: Mapping[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(data)
