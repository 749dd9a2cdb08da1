"""GitHub Actions: the registry workflow template, ``gitreg init --github``, the composite gate action
and this project's CI workflow.

Every workflow file is validated by ``check-jsonschema`` against its vendored SchemaStore schemas
(offline), and a typo'd copy must fail the same check. The credential set-up the workflow gives its
gitreg steps is exercised for real: git, git-lfs and ``gitreg check``'s own LFS batch request
against a smart-HTTP + LFS server behind a proxy that demands the token, as GitHub does for a
private registry.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitreg.cli import cli
from gitreg.workflow import github
from tests.support.cli import run_cli
from tests.support.onnxfiles import make_onnx
from tests.support.repo import REPO_ROOT, TOOLS_DIR, git

CI_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
GATE_ACTION = REPO_ROOT / ".github" / "actions" / "gate" / "action.yml"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
TOKEN = "ghs_test-token-0123456789"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wf") / "gitreg.yml"
    path.write_text(github.render())
    return path


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["on"] if "on" in doc else doc[True]  # YAML 1.1 reads a bare `on` as true


def steps_of(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "runs" in doc:
        for step in doc["runs"]["steps"]:
            yield "action", step
    for name, job in doc.get("jobs", {}).items():
        for step in job["steps"]:
            yield name, step


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    exe = TOOLS_DIR / "check-jsonschema"
    assert exe.exists(), f"{exe} is missing: pip install -e '.[dev]'"
    return subprocess.run(
        [str(exe), "--builtin-schema", schema, str(path)], capture_output=True, text=True, check=False
    )


# -- schema validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("schema", "which"),
    [
        ("vendor.github-workflows", "rendered"),
        ("vendor.github-workflows", "ci"),
        ("vendor.github-actions", "action"),
    ],
)
def test_workflow_files_pass_their_schema(schema: str, which: str, rendered: Path) -> None:
    path = {"rendered": rendered, "ci": CI_WORKFLOW, "action": GATE_ACTION}[which]
    p = check_jsonschema(schema, path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok -- validation done" in p.stdout


@pytest.mark.parametrize(
    ("schema", "which", "good", "bad"),
    [
        ("vendor.github-workflows", "rendered", "    runs-on: ubuntu-latest\n", "    runs_on: ubuntu-latest\n"),
        ("vendor.github-workflows", "rendered", "  pull_request:\n", "  pull-request:\n"),
        ("vendor.github-workflows", "ci", "    timeout-minutes: 90\n", "    timeout-minutes: ninety\n"),
        ("vendor.github-actions", "action", "  using: composite\n", "  using: compsite\n"),
    ],
)
def test_a_malformed_copy_fails_the_schema(
    schema: str, which: str, good: str, bad: str, rendered: Path, tmp_path: Path
) -> None:
    """The check can fail: one typo'd key or value and check-jsonschema says no."""
    path = {"rendered": rendered, "ci": CI_WORKFLOW, "action": GATE_ACTION}[which]
    text = path.read_text()
    assert good in text
    broken = tmp_path / path.name
    broken.write_text(text.replace(good, bad, 1))
    p = check_jsonschema(schema, broken)
    assert p.returncode == 1, p.stdout
    assert "Schema validation errors" in p.stdout


