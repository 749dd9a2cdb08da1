"""The parity rule and the predictor's input checks: pure numpy, no runtimes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gitreg.errors import InputError
from gitreg.ml import parity
from gitreg.ml.predictor import check_input, read_array_file, softmax


def test_rule_is_atol_plus_rtol_times_reference() -> None:
    ref = np.array([[1.0, 0.0], [100.0, -2.0]])
    ok = ref + np.array([[1e-5 + 1e-4 * 1.0, 1e-5], [1e-5 + 1e-2, 0.0]]) * 0.999
    assert parity.compare("ort", ok, "eager", ref).passed
    bad = ref.copy()
    bad[0, 1] = 2e-5  # near zero only atol helps: 2e-5 > 1e-5
    pair = parity.compare("ort", bad, "eager", ref, classifier=True)
    assert not pair.passed and pair.worst_index == (0, 1)
    assert pair.max_rel == np.inf and pair.max_abs == pytest.approx(2e-5)
    assert pair.argmax_agreement == 1.0
    assert "worst element [0,1] is 2e-05 vs 0" in pair.describe()


def test_shape_mismatch_and_column_vectors() -> None:
    a = np.arange(6.0)
    assert parity.compare("ort", a.reshape(6, 1), "sk", a).passed  # (n, 1) against (n,)
    pair = parity.compare("ort", a.reshape(2, 3), "sk", a.reshape(3, 2))
    assert not pair.passed and "shape (2, 3) differs from (3, 2)" in pair.problem
    nan = np.array([1.0, np.nan])
    assert parity.compare("a", nan, "b", nan.copy()).passed
    assert not parity.compare("a", np.array([1.0, 2.0]), "b", nan).passed


def test_report_section_and_argmax_agreement() -> None:
    ref = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.1]])
    flipped = ref.copy()
    flipped[2] = [0.1, 0.2]
    rep = parity.check({"eager": ref, "ts": ref.copy(), "ort": flipped}, "eager", classifier=True)
    sec = rep.to_section()
    assert sec["passed"] is False and sec["samples"] == 3
    assert sec["ts_vs_eager"]["passed"] is True and sec["ts_vs_eager"]["max_abs_error"] == 0.0
    assert sec["ort_vs_eager"]["argmax_agreement"] == pytest.approx(2 / 3)
    assert rep.message().startswith("parity failed (rtol=0.0001, atol=1e-05): ort vs eager")


@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(1, 5)), elements=st.floats(-1e3, 1e3, width=32)))
def test_identical_outputs_always_pass(x: np.ndarray) -> None:
    pair = parity.compare("a", x.copy(), "b", x)
    assert pair.passed and pair.max_abs == 0.0


def test_batched_matches_one_call() -> None:
    x = np.arange(50.0).reshape(25, 2)
    assert np.array_equal(parity.batched(lambda a: a * 2, x, batch=4), x * 2)


def test_check_input_casts_and_explains() -> None:
    spec = {"name": "input", "dtype": "float32", "shape": ["N", 3]}
    out = check_input([[1, 2, 3]], spec)
    assert out.dtype == np.float32 and out.shape == (1, 3)
    with pytest.raises(InputError, match=r"X has 2 features; the model takes 3 \(shape \(4, 2\)\)"):
        check_input(np.zeros((4, 2)), spec)
    with pytest.raises(InputError, match=r"takes 2-D input \(N, 3\) \(for one sample use X.reshape\(1, -1\)\)"):
        check_input(np.zeros(3), spec)
    with pytest.raises(InputError, match="is empty"):
        check_input(np.zeros((0, 3)), spec)
    with pytest.raises(InputError, match="dtype object"):
        check_input(np.array([[1, None, 3]], dtype=object), spec)
    img = {"dtype": "float32", "shape": ["N", 1, 8, 8]}
    with pytest.raises(InputError, match="7 entries on axis 2"):
        check_input(np.zeros((2, 1, 7, 8)), img)


def test_softmax_rows_sum_to_one() -> None:
    p = softmax(np.array([[1000.0, 1000.0], [0.0, -1000.0]]))
    assert np.allclose(p.sum(axis=1), 1.0) and np.allclose(p[0], 0.5)


def test_data_files(tmp_path) -> None:
    x = np.arange(6.0).reshape(3, 2)
    np.savez(tmp_path / "d.npz", X=x, y=np.array([0, 1, 0]))
    got, y = read_array_file(str(tmp_path / "d.npz"))
    assert np.array_equal(got, x) and list(y) == [0, 1, 0]
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    got, y = read_array_file(str(tmp_path / "d.csv"), target="label")
    assert got.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    with pytest.raises(InputError, match="no column 'target'"):
        read_array_file(str(tmp_path / "d.csv"), target="target")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="cannot read"):
        read_array_file(str(tmp_path / "o.npy"))  # never unpickles
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(InputError, match="unsupported data file"):
        read_array_file(str(tmp_path / "x.txt"))
