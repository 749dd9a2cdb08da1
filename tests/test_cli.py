"""The CLI, through click's CliRunner and as a real subprocess; bad input gets one clear line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from gitreg.cli import cli
from tests.support.cli import invoke, one_error_line, run_cli
from tests.support.repo import REPO_ROOT, git


def test_full_flow_through_cli_runner(registry_path: Path, onnx_file, tmp_path: Path) -> None:
    r = str(registry_path)
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"accuracy": 0.9}')
    res = invoke(
        "push",
        str(onnx_file()),
        "--name",
        "digits",
        "--metrics",
        str(metrics),
        "--metric",
        "f1=0.8",
        "--param",
        "lr=0.01",
        "--label",
        "team=vision",
        "-d",
        "first",
        "--registry",
        r,
    )
    assert res.exit_code == 0 and res.stdout.strip() == "digits@v1.0.0"
    res = invoke("push", str(onnx_file()), "--name", "digits", "--bump", "major", "--registry", r, "--json")
    assert json.loads(res.stdout)["ref"] == "digits@v2.0.0"
    listed = json.loads(invoke("list", "--registry", r, "--json").stdout)
    assert listed[0]["name"] == "digits" and listed[0]["latest"] == "v2.0.0"
    assert "digits  v2.0.0  2" in invoke("list", "--registry", r).stdout
    versions = invoke("list", "digits", "--registry", r).stdout
    assert "v1.0.0" in versions and "accuracy=0.9" in versions
    shown = json.loads(invoke("show", "digits@v1.0.0", "--registry", r, "--json").stdout)
    assert shown["sidecar"]["metrics"] == {"accuracy": 0.9, "f1": 0.8}
    assert shown["sidecar"]["params"] == {"lr": 0.01}
    text = invoke("show", "digits@v1.0.0", "--registry", r).stdout
    assert text.startswith("digits@v1.0.0\n") and "[metrics]" in text
    hist = json.loads(invoke("history", "digits", "--registry", r, "--json").stdout)
    assert [h["version"] for h in hist] == ["1.0.0", "2.0.0"]
    out = tmp_path / "pulled"
    res = invoke("pull", "digits@v1.0.0", "-o", str(out), "--registry", r)
    assert res.exit_code == 0 and (out / "model.onnx").exists()
    assert invoke("check", "--registry", r).stdout.startswith("ok: 2 versions")
    res = invoke("deprecate", "digits@v1.0.0", "--registry", r)
    assert res.stdout.strip() == "digits@v1.0.0!"


def test_real_subprocess_flow(tmp_path: Path, onnx_file) -> None:
    reg = tmp_path / "reg.git"
    p = run_cli("init", "--registry", str(reg))
    assert p.returncode == 0 and "initialised" in p.stdout
    p = run_cli("push", str(onnx_file()), "--name", "m", "--registry", str(reg))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "m@v1.0.0"
    assert git("--git-dir", str(reg), "tag", "-l") == "m@v1.0.0"
    p = run_cli("list", "--registry", str(reg), "--json")
    assert json.loads(p.stdout)[0]["latest"] == "v1.0.0"
    p = run_cli("pull", "m", "-o", str(tmp_path / "o"), "--registry", str(reg))
    assert p.returncode == 0 and (tmp_path / "o" / "model.onnx").is_file()
    p = run_cli("check", "--registry", str(reg), "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["ok"] is True
    p = run_cli("show", "nope", "--registry", str(reg))
    assert p.returncode == 1
    assert one_error_line(p.stderr) == "error: model 'nope' is not in the registry"


def test_registry_from_env_and_pyproject(tmp_path: Path, onnx_file, monkeypatch) -> None:
    reg = tmp_path / "team.git"
    invoke("init", "--registry", str(reg))
    monkeypatch.setenv("GITREG_REGISTRY", str(reg))
    assert invoke("push", str(onnx_file()), "--name", "m").exit_code == 0
    monkeypatch.delenv("GITREG_REGISTRY")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(f'[tool.gitreg]\nregistry = "{reg}"\n')
    monkeypatch.chdir(proj)
    assert json.loads(invoke("list", "--json").stdout)[0]["name"] == "m"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["show", "nope"], 1, "model 'nope' is not in the registry"),
        (["show", "m@v9.0.0"], 1, "model 'm' has no version v9.0.0"),
        (["show", "m#production"], 1, "model 'm' has no version in stage 'production'"),
        (["show", "m@1.0"], 1, "invalid reference 'm@1.0'"),
        (["show", "m@@x"], 1, "invalid reference"),
        (["history", "Bad Name"], 1, "invalid model name"),
        (["pull", "m@v9.9.9"], 1, "has no version v9.9.9"),
        (["pull", "m", "--format", "torchscript"], 1, "has no torchscript artifact"),
        (["deprecate", "nope"], 1, "model 'nope' is not in the registry"),
    ],
)
def test_read_errors(registry_path: Path, onnx_file, args, code, message) -> None:
    invoke("push", str(onnx_file()), "--name", "m", "--registry", str(registry_path))
    p = invoke(*args, "--registry", str(registry_path))
    assert p.exit_code == code
    assert message in one_error_line(p.stderr)


def refs_of(reg: Path) -> str:
    return git("--git-dir", str(reg), "for-each-ref")


@pytest.mark.parametrize(
    "name",
    ["Digits", "dig its", "a@b", "a#b", "a!b", "a/b", "a:b"],
)
def test_bad_names_write_nothing(registry_path: Path, onnx_file, name: str) -> None:
    before = refs_of(registry_path)
    p = invoke("push", str(onnx_file()), "--name", name, "--registry", str(registry_path))
    assert p.exit_code == 1 and "invalid model name" in one_error_line(p.stderr)
    assert refs_of(registry_path) == before


def test_bad_push_inputs_write_nothing(registry_path: Path, onnx_file, tmp_path: Path) -> None:
    r = str(registry_path)
    invoke("push", str(onnx_file()), "--name", "m", "--registry", r)
    before = refs_of(registry_path)
    objects_before = sorted(p.name for p in (registry_path / "lfs" / "objects").rglob("*") if p.is_file())
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    not_onnx = tmp_path / "bad.onnx"
    not_onnx.write_bytes(b"this is not protobuf \x00\xff" * 10)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    txt = tmp_path / "weights.bin"
    txt.write_bytes(b"123")
    bad_metrics = tmp_path / "m.txt"
    bad_metrics.write_text("accuracy: [")
    unreadable = tmp_path / "locked.onnx"
    unreadable.write_bytes(onnx_file().read_bytes())
    unreadable.chmod(0)
    good = str(onnx_file())
    cases = [
        (["push", good, "--name", "m", "--version", "1.0.0"], "already exists and versions are immutable"),
        (["push", good, "--name", "m", "--version", "1.0"], "invalid version"),
        (["push", str(tmp_path / "missing.onnx"), "--name", "m"], "artifact not found"),
        (["push", str(empty_dir), "--name", "m"], "holds no .onnx or .pt file"),
        (["push", str(not_onnx), "--name", "m"], "is not a valid ONNX model"),
        (["push", str(empty), "--name", "m"], "is empty"),
        (["push", str(txt), "--name", "m"], "unsupported artifact"),
        (["push", good, "--name", "m", "--metrics", str(bad_metrics)], "neither JSON nor TOML"),
        (["push", good, "--name", "m", "--metrics", str(tmp_path / "nope.json")], "metrics file not found"),
        (["push", good, "--name", "m", "--metric", "acc=high"], "must be a number"),
        (["push", good, "--name", "m", "--version", "2.0.0", "--bump", "minor"], "not both"),
        (["push", good, "--name", "m", "--parent", "ghost"], "--parent ghost"),
        (["push", good, "--name", "m", "--data", str(tmp_path / "nodata.csv")], "data file not found"),
    ]
    import os

    if os.geteuid() != 0:  # root reads mode-000 files anyway
        cases.append((["push", str(unreadable), "--name", "m"], "cannot read"))
    for args, message in cases:
        p = invoke(*args, "--registry", r)
        assert p.exit_code in (1, 2), (args, p.stderr)
        assert message in one_error_line(p.stderr), (args, p.stderr)
    assert refs_of(registry_path) == before
    objects_after = sorted(p.name for p in (registry_path / "lfs" / "objects").rglob("*") if p.is_file())
    assert objects_after == objects_before


def test_usage_errors_exit_2(registry_path: Path) -> None:
    p = invoke("push", "--registry", str(registry_path))
    assert p.exit_code == 2
    p = invoke("pull", "m", "--format", "pickle")
    assert p.exit_code == 2


def test_not_a_registry(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "file.txt").write_text("x")
    for target in (plain, tmp_path / "missing.git"):
        p = invoke("list", "--registry", str(target))
        assert p.exit_code == 1
        line = one_error_line(p.stderr)
        assert "not a gitreg registry" in line or "no registry at" in line
    other = tmp_path / "other.git"
    git("init", "-q", "--bare", str(other))
    p = invoke("push", str(REPO_ROOT / "pyproject.toml"), "--name", "m", "--registry", str(other))
    assert p.exit_code == 1 and "Traceback" not in p.stderr


def test_corrupt_sidecar_in_registry_is_reported(registry_path: Path, onnx_file, tmp_path: Path) -> None:
    invoke("push", str(onnx_file()), "--name", "m", "--registry", str(registry_path))
    # Someone bypasses gitreg and the hook (core.hooksPath) to register a broken sidecar.
    clone = tmp_path / "clone"
    git("clone", "-q", registry_path.as_uri(), str(clone))
    (clone / "models" / "m").mkdir(parents=True, exist_ok=True)
    (clone / "models" / "m" / "model.toml").write_text("schema = [broken\n")
    git("-C", str(clone), "add", "models/m/model.toml")
    git("-C", str(clone), "-c", "core.hooksPath=/dev/null", "commit", "-qm", "break")
    git("-C", str(clone), "tag", "-a", "m@v3.0.0", "-m", "Registering artifact m version v3.0.0")
    (registry_path / "hooks" / "pre-receive").rename(tmp_path / "saved-hook")
    git("-C", str(clone), "push", "-q", "--no-verify", "origin", "HEAD:main", "m@v3.0.0")
    p = invoke("show", "m@v3.0.0", "--registry", str(registry_path))
    assert p.exit_code == 1 and "corrupt sidecar m@v3.0.0" in one_error_line(p.stderr)
    p = invoke("check", "--registry", str(registry_path))
    assert p.exit_code == 3 and "corrupt sidecar m@v3.0.0" in p.stdout


def _commands(group: click.Group, prefix: str = "gitreg") -> Iterator[tuple[str, click.Command]]:
    """Every visible command under ``group`` with its full name (``gitreg dataset push``), groups included."""
    for name, cmd in group.commands.items():
        if cmd.hidden:
            continue
        yield f"{prefix} {name}", cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{prefix} {name}")


def test_every_command_and_option_has_help_and_is_documented() -> None:
    """sqlite-utils' check: help text on every command and option, every command in the README."""
    readme = (REPO_ROOT / "README.md").read_text()
    commands = dict(_commands(cli))
    assert {"gitreg push", "gitreg dataset", "gitreg dataset push"} <= set(commands)
    assert not any(name.startswith("gitreg hook") for name in commands)  # hidden: the server hook's entry
    for name, cmd in commands.items():
        assert cmd.help, name
        assert name in readme, f"README does not mention `{name}`"
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
