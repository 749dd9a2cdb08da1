"""Collect and inspect the files a user pushes, before anything touches git.

gitreg stores two kinds of artifact per version: ONNX (``model.onnx``) and TorchScript
(``model.pt``). ONNX files are validated with ``onnx.checker`` and their signature, opset and IR
version read from a skeleton of the file without its weights (:mod:`gitreg.ml.onnxscan`: a 500 MB
model is never held in memory). Neither step runs ``import onnx`` (~0.9 s, mostly ml_dtypes and
numpy, which a push does not use): :mod:`gitreg.ml.onnxcore` loads just onnx's C++ checker and its
generated ``ModelProto`` class, the same code ``onnx.checker.check_model`` and
``onnx.ModelProto.FromString`` run. TorchScript archives are recognised by their ``code/``
entries without importing torch (torch costs ~2.5 s to import; a TorchScript file is code, and
gitreg never runs it at push time).

An ONNX model may keep its weights in external data files (a model over protobuf's 2 GiB limit
must): the files its tensors' ``location`` entries name, relative to the ``.onnx`` file. They are
collected with it (:attr:`Input.data`) and stored beside ``model.onnx`` under the same relative
names; a location that escapes the model's folder, a missing file, or a tensor whose bytes
(``offset``/``length``) do not lie inside its file is refused. :func:`collect_files` collects the
other files a model needs (tokenizers, label maps), stored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitreg.core.sidecar import ARTIFACT_FILES, file_path_problem
from gitreg.errors import ArtifactError, first_line

SUFFIX_KIND = {".onnx": "onnx", ".pt": "torchscript"}


@dataclass(frozen=True)
class Input:
    kind: str  # "onnx" | "torchscript"
    path: Path
    info: dict[str, Any]  # extra sidecar keys (opset, producer, …)
    data: tuple[tuple[Path, str], ...] = ()  # ONNX external data: (file here, name beside model.onnx)

    @property
    def stored_name(self) -> str:
        return ARTIFACT_FILES[self.kind]


def collect(paths: Sequence[str | Path]) -> list[Input]:
    """The artifacts named by ``paths`` (files, or folders holding them), validated."""
    if not paths:
        raise ArtifactError("no artifact given: pass a .onnx or .pt file, or a folder holding them")
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise ArtifactError(f"artifact not found: {raw}")
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in SUFFIX_KIND)
            if not found:
                raise ArtifactError(f"folder {raw} holds no .onnx or .pt file")
            files += found
        elif p.suffix in SUFFIX_KIND:
            files.append(p)
        else:
            raise ArtifactError(f"unsupported artifact {raw}: gitreg stores ONNX (.onnx) and TorchScript (.pt) files")
    by_kind: dict[str, Path] = {}
    for f in files:
        kind = SUFFIX_KIND[f.suffix]
        if kind in by_kind and by_kind[kind].resolve() != f.resolve():
            raise ArtifactError(f"two {kind} files given ({by_kind[kind]}, {f}): a version holds one of each kind")
        by_kind[kind] = f
    out = []
    for kind, f in sorted(by_kind.items()):
        _check_readable(f)
        if kind == "onnx":
            info, data = inspect_onnx_files(f)
            out.append(Input(kind, f, info, data))
        else:
            out.append(Input(kind, f, inspect_torchscript(f)))
    return out


def collect_files(paths: Sequence[str | Path], taken: Sequence[str] = ()) -> list[tuple[Path, str]]:
    """The extra files a model needs, as (file here, name in ``models/<name>/``).

    A file keeps its base name; a folder keeps its own name and the relative names of the files
    under it (``tokenizer/vocab.json``). ``taken`` are names already used (external data files).
    Names that could escape the model's folder, or that are gitreg's own, are refused.
    """
    out: list[tuple[Path, str]] = []
    seen = set(taken)
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            top = p.resolve().name
            found = [(f, f"{top}/{f.relative_to(p).as_posix()}") for f in sorted(p.rglob("*")) if f.is_file()]
            if not found:
                raise ArtifactError(f"folder {raw} holds no file")
        elif p.is_file():
            found = [(p, p.name)]
        else:
            raise ArtifactError(f"file not found: {raw}")
        for f, name in found:
            problem = file_path_problem(name)
            if problem:
                raise ArtifactError(f"cannot store {raw} as {name!r}: the name {problem}")
            if name in seen:
                raise ArtifactError(f"two files would be stored as {name!r} in the model's folder")
            seen.add(name)
            _check_readable(f, allow_empty=True)
            out.append((f, name))
    return out


def _check_readable(f: Path, allow_empty: bool = False) -> None:
    try:
        with open(f, "rb") as fh:
            head = fh.read(1)
    except OSError as e:
        raise ArtifactError(f"cannot read artifact {f}: {e.strerror or e}") from None
    if not head and not allow_empty:
        raise ArtifactError(f"artifact {f} is empty")


def inspect_onnx(path: Path) -> dict[str, Any]:
    """Validate an ONNX file (and its external data files) and read its signature; see :func:`inspect_onnx_files`."""
    return inspect_onnx_files(path)[0]


def inspect_onnx_files(path: Path) -> tuple[dict[str, Any], tuple[tuple[Path, str], ...]]:
    """Validate an ONNX file and read its signature from its skeleton; the weights are never read.

    The checks are ``onnx.ModelProto.FromString`` and ``onnx.checker.check_model`` on the skeleton
    (a few KB, whatever the model's size), then the payload-size rules the skeleton's placeholders
    hid from the checker; ``import onnx`` is not needed for any of it (:mod:`gitreg.ml.onnxcore`).
    Tensors kept in external data files are checked here (location inside the model's folder,
    file present, bytes inside it) and shown to the checker as one-element placeholders, like
    the skeleton's inline tensors. Returns the sidecar keys and the external data files.
    """
    from gitreg.ml import onnxcore, onnxscan

    model_proto = onnxcore.model_class()  # outside the try: a broken onnx install is not a bad file
    try:
        skeleton = onnxscan.scan(path)
        model = model_proto.FromString(skeleton.model)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ArtifactError(f"{path} is not a valid ONNX model: {type(e).__name__}: {e}") from None
    external = [t for t in _tensors(model) if t.data_location == onnxcore.EXTERNAL]
    data = _external_files(path, external)
    checked = skeleton.model
    if external:
        for t in external:  # what the checker would read from the files was checked above
            dt = int(t.data_type)
            del t.external_data[:]
            del t.dims[:]
            t.data_location = 0
            t.raw_data = b"\0" * (onnxscan.raw_bytes(dt, 1) or 1)
        checked = model.SerializeToString()
        model = model_proto.FromString(skeleton.model)
    try:
        onnxcore.check_model(checked)
        skeleton.check_sizes()  # what the skeleton's placeholders hid from the checker
    except Exception as e:
        # first_line: onnx's checker can raise a ValidationError whose message is empty (seen with
        # Debian's Python 3.11.2); the error then names the exception's type.
        raise ArtifactError(f"{path} is not a valid ONNX model: {first_line(e)}") from None
    return describe_onnx(model), data


def _tensors(model: Any) -> list[Any]:
    """Every TensorProto of a model that can hold data: initializers and attribute tensors, subgraphs included."""
    out: list[Any] = []

    def graph(g: Any) -> None:
        out.extend(g.initializer)
        nodes(g.node)

    def nodes(ns: Any) -> None:
        for n in ns:
            for a in n.attribute:
                if a.HasField("t"):
                    out.append(a.t)
                out.extend(a.tensors)
                if a.HasField("g"):
                    graph(a.g)
                for sub in a.graphs:
                    graph(sub)

    graph(model.graph)
    for f in model.functions:
        nodes(f.node)
    return out


def _external_files(path: Path, tensors: list[Any]) -> tuple[tuple[Path, str], ...]:
    """The external data files ``tensors`` name, each checked: inside the model's folder, present,
    and holding every byte a tensor says it keeps there."""
    from gitreg.ml import onnxscan

    folder = path.parent.resolve()
    files: dict[str, Path] = {}
    for t in tensors:
        entries = {e.key: e.value for e in t.external_data}
        location = entries.get("location", "")
        where = f"{path}: tensor {t.name!r} keeps its data in the external data file {location!r}"
        if not location:
            raise ArtifactError(f"{path}: tensor {t.name!r} is external but names no external data file (location)")
        problem = file_path_problem(location)
        if problem and "gitreg writes itself" not in problem:
            raise ArtifactError(f"{where}, whose name {problem}")
        if problem or location.endswith((".onnx", ".pt")):
            raise ArtifactError(f"{where}, a name gitreg keeps for model files: rename the data file")
        local = path.parent / location
        try:
            real = local.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ArtifactError(f"{where}, which is missing ({local})") from None
        if not real.is_relative_to(folder):
            raise ArtifactError(f"{where}, which leads outside the model's folder ({real})")
        if not real.is_file():
            raise ArtifactError(f"{where}, which is not a regular file")
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else None
        except ValueError:
            raise ArtifactError(f"{where} with a non-integer offset or length") from None
        nelem = 1
        for d in t.dims:
            nelem *= max(int(d), 0)
        need = onnxscan.raw_bytes(int(t.data_type), nelem)
        size = real.stat().st_size
        if offset < 0 or (length is not None and length < 0):
            raise ArtifactError(f"{where} at a negative offset or length")
        if length is not None and need is not None and length != need:
            raise ArtifactError(f"{where}: {length} bytes, but its shape and type need {need}")
        end = offset + (length if length is not None else need or 0)
        if end > size:
            raise ArtifactError(f"{where} up to byte {end}, but the file has {size} bytes")
        files[location] = local
    return tuple((files[k], k) for k in sorted(files))


def describe_onnx(model: Any) -> dict[str, Any]:
    """Opset, IR version, producer and signature (graph inputs that are not initializers) of a ModelProto,
    with what the outputs mean when the graph makes it certain (task, classes: :mod:`gitreg.ml.outputs`)."""
    from gitreg.ml import outputs
    from gitreg.ml.onnxcore import dtype_name

    inits = {i.name for i in model.graph.initializer}

    def value_info(v) -> dict[str, Any]:
        if v.type.WhichOneof("value") != "tensor_type":
            return {"name": v.name, "dtype": v.type.WhichOneof("value") or "unknown", "shape": []}
        tt = v.type.tensor_type
        dtype = dtype_name(tt.elem_type)  # numpy's name, as onnx.helper.tensor_dtype_to_np_dtype gives it
        shape: list[Any] = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"):
                shape.append(int(d.dim_value))
            elif i == 0:
                shape.append("N")  # the batch dimension, whatever the exporter called it
            else:
                shape.append(d.dim_param or "?")
        return {"name": v.name, "dtype": dtype, "shape": shape}

    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    signature: dict[str, Any] = {
        "inputs": [value_info(v) for v in model.graph.input if v.name not in inits],
        "outputs": [value_info(v) for v in model.graph.output],
    }
    signature.update(outputs.infer(signature["outputs"], outputs.graph_hints(model)))
    return {
        "opset": opsets.get("ai.onnx", 0),
        "opsets": opsets,
        "ir_version": int(model.ir_version),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "signature": signature,
    }


def inspect_torchscript(path: Path) -> dict[str, Any]:
    """Recognise a TorchScript archive (a zip with ``code/`` entries) without importing torch."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        raise ArtifactError(f"{path} is not a TorchScript archive (save it with torch.jit.save)") from None
    if not any("/code/" in n for n in names):
        raise ArtifactError(
            f"{path} is a torch.save file, not TorchScript: save it with torch.jit.save(torch.jit.script(m))"
        )
    return {}
