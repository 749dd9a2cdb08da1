"""Everything the CLI prints: tables, JSON, numbers, error lines, events, gate tables and reports.

Commands hand the library's return values here; each ``render_*`` prints one value as text or, with
``as_json``, as JSON on stdout. Results go to stdout; ``error:``, ``hint:``, ``warning:`` and notes
about what could not be done go to stderr. Only click and the standard library are imported, so the
read commands stay fast to start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from gitreg.ml.evaluate import Evaluation
    from gitreg.ml.parity import Report as ParityReport
    from gitreg.registry import CheckReport, HistoryEvent, ModelSummary, ModelVersion, PullResult
    from gitreg.registry.configuration import Change
    from gitreg.registry.records import Recorded
    from gitreg.registry.verify import VerifyReport
    from gitreg.store.checkout import SidecarCheck
    from gitreg.store.location import RegistryInfo
    from gitreg.workflow.changed import ChangedReport
    from gitreg.workflow.gating import GateReport
    from gitreg.workflow.pr import PromotionRequest


# -- building blocks ---------------------------------------------------------------------------------
# C0 controls but tab and newline, DEL and C1: what a terminal would act on (clear the screen, set
# the title, move the cursor) if a tagger name, a metric key or a reason someone else wrote held it.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """``text`` with every control character a terminal would obey written as a visible escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def echo(message: Any = "", err: bool = False, nl: bool = True) -> None:
    """The one way this CLI prints: never a raw control character (JSON escapes its own)."""
    click.echo(safe(str(message)), err=err, nl=nl)


def emit_json(data: Any) -> None:
    echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    """Left-aligned columns two spaces apart; ``None`` prints as an empty cell."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def num(x: Any) -> str:
    """A metric value: floats to 4 significant digits, anything else as it is."""
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def lines(texts: Iterable[str]) -> None:
    for text in texts:
        echo(text)


def error(message: str, hint: str | None = None) -> None:
    """``error: …`` and, when there is one, ``hint: …`` on stderr."""
    echo(f"error: {message}", err=True)
    if hint:
        echo(f"hint: {hint}", err=True)


def usage_error(message: str, command_path: str) -> None:
    """A click usage error as one ``error:`` line and a ``hint:`` naming the command's help."""
    text = " ".join(message.split()).removesuffix(".")
    if text[:1].isupper() and text[1:2].islower():  # click's "No such option" -> gitreg's lower-case style
        text = text[0].lower() + text[1:]
    error(text, f"{command_path} --help")


def one_line(text: str) -> str:
    """A report line that stays one line: a line break inside it (a value someone else wrote, quoted
    into a problem) is shown as ``\n``, so it can never forge the next ``problem:``/``hint:`` line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def warnings(texts: Iterable[str]) -> None:
    for w in texts:
        echo(f"warning: {one_line(w)}", err=True)


def problems(texts: Iterable[str], err: bool = False) -> None:
    for p in texts:
        echo(f"problem: {one_line(p)}", err=err)


def append_summary(path: str, markdown: str) -> None:
    """Append to a Markdown summary file such as ``$GITHUB_STEP_SUMMARY``."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown)


# -- versions ----------------------------------------------------------------------------------------
def render_init(created: bool, url: str) -> None:
    echo(f"{'initialised' if created else 'already a registry'}: {url}")


def render_workflow(path: str, commit: str | None, kept_spec: str | None = None) -> None:
    """``init --github``: the workflow file's commit on main, or that it was already there; a note when
    the pip spec chosen earlier with --pip-spec was kept."""
    echo(f"wrote {path} on main ({commit[:12]})" if commit else f"{path}: up to date")
    if kept_spec is not None:
        echo(f"note: kept the workflow's pip spec {kept_spec!r} (change it with --pip-spec)", err=True)


def render_pushed(mv: ModelVersion, as_json: bool) -> None:
    if as_json:
        emit_json({"ref": mv.ref, "name": mv.name, "version": f"v{mv.version}", "tag": mv.tag, "commit": mv.commit})
    else:
        echo(mv.ref)