# -- what the workflows say ---------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["rendered", "ci", "action"])
def test_every_action_is_pinned_by_commit_with_its_version(which: str, rendered: Path) -> None:
    path = {"rendered": rendered, "ci": CI_WORKFLOW, "action": GATE_ACTION}[which]
    uses = [step["uses"] for _, step in steps_of(load(path)) if "uses" in step]
    assert uses, "no actions used?"
    for u in uses:
        assert SHA_PIN.match(u), f"{u} is not pinned to a full commit sha"
    lines = [ln for ln in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", ln)]
    assert len(lines) == len(uses)
    for ln in lines:
        assert VERSION_COMMENT.search(ln), f"no '# vX.Y.Z' comment: {ln.strip()}"


@pytest.mark.parametrize("which", ["rendered", "ci", "action"])
def test_no_expression_is_pasted_into_a_script(which: str, rendered: Path) -> None:
    """``${{ … }}`` inside ``run:`` is script injection waiting to happen; values go through env."""
    path = {"rendered": rendered, "ci": CI_WORKFLOW, "action": GATE_ACTION}[which]
    for _, step in steps_of(load(path)):
        assert "${{" not in step.get("run", ""), step.get("name")


def test_triggers(rendered: Path) -> None:
    on = triggers(load(rendered))
    assert "stages.toml" in on["pull_request"]["paths"]
    assert on["pull_request"]["branches"] == ["main"]
    assert on["push"]["branches"] == ["main"]
    assert on["push"]["tags"] == ["**"]


def test_permissions_are_least_privilege_per_job(rendered: Path) -> None:
    doc = load(rendered)
    assert doc["permissions"] == {}, "the workflow default must grant nothing"
    perms = {name: job["permissions"] for name, job in doc["jobs"].items()}
    assert perms == {
        "gate": {"contents": "read"},
        "comment": {"pull-requests": "write"},
        "apply": {"contents": "write"},
        "check": {"contents": "read"},
    }


def test_jobs_run_the_right_commands_on_the_right_events(rendered: Path) -> None:
    doc = load(rendered)
    jobs = doc["jobs"]
    runs = {name: [s.get("run", "") for s in job["steps"]] for name, job in jobs.items()}
    assert "pull_request" in jobs["gate"]["if"] and "pull_request" not in jobs["apply"]["if"]
    assert any('gitreg gate --changed --base "origin/$GITHUB_BASE_REF" --summary-md' in r for r in runs["gate"])
    gitreg_cmds = [r for r in runs["apply"] if r.startswith("gitreg ")]
    assert gitreg_cmds == ["gitreg apply", "gitreg check"]
    assert "refs/heads/main" in jobs["apply"]["if"]
    assert "refs/tags/" in jobs["check"]["if"] and "schedule" in jobs["check"]["if"]
    assert [r for r in runs["check"] if r.startswith("gitreg ")] == ["gitreg check"]
    assert jobs["apply"]["concurrency"] == {"group": "gitreg-registry", "cancel-in-progress": False}
    assert doc["env"]["GITREG_REGISTRY"] == "${{ github.server_url }}/${{ github.repository }}.git"


def test_install_is_pinned_without_torch_and_pip_is_cached(rendered: Path) -> None:
    doc = load(rendered)
    want = f'python -m pip install "gitreg=={version("gitreg")}"'
    for name in ("gate", "apply", "check"):
        steps = doc["jobs"][name]["steps"]
        installs = [s["run"] for s in steps if "pip install" in s.get("run", "")]
        assert installs == [want], name
        setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
        assert setup["with"]["cache"] == "pip"
        assert setup["with"]["cache-dependency-path"] == github.WORKFLOW_PATH
        checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["lfs"] is False and checkout["with"]["persist-credentials"] is False
    assert "torch" not in rendered.read_text().replace("no torch", "")


def test_the_token_reaches_only_the_gitreg_steps(rendered: Path) -> None:
    doc = load(rendered)
    for job, step in steps_of(doc):
        env = step.get("env", {})
        runs_gitreg = step.get("run", "").lstrip().startswith(("gitreg ", "status=0"))
        has_token = any("github.token" in str(v) for v in env.values())
        if job == "comment":
            assert has_token and set(env) == {"GH_TOKEN", "PR", "REPORT"}
        else:
            assert has_token == runs_gitreg, step.get("name")
        if runs_gitreg:
            assert env["GIT_CONFIG_KEY_0"] == "credential.${{ github.server_url }}.helper"


def test_pr_comment_is_updated_in_place(rendered: Path) -> None:
    doc = load(rendered)
    comment = doc["jobs"]["comment"]
    assert comment["needs"] == "gate" and comment["if"].startswith("${{ !cancelled() && ")
    script = comment["steps"][0]["run"]
    assert "<!-- gitreg-gate -->" in script
    assert "--method PATCH" in script and "--method POST" in script
    assert doc["jobs"]["gate"]["outputs"]["report"] == "${{ steps.report.outputs.report }}"


def test_the_gitreg_command_lines_parse_with_this_cli(rendered: Path) -> None:
    """Every gitreg invocation in the workflow and the action names options this gitreg has."""
    import shlex

    lines = []
    for path in (rendered, GATE_ACTION):
        for _, step in steps_of(load(path)):
            for ln in step.get("run", "").replace("\\\n", " ").splitlines():
                ln = ln.strip()
                if ln.startswith("gitreg "):
                    lines.append(ln.split(" 2>")[0].split(" ||")[0])
    assert len(lines) >= 5
    for ln in lines:
        argv = shlex.split(ln)[1:]
        cmd = cli.commands[argv[0]]
        cmd.make_context(argv[0], argv[1:])  # raises on an unknown option or a missing value


def test_composite_action_inputs_and_default_version() -> None:
    doc = load(GATE_ACTION)
    assert set(doc["inputs"]) == {"registry", "base", "python-version", "gitreg-version", "summary", "token"}
    assert doc["inputs"]["gitreg-version"]["default"] == version("gitreg")
    assert doc["runs"]["using"] == "composite"
    for step in doc["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
    gate = next(s for s in doc["runs"]["steps"] if s.get("id") == "gate")
    assert 'gitreg gate --changed --base "$base" --registry "$registry" --summary-md "$report"' in gate["run"]


def test_ci_workflow_runs_the_readme_test_command() -> None:
    doc = load(CI_WORKFLOW)
    assert doc["permissions"] == {"contents": "read"}
    steps = doc["jobs"]["test"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "bash .ci/run" in runs
    assert any("apt-get install" in r and "git-lfs" in r for r in runs)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in (REPO_ROOT / "README.md").read_text()
    assert doc["jobs"]["test"]["runs-on"].startswith("ubuntu")


# -- the wheel ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_template_ships_in_the_wheel(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    shutil.copytree(REPO_ROOT / "gitreg", src / "gitreg", ignore=shutil.ignore_patterns("__pycache__"))
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", tmp_path],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    (wheel,) = tmp_path.glob("gitreg-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = zf.read(f"gitreg/{github.TEMPLATE}").decode()
    assert shipped == github.template_text()


# -- gitreg init --github -----------------------------------------------------------------------------
def log_pushes(bare: Path, log: Path) -> None:
    """A ``post-receive`` hook that logs each ref update receive-pack accepted (after ``pre-receive``)."""
    hook = bare / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\ncat >> '{log}'\n")
    hook.chmod(0o755)


def git_input(text: str, *args: str) -> str:
    p = subprocess.run(["git", *args], input=text, capture_output=True, text=True, check=True)
    return p.stdout.strip()


def main_commits(bare: Path) -> list[str]:
    return git("--git-dir", str(bare), "rev-list", "main").split()


def test_init_github_commits_the_workflow_once(registry_path: Path, tmp_path: Path) -> None:
    before = main_commits(registry_path)

    p = run_cli("init", "--github", "--registry", str(registry_path))
    assert p.returncode == 0, p.stderr
    assert "already a registry" in p.stdout and f"wrote {github.WORKFLOW_PATH} on main" in p.stdout
    after = main_commits(registry_path)
    assert len(after) == len(before) + 1 and after[1:] == before
    changed = git("--git-dir", str(registry_path), "diff-tree", "--no-commit-id", "--name-status", "-r", "main")
    assert changed == f"A\t{github.WORKFLOW_PATH}"
    blob = git("--git-dir", str(registry_path), "show", f"main:{github.WORKFLOW_PATH}")
    assert blob == github.render().rstrip("\n")  # the plain text, not an LFS pointer
    assert not blob.startswith("version https://git-lfs")

    again = run_cli("init", "--github", "--registry", str(registry_path))
    assert again.returncode == 0, again.stderr
    assert f"{github.WORKFLOW_PATH}: up to date" in again.stdout
    assert main_commits(registry_path) == after

    check = run_cli("check", "--registry", str(registry_path))
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_server_hook_accepts_the_workflow_commit(registry_path: Path, tmp_path: Path) -> None:
    """gitreg writes a local registry without receive-pack, so push its history with plain git into a
    bare repo guarded by gitreg's pre-receive hook, as a GitLab/Gitea server would run it."""
    from gitreg.store import hook

    assert run_cli("init", "--github", "--registry", str(registry_path)).returncode == 0
    served = tmp_path / "served.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(served))
    hook.install(served)
    log = tmp_path / "received.log"
    log_pushes(served, log)
    p = subprocess.run(
        ["git", "--git-dir", str(registry_path), "push", "--no-verify", str(served), "main:main"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "REJECT" not in p.stderr
    assert f" {main_commits(registry_path)[0]} refs/heads/main" in log.read_text()
    # The same hook does refuse things: a plain blob over the limit under models/ in a later commit.
    big = tmp_path / "big"
    big.write_bytes(os.urandom(1_100_000))
    blob = git("--git-dir", str(registry_path), "hash-object", "-w", str(big))
    tree = git_input(f"100644 blob {blob}\tmodel.onnx\n", "--git-dir", str(registry_path), "mktree")
    root = git_input(f"040000 tree {tree}\tmodels\n", "--git-dir", str(registry_path), "mktree")
    bad = git("--git-dir", str(registry_path), "commit-tree", root, "-p", "main", "-m", "plain blob")
    p = subprocess.run(
        ["git", "--git-dir", str(registry_path), "push", "--no-verify", str(served), f"{bad}:refs/heads/main"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert p.returncode != 0 and "lfs-required" in p.stderr


def test_init_github_creates_a_new_registry_too(tmp_path: Path) -> None:
    bare = tmp_path / "new.git"
    p = run_cli("init", "--github", "--registry", str(bare))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("initialised: ")
    assert len(main_commits(bare)) == 2
    assert git("--git-dir", str(bare), "show", f"main:{github.WORKFLOW_PATH}") == github.render().rstrip("\n")


def test_versions_keep_the_workflow_and_a_new_spec_rewrites_it(registry_path: Path, onnx_file) -> None:
    from gitreg import Registry

    reg = Registry(registry_path)
    assert github.install(reg) is not None
    mv = reg.push_files([onnx_file()], "digits")
    tree = git("--git-dir", str(registry_path), "ls-tree", "-r", "--name-only", mv.tag)
    assert github.WORKFLOW_PATH in tree.splitlines()
    assert github.install(reg) is None
    spec = "gitreg @ https://example.org/gitreg-0.1.0-py3-none-any.whl"
    assert github.install(reg, spec) is not None
    text = git("--git-dir", str(registry_path), "show", f"main:{github.WORKFLOW_PATH}")
    assert text.count(f'python -m pip install "{spec}"') == 3
    assert reg.check().ok and reg.show("digits").version == mv.version


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pip-spec", "gitreg==1"], "error: --pip-spec goes with --github"),
        (["--github", "--pip-spec", 'gitreg"; curl evil'], "error: invalid --pip-spec"),
        (["--github", "--pip-spec", "gitreg\n==1"], "error: invalid --pip-spec"),
    ],
)
def test_init_github_bad_input_writes_nothing(args: list[str], message: str, tmp_path: Path) -> None:
    bare = tmp_path / "never.git"
    p = run_cli("init", *args, "--registry", str(bare))
    assert p.returncode == 2
    assert p.stderr.splitlines()[0].startswith(message)
    assert "Traceback" not in p.stderr
    assert not bare.exists()


# -- the workflow's credentials, for real ---------------------------------------------------------------
class _AuthProxy(BaseHTTPRequestHandler):
    """Demands ``Basic x-access-token:TOKEN`` on every request, then forwards it to the git+LFS server.

    LFS transfer URLs in batch answers point at the server itself, not through here: like GitHub's
    pre-signed storage URLs, they carry their own authorisation.
    """

    upstream: tuple[str, int]
    seen: list[str]

    def log_message(self, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        want = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != want:
            self.seen.append(f"401 {self.command} {self.path}")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="registry"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.seen.append(f"200 {self.command} {self.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        skip = {"host", "connection", "authorization", "content-length", "transfer-encoding"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = _forward


def workflow_env(doc: dict[str, Any], job: str, step_run: str, server_url: str) -> dict[str, str]:
    """The environment GitHub would give one step: workflow env + step env, expressions filled in."""
    step = next(s for s in doc["jobs"][job]["steps"] if s.get("run") == step_run)
    values = {
        "github.server_url": server_url,
        "github.repository": "org/registry",
        "github.token": TOKEN,
        "github.actor": "octocat",
        "github.actor_id": "583231",
    }
    env = {}
    for k, v in {**doc["env"], **step.get("env", {})}.items():
        text = re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values[m.group(1)], str(v))
        assert "${{" not in text
        env[k] = text
    return env


@pytest.mark.http
def test_the_workflow_credentials_reach_git_lfs_and_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rendered: Path
) -> None:
    from tests.support.servers import http_registry

    doc = load(rendered)
    with http_registry(tmp_path / "srv") as srv:
        srv.create_repo("org/registry.git")
        upstream = srv.base_url.removeprefix("http://").split(":")
        handler = type("Proxy", (_AuthProxy,), {"upstream": (upstream[0], int(upstream[1])), "seen": []})
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            server_url = f"http://127.0.0.1:{proxy.server_address[1]}"
            apply_env = workflow_env(doc, "apply", "gitreg apply", server_url)
            check_env = workflow_env(doc, "check", "gitreg check", server_url)
            assert apply_env["GITREG_REGISTRY"] == f"{server_url}/org/registry.git"

            # Set the registry up as its owner would, through the same credentials.
            model = make_onnx(tmp_path / "m.onnx", pad=200_000)
            for args in (["init", "--github"], ["push", str(model), "--name", "digits"]):
                p = run_cli(*args, env=apply_env)
                assert p.returncode == 0, p.stderr
            assert any(s.startswith("200 POST /org/registry.git/info/lfs/objects/batch") for s in handler.seen)

            # A fresh runner: no cache. Without the token the registry stays shut...
            monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "runner-a"))
            bare = {k: v for k, v in check_env.items() if not k.startswith(("GIT_CONFIG", "GITREG_TOKEN"))}
            p = run_cli("check", env=bare)
            assert p.returncode == 1 and p.stderr.startswith("error: ")

            # ...with the workflow's credential helper, check (git + its own LFS batch query) and pull work.
            monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "runner-b"))
            handler.seen.clear()
            p = run_cli("check", env=check_env)
            assert p.returncode == 0, p.stdout + p.stderr
            assert "1 artifact objects checked" in p.stdout
            assert "200 POST /org/registry.git/info/lfs/objects/batch" in handler.seen
            p = run_cli("pull", "digits", "-o", str(tmp_path / "out"), env=check_env)
            assert p.returncode == 0, p.stderr
            got = hashlib.sha256((tmp_path / "out" / "model.onnx").read_bytes()).hexdigest()
            assert got == hashlib.sha256(model.read_bytes()).hexdigest()
            assert TOKEN not in (srv.git_root / "org" / "registry.git" / "config").read_text()
        finally:
            proxy.shutdown()
            proxy.server_close()


# -- the pull-request job's own shell, run as the runner would -------------------------------------------
@pytest.mark.parametrize("which", ["rendered", "ci", "action"])
def test_every_script_is_valid_bash(which: str, rendered: Path) -> None:
    path = {"rendered": rendered, "ci": CI_WORKFLOW, "action": GATE_ACTION}[which]
    for _, step in steps_of(load(path)):
        if "run" in step:
            p = subprocess.run(["bash", "-n", "-c", step["run"]], capture_output=True, text=True, check=False)
            assert p.returncode == 0, f"{step.get('name')}: {p.stderr}"


def run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """One ``run:`` step as Actions runs it with ``shell: bash``."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def parse_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT``'s ``name<<DELIM`` blocks."""
    out, lines = {}, path.read_text().splitlines()
    while lines:
        name, _, delim = lines.pop(0).partition("<<")
        end = lines.index(delim)
        out[name] = "\n".join(lines[:end])
        lines = lines[end + 1 :]
    return out


@pytest.mark.parametrize("change", ["none", "unknown-model", "no-registry"])
def test_the_gate_and_report_steps_run_in_a_checkout(
    change: str, registry_path: Path, tmp_path: Path, rendered: Path
) -> None:
    steps = {s.get("id"): s for s in load(rendered)["jobs"]["gate"]["steps"]}
    assert run_cli("init", "--github", "--registry", str(registry_path)).returncode == 0
    work = tmp_path / "checkout"
    git("clone", "--quiet", f"file://{registry_path}", str(work))
    if change == "unknown-model":
        git("-C", str(work), "checkout", "--quiet", "-b", "promote")
        with (work / "stages.toml").open("a") as fh:
            fh.write('[ghost]\nproduction = "v1.0.0"\n')
        git("-C", str(work), "commit", "--quiet", "-am", "promote ghost")
    runner = tmp_path / "runner"
    runner.mkdir()
    env = {
        "GITREG_REGISTRY": str(registry_path if change != "no-registry" else tmp_path / "nowhere.git"),
        "GITHUB_BASE_REF": "main",
        "RUNNER_TEMP": str(runner),
        "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
        "GITHUB_OUTPUT": str(runner / "output"),
        "GIT_LFS_SKIP_SMUDGE": "1",
    }
    gate = run_step(steps["gate"], work, env)
    assert gate.returncode == (0 if change == "none" else 1), gate.stdout + gate.stderr
    outcome = "success" if gate.returncode == 0 else "failure"
    report = run_step(steps["report"], work, {**env, "GATE_OUTCOME": outcome, "RUN_URL": "https://x/runs/1"})
    assert report.returncode == 0, report.stderr
    text = parse_outputs(runner / "output")["report"]
    assert text.rstrip().endswith("[Job log](https://x/runs/1)")
    assert text.strip() in (runner / "summary.md").read_text()
    if change == "none":
        assert "nothing to gate" in text
    elif change == "unknown-model":
        assert "unknown model 'ghost'" in text and "error: " in gate.stderr
    else:  # gitreg stopped before writing a report: the comment shows its error instead
        assert text.startswith("### gitreg gate: no report (failure)")
        assert "error: no registry at" in text and "error: no registry at" in gate.stderr
