"""The registry layer: ``Registry`` composed over the pure core and the storage edge."""

from gitreg.registry.registry import CheckReport, HistoryEvent, ModelSummary, ModelVersion, PullResult, Registry

__all__ = ["CheckReport", "HistoryEvent", "ModelSummary", "ModelVersion", "PullResult", "Registry"]
