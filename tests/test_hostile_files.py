"""Hostile file contents: sidecar bombs, planted symlinks at temporary names, files swapped under ``load``.

Registry content is written with plain git plumbing and pushed through the real hook (or past it,
for a registry that holds such content from before a rule), as in ``test_hostile_pushes.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gitreg import Registry
from gitreg.core import sidecar as sidecar_mod
from gitreg.errors import SidecarError, UsageError
from gitreg.store.git import Git
from tests.support.cli import invoke
from tests.support.repo import git
from tests.test_hostile_pushes import assert_rejected, commit_files, pointer, push, sidecar, tag_at, upload

MODEL = b'[model]\nname = "m"\nversion = "2.0.0"\n'  # otherwise valid: only the cap refuses them
DEEP = b"schema = 1\nx = " + b"[" * 5000 + b"]" * 5000 + b"\n" + MODEL  # tomllib: RecursionError
DOTTED = b"schema = 1\n" + b".".join([b"k"] * 1000) + b" = 1\n" + MODEL  # 20,000 of these: ~2.4 GB
CAP = 1 << 20  # sidecar_mod.MAX_BYTES
GOOD = 'schema = 1\n[model]\nname = "m"\nversion = "1.0.0"\n'


# -- 1. sidecar bombs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (DEEP, "nests deeper"),
        (DOTTED, "dotted key"),
        (GOOD.encode() + b"# " + b"x" * CAP + b"\n", "larger than"),
        (GOOD + "# " + "\u00e9" * (CAP // 2 + 1) + "\n", "larger than"),  # a str, in bytes
        ("schema = 1\n" + "[" * 40 + "a" + "]" * 40, "nests deeper"),
        ("schema = 1\nx = " + "{a = " * 40 + "1" + "}" * 40, "nests deeper"),
        ("schema = 1\n" + '"a".' * 100 + '"b" = 1\n', "dotted key"),
        ('schema = 1\nx = ["""a"""", ' + "[" * 40 + "]" * 41 + "\n", "nests deeper"),  # a 4-quote close
    ],
    ids=["deep", "dotted", "big-bytes", "big-str", "deep-header", "deep-inline-table", "quoted-key", "after-quotes"],
)
def test_sidecar_caps_refuse_before_parsing(text: str | bytes, fragment: str) -> None:
    with pytest.raises(SidecarError, match=fragment) as e:
        sidecar_mod.loads(text, "m@v9.9.9:models/m/model.toml")
    assert "m@v9.9.9" in e.value.message


def test_sidecar_caps_pass_brackets_and_dots_in_strings_arrays_and_comments() -> None:
    text = GOOD + (
        '[params]\nnote = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ a.b.c.d"\n'
        "lit = '{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{'\n"
        'multi = """\n' + "[" * 40 + '\\"""\n"""\n'
        "floats = [" + ", ".join(["0.5"] * 200) + "]\n"
        "when = 1979-05-27T07:32:00.999999Z\n"
        "# " + "[" * 40 + "." * 100 + "\n"
        "[params.a.b]\nc.d.e = 1\n"
    )
    sc = sidecar_mod.loads(text)
    assert sc.params["note"].startswith("[[[[") and len(sc.params["floats"]) == 200
    assert sc.params["a"]["b"]["c"]["d"]["e"] == 1


