"""Regression tests for what the fuzz suite found (issue 12), one focused test per finding.

Deep TOML in ``gitreg.toml``/``stages.toml``, deep or long gate rules, sidecar fields of the wrong type,
user text echoed raw into an error line, raw keys in ``stages.toml`` problem lines, stage-tag counters
with leading zeros. Each ends in one clear line (or a refusal by the hook), never ``internal error`` or
a traceback. The fuzz properties (tests/test_fuzz_*.py) now cover all of them too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core import card, diff, rules, sidecar, stages
from gitreg.core.settings import RegistryConfig, rule_problems
from gitreg.errors import ConfigError, RuleError, SidecarError, StageError
from tests.support.cli import invoke, one_error_line
from tests.support.fuzz import VALID_SIDECAR, commit_on_main, deep, dumps, refs
from tests.support.repo import git

ARRAY = deep("array", 600)  # x = [[[…1…]]]: tomllib's RecursionError
INLINE = deep("inline", 330)  # x = {a = {a = …}}: the same
DOTTED = deep("dotted", 1000)  # a.a.….a = 1: a key tuple per component


def _run(registry_path: Path, *args: str):
    """``gitreg ARGS`` with ``--registry`` after the command words (two for ``config``)."""
    words = 2 if args[0] == "config" else 1
    return invoke(*args[:words], "--registry", str(registry_path), *args[words:])


def _clean(r, *, codes: tuple[int, ...] = (1,)) -> str:
    """The one ``error:`` line of a refused command (its exit code among ``codes``)."""
    assert r.exit_code in codes, (r.exit_code, r.stdout, r.stderr)
    for text in (r.stdout, r.stderr):
        assert "internal error" not in text and "Traceback" not in text, text
    return one_error_line(r.stderr)


@pytest.fixture
def reg(registry: Registry, registry_path: Path, onnx_file) -> Path:
    """m@v1.0.0 (holding staging) and m@v1.1.0."""
    registry.push_files([onnx_file()], "m", version="1.0.0", metrics={"acc": 0.9})
    registry.push_files([onnx_file()], "m", version="1.1.0", metrics={"acc": 0.95})
    r = invoke("promote", "m@v1.0.0", "--to", "staging", "--registry", str(registry_path))
    assert r.exit_code == 0, r.stderr
    return registry_path


def _push_by_hand(registry_path: Path, tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess:
    """Clone, commit ``files``, push to main with plain git: what the pre-receive hook judges."""
    wt = tmp_path / f"hand{len(list(tmp_path.glob('hand*')))}"
    git("clone", "-q", str(registry_path), str(wt))
    for rel, text in files.items():
        (wt / rel).write_text(text)
    git("-C", str(wt), "commit", "-qam", "by hand")
    return subprocess.run(["git", "-C", str(wt), "push", "origin", "main"], capture_output=True, text=True)


# -- finding 1: a deeply nested gitreg.toml ------------------------------------------------------------
@pytest.mark.parametrize("bomb", [ARRAY, INLINE, DOTTED], ids=["array", "inline", "dotted"])
def test_a_deep_gitreg_toml_is_a_config_error_naming_the_cap(bomb: str) -> None:
    with pytest.raises(ConfigError, match=r"gitreg.toml (nests deeper than 32|has a dotted key of more than 64)"):
        RegistryConfig.parse(bomb)


def test_an_oversized_gitreg_toml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=f"larger than {sidecar.MAX_BYTES} bytes"):
        RegistryConfig.parse("# " + "x" * sidecar.MAX_BYTES + "\n")


def test_a_deep_gitreg_toml_on_main_gives_one_line_everywhere(reg: Path) -> None:
    commit_on_main(reg, {"gitreg.toml": ARRAY.encode()})  # past a host without the hook
    before = refs(reg)
    for cmd in (
        ("gate", "m@v1.1.0", "--stage", "staging"),
        ("promote", "m@v1.1.0", "--to", "staging"),
        ("apply",),
        ("config", "show", "--json"),  # plain `config show` prints the text as it is
        ("config", "get", "parity.rtol"),
        ("config", "set", "parity.rtol", "1e-3"),
    ):
        line = _clean(_run(reg, *cmd))
        assert "gitreg.toml nests deeper than 32 levels" in line, (cmd, line)
    assert refs(reg) == before


def test_the_hook_refuses_a_deep_gitreg_toml_in_one_line(reg: Path, tmp_path: Path) -> None:
    before = refs(reg)
    p = _push_by_hand(reg, tmp_path, {"gitreg.toml": INLINE})
    assert p.returncode != 0
    assert "REJECT config: the registry's gitreg.toml nests deeper than 32 levels" in p.stderr
    assert "Traceback" not in p.stderr and "RecursionError" not in p.stderr
    assert refs(reg) == before


# -- finding 2: a deeply nested stages.toml, a long dotted key -----------------------------------------
@pytest.mark.parametrize("bomb", [ARRAY, INLINE, DOTTED], ids=["array", "inline", "dotted"])
def test_a_deep_stages_toml_is_a_stage_error(bomb: str) -> None:
    with pytest.raises(StageError, match=r"stages.toml on main (nests deeper|has a dotted key)") as e:
        stages.parse_stages(bomb.encode(), where="on main")
    assert "\n" not in e.value.message


def test_a_dotted_key_under_the_cap_gives_a_short_problem_line() -> None:
    _, problems = stages.parse_stages(deep("dotted", 60).encode())
    assert len(problems) == 1 and "\n" not in problems[0] and len(problems[0]) < 200


def test_a_deep_stages_toml_on_main_gives_one_line(reg: Path) -> None:
    commit_on_main(reg, {"stages.toml": ARRAY.encode()})
    before = refs(reg)
    for cmd in (("promote", "m@v1.1.0", "--to", "production"), ("apply",)):
        line = _clean(_run(reg, *cmd))
        assert "stages.toml nests deeper than 32 levels" in line, line
    r = invoke("check", "--registry", str(reg))
    assert r.exit_code == 3 and "stages.toml nests deeper" in r.stdout + r.stderr
    assert "internal error" not in r.stdout + r.stderr
    assert refs(reg) == before


# -- finding 3: deep and long gate rules ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(" * 82 + "parity.passed" + ")" * 82, f"nested deeper than {rules.MAX_DEPTH} levels"),
        ("not " * 980 + "parity.passed", f"longer than {rules.MAX_LENGTH} characters"),
        ("not " * 40 + "parity.passed", f"nested deeper than {rules.MAX_DEPTH} levels"),
        ("-" * 978 + "1 < eval.accuracy", f"nested deeper than {rules.MAX_DEPTH} levels"),
        (" + ".join(["metrics.a"] * 500) + " > 1", f"longer than {rules.MAX_LENGTH} characters"),
        ("+".join(["1"] * 40) + " > metrics.a", f"nested deeper than {rules.MAX_DEPTH} levels"),
    ],
)
def test_a_deep_or_long_rule_is_a_rule_error(text: str, reason: str) -> None:
    with pytest.raises(RuleError, match=reason) as e:
        rules.parse(text)
    assert e.value.message.count("\n") == 2 and 0 <= e.value.column <= len(text)
    assert len(e.value.message) < 300  # a long rule is shown around the column, not whole


@pytest.mark.parametrize("n", [1, 2, 3, 16, rules.MAX_DEPTH - 2])
def test_negations_format_back_to_the_same_rule(n: int) -> None:
    rule = rules.parse("-" * n + "1 < eval.accuracy")
    text = rules.format(rule)
    assert "(" not in text and rules.parse(text) == rule


def test_rules_at_the_cap_still_parse_and_format_back() -> None:
    for text in (
        "(" * (rules.MAX_DEPTH - 1) + "parity.passed" + ")" * (rules.MAX_DEPTH - 1),
        "not " * (rules.MAX_DEPTH - 1) + "parity.passed",
        " and ".join(["parity.passed"] * (rules.MAX_DEPTH - 1)),
    ):
        rule = rules.parse(text)
        assert rules.parse(rules.format(rule)) == rule


def test_config_set_refuses_a_deep_rule_in_one_line(reg: Path) -> None:
    before = refs(reg)
    value = '["' + "(" * 100 + "parity.passed" + ")" * 100 + '"]'
    line = _clean(_run(reg, "config", "set", "gates.staging.rules", value))
    assert "gates.staging.rules[0]" in line and "nested deeper than 32 levels" in line
    assert refs(reg) == before


def test_the_hook_refuses_a_gitreg_toml_whose_rules_do_not_parse(reg: Path, tmp_path: Path) -> None:
    before = refs(reg)
    text = git("--git-dir", str(reg), "show", "main:gitreg.toml")
    deep_rule = "(" * 100 + "parity.passed" + ")" * 100
    p = _push_by_hand(reg, tmp_path, {"gitreg.toml": text + f'\n[gates.staging]\nrules = ["{deep_rule}"]\n'})
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "REJECT config: gitreg.toml: gates.staging.rules[0]" in p.stderr
    assert "nested deeper than 32 levels" in p.stderr
    assert refs(reg) == before


def test_a_deep_rule_already_on_main_fails_gate_and_promote_in_one_line(reg: Path) -> None:
    text = git("--git-dir", str(reg), "show", "main:gitreg.toml")
    deep_rule = "(" * 100 + "parity.passed" + ")" * 100
    commit_on_main(reg, {"gitreg.toml": (text + f'\n[gates.staging]\nrules = ["{deep_rule}"]\n').encode()})
    before = refs(reg)
    for cmd in (("gate", "m@v1.1.0", "--stage", "staging"), ("promote", "m@v1.1.0", "--to", "staging")):
        r = _run(reg, *cmd)
        assert r.exit_code == 1 and "internal error" not in r.stderr and "Traceback" not in r.stderr
        assert r.stderr.startswith("error: gate rule error: the rule is nested deeper than 32 levels"), r.stderr
    r = invoke("check", "--registry", str(reg))
    assert r.exit_code == 3 and "gates.staging.rules[0]" in r.stdout + r.stderr
    assert rule_problems(RegistryConfig.parse(git("--git-dir", str(reg), "show", "main:gitreg.toml")))
    assert refs(reg) == before


# -- finding 4: sidecar fields of the wrong type ---------------------------------------------------------
WRONG_TYPES = [
    ("model", "labels", 1),
    ("model", "task", [False]),
    ("model", "framework", ["onnx"]),
    ("signature", "inputs", True),
    ("signature", "outputs", True),
    ("signature", "classes", 3),
    ("lineage", "data", [[]]),
    ("lineage", "data", -230),
    ("lineage", "data", {"name": "d"}),
    ("lineage", "code", 1),
]


def _doc(section: str, key: str, value: object) -> dict:
    doc = dumps(VALID_SIDECAR)
    data = sidecar.tomllib.loads(doc)
    data.setdefault(section, {})[key] = value
    return data


@pytest.mark.parametrize(("section", "key", "value"), WRONG_TYPES)
def test_a_wrongly_typed_field_is_a_sidecar_error(section: str, key: str, value: object) -> None:
    with pytest.raises(SidecarError, match=rf"\[{section}\] {key} must be "):
        sidecar.loads(dumps(_doc(section, key, value)))


@pytest.mark.parametrize(("section", "key", "value"), WRONG_TYPES)
def test_card_and_diff_tolerate_a_wrongly_typed_field(section: str, key: str, value: object) -> None:
    bad = _doc(section, key, value)  # as a dict built in code could hold it: loads refuses it
    good = sidecar.loads(dumps(VALID_SIDECAR)).to_dict()
    assert card.model_card(bad, "h@v1.0.0").startswith("---")
    for a, b in ((good, bad), (bad, good)):
        lines = diff.render(diff.diff("h@v1.0.0", a, "h@v1.1.0", b))
        assert all(isinstance(line, str) for line in lines)


def test_check_exits_3_and_card_refuses_over_a_wrongly_typed_sidecar(reg: Path) -> None:
    from tests.support.fuzz import pointer, write_version

    sc = sidecar.loads(git("--git-dir", str(reg), "show", "m@v1.0.0:models/m/model.toml"))
    art = sc.artifacts["onnx"]
    doc = sc.to_dict()
    doc["model"].update(name="h", version="1.0.0", labels=1)
    tag = write_version(
        reg, "h", "1.0.0", {"model.toml": dumps(doc).encode(), "model.onnx": pointer(art.sha256, art.size)}
    )
    r = invoke("check", "--registry", str(reg))
    assert r.exit_code == 3 and "[model] labels must be a table" in r.stdout + r.stderr
    for cmd in (("card", tag), ("diff", "m@v1.0.0", tag)):
        line = _clean(_run(reg, *cmd), codes=(1, 3))
        assert "[model] labels must be a table" in line


# -- finding 5: user text echoed raw into the error line -------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("config", "get", "parity.rtol\nhint: run rm -rf ~"),
        ("config", "get", "parity.rtl\nhint: run rm -rf ~"),
        ("config", "set", "0\n0", "1"),
        ("demote", "x\nhint: run rm -rf ~", "--stage", "staging"),
        ("rollback", "x\n", "--stage", "staging"),
        ("promote", "m@v1.1.0", "--to", "staging\nhint: run rm -rf ~"),
        ("demote", "m", "--stage", "staging\nhint: run rm -rf ~"),
        ("gate", "m@v1.1.0", "--stage", "staging\nhint: run rm -rf ~"),
        ("rollback", "m", "--stage", "staging\nhint: run rm -rf ~"),
    ],
)
def test_text_with_a_line_break_stays_inside_the_one_error_line(reg: Path, args: tuple[str, ...]) -> None:
    r = _run(reg, *args)
    line = _clean(r, codes=(1, 2))
    assert "\\n" in line, line  # shown escaped (repr), inside the line
    assert not any(ln.startswith("hint: run rm") for ln in r.stderr.splitlines()), r.stderr


def test_rollback_to_an_unknown_stage_says_so(reg: Path) -> None:
    line = _clean(invoke("rollback", "m", "--stage", "nosuch", "--registry", str(reg)))
    assert line.startswith("error: unknown stage 'nosuch'"), line


def test_the_error_wrapper_keeps_any_message_on_one_line() -> None:
    from click.testing import CliRunner

    from gitreg.cli.app import one_line, report
    from gitreg.errors import GitregError

    assert one_line("a\nhint: b\r") == "a\\nhint: b\\r"
    runner = CliRunner()
    with runner.isolation() as (_, _, err):
        report(GitregError("model 'x\nhint: forged' is gone", hint="see\nthis"))
        text = err.getvalue().decode()
    assert text.splitlines() == ["error: model 'x\\nhint: forged' is gone", "hint: see\\nthis"]


# -- finding 6: raw keys in stages.toml problem lines ----------------------------------------------------
def test_a_stages_toml_problem_line_quotes_a_key_with_a_line_break() -> None:
    _, problems = stages.parse_stages(b'[m]\n"stag\\ning" = 1\n"x\\ny" = 2\n[n]\nstaging = 3\n')
    assert problems == [
        "stages.toml: m.'stag\\ning' = 1 is not a version string (\"v1.2.0\")",
        "stages.toml: m.'x\\ny' = 2 is not a version string (\"v1.2.0\")",
        'stages.toml: n.staging = 3 is not a version string ("v1.2.0")',
    ]
    _, problems = stages.parse_stages(b'"a\\nb" = 1\n')
    assert problems == ["stages.toml: `'a\\nb'` must be a table of stage = \"vX.Y.Z\" lines"]


# -- finding 7: stage-tag counters with leading zeros ----------------------------------------------------
def test_the_hook_refuses_a_stage_tag_counter_with_leading_zeros(reg: Path, tmp_path: Path) -> None:
    wt = tmp_path / "tags"
    git("clone", "-q", str(reg), str(wt))
    git("-C", str(wt), "tag", "-a", "-m", "Assigning stage production", "m#production#007", "m@v1.1.0^{commit}")
    p = subprocess.run(["git", "-C", str(wt), "push", "origin", "m#production#007"], capture_output=True, text=True)
    assert p.returncode != 0
    assert "REJECT stage-tag: m#production#007 writes its counter with leading zeros" in p.stderr
    assert "m#production#7 is the same event" in p.stderr
    assert "m#production#007" not in git("--git-dir", str(reg), "tag", "-l")
    # The same event with its counter as gitreg writes it passes.
    git("-C", str(wt), "tag", "-a", "-m", "Assigning stage production", "m#production#7", "m@v1.1.0^{commit}")
    p = subprocess.run(["git", "-C", str(wt), "push", "origin", "m#production#7"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


# -- smaller: check over an invalid gitreg.toml ----------------------------------------------------------
def test_check_reports_an_invalid_gitreg_toml_and_checks_versions_with_the_defaults(reg: Path) -> None:
    commit_on_main(reg, {"gitreg.toml": b'[parity]\nrtol = "abc"\n'})
    r = invoke("check", "--registry", str(reg))
    out = r.stdout + r.stderr
    assert r.exit_code == 3, out
    assert "[parity] rtol must be a number" in out and "checked with the default settings" in out
    assert "internal error" not in out
    # The versions were still checked: break one and it is reported beside the config problem.
    objects = list((reg / "lfs" / "objects").rglob("*"))
    victim = next(p for p in objects if p.is_file())
    victim.write_bytes(b"corrupt")
    out = (r := invoke("check", "--registry", str(reg))).stdout + r.stderr
    assert r.exit_code == 3 and "is corrupt" in out and "[parity] rtol must be a number" in out
