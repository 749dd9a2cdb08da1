"""torch models to artifacts: TorchScript (``torch.jit.trace``/``script``) and ONNX (torch 2.13's dynamo exporter).

Both files are written from the model in ``eval()`` under ``no_grad``, which is given back in the mode
it came in; ONNX gets a symbolic batch axis on every input, symbolic axes beyond it where the model
takes any size (inferred, or declared with ``dynamic=``), and one self-contained file unless the
model is over ONNX's 2 GB protobuf limit (then torch writes ``model.onnx.data`` beside it, which the
push stores as LFS objects too). Inputs may be named (a dict), outputs a tuple, a dict or a Hugging Face
``ModelOutput``: the model then runs behind :func:`adapter` (tensors in, a flat tuple out). The
runners handed back (eager, TorchScript from the saved file, onnxruntime) are what
:mod:`gitreg.ml.parity` compares. torch is imported inside the functions.

Memory: each big object is gone before the next is made. The traced module is dropped once saved;
the ONNX file is streamed tensor by tensor (:func:`save_onnx`), the weights first, and the exporter's
own copies of them are let go before the model runs again to settle the axes (:func:`drop_weights`,
:func:`pinned_axes`); the TorchScript module and the onnxruntime session are loaded from the files
only when parity reaches them, one after the other, and released after
(:class:`gitreg.ml.runtime.Loaded`). Measured on a ResNet-50-class model, the push went from +4.4x
the model's size over ``torch.onnx.export`` alone to +1.0-1.2x (``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import secrets
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.errors import ExportError, InputError, MissingDependency
from gitreg.ml.arrays import numeric_array
from gitreg.ml.heads import ort_split, split
from gitreg.ml.outputs import looks_like_probabilities
from gitreg.ml.parity import SINGLES, SMALL, sliced
from gitreg.ml.runtime import ANSI, Exported, Loaded, as_tuple, free_memory, one_line, plain, stage


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


def torch_inputs(model: Any, example_inputs: Any) -> tuple[tuple[Any, ...], list[str] | None]:
    """Example inputs as tensors, and their names when given as a dict keyed by input name (the model
    is then called with them as keyword arguments); numpy floats take the model's parameter dtype."""
    torch = import_torch()
    names: list[str] | None = None
    if isinstance(example_inputs, Mapping):
        names = [str(k) for k in example_inputs]
        raw = tuple(example_inputs.values())
    else:
        raw = as_tuple(example_inputs)
    if not raw:
        raise InputError("a torch model needs example_inputs: a tensor or array shaped like one batch, e.g. X[:2]")
    param = next(iter(model.parameters()), None)
    float_dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    out = []
    labels = names or [f"example_inputs[{i}]" for i in range(len(raw))]
    for label, x in zip(labels, raw):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu()
        else:
            t = torch.from_numpy(np.ascontiguousarray(numeric_array(x, label)))
        if t.is_floating_point() and t.dtype != float_dtype:
            t = t.to(float_dtype)
        if t.ndim == 0:
            raise InputError(f"{label} is a scalar; give a batch (first axis = samples)")
        out.append(t)
    return tuple(out), names


def output_items(out: Any, what: str = "output") -> list[tuple[str | None, Any]]:
    """A model's outputs flattened in order: (name, tensor), the name a dict's (or a Hugging Face
    ``ModelOutput``'s) key, None for a tensor or a tuple's entry. None values are left out."""
    torch = import_torch()
    if isinstance(out, torch.Tensor):
        return [(None, out)]
    items: list[tuple[str | None, Any]] = []
    if isinstance(out, Mapping):
        for k, v in out.items():
            if v is None:
                continue
            inner = output_items(v, str(k))
            if len(inner) == 1:
                items.append((str(k), inner[0][1]))
            else:
                items.extend((f"{k}_{i}", t) for i, (_, t) in enumerate(inner))
        return items
    if isinstance(out, (tuple, list)):
        for v in out:
            if v is not None:
                items.extend(output_items(v, what))
        return items
    raise ExportError(
        f"the model returned {type(out).__name__} as its {what}; gitreg exports tensors "
        "(alone, in a tuple, or in a dict)"
    )


