"""``gitreg gate --changed``: judge what a promotion pull request changes, as CI sees it.

Two sources, on purpose. *What the pull request changes* comes from the checkout CI runs in (the
PR's head, ``HEAD``) against ``--base`` (default ``origin/main``), diffed from their merge base so
commits that landed on main after the branch was cut are not mistaken for the PR's own:
``stages.toml`` is read at both commits through git, and every path under ``models/`` and
``datasets/`` the PR touches is listed. *What is true* — registered versions, stage holders,
gate rules, datasets, artifacts — comes from the registry itself (``--registry``,
``$GITREG_REGISTRY``, else the checkout's ``origin``), whose ``main`` the PR cannot have changed
yet: a PR that loosens ``[gates]`` in ``gitreg.toml`` is still judged by the rules on main, and
artifacts come through the registry's LFS store although the checkout skipped LFS.

Each (model, stage) whose value differs is gated against the stage's current holder. A PR that
names an unknown model, stage or version, or edits the files of a version (versions are immutable;
only a tree identical to a registered version's is accepted under ``models/``) or a dataset, fails
with one line per problem.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitreg.core.stages import parse_stages, policy
from gitreg.errors import GitregError, StageError
from gitreg.registry.registry import Registry
from gitreg.store.git import Git

SHALLOW_HINT = "fetch the base first (git fetch origin main); in GitHub Actions check out with fetch-depth: 0"


@dataclass(frozen=True)
class Change:
    """One stage assignment the pull request adds, changes or removes (versions as written, ``v1.2.0``)."""

    model: str
    stage: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class ChangedReport:
    base: str
    head: str
    registry: str
    changes: tuple[Change, ...] = ()
    gates: tuple[Any, ...] = ()  # gating.GateReport, one per gated change
    errors: tuple[str, ...] = ()  # requests that cannot be judged: unknown model, stage or version (exit 1)
    problems: tuple[str, ...] = ()  # edited versions or datasets (exit 3)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.errors and not self.problems and all(g.passed for g in self.gates)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 1
        return 0 if self.passed else 3

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "base": self.base,
            "head": self.head,
            "registry": self.registry,
            "changes": [vars(c) for c in self.changes],
            "gates": [g.to_dict() for g in self.gates],
            "errors": list(self.errors),
            "problems": list(self.problems),
            "notes": list(self.notes),
        }

    def markdown(self) -> str:
        """The job summary and PR comment: every gate table, then every problem, one line each."""
        verdict = "passed" if self.passed else "FAILED"
        lines = [
            f"## gitreg: promotion checks {verdict}",
            "",
            f"Base `{self.base[:12]}` → head `{self.head[:12]}`; registry `{self.registry}`.",
        ]
        if self.errors:
            lines += ["", "### Requests that cannot be judged", "", *[f"- {e}" for e in self.errors]]
        if self.problems:
            lines += ["", "### Changes a promotion may not make", "", *[f"- {p}" for p in self.problems]]
        for g in self.gates:
            holder = f"current holder {g.current}" if g.current else "no current holder"
            lines += ["", g.result.markdown(f"{g.ref} → {g.stage} ({holder})").rstrip()]
        if self.notes:
            lines += ["", *[f"- {n}" for n in self.notes]]
        if not (self.changes or self.errors or self.problems):
            lines += ["", "This pull request does not change `stages.toml`: nothing to gate."]
        return "\n".join(lines) + "\n"


def registry_for(git: Git, explicit: str | None) -> Registry:
    """``--registry`` > ``$GITREG_REGISTRY`` > the checkout's ``origin`` (the registry CI checked out)."""
    if explicit or os.environ.get("GITREG_REGISTRY"):
        return Registry(explicit)
    origin = git.get_config("remote.origin.url")
    if not origin:
        raise GitregError(
            "this checkout has no origin remote, so the registry is unknown",
            hint="pass --registry URL (or set GITREG_REGISTRY)",
        )
    return Registry(origin)


def _stages_at(git: Any, commit: str, where: str, errors: list[str]) -> dict[str, dict[str, str]]:
    """``stages.toml`` at ``commit``, strictly: every value a version string under a model table."""
    try:
        out, problems = parse_stages(git.read_blob(f"{commit}:stages.toml"), where)
    except StageError as e:
        errors.append(e.message.removeprefix("the registry's "))
        return {}
    errors += problems
    return out


def stage_changes(old: Mapping[str, Mapping[str, str]], new: Mapping[str, Mapping[str, str]]) -> list[Change]:
    """Every (model, stage) whose assignment differs, sorted (pure)."""
    out = []
    for model in sorted(set(old) | set(new)):
        a, b = old.get(model, {}), new.get(model, {})
        for stage in sorted(set(a) | set(b)):
            if a.get(stage) != b.get(stage):
                out.append(Change(model, stage, a.get(stage), b.get(stage)))
    return out


