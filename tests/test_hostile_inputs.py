"""Input a collaborator or a typo can produce: names with a trailing newline or no end, tags whose
tagger field holds a carriage return or a date no calendar holds, an empty ``--registry``.

Each is written with plain git where a hostile collaborator would use it, and each must end in a
clear answer, never a traceback or a silently missing version.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.refs import MAX_NAME, check_name, parse_reference
from gitreg.errors import InvalidName, InvalidReference
from tests.support.cli import invoke, one_error_line
from tests.support.repo import git


@pytest.mark.parametrize("name", ["x\n", "digits\n", "a\r", "m\n\n"])
def test_a_name_with_a_trailing_newline_is_refused(name: str, registry: Registry, onnx_file) -> None:
    with pytest.raises(InvalidName):
        check_name(name)
    with pytest.raises(InvalidName):
        registry.push_files([onnx_file()], name)
    assert registry.list() == []


def test_a_reference_with_a_newline_inside_is_refused() -> None:
    with pytest.raises(InvalidReference):
        parse_reference("digits\n@v1.0.0")


def test_a_name_too_long_for_a_tag_is_refused_at_once(registry: Registry, registry_path: Path, onnx_file) -> None:
    long = "m" * (MAX_NAME + 1)
    r = invoke("push", str(onnx_file()), "--name", long, "--registry", str(registry_path))
    assert r.exit_code == 1 and f"at most {MAX_NAME}" in one_error_line(r.stderr)
    assert git("--git-dir", str(registry_path), "tag", "-l") == ""
    check_name("m" * MAX_NAME)  # the limit itself is fine


def _forged_tag(registry_path: Path, tag: str, target: str, tagger: str) -> None:
    """An annotated tag written with plumbing, as a collaborator's tool could (git tag would refuse it)."""
    body = f"object {target}\ntype commit\ntag {tag}\ntagger {tagger}\n\nRegistering artifact m version v1.1.0\n"
    oid = subprocess.run(
        ["git", "--git-dir", str(registry_path), "mktag"], input=body, capture_output=True, text=True, check=True
    ).stdout.strip()
    git("--git-dir", str(registry_path), "update-ref", f"refs/tags/{tag}", oid)


def test_a_far_future_tagger_date_does_not_break_reading(registry: Registry, registry_path: Path, onnx_file) -> None:
    mv = registry.push_files([onnx_file()], "m", version="1.0.0")
    # year ~3,000,000: datetime cannot hold it; `list` used to fail for the whole registry
    _forged_tag(registry_path, "m@v1.1.0", mv.commit, "Mallory <m@example.com> 94608000000000 +0000")
    summary = {s.name: s for s in registry.list()}["m"]
    # The forged date is no "last update" (check reports it); the newest believable one is.
    assert summary.latest == "v1.1.0" and summary.updated == mv.created
    assert [e.tag for e in registry.history("m")][-1] == "m@v1.1.0"
    for args in (["list"], ["list", "m"], ["history", "m"], ["show", "m@v1.1.0"]):
        r = invoke(*args, "--registry", str(registry_path))
        assert r.exit_code == 0 and "internal error" not in r.stderr, (args, r.stderr)


def test_a_carriage_return_in_a_tagger_name_hides_no_version(
    registry: Registry, registry_path: Path, onnx_file
) -> None:
    first = registry.push_files([onnx_file()], "m", version="1.0.0")
    _forged_tag(registry_path, "m@v1.1.0", first.commit, "Eve\rEvil <e@example.com> 1700000000 +0000")
    assert [v.version for v in registry.versions("m")] == ["1.0.0", "1.1.0"]
    assert {e.tag for e in registry.history("m")} == {"m@v1.0.0", "m@v1.1.0"}
    assert registry.show("m@v1.1.0").author.startswith("Eve")


def test_an_empty_registry_option_is_an_error_not_the_default(registry_path: Path) -> None:
    r = invoke("list", "--registry", "")
    assert r.exit_code == 1 and "empty registry location" in one_error_line(r.stderr)


def test_terminal_control_sequences_written_by_others_are_printed_escaped(
    registry: Registry, registry_path: Path, onnx_file
) -> None:
    first = registry.push_files([onnx_file()], "m", version="1.0.0")
    title, clear = "\x1b]0;pwned\x07", "\x1b[2J"
    _forged_tag(registry_path, "m@v1.1.0", first.commit, f"Eve{title}{clear} <e@example.com> 1700000000 +0000")
    for args in (["history", "m"], ["list", "m"], ["show", "m@v1.1.0"], ["list"]):
        r = invoke(*args, "--registry", str(registry_path))
        assert r.exit_code == 0, (args, r.stderr)
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout, args
    shown = invoke("history", "m", "--registry", str(registry_path)).stdout
    assert "Eve\\x1b]0;pwned\\x07\\x1b[2J" in shown  # visible, not obeyed


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_a_metric_that_is_not_finite_is_refused(bad: str, registry: Registry, registry_path: Path, onnx_file) -> None:
    r = invoke("push", str(onnx_file()), "--name", "m", "--metric", f"acc={bad}", "--registry", str(registry_path))
    assert r.exit_code == 1 and "finite" in one_error_line(r.stderr)
    with pytest.raises(Exception, match="finite"):
        registry.push_files([onnx_file()], "m", metrics={"acc": float(bad)})
    assert git("--git-dir", str(registry_path), "tag", "-l") == ""


def test_a_metric_name_with_a_control_character_is_refused(registry: Registry, onnx_file) -> None:
    with pytest.raises(Exception, match="control character"):
        registry.push_files([onnx_file()], "m", metrics={"acc\x1b[2J": 0.9})
    assert registry.list() == []


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_metrics_or_data_file_that_is_not_a_regular_file_is_refused_at_once(
    special: str, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    import os

    path = tmp_path / "metrics.fifo"
    if special == "fifo":
        os.mkfifo(path)  # reading it would block forever
    else:
        path = Path(special)
    model = str(onnx_file())
    for option in ("--metrics", "--data"):
        r = invoke("push", model, "--name", "m", option, str(path), "--registry", str(registry_path))
        assert r.exit_code == 1 and "is not a regular file" in one_error_line(r.stderr), (option, r.stderr)
    assert git("--git-dir", str(registry_path), "tag", "-l") == ""


@pytest.mark.parametrize("target", ["tree", "tag"])
def test_a_tag_that_does_not_peel_to_a_commit_is_no_version(
    target: str, registry: Registry, registry_path: Path, onnx_file
) -> None:
    first = registry.push_files([onnx_file()], "m", version="1.0.0")
    r = str(registry_path)
    obj = git("--git-dir", r, "rev-parse", f"{first.commit}^{{tree}}") if target == "tree" else "m@v1.0.0"
    git("--git-dir", r, "-c", "user.name=x", "-c", "user.email=x@example.com", "tag", "-a", "m@v1.1.0", obj, "-m", "x")
    assert [v.version for v in registry.versions("m")] == ["1.0.0"]
    assert {s.name: s.latest for s in registry.list()} == {"m": "v1.0.0"}
    res = invoke("show", "m@v1.1.0", "--registry", r)
    assert res.exit_code == 1 and "internal error" not in res.stderr
