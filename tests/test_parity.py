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


def test_elementwise_rule_is_atol_plus_rtol_times_reference() -> None:
    ref = np.array([[1.0, 0.0], [100.0, -2.0]])
    ok = ref + np.array([[1e-5 + 1e-4 * 1.0, 1e-5], [1e-5 + 1e-2, 0.0]]) * 0.999
    assert parity.compare("ort", ok, "eager", ref, 1e-4, 1e-5).passed
    bad = ref.copy()
    bad[0, 1] = 2e-5  # near zero only atol helps: 2e-5 > 1e-5
    pair = parity.compare("ort", bad, "eager", ref, 1e-4, 1e-5, classifier=True)
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
    rep = parity.check({"eager": ref, "ts": ref.copy(), "ort": flipped}, "eager", 1e-4, 1e-5, classifier=True)
    sec = rep.to_section()
    assert sec["passed"] is False and sec["samples"] == 3 and sec["criterion"] == "elementwise"
    assert sec["ts_vs_eager"]["passed"] is True and sec["ts_vs_eager"]["max_abs_error"] == 0.0
    assert sec["ort_vs_eager"]["argmax_agreement"] == pytest.approx(2 / 3)
    assert rep.message().startswith("parity failed (rtol=0.0001, atol=1e-05): ort vs eager")


def test_scale_criterion_judges_error_against_the_outputs_scale() -> None:
    rng = np.random.default_rng(0)
    for scale in (1e-9, 1.0, 1e4):  # the same relative error passes or fails whatever the scale
        ref = rng.standard_normal((50, 10)) * scale
        rms = float(np.sqrt(np.mean(ref**2)))
        near = ref.copy()
        near[3, 4] += 0.9e-4 * rms
        pair = parity.compare("ort", near, "eager", ref)
        assert pair.passed and pair.scale == pytest.approx(rms) and pair.scale_error == pytest.approx(0.9e-4)
        far = ref * 1.01  # a wrong constant: 1% everywhere
        assert not parity.compare("ort", far, "eager", ref).passed
    tiny = rng.standard_normal((8, 4)) * 1e-9
    assert parity.compare("ort", tiny * 1.01, "eager", tiny, 1e-4, 1e-5).passed  # what atol let through
    rep = parity.check({"eager": tiny, "ort": tiny * 1.01}, "eager")
    sec = rep.to_section()
    assert sec["criterion"] == "scale" and sec["tolerance"] == 1e-4 and "rtol" not in sec
    assert {"scale", "scale_error", "max_abs_error", "max_rel_error"} <= set(sec["ort_vs_eager"])
    assert rep.message().startswith("parity failed (error <= 0.0001 x each output's scale, labels equal): ort vs")
    labels = np.array([0, 1, 2, 1])
    assert not parity.compare("ort", np.array([0, 1, 2, 2]), "sk", labels).passed  # integer labels: exact
    assert parity.compare("ort", labels.copy(), "sk", labels).passed


def test_labels_must_agree_unless_the_reference_is_tied() -> None:
    ref = np.array([[2.0, 1.0, 0.0], [0.5, 0.5 + 1e-7, 0.0], [0.0, 1.0, 3.0]] * 4)
    tie = ref.copy()
    tie[1] = [0.5 + 1e-7, 0.5, 0.0]  # within the allowed error: either label is right
    pair = parity.compare("ort", tie, "eager", ref, classifier=True)
    assert pair.passed and pair.label_flips == 0 and pair.argmax_agreement == pytest.approx(11 / 12)
    flipped = ref.copy()
    flipped[2] = [0.0, 3.0, 1.0]
    pair = parity.compare("ort", flipped, "eager", ref, tolerance=10.0, classifier=True)  # values "within" 10x scale
    assert not pair.passed and pair.label_flips == 1
    assert "1 of 12 labels differ (first: row 2, class 1 vs 2" in pair.describe()


def test_sliced_runs_single_rows_then_slices() -> None:
    calls: list[int] = []

    def run(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x * 2

    x = np.arange(40.0).reshape(20, 2)
    out = parity.sliced(run, singles=3, small=17)(x)
    assert np.array_equal(out, x * 2) and calls == [1, 1, 1, 7, 7, 3]


@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(1, 5)), elements=st.floats(-1e3, 1e3, width=32)))
def test_identical_outputs_always_pass(x: np.ndarray) -> None:
    pair = parity.compare("a", x.copy(), "b", x)
    assert pair.passed and pair.max_abs == 0.0
    assert parity.compare("a", x.copy(), "b", x, 1e-4, 1e-5).passed


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
