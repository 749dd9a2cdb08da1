"""``gitreg config show|get|set|edit`` and ``gitreg info``, on real registries, checked with plain git."""

from __future__ import annotations

import json
import re
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.settings import GITREG_TOML, RegistryConfig, unknown_keys
from gitreg.core.sidecar import tomllib
from gitreg.registry import configuration
from tests.support.cli import invoke, one_error_line
from tests.support.repo import REPO_ROOT, configure, git


def main_of(reg: Path) -> str:
    return git("--git-dir", str(reg), "rev-parse", "main")


def toml_on_main(reg: Path) -> str:
    return git("--git-dir", str(reg), "show", "main:gitreg.toml") + "\n"


def test_show_and_get(registry_path: Path) -> None:
    r = ["--registry", str(registry_path)]
    p = invoke("config", "show", *r)
    assert p.exit_code == 0 and p.stdout == GITREG_TOML
    assert json.loads(invoke("config", "show", "--json", *r).stdout)["parity"] == {"tolerance": 1e-4}
    assert invoke("config", "get", "stages.production.require_pr", *r).stdout == "false\n"
    assert invoke("config", "get", "parity.tolerance", *r).stdout == "0.0001\n"
    assert json.loads(invoke("config", "get", "stages.order", *r).stdout) == ["staging", "production"]
    assert json.loads(invoke("config", "get", "parity.tolerance", "--json", *r).stdout) == 1e-4
    p = invoke("config", "get", "parity.rtol", *r)  # not set: the scale criterion governs
    assert p.exit_code == 1 and "the scale criterion (parity.tolerance) governs" in p.stderr
    p = invoke("config", "get", "gates.production.rules", *r)
    assert p.exit_code == 1
    assert one_error_line(p.stderr) == "error: gitreg.toml does not set gates.production.rules"
    assert "hint: gitreg uses the default, []" in p.stderr


def test_set_commits_once_on_main_and_keeps_comments(registry_path: Path) -> None:
    r = ["--registry", str(registry_path)]
    before = main_of(registry_path)
    p = invoke("config", "set", "stages.production.require_pr", "true", *r)
    assert p.exit_code == 0, p.stderr
    assert p.stdout.startswith("gitreg.toml: stages.production.require_pr = true (main ")
    after = main_of(registry_path)
    assert git("--git-dir", str(registry_path), "rev-parse", f"{after}^") == before  # one commit on main
    assert git("--git-dir", str(registry_path), "diff", "--name-only", before, after) == "gitreg.toml"
    text = toml_on_main(registry_path)
    assert "# Set require_pr = true to allow promotion to production only" in text  # comments survive
    assert "# Each runtime passes when" in text
    assert tomllib.loads(text)["stages"]["production"]["require_pr"] is True
    assert Registry(registry_path).config().raw["stages"]["production"]["require_pr"] is True

    # The same value again: nothing to commit.
    p = invoke("config", "set", "stages.production.require_pr", "true", *r)
    assert p.exit_code == 0 and "already so, nothing committed" in p.stdout
    assert main_of(registry_path) == after

    # A list of rules, a path (not TOML: taken as a string), a float written as the user wrote it.
    rules = '["parity.passed", "eval.accuracy >= 0.95"]'
    assert invoke("config", "set", "gates.production.rules", rules, *r).exit_code == 0
    assert invoke("config", "set", "gates.production.data", "datasets/holdout.npz", *r).exit_code == 0
    assert invoke("config", "set", "parity.rtol", "1e-3", *r).exit_code == 0
    text = toml_on_main(registry_path)
    assert "rtol = 1e-3" in text and "[gates.production]" in text and "\n[gates]\n" not in text
    data = tomllib.loads(text)
    assert data["gates"]["production"] == {
        "rules": ["parity.passed", "eval.accuracy >= 0.95"],
        "data": "datasets/holdout.npz",
    }
    assert RegistryConfig.parse(text).rtol == 1e-3
    log = git("--git-dir", str(registry_path), "log", "--format=%s", f"{before}..main").splitlines()
    assert log[-1] == "gitreg config set stages.production.require_pr = true" and len(log) == 4


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("parity.rtol", "abc", "gitreg.toml: [parity] rtol must be a number, got 'abc'"),
        ("parity.atol", "nan", "gitreg.toml: [parity] atol must be a finite number >= 0, got nan"),
        ("stages.production.require_pr", "yes", "gitreg.toml: [stages.production] require_pr must be true or false"),
        ("gates.production.rules", '["eval.accuracy >= "]', "gates.production.rules[0] 'eval.accuracy >= ': expected"),
        ("gates.production.rules", "parity.passed", "gitreg.toml: [gates.production] rules must be a list of rules"),
        ("stages.order", '["staging", "Prod"]', "gitreg.toml: [stages] order: invalid stage name 'Prod'"),
        ("registry.schema", "2", "gitreg.toml: [registry] schema must be 1, got 2"),
        ("parity.tolerance.x", "1", "gitreg.toml: parity.tolerance is a value, not a table"),
        ("parity.tolerance", "inf", "gitreg.toml: [parity] tolerance must be a finite number >= 0, got inf"),
        ("stages.prodution.require_pr", "true", "unknown key stages.prodution: 'prodution' is not a stage"),
        ("gates.prodution.rules", '["parity.passed"]', "unknown key gates.prodution: 'prodution' is not a stage"),
        ("parity.rtl", "1e-3", "gitreg.toml: unknown key parity.rtl: gitreg does not act on it"),
        ("stages.production.require_review", "true", "unknown key stages.production.require_review"),
        ("paritty", "{rtol = 1e-3}", "gitreg.toml: unknown key paritty"),
    ],
)
def test_invalid_values_and_unknown_keys_leave_main_unchanged(
    registry_path: Path, key: str, value: str, message: str
) -> None:
    before = main_of(registry_path)
    p = invoke("config", "set", key, value, "--registry", str(registry_path))
    assert p.exit_code == 1, p.stderr
    assert message in one_error_line(p.stderr)
    assert main_of(registry_path) == before
    assert toml_on_main(registry_path) == GITREG_TOML


