"""gitreg: a git-native model registry.

Versions are annotated git tags in GTO's grammar, artifacts are Git LFS objects, metadata is a TOML
sidecar. ``Registry`` is the whole API. Names load on first use (PEP 562), so ``import gitreg`` is
cheap and heavy libraries (onnx, torch) load only when a write needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitreg import errors
    from gitreg.api import check_parity, demote, gate, load, promote, push, rollback
    from gitreg.core.sidecar import Artifact, Sidecar
    from gitreg.ml.predictor import Predictor
    from gitreg.registry.registry import CheckReport, HistoryEvent, ModelSummary, ModelVersion, PullResult, Registry

_EXPORTS = {
    "demote": "gitreg.api",
    "gate": "gitreg.api",
    "load": "gitreg.api",
    "promote": "gitreg.api",
    "rollback": "gitreg.api",
    "check_parity": "gitreg.api",
    "push": "gitreg.api",
    "Predictor": "gitreg.ml.predictor",
    "Artifact": "gitreg.core.sidecar",
    "CheckReport": "gitreg.registry.registry",
    "HistoryEvent": "gitreg.registry.registry",
    "ModelSummary": "gitreg.registry.registry",
    "ModelVersion": "gitreg.registry.registry",
    "PullResult": "gitreg.registry.registry",
    "Registry": "gitreg.registry.registry",
    "Sidecar": "gitreg.core.sidecar",
}
__all__ = [
    "Artifact",
    "CheckReport",
    "HistoryEvent",
    "ModelSummary",
    "ModelVersion",
    "Predictor",
    "PullResult",
    "Registry",
    "Sidecar",
    "check_parity",
    "demote",
    "errors",
    "gate",
    "load",
    "promote",
    "push",
    "rollback",
]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("gitreg.errors")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gitreg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