def adapter(model: Any, names: Sequence[str] | None) -> Any:
    """``model`` behind a module that takes its inputs by position (``names`` given: passes them as
    keyword arguments) and returns its outputs as a flat tuple, so that ``torch.jit.trace`` and the
    ONNX exporter see tensors in and tensors out; the names are kept by the caller."""
    torch = import_torch()
    keys = list(names) if names else None

    class Adapter(torch.nn.Module):  # type: ignore[name-defined,unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *xs: Any) -> tuple[Any, ...]:
            out = self.model(**dict(zip(keys, xs))) if keys else self.model(*xs)
            return tuple(t for _, t in output_items(out))

    return Adapter()


def pick_output(out: Any, signature: Mapping[str, Any]) -> np.ndarray:
    """The prediction among a TorchScript module's outputs (the signature's ``prediction_output``,
    by position among its ``outputs``), as numpy; every output side by side when unrecorded."""
    items = output_items(out)
    names = [o.get("name") for o in signature.get("outputs") or []]
    want = str(signature.get("prediction_output"))
    if len(items) > 1 and want in names and len(names) == len(items):
        keyed = {k: t for k, t in items if k is not None}
        tensor = keyed.get(want, items[names.index(want)][1])
        return to_numpy(tensor)
    return to_numpy(out)


def dynamic_shapes(
    torch: Any, inputs: Sequence[Any], names: Sequence[str], dynamic: Mapping[str, Any] | None, infer: bool
) -> tuple[dict[int, Any], ...]:
    """One ``{axis: Dim}`` per input: the batch axis always, the axes ``dynamic`` declares by name
    (``{"input_ids": {1: "seq"}}`` or ``{"x": ["N", "T", None]}``; one name, one symbol across inputs),
    and, when ``infer``, every other axis as ``Dim.AUTO`` (the exporter keeps it dynamic when the
    model allows, else fixed)."""
    declared = dict(dynamic or {})
    unknown = [k for k in declared if k not in names]
    if unknown:
        raise InputError(f"dynamic= names {', '.join(map(repr, unknown))}: the inputs are {', '.join(names)}")
    dims: dict[str, Any] = {"N": torch.export.Dim("batch")}
    out = []
    for name, t in zip(names, inputs):
        axes = declared.get(name) or {}
        if isinstance(axes, (list, tuple)):
            axes = {i: d for i, d in enumerate(axes) if d}
        spec: dict[int, Any] = {0: dims["N"]}
        for axis in range(1, t.ndim):
            sym = axes.get(axis)
            if sym:
                if not str(sym).isidentifier():
                    raise InputError(f"dynamic axis name {sym!r} for {name!r}: use a name like seq or T")
                spec[axis] = dims.setdefault(str(sym), torch.export.Dim(str(sym)))
            elif infer:
                spec[axis] = torch.export.Dim.AUTO
        bad = [a for a in axes if not isinstance(a, int) or not 0 < a < t.ndim]
        if bad:
            raise InputError(f"dynamic= axis {bad[0]} of {name!r}: it has axes 1..{t.ndim - 1} besides the batch")
        out.append(spec)
    return tuple(out)