def test_unknown_key_hints_name_the_likely_key(registry_path: Path) -> None:
    r = ["--registry", str(registry_path)]
    p = invoke("config", "set", "stages.prodution.require_pr", "true", *r)
    assert "hint: did you mean stages.production?" in p.stderr
    p = invoke("config", "set", "parity.rtl", "1e-3", *r)
    assert "hint: did you mean parity.rtol?" in p.stderr


def test_unknown_key_already_on_main_is_kept_with_a_warning(registry_path: Path, tmp_path: Path) -> None:
    """A key a newer gitreg wrote (or a hand edit) does not block changing the keys this gitreg knows."""
    configure(registry_path, tmp_path, "\n[experimental]\nflag = true\n")
    r = ["--registry", str(registry_path)]
    p = invoke("config", "set", "parity.atol", "2e-5", *r)
    assert p.exit_code == 0, p.stderr
    assert p.stderr == "warning: gitreg.toml: experimental is not a key gitreg acts on (left as it was)\n"
    assert tomllib.loads(toml_on_main(registry_path))["experimental"] == {"flag": True}
    p = invoke("config", "set", "experimental.flag", "false", *r)  # but it cannot be set through gitreg
    assert p.exit_code == 1 and "unknown key experimental" in one_error_line(p.stderr)


