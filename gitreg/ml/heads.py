"""A multi-output model's runners: the prediction for each run, every output by name beside it.

An export with several named outputs (a torch model's tuple, dict of heads or Hugging Face
``ModelOutput``) hands the parity check one runner per runtime that gives the prediction output
(what the verdict's scale and label checks are about), marked with a second entry into the same
runtime that gives every output by name (:func:`gitreg.ml.runtime.with_heads`). The parity check
runs the whole batch through the second once and compares each output at its own scale
(:func:`gitreg.ml.parity.each_output`); both share the runner's loaded resource, so no session or
module is loaded twice. A single-output model's runner is the plain one, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gitreg.ml.runtime import Loaded, Runner, holding, ort_outputs, ort_session, with_heads


def split(
    every: Callable[..., Sequence[np.ndarray]],
    names: Sequence[str],
    prediction: str,
    resource: Loaded | None = None,
) -> Runner:
    """A runner of ``prediction`` out of ``every`` (a runtime's outputs, in the order of ``names``),
    holding ``resource``; with more than one output, marked with every output by name."""
    names = list(names)

    def named(*xs: np.ndarray) -> dict[str, np.ndarray]:
        outs = list(every(*xs))
        if len(outs) != len(names):
            raise ValueError(f"it gave {len(outs)} outputs; the export has {len(names)} ({', '.join(names)})")
        return dict(zip(names, outs))

    def run(*xs: np.ndarray) -> np.ndarray:
        return named(*xs)[prediction]

    holding(run, resource)
    return with_heads(run, named, prediction) if len(names) > 1 else run


def ort_split(path: Path, names: Sequence[str], prediction: str) -> Runner:
    """:func:`split` for onnxruntime on ``path``: its lean check session made on the first call, from
    the file, and held as the runner's resource (:func:`gitreg.ml.runtime.ort_runner`'s ``lazy``)."""
    loaded = Loaded(lambda: ort_session(path, lean=True))
    return split(ort_outputs(loaded), names, prediction, loaded)
