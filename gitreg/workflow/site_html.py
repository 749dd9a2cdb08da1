"""HTML pieces of the static registry site (pure): the page shell, tables, inline SVG charts, and a
small Markdown-to-HTML for what :func:`gitreg.core.card.model_card` writes.

Everything that came from the registry (names, labels, descriptions, reasons, authors) goes through
:func:`esc` before it reaches a page: those strings are written by other people. Charts are inline
SVG drawn here (no matplotlib, nothing fetched when a page is viewed). Links are relative, so the
site works from ``file://``, any static host and GitHub Pages.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from gitreg.core.card import number

CSS_FILE = "site.css"
CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:72rem;
padding:0 1rem 3rem;color:#1f2328;line-height:1.45}
header.top{padding:.8rem 0;border-bottom:1px solid #d0d7de;margin-bottom:1rem;font-size:.95rem}
h1{font-size:1.6rem;margin:.6rem 0;word-break:break-word}
h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
h3{font-size:1.05rem}
a{color:#0969da}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.deprecated,tr.deregistered{color:#8c959f}
tr.deprecated a,tr.deregistered a{color:#8c959f}
.badge{display:inline-block;border-radius:1em;padding:0 .5em;font-size:.8rem;background:#ddf4ff;
color:#0550ae;margin-right:.25em;white-space:nowrap}
.badge.warn{background:#fff8c5;color:#7d4e00}.badge.bad{background:#ffebe9;color:#a40e26}
.badge.grey{background:#eaeef2;color:#57606a}
.breaking{color:#a40e26;font-weight:600}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;border-radius:4px}
pre.cmd{user-select:all}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0;flex:1 1 300px;max-width:420px}
figcaption{font-size:.85rem;color:#57606a}
svg.chart{width:100%;height:auto;display:block;background:#fff;border:1px solid #d0d7de}
input#filter{font-size:1rem;padding:.35rem .5rem;width:100%;max-width:24rem;margin:.5rem 0}
.muted{color:#57606a}
@media (max-width:600px){body{padding:0 .5rem}th,td{padding:.2rem .3rem}}
"""

FILTER_JS = """<script>
(function () {
  var box = document.getElementById("filter");
  if (!box) { return; }
  box.addEventListener("input", function () {
    var q = box.value.toLowerCase();
    var rows = document.querySelectorAll("tr[data-name]");
    for (var i = 0; i < rows.length; i++) {
      rows[i].style.display = rows[i].getAttribute("data-name").indexOf(q) >= 0 ? "" : "none";
    }
  });
})();
</script>"""

LINE = "#4c72b0"
BAR = "#55a868"


def esc(value: Any) -> str:
    """Any value as HTML text (numbers to 6 significant digits); every registry string goes through here."""
    return html.escape(value if type(value) is str else number(value), quote=True)


def href(*parts: str) -> str:
    """A relative URL from path parts, each percent-encoded (versions may hold ``+``)."""
    return "/".join(quote(p, safe="") if p not in (".", "..") else p for p in parts)


def page(title: str, body: str, root: str, crumbs: Sequence[tuple[str, str | None]] = (), script: str = "") -> str:
    """A whole page: ``root`` is the relative path to the site's top (``""``, ``"../../"``)."""
    nav = " / ".join(f'<a href="{h}">{esc(t)}</a>' if h else esc(t) for t, h in crumbs)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        f'<link rel="stylesheet" href="{root}{CSS_FILE}">\n</head>\n<body>\n'
        f'<header class="top">{nav}</header>\n<main>\n{body}\n</main>\n{script}</body>\n</html>\n'
    )


