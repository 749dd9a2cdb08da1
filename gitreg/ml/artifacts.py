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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitreg.core.sidecar import ARTIFACT_FILES
from gitreg.errors import ArtifactError, first_line

SUFFIX_KIND = {".onnx": "onnx", ".pt": "torchscript"}


@dataclass(frozen=True)
class Input:
    kind: str  # "onnx" | "torchscript"
    path: Path
    info: dict[str, Any]  # extra sidecar keys (opset, producer, …)

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
            if any(f.name.endswith(".onnx.data") or f.suffix == ".data" for f in p.iterdir()):
                raise ArtifactError(
                    f"{raw} holds ONNX external data (.data): export with external_data=False "
                    "so one .onnx file holds the model"
                )
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
        info = inspect_onnx(f) if kind == "onnx" else inspect_torchscript(f)
        out.append(Input(kind, f, info))
    return out


def _check_readable(f: Path) -> None:
    try:
        with open(f, "rb") as fh:
            head = fh.read(1)
    except OSError as e:
        raise ArtifactError(f"cannot read artifact {f}: {e.strerror or e}") from None
    if not head:
        raise ArtifactError(f"artifact {f} is empty")


def inspect_onnx(path: Path) -> dict[str, Any]:
    """Validate an ONNX file and read its signature from its skeleton; the weights are never read.

    The checks are ``onnx.ModelProto.FromString`` and ``onnx.checker.check_model`` on the skeleton
    (a few KB, whatever the model's size), then the payload-size rules the skeleton's placeholders
    hid from the checker; ``import onnx`` is not needed for any of it (:mod:`gitreg.ml.onnxcore`).
    """
    from gitreg.ml import onnxcore, onnxscan

    model_proto = onnxcore.model_class()  # outside the try: a broken onnx install is not a bad file
    try:
        skeleton = onnxscan.scan(path)
        model = model_proto.FromString(skeleton.model)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ArtifactError(f"{path} is not a valid ONNX model: {type(e).__name__}: {e}") from None
    if any(t.data_location == onnxcore.EXTERNAL for t in model.graph.initializer):
        raise ArtifactError(
            f"{path} keeps its weights in an external data file: re-export with external_data=False "
            "(or onnx.save_model(..., save_as_external_data=False)) so one file holds the model"
        )
    try:
        onnxcore.check_model(skeleton.model)
        skeleton.check_sizes()  # what the skeleton's placeholders hid from the checker
    except Exception as e:
        # first_line: onnx's checker can raise a ValidationError whose message is empty (seen with
        # Debian's Python 3.11.2); the error then names the exception's type.
        raise ArtifactError(f"{path} is not a valid ONNX model: {first_line(e)}") from None
    return describe_onnx(model)


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
