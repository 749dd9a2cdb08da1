"""The model card: a Hugging Face–style ``README.md`` committed next to each version's sidecar (pure).

YAML front matter (``library_name``, ``tags``, ``license``, a ``model-index`` of metrics) then
readable sections: signature, metrics, parity, lineage, artifacts, how to load. It is a pure
function of the sidecar dict and the ref, with no clock of its own and every mapping walked in
sorted order, so the same version always renders to the same bytes and ``git diff`` stays quiet.
The YAML is written by a tiny emitter (PyYAML is not a dependency); strings that YAML would read
as something else are quoted as JSON strings, which YAML accepts.
"""

from __future__ import annotations

import json
import numbers
import shlex
from collections.abc import Mapping, Sequence
from typing import Any


def model_card(sidecar_dict: Mapping[str, Any], ref: str) -> str:
    """A Hugging Face–style ``README.md`` for a version: YAML front matter, then readable sections.

    Pure and deterministic: the same sidecar and ref always give the same text.
    """
    sc = sidecar_dict
    model = table(sc.get("model"))
    sig = table(sc.get("signature"))
    name = str(model.get("name", ref))
    version = model.get("version")
    framework = model.get("framework")
    task = _task(model, sig)
    labels = table(model.get("labels"))
    evaluation = table(sc.get("evaluation"))
    metrics = {k: v for k, v in table(sc.get("metrics")).items() if _is_number(v)}
    measured = {k: v for k, v in evaluation.items() if _is_number(v) and k not in RUN_FIELDS}

    out = ["---", *_yaml(front_matter(sc, ref)), "---", "", f"# {name}" + (f" v{version}" if version else ""), ""]
    out += [str(model.get("description") or "No description was given when this version was pushed."), ""]
    details = [
        ("version", version),
        ("framework", framework),
        ("task", task),
        ("author", model.get("author")),
        ("created", model.get("created")),
        *((f"label `{k}`", v) for k, v in sorted(labels.items())),
    ]
    out += _md_table(["", ""], [[k, v] for k, v in details if v not in (None, "")])
    out += _md_signature(sig)
    out += _md_metrics(metrics, measured, evaluation)
    out += _md_parity(table(sc.get("parity")))
    out += _md_lineage(table(sc.get("lineage")))
    out += _md_artifacts(table(sc.get("artifacts")), table(sc.get("files")))
    out += [
        "## How to load",
        "",
        "```python",
        "import gitreg",
        "",
        f"model = gitreg.load({json.dumps(ref)})  # onnxruntime; the artifact's sha256 is checked first",
        "y = model.predict(X)",
        "```",
        "",
        "```sh",
        f"gitreg pull {_sh(ref)}",
        "```",
        "",
    ]
    return "\n".join(out)


RUN_FIELDS = frozenset({"samples", "seconds", "rows_per_second"})  # [evaluation] facts of the run, not metrics


def front_matter(sidecar_dict: Mapping[str, Any], ref: str) -> dict[str, Any]:
    """The card's Hugging Face metadata (its YAML front matter) as a dict: ``card --json`` prints it."""
    sc = sidecar_dict
    model = table(sc.get("model"))
    sig = table(sc.get("signature"))
    task = _task(model, sig)
    labels = table(model.get("labels"))
    evaluation = table(sc.get("evaluation"))
    metrics = {k: v for k, v in table(sc.get("metrics")).items() if _is_number(v)}
    measured = {k: v for k, v in evaluation.items() if _is_number(v) and k not in RUN_FIELDS}
    front: dict[str, Any] = {"library_name": "onnx"}  # what gitreg.load runs, whatever trained it
    if labels.get("license"):
        front["license"] = str(labels["license"])
    framework = model.get("framework") if isinstance(model.get("framework"), str) else None
    front["tags"] = list(dict.fromkeys(t for t in ("gitreg", "onnx", framework, task) if t))
    shown = measured or metrics
    if shown:
        front["metrics"] = sorted(shown)
        data = tables(table(sc.get("lineage")).get("data"))
        dataset = _data_name(data[0]) if data else "evaluation data"
        result: dict[str, Any] = {
            "task": {"type": f"tabular-{task}" if task else "other"},
            "dataset": {"type": "custom", "name": dataset},
            "metrics": [{"type": k, "name": k, "value": float(shown[k])} for k in sorted(shown)],
        }
        front["model-index"] = [{"name": str(model.get("name", ref)), "results": [result]}]
    return front