def table(
    cols: Sequence[str],
    rows: Iterable[Sequence[Any]],
    row_attrs: Iterable[str] | None = None,
    raw: bool = False,
    cls: str = "",
) -> str:
    """A scrollable table; cells are escaped unless ``raw`` (then each cell is HTML already)."""
    attrs = iter(row_attrs) if row_attrs is not None else None
    head = f"<thead><tr>{''.join(f'<th>{esc(c)}</th>' for c in cols)}</tr></thead>" if any(cols) else ""
    body = []
    for r in rows:
        a = next(attrs) if attrs is not None else ""
        cells = "".join(_cell(v, raw) for v in r)
        body.append(f"<tr{(' ' + a) if a else ''}>{cells}</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f'<div class="scroll"><table{klass}>{head}<tbody>{"".join(body)}</tbody></table></div>'


def _cell(v: Any, raw: bool) -> str:
    if raw:
        return f"<td>{v}</td>"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<td class="num">{esc(v)}</td>'
    return f"<td>{esc(v)}</td>"


def badge(text: str, kind: str = "") -> str:
    return f'<span class="badge{(" " + kind) if kind else ""}">{esc(text)}</span>'


# -- charts ----------------------------------------------------------------------------------------
def finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def line_chart(title: str, labels: Sequence[str], values: Sequence[Any], width: int = 360, height: int = 180) -> str:
    """An inline SVG line chart of ``values`` (None or non-finite: a gap) over ``labels``; each point
    has a ``<title>`` tooltip with its label and value."""
    left, right, top, bottom = 52, 12, 14, 34
    w, h = width - left - right, height - top - bottom
    pts = [(i, float(v)) for i, v in enumerate(values) if finite(v)]
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(title)}">',
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafbfc" stroke="#d0d7de"/>',
    ]
    if pts:
        lo, hi = min(v for _, v in pts), max(v for _, v in pts)
        if hi == lo:
            lo, hi = lo - (abs(lo) or 1) * 0.05, hi + (abs(hi) or 1) * 0.05
        n = max(len(values) - 1, 1)

        def xy(i: int, v: float) -> tuple[float, float]:
            x = left + (w * i / n if len(values) > 1 else w / 2)
            return round(x, 1), round(top + h - (v - lo) / (hi - lo) * h, 1)

        coords = [xy(i, v) for i, v in pts]
        out.append(
            f'<polyline fill="none" stroke="{LINE}" stroke-width="2" points="'
            + " ".join(f"{x},{y}" for x, y in coords)
            + '"/>'
        )
        dots = len(pts) <= 120
        for (i, v), (x, y) in zip(pts, coords):
            if dots:
                out.append(
                    f'<circle cx="{x}" cy="{y}" r="3" fill="{LINE}"><title>{esc(labels[i])}: {esc(v)}</title></circle>'
                )
        for v, y in ((hi, top), (lo, top + h)):
            out.append(f'<text x="{left - 4}" y="{y + 4}" font-size="10" text-anchor="end">{esc(v)}</text>')
        if labels:
            out.append(f'<text x="{left}" y="{height - 12}" font-size="10">{esc(labels[0])}</text>')
            if len(labels) > 1:
                out.append(
                    f'<text x="{left + w}" y="{height - 12}" font-size="10" text-anchor="end">{esc(labels[-1])}</text>'
                )
    else:
        out.append(f'<text x="{left + 8}" y="{top + h / 2}" font-size="11">no values</text>')
    out.append("</svg>")
    return f"<figure>{''.join(out)}<figcaption>{esc(title)}</figcaption></figure>"


def bar_chart(title: str, items: Sequence[tuple[str, float]], width: int = 360) -> str:
    """An inline SVG horizontal bar chart (metric values, e.g. a recorded evaluation)."""
    row, left, pad = 20, 120, 8
    height = pad * 2 + row * max(len(items), 1)
    vals = [abs(v) for _, v in items if finite(v)]
    top = max(vals, default=1.0) or 1.0
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{esc(title)}">'
    ]
    for k, (label, v) in enumerate(items):
        y = pad + k * row
        bw = (width - left - 60) * (abs(v) / top if finite(v) else 0)
        out.append(f'<text x="{left - 4}" y="{y + 14}" font-size="11" text-anchor="end">{esc(label)}</text>')
        out.append(f'<rect x="{left}" y="{y + 3}" width="{bw:.1f}" height="{row - 6}" fill="{BAR}"/>')
        out.append(f'<text x="{left + bw + 4:.1f}" y="{y + 14}" font-size="11">{esc(v)}</text>')
    out.append("</svg>")
    return f"<figure>{''.join(out)}<figcaption>{esc(title)}</figcaption></figure>"


