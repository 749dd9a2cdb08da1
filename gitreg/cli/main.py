"""The ``gitreg`` command: parse options, call one ``Registry`` method, render a table or ``--json``.

Nothing else happens here. One wrapper turns a ``GitregError`` into ``error: …`` (and ``hint: …``)
on stderr with the error's exit code — 1 bad input or registry error, 2 usage, 3 a failed check —
and never a traceback unless ``GITREG_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from gitreg.errors import GitregError, UsageError

DEBUG = "GITREG_DEBUG"


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitregError as e:
            if os.environ.get(DEBUG):
                raise
            click.echo(f"error: {e.message}", err=True)
            if e.hint:
                click.echo(f"hint: {e.hint}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted; nothing was registered", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as e:  # a bug: still one line, with the way to see more
            if os.environ.get(DEBUG):
                raise
            click.echo(f"error: internal error: {type(e).__name__}: {e} (set {DEBUG}=1 for the traceback)", err=True)
            ctx.exit(1)


def _registry(url: str | None):
    from gitreg.registry.registry import Registry

    return Registry(url)


registry_option = click.option(
    "--registry",
    "-r",
    "registry",
    metavar="PATH|URL",
    help="Registry to use (default: $GITREG_REGISTRY, [tool.gitreg] registry, or the embedded one).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
sign_option = click.option(
    "--sign",
    is_flag=True,
    help="Sign the tag as git tag -s does (your gpg.format and user.signingkey); check with gitreg verify.",
)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitreg", message="gitreg %(version)s")
def cli() -> None:
    """gitreg: a git-native model registry (tags for versions, Git LFS for artifacts)."""


@cli.command()
@click.option(
    "--github", is_flag=True, help="Also commit .github/workflows/gitreg.yml (gates on PRs, apply on merge) to main."
)
@click.option("--pip-spec", metavar="SPEC", help="What the workflow pip-installs (default: gitreg==this version).")
@registry_option
def init(github: bool, pip_spec: str | None, registry: str | None) -> None:
    """Create a registry (a bare git repo with LFS); does nothing if it exists."""
    if pip_spec is not None and not github:
        raise UsageError("--pip-spec goes with --github")
    reg = _registry(registry)
    if github:
        from gitreg.workflow import github as gh

        gh.render(pip_spec)  # a bad --pip-spec fails before anything is created
    created = reg.init()
    click.echo(f"{'initialised' if created else 'already a registry'}: {reg.url}")
    if github:
        commit = gh.install(reg, pip_spec)
        click.echo(f"wrote {gh.WORKFLOW_PATH} on main ({commit[:12]})" if commit else f"{gh.WORKFLOW_PATH}: up to date")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--name", "-n", required=True, help="Model name: lower-case letters, digits, '-', '_'.")
@click.option(
    "--from-python",
    "from_python",
    metavar="MODULE:FUNCTION",
    help="Call FUNCTION (in a module or a .py file) for a model to export, or a dict of gitreg.push arguments.",
)
@click.option("--script", is_flag=True, help="TorchScript by torch.jit.script instead of trace (with --from-python).")
@click.option(
    "--allow-parity-failure",
    is_flag=True,
    help="Register even if the exported artifacts disagree with the model (recorded as passed = false).",
)
@click.option("--version", "version", help="Version to register, e.g. 1.2.0 (versions are immutable).")
@click.option(
    "--bump",
    type=click.Choice(["major", "minor", "patch"]),
    help="Bump the latest version (default: minor with metrics, else patch; first is 1.0.0).",
)
@click.option("--metric", "metric", multiple=True, metavar="KEY=NUMBER", help="A metric (repeatable).")
@click.option("--metrics", "metrics_file", type=click.Path(), help="JSON or TOML file of metrics.")
@click.option("--param", "param", multiple=True, metavar="KEY=VALUE", help="A hyperparameter (repeatable).")
@click.option("--label", "label", multiple=True, metavar="KEY=VALUE", help="A label (repeatable).")
@click.option("--description", "-d", help="What this version is.")
@click.option("--parent", metavar="REF", help="The model version this one was derived from.")
@click.option("--data", "data", multiple=True, type=click.Path(), help="Data file to fingerprint into lineage.")
@sign_option
@registry_option
@json_option
def push(
    paths: tuple[str, ...],
    name: str,
    from_python: str | None,
    script: bool,
    allow_parity_failure: bool,
    version: str | None,
    bump: str | None,
    metric: tuple[str, ...],
    metrics_file: str | None,
    param: tuple[str, ...],
    label: tuple[str, ...],
    description: str | None,
    parent: str | None,
    data: tuple[str, ...],
    sign: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Register a new version of a model: exported artifacts (.onnx, TorchScript .pt), or a live
    model returned by --from-python, which is exported and parity-checked first."""
    from gitreg.ml import metadata

    metrics: dict[str, float] = {}
    if metrics_file:
        metrics.update(metadata.metrics_from_file(metrics_file))
    metrics.update(metadata.metrics_from_pairs(metric))
    params = {k: metadata.parse_scalar(v) for k, v in metadata.parse_pairs(param, "param").items()}
    labels = metadata.parse_pairs(label, "label")
    if bool(paths) == bool(from_python):
        raise UsageError("give artifact PATHS or --from-python MODULE:FUNCTION (one of them)")
    options: dict[str, Any] = dict(
        version=version, bump=bump, description=description, parent=parent, data=list(data), registry=registry
    )
    if from_python:
        from gitreg import api
        from gitreg.ml import training

        kwargs = training.call(from_python)  # {"model": ..., and any gitreg.push keyword}
        model = kwargs.pop("model")
        kwargs.pop("name", None)  # --name decides
        kwargs["metrics"] = {**kwargs.get("metrics", {}), **metrics}
        kwargs["params"] = {**kwargs.get("params", {}), **params}
        kwargs["labels"] = {**kwargs.get("labels", {}), **labels}
        kwargs.update({k: v for k, v in options.items() if v not in (None, [])})  # the command line wins
        kwargs["script"] = script or bool(kwargs.get("script"))
        kwargs["allow_parity_failure"] = allow_parity_failure or bool(kwargs.get("allow_parity_failure"))
        kwargs["sign"] = sign or bool(kwargs.get("sign"))
        mv = api.push(model, name, **kwargs)
    else:
        if script or allow_parity_failure:
            raise UsageError("--script and --allow-parity-failure apply to --from-python (live models)")
        options.pop("registry")
        mv = _registry(registry).push_files(
            list(paths), name, metrics=metrics, params=params, labels=labels, sign=sign, **options
        )
    if as_json:
        _emit_json({"ref": mv.ref, "name": mv.name, "version": f"v{mv.version}", "tag": mv.tag, "commit": mv.commit})
    else:
        click.echo(mv.ref)


