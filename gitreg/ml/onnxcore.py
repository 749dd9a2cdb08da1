"""The two parts of ``onnx`` a push needs — the C++ checker and ``ModelProto`` — without ``import onnx``.

``import onnx`` costs ~0.8-0.9 s on a 2-CPU VM, almost all of it in what its ``__init__`` pulls in
and a push never uses: ``onnx.compose`` -> ``onnx.helper`` -> ``onnx._mapping`` -> ``ml_dtypes``
(~0.65 s alone) and numpy. Validating a pre-exported file uses two things (see
:func:`gitreg.ml.artifacts.inspect_onnx`), and both are self-contained modules inside the onnx
package:

* ``onnx.onnx_ml_pb2``, the generated protobuf classes (``onnx.ModelProto`` *is*
  ``onnx.onnx_ml_pb2.ModelProto``); it needs only ``google.protobuf``;
* ``onnx.onnx_cpp2py_export``, the C++ extension (protobuf linked in statically) whose
  ``checker.check_model(bytes, ...)`` is what ``onnx.checker.check_model(bytes)`` calls.

So this module loads those two from onnx's installed folder, under their real names, without
executing ``onnx/__init__.py``: ~20-40 ms in all (~3 ms of it the extension, the rest
``google.protobuf`` and the descriptors; benchmarks/bench_push.py prints it). The answers are the
ones ``onnx`` gives because they come from the same code: the same protobuf parser, and the same
C++ checker called with the arguments ``onnx.checker.check_model(bytes)`` passes by default (no
full check, opset compatibility checked, custom domains not checked).

A later ``import onnx`` in the same process adopts these very module objects
(``onnx.ModelProto is model_class()``, ``onnx.onnx_cpp2py_export`` set on the package as usual):
see :class:`_Preloaded`. That matters beyond tidiness: onnx's nanobind extension cannot be
initialised twice in one process ("an object of the same name already exists"). If onnx is already
imported, its modules are used as they are; if its layout is not the expected one (a future onnx),
this falls back to ``import onnx``: slower, same answers.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

MAX_PROTOBUF = 2**31 - 1  # onnx.checker.MAXIMUM_PROTOBUF
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

# numpy dtype names of TensorProto.DataType values, as ``onnx.helper.tensor_dtype_to_np_dtype(t).name``
# gives them (onnx 1.23; the ml_dtypes names for bfloat16, float8, int4, ...). A value not listed
# (UNDEFINED, or a type newer than this table) is recorded as its number, as before.
# tests/test_push_speed_path.py checks this table against onnx.helper.
DTYPE_NAMES: dict[int, str] = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "object",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
    17: "float8_e4m3fn",
    18: "float8_e4m3fnuz",
    19: "float8_e5m2",
    20: "float8_e5m2fnuz",
    21: "uint4",
    22: "int4",
    23: "float4_e2m1fn",
    24: "float8_e8m0fnu",
    25: "uint2",
    26: "int2",
    27: "float6_e2m3fn",
    28: "float6_e3m2fn",
}

_EXT = "onnx.onnx_cpp2py_export"
_SOURCE_LOADERS = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)
_lock = threading.Lock()
_parts: tuple[ModuleType, ModuleType] | None = None  # (the extension's checker submodule, the pb2 module)


def dtype_name(elem_type: int) -> str:
    return DTYPE_NAMES.get(elem_type, str(elem_type))


def model_class() -> Any:
    """``onnx.ModelProto``."""
    return _load()[1].ModelProto


def check_model(data: bytes) -> None:
    """``onnx.checker.check_model(data)`` for a serialised model (no shape inference, no custom domains)."""
    if len(data) > MAX_PROTOBUF:
        raise ValueError("This protobuf of onnx model is too large (>2GiB). Call check_model with model path instead.")
    checker = _load()[0]
    try:
        checker.check_model(data, False, False, False)
    except TypeError:  # an onnx whose binding takes other arguments: let its Python wrapper choose
        import onnx

        onnx.checker.check_model(data)


def _load() -> tuple[ModuleType, ModuleType]:
    global _parts
    if _parts is None:
        with _lock:
            if _parts is None:
                _parts = _load_parts()
    return _parts


def _load_parts() -> tuple[ModuleType, ModuleType]:
    if "onnx" not in sys.modules:
        try:
            return _load_without_init()
        except Exception:  # not the layout this module knows: the ordinary import below
            pass
    import onnx
    import onnx.onnx_cpp2py_export.checker as checker

    return checker, sys.modules[onnx.ModelProto.__module__]


def _load_without_init() -> tuple[ModuleType, ModuleType]:
    """Load ``onnx.onnx_cpp2py_export`` and ``onnx.onnx_ml_pb2`` (or ``onnx_pb2``) from onnx's folder
    without running ``onnx/__init__.py``, and leave them for a later ``import onnx`` to adopt."""
    spec = importlib.util.find_spec("onnx")  # locates the package; executes nothing
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("onnx is not installed as a package folder")
    where = list(spec.submodule_search_locations)
    ext = sys.modules.get(_EXT) or _PRELOADED.load(_EXT, where, importlib.machinery.ExtensionFileLoader)
    pb2_name = "onnx.onnx_ml_pb2" if getattr(ext, "ONNX_ML", True) else "onnx.onnx_pb2"
    pb2 = sys.modules.get(pb2_name) or _PRELOADED.load(pb2_name, where, _SOURCE_LOADERS)
    checker = ext.checker
    if not callable(getattr(checker, "check_model", None)) or not hasattr(pb2, "ModelProto"):
        raise ImportError("onnx's checker or ModelProto is not where gitreg expects them")
    return checker, pb2


class _Preloaded(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Modules of the onnx package loaded before the package itself, handed to the import system
    the first time something imports them.

    They are not left in ``sys.modules``: the import system would then skip its usual step of
    setting a submodule as an attribute of its package (``onnx.onnx_cpp2py_export``). Instead this
    finder answers for their names, and its loader returns the already-initialised module: a second
    initialisation of the nanobind extension fails, and the generated protobuf code need not run twice.
    """

    def __init__(self) -> None:
        self.modules: dict[str, ModuleType] = {}

    def load(self, name: str, where: list[str], loader_type: type | tuple[type, ...]) -> ModuleType:
        spec = importlib.machinery.PathFinder.find_spec(name, where)
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not isinstance(loader, loader_type):
            raise ImportError(f"{name} not found in {where} as the kind of module gitreg expects")
        module = importlib.util.module_from_spec(spec)  # an extension module is initialised here
        loader.exec_module(module)
        self.modules[name] = module
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)
        return module

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        module = self.modules.get(fullname)
        if module is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin=getattr(module.__spec__, "origin", None))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.modules[spec.name]  # keeps its own __spec__ and __loader__

    def exec_module(self, module: ModuleType) -> None:
        # Initialised already; from now on sys.modules has it, and once all are handed over this
        # finder leaves sys.meta_path.
        self.modules = {k: m for k, m in self.modules.items() if m is not module}
        if not self.modules and self in sys.meta_path:
            sys.meta_path.remove(self)


_PRELOADED = _Preloaded()
