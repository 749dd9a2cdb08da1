"""Using a stored version: load it (onnxruntime or TorchScript), predict, re-check parity, evaluate.

``load`` never runs a file it has not just hashed against the sidecar: artifacts live in a
content-addressed cache (``$XDG_CACHE_HOME/gitreg/artifacts/<sha256>/``) and are fetched (and
verified) when absent or altered. Heavy libraries (onnxruntime, torch) load inside the functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from gitreg.core.sidecar import Sidecar
from gitreg.errors import ArtifactError, InputError, MissingDependency, UsageError, first_line
from gitreg.ml import parity as parity_mod
from gitreg.registry.registry import Registry
from gitreg.registry.values import ModelVersion, iso
from gitreg.store import location

RUNTIMES = ("onnxruntime", "torchscript")


def _sidecar(mv: ModelVersion) -> Sidecar:
    if mv.sidecar is None:
        raise ArtifactError(f"{mv.tag} has no sidecar of its own: it was registered outside gitreg")
    return mv.sidecar


def _artifact(reg: Registry, mv: ModelVersion, kind: str) -> Path:
    """The artifact's file in the content-addressed cache, fetched (and verified) when absent or altered."""
    sc = _sidecar(mv)
    if kind not in sc.artifacts:
        have = ", ".join(sc.artifacts) or "none"
        raise ArtifactError(f"{mv.ref} has no {kind} artifact (it has: {have})")
    art = sc.artifacts[kind]
    return _cached(reg, mv, kind, sc.stored_files((kind,)))[art.path]


def artifacts_dir() -> Path:
    """``gitreg.load``'s content-addressed folder: ``$XDG_CACHE_HOME/gitreg/artifacts``."""
    return location.cache_root() / "artifacts"


def artifacts_lock(shared: bool = True) -> AbstractContextManager[None]:
    """Loads hold this shared while they check and read :func:`artifacts_dir`; ``gitreg cache prune``
    holds it exclusive while it removes folders there."""
    return location.file_lock(location.cache_root() / "artifacts.lock", shared=shared)


def artifact_key(stored: list[Any]) -> str:
    """The folder name of ``stored`` files in :func:`artifacts_dir`: the sha256 of one file, or a
    digest of the set (an artifact with its external data files, or the files the model needs)."""
    if len(stored) == 1:
        return str(stored[0].sha256)
    return hashlib.sha256("".join(f"{a.path} {a.sha256}\n" for a in stored).encode()).hexdigest()


def _cached(reg: Registry, mv: ModelVersion, fmt: str, stored: list[Any]) -> dict[str, Path]:
    """``stored`` files (an artifact and its external data files, or the files the model needs)
    together in one cache folder, named by :func:`artifact_key`; the caller holds :func:`artifacts_lock`."""
    folder = artifacts_dir() / artifact_key(stored)
    paths = {a.path: folder / a.path for a in stored}
    if not all(paths[a.path].is_file() and _sha256(paths[a.path]) == a.sha256 for a in stored):
        reg.pull(mv.ref, folder, format=fmt)
    else:
        os.utime(folder)  # its last use: what `gitreg cache prune --older-than` goes by
    return paths


def files(reg: Registry, mv: ModelVersion) -> dict[str, Path]:
    """The files the model needs (``files=[...]`` at push), by stored name, fetched and verified."""
    stored = _sidecar(mv).stored_files(("file",))
    if not stored:
        return {}
    with artifacts_lock():
        return _cached(reg, mv, "files", stored)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _verified_onnx(path: Path, stored: list[Any], ref: str) -> Path | bytes:
    """What to hand onnxruntime: the bytes of ``path`` hashed as they were read (a swap of the file
    after the hash cannot run unverified bytes); for a model with external data files, the path,
    after every file in its folder was hashed again just now.

    The external-data case keeps a window: onnxruntime opens the data files by name after this
    check, so a writer to the user's own cache folder could still swap one in between.
    """
    art, data = stored[0], stored[1:]

    def changed(name: str) -> ArtifactError:
        return ArtifactError(f"{ref}: {name} changed on disk while loading; nothing was run", hint="retry")

    if data:
        for a in stored:
            if _sha256(path.parent / a.path) != a.sha256:
                raise changed(a.path)
        return path
    h, chunks, size = hashlib.sha256(), [], 0
    with open(path, "rb") as fh:
        while (chunk := fh.read(1 << 20)) and size <= art.size:
            h.update(chunk)
            chunks.append(chunk)
            size += len(chunk)
    if (h.hexdigest(), size) != (art.sha256, art.size):
        raise changed(art.path)
    return b"".join(chunks)