@pytest.mark.parametrize("text", ['"' + '\\"' * (CAP // 2 - 1), '"""' + '\\"' * (CAP // 2 - 2), "'" * CAP])
def test_the_shape_scan_stays_linear_on_unclosed_strings(text: str) -> None:
    import time

    start = time.perf_counter()
    sidecar_mod.shape_problem(text)
    assert time.perf_counter() - start < 5  # ~0.5 s; a backtracking scan would take hours


@pytest.mark.parametrize("bomb", [DEEP, DOTTED], ids=["deep", "dotted"])
def test_sidecar_bombs_are_refused_by_the_hook(
    bomb: bytes, registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    commit_files(work, {"models/m/model.toml": bomb})
    before = git("--git-dir", str(registry_path), "rev-parse", "main")
    assert_rejected(push(work, "HEAD:main"), "sidecar", "models/m/model.toml")
    assert git("--git-dir", str(registry_path), "rev-parse", "main") == before


def test_sidecar_bombs_in_the_registry_fail_show_by_version_and_check_reports_them(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    big = GOOD.replace("1.0.0", "4.0.0").encode() + b"# " + b"x" * (2 * CAP) + b"\n"
    for i, bomb in enumerate((DEEP, DOTTED, big), start=2):
        commit_files(work, {"models/m/model.toml": bomb}, message=f"bomb {i}")
        tag_at(work, f"m@v{i}.0.0", "HEAD", date=f"{1900000000 + i} +0000")
    assert push(work, "--atomic", "HEAD:main", "--tags", hooked=False).returncode == 0  # from before the rule
    for i, fragment in ((2, "nests deeper"), (3, "dotted key"), (4, "larger than")):
        with pytest.raises(SidecarError, match=fragment) as e:
            registry.show(f"m@v{i}.0.0")
        assert f"m@v{i}.0.0" in e.value.message
        r = invoke("show", f"m@v{i}.0.0", "--registry", str(registry_path))
        assert r.exit_code == 1 and "Traceback" not in r.stderr, r.stderr
    assert registry.show("m@v1.0.0").version == "1.0.0"
    r = invoke("list", "--registry", str(registry_path))  # tags only: no sidecar is read
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r.stderr
    report = registry.check()  # carries on past each bomb and reports every one
    for i in (2, 3, 4):
        assert any(f"m@v{i}.0.0" in p for p in report.problems), report.problems
    assert not any("m@v1.0.0" in p for p in report.problems), report.problems
    c = invoke("check", "--registry", str(registry_path))
    assert c.exit_code == 3, c.stdout + c.stderr


def test_cat_file_reads_no_more_than_the_cap_and_stays_in_step(registry_path: Path, tmp_path: Path) -> None:
    g = Git(registry_path)
    big = g.hash_blob(b"y" * (3 << 20))
    small = g.hash_blob(b"small\n")
    with g.cat_file() as cf:
        got = cf.get_many([big, small, big], max_size=1 << 20)
        assert [len(b or b"") for b in got] == [(1 << 20) + 1, 6, (1 << 20) + 1]
        assert got[1] == b"small\n"
        assert cf.get(big, max_size=10) == b"y" * 11
        assert cf.get(small, max_size=10) == b"small\n"
        assert cf.get(big) == b"y" * (3 << 20)  # no cap: whole


# -- 2. writes stay inside their destination -------------------------------------------------------------
def test_pull_to_an_empty_folder_name_is_a_usage_error(
    registry: Registry, tmp_path: Path, onnx_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(UsageError, match="empty output folder"):
        registry.pull("m@v1.0.0", "")
    r = invoke("pull", "m@v1.0.0", "-o", "", "--registry", str(registry.url))
    assert r.exit_code == 2, r.stdout + r.stderr
    assert list(here.iterdir()) == []


def _plant(folder: Path, names: list[str], outside: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(outside)


def test_pull_never_writes_through_a_symlink_planted_at_a_temporary_name(
    registry: Registry, tmp_path: Path, onnx_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"untouched")
    dest = tmp_path / "pulled"
    pid = os.getpid()
    # The old predictable names, and the names a fixed "random" source gives (a guess that came true).
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)
    guessed = [f"model.toml.{'00' * 6}.tmp", f".model.onnx.{'00' * 8}.tmp", f".model.onnx.{'00' * 4}.tmp"]
    _plant(dest, [f".model.toml.{pid}.tmp", f"model.toml.{pid}.tmp", f".model.onnx.{pid}.tmp", *guessed], outside)
    try:
        registry.pull("m@v1.0.0", dest)
    except OSError:
        pass  # refusing to write is fine; writing through the link is not
    assert outside.read_bytes() == b"untouched"
    assert not any(p.is_symlink() and p.name in ("model.toml", "model.onnx") for p in dest.iterdir())


def test_predictions_file_never_written_through_a_planted_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitreg.cli.output import render_predictions

    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"untouched")
    folder = tmp_path / "out"
    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)
    _plant(folder, [f"preds.csv.{os.getpid()}.tmp", f"preds.csv.{'00' * 6}.tmp"], outside)
    try:
        render_predictions(np.array([1.0, 2.0]), False, str(folder / "preds.csv"))
    except OSError:
        pass
    assert outside.read_bytes() == b"untouched"
    monkeypatch.undo()
    render_predictions(np.array([1.0, 2.0]), False, str(folder / "preds.csv"))  # a real random name: written
    assert (folder / "preds.csv").read_text().split() == ["1", "2"]
    assert outside.read_bytes() == b"untouched"


# -- 3. load runs the bytes it hashed --------------------------------------------------------------------
def test_load_hands_onnxruntime_the_bytes_it_hashed(
    registry: Registry, onnx_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    import gitreg
    from gitreg.ml import runtime

    registry.push_files([onnx_file()], "m", version="1.0.0")
    real = runtime.ort_session
    given: list[object] = []

    def swap_then_load(model: object) -> object:
        given.append(model)
        cached = next((Path(os.environ.get("XDG_CACHE_HOME", "")) / "gitreg" / "artifacts").rglob("model.onnx"))
        cached.write_bytes(b"not an onnx model, swapped in after the hash")  # the race, made certain
        return real(model)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime, "ort_session", swap_then_load)
    model = gitreg.load("m@v1.0.0", registry=str(registry.url))
    assert isinstance(given[0], bytes)
    assert model is not None


def test_load_refuses_a_file_that_changes_while_it_is_read(
    registry: Registry, onnx_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitreg.errors import ArtifactError
    from gitreg.registry import loading

    registry.push_files([onnx_file()], "m", version="1.0.0")
    mv = registry.show("m@v1.0.0")
    path = loading._artifact(registry, mv, "onnx")
    stored = mv.sidecar.stored_files(("onnx",))  # type: ignore[union-attr]
    assert loading._verified_onnx(path, stored, mv.ref) == path.read_bytes()
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="changed on disk"):
        loading._verified_onnx(path, stored, mv.ref)


# -- 4. check compares every pointer with its sidecar entry ---------------------------------------------
def test_check_reports_a_wrong_size_on_a_second_pointer_of_the_same_object(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    oid, size = upload(registry_path, b"the same object, twice")
    text = sidecar("m", "2.0.0", oid, size) + f'[files."extra.bin"]\nsha256 = "{oid}"\nsize = {size + 5}\n'.encode()
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    commit_files(
        work,
        {
            "models/m/model.toml": text,
            "models/m/model.onnx": pointer(oid, size),
            "models/m/extra.bin": pointer(oid, size + 5),  # agrees with its own sidecar entry, not with the object
        },
    )
    tag_at(work, "m@v2.0.0", "HEAD", date="1900000000 +0000")
    assert push(work, "--atomic", "HEAD:main", "refs/tags/m@v2.0.0", hooked=False).returncode == 0
    report = registry.check()
    assert any("m@v2.0.0" in p and "extra.bin" in p and str(size + 5) in p for p in report.problems), report.problems
    c = invoke("check", "--registry", str(registry_path))
    assert c.exit_code == 3, c.stdout + c.stderr