def pinned_axes(torch: Any, program: Any, runnable: Any, inputs: Sequence[Any]) -> dict[str, int]:
    """Inferred axes the model does not really take at any size, as symbol -> the example's size: the
    exporter pins some (a range of one value), and an axis that fails when the example is doubled
    along it (a CNN's image size before a ``Linear``, a channel count) is fixed too; so is the batch
    (``batch``) when twice the rows do not give twice the rows out."""
    import onnx_ir as ir

    fixed: dict[str, int] = {}
    for sym, vr in getattr(getattr(program, "exported_program", None), "range_constraints", {}).items():
        lo, hi = getattr(vr, "lower", None), getattr(vr, "upper", None)
        if lo is not None and lo == hi:
            with contextlib.suppress(TypeError, ValueError):
                fixed[str(sym)] = int(lo)
    where: dict[str, list[tuple[int, int]]] = {}
    for i, v in enumerate(program.model.graph.inputs):
        for axis, d in enumerate(v.shape or ()):
            if axis and isinstance(d, ir.SymbolicDim) and re.fullmatch(r"s\d+", str(d.value)):
                where.setdefault(str(d.value), []).append((i, axis))
    n = int(inputs[0].shape[0])
    try:  # a batch size baked in (a reshape(2, -1)): twice the rows in must give twice the rows out
        with eval_mode(runnable), quiet():
            out = output_items(runnable(*(torch.cat([t, t]) for t in inputs)))
        if any(t.ndim and t.shape[0] != 2 * n for _, t in out):
            fixed["batch"] = n
    except Exception:
        fixed["batch"] = n
    for sym, places in where.items():
        if sym in fixed:
            continue
        grown = list(inputs)
        for i, axis in places:
            grown[i] = torch.cat([grown[i], grown[i]], dim=axis)
        try:
            with eval_mode(runnable), quiet():
                runnable(*grown)
        except Exception:
            i, axis = places[0]
            fixed[sym] = int(inputs[i].shape[axis])
    return fixed


def name_symbols(program: Any, names: Sequence[str], fixed: Mapping[str, int]) -> None:
    """Symbols the exporter made up (``s53``) renamed after the first input axis they appear on
    (``input_ids_dim1``), or the size ``fixed`` gives (:func:`pinned_axes`); ``batch`` becomes ``N``;
    declared names stay. Inputs and outputs only."""
    import onnx_ir as ir

    graph = program.model.graph
    rename: dict[str, str] = {"batch": "N"}
    for v in graph.inputs:
        for axis, d in enumerate(v.shape or ()):
            if isinstance(d, ir.SymbolicDim) and d.value and re.fullmatch(r"s\d+", d.value):
                rename.setdefault(d.value, f"{v.name}_dim{axis}")

    def dim(d: Any) -> Any:
        if not isinstance(d, ir.SymbolicDim):
            return d
        value = str(d.value)
        return fixed[value] if value in fixed else ir.SymbolicDim(rename.get(value, d.value))

    for v in [*graph.inputs, *graph.outputs]:
        if v.shape is not None:
            v.shape = ir.Shape([dim(d) for d in v.shape])


def name_axes(torch: Any, program: Any, runnable: Any, inputs: Sequence[Any], names: Sequence[str]) -> None:
    """:func:`name_symbols` with the sizes :func:`pinned_axes` finds."""
    name_symbols(program, names, pinned_axes(torch, program, runnable, inputs))


ONNX_LIMIT = 2**31 - 1  # protobuf's limit on one message: weights beyond it go to external data
STREAMED = "gitreg-streamed"  # the placeholder's location: a weight already written, not a real file


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, size: int) -> bytes:
    """The key and length of a length-delimited protobuf field (the bytes follow)."""
    return varint(number << 3 | 2) + varint(size)


def weights_nbytes(program: Any) -> int:
    graph = program.model.graph
    return sum(v.const_value.nbytes for v in graph.initializers.values() if v.const_value is not None)


def write_weights(program: Any, body: Path, streamed: dict[str, Any], keep: bool = True) -> None:
    """The first half of :func:`save_onnx`: each main-graph initializer of ``program`` written to
    ``body`` as a GraphProto ``initializer`` field (its ``TensorProto`` header, then its ``raw_data``),
    one tensor at a time, and replaced in the graph by an external-data placeholder (a few bytes).
    Adds to ``streamed`` each name written, with its tensor when ``keep`` (to put back), else None:
    the weights are then let go of (the exporter's folded copies included, see :func:`drop_weights`)."""
    import onnx_ir as ir

    with open(body, "wb") as f:
        for name, v in program.model.graph.initializers.items():
            t = v.const_value
            if t is None or isinstance(t, (ir.ExternalTensor, ir.StringTensor)) or not t.nbytes or t.dtype.bitwidth % 8:
                continue  # written as the serializer writes it
            placeholder = ir.ExternalTensor(
                STREAMED,
                0,
                int(t.nbytes),
                t.dtype,
                shape=t.shape,
                name=name,
                doc_string=t.doc_string,
                metadata_props=dict(t.metadata_props) or None,
            )
            header = ir.serde.serialize_tensor(placeholder)  # what the serializer writes for the tensor
            del header.external_data[:]
            header.ClearField("data_location")
            h = header.SerializeToString()
            raw = field(9, int(t.nbytes))  # TensorProto.raw_data
            data = t.tobytes()  # one tensor at a time
            if len(data) != t.nbytes:
                raise ExportError(f"tensor {t.name!r}: {len(data)} bytes, its shape and type need {t.nbytes}")
            f.write(field(5, len(h) + len(raw) + len(data)) + h + raw)  # GraphProto.initializer
            f.write(data)
            del data
            v.const_value = placeholder
            streamed[name] = t if keep else None
            t = None


