"""``gitreg diff``'s pure core: what changed between two sidecars."""

from __future__ import annotations

from gitreg.core.diff import diff, render


def test_lineage_data_files_are_compared_by_name() -> None:
    def sidecar(train: str, test: str) -> dict:
        return {"lineage": {"data": [{"name": "train.npz", "sha256": train}, {"name": "test.npz", "sha256": test}]}}

    d = diff("m@v1.0.0", sidecar("a" * 64, "b" * 64), "m@v1.1.0", sidecar("c" * 64, "b" * 64))
    assert d["lineage"]["data"] == {"train.npz": {"a": "a" * 64, "b": "c" * 64}}
    assert "data train.npz: aaaaaaaaaaaa -> cccccccccccc" in render(d)
