"""The HTML report (self-contained, PNGs inlined, text escaped) and the model card (front matter, determinism)."""

from __future__ import annotations

import base64
import copy
import json
import sys
from html.parser import HTMLParser
from typing import Any

import pytest

from gitreg.core import card
from gitreg.errors import MissingDependency
from gitreg.ml import report
from gitreg.ml.evaluate import evaluate
from tests.support import eval_models


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory):
    yield from eval_models.build(tmp_path_factory.mktemp("report-models"))


class Page(HTMLParser):
    """Images, visible text and tags of a page; fails on anything that would load from elsewhere."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        assert tag not in ("script", "link", "iframe"), tag
        if tag == "img":
            assert (a.get("src") or "").startswith("data:image/png;base64,"), a.get("src", "")[:40]
            self.images.append(a["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def body(self) -> str:
        return " ".join(self.text)


def _pngs(page: Page) -> list[bytes]:
    return [base64.b64decode(src.split(",", 1)[1], validate=True) for src in page.images]


def _report(case: Any) -> tuple[str, Page]:
    ev = evaluate(case.predictor, case.x, case.y)
    text = report.html_report(case.ref, ev, case.sidecar)
    return text, Page(text)


@pytest.mark.parametrize("key", ["digits", "cancer"])
def test_classifier_report_has_three_inline_pngs_and_the_sidecar_tables(cases, key: str) -> None:
    c = cases[key]
    text, page = _report(c)
    assert text.startswith("<!DOCTYPE html>")
    assert len(page.images) == 3  # metrics, confusion matrix, ROC
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in _pngs(page))
    lineage, parity = c.sidecar["lineage"], c.sidecar["parity"]
    body = page.body
    assert c.ref in body and "python train.py --fast" in body
    assert len(lineage["code"]["commit"]) == 40 and lineage["code"]["commit"] in body and "main" in body
    assert lineage["data"][0]["sha256"] in body and f"{key}.npz" in body
    rule = "tolerance=0.0001 x each output's scale" if "tolerance" in parity else f"rtol={parity['rtol']:.6g}"
    assert "onnxruntime_vs_sklearn" in body and rule in body and "passed" in body
    assert "accuracy" in body and "f1_macro" in body


def test_text_is_escaped(cases) -> None:
    c = cases["digits"]
    sidecar = copy.deepcopy(c.sidecar)
    sidecar["lineage"]["command"] = "train.py --tag '<script>alert(1)</script>'"
    ev = evaluate(c.predictor, c.x, c.y)
    text = report.html_report("digits <b>", ev, sidecar)
    assert "<script>" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "digits &lt;b&gt;" in text
    assert "digits <model> & friends" in Page(text).body  # the description, round-tripped through escaping


def test_regression_report_has_only_the_metrics_chart(cases) -> None:
    _, page = _report(cases["ridge"])
    assert len(page.images) == 1 and "rmse" in page.body and "Confusion" not in page.body


def test_string_labels_report(cases) -> None:
    _, page = _report(cases["iris"])
    assert len(page.images) == 3 and "versicolor" in page.body


def test_compare_shows_metric_deltas_and_the_confusion_difference(cases) -> None:
    a, b = cases["digits"], cases["digits-b"]
    ea, eb = evaluate(a.predictor, a.x, a.y), evaluate(b.predictor, b.x, b.y)
    text = report.html_compare(a.ref, ea, a.sidecar, b.ref, eb, b.sidecar)
    page = Page(text)
    assert len(page.images) == 2 and all(p.startswith(b"\x89PNG") for p in _pngs(page))
    delta = eb.metrics["accuracy"] - ea.metrics["accuracy"]
    assert f"{delta:+.6g}" in page.body and a.ref in page.body and b.ref in page.body
    assert b.sidecar["lineage"]["parent"] == a.ref and a.ref in page.body


def test_compare_aligns_different_label_sets() -> None:
    from gitreg.ml.evaluate import Evaluation

    ea = Evaluation("classification", 3, {"accuracy": 1.0}, labels=(0, 1), confusion=[[2, 0], [0, 1]])
    eb = Evaluation("classification", 3, {"accuracy": 0.5}, labels=(1, 2), confusion=[[1, 1], [0, 1]])
    labels, cm_a, cm_b = report._aligned(ea, eb)
    assert labels == [0, 1, 2]
    assert cm_a.tolist() == [[2, 0, 0], [0, 1, 0], [0, 0, 0]] and cm_b.tolist() == [[0, 0, 0], [0, 1, 1], [0, 0, 1]]
    page = Page(report.html_compare("a", ea, {}, "b", eb, {}))
    assert len(page.images) == 2 and "No parity check was recorded." in page.body


def test_missing_matplotlib_is_a_clear_error(cases, monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    c = cases["ridge"]
    with pytest.raises(MissingDependency, match="the HTML report needs matplotlib") as e:
        report.html_report(c.ref, evaluate(c.predictor, c.x, c.y), c.sidecar)
    assert e.value.hint == "pip install 'gitreg[report]'"


# -- model card --------------------------------------------------------------------------------------
def _front_matter(card: str) -> tuple[dict[str, Any] | None, list[str], str]:
    lines = card.split("\n")
    assert lines[0] == "---"
    end = lines.index("---", 1)
    head, rest = lines[1:end], "\n".join(lines[end + 1 :])
    try:
        import yaml
    except ImportError:
        return None, head, rest
    return yaml.safe_load("\n".join(head)), head, rest


def _card_sidecar(case: Any) -> dict[str, Any]:
    d = copy.deepcopy(case.sidecar)
    d["evaluation"] = evaluate(case.predictor, case.x, case.y).to_section()
    return d


def test_model_card_front_matter_and_sections(cases) -> None:
    c = cases["cancer"]
    d = _card_sidecar(c)
    card = report.model_card(d, c.ref)
    meta, head, body = _front_matter(card)
    assert "library_name: onnx" in head and "license: apache-2.0" in head
    if meta is not None:
        assert meta["library_name"] == "onnx" and meta["license"] == "apache-2.0"
        assert meta["tags"] == ["gitreg", "onnx", "sklearn", "classification"]
        result = meta["model-index"][0]["results"][0]
        assert meta["model-index"][0]["name"] == "cancer"
        assert result["task"]["type"] == "tabular-classification"
        assert result["dataset"]["name"] == "cancer.npz"
        values = {m["name"]: m["value"] for m in result["metrics"]}
        assert values["accuracy"] == d["evaluation"]["accuracy"] and values["roc_auc"] == d["evaluation"]["roc_auc"]
        assert "samples" not in values and meta["metrics"] == sorted(values)
    for section in ("## Signature", "## Metrics", "## Parity", "## Lineage", "## Artifacts", "## How to load"):
        assert f"\n{section}\n" in body
    assert f"# cancer v{d['model']['version']}" in body and "cancer <model> & friends" in body
    assert f"gitreg.load({json.dumps(c.ref)})" in body and f"gitreg pull {c.ref}" in body
    assert d["lineage"]["data"][0]["sha256"] in body and "`python train.py --fast`" in body
    assert d["artifacts"]["onnx"]["sha256"] in body and "onnxruntime_vs_sklearn" in body
    assert "| label `team` | a\\|b |" in body  # a pipe in a value does not break the table


def test_model_card_is_deterministic_and_independent_of_key_order(cases) -> None:
    c = cases["digits-b"]
    d = _card_sidecar(c)
    first = report.model_card(d, c.ref)
    assert report.model_card(copy.deepcopy(d), c.ref) == first

    def reverse(v: Any) -> Any:
        return {k: reverse(v[k]) for k in reversed(list(v))} if isinstance(v, dict) else v

    assert report.model_card(reverse(d), c.ref) == first
    assert f"| parent | {d['lineage']['parent']} |" in first


def test_model_card_of_a_bare_sidecar_and_training_metrics_only() -> None:
    d = {
        "schema": 1,
        "model": {"name": "m", "version": "1.0.0"},
        "artifacts": {"onnx": {"path": "model.onnx", "sha256": "a" * 64, "size": 10}},
        "metrics": {"f1": 0.5, "accuracy": 0.75},
    }
    card = report.model_card(d, "m@v1.0.0")
    meta, _, body = _front_matter(card)
    assert "license" not in card.split("\n---\n")[0]
    if meta is not None:
        assert meta["tags"] == ["gitreg", "onnx"]
        assert meta["model-index"][0]["results"][0]["metrics"][0] == {
            "type": "accuracy",
            "name": "accuracy",
            "value": 0.75,
        }
    assert "| metric | training |" in body and "## Parity" not in body and "## Lineage" not in body
    assert 'gitreg.load("m@v1.0.0")' in body


def test_yaml_scalars_that_look_like_other_types_are_quoted() -> None:
    value = {"a": "yes", "b": "1.0", "c": "x: y", "d": "-x", "e": "", "g": ".nan", "f": ["apache-2.0", "two words"]}
    assert card._yaml(value) == [
        'a: "yes"',
        'b: "1.0"',
        'c: "x: y"',
        'd: "-x"',
        'e: ""',
        'g: ".nan"',
        "f:",
        "  - apache-2.0",
        '  - "two words"',
    ]