def render_models(models: Sequence[ModelSummary], as_json: bool) -> None:
    if as_json:
        emit_json([m.to_dict() for m in models])
        return
    rows = []
    for m in models:
        stages = " ".join(f"{s}={v}" for s, v in m.stages.items())
        status = ["deprecated"] if m.deprecated else []
        if m.deregistered:
            status.append(f"{m.deregistered} deregistered")
        rows.append((m.name, m.latest, m.versions, stages, ", ".join(status), m.updated))
    # VERSIONS counts live versions and STATUS the deregistered ones: check's two numbers, per model.
    table(rows, ("NAME", "LATEST", "VERSIONS", "STAGES", "STATUS", "UPDATED"))


def render_versions(versions: Sequence[ModelVersion], as_json: bool) -> None:
    if as_json:
        emit_json([v.to_dict() for v in versions])
        return
    rows = []
    for v in versions:
        metrics = v.sidecar.metrics if v.sidecar else {}
        shown = " ".join(f"{k}={num(x)}" for k, x in list(metrics.items())[:4])
        rows.append(
            (f"v{v.version}", v.created, v.author, ",".join(v.stages), "deregistered" if v.deregistered else "", shown)
        )
    table(rows, ("VERSION", "CREATED", "AUTHOR", "STAGES", "STATUS", "METRICS"))


def render_version(mv: ModelVersion, as_json: bool) -> None:
    if as_json:
        emit_json(mv.to_dict())
        return
    from gitreg.core import sidecar

    echo(f"{mv.ref}{'  (deregistered)' if mv.deregistered else ''}")
    echo(f"commit   {mv.commit}")
    echo(f"created  {mv.created} by {mv.author} <{mv.author_email}>")
    echo(f"stages   {', '.join(mv.stages) or '-'}")
    if mv.sidecar is not None:
        echo("")
        echo(sidecar.dumps(mv.sidecar).rstrip())


def render_history(events: Sequence[HistoryEvent], as_json: bool) -> None:
    """Every event; a stage event says whether it was a rollback or skipped the gates, and why."""
    from gitreg.core.stages import read_note

    notes = [read_note(e.message) if e.stage else None for e in events]
    if as_json:
        emit_json(
            [
                {
                    **e.to_dict(),
                    **({"rollback": n.rollback, "forced": n.forced, "reason": n.reason or None} if n else {}),
                }
                for e, n in zip(events, notes)
            ]
        )
        return
    rows = []
    for e, n in zip(events, notes):
        event = e.event
        if n is not None and n.rollback:
            event = "rollback"
        if n is not None and n.forced:
            event += " (forced)"
        rows.append((e.time, event, f"v{e.version}" if e.version else "", e.stage, e.tag, e.author, n and n.reason))
    table(rows, ("TIME", "EVENT", "VERSION", "STAGE", "TAG", "AUTHOR", "NOTE"))


def render_pulled(res: PullResult, as_json: bool) -> None:
    if as_json:
        emit_json(res.to_dict())
    else:
        lines(res.files)


def render_bundle(report: Any, as_json: bool) -> None:
    """``bundle``/``unbundle``: what the file holds or what was imported, one line each."""
    if as_json:
        emit_json({f: getattr(report, f) for f in ("path", "versions", "skipped", "objects", "bytes")})
        return
    for tag in report.versions:
        echo(tag)
    for tag in report.skipped:
        echo(f"{tag} (already here, skipped)")
    echo(
        f"{report.path}: {len(report.versions)} version(s), {report.objects} object(s), {report.bytes} bytes", err=True
    )


def render_event(ev: Any, as_json: bool, extra: Mapping[str, Any] | None = None) -> None:
    """A history event a write created (deprecation, assignment, …): its tag, or its JSON plus ``extra``."""
    if as_json:
        emit_json({**ev.to_dict(), **(extra or {})})
    else:
        echo(ev.tag)


def render_gated_event(ev: Any, report: GateReport | None, as_json: bool) -> None:
    """``promote``/``rollback``: the gate table and verdict (as ``gate`` prints them; nothing for a stage
    without gates), then the stage tag; or its JSON with the gate report (``null`` with --force)."""
    if not as_json:
        if report is not None:
            if report.result.outcomes:
                render_gate(report, ev.stage, False, None)
        else:
            echo(f"gates skipped (--force) for {ev.name}@v{ev.version} -> {ev.stage}")
    render_event(ev, as_json, {"gate": report.to_dict() if report else None})


def render_check(report: CheckReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_dict())
        return
    warnings(report.warnings)
    problems(report.problems)
    status = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    dereg = f" (and {report.deregistered} deregistered)" if report.deregistered else ""
    echo(f"{status}: {report.versions} versions{dereg}, {report.objects} artifact objects checked")


