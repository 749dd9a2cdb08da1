"""``gitreg push --from-python``: how the command line's values combine with what the training function returns.

The training function (see :mod:`gitreg.ml.training`) returns the model or a dict of
:func:`gitreg.push` keywords. The rules, in one place:

- ``model`` is taken out; a ``name`` in the dict is dropped (``--name`` decides);
- ``metrics``, ``params`` and ``labels`` merge key by key, the command line's value winning;
- any other option given on the command line (not ``None``, not an empty list) replaces the dict's;
- the flags ``script``, ``allow_parity_failure`` and ``sign`` are on when either side turns them on.

Model tooling only: nothing here knows a registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MERGED = ("metrics", "params", "labels")
FLAGS = ("script", "allow_parity_failure", "sign")


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


def push_arguments(spec: str, **command_line: Any) -> tuple[Any, dict[str, Any]]:
    """Call the training function ``spec`` (``MODULE:FUNCTION`` or ``path/to/train.py:FUNCTION``) and
    :func:`merge` its result with ``command_line`` (the keywords of :func:`merge`)."""
    from gitreg.ml import training

    return merge(training.call(spec), **command_line)
