"""Fuzzing the CLI in process, against one registry built once per module, and hostile registry content.

Every case ends in success or one ``error:`` line with a documented exit code (0, 1, 2 for click's
usage errors, 3 for a failed check): never a traceback, never ``internal error``, never a raw control
character on stdout or stderr, and never a moved ref after a non-zero exit
(:func:`tests.support.fuzz.assert_clean_result` and :meth:`Fuzzer.run`). A command that succeeds and
writes puts the registry back to the template before the next example. Hostile content (sidecars,
tagger lines, ``gitreg.toml``, ``stages.toml``) is written with plain git plumbing straight into the
bare registry, as a collaborator on a host without hooks could.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import tomli_w
from click.testing import Result
from hypothesis import event, given
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.cli import cli
from gitreg.core import sidecar
from gitreg.core.settings import RegistryConfig
from gitreg.errors import ConfigError, SidecarError
from tests.support.cli import invoke
from tests.support.fuzz import (
    CONTROL,
    VALID_CONFIG,
    VALID_SIDECAR,
    VALID_STAGES,
    Workspace,
    argv_text,
    assert_clean_result,
    assert_no_control,
    commit_on_main,
    documents,
    fuzz,
    git,
    good_key_value,
    good_refs,
    hostile_text,
    isolated,
    key_value,
    mostly,
    names,
    one_line,
    plain_key_value,
    pointer,
    references,
    refs,
    restore_refs,
    semver,
    stages,
    text_key_value,
    toml_scalars,
    versions,
    write_version,
)
from tests.support.onnxfiles import make_onnx

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


LOG = os.environ.get("GITREG_FUZZ_LOG")


@dataclass
class Template:
    path: Path
    files: dict[str, Path]  # inputs for push: a valid ONNX file, junk, an empty file, a folder, a missing path
    onnx_oid: str
    onnx_size: int


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """m@v1.0.0 (staging), m@v1.1.0, other@v0.1.0: built once, copied for each test."""
    root = tmp_path_factory.mktemp("fuzz-template")
    with isolated(root):
        path = root / "registry.git"
        reg = Registry(path)
        reg.init()
        first = make_onnx(root / "in" / "a.onnx", 0)
        reg.push_files([first], "m", version="1.0.0", metrics={"acc": 0.9}, labels={"team": "x"}, description="one")
        reg.push_files([make_onnx(root / "in" / "b.onnx", 1)], "m", version="1.1.0", metrics={"acc": 0.95})
        reg.push_files([make_onnx(root / "in" / "c.onnx", 2)], "other", version="0.1.0")
        r = invoke("promote", "m@v1.0.0", "--to", "staging", "--registry", str(path))
        assert r.exit_code == 0, r.stderr
        (root / "in" / "junk.onnx").write_bytes(b"\x00\x01not onnx\xff" * 10)
        (root / "in" / "empty.onnx").write_bytes(b"")
        (root / "in" / "folder").mkdir()
        files = {
            "onnx": make_onnx(root / "in" / "d.onnx", 3),
            "junk": root / "in" / "junk.onnx",
            "empty": root / "in" / "empty.onnx",
            "folder": root / "in" / "folder",
            "missing": root / "in" / "missing.onnx",
        }
        sc = sidecar.loads(git("--git-dir", str(path), "show", "m@v1.0.0:models/m/model.toml"))
        art = sc.artifacts["onnx"]
        yield Template(path, files, art.sha256, art.size)


class Fuzzer:
    """Runs ``gitreg`` against a workspace registry and checks the property every case must hold."""

    def __init__(self, ws: Workspace, tmp: Path) -> None:
        self.ws = ws
        self.tmp = tmp
        self.examples = 0

    def run(self, *args: str) -> Result:
        """``gitreg ARGS`` with ``--registry WS`` right after the command words (none for an unknown command)."""
        if args and args[0] in cli.commands:
            words = 2 if isinstance(cli.commands[args[0]], click.Group) else 1
            argv = (*args[:words], "--registry", str(self.ws.path), *args[words:])
        else:
            argv = args
        before = refs(self.ws.path)
        r = invoke(*argv)
        self.examples += 1
        event(f"gitreg {args[0] if args else '(nothing)'}: exit {r.exit_code}")  # --hypothesis-show-statistics
        if LOG:  # GITREG_FUZZ_LOG=FILE: one line per command, for counting what the fuzzing reached
            with open(LOG, "a", encoding="utf-8") as fh:
                fh.write(json.dumps([r.exit_code, list(args), r.stderr.split("\n")[0]]) + "\n")
        assert_clean_result(r, argv)
        if r.exit_code != 0:
            assert refs(self.ws.path) == before, f"refs moved after gitreg {argv!r} exited {r.exit_code}"
        return r

    def new_refs(self, before: str) -> list[tuple[str, str]]:
        """(object, ref) of every ref that is new or moved since ``before``."""
        old = set(before.splitlines())
        return [
            (line.split(" ", 1)[0], line.split(" ", 1)[1])
            for line in refs(self.ws.path).splitlines()
            if line not in old
        ]

    def reset_if_changed(self) -> None:
        if self.ws.changed():
            self.ws.reset()


@pytest.fixture
def fz(template: Template, tmp_path: Path) -> Fuzzer:
    return Fuzzer(Workspace(template.path, tmp_path / "registry.git"), tmp_path)


# -- reads -------------------------------------------------------------------------------------------
json_flag = st.sampled_from([(), ("--json",)])
read_args = st.one_of(
    st.tuples(st.just("show"), mostly(good_refs, references, 1)).map(list),
    st.tuples(st.just("card"), references).map(list),
    st.tuples(st.just("list")).map(list),
    st.tuples(st.just("list"), names).map(list),
    st.tuples(st.just("history"), names).map(list),
    st.tuples(st.just("diff"), mostly(good_refs, references), mostly(good_refs, references)).map(list),
    st.tuples(st.just("check")).map(list),
    st.tuples(st.just("config"), st.just("show")).map(list),
    st.tuples(
        st.just("config"), st.just("get"), mostly(st.sampled_from(["parity.rtol", "stages.order"]), argv_text, 1)
    ).map(list),
    st.lists(argv_text, min_size=0, max_size=3),  # anything at all: an unknown command, options, nothing
)


@fuzz(50)
@given(read_args, json_flag)
def test_read_commands_answer_or_refuse_in_one_line(fz: Fuzzer, args: list[str], flag: tuple[str, ...]) -> None:
    r = fz.run(*args, *(flag if args and args[0] not in ("diff",) else ()))
    if r.exit_code == 0 and flag and args[:1] in (["show"], ["list"], ["history"]):
        json.loads(r.stdout)


@fuzz(20)
@given(
    mostly(good_refs, references, 1),
    st.sampled_from([(), ("--format", "onnx"), ("--format", "all"), ("--format", "files")]),
)
def test_pull_writes_its_folder_or_nothing(fz: Fuzzer, ref: str, fmt: tuple[str, ...]) -> None:
    out = fz.tmp / f"out{fz.examples}"  # a folder no earlier example wrote
    r = fz.run("pull", ref, "-o", str(out), *fmt)
    if r.exit_code != 0:
        assert not out.exists() or not any(out.iterdir()), f"pull {ref!r} failed and left {list(out.iterdir())}"
    else:
        assert any(out.iterdir())
        assert not [p for p in fz.tmp.iterdir() if p.name.endswith(".tmp")]
    fz.reset_if_changed()


# -- writes ------------------------------------------------------------------------------------------
def _options(*pairs: tuple[str, st.SearchStrategy[str] | None]) -> st.SearchStrategy[list[str]]:
    """Up to three options drawn from ``pairs`` (option, values; None: a flag), in any order, repeats allowed."""

    def one(i: int) -> st.SearchStrategy[list[str]]:
        opt, values = pairs[i]
        return st.just([opt]) if values is None else values.map(lambda v: [opt, v])

    chunks = st.lists(st.integers(0, len(pairs) - 1).flatmap(one), max_size=3)
    return chunks.map(lambda cs: [x for c in cs for x in c])


metrics_file = st.one_of(
    st.dictionaries(hostile_text, st.one_of(toml_scalars, st.floats()), max_size=3).map(
        lambda d: ("json", json.dumps(d, default=str))
    ),
    st.dictionaries(hostile_text, toml_scalars, max_size=3).map(lambda d: ("toml", tomli_w.dumps(d))),
    hostile_text.map(lambda t: ("json", t)),
)
push_options = _options(
    ("--version", mostly(semver, versions)),
    ("--bump", st.sampled_from(["major", "minor", "patch", "huge"])),
    ("--metric", mostly(good_key_value, key_value)),
    ("--param", mostly(text_key_value, plain_key_value)),
    ("--label", mostly(text_key_value, plain_key_value)),
    (
        "--description",
        mostly(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20), argv_text, 1),
    ),
    ("--parent", mostly(good_refs, references)),
)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def _push(fz: Fuzzer, args: list[str], metrics: tuple[str, str] | None) -> Result:
    """``gitreg push ARGS [--metrics FILE]``; after a success, what it stored is checked and the registry reset."""
    if metrics is not None:
        path = fz.tmp / f"metrics.{metrics[0]}"
        path.write_text(metrics[1], encoding="utf-8", errors="surrogateescape")
        args = [*args, "--metrics", str(path)]
    before = refs(fz.ws.path)
    r = fz.run("push", *args)
    if r.exit_code == 0:
        tags = [ref for _, ref in fz.new_refs(before) if ref.startswith("refs/tags/")]
        assert len(tags) == 1, tags
        tag = tags[0].removeprefix("refs/tags/")
        name_in_tag = tag.split("@")[0]
        text = git("--git-dir", str(fz.ws.path), "show", f"{tag}:models/{name_in_tag}/model.toml")
        stored = tomllib.loads(text)
        # What gitreg writes holds no control character a terminal would obey (issue 12, finding 4);
        # newline and tab are allowed in a description.
        for s in _strings({k: stored.get(k, {}) for k in ("model", "metrics", "params")}):
            assert_no_control(s, f"the sidecar gitreg wrote for {args!r}")
        shown = invoke("show", tag, "--registry", str(fz.ws.path))
        assert shown.exit_code == 0 and not CONTROL.search(shown.stdout), shown.stderr
    fz.reset_if_changed()
    return r


@fuzz(15)
@given(
    st.sampled_from(["onnx", "junk", "empty", "folder", "missing"]),
    names,
    push_options,
    st.one_of(st.none(), metrics_file),
)
def test_push_of_anything_registers_or_refuses_with_nothing_written(
    fz: Fuzzer, template: Template, which: str, name: str, options: list[str], metrics: tuple[str, str] | None
) -> None:
    _push(fz, [str(template.files[which]), "--name", name, *options], metrics)


@fuzz(15)
@given(
    st.sampled_from(["m", "other", "new"]),
    st.lists(
        st.one_of(
            st.tuples(st.just("--label"), text_key_value),
            st.tuples(st.just("--param"), text_key_value),
            st.tuples(st.just("--description"), argv_text),
            st.tuples(
                st.just("--metric"),
                st.builds(lambda k, v: f"{k}={v}", one_line.filter(lambda k: "=" not in k), st.just("0.5")),
            ),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_push_of_hostile_text_stores_it_clean_or_refuses_it(
    fz: Fuzzer, template: Template, name: str, options: list[tuple[str, str]]
) -> None:
    r = _push(fz, [str(template.files["onnx"]), "--name", name, *[x for o in options for x in o]], None)
    if all(not CONTROL.search(v) and opt != "--metric" for opt, v in options):
        assert r.exit_code == 0, r.stderr  # printable text (any unicode, newline, tab) is a fine label


stage_args = st.one_of(
    st.builds(
        lambda ref, stage, extra: ["promote", ref, "--to", stage, *extra],
        mostly(good_refs, references),
        mostly(st.sampled_from(["staging", "production"]), stages),
        _options(("--reason", argv_text), ("--force", None), ("--direct", None)),
    ),
    st.builds(
        lambda n, s, reason: ["demote", n, "--stage", s, *reason],
        mostly(st.just("m"), names),
        mostly(st.just("staging"), stages),
        _options(("--reason", argv_text)),
    ),
    st.builds(
        lambda n, s, extra: ["rollback", n, "--stage", s, *extra],
        mostly(st.just("m"), names),
        mostly(st.just("staging"), stages),
        _options(
            ("--to", mostly(st.sampled_from(["1.0.0", "v1.1.0"]), versions)), ("--reason", argv_text), ("--force", None)
        ),
    ),
)


@fuzz(30)
@given(stage_args)
def test_stage_commands_move_a_stage_or_refuse_with_nothing_written(fz: Fuzzer, args: list[str]) -> None:
    before = refs(fz.ws.path)
    r = fz.run(*args)
    if r.exit_code == 0:
        for oid, ref in fz.new_refs(before):
            if ref.startswith("refs/tags/"):
                body = git("--git-dir", str(fz.ws.path), "cat-file", "tag", oid)
                assert_no_control(body, f"tag {ref} written by gitreg {args!r}")
        assert fz.run("history", "m").exit_code == 0
    fz.reset_if_changed()


config_keys = st.one_of(
    st.sampled_from(
        [
            "parity.rtol",
            "parity.atol",
            "parity.tolerance",
            "stages.order",
            "stages.production.require_pr",
            "stages.staging.require_pr",
            "gates.production.rules",
            "gates.production.data",
            "limits.max_plain_blob_bytes",
            "registry.schema",
        ]
    ),
    argv_text,
)
config_values = st.one_of(
    st.sampled_from(
        [
            *("1e-3", "true", "false", '["staging", "production"]', '["parity.passed"]', '"datasets/x.npz"', "abc"),
            *('"1MB"', "-1", "nan", "inf", "[]", "{}", '["eval.accuracy >=", 1]', '["((parity.passed)"]', '[""]'),
            '["a\\u001bb"]',
        ]
    ),
    toml_scalars.map(lambda v: tomli_w.dumps({"v": v}).partition("=")[2].strip()),
    argv_text,
)


@fuzz(25)
@given(config_keys, mostly(config_values, argv_text, 1))
def test_config_set_writes_a_valid_gitreg_toml_or_refuses(fz: Fuzzer, key: str, value: str) -> None:
    r = fz.run("config", "set", key, value)
    if r.exit_code == 0:
        text = git("--git-dir", str(fz.ws.path), "show", "main:gitreg.toml")
        RegistryConfig.parse(text)  # what config set commits is a config gitreg reads
        fz.run("config", "show")
        fz.run("list")
    fz.reset_if_changed()


# -- hostile content in the registry -----------------------------------------------------------------
def _near_sidecar(oid: str, size: int, version: str) -> dict[str, Any]:
    doc = json.loads(json.dumps(VALID_SIDECAR))
    doc["model"]["version"] = version
    doc["artifacts"]["onnx"].update(sha256=oid, size=size)
    del doc["files"]
    return doc


taggers = st.builds(
    lambda who, when, tz: b"%s <e@example.com> %d %s" % (who.encode("utf-8", "surrogatepass"), when, tz.encode()),
    hostile_text.map(lambda s: "".join(c for c in s if c not in "\n\x00<>")),
    st.one_of(st.integers(0, 2_000_000_000), st.integers(0, 10**18)),
    st.sampled_from(["+0000", "-0700", "+1400", "+9999", "junk"]),
)


@fuzz(20)
@given(st.data(), st.sampled_from(["1.0.0", "2.0.0", "1.0.0+x", "0.0.1-rc.1"]), taggers)
def test_hostile_sidecars_are_read_or_reported(
    fz: Fuzzer, template: Template, data: st.DataObject, version: str, tagger: bytes
) -> None:
    base = _near_sidecar(template.onnx_oid, template.onnx_size, version)
    text = data.draw(documents(base), label="model.toml")
    try:
        sidecar.loads(text)
        broken = False
    except SidecarError:
        broken = True
    saved = refs(fz.ws.path)
    tag = write_version(
        fz.ws.path,
        "h",
        version,
        {"model.toml": text.encode(), "model.onnx": pointer(template.onnx_oid, template.onnx_size)},
        tagger,
    )
    try:
        results = {
            cmd: fz.run(*cmd)
            for cmd in (
                ("show", tag),
                ("list",),
                ("list", "h"),
                ("history", "h"),
                ("check",),
                ("show", "m"),
                ("card", tag),
                ("diff", "m@v1.0.0", tag),
            )
        }
        assert results[("show", "m")].exit_code == 0, "a broken version of one model must not break another"
        assert results[("list",)].exit_code == 0
        if broken:
            assert results[("check",)].exit_code == 3, results[("check",)].stdout
            assert results[("show", tag)].exit_code in (1, 3)
    finally:
        restore_refs(fz.ws.path, saved)


@fuzz(10)
@given(st.one_of(st.none(), documents(VALID_CONFIG)), st.one_of(st.none(), documents(VALID_STAGES)))
def test_hostile_gitreg_toml_and_stages_toml_are_read_or_refused(
    fz: Fuzzer, config: str | None, stages_toml: str | None
) -> None:
    files = {}
    if config is not None:
        files["gitreg.toml"] = config.encode()
    if stages_toml is not None:
        files["stages.toml"] = stages_toml.encode()
    commit_on_main(fz.ws.path, files)
    saved = refs(fz.ws.path)
    try:
        for cmd in (
            ("list",),
            ("show", "m"),
            ("config", "show"),
            ("config", "get", "parity.rtol"),
            ("check",),
            ("gate", "m@v1.1.0", "--stage", "staging"),
            ("promote", "m@v1.1.0", "--to", "staging"),
            ("apply",),
        ):
            r = fz.run(*cmd)
            if cmd == ("check",) and not _valid_config(config):
                assert r.exit_code == 3, r.stdout  # a broken gitreg.toml is a problem, the rest checked anyway
            if r.exit_code == 0 and refs(fz.ws.path) != saved:
                break  # a write landed: the next command would start from another registry
    finally:
        fz.ws.reset()  # the cache clone saw the hostile main too


def _valid_config(text: str | None) -> bool:
    try:
        RegistryConfig.parse(text)
    except ConfigError:
        return False
    return True