def heatmap(labels: Sequence[Any], matrix: Sequence[Sequence[Any]]) -> str:
    """A confusion matrix as a table whose cells are shaded by count (rows: true, columns: predicted)."""
    flat = [c for r in matrix for c in r if finite(c)]
    top = max(flat, default=1) or 1
    head = "<th>true \\ predicted</th>" + "".join(f"<th>{esc(x)}</th>" for x in labels)
    rows = []
    for label, r in zip(labels, matrix):
        cells = []
        for c in r:
            shade = int(255 - 150 * (c / top)) if finite(c) else 255
            cells.append(f'<td class="num" style="background:rgb({shade},{shade},255)">{esc(c)}</td>')
        rows.append(f"<tr><th>{esc(label)}</th>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


# -- the model card, from the sidecar -------------------------------------------------------------
def kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    return table(["", ""], [(k, v) for k, v in rows if v not in (None, "")])


def _shape(shape: Any) -> str:
    if not isinstance(shape, (list, tuple)):
        return str(shape or "")
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def card(d: Mapping[str, Any]) -> str:
    """The sections of :func:`gitreg.core.card.model_card` (description, details, signature, metrics,
    parity, lineage, artifacts) as HTML, straight from the sidecar dict: no Markdown in between (the
    card's YAML front matter and a Markdown pass cost a third of a 10,000-page build)."""
    from gitreg.core.card import RUN_FIELDS, data_row, lineage_rows, parity_pairs

    model = d.get("model") or {}
    sig = d.get("signature") or {}
    labels = model.get("labels") or {}
    version = model.get("version")
    out = [f"<h2>{esc(model.get('name', ''))}{(' v' + esc(version)) if version else ''}</h2>"]
    out.append(f"<p>{esc(model.get('description') or 'No description was given when this version was pushed.')}</p>")
    details = [
        ("version", version),
        ("framework", model.get("framework")),
        ("task", sig.get("task") or model.get("task")),
        ("author", model.get("author")),
        ("created", model.get("created")),
        *((f"label {k}", v) for k, v in sorted(labels.items())),
    ]
    out.append(kv_table(details))
    rows = [[k[:-1], x.get("name", ""), x.get("dtype", ""), _shape(x.get("shape"))]
            for k in ("inputs", "outputs") for x in sig.get(k) or [] if isinstance(x, Mapping)]  # fmt: skip
    if rows or sig.get("classes"):
        out.append("<h3>Signature</h3>")
        out.append(table(["", "name", "dtype", "shape"], rows) if rows else "")
        if sig.get("classes"):
            out.append("<p>Classes: " + ", ".join(f"<code>{esc(c)}</code>" for c in sig["classes"]) + "</p>")
    evaluation = d.get("evaluation") or {}
    metrics = {k: v for k, v in (d.get("metrics") or {}).items() if finite(v)}
    measured = {k: v for k, v in evaluation.items() if finite(v) and k not in RUN_FIELDS}
    keys = list(dict.fromkeys([*sorted(measured), *sorted(metrics)]))
    if keys:
        rows = [[k, metrics.get(k), measured.get(k)] for k in keys]
        out += ["<h3>Metrics</h3>", table(["metric", "training", "onnxruntime evaluation"], rows, cls="metrics")]
    parity = d.get("parity") or {}
    if parity:
        passed = parity.get("passed")
        verdict = "passed" if passed is True else "failed" if passed is False else "not judged"
        rule = ", ".join(f"{k}={number(parity[k])}" for k in ("rtol", "atol", "tolerance") if k in parity)
        pairs = [[k, x.get("samples"), x.get("max_abs_error"), x.get("max_rel_error"), x.get("argmax_agreement"),
                  x.get("passed")] for k, x in parity_pairs(parity)]  # fmt: skip
        out += ["<h3>Parity</h3>", f"<p>{esc(verdict)} ({esc(rule)})</p>"]
        cols = ["pair", "samples", "max abs error", "max rel error", "argmax agreement", "passed"]
        out.append(table(cols, pairs) if pairs else "")
    lineage = d.get("lineage") or {}
    if lineage:
        out += ["<h3>Lineage</h3>", kv_table(lineage_rows(lineage))]
        data = [x for x in lineage.get("data") or [] if isinstance(x, Mapping)]
        out.append(table(["data", "sha256", "size", "rows"], [data_row(x) for x in data]) if data else "")
    arts = []
    for kind, a in sorted((d.get("artifacts") or {}).items()):
        arts.append([kind, a.get("path"), a.get("sha256"), a.get("size")])
        arts += [[f"{kind} data", x.get("path"), x.get("sha256"), x.get("size")] for x in a.get("data") or []]
    arts += [["file", path, f.get("sha256"), f.get("size")] for path, f in sorted((d.get("files") or {}).items())]
    if arts:
        out += ["<h3>Artifacts</h3>", table(["kind", "file", "sha256", "size"], arts, cls="artifacts")]
    return "\n".join(x for x in out if x)


# -- pages ------------------------------------------------------------------------------------------
MAX_KEY_METRICS = 4  # columns of the versions table; every metric still gets a chart
MAX_CHARTS = 16


def version_file(version: str) -> str:
    return f"v{version}.html"


def _stage_links(stages: Mapping[str, str], prefix: str = "") -> str:
    return " ".join(
        f'<a class="badge" href="{prefix}{href(version_file(v.lstrip("v")))}">{esc(s)}: {esc(v)}</a>'
        for s, v in sorted(stages.items())
    )


def index_page(summaries: Sequence[Any]) -> str:
    """The list of models: latest version, stage holders, last change; deprecated ones greyed."""
    rows, attrs = [], []
    for s in summaries:
        base = f"models/{href(s.name)}/"
        latest = f'<a href="{base}{href(version_file(s.latest[1:]))}">{esc(s.latest)}</a>' if s.latest else ""
        flag = " " + badge("deprecated", "grey") if s.deprecated else ""
        rows.append(
            [
                f'<a href="{base}index.html">{esc(s.name)}</a>{flag}',
                latest,
                esc(s.versions)
                + (f' <span class="muted">(+{esc(s.deregistered)} deregistered)</span>' if s.deregistered else ""),
                _stage_links(s.stages, base),
                esc(s.updated),
            ]
        )
        attrs.append(f'data-name="{esc(s.name)}"' + (' class="deprecated"' if s.deprecated else ""))
    body = [
        "<h1>Model registry</h1>",
        f'<p class="muted">{len(summaries)} model(s).</p>',
        '<input id="filter" type="search" placeholder="Filter models by name" aria-label="Filter models by name">',
        table(["model", "latest", "versions", "stages", "last change"], rows, attrs, raw=True, cls="models"),
    ]
    if not summaries:
        body.append("<p>No models yet: <code>gitreg push</code> registers the first one.</p>")
    return page("Model registry", "\n".join(body), "", [("registry", None)], FILTER_JS)


def _metric_names(dicts: Sequence[Mapping[str, Any]], section: str) -> list[str]:
    counts: dict[str, int] = {}
    for d in dicts:
        for k, v in (d.get(section) or {}).items():
            if finite(v) and not (section == "evaluation" and k in RUN_FIELDS):
                counts[k] = counts.get(k, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


RUN_FIELDS = frozenset({"samples", "seconds", "rows_per_second"})


def _parity(d: Mapping[str, Any]) -> str:
    passed = (d.get("parity") or {}).get("passed")
    return (
        badge("passed")
        if passed is True
        else badge("failed", "bad")
        if passed is False
        else badge("not checked", "grey")
    )


def short(commit: Any) -> str:
    return str(commit)[:12] if commit else ""


def timeline_rows(history: Sequence[Any]) -> list[dict[str, Any]]:
    """Each history event with its note read back and the stage holders right after it (GTO's fold:
    the newest live assignment of a version that is not deregistered holds the stage)."""
    from gitreg.core.stages import read_note

    active: dict[str, dict[str, int]] = {}
    dead: set[str] = set()
    out = []
    for k, e in enumerate(history):
        note = read_note(e.message) if e.stage else None
        what = e.event
        if e.event == "assignment" and e.stage and e.version:
            active.setdefault(e.stage, {})[e.version] = k
            what = "rollback" if note and note.rollback else "promotion"
        elif e.event == "unassignment" and e.stage and e.version:
            active.setdefault(e.stage, {}).pop(e.version, None)
            what = "demotion"
        elif e.event == "deregistration" and e.version:
            dead.add(e.version)
        holders = {}
        for stage, held in sorted(active.items()):
            live = {v: o for v, o in held.items() if v not in dead}
            if live:
                holders[stage] = max(live, key=live.__getitem__)
        out.append({"event": e, "what": what, "note": note, "holders": holders})
    return out


def _timeline(history: Sequence[Any]) -> str:
    rows, attrs = [], []
    for r in timeline_rows(history):
        e, note = r["event"], r["note"]
        what = esc(r["what"])
        if note is not None and note.forced:
            what += " " + badge("forced", "warn")
        version = f'<a href="{href(version_file(e.version))}">v{esc(e.version)}</a>' if e.version else ""
        held = ", ".join(f"{esc(s)}: v{esc(v)}" for s, v in r["holders"].items())
        reason = esc(note.reason) if note is not None and note.reason else ""
        rows.append([esc(e.time), what, version, esc(e.stage or ""), esc(e.author), reason, held])
        attrs.append(f'class="ev-{esc(r["what"])}"')
    cols = ["time", "event", "version", "stage", "by", "reason", "stage holders after"]
    return table(cols, rows, attrs, raw=True, cls="timeline")


def _parent_chain(latest: Any, by_ref: Mapping[str, Mapping[str, Any]], names: set[str]) -> str:
    """``latest`` ← its parent ← … as links (a parent in another model links to that model's page)."""
    if latest is None:
        return ""
    chain: list[str] = []
    seen: set[str] = set()
    ref = latest
    while ref and ref not in seen and len(chain) < 200:
        seen.add(ref)
        name, _, ver = ref.partition("@v")
        if name in names and ver:
            chain.append(f'<a href="../{href(name)}/{href(version_file(ver))}">{esc(ref)}</a>')
        else:
            chain.append(esc(ref))
        ref = ((by_ref.get(ref) or {}).get("lineage") or {}).get("parent")
    return " ← ".join(chain)


def _lineage(versions: Sequence[Any], dicts: Sequence[Mapping[str, Any]], names: set[str]) -> str:
    by_ref = {mv.ref: d for mv, d in zip(versions, dicts)}
    live = [mv for mv in versions if not mv.deregistered]
    out = ["<h2>Lineage</h2>"]
    if live:
        out.append(f"<p>Parent chain of the latest version: {_parent_chain(live[-1].ref, by_ref, names)}</p>")
    rows = []
    for mv, d in zip(versions, dicts):
        lin = d.get("lineage") or {}
        code = lin.get("code") or {}
        data = "; ".join(
            f"{esc(x.get('path') or x.get('name') or '?')} {esc(str(x.get('sha256', ''))[:12])}"
            for x in lin.get("data") or []
            if isinstance(x, Mapping)
        )
        if lin:
            link = f'<a href="{href(version_file(mv.version))}">v{esc(mv.version)}</a>'
            commit = f"<code>{esc(short(code.get('commit')))}</code>" + (" (dirty)" if code.get("dirty") else "")
            rows.append([link, esc(lin.get("parent") or ""), commit, esc(code.get("branch") or ""), data])
    if rows:
        out.append(table(["version", "parent", "code commit", "branch", "data (sha256)"], rows, raw=True))
    else:
        out.append('<p class="muted">No lineage was recorded.</p>')
    return "\n".join(out)


def model_page(summary: Any, versions: Sequence[Any], history: Sequence[Any], names: set[str]) -> str:
    dicts = [mv.sidecar.to_dict() if mv.sidecar is not None else {} for mv in versions]
    keys = _metric_names(dicts, "metrics")
    evals = _metric_names(dicts, "evaluation")
    title = summary.name + (" " + badge("deprecated", "grey") if summary.deprecated else "")
    latest = summary.latest
    dead = f" (+{esc(summary.deregistered)} deregistered)" if summary.deregistered else ""
    facts = [
        ("latest", f'<a href="{href(version_file(latest[1:]))}">{esc(latest)}</a>' if latest else "none"),
        ("stages", _stage_links(summary.stages) or "none"),
        ("versions", esc(summary.versions) + dead),
        ("last change", esc(summary.updated)),
    ]
    body = [f"<h1>{title}</h1>", table(["", ""], facts, raw=True)]
    rows, attrs = [], []
    for mv, d in zip(reversed(versions), reversed(dicts)):
        m = d.get("metrics") or {}
        status = " " + badge("deregistered", "grey") if mv.deregistered else ""
        link = f'<a href="{href(version_file(mv.version))}">v{esc(mv.version)}</a>{status}'
        cells = [f'<span class="num">{esc(m.get(k))}</span>' for k in keys[:MAX_KEY_METRICS]]
        rows.append([link, esc(mv.created), esc(mv.author), *cells, " ".join(badge(s) for s in mv.stages), _parity(d)])
        attrs.append('class="deregistered"' if mv.deregistered else "")
    cols = ["version", "created", "author", *keys[:MAX_KEY_METRICS], "stages", "parity"]
    body += ["<h2>Versions</h2>", table(cols, rows, attrs, raw=True, cls="versions")]
    labels = [f"v{mv.version}" for mv in versions]
    charts = [line_chart(k, labels, [(d.get("metrics") or {}).get(k) for d in dicts]) for k in keys]
    for k in evals:  # recorded evaluations: a chart once two versions have one (the version page shows each)
        values = [(d.get("evaluation") or {}).get(k) for d in dicts]
        if sum(1 for v in values if finite(v)) >= 2:
            charts.append(line_chart(f"evaluation: {k}", labels, values))
    if charts:
        body += ["<h2>Metrics across versions</h2>", f'<div class="charts">{"".join(charts[:MAX_CHARTS])}</div>']
    body += ["<h2>Stage timeline</h2>", _timeline(history) if history else "<p>No events.</p>"]
    body.append(_lineage(versions, dicts, names))
    return page(summary.name, "\n".join(body), "../../", [("registry", "../../index.html"), (summary.name, None)])
