"""The streaming ONNX scan: same answers as ``onnx.load`` + ``onnx.checker`` without loading weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from gitreg.errors import ArtifactError, first_line
from gitreg.ml import onnxscan
from gitreg.ml.artifacts import describe_onnx, inspect_onnx
from tests.support.onnxfiles import make_onnx

FLOAT = TensorProto.FLOAT


def old_inspect(path: Path) -> dict:
    """What gitreg did before the scan: parse the whole file, check it by path."""
    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(str(path))
    return describe_onnx(model)


def verdict(fn, path: Path) -> tuple[bool, object]:
    try:
        return True, fn(path)
    except ArtifactError as e:
        return False, e.message.split(": ", 1)[1]  # drop the "<path> is not a valid ONNX model" prefix
    except Exception as e:
        return False, first_line(e)


def save(model: onnx.ModelProto, path: Path, ir: int = 8) -> Path:
    model.ir_version = ir
    path.write_bytes(model.SerializeToString())  # not onnx.save: it would act on data_location
    return path


def matmul_model(w: TensorProto, inputs_too: bool = False, opset: int = 17) -> onnx.ModelProto:
    """``y = x @ W``; with ``inputs_too`` W is also a graph input (IR 3 style)."""
    n_in, n_out = (w.dims[0], w.dims[1]) if len(w.dims) == 2 and min(w.dims) > 0 else (4, 3)
    inputs = [helper.make_tensor_value_info("x", FLOAT, ["batch", n_in])]
    if inputs_too:
        inputs.append(helper.make_tensor_value_info(w.name, w.data_type, list(w.dims)))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", w.name], ["y"])],
        "g",
        inputs,
        [helper.make_tensor_value_info("y", FLOAT, ["batch", n_out])],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="scan-test")


def weights(rows: int = 1000, cols: int = 4, seed: int = 0) -> TensorProto:
    return numpy_helper.from_array(np.random.default_rng(seed).normal(size=(rows, cols)).astype(np.float32), "W")


def float_data_tensor(name: str, dims: list[int], n: int, dtype: int = FLOAT) -> TensorProto:
    """A tensor in float_data/double_data (not raw_data), with ``n`` values whatever ``dims`` say."""
    t = TensorProto(name=name, data_type=dtype, dims=dims)
    (t.double_data if dtype == TensorProto.DOUBLE else t.float_data).extend(np.arange(n, dtype=np.float64).tolist())
    return t


def sklearn_models(tmp: Path) -> list[Path]:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    out = []
    for i, est in enumerate(
        [LogisticRegression(max_iter=200), RandomForestClassifier(n_estimators=15, random_state=0)]
    ):
        est.fit(x, y)
        m = convert_sklearn(est, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=17)
        p = tmp / f"skl{i}.onnx"
        p.write_bytes(m.SerializeToString())
        out.append(p)
    return out


def control_flow_model() -> onnx.ModelProto:
    """Tensors in node attributes (a big Constant, float_data) and an If whose branches hold initializers."""
    big = numpy_helper.from_array(np.arange(3000, dtype=np.float32), "cv")
    then_g = helper.make_graph(
        [helper.make_node("Add", ["c", "tw"], ["o"])],
        "then",
        [],
        [helper.make_tensor_value_info("o", FLOAT, [3000])],
        [numpy_helper.from_array(np.ones(3000, np.float32), "tw")],
    )
    else_g = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["o2"])], "else", [], [helper.make_tensor_value_info("o2", FLOAT, [3000])]
    )
    nodes = [
        helper.make_node("Constant", [], ["c"], value=big),
        helper.make_node("Constant", [], ["d"], value=float_data_tensor("dv", [2000], 2000)),
        helper.make_node("If", ["flag"], ["z"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Add", ["z", "d2"], ["y"]),
    ]
    inits = [
        float_data_tensor("d2", [3000], 3000),
        float_data_tensor("dd", [1500], 1500, TensorProto.DOUBLE),
        TensorProto(name="ii", data_type=TensorProto.INT64, dims=[2000], int64_data=range(2000)),  # copied whole
        TensorProto(name="empty", data_type=FLOAT, dims=[0]),
    ]
    graph = helper.make_graph(
        nodes,
        "cf",
        [helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", FLOAT, [3000])],
        inits,
        doc_string="x" * 5000,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cf")


def valid_models(tmp: Path) -> list[Path]:
    return [
        make_onnx(tmp / "small.onnx"),
        make_onnx(tmp / "padded.onnx", pad=200_000),
        save(matmul_model(weights(2000, 3), inputs_too=True, opset=9), tmp / "ir3.onnx", ir=3),
        save(control_flow_model(), tmp / "cf.onnx"),
        *sklearn_models(tmp),
    ]


def test_agrees_with_onnx_load_on_valid_models(tmp_path: Path) -> None:
    for p in valid_models(tmp_path):
        assert inspect_onnx(p) == old_inspect(p), p.name


def test_initializers_listed_as_inputs_are_not_signature_inputs(tmp_path: Path) -> None:
    p = save(matmul_model(weights(2000, 3), inputs_too=True, opset=9), tmp_path / "m.onnx", ir=3)
    assert [i["name"] for i in inspect_onnx(p)["signature"]["inputs"]] == ["x"]


def test_sklearn_unnamed_dims_and_zipmap(tmp_path: Path) -> None:
    logreg, forest = sklearn_models(tmp_path)
    sig = inspect_onnx(logreg)["signature"]
    assert sig["inputs"] == [{"name": "input", "dtype": "float32", "shape": ["N", 4]}]
    assert [o["dtype"] for o in sig["outputs"]] == ["int64", "sequence_type"]
    assert inspect_onnx(forest)["producer"].startswith("skl2onnx")


def test_skeleton_holds_no_weights(tmp_path: Path) -> None:
    p = make_onnx(tmp_path / "m.onnx", pad=1_000_000)
    sk = onnxscan.scan(p)
    assert p.stat().st_size > 1_000_000 and len(sk.model) < 1000
    onnx.checker.check_model(sk.model)
    assert [t.name for t in sk.tensors] == ["pad"]  # W (48 B) is small enough to be copied whole
    cf = onnxscan.scan(save(control_flow_model(), tmp_path / "cf.onnx"))
    assert {t.name for t in cf.tensors} == {"cv", "dv", "tw", "d2", "dd"}


def raw_too_small() -> onnx.ModelProto:
    w = weights()
    w.raw_data = w.raw_data[:-4]
    return matmul_model(w)


def negative_dim() -> onnx.ModelProto:
    w = weights()
    w.dims[0] = -1000
    return matmul_model(w)


def zero_elements_with_data() -> onnx.ModelProto:
    w = weights()
    w.dims[0] = 0
    return matmul_model(w)


def float_data_too_small() -> onnx.ModelProto:
    return matmul_model(float_data_tensor("W", [1000, 4], 3999))


def double_data_too_small() -> onnx.ModelProto:
    return matmul_model(float_data_tensor("W", [1000, 4], 3999, TensorProto.DOUBLE))


def int4_raw_too_small() -> onnx.ModelProto:
    t = TensorProto(name="W", data_type=TensorProto.INT4, dims=[1000, 9], raw_data=b"\x11" * 4499)
    return matmul_model(t)


def float6_bad_padding() -> onnx.ModelProto:
    t = TensorProto(name="W", data_type=TensorProto.FLOAT6E2M3, dims=[5001], raw_data=b"\0" * 3750 + b"\xff")
    return matmul_model(t)


def string_in_raw() -> onnx.ModelProto:
    return matmul_model(TensorProto(name="W", data_type=TensorProto.STRING, dims=[5000], raw_data=b"a" * 5000))


def wrong_field_for_type() -> onnx.ModelProto:
    t = float_data_tensor("W", [1000, 4], 4000)
    t.data_type = TensorProto.INT64
    return matmul_model(t)


def two_payloads() -> onnx.ModelProto:
    w = weights()
    w.float_data.extend([1.0] * 4000)
    return matmul_model(w)


def external_without_location() -> onnx.ModelProto:
    w = weights()
    w.data_location = TensorProto.EXTERNAL
    return matmul_model(w)


@pytest.mark.parametrize(
    "build",
    [
        raw_too_small,
        negative_dim,
        zero_elements_with_data,
        float_data_too_small,
        double_data_too_small,
        int4_raw_too_small,
        float6_bad_padding,
        string_in_raw,
        wrong_field_for_type,
        two_payloads,
    ],
)
def test_checker_failures_on_skipped_payloads_are_the_checkers(tmp_path: Path, build) -> None:
    p = save(build(), tmp_path / "bad.onnx")
    ok_old, old = verdict(old_inspect, p)
    ok_new, new = verdict(inspect_onnx, p)
    assert not ok_old and not ok_new
    assert new == old


def test_external_data_without_a_file_is_refused_and_with_one_accepted(tmp_path: Path) -> None:
    p = save(external_without_location(), tmp_path / "ext.onnx")
    with pytest.raises(ArtifactError, match="external data file"):
        inspect_onnx(p)
    m = matmul_model(weights())
    m.ir_version = 8
    q = tmp_path / "ext2.onnx"
    onnx.save_model(
        m, str(q), save_as_external_data=True, all_tensors_to_one_file=True, location="ext2.onnx.data", size_threshold=0
    )
    assert inspect_onnx(q)["ir_version"] == 8  # the data file beside it is checked and stored with it
    (tmp_path / "ext2.onnx.data").unlink()
    with pytest.raises(ArtifactError, match=r"external data file 'ext2\.onnx\.data', which is missing"):
        inspect_onnx(q)


@pytest.mark.parametrize("data", [b"this is not protobuf \x00\xff" * 10, b"hello world\n", b"\x08", b"\x3a\xff\xff"])
def test_garbage_is_not_onnx(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "bad.onnx"
    p.write_bytes(data)
    with pytest.raises(ArtifactError, match="is not a valid ONNX model"):
        inspect_onnx(p)


def test_truncated_files_are_not_onnx(tmp_path: Path) -> None:
    full = make_onnx(tmp_path / "m.onnx", pad=100_000).read_bytes()
    p = tmp_path / "cut.onnx"
    for cut in (1, 10, 40, 100, len(full) // 2, len(full) - 60, len(full) - 1):
        p.write_bytes(full[:cut])
        assert verdict(old_inspect, p)[0] is False, cut
        with pytest.raises(ArtifactError, match="is not a valid ONNX model"):
            inspect_onnx(p)


def fuzz_base() -> tuple[bytes, list[int]]:
    """A model with payloads above DESCEND in an initializer and in a node attribute, and the
    offsets of its structure (everything but the payloads' insides), where mutations are telling."""
    w = weights(1200, 3)
    k = float_data_tensor("k", [1100], 1100)
    m = matmul_model(w)
    m.graph.node.insert(0, helper.make_node("Constant", [], ["unused"], value=k))
    m.ir_version = 8
    data = m.SerializeToString()
    payloads = [w.raw_data, np.asarray(k.float_data, dtype=np.float32).tobytes()]
    starts = [data.find(pl) for pl in payloads]
    assert -1 not in starts
    edge = 64
    hot = [
        i
        for i in range(len(data))
        if not any(s + edge <= i < s + len(pl) - edge for s, pl in zip(starts, payloads, strict=True))
    ]
    return data, hot


FUZZ_BASE = fuzz_base()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutations_get_the_same_verdict(tmp_path: Path, data: st.DataObject) -> None:
    """Random truncations and byte flips: accepted exactly when onnx.load + checker accept, same answer."""
    raw, hot = FUZZ_BASE
    base = bytearray(raw)
    if data.draw(st.booleans(), label="truncate"):
        base = base[: data.draw(st.integers(1, len(base) - 1), label="cut")]
    else:
        for _ in range(data.draw(st.integers(1, 3), label="flips")):
            base[data.draw(st.sampled_from(hot), label="at")] = data.draw(st.integers(0, 255), label="to")
    p = tmp_path / "fuzz.onnx"
    p.write_bytes(bytes(base))
    ok_old, old = verdict(old_inspect, p)
    ok_new, new = verdict(inspect_onnx, p)
    assert ok_new == ok_old, (old, new)
    if ok_old:
        assert new == old
