"""The HTML evaluation report of a version, and of two versions side by side, as text.

The page is one self-contained file (charts are PNGs inlined as base64 data URIs, no
scripts, no external assets) so it can be attached to a CI run or mailed. matplotlib is imported
only here, only when a chart is drawn, and through its object API (``Figure`` + the Agg canvas)
rather than ``pyplot``, so it never changes the caller's backend or global figure state.
``model_card`` (the committed ``README.md``) lives in :mod:`gitreg.core.card` and is re-exported here.
Writing a page to disk is the caller's: :func:`gitreg.store.files.atomic_write` (this layer knows no store).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gitreg.core.card import data_row as _data_row
from gitreg.core.card import lineage_rows
from gitreg.core.card import model_card as model_card
from gitreg.core.card import number as _num
from gitreg.core.card import parity_pairs as _pairs
from gitreg.errors import MissingDependency

if TYPE_CHECKING:
    from gitreg.ml.evaluate import Evaluation

__all__ = ["html_compare", "html_report", "model_card"]

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974")
MAX_ANNOTATED = 20  # confusion matrices up to 20×20 get a count in each cell; larger ones would be unreadable
MAX_ROC_CURVES = 20  # one-vs-rest curves drawn on one plot before it stops being a plot

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
body{padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.cols{display:flex;gap:2rem;flex-wrap:wrap}.cols>div{flex:1;min-width:20rem}
img{max-width:100%;height:auto}code{background:#f5f5f5;padding:0 .2rem}
""".strip()


