"""Large models and the files a model needs: ONNX external data and ``files=[...]`` / ``--file``.

Every file is an LFS object in ``models/<name>/`` under its relative name, hashed in the sidecar
(``[artifacts.onnx] data = [...]``, ``[files."<path>"]``), pulled and verified with the model,
checked by ``gitreg check`` and available from ``gitreg.load`` (``predictor.files``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gitreg
from gitreg import Registry
from gitreg.core import sidecar as sidecar_mod
from gitreg.errors import ArtifactError, IntegrityError, SidecarError
from tests.support.cli import invoke
from tests.support.repo import git


def make_external(
    folder: Path, name: str = "model.onnx", location: str = "model.onnx.data", seed: int = 0
) -> tuple[Path, np.ndarray]:
    """A MatMul (N x 4 @ 4 x 3) whose weight is in the external data file ``location``."""
    folder.mkdir(parents=True, exist_ok=True)
    w = np.random.RandomState(seed).randn(4, 3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W")],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = folder / name
    (folder / location).parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        m, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=location, size_threshold=0
    )
    return path, w


def with_location(path: Path, location: str, **entries: str) -> Path:
    """Rewrite the external data entries of ``path``'s weight (without touching any data file)."""
    m = onnx.load(str(path), load_external_data=False)
    t = m.graph.initializer[0]
    del t.external_data[:]
    for k, v in {"location": location, **entries}.items():
        t.external_data.add(key=k, value=v)
    path.write_bytes(m.SerializeToString())
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lfs_object(registry_path: Path, oid: str) -> Path:
    return registry_path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


