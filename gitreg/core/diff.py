"""``gitreg diff A B``: what changed between two versions, from their sidecars alone (pure).

A signature change is *breaking* when an input changed (name, dtype, shape) or went away: code
that fed A will not feed B. Outputs changing, or inputs being added, is reported but not breaking
for the caller's inputs (an added input is breaking too: old callers do not pass it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitreg.core.card import RUN_FIELDS, data_name, table, tables


def _delta(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(b) - float(a)
    return None


def _changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for k in sorted(set(a) | set(b), key=str):
        if a.get(k) != b.get(k):
            out[k] = {"a": a.get(k), "b": b.get(k)}
    return out


def _by_name(items: Any) -> dict[str, Mapping[str, Any]]:
    return {str(i.get("name")): i for i in tables(items)}


def signature_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    a, b = table(a), table(b)
    ins_a, ins_b = _by_name(a.get("inputs")), _by_name(b.get("inputs"))
    outs_a, outs_b = _by_name(a.get("outputs")), _by_name(b.get("outputs"))
    changed_inputs = sorted(n for n in set(ins_a) & set(ins_b) if ins_a[n] != ins_b[n])
    removed = sorted(set(ins_a) - set(ins_b))
    added = sorted(set(ins_b) - set(ins_a))
    out = {
        "inputs_changed": {n: {"a": dict(ins_a[n]), "b": dict(ins_b[n])} for n in changed_inputs},
        "inputs_removed": removed,
        "inputs_added": added,
        "outputs_changed": sorted(n for n in set(outs_a) | set(outs_b) if outs_a.get(n) != outs_b.get(n)),
        "classes_changed": a.get("classes") != b.get("classes"),
    }
    out["breaking"] = bool(changed_inputs or removed or added)
    return out


def diff(ref_a: str, a: Mapping[str, Any], ref_b: str, b: Mapping[str, Any]) -> dict[str, Any]:
    """Both sidecars as dicts (``Sidecar.to_dict()``); B is compared against A.

    A section or field of the wrong type (``loads`` refuses those; a dict built in code may hold one)
    reads as empty rather than failing the whole diff.
    """
    ma, mb = table(a.get("metrics")), table(b.get("metrics"))
    metrics = {
        k: {"a": ma.get(k), "b": mb.get(k), "delta": _delta(ma.get(k), mb.get(k))} for k in sorted(set(ma) | set(mb))
    }
    ea, eb = _eval_metrics(table(a.get("evaluation"))), _eval_metrics(table(b.get("evaluation")))
    evaluation = {
        k: {"a": ea.get(k), "b": eb.get(k), "delta": _delta(ea.get(k), eb.get(k))} for k in sorted(set(ea) | set(eb))
    }
    arts_a, arts_b = table(a.get("artifacts")), table(b.get("artifacts"))
    artifacts = {}
    for kind in sorted(set(arts_a) | set(arts_b), key=str):
        x, y = table(arts_a.get(kind)), table(arts_b.get(kind))
        artifacts[kind] = {
            "same": x.get("sha256") == y.get("sha256") and bool(x),
            "sha256": {"a": x.get("sha256"), "b": y.get("sha256")},
            "size": {"a": x.get("size"), "b": y.get("size"), "delta": _delta(x.get("size"), y.get("size"))},
        }
    la, lb = table(a.get("lineage")), table(b.get("lineage"))
    # By data_name: fingerprints carry ``name``, and keying by a missing ``path`` folded every file into one row.
    data_a = {data_name(d): d.get("sha256") for d in tables(la.get("data"))}
    data_b = {data_name(d): d.get("sha256") for d in tables(lb.get("data"))}
    lineage = {
        "code": _changes(table(la.get("code")), table(lb.get("code"))),
        "data": _changes(data_a, data_b),
        "parent": {"a": la.get("parent"), "b": lb.get("parent")} if la.get("parent") != lb.get("parent") else {},
    }
    return {
        "a": ref_a,
        "b": ref_b,
        "metrics": metrics,
        "evaluation": evaluation,
        "params": _changes(table(a.get("params")), table(b.get("params"))),
        "signature": signature_diff(table(a.get("signature")), table(b.get("signature"))),
        "artifacts": artifacts,
        "lineage": lineage,
        "parity": {"a": table(a.get("parity")).get("passed"), "b": table(b.get("parity")).get("passed")},
    }


def _eval_metrics(section: Mapping[str, Any]) -> dict[str, float]:
    """The flat metrics of an ``[evaluation]`` table (``Evaluation.to_section``)."""
    return {
        k: v
        for k, v in section.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in RUN_FIELDS
    }


def render(d: Mapping[str, Any]) -> list[str]:
    """Plain-text lines for the terminal."""
    lines = [f"{d['a']}  ->  {d['b']}"]

    def num(x: Any) -> str:
        return "-" if x is None else (f"{x:.6g}" if isinstance(x, float) else str(x))

    for section in ("metrics", "evaluation"):
        rows = d[section]
        if rows:
            lines.append(f"{section}:")
            for k, r in rows.items():
                delta = "" if r["delta"] is None else f"  ({r['delta']:+.6g})"
                lines.append(f"  {k:<28} {num(r['a']):>12} -> {num(r['b']):<12}{delta}")
    if d["params"]:
        lines.append("params:")
        lines += [f"  {k:<28} {num(r['a']):>12} -> {num(r['b'])}" for k, r in d["params"].items()]
    lines.append(f"signature: {signature_summary(d['signature'])}")
    lines.append("artifacts:")
    for kind, r in d["artifacts"].items():
        if r["same"]:
            lines.append(f"  {kind:<12} identical ({num(r['size']['a'])} bytes)")
        elif not r["sha256"]["a"]:
            lines.append(f"  {kind:<12} added ({str(r['sha256']['b'])[:12]}, {num(r['size']['b'])} bytes)")
        elif not r["sha256"]["b"]:
            lines.append(f"  {kind:<12} removed (was {str(r['sha256']['a'])[:12]}, {num(r['size']['a'])} bytes)")
        else:
            sha_a, sha_b = str(r["sha256"]["a"])[:12], str(r["sha256"]["b"])[:12]
            lines.append(f"  {kind:<12} {sha_a} -> {sha_b}  {num(r['size']['a'])} -> {num(r['size']['b'])} bytes")
    lin = d["lineage"]
    for k, r in lin["code"].items():
        lines.append(f"code {k}: {_value(r['a'])} -> {_value(r['b'])}")
    for k, r in lin["data"].items():
        sha_a, sha_b = (str(x)[:12] if x else "" for x in (r["a"], r["b"]))
        if not sha_a:
            lines.append(f"data {k}: added (sha256 {sha_b or 'unknown'})")
        elif not sha_b:
            lines.append(f"data {k}: removed (was sha256 {sha_a})")
        else:
            lines.append(f"data {k}: {sha_a} -> {sha_b}")
    if lin["parent"]:
        lines.append(f"parent: {_value(lin['parent']['a'])} -> {_value(lin['parent']['b'])}")
    return lines


def _value(x: Any) -> str:
    """A lineage value, ``none`` when a version has none (never Python's ``None``)."""
    return "none" if x is None or x == "" else str(x)


def signature_summary(sig: Mapping[str, Any]) -> str:
    """One phrase for a diff's signature part: ``BREAKING (inputs x changed)``, ``outputs or classes
    changed (inputs compatible)`` or ``unchanged`` (the terminal's and the site's wording)."""
    if sig["breaking"]:
        what = sorted(set(sig["inputs_changed"]) | set(sig["inputs_removed"]) | set(sig["inputs_added"]))
        return f"BREAKING (inputs {', '.join(what)} changed)"
    if sig["outputs_changed"] or sig["classes_changed"]:
        return "outputs or classes changed (inputs compatible)"
    return "unchanged"
