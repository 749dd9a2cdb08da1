"""What every exporter hands back, and onnxruntime as a runner: :class:`Exported`, :func:`ort_runner`.

An export produces files and *runners* — plain ``numpy -> numpy`` callables for the original model
and for each artifact's runtime — that :mod:`gitreg.ml.parity` compares. A runner may hold a
:class:`Loaded` resource (an onnxruntime session, a TorchScript module: each another copy of the
weights), made on its first call and released once the parity check is done with it, so that one
copy at a time lives beside the user's model. Long steps announce themselves through :func:`stage`
to whoever listens (:func:`reporting`: the CLI's progress line on a terminal; nobody by default).
onnxruntime is imported inside the functions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


# -- long steps: who hears about them, and memory between them ---------------------------------------
Status = Callable[[str | None], None]  # the step now running, None when it ended
_STATUS: ContextVar[Status | None] = ContextVar("gitreg_ml_status", default=None)
_CURRENT: ContextVar[str | None] = ContextVar("gitreg_ml_stage", default=None)


@contextmanager
def reporting(reporter: Status | None) -> Iterator[None]:
    """Within the block, :func:`stage` tells ``reporter`` which long step is running."""
    token = _STATUS.set(reporter)
    try:
        yield
    finally:
        _STATUS.reset(token)


@contextmanager
def stage(what: str) -> Iterator[None]:
    """Announce a long step (``exporting ONNX``) for the block; the enclosing step is announced again after it."""
    reporter = _STATUS.get()
    token = _CURRENT.set(what)
    if reporter is not None:
        reporter(what)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        if reporter is not None:
            reporter(_CURRENT.get())


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
        return lib if lib is not None and hasattr(lib, "malloc_trim") else None
    except OSError:
        return None


_LIBC: list[Any] = []


def free_memory() -> None:
    """Collect garbage and hand freed heap back to the system (glibc's ``malloc_trim``), so the next
    step's peak does not stack on the last one's leftovers. Measured on a ResNet-50-class export: the
    exporter's freed graph otherwise stays in the process's resident set."""
    gc.collect()
    trim_heap()


def trim_heap() -> None:
    """Hand freed heap back to the system (glibc's ``malloc_trim``; nothing elsewhere)."""
    if not _LIBC:
        _LIBC.append(_libc())
    if _LIBC[0] is not None:
        _LIBC[0].malloc_trim(0)


class Loaded:
    """An object that costs memory to hold (an onnxruntime session, a TorchScript module), made by
    ``make`` on first use and dropped by :meth:`release` (made again if used after)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make
        self.obj: Any = None

    def get(self) -> Any:
        if self.obj is None:
            self.obj = self.make()
            # what loading read and parsed (the file's bytes, a protobuf) is freed by now but stays
            # resident after torch's large frees raised glibc's mmap threshold: ~15-40 MB measured
            # for a ResNet-50-class session
            trim_heap()
        return self.obj

    def release(self) -> None:
        if self.obj is not None:
            self.obj = None
            free_memory()


def holding(run: Runner, resource: Loaded | None) -> Runner:
    """``run``, marked as using ``resource`` (:func:`resource_of`): the parity check releases it after its last user."""
    setattr(run, "resource", resource)  # noqa: B010 (a function attribute: mypy does not know it)
    return run


def resource_of(run: Any) -> Loaded | None:
    res = getattr(run, "resource", None)
    return res if isinstance(res, Loaded) else None


Heads = Callable[..., dict[str, np.ndarray]]  # one runtime's every output, by name


def with_heads(run: Runner, heads: Heads, prediction: str) -> Runner:
    """``run`` (a runtime's prediction output), marked with ``heads``, the same runtime giving every
    output by name (``prediction`` among them; :func:`heads_of`): the parity check runs the whole batch
    through ``heads`` once and compares each output, the same loaded runtime serving both."""
    setattr(run, "heads", (heads, prediction))  # noqa: B010 (a function attribute: mypy does not know it)
    return run


def heads_of(run: Any) -> tuple[Heads, str] | None:
    found = getattr(run, "heads", None)
    return found if isinstance(found, tuple) else None


# -- onnxruntime -------------------------------------------------------------------------------------
def ort_session(model: Path | bytes, lean: bool = False) -> Any:
    """An onnxruntime CPU session on ``model`` (a file or its bytes). ``lean``: a check's session
    (parity, a file's self-check), which runs each batch size once or twice, so it plans no memory
    pattern per input shape (ResNet-50-class, batch 2 then single rows: +139 MB for the session
    against +165 MB; the same kernels, so the same outputs)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependency("onnxruntime", "all", "running ONNX models") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if lean:
        # A check runs each batch size once or twice: every optimization but the NCHWc layout
        # transform (ORT_ENABLE_ALL's one addition), which on a ResNet-50-class model of 97 MB held
        # +252 MB against +116 MB at the same speed for batches of 2, and no memory pattern.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.enable_mem_pattern = False
    # else onnxruntime's default, ORT_ENABLE_ALL: a loaded model serves, and at batch 8 of 224x224
    # the NCHWc kernels predicted 1.6-2x faster (0.69 s against 1.12 s) for +80 MB of peak memory
    return ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), opts, providers=["CPUExecutionProvider"]
    )


def ort_runner(path: Path, output_index: int | None = None, output: str | None = None, lazy: bool = False) -> Runner:
    """onnxruntime on ``path``: all outputs flattened side by side, or the one at ``output_index`` (or
    named ``output``); a ZipMap output (a list of dicts) as its ``[N, C]`` array. ``lazy``: the
    session is made on the first call, from the file, and is the runner's :class:`Loaded` resource.
    The runner is for checks: its session is :func:`ort_session`'s ``lean`` one."""
    loaded = Loaded(lambda: ort_session(path, lean=True))
    if not lazy:
        loaded.get()
    every = ort_outputs(loaded, [output] if output is not None else None)

    def run(*xs: np.ndarray) -> np.ndarray:
        outs = every(*xs)
        if output_index is not None:
            return outs[output_index]
        if len(outs) == 1:
            return outs[0]
        n = outs[0].shape[0]
        return np.concatenate([o.reshape(n, -1) for o in outs], axis=1)

    return holding(run, loaded) if lazy else run


def ort_outputs(loaded: Loaded, fetch: list[str] | None = None) -> Callable[..., list[np.ndarray]]:
    """The session ``loaded`` holds, run: its outputs (all, or those named in ``fetch``) in the graph's
    order, a ZipMap output as its ``[N, C]`` array."""
    from gitreg.ml.outputs import as_array

    def run(*xs: np.ndarray) -> list[np.ndarray]:
        session = loaded.get()
        names = [i.name for i in session.get_inputs()]
        return [as_array(o) for o in session.run(fetch, dict(zip(names, xs)))]

    return run


def plain(value: Any) -> Any:
    """numpy scalars → Python (TOML cannot hold numpy types)."""
    return value.item() if isinstance(value, np.generic) else value