def test_set_through_the_hook(registry_path: Path) -> None:
    """With direct writes off, the change goes through git push and the registry's pre-receive hook."""
    git("--git-dir", str(registry_path), "config", "gitreg.directWrites", "false")
    hook = registry_path / "hooks" / "pre-receive"
    original = hook.read_text()
    marker = registry_path.parent / "hook-ran"
    hook.write_text(original.replace("\n", f"\ntouch {marker}\n", 1))
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    p = invoke("config", "set", "limits.max_plain_blob_bytes", "2000000", "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert marker.exists()
    assert "max_plain_blob_bytes = 2000000" in toml_on_main(registry_path)


def write_editor(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_edit_commits_a_valid_edit(registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", write_editor(tmp_path, "ed", "sed -i 's/^tolerance = 1e-4/tolerance = 2e-4/' \"$1\""))
    before = main_of(registry_path)
    p = invoke("config", "edit", "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert p.stdout.startswith("gitreg.toml: edited (main ")
    assert git("--git-dir", str(registry_path), "rev-parse", "main^") == before
    assert toml_on_main(registry_path) == GITREG_TOML.replace("tolerance = 1e-4", "tolerance = 2e-4")
    # An editor that changes nothing commits nothing.
    monkeypatch.setenv("EDITOR", "true")
    after = main_of(registry_path)
    p = invoke("config", "edit", "--registry", str(registry_path))
    assert p.exit_code == 0 and p.stdout == "gitreg.toml: no changes\n"
    assert main_of(registry_path) == after
    assert not list(tmp_path.glob("gitreg-config-*"))  # nothing is kept when nothing was refused


def test_edit_refused_keeps_the_text(registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where kept edits go
    typo = "sed -i 's/^tolerance = /tolerence = /; s/^# atol = 1e-5/atol = 3e-5/' \"$1\""
    monkeypatch.setenv("VISUAL", write_editor(tmp_path, "typo", typo))
    before = main_of(registry_path)
    p = invoke("config", "edit", "--registry", str(registry_path))
    assert p.exit_code == 1
    line = one_error_line(p.stderr)
    assert line == "error: gitreg.toml: unknown key parity.tolerence: gitreg does not act on it; nothing was written"
    kept = Path(re.search(r"your edit is kept in (\S+);", p.stderr).group(1))  # type: ignore[union-attr]
    assert "tolerence = 1e-4" in kept.read_text() and "atol = 3e-5" in kept.read_text()  # nothing lost
    assert f"gitreg config edit --from {kept}" in p.stderr and "did you mean parity.tolerance?" in p.stderr
    assert main_of(registry_path) == before

    # Continue from the kept text: fix the typo, keep the other change.
    monkeypatch.setenv("VISUAL", write_editor(tmp_path, "fix", "sed -i 's/^tolerence = /tolerance = /' \"$1\""))
    p = invoke("config", "edit", "--from", str(kept), "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert toml_on_main(registry_path) == GITREG_TOML.replace("# atol = 1e-5", "atol = 3e-5")

    # Invalid TOML is refused the same way.
    monkeypatch.setenv("VISUAL", write_editor(tmp_path, "broken", "echo '[parity' >> \"$1\""))
    p = invoke("config", "edit", "--registry", str(registry_path))
    assert p.exit_code == 1 and "is not valid TOML" in one_error_line(p.stderr)
    assert "your edit is kept in" in p.stderr


def test_edit_does_not_overwrite_a_change_made_meanwhile(
    registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "editor" is slow: someone else changes gitreg.toml on main while it is open.
    body = (
        f"{sys.executable} -m gitreg config set parity.atol 9e-5 --registry {registry_path} >/dev/null\n"
        "sed -i 's/^tolerance = 1e-4/tolerance = 2e-4/' \"$1\""
    )
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where kept edits go
    monkeypatch.setenv("EDITOR", write_editor(tmp_path, "slow", body))
    monkeypatch.delenv("VISUAL", raising=False)
    p = invoke("config", "edit", "--registry", str(registry_path))
    assert p.exit_code == 1
    assert "changed on main while it was being edited" in one_error_line(p.stderr)
    text = toml_on_main(registry_path)
    assert "atol = 9e-5" in text and "\ntolerance = 1e-4" in text


def test_readme_toml_blocks_are_valid_against_what_init_writes() -> None:
    """Every TOML block in the README is (part of) a gitreg.toml: on top of what ``init`` writes it is a
    valid one, with no key gitreg ignores, and it agrees with ``init`` on every value both name."""
    import tomli_w

    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    assert blocks
    init = tomllib.loads(GITREG_TOML)

    def merged(base: dict, top: dict, where: str = "") -> dict:
        out = dict(base)
        for key, value in top.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                out[key] = merged(base[key], value, f"{where}{key}.")
            else:
                assert key not in base or base[key] == value, (
                    f"README sets {where}{key} = {value!r}, init wrote {base[key]!r}"
                )
                out[key] = value
        return out

    for block in blocks:
        data = merged(init, tomllib.loads(block))
        assert configuration.validate(tomli_w.dumps(data)) == [], block


def test_unknown_keys_is_pure_and_knows_the_stages() -> None:
    data = tomllib.loads(
        '[stages]\norder = ["dev", "prod"]\n[stages.prod]\nrequire_pr = true\n[stages.production]\n'
        "require_pr = true\n[gates.dev]\nrules = []\nfoo = 1\n[parity]\nrtl = 1\n[x]\n"
    )
    assert [k for k, _ in unknown_keys(data)] == ["stages.production", "gates.dev.foo", "parity.rtl", "x"]


def test_info_says_which_registry_and_why(tmp_path: Path, registry_path: Path, monkeypatch) -> None:
    p = invoke("info", "--json")
    assert p.exit_code == 0, p.stderr
    body = json.loads(p.stdout)
    assert body["source"] == "default" and body["exists"] is False and body["is_registry"] is False
    assert body["path"].endswith("gitreg/registry.git") and body["gitreg"]
    assert "the embedded default" in body["chosen_by"]

    p = invoke("info", "--registry", str(registry_path))
    assert p.exit_code == 0
    assert f"registry   {registry_path.as_uri()}\nchosen by  --registry\nstate      a gitreg registry\n" in p.stdout

    monkeypatch.setenv("GITREG_REGISTRY", str(registry_path))
    assert json.loads(invoke("info", "--json").stdout)["chosen_by"] == "$GITREG_REGISTRY"
    monkeypatch.delenv("GITREG_REGISTRY")

    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "pyproject.toml").write_text('[tool.gitreg]\nregistry = "../registry.git"\n')
    monkeypatch.chdir(proj / "sub")
    body = json.loads(invoke("info", "--json").stdout)
    assert body["source"] == "pyproject" and body["path"] == str(registry_path)
    assert body["chosen_by"] == f"[tool.gitreg] registry in {proj / 'pyproject.toml'}"
    assert body["is_registry"] is True

    body = json.loads(invoke("info", "--json", "--registry", "https://example.invalid/org/reg.git").stdout)
    assert body["exists"] is None and body["cache_exists"] is False  # a remote is never contacted

    plain = tmp_path / "plain"
    plain.mkdir()
    assert "exists, but is not a gitreg registry" in invoke("info", "--registry", str(plain)).stdout