# -- HTML report -------------------------------------------------------------------------------------
def html_report(name_ref: str, evaluation: Evaluation, sidecar_dict: Mapping[str, Any]) -> str:
    """A self-contained HTML page: metrics chart, confusion heatmap, ROC curves, lineage and parity tables."""
    mpl = _matplotlib()
    ev = evaluation
    parts = [_head(f"{name_ref} — evaluation"), f"<h1>{_e(name_ref)}</h1>", _summary(sidecar_dict, ev)]
    parts.append("<h2>Metrics</h2>")
    parts.append(_table(["metric", "value"], [[k, v] for k, v in ev.metrics.items()]))
    if ev.metrics:
        parts.append(_img(_metrics_chart(mpl, [name_ref], [ev.metrics]), "metrics bar chart"))
    if ev.task == "classification" and ev.labels:
        parts.append("<h2>Confusion matrix</h2>")
        cm = np.asarray(ev.confusion, dtype=np.int64)
        parts.append(_img(_heatmap(mpl, cm, ev.labels, "count", diverging=False), "confusion matrix heatmap"))
        if ev.curves:
            parts.append("<h2>ROC curves</h2>")
            parts.append(_img(_roc_chart(mpl, ev), "ROC curves"))
        parts.append("<h2>Per class</h2>")
        parts.append(_per_class_table(ev))
    parts += ["<h2>Parity</h2>", _parity_html(sidecar_dict.get("parity") or {})]
    parts += ["<h2>Lineage</h2>", _lineage_html(sidecar_dict.get("lineage") or {})]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def html_compare(
    ref_a: str,
    eval_a: Evaluation,
    sidecar_a: Mapping[str, Any],
    ref_b: str,
    eval_b: Evaluation,
    sidecar_b: Mapping[str, Any],
) -> str:
    """Two versions side by side: metric deltas (B − A), a grouped metrics chart, the confusion difference."""
    mpl = _matplotlib()
    parts = [_head(f"{ref_a} vs {ref_b}"), f"<h1>{_e(ref_a)} vs {_e(ref_b)}</h1>"]
    parts.append(
        f'<div class="cols"><div>{_summary(sidecar_a, eval_a)}</div><div>{_summary(sidecar_b, eval_b)}</div></div>'
    )
    names = list(dict.fromkeys([*eval_a.metrics, *eval_b.metrics]))
    rows = []
    for k in names:
        a, b = eval_a.metrics.get(k), eval_b.metrics.get(k)
        delta = _num(b - a, signed=True) if a is not None and b is not None else "—"
        rows.append([k, "—" if a is None else a, "—" if b is None else b, delta])
    parts += ["<h2>Metrics</h2>", _table(["metric", ref_a, ref_b, "Δ (B − A)"], rows)]
    if names:
        parts.append(_img(_metrics_chart(mpl, [ref_a, ref_b], [eval_a.metrics, eval_b.metrics]), "metrics comparison"))
    if eval_a.labels and eval_b.labels:
        labels, cm_a, cm_b = _aligned(eval_a, eval_b)
        parts.append(f"<h2>Confusion matrix difference ({_e(ref_b)} − {_e(ref_a)})</h2>")
        parts.append("<p>Positive cells: B puts more samples there than A. Rows are true labels.</p>")
        diff = cm_b - cm_a
        parts.append(_img(_heatmap(mpl, diff, labels, "count B − A", diverging=True), "confusion difference"))
    parts.append("<h2>Parity</h2>")
    parts.append(
        f'<div class="cols"><div><h3>{_e(ref_a)}</h3>{_parity_html(sidecar_a.get("parity") or {})}</div>'
        f"<div><h3>{_e(ref_b)}</h3>{_parity_html(sidecar_b.get('parity') or {})}</div></div>"
    )
    parts.append("<h2>Lineage</h2>")
    parts.append(
        f'<div class="cols"><div><h3>{_e(ref_a)}</h3>{_lineage_html(sidecar_a.get("lineage") or {})}</div>'
        f"<div><h3>{_e(ref_b)}</h3>{_lineage_html(sidecar_b.get('lineage') or {})}</div></div>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _aligned(a: Evaluation, b: Evaluation) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Both confusion matrices on the union of their labels (a label one of them lacks counts 0 there)."""
    labels = list(dict.fromkeys([*a.labels, *b.labels]))
    index = {str(v): i for i, v in enumerate(labels)}
    out = []
    for ev in (a, b):
        cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
        pos = np.array([index[str(v)] for v in ev.labels])
        cm[np.ix_(pos, pos)] = np.asarray(ev.confusion, dtype=np.int64)
        out.append(cm)
    return labels, out[0], out[1]


def _head(title: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
    )


def _summary(sidecar: Mapping[str, Any], ev: Evaluation) -> str:
    model = sidecar.get("model") or {}
    rows: list[list[Any]] = [
        ["model", f"{model.get('name', '?')} v{model.get('version', '?')}"],
        ["framework", model.get("framework")],
        ["task", ev.task],
        ["samples", ev.samples],
        ["inference", f"{ev.seconds:.3g} s ({ev.rows_per_second:,.0f} rows/s, onnxruntime)"],
        ["description", model.get("description")],
    ]
    return _table(["", ""], [r for r in rows if r[1] not in (None, "")], header=False)


def _per_class_table(ev: Evaluation) -> str:
    cols = ["precision", "recall", "f1", "support"]
    if any("roc_auc" in d for d in ev.per_class.values()):
        cols.append("roc_auc")
    rows = [[label, *(d.get(c, "—") for c in cols)] for label, d in ev.per_class.items()]
    return _table(["class", *cols], rows)


def _parity_html(parity: Mapping[str, Any]) -> str:
    if not parity:
        return "<p>No parity check was recorded.</p>"
    passed = parity.get("passed")
    verdict = '<span class="pass">passed</span>' if passed else '<span class="fail">failed</span>'
    if "tolerance" in parity and "rtol" not in parity:  # the scale criterion
        rule = f"tolerance={_e(_num(parity.get('tolerance')))} x each output's scale"
    else:
        rule = f"rtol={_e(_num(parity.get('rtol')))}, atol={_e(_num(parity.get('atol')))}"
    head = f"<p>{verdict if passed is not None else ''} {rule}, samples={_e(_num(parity.get('samples')))}</p>"
    rows = [
        [
            pair,
            d.get("samples"),
            d.get("max_abs_error"),
            d.get("max_rel_error"),
            d.get("argmax_agreement"),
            "yes" if d.get("passed") else "no",
            d.get("problem", ""),
        ]
        for pair, d in _pairs(parity)
    ]
    cols = ["pair", "samples", "max abs error", "max rel error", "argmax agreement", "passed", "problem"]
    return head + _table(cols, rows)


def _lineage_html(lineage: Mapping[str, Any]) -> str:
    if not lineage:
        return "<p>No lineage was recorded.</p>"
    out = _table(["", ""], [[k, v] for k, v in lineage_rows(lineage)], header=False)
    data = lineage.get("data") or []
    if data:
        out += _table(["data", "sha256", "size", "rows"], [_data_row(d) for d in data])
    return out


def _table(cols: Sequence[str], rows: Iterable[Sequence[Any]], header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr>" if header else ""
    body = "".join(
        "<tr>" + "".join(_cell(v, first=i == 0 and not header) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table>{head}{body}</table>"


def _cell(v: Any, first: bool = False) -> str:
    text = _num(v)
    tag = "th" if first else "td"
    cls = ' class="num"' if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else ""
    return f"<{tag}{cls}>{_e(text)}</{tag}>"


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


# -- charts ------------------------------------------------------------------------------------------
def _matplotlib() -> Any:
    """``(Figure, FigureCanvasAgg)``; raises MissingDependency when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependency("matplotlib", "report", "the HTML report") from None
    return Figure, FigureCanvasAgg


def _png(mpl: Any, fig: Any) -> bytes:
    _, canvas_cls = mpl
    canvas_cls(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<p><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></p>'


def _metrics_chart(mpl: Any, names: Sequence[str], metrics: Sequence[Mapping[str, float]]) -> bytes:
    figure_cls, _ = mpl
    keys = list(dict.fromkeys(k for m in metrics for k in m))
    fig = figure_cls(figsize=(7.5, 0.45 * len(keys) * max(1, len(names)) + 1.2))
    ax = fig.add_subplot()
    height = 0.8 / len(names)
    y = np.arange(len(keys))
    for i, (name, m) in enumerate(zip(names, metrics)):
        vals = np.array([float(m.get(k, np.nan)) for k in keys])
        pos = y + (i - (len(names) - 1) / 2) * height
        bars = ax.barh(pos, np.nan_to_num(vals), height=height * 0.9, color=PALETTE[i % len(PALETTE)], label=name)
        for bar, v in zip(bars, vals):
            if np.isfinite(v):
                ax.annotate(
                    f"{v:.4g}",
                    (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8,
                )
    ax.set_yticks(y, keys)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.grid(axis="x", alpha=0.3)
    if len(names) > 1:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(names), fontsize=8, frameon=False)
    ax.set_title("Metrics")
    return _png(mpl, fig)


def _heatmap(mpl: Any, cm: np.ndarray, labels: Sequence[Any], what: str, diverging: bool) -> bytes:
    figure_cls, _ = mpl
    k = len(labels)
    side = min(4.5 + 0.35 * k, 14)
    fig = figure_cls(figsize=(side + 1, side))
    ax = fig.add_subplot()
    if diverging:
        lim = max(int(np.abs(cm).max()), 1)
        im = ax.imshow(cm, cmap="RdBu_r", vmin=-lim, vmax=lim)
    else:
        im = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, label=what, shrink=0.8)
    ticks = [str(v) for v in labels]
    ax.set_xticks(range(k), ticks, rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= MAX_ANNOTATED:
        top = np.abs(cm).max() or 1
        for (i, j), v in np.ndenumerate(cm):
            if v:
                dark = abs(v) > top / 2
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_title("Confusion matrix" + (" difference" if diverging else ""))
    return _png(mpl, fig)


def _roc_chart(mpl: Any, ev: Evaluation) -> bytes:
    figure_cls, _ = mpl
    fig = figure_cls(figsize=(6.5, 6))
    ax = fig.add_subplot()
    items = list(ev.curves.items())
    binary = len(items) == 1
    for i, (label, (fpr, tpr)) in enumerate(items[:MAX_ROC_CURVES]):
        auc = ev.metrics.get("roc_auc") if binary else ev.per_class.get(label, {}).get("roc_auc")
        name = f"{label} (AUC {auc:.4f})" if auc is not None else label
        ax.plot(fpr, tpr, color=PALETTE[i % len(PALETTE)], lw=1.5, label=("positive class " if binary else "") + name)
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    extra = f" (first {MAX_ROC_CURVES} of {len(items)} classes)" if len(items) > MAX_ROC_CURVES else ""
    ax.set_title(("ROC" if binary else "ROC, one-vs-rest") + extra)
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)
    return _png(mpl, fig)
