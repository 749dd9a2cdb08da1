"""``gitreg push --from-python``: how the command line's values combine with what the training function returns.

The training function (see :mod:`gitreg.ml.training`) returns the model or a dict of
:func:`gitreg.push` keywords. The rules, in one place:

- ``model`` is taken out; a ``name`` in the dict is dropped (``--name`` decides);
- ``metrics``, ``params`` and ``labels`` merge key by key, the command line's value winning;
- any other option given on the command line (not ``None``, not an empty list) replaces the dict's;
- the flags ``script``, ``allow_parity_failure`` and ``sign`` are on when either side turns them on;
- a torch or scikit-learn model needs example inputs: ``--example-inputs FILE`` (.npy, .npz ``X``, .csv)
  gives them (over the dict's); when neither side supplies ``example_inputs`` or ``eval_data``, the first
  ``--data`` .npz does: ``X[:16]`` as example inputs and ``(X, y)`` as eval data (every row also goes
  through the parity check). Without any of these the push stops with one line saying so.

Model tooling only: nothing here knows a registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.errors import UsageError

MERGED = ("metrics", "params", "labels")
FLAGS = ("script", "allow_parity_failure", "sign")
EXAMPLE_ROWS = 16  # rows of --data's X used as example inputs (all of them go through parity as eval data)


def merge(
    returned: Mapping[str, Any],
    *,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    script: bool = False,
    allow_parity_failure: bool = False,
    sign: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """``(model, keywords for gitreg.push)`` from the training function's dict and the command line's values.

    ``returned`` must hold ``model``; ``options`` are the other command-line values (``version``,
    ``bump``, ``description``, ``parent``, ``data``, ``registry``, …), ``None`` or ``[]`` when not given.
    """
    kwargs = dict(returned)
    model = kwargs.pop("model")
    kwargs.pop("name", None)  # --name decides
    given = {"metrics": metrics, "params": params, "labels": labels}
    for key in MERGED:
        kwargs[key] = {**(kwargs.get(key) or {}), **(given[key] or {})}
    kwargs.update({k: v for k, v in (options or {}).items() if v is not None and not (isinstance(v, list) and not v)})
    flags = {"script": script, "allow_parity_failure": allow_parity_failure, "sign": sign}
    for key in FLAGS:
        kwargs[key] = flags[key] or bool(kwargs.get(key))
    return model, kwargs


def push_arguments(
    spec: str, *, example_inputs: str | None = None, data: Sequence[str] = (), **command_line: Any
) -> tuple[Any, dict[str, Any]]:
    """Call the training function ``spec`` (``MODULE:FUNCTION`` or ``path/to/train.py:FUNCTION``),
    :func:`merge` its result with ``command_line`` (the keywords of :func:`merge`), and supply inputs
    from ``example_inputs`` (a file) and ``data`` (files) as the module docstring says."""
    from gitreg.ml import training

    model, kwargs = merge(training.call(spec), **command_line)
    return model, with_inputs(spec, model, kwargs, example_inputs, data)


def with_inputs(
    spec: str, model: Any, kwargs: Mapping[str, Any], example_inputs: str | None, data: Sequence[str]
) -> dict[str, Any]:
    """``kwargs`` with ``example_inputs``/``eval_data`` read from the files; UsageError when a live
    model is left with neither."""
    from gitreg.ml.predictor import head, read_array_file

    out = dict(kwargs)
    if example_inputs is not None:
        out["example_inputs"] = read_array_file(example_inputs)[0]
    if out.get("example_inputs") is not None or out.get("eval_data") is not None:
        return out
    kind = _kind(model)
    if kind not in ("torch", "sklearn"):
        return out  # files need no inputs; anything else fails in push with its own message
    npz = next((d for d in data if Path(d).suffix.lower() == ".npz"), None)
    if npz is None:
        what = "a torch" if kind == "torch" else "a scikit-learn"
        raise UsageError(
            f"{spec} returned {what} model and nothing gives example inputs: pass --example-inputs FILE "
            "(.npy, .npz or .csv) or --data FILE (.npz with X, y), or return a dict with example_inputs/eval_data"
        )
    x, y = read_array_file(npz)
    out["example_inputs"] = head(x, EXAMPLE_ROWS)  # X, or one array per input name
    if y is not None:
        out["eval_data"] = (x, y)
    return out


def _kind(model: Any) -> str | None:
    from gitreg.errors import UnsupportedModel
    from gitreg.ml.export import kind_of

    try:
        return kind_of(model)
    except UnsupportedModel:
        return None
