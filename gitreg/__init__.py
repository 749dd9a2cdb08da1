"""gitreg: a git-native model registry.

Versions are annotated git tags in GTO's grammar, artifacts are Git LFS objects, metadata is a TOML
sidecar. ``Registry`` is the whole API; heavy libraries (onnx, torch) load only when a write needs them.
"""

from __future__ import annotations

from gitreg import errors
from gitreg.registry import CheckReport, HistoryEvent, ModelSummary, ModelVersion, PullResult, Registry
from gitreg.sidecar import Artifact, Sidecar

__all__ = [
    "Artifact",
    "CheckReport",
    "HistoryEvent",
    "ModelSummary",
    "ModelVersion",
    "PullResult",
    "Registry",
    "Sidecar",
    "errors",
]
