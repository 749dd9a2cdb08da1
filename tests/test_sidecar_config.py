"""Sidecar schema and registry configuration (pure parts)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg.core import settings, sidecar
from gitreg.core.sidecar import Artifact, Sidecar
from gitreg.errors import MetadataError, SidecarError
from gitreg.ml import metadata
from gitreg.store import location

SHA = "a" * 64


def make(**kw) -> Sidecar:
    base = dict(
        model={"name": "digits", "version": "1.0.0", "created": "2026-01-01T00:00:00Z"},
        artifacts={"onnx": Artifact("onnx", "model.onnx", SHA, 10, {"opset": 17})},
    )
    base.update(kw)
    return Sidecar(**base)


floats = st.floats(allow_nan=False, allow_infinity=True) | st.integers(-(2**53), 2**53)


@given(st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9_]{0,10}\Z"), floats, max_size=6))
def test_round_trip_is_identity(metrics: dict) -> None:
    sc = make(metrics=metrics, params={"lr": 0.1, "layers": [64, 32], "opt": "adam"})
    again = sidecar.loads(sidecar.dumps(sc))
    assert again == sc
    assert sidecar.dumps(again) == sidecar.dumps(sc)  # canonical: stable text


def test_canonical_order_and_none_dropped() -> None:
    text = sidecar.dumps(make(metrics={"b": 1.0, "a": 2.0}, params={"x": None}))
    assert text.startswith("schema = 1\n")
    assert text.index("[model]") < text.index("[artifacts.onnx]") < text.index("[metrics]")
    assert text.index("a = 2.0") < text.index("b = 1.0")
    assert "[params]" not in text  # only held a None


def test_unknown_sections_survive() -> None:
    text = sidecar.dumps(make()) + '\n[future]\nkey = "value"\n'
    sc = sidecar.loads(text)
    assert sc.extra == {"future": {"key": "value"}}
    assert "[future]" in sidecar.dumps(sc)


@pytest.mark.parametrize(
    "text, msg",
    [
        ("not toml [", "corrupt sidecar"),
        ("schema = 1\n", r"\[model\]"),
        (
            'schema = 1\n[model]\nname = "a"\nversion = "1.0.0"\n[artifacts.onnx]\npath = "m.onnx"\n'
            'sha256 = "xyz"\nsize = 1\n',
            "sha256",
        ),
        (
            'schema = 1\n[model]\nname = "a"\nversion = "1.0.0"\n[artifacts.onnx]\npath = "../m.onnx"\n'
            f'sha256 = "{SHA}"\nsize = 1\n',
            "plain file name",
        ),
        ('schema = "1"\n', "schema"),
    ],
)
def test_corrupt_sidecars(text: str, msg: str) -> None:
    with pytest.raises(SidecarError, match=msg):
        sidecar.loads(text, "x@v1:models/x/model.toml")


def test_newer_schema_asks_for_upgrade() -> None:
    with pytest.raises(SidecarError) as e:
        sidecar.loads('schema = 99\n[model]\nname = "a"\nversion = "1.0.0"\n')
    assert "upgrade" in (e.value.hint or "")


def test_metrics_parsing(tmp_path: Path) -> None:
    assert metadata.metrics_from_pairs(["acc=0.9", "n=3"]) == {"acc": 0.9, "n": 3}
    with pytest.raises(MetadataError, match="must be a number"):
        metadata.metrics_from_pairs(["acc=high"])
    with pytest.raises(MetadataError, match="KEY=VALUE"):
        metadata.metrics_from_pairs(["acc"])
    j = tmp_path / "m.json"
    j.write_text('{"test": {"acc": 0.5}, "loss": 1}')
    assert metadata.metrics_from_file(j) == {"test.acc": 0.5, "loss": 1}
    t = tmp_path / "m.toml"
    t.write_text("acc = 0.75\n")
    assert metadata.metrics_from_file(t) == {"acc": 0.75}
    bad = tmp_path / "bad.txt"
    bad.write_text("acc: [0.9")
    with pytest.raises(MetadataError, match="neither JSON nor TOML"):
        metadata.metrics_from_file(bad)
    s = tmp_path / "s.json"
    s.write_text('{"acc": "0.9"}')
    with pytest.raises(MetadataError, match="must be a number"):
        metadata.metrics_from_file(s)
    nan = tmp_path / "nan.toml"
    nan.write_text("x = nan\n")
    assert math.isnan(metadata.metrics_from_file(nan)["x"])


def test_params_are_typed() -> None:
    assert [metadata.parse_scalar(v) for v in ["3", "0.5", "true", "adam", "1e-3"]] == [
        3,
        0.5,
        True,
        "adam",
        1e-3,
    ]


def test_data_fingerprint(tmp_path: Path) -> None:
    import numpy as np

    npz = tmp_path / "d.npz"
    np.savez(npz, X=np.zeros((7, 3), dtype=np.float32), y=np.zeros(7))
    fp = metadata.data_fingerprint(npz)
    assert fp["rows"] == 7 and fp["size"] == npz.stat().st_size and len(fp["sha256"]) == 64
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    assert metadata.data_fingerprint(csv)["rows"] == 2
    with pytest.raises(MetadataError, match="not found"):
        metadata.data_fingerprint(tmp_path / "missing.npz")


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "pyproject.toml").write_text('[tool.gitreg]\nregistry = "regs/team.git"\n')
    monkeypatch.chdir(proj / "sub")
    loc = location.resolve()
    assert loc.source == "pyproject" and loc.path == (proj / "regs" / "team.git").resolve()
    monkeypatch.setenv("GITREG_REGISTRY", str(tmp_path / "env.git"))
    assert location.resolve().source == "env"
    assert location.resolve("https://host/org/reg.git").url == "https://host/org/reg.git"
    assert location.resolve("https://host/org/reg.git").path is None
    monkeypatch.delenv("GITREG_REGISTRY")
    (proj / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    loc = location.resolve()
    assert loc.is_default and loc.path == Path(monkeypatch_env("XDG_DATA_HOME")) / "gitreg" / "registry.git"


def monkeypatch_env(key: str) -> str:
    import os

    return os.environ[key]


def test_file_urls_and_scp_urls() -> None:
    loc = location.location_from("file:///tmp/x/reg.git", "option")
    assert loc.path == Path("/tmp/x/reg.git") and loc.url == "file:///tmp/x/reg.git"
    assert location.location_from("git@github.com:org/reg.git", "option").path is None


def test_registry_config_defaults_and_parse() -> None:
    cfg = settings.RegistryConfig.parse(settings.GITREG_TOML)
    assert cfg.stages == ("staging", "production") and cfg.tolerance == 1e-4 and cfg.rtol is None
    assert settings.RegistryConfig.parse(None).stages == ("staging", "production")