def _md_signature(sig: Mapping[str, Any]) -> list[str]:
    rows = [
        [kind, s.get("name", ""), s.get("dtype", ""), _shape(s.get("shape"))]
        for kind in ("inputs", "outputs")
        for s in tables(sig.get(kind))
    ]
    if not rows and not sig.get("classes"):
        return []
    out = ["## Signature", ""]
    if rows:
        out += _md_table(["", "name", "dtype", "shape"], [[k[:-1], *r] for k, *r in rows])
    if sig.get("output"):
        out += [f"Output kind: {sig['output']}.", ""]
    classes = sig.get("classes")
    if classes:
        shown = classes if isinstance(classes, list) else [classes]
        out += ["Classes: " + ", ".join(f"`{c}`" for c in shown), ""]
    return out


def _md_metrics(metrics: Mapping[str, Any], measured: Mapping[str, Any], evaluation: Mapping[str, Any]) -> list[str]:
    keys = list(dict.fromkeys([*sorted(measured), *sorted(metrics)]))
    if not keys:
        return []
    out = ["## Metrics", ""]
    if measured and metrics:
        out += _md_table(
            ["metric", "training", "onnxruntime evaluation"], [[k, metrics.get(k), measured.get(k)] for k in keys]
        )
    elif measured:
        out += _md_table(["metric", "onnxruntime evaluation"], [[k, measured[k]] for k in keys])
    else:
        out += _md_table(["metric", "training"], [[k, metrics[k]] for k in keys])
    if measured and evaluation.get("samples"):
        out += [f"Evaluated on {evaluation['samples']} samples under onnxruntime.", ""]
    return out


def _md_parity(parity: Mapping[str, Any]) -> list[str]:
    if not parity:
        return []
    passed = parity.get("passed")
    verdict = "passed" if passed is True else "failed" if passed is False else "not judged"
    if "tolerance" in parity and "rtol" not in parity:  # the scale criterion
        rule = f"tolerance={number(parity.get('tolerance'))} x each output's scale"
    else:
        rule = f"rtol={number(parity.get('rtol'))}, atol={number(parity.get('atol'))}"
    out = ["## Parity", "", f"{verdict} ({rule})", ""]
    rows = [
        [
            k,
            d.get("samples"),
            d.get("max_abs_error"),
            d.get("max_rel_error"),
            d.get("argmax_agreement"),
            d.get("passed"),
        ]
        for k, d in parity_pairs(parity)
    ]
    if rows:
        out += _md_table(["pair", "samples", "max abs error", "max rel error", "argmax agreement", "passed"], rows)
    return out


