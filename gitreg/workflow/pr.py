"""Promotion by pull request: ``gitreg promote REF --to STAGE --pr``.

The request is a branch ``gitreg/promote/<name>/<stage>/v<version>`` on the registry whose single
commit, on top of ``main``, edits ``stages.toml``; reviewers merge it, CI (``gitreg gate --changed``)
judges it, and ``gitreg apply`` turns the merged ``stages.toml`` into the stage tag. The gates run
locally first so a doomed request never reaches a reviewer. Asking twice is harmless: a branch that
already assigns the version is reused, not pushed again, and an open pull request for it is found
before one is created. ``gh`` opens the pull request when it is installed, logged in and the
registry is on GitHub; otherwise the branch and the URL to open it by hand are returned.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gitreg.core.stages import check_can_hold, dump_stages, policy, read_stages
from gitreg.errors import GateFailed, StageError, UsageError
from gitreg.registry.publish import Base, RefUpdate, Write, publish
from gitreg.registry.registry import Registry
from gitreg.registry.values import ModelVersion

PREFIX = "gitreg/promote"
GH_TIMEOUT = 60  # seconds per gh call: a hung network call must not hang a promotion
_GITHUB_URL = re.compile(
    r"^(?:https?://(?:[^@/]+@)?|ssh://git@|git@)(?P<host>[^/:]+)[:/](?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/?$"
)


def branch_name(name: str, stage: str, version: str) -> str:
    """The promotion branch: one per (model, stage, version), so a second request finds the first."""
    return f"{PREFIX}/{name}/{stage}/v{version}"


@dataclass(frozen=True)
class GitHubRepo:
    host: str
    owner: str
    repo: str

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.repo}"

    def compare_url(self, branch: str, base: str = "main") -> str:
        return f"https://{self.host}/{self.slug}/compare/{base}...{branch}?expand=1"


def github_repo(url: str) -> GitHubRepo | None:
    """OWNER/REPO when ``url`` is on github.com (or ``$GH_HOST``), else None."""
    m = _GITHUB_URL.match(url.strip())
    if not m:
        return None
    hosts = {"github.com", os.environ.get("GH_HOST", "github.com")}
    return GitHubRepo(m["host"], m["owner"], m["repo"]) if m["host"] in hosts else None


@dataclass(frozen=True)
class PromotionRequest:
    """What ``promote --pr`` did: the branch, and the pull request or how to open one."""

    ref: str
    stage: str
    current: str | None  # the holder the request was judged against
    branch: str
    commit: str
    pushed: bool  # False: the branch was already on the registry with this change
    pr_url: str | None  # the pull request, created or found open
    pr_created: bool
    compare_url: str | None  # open it by hand (GitHub remotes)
    note: str | None  # why no pull request was opened
    title: str
    body: str
    gate: Any = None  # gating.GateReport, None with --no-local-gates

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "gate"}
        d["gate"] = self.gate.to_dict() if self.gate is not None else None
        return d


def wants_pr(reg: Registry, stage: str, pr: bool, direct: bool) -> bool:
    """``--pr``, ``--direct``, or the stage's ``require_pr`` (a refused ``--direct`` is api.promote's to say)."""
    if pr and direct:
        raise UsageError("--pr and --direct exclude each other")
    pol = policy(reg.config(), stage)
    return pr or (pol.require_pr and not direct)


def request(
    reg: Registry,
    ref: str,
    stage: str,
    *,
    local_gates: bool = True,
    data: str | None = None,
    reason: str | None = None,
) -> PromotionRequest:
    """Gates (unless ``local_gates`` is False), then the promotion branch, then the pull request."""
    from gitreg.registry.promotion import check_reason
    from gitreg.workflow import gating

    check_reason(reason)  # before the gates run or a branch is pushed
    pol = policy(reg.config(), stage)
    mv = reg.show(ref)
    st = reg.backend.model_state(mv.name)
    check_can_hold(st, mv.version, stage)
    holder = st.stages.get(stage)
    report = None
    if local_gates:
        report = gating.run(reg, mv.ref, stage, data)
        if not report.passed:
            raise GateFailed(
                f"{mv.ref} failed the {stage} gate: {'; '.join(report.failed_rules())}; no branch was pushed",
                hint=f"see: gitreg gate {mv.ref} --stage {stage}",
                report=report,
            )
    current = reg.show(f"{mv.name}@v{holder}") if holder else None
    branch = branch_name(mv.name, stage, mv.version)
    title = f"Promote {mv.name} v{mv.version} to {stage}"
    body = body_markdown(mv, stage, current, report, pol.require_pr, reason)
    commit, pushed = _push_branch(reg, mv, stage, branch, title)
    pr_url, created, compare, note = open_pr(reg.url, branch, title, body)
    return PromotionRequest(
        mv.ref,
        stage,
        f"v{holder}" if holder else None,
        branch,
        commit,
        pushed,
        pr_url,
        created,
        compare,
        note,
        title,
        body,
        report,
    )


def _push_branch(reg: Registry, mv: ModelVersion, stage: str, branch: str, title: str) -> tuple[str, bool]:
    """The branch's commit, and whether this call pushed it (False when it was already there)."""
    backend = reg.backend
    backend.ensure_writable()
    cache = backend.cache()
    want = f"v{mv.version}"
    remote_ref = f"refs/remotes/origin/{branch}"

    def attempt(base: Base) -> Write:
        stages = read_stages(cache.read_blob(f"{base.main}:stages.toml"))
        if stages.get(mv.name, {}).get(stage) == want:
            raise StageError(
                f"stages.toml on main already assigns {mv.ref} to {stage} (a merged promotion)",
                hint="create the stage tag: gitreg apply",
            )
        existing = cache.rev(remote_ref)
        merged = (
            existing is not None
            and cache.run("merge-base", "--is-ancestor", existing, base.main, check=False).returncode == 0
        )
        if existing is not None and not merged:  # a merged one is an earlier promotion's leftover: replaced
            theirs = read_stages(cache.read_blob(f"{existing}:stages.toml"))
            if theirs.get(mv.name, {}).get(stage) == want:
                raise _AlreadyPushed(existing)
            raise StageError(
                f"branch {branch} is on the registry but does not assign {mv.ref} to {stage}",
                hint=f"delete it and retry: git push {reg.url} --delete {branch}",
            )
        stages.setdefault(mv.name, {})[stage] = want
        blob = cache.hash_blob(dump_stages(stages))
        message = f"{title}\n\nRequested with gitreg promote --pr; on merge, gitreg apply creates the stage tag."
        commit = cache.commit(base.main, {"stages.toml": blob}, message, backend.identity(), int(time.time()))
        return Write((RefUpdate(f"refs/heads/{branch}", commit, existing, force=merged),), commit)

    try:
        # Someone pushing the same branch a moment ago is a race: look again (three times).
        w = publish(backend, cache, "", attempt, what="promotion branch", attempts=3, direct=False)
    except _AlreadyPushed as e:
        return e.commit, False
    return w.commit, True