def _file_problems(git: Any, base: str, head: str, reg: Registry, states: Mapping[str, Any]) -> list[str]:
    """One line per path under models/ or datasets/ the PR changes that is not a registered version's tree."""
    listed = git.run("diff", "--name-only", "-z", "--no-renames", base, head, "--", "models", "datasets").stdout
    paths = [p for p in listed.split("\0") if p]
    if not paths:
        return []
    problems = []
    by_model: dict[str, list[str]] = {}
    for p in paths:
        parts = p.split("/")
        if parts[0] == "models" and len(parts) > 2:
            by_model.setdefault(parts[1], []).append(p)
        else:
            problems.append(
                f"{p}: a promotion pull request may not change datasets (gates would judge on other data); "
                "add a dataset with gitreg dataset push"
            )
    view = reg.backend.require_view()
    for name, changed in sorted(by_model.items()):
        st = states.get(name)
        head_tree = _trees(git, [f"{head}:models/{name}"])[0]
        versions = list(st.versions.values()) if st is not None else []
        known = set(_trees(view.git, [f"{v.commit}:models/{name}" for v in versions])) if versions else set()
        if head_tree is not None and head_tree in known:
            continue  # exactly the files of a registered version: its registration, not an edit
        for p in changed:
            if versions:
                problems.append(
                    f"{p}: this pull request edits files of {name}, whose versions are immutable; "
                    "register a new version with gitreg push instead"
                )
            else:
                problems.append(
                    f"{p}: {name} is not a registered model; models are registered with gitreg push, "
                    "not by pull request"
                )
    return problems


def _trees(git: Any, specs: list[str]) -> list[str | None]:
    """Object ids of ``specs`` (None when missing): one ``cat-file --batch-check`` process."""
    out = git.run("cat-file", "--batch-check=%(objectname) %(objecttype)", input="\n".join(specs) + "\n").stdout
    ids: list[str | None] = []
    for line in out.splitlines():
        parts = line.split()
        ids.append(parts[0] if len(parts) == 2 and parts[1] == "tree" else None)
    return ids


def _check_request(c: Change, reg: Registry, cfg: Any, states: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(error, version to gate): why ``c`` cannot be judged, or the registered version it names."""
    from gitreg.core.refs import Version

    st = states.get(c.model)
    if st is None or not st.versions:
        return f"stages.toml assigns {c.stage} to unknown model '{c.model}' (see: gitreg list)", None
    try:
        policy(cfg, c.stage)
    except StageError as e:
        return f"stages.toml ({c.model}): {e.message}", None
    try:
        want = Version.parse(c.new or "")
    except GitregError:
        return f'stages.toml: {c.model}.{c.stage} = "{c.new}" is not a version (write "v1.2.0")', None
    # the exact version first: `v1.0.0` must not name a `1.0.0+build` twin (equal semver precedence)
    match = st.versions.get(str(want)) or next(
        (v for v in st.versions.values() if Version.parse(v.version) == want), None
    )
    if match is None:
        return (
            f"stages.toml assigns {c.model}@{want.tag_form} to {c.stage}, but that version is not registered "
            f"(see: gitreg history {c.model})",
            None,
        )
    if match.deregistered:
        return f"stages.toml assigns {c.model}@{want.tag_form} to {c.stage}, but that version is deregistered", None
    if st.deprecated:
        return f"stages.toml assigns {c.stage} to {c.model}, which is deprecated", None
    return None, match.version


def changed(
    path: str | os.PathLike[str] = ".",
    base: str = "origin/main",
    registry: str | None = None,
    data: str | None = None,
    target: str | None = None,
) -> ChangedReport:
    """Judge every stage assignment the checkout at ``path`` (HEAD) changes relative to ``base``."""
    from gitreg.store.git import discover
    from gitreg.workflow import gating

    git = discover(Path(path))
    if git is None:
        raise GitregError(
            f"{Path(path).resolve()} is not in a git checkout",
            hint="run gitreg gate --changed inside a checkout of the registry repository (the pull request's)",
        )
    head = git.rev("HEAD")
    if head is None:
        raise GitregError("this checkout has no HEAD commit", hint="check out the pull request's branch")
    base_commit = git.rev(base)
    if base_commit is None:
        raise GitregError(f"base {base!r} is not in this checkout", hint=SHALLOW_HINT)
    mb = git.run("merge-base", base_commit, head, check=False)
    if mb.returncode != 0:
        raise GitregError(f"HEAD and {base} share no history in this checkout (a shallow clone?)", hint=SHALLOW_HINT)
    fork = mb.stdout.strip()
    reg = registry_for(git, registry)
    cfg = reg.config()
    states = reg.backend.states(reg.backend.view())
    errors: list[str] = []
    old = _stages_at(git, fork, f"at {base}", errors)
    new = _stages_at(git, head, "in this pull request", errors)
    problems = _file_problems(git, fork, head, reg, states)
    changes = stage_changes(old, new)
    gates, notes = [], []
    for c in changes:
        if c.new is None:
            notes.append(
                f"{c.model}: {c.stage} removed from stages.toml; gitreg apply does not unassign "
                f"(use gitreg demote {c.model} --stage {c.stage})"
            )
            continue
        error, version = _check_request(c, reg, cfg, states)
        if error:
            errors.append(error)
            continue
        if states[c.model].stages.get(c.stage) == version:
            notes.append(f"{c.model}@v{version} already holds {c.stage}: nothing to gate")
            continue
        try:
            gates.append(gating.run(reg, f"{c.model}@v{version}", c.stage, data, target))
        except GitregError as e:
            errors.append(f"{c.model}@v{version} -> {c.stage}: {e.message}")
    return ChangedReport(
        base_commit, head, reg.url, tuple(changes), tuple(gates), tuple(errors), tuple(problems), tuple(notes)
    )