def write_model(program: Any, path: Path, body: Path, streamed: Mapping[str, Any]) -> None:
    """The second half of :func:`save_onnx`: ``path`` written as ``program``'s ModelProto without the
    streamed initializers, its graph field holding the graph's other fields, then ``body``'s bytes
    (copied in chunks). The graph's inputs and outputs may have changed since :func:`write_weights`."""
    import onnx_ir as ir

    proto = ir.serde.serialize_model(program.model)
    keep = [
        i
        for i in proto.graph.initializer
        if not (i.name in streamed and i.external_data and i.external_data[0].value == STREAMED)
    ]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    graph_bytes = proto.graph.SerializeToString()
    proto.ClearField("graph")
    head = proto.SerializeToString()
    with open(path, "wb") as f, open(body, "rb") as src:
        f.write(head)
        f.write(field(7, len(graph_bytes) + body.stat().st_size))  # ModelProto.graph
        f.write(graph_bytes)
        shutil.copyfileobj(src, f, 1 << 20)


def save_onnx(program: Any, path: Path, settle: Callable[[], None] | None = None, keep: bool = True) -> None:
    """``program`` (torch's ONNXProgram) written to ``path`` as one self-contained file, its weights
    streamed one tensor at a time from the tensors torch holds.

    ``ONNXProgram.save`` builds the whole ``ModelProto`` (a copy of every weight) and serializes it
    to one ``bytes`` (another copy): 2x the model's size on top of the exporter's own peak (measured
    +160 MB for a ResNet-50-class model of 97 MB). Here the weights go first to a temporary body
    file, each a ``TensorProto`` header and its ``raw_data`` (:func:`write_weights`); then the model
    is serialized with each of them an external-data placeholder, and the file is written as that
    message with the body spliced into the graph's field (protobuf fields may come in any order:
    :func:`write_model`). ``settle``, when given, runs between the two with the weights out of
    memory (the export names the graph's axes there, running the model); ``keep=False`` leaves the
    program without its weights after (:func:`drop_weights`), else they are put back. A model over
    2 GB is saved by torch with its weights in ``model.onnx.data`` (they cannot be inline)."""
    if weights_nbytes(program) > ONNX_LIMIT:
        if settle is not None:
            settle()
        program.save(str(path), external_data=True)
        return
    body = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    streamed: dict[str, Any] = {}
    try:
        write_weights(program, body, streamed, keep)
        if settle is not None:
            free_memory()  # the folded weights just let go: before the model runs
            settle()
        try:
            write_model(program, path, body, streamed)
        except BaseException:
            path.unlink(missing_ok=True)  # nothing half-written left behind
            raise
    finally:
        body.unlink(missing_ok=True)
        graph = program.model.graph
        for name, t in streamed.items():
            graph.initializers[name].const_value = t


def drop_weights(program: Any) -> None:
    """Let go of the weights of ``program``'s ONNX model once it is written. onnxscript's rewrite rules
    (module-level objects) keep their last match, and through it the whole graph, after the export
    returns; the graph holds the tensors its optimizer made (BatchNorm folded into Conv: a new copy
    of nearly every conv weight, 89 MB of a ResNet-50-class model's 97 MB), which then outlive the
    export and stack on the parity check's peak."""
    for v in program.model.graph.initializers.values():
        v.const_value = None