@cli.command(name="list")
@click.argument("name", required=False)
@registry_option
@json_option
def list_(name: str | None, registry: str | None, as_json: bool) -> None:
    """List models, or the versions of NAME."""
    reg = _registry(registry)
    if name is None:
        models = reg.list()
        if as_json:
            _emit_json([m.to_dict() for m in models])
            return
        _table(
            [
                (
                    m.name,
                    m.latest,
                    m.versions,
                    " ".join(f"{s}={v}" for s, v in m.stages.items()),
                    "deprecated" if m.deprecated else "",
                    m.updated,
                )
                for m in models
            ],
            ("NAME", "LATEST", "VERSIONS", "STAGES", "", "UPDATED"),
        )
        return
    versions = reg.versions(name)
    if as_json:
        _emit_json([v.to_dict() for v in versions])
        return
    rows = []
    for v in versions:
        metrics = v.sidecar.metrics if v.sidecar else {}
        shown = " ".join(f"{k}={_num(x)}" for k, x in list(metrics.items())[:4])
        rows.append(
            (
                f"v{v.version}",
                v.created,
                v.author,
                ",".join(v.stages),
                "deregistered" if v.deregistered else "",
                shown,
            )
        )
    _table(rows, ("VERSION", "CREATED", "AUTHOR", "STAGES", "", "METRICS"))


