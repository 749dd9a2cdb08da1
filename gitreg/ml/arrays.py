"""Data handed in by users — numpy arrays, pandas frames, torch tensors, nested lists — as numpy arrays.

One rule for "numeric" everywhere a model is fed or scored: numbers and booleans are, anything else
(strings, objects, datetimes) is not. :func:`numeric_array` is what the predictor, the exporters and
evaluation call on user data, so the same input is accepted or refused with the same message by all
of them. pandas and torch are recognised by duck typing, never imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gitreg.errors import InputError

__all__ = ["as_array", "is_numeric", "numeric_array"]


def as_array(x: Any, what: str) -> np.ndarray:
    """``x`` as a numpy array (a DataFrame's values, a tensor's data on the CPU); InputError when it is none."""
    if hasattr(x, "to_numpy"):  # pandas DataFrame / Series
        x = x.to_numpy()
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # ragged nested lists and the like
        raise InputError(f"{what} is not an array: {e}") from None


def is_numeric(dtype: np.dtype[Any]) -> bool:
    """Numbers or booleans: what a model takes and what can be cast to float without surprises."""
    return bool(np.issubdtype(dtype, np.number) or dtype == np.bool_)


def numeric_array(x: Any, what: str, need: str = "give numbers") -> np.ndarray:
    """``x`` as a numeric numpy array (dtype unchanged); InputError ``"<what> has dtype <U5; <need>"`` otherwise."""
    arr = as_array(x, what)
    if not is_numeric(arr.dtype):
        raise InputError(f"{what} has dtype {arr.dtype}; {need}")
    return arr
