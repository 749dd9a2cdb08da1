"""Fuzzing support: hypothesis profiles, strategies for hostile input, and the checks every case ends in.

Every fuzz case must end in success or in one ``error:`` line with a documented exit code (0, 1, 2 for
click's usage errors, 3 for a failed check), never a traceback or ``internal error``, never a raw
control character on the terminal, never a moved ref after a refusal. :func:`assert_clean_result`
checks all of that for one CLI result.

Profiles: the fuzz suites keep their own settings instead of loading a profile for the whole session
(which would change other modules' hypothesis tests). ``HYPOTHESIS_PROFILE=slow`` selects the
``gitreg-fuzz-slow`` profile (ten times the examples); anything else selects ``gitreg-fuzz``, small
enough that both fuzz modules together stay well under a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import Result
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.support.repo import home_env

PROFILE = "gitreg-fuzz-slow" if os.environ.get("HYPOTHESIS_PROFILE") == "slow" else "gitreg-fuzz"
SCALE = 10 if PROFILE == "gitreg-fuzz-slow" else 1
settings.register_profile("gitreg-fuzz", deadline=None, print_blob=True)
settings.register_profile("gitreg-fuzz-slow", deadline=None, print_blob=True)


def fuzz(examples: int, **kw: Any) -> settings:
    """Settings for one fuzz property: ``examples`` in the default profile, ``SCALE`` times more in the slow one.

    A shared registry lives longer than one example, so the function-scoped-fixture check is off.
    """
    return settings(
        settings.get_profile(PROFILE),
        max_examples=examples * SCALE,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
        **kw,
    )


# -- what the terminal must never see ----------------------------------------------------------------
# C0 controls except tab and newline, DEL and C1: what a terminal obeys (title, clear screen, cursor).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
EXIT_CODES = {0, 1, 2, 3}  # README / gitreg.errors: ok, failure, usage (click), failed check
# Lines a failing command may print on stderr around its one error line.
_SIDE_LINES = ("hint: ", "warning: ", "problem: ", "note: ")


def assert_no_control(text: str, what: str) -> None:
    m = CONTROL.search(text)
    assert m is None, f"raw control character {m.group()!r} in {what}: {text!r}"


def assert_clean_result(r: Result, args: tuple[str, ...] | list[str]) -> None:
    """The property every CLI case must hold, whatever its exit code."""
    out, err = r.stdout, r.stderr
    assert r.exit_code in EXIT_CODES, (args, r.exit_code, out, err)
    for text, what in ((out, "stdout"), (err, "stderr")):
        assert "Traceback" not in text, (args, text)
        assert "internal error" not in text, (args, text)
        assert_no_control(text, f"{what} of gitreg {args!r}")
    if r.exit_code == 2 and err.startswith("Usage: ") and len(args) <= 1:
        return  # `gitreg` or `gitreg config` alone: the group's help, as click prints it (gitreg.cli.app)
    if r.exit_code in (1, 2):
        lines = [ln for ln in err.split("\n") if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        assert len(errors) == 1, (args, err)
        rule_error = "gate rule" in errors[0]  # RuleError: the rule and a caret under it, indented
        for ln in lines:
            ok = ln.startswith(("error: ", *_SIDE_LINES)) or (rule_error and ln.startswith("  "))
            assert ok, (args, err)


# -- plain git, for checking and for writing what a collaborator could --------------------------------
def git(*args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
    p = subprocess.run(["git", *args], input=input, capture_output=True, check=False, env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {p.stderr.decode(errors='replace')}")
    return p.stdout.decode(errors="replace").strip()


def refs(registry: Path) -> str:
    """Every ref of ``registry`` and what it points at: compared before and after a refused command."""
    return git("--git-dir", str(registry), "for-each-ref", "--format=%(objectname) %(refname)")


def commit_on_main(registry: Path, files: dict[str, bytes], message: str = "by hand") -> str:
    """Commit ``files`` (registry paths) on top of main with plumbing, straight into the bare
    ``registry``: what a push that skips the hook leaves (a collaborator on a host without hooks)."""
    gd = str(registry)
    index = registry / f"fuzz-index-{os.getpid()}"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        git("--git-dir", gd, "read-tree", "main", env=env)
        for rel, data in files.items():
            oid = git("--git-dir", gd, "hash-object", "-w", "--stdin", input=data)
            git("--git-dir", gd, "update-index", "--add", "--cacheinfo", f"100644,{oid},{rel}", env=env)
        tree = git("--git-dir", gd, "write-tree", env=env)
    finally:
        index.unlink(missing_ok=True)
    commit = git("--git-dir", gd, "commit-tree", tree, "-p", "main", "-m", message)
    git("--git-dir", gd, "update-ref", "refs/heads/main", commit)
    return commit


def write_version(
    registry: Path,
    name: str,
    version: str,
    files: dict[str, bytes],
    tagger: bytes = b"Mallory <m@example.com> 1700000000 +0000",
) -> str:
    """Commit ``files`` (paths under ``models/<name>/``) and tag ``name@v<version>`` at it with plumbing.

    The tag object is written ``--literally``: a hostile tagger line (control characters, a date no
    calendar holds) is what a collaborator's own tool can write. Returns the tag name.
    """
    commit = commit_on_main(registry, {f"models/{name}/{rel}": data for rel, data in files.items()}, f"fuzz {name}")
    tag = f"{name}@v{version}"
    body = b"object %s\ntype commit\ntag %s\ntagger %s\n\nRegistering artifact %s version v%s\n" % (
        commit.encode(),
        tag.encode(),
        tagger,
        name.encode(),
        version.encode(),
    )
    oid = git("--git-dir", str(registry), "hash-object", "-t", "tag", "-w", "--stdin", "--literally", input=body)
    git("--git-dir", str(registry), "update-ref", f"refs/tags/{tag}", oid)
    return tag


def restore_refs(registry: Path, saved: str) -> None:
    """Put every ref of ``registry`` back to ``saved`` (a :func:`refs` listing); new refs are deleted."""
    want = {ref: oid for oid, ref in (line.split(" ", 1) for line in saved.splitlines())}
    have = {ref: oid for oid, ref in (line.split(" ", 1) for line in refs(registry).splitlines())}
    lines = [f"delete {r}\n" for r in have if r not in want]
    lines += [f"update {r} {oid}\n" for r, oid in want.items() if have.get(r) != oid]
    if lines:
        git("--git-dir", str(registry), "update-ref", "--stdin", input="".join(lines).encode())


def pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


# -- the environment a module-scoped registry is built in ----------------------------------------------
@contextmanager
def isolated(root: Path) -> Iterator[None]:
    """The test suite's isolation (conftest's ``isolated_env``) for fixtures that outlive one test."""
    values = {
        **home_env(root),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in values.items():
            mp.setenv(k, v)
        for k in ("GITREG_REGISTRY", "GITREG_DEBUG", "GIT_DIR", "GIT_WORK_TREE"):
            mp.delenv(k, raising=False)
        yield


class Workspace:
    """A registry copied from a template, put back whenever a command changed it.

    Successful writes (push, promote, config set) change the registry; the next example must start
    from the template again, or one example's result would leak into the next (and shrinking would
    chase a moving target). Writes go through the cache clone, so it goes too.
    """

    def __init__(self, template: Path, path: Path) -> None:
        self.template = template
        self.path = path
        self.saved = refs(template)
        self.reset()

    def reset(self) -> None:
        from gitreg.store.location import cache_dir

        if self.path.exists():
            shutil.rmtree(self.path)
        shutil.copytree(self.template, self.path, symlinks=True)
        for p in (cache_dir(str(self.path)), cache_dir(self.path.as_uri())):
            shutil.rmtree(p, ignore_errors=True)

    def changed(self) -> bool:
        return refs(self.path) != self.saved


# -- strategies --------------------------------------------------------------------------------------
CONTROLS = "".join(chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)])
# Text a person, a typo or an attacker could type: printable ASCII, control characters, unicode.
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(CONTROLS),
        st.sampled_from("\u00e9\u00df\u4e2d\u202e\u200b\ufeff\U0001f600\u2028\u0085"),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=30,
)
# argv cannot carry NUL: a real shell never passes one to a program.
argv_text = hostile_text.map(lambda s: s.replace("\x00", ""))
one_line = argv_text.map(lambda s: s.replace("\n", ""))


good_names = st.from_regex(r"\A[a-z0-9]([a-z0-9_-]{0,10}[a-z0-9])?\Z")
names = st.one_of(
    good_names, st.sampled_from(["m", "other", "nope", "M", "a.b", "x\n", "m" * 101, "", "-m"]), argv_text
)
semver = st.builds(
    lambda a, b, c, pre, build: f"{a}.{b}.{c}" + (f"-{pre}" if pre else "") + (f"+{build}" if build else ""),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 12),
    st.one_of(st.none(), st.sampled_from(["rc.1", "alpha", "0", "beta.2.x"])),
    st.one_of(st.none(), st.sampled_from(["evil", "build.5", "0001"])),
)
versions = st.one_of(
    semver,
    semver.map(lambda v: f"v{v}"),
    st.sampled_from(["1.0.0", "1.1.0", "01.0.0", "1.0", "1.0.0-", "99999999999999999999.0.0", "latest", ""]),
    argv_text,
)
stages = st.one_of(st.sampled_from(["staging", "production", "prod", "Staging", ""]), argv_text)
references = st.one_of(
    st.builds(lambda n, v: f"{n}@{v}", st.sampled_from(["m", "other"]), versions),
    st.builds(lambda n, s: f"{n}#{s}", st.sampled_from(["m", "other"]), stages),
    st.sampled_from(["m", "m@latest", "other", "m@v1.0.0", "m#staging", "m@v1.0.0+evil", "m@v1.0.0!"]),
    names,
)
numbers_text = st.one_of(
    st.floats().map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "1_000", "", " 0.5", "0.5 ", "true", "½"]),
    argv_text,
)
key_value = st.builds(
    lambda k, v: f"{k}={v}", st.one_of(st.sampled_from(["acc", "f1", "a.b"]), argv_text), numbers_text
)
plain_key_value = st.one_of(key_value, argv_text)


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any], weight: int = 3) -> st.SearchStrategy[Any]:
    """``valid`` about ``weight`` times in ``weight + 1``, else ``hostile``: enough successes to check what
    a successful command wrote, enough refusals to check nothing was."""
    return st.one_of(*([valid] * weight), hostile)


good_refs = st.sampled_from(["m", "m@latest", "m@v1.0.0", "m@v1.1.0", "m@1.1.0", "m#staging", "other", "other@v0.1.0"])
good_key_value = st.builds(
    lambda k, v: f"{k}={v}", st.sampled_from(["acc", "f1", "loss"]), st.floats(0, 1, allow_nan=False).map(repr)
)
# A well-formed KEY=VALUE whose value is hostile text: labels, params (stored as given, shown to others).
text_key_value = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["team", "lr", "owner"]), argv_text)

# TOML values of every type, with hostile strings and keys; nesting bounded so tomli_w and tomllib stay fast.
toml_keys = st.one_of(st.sampled_from(["name", "version", "path", "sha256", "size", "rules", "order"]), hostile_text)
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    hostile_text,
    st.text(min_size=0, max_size=3).map(lambda s: s * 2000),  # a long string
    st.datetimes(timezones=st.none()),
    st.dates(),
    st.times(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(toml_keys, inner, max_size=3),
    ),
    max_leaves=8,
)


def dumps(data: dict[str, Any]) -> str:
    """TOML text for ``data`` (valid TOML: tomli_w escapes control characters in strings and keys)."""
    return tomli_w.dumps(data)


def deep(kind: str, n: int) -> str:
    """Nesting and dotted-key bombs as raw text (tomli_w would recurse building them)."""
    if kind == "array":
        return f"x = {'[' * n}1{']' * n}\n"
    if kind == "inline":
        return "x = " + "{a = " * n + "1" + "}" * n + "\n"
    if kind == "dotted":
        return ".".join(["a"] * n) + " = 1\n"
    if kind == "tables":
        return "[" + ".".join(["t"] * n) + "]\nx = 1\n"
    return f'x = "{"y" * n}"\n'


def bombs(max_n: int = 5000) -> st.SearchStrategy[str]:
    """Raw-text bombs up to ``max_n`` levels or components (strings: characters)."""
    return st.builds(deep, st.sampled_from(["array", "inline", "dotted", "tables", "string"]), st.integers(1, max_n))


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (a valid document) with a few values replaced by values of any type, and keys added or removed."""
    doc: dict[str, Any] = _copy(base)
    for _ in range(draw(st.integers(0, 4))):
        path = _paths(doc)
        if not path:
            break
        where = draw(st.sampled_from(path))
        parent: Any = doc
        for k in where[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(toml_values)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent[where[-1]], dict):
            parent[where[-1]][draw(toml_keys)] = draw(toml_values)
    return doc


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _paths(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for k, v in doc.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out += _paths(v, (*prefix, k))
    return out


SHA = "a" * 64
VALID_SIDECAR: dict[str, Any] = {
    "schema": 1,
    "model": {
        "name": "h",
        "version": "1.0.0",
        "created": "2026-01-01T00:00:00Z",
        "author": "A <a@example.com>",
        "description": "a model",
        "task": "classification",
        "framework": "onnx",
        "labels": {"team": "x"},
    },
    "artifacts": {"onnx": {"path": "model.onnx", "sha256": SHA, "size": 10, "opset": 17}},
    "signature": {"inputs": [{"name": "x", "dtype": "float32", "shape": ["N", 4]}], "outputs": []},
    "metrics": {"acc": 0.9, "f1": 0.8},
    "params": {"lr": 0.1},
    "lineage": {"parent": "h@v0.9.0", "data": [{"name": "d", "sha256": SHA, "rows": 3}]},
    "files": {"vocab.txt": {"sha256": SHA, "size": 3}},
}
VALID_CONFIG: dict[str, Any] = {
    "registry": {"schema": 1},
    "stages": {"order": ["staging", "production"], "production": {"require_pr": False}},
    "gates": {"production": {"data": "datasets/d.npz", "rules": ["parity.passed", "eval.accuracy >= 0.9"]}},
    "parity": {"tolerance": 1e-4, "rtol": 1e-4, "atol": 1e-5},
    "limits": {"max_plain_blob_bytes": 1000000},
}
VALID_STAGES: dict[str, Any] = {"m": {"staging": "v1.0.0", "production": "v1.1.0"}, "other": {"staging": "v0.1.0"}}


def documents(base: dict[str, Any], max_depth: int = 5000) -> st.SearchStrategy[str]:
    """TOML text near ``base``: mutated valid documents, arbitrary tables, bombs (up to ``max_depth``), broken text."""
    return st.one_of(
        mutated(base).map(dumps),
        mutated(base).map(dumps),
        st.dictionaries(toml_keys, toml_values, max_size=4).map(dumps),
        st.builds(lambda doc, bomb: dumps(doc) + bomb, mutated(base), bombs(max_depth)),
        st.builds(lambda doc, junk: dumps(doc) + junk, mutated(base), hostile_text),
        hostile_text,
    )
