"""torch models to artifacts: TorchScript (``torch.jit.trace`` or ``script``) and ONNX (torch 2.13's dynamo exporter).

Both files are written from the model in ``eval()`` under ``no_grad``, which is given back in the mode
it came in; ONNX gets a symbolic batch axis on every input and ``external_data=False`` (one
self-contained file). The runners handed back (eager, TorchScript from the saved file, onnxruntime)
are what :mod:`gitreg.ml.parity` compares. torch is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import ExportError, InputError, MissingDependency
from gitreg.ml.arrays import numeric_array
from gitreg.ml.runtime import ANSI, Exported, as_tuple, one_line, ort_runner, plain


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependency("torch", "torch", "exporting a torch model") from None
    return torch


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """torch.jit and the dynamo exporter warn (deprecations, progress, torchvision notes): not the user's problem."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """``eval()`` + ``no_grad`` for the duration; the caller's model keeps the mode it had."""
    torch = import_torch()
    was_training = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, t in zip(model.modules(), was_training):
            m.training = t


def torch_inputs(model: Any, example_inputs: Any) -> tuple[Any, ...]:
    """Example inputs as tensors; numpy floats take the model's parameter dtype (users pass float64)."""
    torch = import_torch()
    raw = as_tuple(example_inputs)
    if not raw:
        raise InputError("a torch model needs example_inputs: a tensor or array shaped like one batch, e.g. X[:2]")
    param = next(iter(model.parameters()), None)
    float_dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    out = []
    for i, x in enumerate(raw):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu()
        else:
            t = torch.from_numpy(np.ascontiguousarray(numeric_array(x, f"example_inputs[{i}]")))
        if t.is_floating_point() and t.dtype != float_dtype:
            t = t.to(float_dtype)
        if t.ndim == 0:
            raise InputError(f"example_inputs[{i}] is a scalar; give a batch (first axis = samples)")
        out.append(t)
    return tuple(out)


def exporter_message(e: BaseException) -> str:
    """The cause of a torch.onnx failure in one line: which operator, when the exporter says."""
    text = ANSI.sub("", str(e))
    op = re.search(r"No ONNX function found for <OpOverload\(op='([^']+)', overload='([^']+)'\)", text)
    if op:
        return f"the ONNX exporter has no translation for operator {op.group(1)}.{op.group(2)}"
    op = re.search(r"Unsupported FX nodes: (\{.*?\})", text)
    if op:
        return f"the ONNX exporter does not support {op.group(1)}"
    summary = re.search(r"## Exception summary\s*\n\s*(.+)", text)
    if summary:
        return re.sub(r"^<class '[^']+'>:\s*", "", summary.group(1).strip())
    return one_line(e)


def to_numpy(out: Any) -> np.ndarray:
    """A model output (tensor, or a tuple/list/dict of them) as one (n, k) array for comparison."""
    torch = import_torch()
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        parts = [to_numpy(o) for o in out]
        n = parts[0].shape[0]
        return np.concatenate([p.reshape(n, -1) for p in parts], axis=1)
    raise ExportError(f"the model returned {type(out).__name__}; gitreg exports models that return tensors")


def export_torch(
    model: Any,
    out_dir: Path,
    example_inputs: Any,
    *,
    script: bool = False,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int | None = None,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
) -> Exported:
    torch = import_torch()
    inputs = torch_inputs(model, example_inputs)
    with eval_mode(model):
        try:
            sample = model(*inputs)
        except Exception as e:
            shapes = ", ".join(f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}" for t in inputs)
            raise InputError(f"example_inputs ({shapes}) do not fit the model: {one_line(e)}") from None
        first = to_numpy(sample)
    n_out = len(sample) if isinstance(sample, (tuple, list)) else 1
    in_names = list(input_names or (["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))]))
    out_names = list(output_names or (["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]))
    if len(in_names) != len(inputs) or len(out_names) != n_out:
        raise InputError(f"give {len(inputs)} input name(s) and {n_out} output name(s)")

    pt = out_dir / "model.pt"
    method = "script" if script else "trace"
    with eval_mode(model), quiet():
        try:
            ts = torch.jit.script(model) if script else torch.jit.trace(model, inputs, check_trace=False)
            torch.jit.save(ts, str(pt))
        except Exception as e:
            raise ExportError(f"torch.jit.{method} failed: {one_line(e)}; nothing was pushed") from None

    onnx_path = out_dir / "model.onnx"
    batch = torch.export.Dim("batch")
    with eval_mode(model), quiet():
        try:
            program = torch.onnx.export(
                model,
                inputs,
                dynamo=True,
                verbose=False,
                input_names=in_names,
                output_names=out_names,
                opset_version=opset,
                dynamic_shapes=tuple({0: batch} for _ in inputs),
            )
            program.save(str(onnx_path), external_data=False)
        except ModuleNotFoundError as e:
            raise MissingDependency(e.name or "onnxscript", "torch", "torch's ONNX exporter") from None
        except Exception as e:
            raise ExportError(f"ONNX export failed: {exporter_message(e)}; nothing was pushed") from None

    with quiet():
        ts_loaded = torch.jit.load(str(pt), map_location="cpu")  # the file we store, not the object in memory

    def eager(*xs: np.ndarray) -> np.ndarray:
        with eval_mode(model):
            return to_numpy(model(*(torch.from_numpy(x) for x in xs)))

    def torchscript(*xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return to_numpy(ts_loaded(*(torch.from_numpy(x) for x in xs)))

    if task is None:
        task = "classification" if class_names is not None or (first.ndim == 2 and first.shape[1] > 1) else "regression"
    sig: dict[str, Any] = {"task": task, "output": "logits" if task == "classification" else "values"}
    if class_names is not None:
        sig["classes"] = [plain(c) for c in class_names]
    version = torch.__version__
    return Exported(
        framework="torch",
        files=[onnx_path, pt],
        inputs=tuple(t.numpy() for t in inputs),
        reference="eager",
        runners={"eager": eager, "torchscript": torchscript, "onnxruntime": ort_runner(onnx_path)},
        signature=sig,
        artifact_info={
            "onnx": {"exporter": f"torch.onnx.export(dynamo=True) torch {version}"},
            "torchscript": {"exporter": f"torch.jit.{method} torch {version}"},
        },
    )