def lineage_rows(lineage: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The lineage facts a card or a report shows, in order, those recorded only."""
    code = table(lineage.get("code"))
    rows = [
        ("code commit", code.get("commit")),
        ("branch", code.get("branch")),
        ("dirty", code.get("dirty")),
        ("remote", code.get("remote")),
        ("parent", lineage.get("parent")),
        ("command", lineage.get("command")),
    ]
    return [(k, v) for k, v in rows if v not in (None, "")]


def _md_lineage(lineage: Mapping[str, Any]) -> list[str]:
    if not lineage:
        return []
    rows = [[k, f"`{v}`" if k == "command" else v] for k, v in lineage_rows(lineage)]
    out = ["## Lineage", ""]
    out += _md_table(["", ""], rows)
    data = tables(lineage.get("data"))
    if data:
        out += _md_table(["data", "sha256", "size", "rows"], [data_row(d) for d in data])
    return out


def _md_artifacts(artifacts: Mapping[str, Any], files: Mapping[str, Any] | None = None) -> list[str]:
    if not artifacts:
        return []
    rows = []
    for k, a in sorted(artifacts.items()):
        a = table(a)
        rows.append([k, a.get("path"), a.get("sha256"), a.get("size")])
        for d in tables(a.get("data")):  # external data files, beside the model
            rows.append([f"{k} data", d.get("path"), d.get("sha256"), d.get("size")])
    for path, f in sorted(table(files).items()):  # files the model needs
        f = table(f)
        rows.append(["file", path, f.get("sha256"), f.get("size")])
    return ["## Artifacts", "", *_md_table(["kind", "file", "sha256", "size"], rows)]


def _md_table(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return number(v).replace("\r", " ").replace("\n", " ").replace("|", "\\|")

    return [
        "| " + " | ".join(cell(c) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
        *("| " + " | ".join(cell(v) for v in r) + " |" for r in rows),
        "",
    ]


def _shape(shape: Any) -> str:
    if not isinstance(shape, (list, tuple)):
        return str(shape or "")
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def table(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a table, else an empty one: a reader shows what it can of a sidecar
    whose field has the wrong type (``loads`` refuses those; a dict built in code may still hold one)."""
    return value if isinstance(value, Mapping) else {}


def tables(value: Any) -> list[Mapping[str, Any]]:
    """The tables in ``value`` when it is a list (``[signature] inputs``, ``[lineage] data``), else none."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _task(model: Mapping[str, Any], sig: Mapping[str, Any]) -> str | None:
    task = sig.get("task") or model.get("task")
    return task if isinstance(task, str) else None


def _data_name(d: Mapping[str, Any]) -> str:
    return str(d.get("path") or d.get("name") or "evaluation data")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sh(s: str) -> str:
    return shlex.quote(s)


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """A deterministic YAML block for dicts, lists and scalars (strings as JSON, a subset of YAML)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, (Mapping, list)) and v:
                lines.append(f"{pad}{_scalar(k)}:")
                lines += _yaml(v, indent + 2)
            else:
                lines.append(f"{pad}{_scalar(k)}: {_scalar(v)}")
        return lines
    for item in value:
        if isinstance(item, (Mapping, list)) and item:
            sub = _yaml(item, indent + 2)
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines += sub[1:]
        else:
            lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        f = float(v)
        if f != f:
            return ".nan"
        if f in (float("inf"), float("-inf")):
            return ".inf" if f > 0 else "-.inf"
        return repr(f)
    if v is None:
        return "null"
    if isinstance(v, Mapping):
        return "{}"
    if isinstance(v, list):
        return "[]"
    s = str(v)
    plain = s and s.translate(_PLAIN_PUNCT).isalnum() and s.isascii() and not _looks_special(s)
    return s if plain else json.dumps(s, ensure_ascii=False)


_PLAIN_PUNCT = str.maketrans("", "", "-_.")  # allowed inside an unquoted YAML word, e.g. apache-2.0


def _looks_special(s: str) -> bool:
    """Plain words YAML would read as something other than a string (booleans, null, numbers)."""
    return s.lower() in {"true", "false", "yes", "no", "on", "off", "null", "y", "n"} or s[0] in "-.0123456789"


# -- shared with the HTML report ----------------------------------------------------------------------
def number(v: Any, signed: bool = False) -> str:
    """Numbers to at most 6 significant digits; everything else as text."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, numbers.Integral):
        return f"{v:+d}" if signed else str(int(v))
    if isinstance(v, numbers.Real):
        return f"{v:+.6g}" if signed else f"{v:.6g}"
    return str(v)


def data_name(d: Mapping[str, Any]) -> str:
    """How a ``[lineage] data`` entry is named: its ``path`` when it has one, else the file ``name``."""
    return str(d.get("path") or d.get("name") or "?")


def data_row(d: Mapping[str, Any]) -> list[Any]:
    return [data_name(d), d.get("sha256", ""), d.get("size"), d.get("rows")]


def parity_pairs(parity: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    pairs = [(str(k), v) for k, v in parity.items() if isinstance(v, Mapping)]
    return sorted(pairs, key=lambda kv: kv[0])