def render_sidecar_check(result: SidecarCheck, as_json: bool = False) -> None:
    if as_json:
        emit_json({"ok": result.ok, "files": result.files, "problems": list(result.problems)})
    else:
        problems(result.problems)


def render_verify(report: VerifyReport, as_json: bool) -> None:
    """What ``verify`` found; on failure the first problem is the ``error:`` line, with the report's hint."""
    if as_json:
        emit_json(report.to_dict())
    else:
        echo(f"{report.ref}  commit {report.commit}")
        for s in report.signatures:
            what = f"tag object {s.tag_object[:12]} -> commit {s.object[:12]}"
            if s.good:
                echo(f"signature  {s.tag}: good {s.format} signature by {s.signer} ({s.key}); {what}")
            else:
                echo(f"signature  {s.tag}: {s.status}{f' ({s.detail})' if s.detail else ''}; {what}")
        if report.sidecar:
            agree = "agree" if all(a.status != "pointer" for a in report.artifacts) else "DISAGREE"
            n = len(report.artifacts)
            echo(f"sidecar    {report.sidecar}: {n} artifact(s); sha256/size {agree} with the LFS pointers")
        for a in report.artifacts:
            where = f"{len(a.checked)} local cop{'y' if len(a.checked) == 1 else 'ies'} hashed"
            detail = a.detail or where
            echo(f"artifact   {a.path}  sha256 {a.sha256[:12]}…  {a.size} bytes: {a.status} ({detail})")
    warnings(report.warnings)
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        error(report.problems[0] + more, report.hint)
    elif not as_json:
        by = ", ".join(dict.fromkeys(report.signers)) or "nobody (unsigned)"
        echo(f"verified: {report.ref} signed by {by}")


# -- evaluation --------------------------------------------------------------------------------------
def render_parity(mv: ModelVersion, report: ParityReport, as_json: bool) -> None:
    if as_json:
        emit_json({"ref": mv.ref, **report.to_section()})
        return
    rows = [
        (
            p.actual,
            p.expected,
            p.samples,
            f"{p.max_abs:.3g}",
            f"{p.max_rel:.3g}",
            "" if p.argmax_agreement is None else f"{p.argmax_agreement:.4f}",
            "ok" if p.passed else "FAIL",
        )
        for p in report.pairs
    ]
    table(rows, ("RUNTIME", "AGAINST", "SAMPLES", "MAX_ABS", "MAX_REL", "ARGMAX", ""))
    echo(f"{mv.ref}: {report.message()}")


def render_predictions(preds: Any, as_json: bool, output: str | None) -> None:
    """Predictions as JSON, as CSV rows on stdout, or as a CSV file at ``output`` (written whole or not at all)."""
    if as_json:
        emit_json(preds.tolist())
    elif output:
        import io

        import numpy as np

        from gitreg.store.files import atomic_write

        text = io.StringIO()
        numeric = np.issubdtype(preds.dtype, np.number) or preds.dtype == np.bool_
        np.savetxt(text, preds.reshape(len(preds), -1), delimiter=",", fmt="%.9g" if numeric else "%s")
        atomic_write(output, text.getvalue())
        echo(f"{len(preds)} predictions -> {output}")
    else:
        for row in preds.reshape(len(preds), -1):
            echo(",".join(num(v.item()) if hasattr(v, "item") else str(v) for v in row))


