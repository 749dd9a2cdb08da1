"""Terminal control sequences never enter the registry through gitreg (issue 12, finding 4).

Where gitreg writes — labels, descriptions, parameters, class names, ``--reason``, a dataset's
source name, the git identity it tags as — a control character (ESC ``]0;…`` BEL, ``ESC[2J``, CR,
backspace, C1, U+2028) is refused with one line naming the field, exit 1, and nothing written: no
tag, ``main`` where it was, no LFS object. Free text (a description, a reason) may still break
lines and indent. What others wrote with plain git is escaped on output (test_hostile_inputs.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gitreg import Registry, api
from gitreg.core.sidecar import check_text, control_char
from gitreg.errors import MetadataError
from tests.support.cli import invoke, one_error_line, run_cli
from tests.support.repo import git

TITLE, CLEAR = "\x1b]0;pwned\x07", "\x1b[2J"


def refs(registry_path: Path) -> str:
    return git("--git-dir", str(registry_path), "for-each-ref")


def lfs_objects(registry_path: Path) -> list[Path]:
    return [p for p in (registry_path / "lfs" / "objects").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("text", "multiline", "found"),
    [
        ("plain words, ünïcode ✓", False, None),
        ("two\nlines\tindented", True, None),
        ("two\nlines", False, "\n"),
        ("tab\there", False, "\t"),
        (f"title{TITLE}", True, "\x1b"),
        ("over\rwrite", True, "\r"),
        ("back\x08space", True, "\x08"),
        ("c1 csi \x9b2J", True, "\x9b"),
        ("del \x7f", True, "\x7f"),
        ("line\u2028separator", True, "\u2028"),
        ("nul\x00", True, "\x00"),
    ],
)
def test_control_char_finds_what_steers_a_terminal(text: str, multiline: bool, found: str | None) -> None:
    assert control_char(text, multiline) == found


def test_check_text_names_the_field_and_nested_keys_in_one_line() -> None:
    with pytest.raises(MetadataError) as e:
        check_text("--param", {"optim": {f"lr{CLEAR}": 0.1}}, multiline=True)
    assert "--param" in e.value.message and "optim" in e.value.message and "\x1b" not in e.value.message
    assert "\n" not in e.value.message
    check_text("--param", {"template": "a\nb"}, multiline=True)  # a multi-line value is free text


HOSTILE_PUSHES = [
    (["--label", f"owner=eve{TITLE}"], "--label 'owner'"),
    (["--label", f"own{CLEAR}er=eve"], "--label key"),
    (["--label", "note=two\nlines"], "--label 'note'"),  # a label is one line
    (["--description", f"fine{CLEAR}"], "--description"),
    (["--description", "looks\rinnocent"], "--description"),
    (["--description", "back\x08\x08\x08oops"], "--description"),
    (["--param", f"lr{TITLE}=0.1"], "--param key"),
    (["--classes", f"cat,dog{CLEAR}"], "class name"),
]


@pytest.mark.parametrize(("args", "field"), HOSTILE_PUSHES)
def test_push_refuses_control_characters_and_writes_nothing(
    args: list[str], field: str, registry: Registry, registry_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    before, objects = refs(registry_path), lfs_objects(registry_path)
    r = invoke("push", str(onnx_file()), "--name", "m", *args, "--registry", str(registry_path))
    assert r.exit_code == 1, r.stdout + r.stderr
    line = one_error_line(r.stderr)
    assert field in line and "control character" in line, line
    assert "\x1b" not in r.stderr and "\r" not in r.stderr and "\x08" not in r.stderr
    assert refs(registry_path) == before  # no tag, main unmoved
    assert lfs_objects(registry_path) == objects  # refused before any upload


def test_the_python_api_refuses_them_too(registry: Registry, registry_path: Path, onnx_file) -> None:
    cases = [
        {"labels": {"k": f"v{TITLE}"}},
        {"description": f"d{CLEAR}"},
        {"params": {f"p{CLEAR}": 1}},
    ]
    for kwargs in cases:
        with pytest.raises(MetadataError, match="control character"):
            registry.push_files([onnx_file()], "m", **kwargs)
        # gitreg.push refuses before exporting or checking anything
        with pytest.raises(MetadataError, match="control character"):
            api.push(str(onnx_file()), "m", registry=registry, **kwargs)
    assert refs(registry_path) == "" or "refs/tags" not in refs(registry_path)


def test_free_text_keeps_its_lines(registry: Registry, onnx_file) -> None:
    text = "First line.\n\n\tIndented detail; ünïcode ✓"
    mv = registry.push_files([onnx_file()], "m", description=text, labels={"team": "vision ✓"})
    assert mv.sidecar is not None and mv.sidecar.model["description"] == text
    assert registry.show("m").sidecar.model["labels"] == {"team": "vision ✓"}


@pytest.fixture
def two(registry: Registry, onnx_file) -> Registry:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    registry.push_files([onnx_file()], "m", version="1.1.0")
    return registry


@pytest.mark.parametrize(
    "args",
    [
        ["promote", "m@v1.1.0", "--to", "production", "--force", "--reason", f"hotfix{TITLE}"],
        ["promote", "m@v1.1.0", "--to", "production", "--force", "--reason", "ok\rnothing to see"],
        ["rollback", "m", "--stage", "production", "--to", "v1.0.0", "--force", "--reason", f"x{CLEAR}"],
        ["demote", "m", "--stage", "production", "--reason", f"gone{CLEAR}"],
    ],
)
def test_a_reason_with_control_characters_is_refused(args: list[str], two: Registry, registry_path: Path) -> None:
    if args[0] in ("rollback", "demote"):  # something to roll back or demote
        api.promote("m@v1.1.0", "production", force=True, reason="setup", registry=two)
    before = refs(registry_path)
    r = invoke(*args, "--registry", str(registry_path))
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "--reason" in one_error_line(r.stderr) and "control character" in r.stderr
    assert refs(registry_path) == before


def test_a_multi_line_reason_is_free_text(two: Registry, registry_path: Path) -> None:
    r = invoke(
        "promote", "m@v1.1.0", "--to", "production", "--force", "--reason", "incident 42\n\tsee the postmortem",
        "--registry", str(registry_path),
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert two.show("m#production").version == "1.1.0"


@pytest.mark.parametrize(
    ("var", "value"),
    [("GIT_COMMITTER_NAME", f"Eve{TITLE}{CLEAR}"), ("GIT_COMMITTER_EMAIL", "eve\r@example.com")],
)
def test_a_git_identity_with_control_characters_is_refused(
    var: str, value: str, registry: Registry, registry_path: Path, onnx_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    before, objects = refs(registry_path), lfs_objects(registry_path)
    monkeypatch.setenv(var, value)
    for args in (
        ["push", str(onnx_file()), "--name", "m"],
        ["promote", "m@v1.0.0", "--to", "production", "--force", "--reason", "r"],
    ):
        r = invoke(*args, "--registry", str(registry_path))
        assert r.exit_code == 1, (args, r.stdout, r.stderr)
        line = one_error_line(r.stderr)
        assert "git identity" in line and "control character" in line, (args, line)
        assert "\x1b" not in r.stderr and "\r" not in r.stderr
    assert refs(registry_path) == before
    assert lfs_objects(registry_path) == objects


def test_a_dataset_file_name_with_control_characters_is_refused(
    registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    f = tmp_path / f"hold{CLEAR}out.npz"
    np.savez(f, X=np.zeros((4, 2), np.float32), y=np.zeros(4, np.int64))
    before = refs(registry_path)
    r = invoke("dataset", "push", str(f), "--name", "holdout", "--registry", str(registry_path))
    assert r.exit_code == 1 and "dataset file name" in one_error_line(r.stderr), r.stderr
    assert refs(registry_path) == before and lfs_objects(registry_path) == []


def test_a_control_character_in_a_pushed_file_name_is_stored_escaped(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    """The recorded command line is gitreg's own writing: an argument's ESC is kept as ``\\x1b``."""
    odd = tmp_path / "model\x1b[2J.onnx"
    odd.write_bytes(onnx_file().read_bytes())
    p = run_cli("push", str(odd), "--name", "m", "--registry", str(registry_path))
    assert p.returncode == 0, p.stderr
    command = registry.show("m").sidecar.lineage["command"]
    assert "\x1b" not in command and "model\\x1b[2J.onnx" in command


def test_a_line_break_in_a_stages_toml_value_stays_inside_its_problem_line(
    registry: Registry, registry_path: Path, onnx_file
) -> None:
    from tests.support.fuzz import commit_on_main

    registry.push_files([onnx_file()], "m", version="1.0.0")
    commit_on_main(registry_path, {"stages.toml": b'[m]\nstaging = "v1.0.0\\nproblem: all is well"\n'})
    p = run_cli("check", "--registry", str(registry_path))  # a stage no tag gives yet: a warning
    assert p.returncode == 0, p.stdout + p.stderr
    shown = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    assert not any(ln.startswith("problem: all is well") for ln in shown), shown
    assert any("\\nproblem: all is well" in ln for ln in shown), shown
