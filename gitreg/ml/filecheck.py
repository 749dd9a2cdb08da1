"""Parity of artifact files with no live model beside them: what ``gitreg push model.onnx`` records and
``gitreg parity`` re-checks.

With TorchScript, the ``.pt`` under torch is the reference and the ``.onnx`` under onnxruntime is
compared with it (every output, side by side). An ONNX file alone gets the self-check of
:func:`gitreg.ml.parity.self_check` on its prediction output. The inputs are the caller's rows (cast
to the signature's dtypes, checked against its shapes) or seeded random ones shaped by the
signature. torch is imported only when a TorchScript module is given; onnx never.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import ArtifactError, InputError, MissingDependency, first_line
from gitreg.ml import parity
from gitreg.ml.outputs import SEQUENCE


@dataclass(frozen=True)
class FileCheck:
    """The parity report, and the ONNX prediction output over the inputs (to decide its kind);
    ``load_error`` says why onnxruntime could not load the file, when it could not."""

    report: parity.Report
    prediction: np.ndarray | None
    load_error: str | None = None


def check_inputs(signature: Mapping[str, Any], given: Any = None) -> tuple[np.ndarray, ...]:
    """The rows to run: ``given`` (an array; for several inputs a tuple, a dict by input name or a
    table: :func:`gitreg.ml.predictor.arrange`) checked against the signature's input specs, else
    :func:`gitreg.ml.parity.synthetic` rows."""
    from gitreg.ml.predictor import arrange

    specs = list(signature.get("inputs", []))
    if not specs:
        raise InputError("the model's signature lists no inputs: nothing to check it with")
    if given is None:
        return parity.synthetic(specs)
    return arrange(specs, given)


def import_torch(purpose: str = "running a TorchScript file") -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependency("torch", "torch", purpose) from None
    return torch


def load_torchscript(path: Path, sha256: str | None = None) -> Any:
    """A TorchScript module from ``path``'s bytes (checked against ``sha256`` when given), on the CPU, in eval mode.

    A TorchScript file is code (PyTorch's security policy): load only files you would run.
    """
    torch = import_torch()
    blob = Path(path).read_bytes()
    if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
        raise ArtifactError(f"{Path(path).name} changed on disk while loading; nothing was run", hint="retry")
    from gitreg.ml.export_torch import quiet

    try:
        with quiet():  # torch.jit.load's deprecation warning is not the user's to act on
            module = torch.jit.load(io.BytesIO(blob), map_location="cpu")
    except Exception as e:
        raise ArtifactError(f"{Path(path).name} is not a loadable TorchScript file: {first_line(e)}") from None
    module.eval()
    return module


def check_files(
    onnx_path: Path,
    signature: Mapping[str, Any],
    inputs: tuple[np.ndarray, ...],
    rtol: float | None = None,
    atol: float | None = None,
    torchscript: Any = None,
    tolerance: float = parity.DEFAULT_TOLERANCE,
) -> FileCheck:
    """TorchScript (``torchscript``, a loaded module) against the ONNX file, or the ONNX file's self-check.

    A file onnxruntime cannot load is a failed check (``onnxruntime cannot load …``), not an error:
    the caller decides whether to push it anyway.
    """
    from gitreg.ml.runtime import ort_runner

    classifier = signature.get("task") == "classification"
    out_names = [o.get("name") for o in signature.get("outputs", [])]
    name = signature.get("prediction_output")
    pick = name if name in out_names and torchscript is None else None
    try:
        ort = ort_runner(onnx_path, output=pick)
    except MissingDependency:
        raise
    except Exception as e:
        inf = float("inf")
        why = f"onnxruntime cannot load {onnx_path.name}: {first_line(e)}"
        bad = parity.Pair("onnxruntime", "file", len(inputs[0]), inf, inf, False, problem=why)
        return FileCheck(parity.Report(rtol, atol, (bad,), tolerance), None, why)
    if torchscript is not None:
        import torch

        from gitreg.ml.export_torch import to_numpy

        def ts(*xs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return to_numpy(torchscript(*(torch.from_numpy(x) for x in xs)))

        try:
            report, outs = parity.run_outputs(
                {"torchscript": ts, "onnxruntime": ort}, "torchscript", inputs, rtol, atol, classifier, tolerance
            )
        except InputError as e:
            raise InputError(e.message.replace("the original model", "the TorchScript file")) from None
        prediction = outs.get("onnxruntime")
        if prediction is not None and len(out_names) > 1:
            prediction = None  # every output side by side: not the prediction alone
        return FileCheck(report, prediction)
    specs = {o.get("name"): o for o in signature.get("outputs", [])}
    spec = specs.get(pick) if pick else (next(iter(specs.values())) if len(specs) == 1 else None)
    shape: Sequence[Any] = spec.get("shape", []) if spec and spec.get("dtype") != SEQUENCE else []
    report, whole = parity.self_check(ort, inputs, shape, rtol, atol, classifier, tolerance)
    return FileCheck(report, whole if pick or len(specs) == 1 else None)  # several outputs side by side: not one