def render_diff(d: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(d)
        return
    from gitreg.core import diff

    lines(diff.render(d))


def render_evaluation(
    mv: ModelVersion, ev: Evaluation, as_json: bool, report_path: str | None, recorded: Recorded | None
) -> None:
    if as_json:
        extra: dict[str, Any] = {"report": report_path} if report_path else {}
        if recorded is not None:
            extra["recorded"] = recorded.to_dict()
        emit_json({"ref": mv.ref, **ev.to_dict(), **extra})
        return
    table([(k, num(v)) for k, v in ev.metrics.items()], ("METRIC", "VALUE"))
    echo(f"{mv.ref}: {ev.samples} rows, {ev.task}, {ev.rows_per_second:,.0f} rows/s under onnxruntime")
    if report_path:
        echo(f"report -> {report_path}")
    if recorded is not None:
        echo(f"recorded -> {recorded.git_ref} ({recorded.commit[:12]}); {mv.tag} is unchanged")


def render_written(what: str, path: str) -> None:
    """``<what> -> <path>`` after a file was written."""
    echo(f"{what} -> {path}")


def render_text(text: str) -> None:
    """A document as it is (a model card), with no newline added."""
    echo(text, nl=False)


def render_card(ref: str, metadata: Mapping[str, Any], markdown: str, as_json: bool) -> None:
    """``card``: the README.md text, or JSON with its Hugging Face metadata (the front matter) and the text."""
    if as_json:
        emit_json({"ref": ref, "metadata": dict(metadata), "markdown": markdown})
    else:
        render_text(markdown)


def render_compared(a: ModelVersion, ea: Evaluation, b: ModelVersion, eb: Evaluation, path: str, as_json: bool) -> None:
    """``report``: where the page went, or JSON with both evaluations it shows."""
    if as_json:
        emit_json({"a": {"ref": a.ref, **ea.to_dict()}, "b": {"ref": b.ref, **eb.to_dict()}, "report": path})
    else:
        render_written(f"{a.ref} vs {b.ref}", path)


def render_dataset(name: str, meta: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(meta)
    else:
        echo(f"datasets/{name}.npz  {meta['rows']} rows  sha256 {meta['sha256'][:12]}")


def render_datasets(found: Sequence[Mapping[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(list(found))
        return
    if not found:
        echo("no datasets (add one: gitreg dataset push FILE --name NAME)")
        return
    rows = [(d["name"], d.get("rows"), d.get("size"), str(d.get("sha256", ""))[:12], d.get("source")) for d in found]
    table(rows, ["NAME", "ROWS", "BYTES", "SHA256", "SOURCE"])


def render_dataset_detail(meta: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(meta)
        return
    for key in ("name", "path", "rows", "size", "sha256", "source"):
        if meta.get(key) is not None:
            echo(f"{key:<8}{meta[key]}")
    for array, spec in sorted(dict(meta.get("arrays") or {}).items()):
        echo(f"array   {array}: {spec.get('dtype')} {spec.get('shape')}")


def data_line(data: Mapping[str, Any] | None) -> str | None:
    """Which data a verdict rests on: ``data datasets/x.npz  540 rows  sha256 1a2b3c4d5e6f``."""
    if not data:
        return None
    rows = f"  {data['rows']} rows" if data.get("rows") is not None else ""
    return f"data {data.get('name')}{rows}  sha256 {str(data.get('sha256'))[:12]}"


# -- stages and gates --------------------------------------------------------------------------------
def render_promotion_request(req: PromotionRequest, as_json: bool) -> None:
    if as_json:
        emit_json(req.to_dict())
        return
    if req.gate is not None and req.gate.result.outcomes:  # the local gates, as ``gate`` prints them
        render_gate(req.gate, req.stage, False, None)
    echo(f"branch  {req.branch} ({'pushed' if req.pushed else 'already on the registry'})")
    if req.pr_url:
        echo(f"pull request  {req.pr_url} ({'created' if req.pr_created else 'already open'})")
    elif req.compare_url:
        echo(f"open the pull request  {req.compare_url}")
    if req.note:
        echo(f"note: {req.note}", err=True)


def render_applied(events: Sequence[Any], as_json: bool) -> None:
    if as_json:
        emit_json([e.to_dict() for e in events])
    elif not events:
        echo("stage tags already match stages.toml")
    else:
        lines(e.tag for e in events)


def gate_verdict(report: GateReport, stage: str) -> str:
    """``m@v1.2.0 -> production (current holder v1.1.0): passed``."""
    holder = f" (current holder {report.current})" if report.current else " (no current holder)"
    return f"{report.ref} -> {stage}{holder}: {'passed' if report.passed else 'FAILED'}"


def render_gate(report: GateReport, stage: str, as_json: bool, summary_md: str | None) -> None:
    if summary_md:
        line = data_line(report.data)
        data = f"\n{line.replace('data ', 'Data: ', 1)}\n" if line else ""
        append_summary(summary_md, f"### gitreg gate: {report.ref} -> {stage}\n\n{report.result.markdown()}\n{data}")
    if as_json:
        emit_json(report.to_dict())
        return
    echo(report.result.table())
    line = data_line(report.data)
    if line:
        echo(line)
    echo(gate_verdict(report, stage))


def render_gate_changed(report: ChangedReport, as_json: bool, summary_md: str | None) -> None:
    """``gate --changed``: every gate table, then one line per note; problems and errors on stderr."""
    if summary_md:
        append_summary(summary_md, report.markdown() + "\n")
    if as_json:
        emit_json(report.to_dict())
    else:
        for g in report.gates:
            echo(g.result.table())
            echo(gate_verdict(g, g.stage))
            echo("")
        for n in report.notes:
            echo(f"note: {n}")
        if not (report.changes or report.errors or report.problems):
            echo("this pull request does not change stages.toml: nothing to gate")
        else:
            echo(f"{len(report.changes)} stage change(s): {'passed' if report.passed else 'FAILED'}")
    problems(report.problems, err=True)
    for e in report.errors:
        echo(f"error: {e}", err=True)


# -- registry and configuration ------------------------------------------------------------------------
def render_info(info: RegistryInfo, version: str, as_json: bool) -> None:
    """``info``: which registry, why, and what of it is on this machine."""
    if as_json:
        emit_json({**info.to_dict(), "gitreg": version})
        return
    if info.exists is None:
        state = "remote (not contacted)"
    elif not info.exists:
        state = "does not exist yet" + (" (the first write creates it)" if info.source == "default" else "")
    else:
        state = "a gitreg registry" if info.is_registry else "exists, but is not a gitreg registry"
    rows = [
        ("registry", info.url),
        ("chosen by", info.chosen_by),
        ("state", state),
        ("cache", f"{info.cache} ({'present' if info.cache_exists else 'not created yet'})"),
        ("artifacts", info.artifacts),
        ("gitreg", version),
    ]
    facts = info.to_dict()
    if facts.get("offline"):
        fetched = facts.get("cache_fetched")
        rows.insert(
            3, ("offline", f"reads use the cache as fetched at {fetched}" if fetched else "reads use the cache")
        )
    for key, value in rows:
        echo(f"{key:<10} {value}")


def render_config_value(value: Any, as_json: bool) -> None:
    """``config get``: a string as it is, ``true``/``false``, numbers; tables and lists (or ``--json``) as JSON."""
    if as_json or isinstance(value, (dict, list)):
        emit_json(value)
    elif isinstance(value, bool):
        echo("true" if value else "false")
    else:
        echo(value.isoformat() if hasattr(value, "isoformat") else str(value))


def render_config_change(change: Change, what: str) -> None:
    """``config set``/``edit``: the commit on main, or that gitreg.toml already said so; warnings on stderr."""
    warnings(change.warnings)
    if change.commit:
        echo(f"gitreg.toml: {what} (main {change.commit[:12]})")
    else:
        echo(f"gitreg.toml: {what}: already so, nothing committed" if what else "gitreg.toml: no changes")


def render_cache_info(info: Any, as_json: bool) -> None:
    """``cache info``: the cache root, each registry's clone, the artifact folders, the total."""
    from gitreg.registry.cache import human_bytes

    if as_json:
        emit_json(info.to_dict())
        return
    echo(f"cache root  {info.root}" + ("  (offline)" if info.offline else ""))
    rows = [
        (r.url, human_bytes(r.bytes), r.objects, human_bytes(r.object_bytes), r.last_fetch or "never")
        for r in info.registries
    ]
    if rows:
        table(rows, ["registry", "size", "objects", "object bytes", "last fetch"])
    else:
        echo("no registry is cached on this machine")
    echo(f"artifacts   {info.artifacts_path}: {info.artifacts} entries, {human_bytes(info.artifacts_bytes)}")
    echo(f"total       {human_bytes(info.bytes)}")


def render_pruned(report: Any, as_json: bool) -> None:
    """``cache prune``: what was (or, with ``--dry-run``, would be) removed, per registry."""
    from gitreg.registry.cache import human_bytes

    if as_json:
        emit_json(report.to_dict())
        return
    verb = "would remove" if report.dry_run else "removed"
    for e in report.entries:
        if e.whole:
            echo(f"{e.what}: {verb} the whole cache clone ({human_bytes(e.bytes)}, {e.removed} objects)")
        else:
            unit = "artifact folders" if e.what == "artifacts" else "objects"
            echo(f"{e.what}: {verb} {e.removed} {unit} ({human_bytes(e.bytes)}), kept {e.kept}")
    echo(f"total: {verb} {report.removed} ({human_bytes(report.bytes)})" + (" — dry run" if report.dry_run else ""))
