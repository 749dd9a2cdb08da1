"""Inputs by name: arrays, tuples, dicts, tables and data files mapped onto a signature's inputs
(gitreg.ml.predictor.arrange, read_array_file). Pure numpy: no model runs here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gitreg.errors import InputError
from gitreg.ml.predictor import Columns, arrange, read_array_file, run_error

TEXT = [
    {"name": "input_ids", "dtype": "int64", "shape": ["N", "seq"]},
    {"name": "attention_mask", "dtype": "int64", "shape": ["N", "seq"]},
    {"name": "features", "dtype": "float32", "shape": ["N", 3]},
]


def _batch(rows: int = 4, seq: int = 5) -> dict[str, np.ndarray]:
    return {
        "input_ids": np.arange(rows * seq).reshape(rows, seq),
        "attention_mask": np.ones((rows, seq), dtype=np.int64),
        "features": np.zeros((rows, 3)),
    }


def test_tuple_dict_and_positional_forms_agree_and_are_cast() -> None:
    b = _batch()
    by_name = arrange(TEXT, b)
    by_position = arrange(TEXT, tuple(b.values()))
    assert all(np.array_equal(a, c) for a, c in zip(by_name, by_position))
    assert by_name[2].dtype == np.float32 and by_name[0].dtype == np.int64
    reordered = arrange(TEXT, {k: b[k] for k in ("features", "attention_mask", "input_ids")})
    assert np.array_equal(reordered[0], b["input_ids"])


def test_symbols_must_agree_and_names_must_match() -> None:
    b = _batch()
    with pytest.raises(InputError, match=r"input 'attention_mask' has 6 on axis 1 \(seq\) but input 'input_ids' has 5"):
        arrange(TEXT, {**b, "attention_mask": np.ones((4, 6), dtype=np.int64)})
    with pytest.raises(InputError, match="input 'features' has 2 rows but input 'input_ids' has 4"):
        arrange(TEXT, {**b, "features": np.zeros((2, 3))})
    with pytest.raises(InputError, match=r"no data for input\(s\) 'features': the model takes input_ids"):
        arrange(TEXT, {k: b[k] for k in ("input_ids", "attention_mask")})
    with pytest.raises(InputError, match="'extra' is not an input of the model"):
        arrange(TEXT, {**b, "extra": np.zeros(4)})
    with pytest.raises(
        InputError, match=r"the model takes 3 input\(s\) \(input_ids, attention_mask, features\), got 2"
    ):
        arrange(TEXT, (b["input_ids"], b["attention_mask"]))
    with pytest.raises(InputError, match="input 'features' has 4 features; the model takes 3"):
        arrange(TEXT, {**b, "features": np.zeros((4, 4))})
    seq = [{"name": "tokens", "dtype": "int64", "shape": ["N", 8]}]
    with pytest.raises(InputError, match="X has 5 entries on axis 1; the model takes 8"):  # not "features"
        arrange(seq, np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(InputError, match="input 'input_ids' has fractional values; the model takes int64"):
        arrange(TEXT, {**b, "input_ids": b["input_ids"] + 0.5})
    assert arrange(TEXT, {**b, "input_ids": b["input_ids"] * 1.0})[0].dtype == np.int64  # whole floats are cast
    fixed = [{"name": "x", "dtype": "float32", "shape": [2, 4]}]
    with pytest.raises(InputError, match="X has 5 rows; the model was exported with a fixed batch of 2"):
        arrange(fixed, np.zeros((5, 4)))


def test_columns_reorder_by_name_and_feed_one_input_per_column() -> None:
    matrix = [{"name": "X", "dtype": "float32", "shape": ["N", 2], "columns": ["a", "b"]}]
    table = Columns(b=np.array([3.0, 4.0]), a=np.array([1.0, 2.0]))
    (x,) = arrange(matrix, table)
    assert x.tolist() == [[1, 3], [2, 4]]  # the signature's order, not the table's
    with pytest.raises(InputError, match=r"the data has no column\(s\) 'b' \(the model takes a, b\)"):
        arrange(matrix, Columns(a=np.array([1.0]), c=np.array([2.0])))
    per_column = [
        {"name": "city", "dtype": "object", "shape": ["N", 1]},
        {"name": "size", "dtype": "float32", "shape": ["N", 1]},
    ]
    city, size = arrange(per_column, Columns(size=np.array([1.0, 2.0]), city=np.array(["a", "b"], dtype=object)))
    assert city.shape == (2, 1) and city.dtype == object and size.dtype == np.float32


class _Frame:
    """Enough of a pandas DataFrame for duck typing (pandas is not a dependency)."""

    def __init__(self, **cols: np.ndarray) -> None:
        self._cols = cols
        self.columns = list(cols)
        self.iloc = None

    def __getitem__(self, name: str) -> np.ndarray:
        return _Series(self._cols[name])

    def to_numpy(self) -> np.ndarray:
        return np.column_stack(list(self._cols.values()))


class _Series:
    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def to_numpy(self) -> np.ndarray:
        return self.values


def test_a_dataframe_maps_by_name() -> None:
    b = _batch()
    frame = _Frame(features=b["features"][:, 0], other=np.zeros(4))
    matrix = [{"name": "X", "dtype": "float32", "shape": ["N", 2], "columns": ["other", "features"]}]
    (x,) = arrange(matrix, frame)
    assert x.shape == (4, 2)


def test_data_files_one_array_per_input_csv_columns_and_parquet(tmp_path: Path) -> None:
    b = _batch()
    np.savez(tmp_path / "d.npz", **b, y=np.arange(4))
    x, y = read_array_file(str(tmp_path / "d.npz"))
    assert set(x) == set(b) and y.tolist() == [0, 1, 2, 3]
    assert len(arrange(TEXT, x)) == 3
    (tmp_path / "t.csv").write_text("size,city,label\n1.5,paris,0\n2,rome,1\n")
    table, y = read_array_file(str(tmp_path / "t.csv"), target="label")
    assert list(table) == ["size", "city"] and table["city"].tolist() == ["paris", "rome"] and y.tolist() == [0, 1]
    (tmp_path / "n.csv").write_text("b,a\n3,1\n4,2\n")
    named, _ = read_array_file(str(tmp_path / "n.csv"))
    assert named.tolist() == [[3, 1], [4, 2]]  # still a matrix
    matrix = [{"name": "X", "dtype": "float32", "shape": ["N", 2], "columns": ["a", "b"]}]
    assert arrange(matrix, named)[0].tolist() == [[1, 3], [2, 4]]
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    if importlib.util.find_spec("pyarrow") is None:
        with pytest.raises(InputError, match="needs pyarrow, which is not installed"):
            read_array_file(str(tmp_path / "d.parquet"))


def test_onnxruntime_refusals_become_one_line() -> None:
    e = RuntimeError(
        "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x for the following "
        "indices\n index: 0 Got: 5 Expected: 2\n Please fix either the inputs/outputs or the model."
    )
    err = run_error(e, "m@v1.0.0")
    assert err.message.startswith("input 'x' has 5 on axis 0; m@v1.0.0 takes 2") and "\n" not in err.message