class _AlreadyPushed(Exception):
    """The promotion branch is already on the registry, assigning exactly this version."""

    def __init__(self, commit: str) -> None:
        self.commit = commit


# -- the pull request -----------------------------------------------------------------------------
def _gh(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GH_PROMPT_DISABLED": "1", "NO_COLOR": "1", "GH_NO_UPDATE_NOTIFIER": "1"}
    try:
        return subprocess.run(
            ["gh", *args], input=input, capture_output=True, text=True, env=env, timeout=GH_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(["gh", *args], 1, "", f"gh did not finish: {e}")


def _last_line(text: str) -> str:
    return next((ln.strip() for ln in reversed(text.strip().splitlines()) if ln.strip()), "no output")


def open_pr(url: str, branch: str, title: str, body: str) -> tuple[str | None, bool, str | None, str | None]:
    """(pull request URL, created?, compare URL, note): ``gh`` when it can, else what to do by hand."""
    gh_repo = github_repo(url)
    if gh_repo is None:
        return (
            None,
            False,
            None,
            (
                f"the registry is not on GitHub: open a pull (merge) request from {branch} into main on its host; "
                "once it is merged, gitreg apply creates the stage tag"
            ),
        )
    compare = gh_repo.compare_url(branch)
    if shutil.which("gh") is None:
        return None, False, compare, "gh is not installed: open the pull request at the URL above"
    auth = _gh("auth", "status", "--hostname", gh_repo.host)
    if auth.returncode != 0:
        return (
            None,
            False,
            compare,
            (
                f"gh is not authenticated ({_last_line(auth.stderr or auth.stdout)}): "
                "open the pull request at the URL above, or run gh auth login (or set GH_TOKEN) and re-run"
            ),
        )
    repo = ["--repo", f"{gh_repo.host}/{gh_repo.slug}" if gh_repo.host != "github.com" else gh_repo.slug]
    found = _gh("pr", "list", *repo, "--head", branch, "--state", "open", "--json", "url", "--limit", "1")
    if found.returncode != 0:
        return None, False, compare, f"gh pr list failed ({_last_line(found.stderr)}): open the pull request by hand"
    try:
        existing = json.loads(found.stdout or "[]")
    except json.JSONDecodeError:
        existing = []
    if existing and isinstance(existing[0], Mapping) and existing[0].get("url"):
        return str(existing[0]["url"]), False, compare, None
    made = _gh(
        "pr", "create", *repo, "--base", "main", "--head", branch, "--title", title, "--body-file", "-", input=body
    )
    if made.returncode != 0:
        return None, False, compare, f"gh pr create failed ({_last_line(made.stderr)}): open the pull request by hand"
    return _last_line(made.stdout), True, compare, None


# -- the pull request's body ----------------------------------------------------------------------
def _num(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _cell(x: Any) -> str:
    return _num(x).replace("|", "\\|").replace("\n", " ")


def body_markdown(mv: Any, stage: str, current: Any, report: Any, require_pr: bool, reason: str | None = None) -> str:
    """Gate report, metric deltas against the current holder, signature, parity and lineage."""
    from gitreg.core import diff as diff_mod

    sc = mv.sidecar.to_dict() if mv.sidecar else {}
    lines = [
        f"Promote **{mv.ref}** to **{stage}**"
        + (f", replacing **{current.ref}**." if current else " (no version holds it now)."),
        "",
        "This pull request changes `stages.toml` only. CI runs `gitreg gate --changed` on it; "
        "after the merge, `gitreg apply` creates the stage tag.",
    ]
    if reason:
        lines += ["", f"Reason: {' '.join(reason.split())}"]
    if require_pr:
        lines += ["", f"`{stage}` requires a reviewed pull request (`require_pr = true`)."]
    lines += ["", "### Gates (run locally before this request)", ""]
    if report is None:
        lines.append("Skipped with `--no-local-gates`: CI runs them on this pull request.")
    else:
        lines.append(report.result.markdown().rstrip())
    if current is not None:
        d = diff_mod.diff(current.ref, current.sidecar.to_dict() if current.sidecar else {}, mv.ref, sc)
        for section, heading in (("metrics", "Metrics"), ("evaluation", "Last evaluation")):
            rows = d[section]
            if rows:
                lines += ["", f"### {heading}: {current.ref} → {mv.ref}", ""]
                lines += [f"| metric | {current.ref} | {mv.ref} | delta |", "|---|---|---|---|"]
                for k, r in rows.items():
                    delta = "" if r["delta"] is None else f"{r['delta']:+.6g}"
                    lines.append(f"| {_cell(k)} | {_cell(r['a'])} | {_cell(r['b'])} | {delta} |")
        lines += ["", "### Signature", "", _signature_line(d["signature"])]
    elif sc.get("metrics"):
        lines += ["", "### Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in sc["metrics"].items()]
    lines += ["", "### Parity", "", _parity_text(sc.get("parity", {}))]
    lines += ["", "### Lineage", "", *_lineage_lines(sc.get("lineage", {}))]
    return "\n".join(lines) + "\n"


def _signature_line(sig: Mapping[str, Any]) -> str:
    if sig["breaking"]:
        what = sorted(set(sig["inputs_changed"]) | set(sig["inputs_removed"]) | set(sig["inputs_added"]))
        return f"**BREAKING**: inputs {', '.join(f'`{w}`' for w in what)} changed; callers must change too."
    if sig["outputs_changed"] or sig["classes_changed"]:
        return "Outputs or classes changed; inputs are compatible."
    return "Unchanged."


def _parity_text(parity: Mapping[str, Any]) -> str:
    if not parity:
        return "No parity record (the version was pushed as files)."
    head = (
        f"{'passed' if parity.get('passed') else '**FAILED**'} "
        + (
            f"(tolerance {_num(parity.get('tolerance'))} x each output's scale, "
            if "tolerance" in parity and "rtol" not in parity
            else f"(rtol {_num(parity.get('rtol'))}, atol {_num(parity.get('atol'))}, "
        )
        + f"{_num(parity.get('samples'))} samples)"
    )
    pairs = [(k, v) for k, v in parity.items() if isinstance(v, Mapping)]
    if not pairs:
        return head
    rows = ["| runtimes | max abs | max rel | argmax agree | passed |", "|---|---|---|---|---|"]
    for k, p in pairs:
        rows.append(
            f"| {_cell(k)} | {_cell(p.get('max_abs_error'))} | {_cell(p.get('max_rel_error'))} "
            f"| {_cell(p.get('argmax_agreement'))} | {_cell(p.get('passed'))} |"
        )
    return "\n".join([head, "", *rows])


def _lineage_lines(lineage: Mapping[str, Any]) -> list[str]:
    out = []
    code = lineage.get("code") or {}
    if isinstance(code, Mapping) and code.get("commit"):
        dirty = " (uncommitted changes)" if code.get("dirty") else ""
        out.append(f"- code: {code.get('repo') or 'a local repository'} @ `{str(code['commit'])[:12]}`{dirty}")
    for d in lineage.get("data") or []:
        if isinstance(d, Mapping):
            out.append(f"- data: {d.get('path', '?')} sha256 `{str(d.get('sha256', ''))[:12]}`")
    if lineage.get("parent"):
        out.append(f"- parent: {lineage['parent']}")
    if lineage.get("command"):
        out.append(f"- command: `{lineage['command']}`")
    return out or ["No lineage recorded."]