def test_external_data_is_pushed_pulled_loaded_and_checked(
    registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    path, w = make_external(tmp_path / "export")
    data = path.parent / "model.onnx.data"
    mv = registry.push_files([path], "big")
    sc = mv.sidecar
    assert sc is not None
    assert sc.artifacts["onnx"].extra["data"] == [{"path": "model.onnx.data", "sha256": sha(data), "size": 48}]
    assert [a.path for a in sc.stored_files()] == ["model.onnx", "model.onnx.data"]
    listed = git("--git-dir", str(registry_path), "ls-tree", "--name-only", mv.tag, "models/big/").split()
    assert "models/big/model.onnx.data" in listed
    pointer = git("--git-dir", str(registry_path), "show", f"{mv.tag}:models/big/model.onnx.data")
    assert f"oid sha256:{sha(data)}" in pointer  # an LFS pointer, never the bytes
    assert lfs_object(registry_path, sha(data)).read_bytes() == data.read_bytes()

    pulled = registry.pull("big", tmp_path / "out")
    assert (tmp_path / "out" / "model.onnx.data").read_bytes() == data.read_bytes()
    assert str(tmp_path / "out" / "model.onnx.data") in pulled.files
    only_onnx = registry.pull("big", tmp_path / "onnx-only", format="onnx")
    assert {Path(f).name for f in only_onnx.files} == {"model.onnx", "model.onnx.data", "model.toml"}

    x = np.random.RandomState(1).randn(5, 4).astype(np.float32)
    model = gitreg.load("big", registry=registry)
    np.testing.assert_allclose(model.predict(x), x @ w, rtol=1e-5, atol=1e-6)
    assert model.files == {}
    report = registry.check()
    assert report.ok and report.objects == 2
    assert registry.verify("big", allow_unsigned=True).ok


def test_a_folder_push_takes_the_data_beside_the_model(registry: Registry, tmp_path: Path) -> None:
    make_external(tmp_path / "export", name="net.onnx", location="weights/net.bin")
    (tmp_path / "export" / "unrelated.data").write_bytes(b"not named by the model")
    mv = registry.push_files([tmp_path / "export"], "net")
    assert mv.sidecar is not None
    assert [d["path"] for d in mv.sidecar.artifacts["onnx"].extra["data"]] == ["weights/net.bin"]
    registry.pull("net", tmp_path / "out")
    assert (tmp_path / "out" / "weights" / "net.bin").is_file()
    assert not (tmp_path / "out" / "unrelated.data").exists()
    gitreg.load("net", registry=registry).predict(np.ones((2, 4), np.float32))


def test_a_tampered_data_object_is_caught_by_pull_check_and_load(
    registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    path, _ = make_external(tmp_path / "export")
    registry.push_files([path], "big")
    obj = lfs_object(registry_path, sha(path.parent / "model.onnx.data"))
    os.chmod(obj, 0o644)
    obj.write_bytes(b"\0" * obj.stat().st_size)  # same size, other bytes
    with pytest.raises(IntegrityError):
        registry.pull("big", tmp_path / "out")
    assert not (tmp_path / "out" / "model.onnx.data").exists()
    r = invoke("pull", "big", "-o", str(tmp_path / "out2"), "--registry", str(registry_path))
    assert r.exit_code == 3, r.stderr
    r = invoke("check", "--registry", str(registry_path))
    assert r.exit_code == 3 and "model.onnx.data" in r.stdout + r.stderr
    with pytest.raises(IntegrityError):
        gitreg.load("big", registry=registry)


@pytest.mark.parametrize(
    ("location", "setup", "words"),
    [
        ("../outside.data", "outside", "escape the model's folder"),
        ("/tmp/abs.data", None, "relative path"),
        ("link.data", "symlink", "leads outside the model's folder"),
        ("gone.data", None, "which is missing"),
        ("model.onnx", None, "a name gitreg keeps for model files"),
    ],
)
def test_bad_external_data_locations_are_refused(
    registry: Registry, registry_path: Path, tmp_path: Path, location: str, setup: str | None, words: str
) -> None:
    path, _ = make_external(tmp_path / "export")
    outside = tmp_path / "outside.data"
    outside.write_bytes((path.parent / "model.onnx.data").read_bytes())
    if setup == "symlink":
        (path.parent / "link.data").symlink_to(outside)
    with_location(path, location)
    with pytest.raises(ArtifactError, match=words):
        registry.push_files([path], "bad")
    assert git("--git-dir", str(registry_path), "tag", "--list") == ""


def test_external_bytes_must_lie_inside_their_file(registry: Registry, tmp_path: Path) -> None:
    path, _ = make_external(tmp_path / "export")
    with_location(path, "model.onnx.data", offset="16", length="48")
    with pytest.raises(ArtifactError, match="up to byte 64, but the file has 48 bytes"):
        registry.push_files([path], "bad")
    with_location(path, "model.onnx.data", offset="0", length="40")
    with pytest.raises(ArtifactError, match="40 bytes, but its shape and type need 48"):
        registry.push_files([path], "bad")


def test_files_a_model_needs_are_versioned_with_it(registry: Registry, registry_path: Path, tmp_path: Path) -> None:
    path, _ = make_external(tmp_path / "export")
    tok = tmp_path / "tokenizer.json"
    tok.write_text('{"vocab": ["a", "b"]}')
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "names.txt").write_text("cat\ndog\nbird\n")
    mv = gitreg.push(path, "tok", files=[tok, labels], registry=registry)
    assert mv.sidecar is not None
    assert dict(mv.sidecar.files) == {
        "labels/names.txt": {"sha256": sha(labels / "names.txt"), "size": 13},
        "tokenizer.json": {"sha256": sha(tok), "size": tok.stat().st_size},
    }
    registry.pull("tok", tmp_path / "out")
    assert (tmp_path / "out" / "tokenizer.json").read_text() == tok.read_text()
    assert (tmp_path / "out" / "labels" / "names.txt").read_text() == "cat\ndog\nbird\n"
    only = registry.pull("tok", tmp_path / "files-only", format="files")
    assert sorted(Path(f).name for f in only.files) == ["model.toml", "names.txt", "tokenizer.json"]
    model = gitreg.load("tok", registry=registry)
    assert sorted(model.files) == ["labels/names.txt", "tokenizer.json"]
    assert json.loads(model.files["tokenizer.json"].read_text()) == {"vocab": ["a", "b"]}
    assert registry.check().ok
    obj = lfs_object(registry_path, sha(tok))
    os.chmod(obj, 0o644)
    obj.write_text('{"vocab": ["x", "y"]}')  # same size, other bytes
    report = registry.check()
    assert not report.ok and any("tokenizer.json" in p and "corrupt" in p for p in report.problems)


@pytest.mark.parametrize(("name", "words"), [("model.toml", "gitreg writes itself"), ("README.md", "gitreg writes")])
def test_extra_files_cannot_take_gitregs_names(
    registry: Registry, onnx_file, tmp_path: Path, name: str, words: str
) -> None:
    f = tmp_path / name
    f.write_text("x")
    with pytest.raises(ArtifactError, match=words):
        registry.push_files([onnx_file()], "m", files=[f])
    hidden = tmp_path / ".secret"
    hidden.write_text("x")
    with pytest.raises(ArtifactError, match="hidden"):
        registry.push_files([onnx_file()], "m", files=[hidden])
    path, _ = make_external(tmp_path / "export")
    clash = tmp_path / "model.onnx.data"
    clash.write_text("x")
    with pytest.raises(ArtifactError, match=r"two files would be stored as 'model\.onnx\.data'"):
        registry.push_files([path], "m", files=[clash])


def test_cli_push_with_file_pull_and_check(registry_path: Path, tmp_path: Path) -> None:
    path, _ = make_external(tmp_path / "export")
    tok = tmp_path / "vocab.txt"
    tok.write_text("a\nb\n")
    r = invoke("push", str(path), "--name", "cli", "--file", str(tok), "--registry", str(registry_path), "--json")
    assert r.exit_code == 0, r.stderr
    r = invoke("pull", "cli", "-o", str(tmp_path / "out"), "--registry", str(registry_path), "--json")
    assert r.exit_code == 0, r.stderr
    assert {Path(f).name for f in json.loads(r.stdout)["files"]} >= {"model.onnx", "model.onnx.data", "vocab.txt"}
    assert invoke("check", "--registry", str(registry_path)).exit_code == 0
    shown = invoke("show", "cli", "--registry", str(registry_path), "--json")
    assert "vocab.txt" in shown.stdout and "model.onnx.data" in shown.stdout


def test_sidecar_round_trips_data_and_files_and_refuses_escapes() -> None:
    h = "ab" * 32
    text = textwrap.dedent(
        f"""\
        schema = 1
        [model]
        name = "m"
        version = "1.0.0"
        [artifacts.onnx]
        path = "model.onnx"
        sha256 = "{h}"
        size = 3
        data = [{{path = "model.onnx.data", sha256 = "{h}", size = 9}}]
        [files."tokenizer.json"]
        sha256 = "{h}"
        size = 2
        """
    )
    sc = sidecar_mod.loads(text)
    assert sidecar_mod.loads(sidecar_mod.dumps(sc)) == sc
    assert [(a.kind, a.path) for a in sc.stored_files()] == [
        ("onnx", "model.onnx"),
        ("onnx.data", "model.onnx.data"),
        ("file", "tokenizer.json"),
    ]
    for bad in ("../x.data", "/etc/passwd", "a/../../b", "model.toml"):
        with pytest.raises(SidecarError, match="path"):
            sidecar_mod.loads(text.replace('"model.onnx.data"', json.dumps(bad)))
        with pytest.raises(SidecarError, match="path"):
            sidecar_mod.loads(text.replace('[files."tokenizer.json"]', f"[files.{json.dumps(bad)}]"))


BIG = textwrap.dedent(
    """\
    import os, resource, sys, time
    from pathlib import Path
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    import gitreg
    folder, reg, step = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    rows, cols = 600_000, 1_000  # 2.4 GB of float32: over protobuf's 2 GiB limit
    t0 = time.time()
    if step == "push":
        folder.mkdir()
        data = folder / "model.onnx.data"
        with open(data, "wb") as f:  # sparse: only the first row is written
            f.write(np.arange(cols, dtype=np.float32).tobytes())
            f.truncate(rows * cols * 4)
        w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[rows, cols])
        w.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "model.onnx.data"), ("offset", "0"), ("length", str(rows * cols * 4))):
            w.external_data.add(key=k, value=v)
        g = helper.make_graph(
            [helper.make_node("Gather", ["W", "I"], ["Y"], axis=0)], "g",
            [helper.make_tensor_value_info("I", TensorProto.INT64, ["N"])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", cols])], [w])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        (folder / "model.onnx").write_bytes(m.SerializeToString())
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.time()
        gitreg.Registry(reg).push_files([folder / "model.onnx"], "huge")
    elif step == "pull":
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        gitreg.Registry(reg).pull("huge", folder)
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model = gitreg.load("huge", registry=reg)
        y = model.session.run(None, {"I": np.array([0, 1], dtype=np.int64)})[0]
        assert y.shape == (2, cols) and y[0, 5] == 5.0 and y[1, 5] == 0.0, y[:, :6]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{step}: {time.time() - t0:.1f} s, peak RSS {peak // 1024} MB (before: {base // 1024} MB)")
    print(f"PEAK_MB {peak // 1024} BASE_MB {base // 1024}")
    """
)


@pytest.mark.slow
def test_a_model_over_2gb_is_pushed_pulled_and_loaded(tmp_path: Path) -> None:
    """2.4 GB of weights in external data (sparse on disk): push, pull and load in bounded memory."""
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    if free < 14 * 2**30:  # the sparse source is copied whole: LFS store, pull folder, load cache
        pytest.skip(f"needs ~14 GB free in {tmp_path}, has {free // 2**30} GB")
    script = tmp_path / "big.py"
    script.write_text(BIG)
    reg = tmp_path / "registry.git"
    Registry(reg).init()
    peaks = {}
    for step, folder in (("push", "export"), ("pull", "pulled"), ("load", "unused")):
        p = subprocess.run(
            [sys.executable, str(script), str(tmp_path / folder), str(reg), step],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        assert p.returncode == 0, p.stderr[-3000:]
        print(p.stdout.strip().splitlines()[0])
        words = p.stdout.split()
        peaks[step] = int(words[words.index("PEAK_MB") + 1]) - int(words[words.index("BASE_MB") + 1])
    # gitreg streams the 2.4 GB: push and pull add well under 1.5x the model (3.6 GB) to the process
    assert peaks["push"] < 1024 and peaks["pull"] < 1024, peaks
    assert (tmp_path / "pulled" / "model.onnx.data").stat().st_size == 600_000 * 1_000 * 4
    assert Registry(reg).check().ok


@pytest.mark.http
def test_external_data_and_files_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A smart-HTTP git server and a giftless LFS server: every object goes up, comes down verified."""
    from tests.support.servers import http_registry

    with http_registry(tmp_path / "srv") as srv:
        _, url = srv.create_repo("org/registry.git")
        seed = tmp_path / "seed.git"
        Registry(seed).init()
        git("--git-dir", str(seed), "push", "--quiet", url, "refs/heads/main:refs/heads/main")
        path, w = make_external(tmp_path / "export")
        tok = tmp_path / "tokenizer.json"
        tok.write_text('{"a": 1}')
        Registry(url).push_files([path], "big", files=[tok])
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))  # another machine
        reg = Registry(url)
        reg.pull("big", tmp_path / "out")
        assert (tmp_path / "out" / "model.onnx.data").read_bytes() == (path.parent / "model.onnx.data").read_bytes()
        assert (tmp_path / "out" / "tokenizer.json").read_text() == '{"a": 1}'
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "third-cache"))
        model = gitreg.load("big", registry=url)
        x = np.ones((2, 4), np.float32)
        np.testing.assert_allclose(model.predict(x), x @ w, rtol=1e-5, atol=1e-6)
        assert model.files["tokenizer.json"].read_text() == '{"a": 1}'
        report = Registry(url).check()
        assert report.ok and report.objects == 3, report.problems


def test_the_hook_refuses_a_data_pointer_whose_object_was_never_uploaded(
    registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    path, _ = make_external(tmp_path / "export")
    registry.push_files([path], "big")
    work = tmp_path / "w"
    git("clone", "-q", "--no-checkout", str(registry_path), str(work))
    git("-C", str(work), "-c", "filter.lfs.smudge=", "-c", "filter.lfs.required=false", "checkout", "-q", "main")
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'cd' * 32}\nsize 48\n"
    (work / "models" / "big" / "model.onnx.data").write_text(pointer)
    git("-C", str(work), "-c", "filter.lfs.clean=", "-c", "filter.lfs.process=", "commit", "-qam", "swap the weights")
    p = subprocess.run(["git", "-C", str(work), "push", "origin", "HEAD:main"], capture_output=True, text=True)
    assert p.returncode != 0
    assert "REJECT lfs-object-missing: models/big/model.onnx.data" in p.stderr, p.stderr


def test_progress_line_appears_after_the_delay_and_is_wiped(tmp_path: Path) -> None:
    import io

    from gitreg.cli.progress import Line
    from gitreg.store import lfs

    out = io.StringIO()
    line = Line(out, delay=0, every=0)
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(3_000_000))
    with lfs.reporting(line):
        ptr = lfs.store(src, tmp_path / "lfs")
        lfs.materialize(lfs.object_path(tmp_path / "lfs", ptr.oid), tmp_path / "copy.bin", ptr)
    line.close()
    text = out.getvalue()
    assert "storing blob.bin: 3.0 MB / 3.0 MB (100%)" in text
    assert "fetching copy.bin: 3.0 MB / 3.0 MB (100%)" in text
    assert text.endswith("\r") and text.rstrip("\r").split("\r")[-1].strip() == ""  # wiped at the end
    quiet = io.StringIO()
    late = Line(quiet)  # the default: nothing for the first two seconds
    late("storing x", 1, 2)
    assert quiet.getvalue() == ""


def test_cli_push_and_pull_print_no_progress_off_a_terminal(registry_path: Path, tmp_path: Path) -> None:
    path, _ = make_external(tmp_path / "export")
    r = invoke("push", str(path), "--name", "q", "--registry", str(registry_path))
    assert r.exit_code == 0 and r.stderr == "" and r.stdout == "q@v1.0.0\n"
    r = invoke("pull", "q", "-o", str(tmp_path / "out"), "--registry", str(registry_path))
    assert r.exit_code == 0 and r.stderr == ""


def test_a_checkout_of_the_registry_smudges_data_and_files(
    registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    path, _ = make_external(tmp_path / "export")
    tok = tmp_path / "vocab.txt"
    tok.write_text("a\nb\n")
    registry.push_files([path], "big", files=[tok])
    attrs = git("--git-dir", str(registry_path), "show", "main:models/big/.gitattributes")
    assert "/model.onnx.data filter=lfs" in attrs and "/vocab.txt filter=lfs" in attrs
    work = tmp_path / "checkout"
    git("clone", "-q", str(registry_path), str(work))  # no LFS filter configured here: pointers stay pointers
    for f in ("models/big/vocab.txt", "models/big/model.onnx.data", "models/big/model.toml"):
        got = git("-C", str(work), "check-attr", "filter", "--", f)
        assert got.endswith("lfs") == (not f.endswith(".toml")), got