def load(reg: Registry, ref: str, runtime: str = "onnxruntime") -> Any:
    """A registered model, ready to predict.

    ``onnxruntime`` (default) gives a :class:`gitreg.ml.predictor.Predictor`; ``torchscript`` gives the
    ``torch.jit`` module, loaded from bytes whose sha256 was just checked against the sidecar
    (a TorchScript file is code: PyTorch says to run only files you trust).
    """
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}: use {' or '.join(RUNTIMES)}")
    mv = reg.show(ref)
    if runtime == "torchscript":
        return _load_torchscript(reg, mv)
    from gitreg.ml.predictor import Predictor
    from gitreg.ml.runtime import ort_session

    with artifacts_lock():  # a prune waits until onnxruntime has read the files
        path = _artifact(reg, mv, "onnx")
        model = _verified_onnx(path, _sidecar(mv).stored_files(("onnx",)), mv.ref)
        try:
            session = ort_session(model)
        except MissingDependency:
            raise
        except Exception as e:
            raise ArtifactError(f"{mv.ref}: onnxruntime cannot load model.onnx: {first_line(e)}") from None
    predictor = Predictor(session, _sidecar(mv).signature, mv)
    predictor.files = files(reg, mv)  # name -> local Path (tokenizer.json, label maps, ...)
    return predictor


def _load_torchscript(reg: Registry, mv: ModelVersion) -> Any:
    from gitreg.ml.filecheck import import_torch, load_torchscript

    import_torch("runtime='torchscript'")  # before fetching anything
    with artifacts_lock():
        path = _artifact(reg, mv, "torchscript")
        try:  # hash the very bytes torch will run, not the file a moment earlier
            return load_torchscript(path, _sidecar(mv).artifacts["torchscript"].sha256)
        except ArtifactError as e:
            raise ArtifactError(f"{mv.ref}: {e.message}", hint=e.hint) from None


# -- parity of stored artifacts ----------------------------------------------------------------------
def check_parity(reg: Registry, ref: str, data: Any = None) -> tuple[Any, parity_mod.Report]:
    """Re-check a stored version: TorchScript under torch against ONNX under onnxruntime.

    A version with ONNX alone gets a self-check: the whole batch against the same rows run in
    small odd-sized slices (a frozen batch axis or nondeterminism shows up), and output shapes.
    ``data`` is an array or a .npy/.npz/.csv path; without it, seeded random inputs shaped by the
    signature are used. Needs no training code. The same check :func:`gitreg.push` records for files.
    """
    from gitreg.ml import filecheck, outputs
    from gitreg.ml.predictor import read_array_file

    mv = reg.show(ref)
    cfg = reg.config()
    sig = outputs.complete(mv.sidecar.signature if mv.sidecar else {})
    if isinstance(data, (str, os.PathLike)):
        data = read_array_file(os.fspath(data))[0]
    inputs = filecheck.check_inputs(sig, data)
    ts = _load_torchscript(reg, mv) if "torchscript" in _sidecar(mv).artifacts else None
    with artifacts_lock():
        onnx_path = _artifact(reg, mv, "onnx")
        fc = filecheck.check_files(onnx_path, sig, inputs, cfg.rtol, cfg.atol, torchscript=ts, tolerance=cfg.tolerance)
    if fc.load_error:
        raise ArtifactError(f"{mv.ref}: {fc.load_error}")
    return mv, fc.report


def predict(reg: Registry, ref: str, x: Any, runtime: str = "onnxruntime", proba: bool = False) -> np.ndarray:
    """One vectorised prediction, under either runtime; what ``gitreg predict`` prints."""
    if runtime == "onnxruntime":
        model = load(reg, ref)
        return model.predict_proba(x) if proba else model.predict(x)
    mv = reg.show(ref)
    from gitreg.ml import outputs
    from gitreg.ml.predictor import arrange, probabilities

    sig = outputs.complete(mv.sidecar.signature if mv.sidecar else {})
    xs = arrange(list(sig.get("inputs", [])), x)
    module = _load_torchscript(reg, mv)
    import torch

    from gitreg.ml.export_torch import pick_output

    try:
        with torch.no_grad():
            out = pick_output(module(*(torch.from_numpy(a) for a in xs)), sig)
    except Exception as e:
        raise InputError(f"{mv.ref}: TorchScript could not run on this input: {first_line(e)}") from None
    task = sig.get("task")
    if proba:
        if task != "classification":
            raise UsageError(f"--proba needs a classifier; {mv.ref} is a {task or 'model without a task'}")
        return probabilities(sig, out, mv.ref)
    if task == "classification" and out.ndim == 2 and out.shape[1] > 1:
        classes = sig.get("classes")
        idx = out.argmax(axis=1)
        return np.asarray(classes)[idx] if classes else idx
    return out.reshape(len(out)) if out.ndim == 2 and out.shape[1] == 1 else out