def _num(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


@cli.command()
@click.argument("ref")
@registry_option
@json_option
def show(ref: str, registry: str | None, as_json: bool) -> None:
    """Show one version (REF: NAME, NAME@latest, NAME@vX.Y.Z or NAME#STAGE) and its sidecar."""
    from gitreg.core import sidecar

    mv = _registry(registry).show(ref)
    if as_json:
        _emit_json(mv.to_dict())
        return
    click.echo(f"{mv.ref}{'  (deregistered)' if mv.deregistered else ''}")
    click.echo(f"commit   {mv.commit}")
    click.echo(f"created  {mv.created} by {mv.author} <{mv.author_email}>")
    click.echo(f"stages   {', '.join(mv.stages) or '-'}")
    if mv.sidecar is not None:
        click.echo("")
        click.echo(sidecar.dumps(mv.sidecar).rstrip())


@cli.command()
@click.argument("name")
@registry_option
@json_option
def history(name: str, registry: str | None, as_json: bool) -> None:
    """Registrations, stage changes and deprecations of NAME, oldest first."""
    events = _registry(registry).history(name)
    if as_json:
        _emit_json([e.to_dict() for e in events])
        return
    _table(
        [(e.time, e.event, f"v{e.version}" if e.version else "", e.stage or "", e.tag, e.author) for e in events],
        ("TIME", "EVENT", "VERSION", "STAGE", "TAG", "AUTHOR"),
    )


@cli.command()
@click.argument("ref")
@click.option(
    "--output", "-o", "dest", type=click.Path(file_okay=False), help="Folder to write into (default: ./NAME)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["all", "onnx", "torchscript"]),
    default="all",
    show_default=True,
    help="Which artifacts to fetch.",
)
@registry_option
@json_option
def pull(ref: str, dest: str | None, fmt: str, registry: str | None, as_json: bool) -> None:
    """Fetch one version's artifacts, verified against their sha256; nothing else is downloaded."""
    res = _registry(registry).pull(ref, dest, format=fmt)
    if as_json:
        _emit_json(res.to_dict())
        return
    for f in res.files:
        click.echo(f)


@cli.command()
@registry_option
@json_option
def check(registry: str | None, as_json: bool) -> None:
    """Verify every version: sidecars, pointers, and every artifact's presence and sha256."""
    report = _registry(registry).check()
    if as_json:
        _emit_json(report.to_dict())
    else:
        for w in report.warnings:
            click.echo(f"warning: {w}", err=True)
        for p in report.problems:
            click.echo(f"problem: {p}")
        status = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(f"{status}: {report.versions} versions, {report.objects} artifact objects checked")
    if not report.ok:
        sys.exit(3)


@cli.command(name="validate-sidecar")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
def validate_sidecar(files: tuple[str, ...]) -> None:
    """Validate model.toml files in a registry checkout against the artifacts beside them (pre-commit)."""
    from gitreg.store.checkout import validate_sidecars

    result = validate_sidecars(files)
    for p in result.problems:
        click.echo(f"problem: {p}")
    if not result.ok:
        sys.exit(3)


@cli.command()
@click.argument("ref")
@click.option(
    "--allow-unsigned", is_flag=True, help="Accept an unsigned tag with a warning (a bad signature still fails)."
)
@click.option(
    "--allowed-signers",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="ssh allowed signers file (default: git config gpg.ssh.allowedSignersFile).",
)
@registry_option
@json_option
def verify(ref: str, allow_unsigned: bool, allowed_signers: str | None, registry: str | None, as_json: bool) -> None:
    """Check REF offline: who signed its tag, the sidecar against the LFS pointers, the local
    artifact bytes against their sha256. Exit 3 if anything fails; never downloads."""
    from gitreg.errors import IntegrityError

    report = _registry(registry).verify(ref, allow_unsigned=allow_unsigned, allowed_signers=allowed_signers)
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo(f"{report.ref}  commit {report.commit}")
        for s in report.signatures:
            what = f"tag object {s.tag_object[:12]} -> commit {s.object[:12]}"
            if s.good:
                click.echo(f"signature  {s.tag}: good {s.format} signature by {s.signer} ({s.key}); {what}")
            else:
                click.echo(f"signature  {s.tag}: {s.status}{f' ({s.detail})' if s.detail else ''}; {what}")
        if report.sidecar:
            agree = "agree" if all(a.status != "pointer" for a in report.artifacts) else "DISAGREE"
            n = len(report.artifacts)
            click.echo(f"sidecar    {report.sidecar}: {n} artifact(s); sha256/size {agree} with the LFS pointers")
        for a in report.artifacts:
            where = f"{len(a.checked)} local cop{'y' if len(a.checked) == 1 else 'ies'} hashed"
            detail = a.detail or where
            click.echo(f"artifact   {a.path}  sha256 {a.sha256[:12]}…  {a.size} bytes: {a.status} ({detail})")
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise IntegrityError(report.problems[0] + more, problems=report.problems, hint=report.hint)
    if not as_json:
        by = ", ".join(dict.fromkeys(report.signers)) or "nobody (unsigned)"
        click.echo(f"verified: {report.ref} signed by {by}")


@cli.command()
@click.argument("ref")
@registry_option
@json_option
def deprecate(ref: str, registry: str | None, as_json: bool) -> None:
    """Deprecate NAME, deregister NAME@vX.Y.Z, or unassign NAME#STAGE (GTO's forms)."""
    ev = _registry(registry).deprecate(ref)
    if as_json:
        _emit_json(ev.to_dict())
    else:
        click.echo(ev.tag)


@cli.command()
@click.argument("ref")
@click.option("--data", type=click.Path(), help="Inputs: .npy, .npz (X) or .csv (default: seeded random inputs).")
@registry_option
@json_option
def parity(ref: str, data: str | None, registry: str | None, as_json: bool) -> None:
    """Re-check a stored version: TorchScript (torch) against ONNX (onnxruntime); exit 3 on failure."""
    from gitreg import api

    mv, report = api.check_parity(ref, data, registry=registry)
    if as_json:
        _emit_json({"ref": mv.ref, **report.to_section()})
    else:
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
        _table(rows, ("RUNTIME", "AGAINST", "SAMPLES", "MAX_ABS", "MAX_REL", "ARGMAX", ""))
        click.echo(f"{mv.ref}: {report.message()}")
    if not report.passed:
        sys.exit(3)


@cli.command()
@click.argument("ref")
@click.option("--data", required=True, type=click.Path(), help="Inputs: .npy, .npz (X) or .csv.")
@click.option("--target", metavar="COLUMN", help="CSV column holding labels (dropped from the inputs).")
@click.option(
    "--runtime",
    type=click.Choice(["onnxruntime", "torchscript"]),
    default="onnxruntime",
    show_default=True,
    help="Run the ONNX file under onnxruntime, or the TorchScript file under torch.",
)
@click.option("--proba", is_flag=True, help="Print class probabilities instead of labels.")
@click.option("--output", "-o", type=click.Path(), help="Write predictions to this CSV file instead of stdout.")
@registry_option
@json_option
def predict(
    ref: str,
    data: str,
    target: str | None,
    runtime: str,
    proba: bool,
    output: str | None,
    registry: str | None,
    as_json: bool,
) -> None:
    """Predict with a registered model on a data file (a quick check; use gitreg.load in code)."""
    from gitreg import api
    from gitreg.ml.predictor import read_array_file

    x, _ = read_array_file(data, target)
    preds = api.predict(ref, x, runtime=runtime, proba=proba, registry=registry)
    if as_json:
        _emit_json(preds.tolist())
    elif output:
        import numpy as np

        tmp = f"{output}.{os.getpid()}.tmp"
        np.savetxt(tmp, preds.reshape(len(preds), -1), delimiter=",", fmt="%.9g")
        os.replace(tmp, output)
        click.echo(f"{len(preds)} predictions -> {output}")
    else:
        for row in preds.reshape(len(preds), -1):
            click.echo(",".join(_num(v.item()) if hasattr(v, "item") else str(v) for v in row))


@cli.command()
@click.argument("a")
@click.argument("b")
@registry_option
@json_option
def diff(a: str, b: str, registry: str | None, as_json: bool) -> None:
    """Compare two versions: metrics, params, signature (breaking?), artifacts, lineage."""
    from gitreg.core import diff as diff_mod

    reg = _registry(registry)
    va, vb = reg.show(a), reg.show(b)
    d = diff_mod.diff(
        va.ref, va.sidecar.to_dict() if va.sidecar else {}, vb.ref, vb.sidecar.to_dict() if vb.sidecar else {}
    )
    if as_json:
        _emit_json(d)
    else:
        for line in diff_mod.render(d):
            click.echo(line)


def _event_out(ev: Any, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        _emit_json({**ev.to_dict(), **(extra or {})})
    else:
        click.echo(ev.tag)


@cli.command()
@click.argument("ref")
@click.option("--to", "stage", required=True, metavar="STAGE", help="Stage to promote to (see gitreg.toml [stages]).")
@click.option("--force", is_flag=True, help="Skip the gates (needs --reason; recorded in the tag and history).")
@click.option("--reason", help="Why: recorded in the stage tag's message.")
@click.option("--data", type=click.Path(), help="Data for eval.* rules instead of the stage's configured dataset.")
@click.option(
    "--pr",
    "pr",
    is_flag=True,
    help="Open a pull request that edits stages.toml (the default for stages with require_pr = true).",
)
@click.option("--direct", is_flag=True, help="Assign directly (refused for stages with require_pr = true).")
@click.option(
    "--no-local-gates", "no_local_gates", is_flag=True, help="With --pr: skip the local gates (CI runs them)."
)
@sign_option
@registry_option
@json_option
def promote(
    ref: str,
    stage: str,
    force: bool,
    reason: str | None,
    data: str | None,
    pr: bool,
    direct: bool,
    no_local_gates: bool,
    sign: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Run STAGE's gates on REF, then assign it (stages.toml + GTO stage tag, one atomic push), or
    request it in a pull request (--pr, or require_pr = true) that CI gates and gitreg apply tags on merge."""
    from gitreg import api
    from gitreg.workflow import pr as pr_mod

    reg = _registry(registry)
    if not pr_mod.wants_pr(reg, stage, pr, direct):
        if no_local_gates:
            raise UsageError("--no-local-gates goes with --pr; a direct promotion skips gates only with --force")
        ev, report = api.promote(ref, stage, force=force, reason=reason, data=data, registry=reg, sign=sign)
        _event_out(ev, as_json, {"gate": report.to_dict() if report else None})
        return
    if force or sign:
        raise UsageError(
            f"{'--force' if force else '--sign'} applies to direct promotion; "
            "a pull request is gated by CI and tagged by gitreg apply (see --no-local-gates)"
        )
    req = api.request_promotion(ref, stage, local_gates=not no_local_gates, data=data, reason=reason, registry=reg)
    if as_json:
        _emit_json(req.to_dict())
        return
    click.echo(f"branch  {req.branch} ({'pushed' if req.pushed else 'already on the registry'})")
    if req.pr_url:
        click.echo(f"pull request  {req.pr_url} ({'created' if req.pr_created else 'already open'})")
    elif req.compare_url:
        click.echo(f"open the pull request  {req.compare_url}")
    if req.note:
        click.echo(f"note: {req.note}", err=True)


@cli.command()
@click.argument("name")
@click.option("--stage", required=True, help="Stage to take away from its holder.")
@click.option("--reason", help="Why: recorded in the tag's message.")
@sign_option
@registry_option
@json_option
def demote(name: str, stage: str, reason: str | None, sign: bool, registry: str | None, as_json: bool) -> None:
    """Unassign STAGE from the version of NAME holding it (GTO's unassign tag)."""
    from gitreg import api

    _event_out(api.demote(name, stage, reason, registry=registry, sign=sign), as_json)


@cli.command()
@click.argument("name")
@click.option("--stage", required=True, help="Stage to roll back.")
@click.option("--to", "to", metavar="VERSION", help="Version to give the stage to (default: the previous holder).")
@click.option("--force", is_flag=True, help="Skip the gates (needs --reason).")
@click.option("--reason", help="Why: recorded in the stage tag's message.")
@sign_option
@registry_option
@json_option
def rollback(
    name: str,
    stage: str,
    to: str | None,
    force: bool,
    reason: str | None,
    sign: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Give STAGE back to the version that held it before (through the gates unless --force)."""
    from gitreg import api

    ev, report = api.rollback(name, stage, to, force=force, reason=reason, registry=registry, sign=sign)
    _event_out(ev, as_json, {"gate": report.to_dict() if report else None})


@cli.command(name="apply")
@registry_option
@json_option
def apply_(registry: str | None, as_json: bool) -> None:
    """Create the stage tags stages.toml asks for (after a promotion PR merged); idempotent."""
    from gitreg import api

    events = api.apply(registry=registry)
    if as_json:
        _emit_json([e.to_dict() for e in events])
    elif not events:
        click.echo("stage tags already match stages.toml")
    else:
        for e in events:
            click.echo(e.tag)


@cli.command()
@click.argument("ref", required=False)
@click.option("--stage", help="Stage whose gates to run (with REF).")
@click.option(
    "--changed",
    is_flag=True,
    help="Instead of REF/--stage: gate every stage assignment this checkout's HEAD changes in stages.toml (CI).",
)
@click.option(
    "--base",
    default="origin/main",
    show_default=True,
    metavar="REF",
    help="With --changed: the branch the pull request targets.",
)
@click.option("--data", type=click.Path(), help="Data for eval.* rules instead of the stage's configured dataset.")
@click.option("--target", metavar="COLUMN", help="CSV column holding labels.")
@click.option("--summary-md", type=click.Path(), help="Append a Markdown table here (e.g. $GITHUB_STEP_SUMMARY).")
@registry_option
@json_option
def gate(
    ref: str | None,
    stage: str | None,
    changed: bool,
    base: str,
    data: str | None,
    target: str | None,
    summary_md: str | None,
    registry: str | None,
    as_json: bool,
) -> None:
    """Judge REF against STAGE's rules: value, threshold, pass/fail per rule; exit 3 on failure.
    With --changed, judge what a promotion pull request changes (exit 1 for a bad request)."""
    from gitreg import api

    if changed:
        if ref or stage:
            raise UsageError("--changed finds the versions and stages itself: drop REF and --stage")
        _gate_changed(api.gate_changed(".", base, registry, data, target), summary_md, as_json)
        return
    if not (ref and stage):
        raise UsageError("give REF and --stage STAGE (or --changed in a checkout of a promotion pull request)")
    report = api.gate(ref, stage, data, registry=registry, target=target)
    if summary_md:
        with open(summary_md, "a", encoding="utf-8") as fh:
            fh.write(f"### gitreg gate: {report.ref} -> {stage}\n\n{report.result.markdown()}\n")
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo(report.result.table())
        holder = f" (current holder {report.current})" if report.current else " (no current holder)"
        click.echo(f"{report.ref} -> {stage}{holder}: {'passed' if report.passed else 'FAILED'}")
    if not report.passed:
        sys.exit(3)


def _gate_changed(report: Any, summary_md: str | None, as_json: bool) -> None:
    """``gate --changed``: every gate table, then one line per error or problem; exit 0, 1 or 3."""
    if summary_md:
        with open(summary_md, "a", encoding="utf-8") as fh:
            fh.write(report.markdown() + "\n")
    if as_json:
        _emit_json(report.to_dict())
    else:
        for g in report.gates:
            holder = f" (current holder {g.current})" if g.current else " (no current holder)"
            click.echo(g.result.table())
            click.echo(f"{g.ref} -> {g.stage}{holder}: {'passed' if g.passed else 'FAILED'}")
            click.echo("")
        for n in report.notes:
            click.echo(f"note: {n}")
        if not (report.changes or report.errors or report.problems):
            click.echo("this pull request does not change stages.toml: nothing to gate")
        else:
            click.echo(f"{len(report.changes)} stage change(s): {'passed' if report.passed else 'FAILED'}")
    for p in report.problems:
        click.echo(f"problem: {p}", err=True)
    for e in report.errors:
        click.echo(f"error: {e}", err=True)
    if report.exit_code:
        sys.exit(report.exit_code)


@cli.command(name="eval")
@click.argument("ref")
@click.option("--data", required=True, help="Labelled data: .npz (X, y), .csv with --target, or datasets/NAME.npz.")
@click.option("--target", metavar="COLUMN", help="CSV column holding labels.")
@click.option("--report", "report_path", type=click.Path(), help="Write a self-contained HTML report here.")
@click.option(
    "--record", is_flag=True, help="Keep the result with the version ([evaluation] in a new commit; the tag stays)."
)
@registry_option
@json_option
def eval_(
    ref: str,
    data: str,
    target: str | None,
    report_path: str | None,
    record: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Evaluate REF's ONNX artifact under onnxruntime (large vectorised batches)."""
    from gitreg import api

    recorded = None
    if record:
        mv, ev, recorded = api.record_evaluation(ref, data, target, registry=registry)
    else:
        mv, ev = api.evaluate(ref, data, target, registry=registry)
    if report_path:
        from gitreg.ml import report

        report.write_atomic(report_path, report.html_report(mv.ref, ev, mv.sidecar.to_dict() if mv.sidecar else {}))
    if as_json:
        extra = {"report": report_path} if report_path else {}
        if recorded is not None:
            extra["recorded"] = recorded.to_dict()
        _emit_json({"ref": mv.ref, **ev.to_dict(), **extra})
        return
    _table([(k, _num(v)) for k, v in ev.metrics.items()], ("METRIC", "VALUE"))
    click.echo(f"{mv.ref}: {ev.samples} rows, {ev.task}, {ev.rows_per_second:,.0f} rows/s under onnxruntime")
    if report_path:
        click.echo(f"report -> {report_path}")
    if recorded is not None:
        click.echo(f"recorded -> {recorded.git_ref} ({recorded.commit[:12]}); {mv.tag} is unchanged")


@cli.command(name="report")
@click.argument("a")
@click.argument("b")
@click.option("--data", required=True, help="Labelled data both versions are evaluated on.")
@click.option("--target", metavar="COLUMN", help="CSV column holding labels.")
@click.option("--output", "-o", required=True, type=click.Path(), help="The HTML file to write.")
@registry_option
def report_(a: str, b: str, data: str, target: str | None, output: str, registry: str | None) -> None:
    """Compare two versions side by side in one HTML page (metric deltas, confusion difference)."""
    from gitreg import api
    from gitreg.ml import report

    reg = _registry(registry)
    va, ea = api.evaluate(a, data, target, registry=reg)
    vb, eb = api.evaluate(b, data, target, registry=reg)
    page = report.html_compare(
        va.ref, ea, va.sidecar.to_dict() if va.sidecar else {}, vb.ref, eb, vb.sidecar.to_dict() if vb.sidecar else {}
    )
    report.write_atomic(output, page)
    click.echo(f"{va.ref} vs {vb.ref} -> {output}")


@cli.command()
@click.argument("ref")
@registry_option
def card(ref: str, registry: str | None) -> None:
    """Print REF's model card (Hugging Face-style README.md from its sidecar)."""
    from gitreg import api

    click.echo(api.model_card(ref, registry=registry), nl=False)


@cli.group()
def dataset() -> None:
    """Evaluation datasets stored in the registry (datasets/NAME.npz, Git LFS)."""


@dataset.command(name="push")
@click.argument("file", type=click.Path())
@click.option("--name", "-n", required=True, help="Dataset name: lower-case letters, digits, '-', '_'.")
@registry_option
@json_option
def dataset_push(file: str, name: str, registry: str | None, as_json: bool) -> None:
    """Store an .npz (arrays X and y) as datasets/NAME.npz for gates and gitreg eval."""
    from gitreg.registry import datasets

    meta = datasets.push(_registry(registry), file, name)
    if as_json:
        _emit_json(meta)
    else:
        click.echo(f"datasets/{name}.npz  {meta['rows']} rows  sha256 {meta['sha256'][:12]}")


@cli.command()
@click.option(
    "--report", "report_path", default="gitreg-demo-report.html", show_default=True, help="Where the HTML report goes."
)
@registry_option
def demo(report_path: str, registry: str | None) -> None:
    """Train and push models, evaluate, report, promote through gates, roll back, predict."""
    from gitreg import demo as demo_mod

    demo_mod.run(registry, say=click.echo, report_path=report_path)


@cli.group(hidden=True)
def hook() -> None:
    """Server-side git hooks."""


@hook.command(name="pre-receive")
def pre_receive() -> None:
    """Run as a bare registry's pre-receive hook."""
    from gitreg.store import hook as hook_mod

    sys.exit(hook_mod.run_pre_receive())


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="gitreg")
