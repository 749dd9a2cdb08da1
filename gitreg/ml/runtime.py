"""What every exporter hands back, and onnxruntime as a runner: :class:`Exported`, :func:`ort_runner`.

An export produces files and *runners* — plain ``numpy -> numpy`` callables for the original model
and for each artifact's runtime — that :mod:`gitreg.ml.parity` compares. onnxruntime is imported
inside the functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import MissingDependency

Runner = Callable[..., np.ndarray]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Exported:
    """What an export produced, and how to run each side of the parity check."""

    framework: str  # "torch" | "sklearn"
    files: list[Path]
    inputs: tuple[np.ndarray, ...]  # the parity inputs, already in the model's dtypes
    reference: str  # name of the original model's runner ("eager" | "sklearn")
    runners: dict[str, Runner]  # reference first, then each artifact runtime
    signature: dict[str, Any] = field(default_factory=dict)  # task, classes, output kind
    artifact_info: dict[str, dict[str, Any]] = field(default_factory=dict)  # which exporter ran

    @property
    def classifier(self) -> bool:
        return self.signature.get("task") == "classification"


def as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    if example_inputs is None:
        return ()
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    return (example_inputs,)


def one_line(e: BaseException) -> str:
    """An exporter's exception in one line, its terminal colours removed."""
    text = ANSI.sub("", str(e)).strip()
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)


# -- onnxruntime -------------------------------------------------------------------------------------
def ort_session(model: Path | bytes) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependency("onnxruntime", "all", "running ONNX models") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), opts, providers=["CPUExecutionProvider"]
    )


def ort_runner(path: Path, output_index: int | None = None, output: str | None = None) -> Runner:
    """onnxruntime on ``path``: all outputs flattened side by side, or the one at ``output_index`` (or
    named ``output``); a ZipMap output (a list of dicts) as its ``[N, C]`` array."""
    from gitreg.ml.outputs import as_array

    session = ort_session(path)
    names = [i.name for i in session.get_inputs()]
    fetch = [output] if output is not None else None

    def run(*xs: np.ndarray) -> np.ndarray:
        outs = [as_array(o) for o in session.run(fetch, dict(zip(names, xs)))]
        if output_index is not None:
            return outs[output_index]
        if len(outs) == 1:
            return outs[0]
        n = outs[0].shape[0]
        return np.concatenate([o.reshape(n, -1) for o in outs], axis=1)

    return run


def plain(value: Any) -> Any:
    """numpy scalars → Python (TOML cannot hold numpy types)."""
    return value.item() if isinstance(value, np.generic) else value