def evaluate(reg: Registry, ref: str, data: Any, target: str | None = None) -> tuple[Any, Any]:
    """Evaluate the stored ONNX artifact under onnxruntime on ``data`` (a path, ``datasets/NAME.npz``
    in the registry, or an ``(X, y)`` pair). Returns (ModelVersion, :class:`gitreg.ml.evaluate.Evaluation`)."""
    from gitreg.ml import evaluate as evaluate_mod

    x, y, info = _eval_data(reg, data, target)
    model = load(reg, ref)
    ev = evaluate_mod.evaluate(model, x, y)
    return model.model_version, dataclasses.replace(ev, data=info)


def _eval_data(
    reg: Registry, data: Any, target: str | None, fingerprint: bool = True
) -> tuple[Any, Any, dict[str, Any]]:
    """``(X, y, fingerprint)`` from a path, a registry dataset or an ``(X, y)`` pair; ``fingerprint=False``
    skips the sha256 (an empty dict), which is 16 ms of a 130 ms evaluation of 100k x 64 rows."""
    from gitreg.ml import evaluate as evaluate_mod
    from gitreg.ml import metadata

    if isinstance(data, (tuple, list)):
        x, y = data  # X: an array, a tuple of arrays (one per input), a dict by input name or a DataFrame
        y = np.asarray(y)
        if not isinstance(x, (tuple, list, dict)) and not hasattr(x, "columns"):
            x = np.asarray(x)
        if not fingerprint:
            return x, y, {}
        parts = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (tuple, list)) else [x]
        digest = hashlib.sha256()
        for a in [*(np.asarray(p) for p in parts), y]:
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(np.ascontiguousarray(a).data if a.dtype.kind != "O" else repr(a.tolist()).encode())
        return x, y, {"name": "(X, y) arrays", "sha256": digest.hexdigest(), "rows": len(y)}
    path = name = os.fspath(data)
    if path.startswith("datasets/") and not Path(path).exists():
        from gitreg.registry import datasets

        path = str(datasets.fetch(reg.backend, path))
    x, y = evaluate_mod.load_data(path, target)
    if not fingerprint:
        return x, y, {}
    info = metadata.data_fingerprint(path)
    info["name"] = name if name.startswith("datasets/") else Path(name).name
    if target:
        info["target"] = target
    return x, y, info


def record_evaluation(reg: Registry, ref: str, data: Any, target: str | None = None) -> tuple[Any, Any, Any]:
    """Evaluate like :func:`evaluate`, then keep the result with the version (``eval --record``).

    The version's tag and artifacts stay as they are: the result goes into a new commit on the
    version's evaluation record (see :mod:`gitreg.registry.records`), which ``show`` and ``history`` read.
    Returns (ModelVersion, Evaluation, :class:`gitreg.registry.records.Recorded`).
    """
    from gitreg.ml import evaluate as evaluate_mod
    from gitreg.registry import records

    x, y, info = _eval_data(reg, data, target)
    model = load(reg, ref)
    ev = dataclasses.replace(evaluate_mod.evaluate(model, x, y), data=info)
    section = {**ev.to_section(), "evaluated": _now()}
    return model.model_version, ev, records.record(reg.backend, model.model_version, section)


def _now() -> str:
    return iso(int(time.time()))


def model_card(reg: Registry, ref: str) -> str:
    """The version's model card (README.md text), generated from its sidecar."""
    from gitreg.ml import report

    mv = reg.show(ref)
    if mv.sidecar is None:
        raise ArtifactError(f"{mv.tag} has no sidecar of its own: it was registered outside gitreg")
    return report.model_card(mv.sidecar.to_dict(), mv.ref)
