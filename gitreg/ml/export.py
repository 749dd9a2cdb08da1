"""Turn a live model into registry artifacts: TorchScript + ONNX for torch, ONNX for scikit-learn.

Every export also hands back *runners*: plain ``numpy -> numpy`` callables for the original model
and each artifact's runtime, which :mod:`gitreg.ml.parity` compares. torch, skl2onnx and
onnxruntime are imported here, lazily, so nothing on the read path pays for them.

torch: ``torch.jit.trace`` (or ``script``) → ``model.pt``; ``torch.onnx.export`` with torch 2.13's
default dynamo exporter, a symbolic batch axis on every input and ``external_data=False`` (one
self-contained file) → ``model.onnx``. The model is exported in ``eval()`` under ``no_grad`` and
given back in the mode it came in. scikit-learn: ``skl2onnx`` with ``zipmap=False`` so class
probabilities are a plain float tensor.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import ExportError, InputError, MissingDependency, UnsupportedModel
from gitreg.ml.arrays import numeric_array

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


def kind_of(model: Any) -> str:
    """``torch``, ``sklearn`` or ``files``, decided without importing either library."""
    if isinstance(model, (str, Path)) or (
        isinstance(model, (list, tuple)) and model and all(isinstance(m, (str, Path)) for m in model)
    ):
        return "files"
    mro = type(model).__mro__
    if any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in mro):
        if any(c.__module__.startswith("torch.jit") for c in mro):
            raise UnsupportedModel(
                "a TorchScript module cannot be exported again: push the original nn.Module, "
                "or save it with torch.jit.save and push the .pt file"
            )
        return "torch"
    if any(c.__module__.startswith("sklearn.") for c in mro) and hasattr(model, "predict"):
        return "sklearn"
    raise UnsupportedModel(
        f"cannot push a {type(model).__module__}.{type(model).__qualname__}: gitreg takes a torch.nn.Module, "
        "a fitted scikit-learn estimator or Pipeline, or paths to .onnx/.pt files"
    )


def as_tuple(example_inputs: Any) -> tuple[Any, ...]:
    if example_inputs is None:
        return ()
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs)
    return (example_inputs,)


# -- torch ------------------------------------------------------------------------------------------
def _import_torch() -> Any:
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
    torch = _import_torch()
    was_training = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, t in zip(model.modules(), was_training):
            m.training = t


def _torch_inputs(model: Any, example_inputs: Any) -> tuple[Any, ...]:
    """Example inputs as tensors; numpy floats take the model's parameter dtype (users pass float64)."""
    torch = _import_torch()
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


def _first_line(e: BaseException) -> str:
    text = ANSI.sub("", str(e)).strip()
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)


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
    return _first_line(e)


def to_numpy(out: Any) -> np.ndarray:
    """A model output (tensor, or a tuple/list/dict of them) as one (n, k) array for comparison."""
    torch = _import_torch()
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
    torch = _import_torch()
    inputs = _torch_inputs(model, example_inputs)
    with eval_mode(model):
        try:
            sample = model(*inputs)
        except Exception as e:
            shapes = ", ".join(f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}" for t in inputs)
            raise InputError(f"example_inputs ({shapes}) do not fit the model: {_first_line(e)}") from None
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
            raise ExportError(f"torch.jit.{method} failed: {_first_line(e)}; nothing was pushed") from None

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
        sig["classes"] = [_plain(c) for c in class_names]
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


# -- scikit-learn ------------------------------------------------------------------------------------
def export_sklearn(
    model: Any,
    out_dir: Path,
    example_inputs: Any,
    *,
    opset: int | None = None,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
) -> Exported:
    try:
        import skl2onnx
        from skl2onnx.common.data_types import FloatTensorType
        from sklearn.base import is_classifier
    except ImportError as e:
        raise MissingDependency(e.name or "skl2onnx", "sklearn", "exporting a scikit-learn model") from None
    raw = as_tuple(example_inputs)
    if len(raw) != 1:
        raise InputError("a scikit-learn model needs example_inputs (or eval_data): one 2-D array of samples")
    x = numeric_array(raw[0], "example_inputs", need="a scikit-learn model takes a 2-D numeric array")
    if x.ndim != 2:
        raise InputError(f"scikit-learn example_inputs must be a 2-D numeric array, got shape {x.shape}")
    x = x.astype(np.float32)
    n_features = getattr(model, "n_features_in_", x.shape[1])
    if x.shape[1] != n_features:
        raise InputError(f"example_inputs have {x.shape[1]} features; the model was fitted on {n_features}")
    classifier = is_classifier(model)
    proba = classifier and hasattr(model, "predict_proba")
    try:
        onx = skl2onnx.convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, int(n_features)]))],
            options={id(model): {"zipmap": False}} if classifier else None,
            target_opset=opset,
        )
    except Exception as e:
        msg = _first_line(e)
        if "shape calculator" in msg or "MissingShapeCalculator" in type(e).__name__:
            msg = "skl2onnx has no converter for it"
        raise ExportError(
            f"skl2onnx cannot convert {type(model).__name__}: {msg}; nothing was pushed",
            hint="see skl2onnx's supported estimators, or export to ONNX yourself and push the .onnx file",
        ) from None
    onnx_path = out_dir / "model.onnx"
    onnx_path.write_bytes(onx.SerializeToString())
    outputs = [o.name for o in onx.graph.output]

    if proba:
        out_index = outputs.index("probabilities") if "probabilities" in outputs else len(outputs) - 1

        def original(xs: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict_proba(xs))
    else:
        out_index = 0

        def original(xs: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict(xs))

    classes = class_names if class_names is not None else getattr(model, "classes_", None)
    sig: dict[str, Any] = {
        "task": task or ("classification" if classifier else "regression"),
        "output": "probabilities" if proba else ("labels" if classifier else "values"),
    }
    if classes is not None:
        sig["classes"] = [_plain(c) for c in classes]
    import sklearn

    return Exported(
        framework="sklearn",
        files=[onnx_path],
        inputs=(x,),
        reference="sklearn",
        runners={"sklearn": original, "onnxruntime": ort_runner(onnx_path, out_index)},
        signature=sig,
        artifact_info={
            "onnx": {"exporter": f"skl2onnx {skl2onnx.__version__} scikit-learn {sklearn.__version__} (zipmap=False)"}
        },
    )


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


def _plain(value: Any) -> Any:
    """numpy scalars → Python (TOML cannot hold numpy types)."""
    return value.item() if isinstance(value, np.generic) else value


def export(
    model: Any,
    out_dir: Path,
    example_inputs: Any = None,
    *,
    script: bool = False,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int | None = None,
    class_names: Sequence[Any] | None = None,
    task: str | None = None,
) -> Exported:
    """Export ``model`` into ``out_dir`` (which must exist); see the module docstring."""
    if task not in (None, "classification", "regression"):
        raise InputError(f"invalid task {task!r}: use classification or regression")
    kind = kind_of(model)
    if kind == "torch":
        return export_torch(
            model,
            out_dir,
            example_inputs,
            script=script,
            input_names=input_names,
            output_names=output_names,
            opset=opset,
            class_names=class_names,
            task=task,
        )
    if kind == "sklearn":
        return export_sklearn(model, out_dir, example_inputs, opset=opset, class_names=class_names, task=task)
    raise UnsupportedModel("export() takes a model object; push files with Registry.push_files")