def exporter_message(e: BaseException) -> str:
    """The cause of a torch.onnx failure in one line: which operator, when the exporter says."""
    text = ANSI.sub("", str(e))
    guard = re.search(r"data-dependent expression (.+?) \(unhinted", text) or re.search(
        r"data-dependent expression (\S+)", text
    )
    if guard:
        call = re.search(r'raised this error:\s*\n\s*File "([^"]+)", line (\d+), in \w+\s*\n\s*(.+)', text)
        where = f" at {Path(call.group(1)).name}:{call.group(2)} ({call.group(3).strip()})" if call else ""
        return (
            f"the model branches on the values of a tensor{where}: the exporter cannot follow a data-dependent "
            f"expression ({guard.group(1)}); write the branch with torch.cond (or torch.where on both results) "
            "or export one fixed path (script=True keeps the branch in TorchScript, but ONNX needs one of these)"
        )
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


def arrays(out: Any) -> list[np.ndarray]:
    return [t.detach().cpu().numpy() for _, t in output_items(out)]


def to_numpy(out: Any) -> np.ndarray:
    """A model output (tensor, or a tuple/list/dict of them) as one (n, k) array for comparison."""
    parts = arrays(out)
    if len(parts) == 1:
        return parts[0]
    n = parts[0].shape[0] if parts[0].ndim else 1
    return np.concatenate([p.reshape(n, -1) for p in parts], axis=1)


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
    prediction_output: str | None = None,
    dynamic: Mapping[str, Any] | None = None,
) -> Exported:
    """TorchScript and ONNX files of ``model`` and the runners comparing them (module docstring).

    ``example_inputs`` is a tensor/array, a tuple of them, or a dict keyed by input name (passed as
    keyword arguments). Outputs may be a tensor, a tuple, a dict or a Hugging Face ``ModelOutput``:
    each becomes a named ONNX output (the dict's keys), and ``prediction_output`` (default ``logits``,
    ``probabilities``, else the first) is recorded as the prediction. ``dynamic`` declares named
    dynamic axes beyond the batch; other axes are dynamic when the exporter finds the model allows it.
    """
    torch = import_torch()
    inputs, keyed = torch_inputs(model, example_inputs)
    with eval_mode(model):
        try:
            sample = model(**dict(zip(keyed, inputs))) if keyed else model(*inputs)
        except Exception as e:
            shapes = ", ".join(f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}" for t in inputs)
            raise InputError(f"example_inputs ({shapes}) do not fit the model: {one_line(e)}") from None
        items = output_items(sample)
    n_out = len(items)
    if keyed and input_names and list(input_names) != keyed:
        raise InputError("example_inputs is a dict: its keys name the inputs (leave input_names out)")
    in_names = list(
        keyed or input_names or (["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))])
    )
    default_out = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    out_names = list(output_names or [k or d for (k, _), d in zip(items, default_out)])
    if len(in_names) != len(inputs) or len(out_names) != n_out:
        raise InputError(f"give {len(inputs)} input name(s) and {n_out} output name(s)")
    if len(set(out_names)) != n_out or len(set(in_names)) != len(in_names):
        raise InputError(f"input and output names must be distinct: {in_names} -> {out_names}")
    if script and keyed:
        import inspect

        params = list(inspect.signature(model.forward).parameters)
        if params[: len(keyed)] != keyed:
            raise InputError(
                f"script=True calls the TorchScript module by position: give example_inputs in forward's order "
                f"({', '.join(params[: len(keyed)])}), not {', '.join(keyed)}"
            )
    wrapped = keyed is not None or not isinstance(sample, torch.Tensor)
    runnable = adapter(model, keyed) if wrapped else model

    pt = out_dir / "model.pt"
    method = "script" if script else "trace"
    with stage(f"writing TorchScript (torch.jit.{method})"), eval_mode(runnable), quiet():
        try:
            ts = torch.jit.script(model) if script else torch.jit.trace(runnable, inputs, check_trace=False)
            torch.jit.save(ts, str(pt))
        except Exception as e:
            raise ExportError(f"torch.jit.{method} failed: {one_line(e)}; nothing was pushed") from None
        finally:
            ts = None  # the traced graph is not needed again: parity loads the saved file
    free_memory()

    onnx_path = out_dir / "model.onnx"
    attempts = [True, False] if not dynamic else [True]
    with stage("exporting ONNX"):
        for infer in attempts:
            shapes_spec = dynamic_shapes(torch, inputs, in_names, dynamic, infer)
            with eval_mode(runnable), quiet():
                try:
                    program = torch.onnx.export(
                        runnable,
                        inputs,
                        dynamo=True,
                        verbose=False,
                        input_names=in_names,
                        output_names=out_names,
                        opset_version=opset,
                        dynamic_shapes=(shapes_spec,) if wrapped else shapes_spec,
                    )
                    # the weights are on disk and let go of before pinned_axes runs the model (doubled
                    # batch and axes): ResNet-50-class, the step's peak 789-801 -> 650-674 MB
                    axes = functools.partial(name_axes, torch, program, runnable, inputs, in_names)
                    save_onnx(program, onnx_path, settle=axes, keep=False)
                    drop_weights(program)
                    break
                except ModuleNotFoundError as e:
                    raise MissingDependency(e.name or "onnxscript", "torch", "torch's ONNX exporter") from None
                except Exception as e:
                    if infer and len(attempts) > 1 and "data-dependent" not in str(e):
                        continue  # inferring axes beyond the batch failed: the batch axis alone
                    raise ExportError(f"ONNX export failed: {exporter_message(e)}; nothing was pushed") from None
                finally:
                    program = None  # the exported graph and its ONNX model: freed before parity loads the file
    free_memory()

    def load_ts() -> Any:
        with quiet():
            return torch.jit.load(str(pt), map_location="cpu")  # the file we store, not the object in memory

    ts_loaded = Loaded(load_ts)

    def eager_all(*xs: np.ndarray) -> list[np.ndarray]:
        with eval_mode(runnable):
            return arrays(runnable(*(torch.from_numpy(x) for x in xs)))

    def torchscript_all(*xs: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            return arrays(ts_loaded.get()(*(torch.from_numpy(x) for x in xs)))

    pred = prediction_output or next((n for n in ("logits", "probabilities") if n in out_names), out_names[0])
    if pred not in out_names:
        raise InputError(f"prediction_output={pred!r}: the model's outputs are {', '.join(out_names)}")
    first = items[out_names.index(pred)][1].detach().cpu().numpy()
    if task is None:
        task = "classification" if class_names is not None or (first.ndim == 2 and first.shape[1] > 1) else "regression"
    kind = "values"
    if task == "classification":
        kind = "probabilities" if looks_like_probabilities(first) else "logits"
    sig: dict[str, Any] = {"task": task, "output": kind}
    if n_out > 1 or prediction_output:
        sig["prediction_output"] = pred
    if class_names is not None:
        sig["classes"] = [plain(c) for c in class_names]
    version = torch.__version__
    # each runtime's prediction, every output by name beside it (gitreg.ml.heads)
    eager, torchscript = split(eager_all, out_names, pred), split(torchscript_all, out_names, pred, ts_loaded)
    ort = ort_split(onnx_path, out_names, pred)  # from the file, when parity gets to it
    return Exported(
        framework="torch",
        files=[onnx_path, pt],
        inputs=tuple(t.numpy() for t in inputs),
        reference="eager",
        # each runtime on the whole batch, then on single rows and slices (a batch-dependent answer);
        # one runtime after the other, so parity holds one loaded copy of the weights at a time
        runners={
            "eager": eager,
            "eager_sliced": sliced(eager, SINGLES, SMALL),
            "torchscript": torchscript,
            "torchscript_sliced": sliced(torchscript, SINGLES, SMALL),
            "onnxruntime": ort,
            "onnxruntime_sliced": sliced(ort, SINGLES, SMALL),
        },
        signature=sig,
        artifact_info={
            "onnx": {"exporter": f"torch.onnx.export(dynamo=True) torch {version}"},
            "torchscript": {"exporter": f"torch.jit.{method} torch {version}"},
        },
    )
