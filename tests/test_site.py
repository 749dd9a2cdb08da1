"""``gitreg site``, ``gitreg ui`` and the GitHub Pages workflow.

One registry (built once per module by :func:`build_registry`) has three models: ``digits`` with
three versions, promotions, a forced override with a reason, a forced rollback, a promotion to
staging and a demotion, and a recorded evaluation; ``iris`` with a hostile description and a
deregistered version; ``old``, deprecated. The site is checked against the registry itself: stage
holders at each point of the timeline against ``Registry.show(…, at=that time)``, versions and
metrics against ``Registry.versions``. The pages as a browser renders them: test_site_render.py.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from gitreg import Registry, api
from gitreg.errors import GitregError
from gitreg.workflow import github
from gitreg.workflow import site as site_mod
from tests.support.cli import invoke, one_error_line, run_cli
from tests.support.onnxfiles import make_onnx
from tests.support.repo import TOOLS_DIR, git, home_env

HOSTILE = '<img src=x onerror="alert(1)"> & friends'
FORCED_REASON = "hotfix <b>42</b> & co"
ROLLBACK_REASON = "bad release"
DEMOTE_REASON = "staging freeze"
ENV_KEYS = ("GITREG_REGISTRY", "GITREG_DEBUG", "GIT_DIR", "GIT_WORK_TREE")


def test_env(root: Path) -> dict[str, str]:
    return home_env(root)


test_env.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def build_registry(root: Path) -> Registry:
    """The registry every site test reads (see the module docstring); built in ``root``."""
    reg = Registry(root / "registry.git")
    reg.init()
    art = root / "artifacts"
    for i, (version, acc) in enumerate((("1.0.0", 0.90), ("1.1.0", 0.95), ("1.2.0", 0.80))):
        reg.push_files(
            [make_onnx(art / f"digits{i}.onnx", i)],
            "digits",
            version=version,
            metrics={"acc": acc, "f1": round(acc - 0.01, 2)},
            parent=f"digits@v1.{i - 1}.0" if i else None,
            description="Digits classifier",
        )
    reg.push_files([make_onnx(art / "iris0.onnx", 10)], "iris", version="0.1.0", metrics={"acc": 0.7})
    reg.push_files(
        [make_onnx(art / "iris1.onnx", 11)], "iris", version="0.2.0", metrics={"acc": 0.75}, description=HOSTILE
    )
    reg.deprecate("iris@v0.1.0")
    reg.push_files([make_onnx(art / "old.onnx", 12)], "old", version="1.0.0", metrics={"acc": 0.5})
    reg.deprecate("old")
    api.promote("digits@v1.0.0", "production", registry=reg)
    api.promote("digits@v1.1.0", "production", registry=reg)
    api.promote("digits@v1.2.0", "production", force=True, reason=FORCED_REASON, registry=reg)
    api.rollback("digits", "production", force=True, reason=ROLLBACK_REASON, registry=reg)
    api.promote("digits@v1.2.0", "staging", registry=reg)
    api.demote("digits", "staging", reason=DEMOTE_REASON, registry=reg)
    rng = np.random.default_rng(0)
    np.savez(root / "hold.npz", X=rng.normal(size=(60, 4)).astype(np.float32), y=rng.integers(0, 3, 60))
    api.record_evaluation("digits@v1.1.0", str(root / "hold.npz"), registry=reg)
    return reg


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolated_env is per test; this runs once
        for k, v in test_env(root).items():
            mp.setenv(k, v)
        for k in ENV_KEYS:
            mp.delenv(k, raising=False)
        reg = build_registry(root)
        report = site_mod.build(reg, root / "site")
        yield {"root": root, "reg": reg, "site": root / "site", "report": report}


class Page(HTMLParser):
    """Links, element classes and text of one page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts = 0
        self.svgs = 0
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(str(a[key]))
        self.scripts += tag == "script"
        self.svgs += tag == "svg"
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def page(site: Path, rel: str) -> Page:
    return Page((site / rel).read_text(encoding="utf-8"))


def timeline(site: Path, model: str) -> list[list[str]]:
    text = (site / "models" / model / "index.html").read_text(encoding="utf-8")
    block = text[text.index('<table class="timeline">') :]
    return Page(block[: block.index("</table>")]).rows[1:]


def epoch(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


# -- the pages hold the registry's facts ---------------------------------------------------------------
def test_index_lists_every_model_with_latest_stages_and_deprecation(built: dict[str, Any]) -> None:
    site, reg = built["site"], built["reg"]
    index = (site / "index.html").read_text(encoding="utf-8")
    rows = {r[0].split()[0]: r for r in page(site, "index.html").rows[1:]}
    for s in reg.list():
        row = rows[s.name]
        assert row[1] == s.latest, row
        for stage, version in s.stages.items():
            assert f"{stage}: {version}" in row[3]
    assert rows["old"][0] == "old deprecated" and '<tr data-name="old" class="deprecated">' in index
    assert '<tr data-name="digits">' in index
    assert rows["digits"][3] == "production: v1.1.0"  # staging was demoted away
    assert rows["iris"][2] == "1 (+1 deregistered)"
    assert built["report"].models == 3 and built["report"].versions == 6
    assert page(site, "index.html").scripts == 1  # the filter box; nothing else needs JavaScript


def test_timeline_shows_holders_at_each_point_as_the_registry_read_then(built: dict[str, Any]) -> None:
    site, reg = built["site"], built["reg"]
    rows = timeline(site, "digits")
    staged = [(r[1], r[2], r[3], r[5], r[6]) for r in rows if r[3]]
    assert staged == [
        ("promotion", "v1.0.0", "production", "", "production: v1.0.0"),
        ("promotion", "v1.1.0", "production", "", "production: v1.1.0"),
        ("promotion forced", "v1.2.0", "production", FORCED_REASON, "production: v1.2.0"),
        ("rollback forced", "v1.1.0", "production", ROLLBACK_REASON, "production: v1.1.0"),
        ("promotion", "v1.2.0", "staging", "", "production: v1.1.0, staging: v1.2.0"),
        ("demotion", "v1.2.0", "staging", DEMOTE_REASON, "production: v1.1.0"),
    ]
    # The oracle: the registry itself, read as it was at each event's time.
    for r in rows:
        if not r[3]:
            continue
        held = dict(x.split(": v") for x in r[6].split(", ")) if r[6] else {}
        for stage in ("production", "staging"):
            try:
                then = reg.show(f"digits#{stage}", at=epoch(r[0])).version
            except GitregError:
                then = None
            assert held.get(stage) == then, (r, stage)
    events = [r[1] for r in rows]
    assert events.count("registration") == 3 and "evaluation" in events
    old = [r[1] for r in timeline(site, "old")]
    assert old[-1] == "deprecation"
    iris = [(r[1], r[2]) for r in timeline(site, "iris")]
    assert ("deregistration", "v0.1.0") in iris


def test_model_page_versions_metrics_charts_and_lineage(built: dict[str, Any]) -> None:
    site, reg = built["site"], built["reg"]
    p = page(site, "models/digits/index.html")
    versions = reg.versions("digits")
    table = [r for r in p.rows if r and r[0].startswith("v1.")]
    by_version = {r[0]: r for r in table[: len(versions)]}
    for mv in versions:
        row = by_version[f"v{mv.version}"]
        assert row[1] == mv.created and row[2] == mv.author
        assert row[3] == f"{mv.sidecar.metrics['acc']:.6g}" and row[4] == f"{mv.sidecar.metrics['f1']:.6g}"
        assert row[6] == "not checked" and not mv.sidecar.parity  # files pushed as they are: no parity run
    assert by_version["v1.1.0"][5] == "production"
    # One chart per training metric, a point per version (one recorded evaluation: charted on its own page).
    text = (site / "models/digits/index.html").read_text(encoding="utf-8")
    assert p.svgs == 2 and text.count("<title>v1.") == 3 * 2
    assert "<title>v1.0.0: 0.9</title>" in text and "<title>v1.2.0: 0.8</title>" in text
    chain = re.search(r"Parent chain of the latest version: (.*?)</p>", text)
    assert chain and re.sub("<[^>]+>", "", chain.group(1)) == "digits@v1.2.0 ← digits@v1.1.0 ← digits@v1.0.0"
    code = versions[0].sidecar.lineage["code"]["commit"]
    assert f"<code>{code[:12]}</code>" in text


def test_version_page_card_evaluation_artifacts_commands_and_diffs(built: dict[str, Any]) -> None:
    site, reg = built["site"], built["reg"]
    mv = reg.show("digits@v1.1.0")
    text = (site / "models/digits/v1.1.0.html").read_text(encoding="utf-8")
    p = Page(text)
    art = mv.sidecar.artifacts["onnx"]
    assert ["onnx", "model.onnx", art.sha256, str(art.size)] in p.rows
    assert "<h2>Recorded evaluation</h2>" in text
    acc = mv.sidecar.evaluation["accuracy"]
    assert ["accuracy", f"{acc:.6g}"] in p.rows and p.svgs == 1
    assert "<h3>Confusion matrix</h3>" in text
    assert "gitreg pull digits@v1.1.0 -o digits</code>" in text
    assert "gitreg.load(&quot;digits@v1.1.0&quot;)" in text
    assert "<h2>Compared with previous version: " in text and ["acc", "0.9", "0.95", "+0.05"] in p.rows
    assert "Compared with production (current holder)" not in text  # it is the holder
    other = Page((site / "models/digits/v1.2.0.html").read_text(encoding="utf-8"))
    assert ["acc", "0.95", "0.8", "-0.15"] in other.rows
    assert "Compared with production (current holder): digits@v1.1.0" in " ".join(" ".join(other.text).split())
    # A signature change is marked breaking.
    assert "Signature: unchanged." in text


def test_every_registry_string_is_escaped(built: dict[str, Any]) -> None:
    site = built["site"]
    for path in site.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "<b>42" not in text and "<img src=x" not in text, path
        assert Page(text).scripts == (1 if path.name == "index.html" and path.parent == site else 0), path
    iris = (site / "models/iris/v0.2.0.html").read_text(encoding="utf-8")
    assert html.escape(HOSTILE) in iris and HOSTILE in " ".join(page(site, "models/iris/v0.2.0.html").text)
    digits = (site / "models/digits/index.html").read_text(encoding="utf-8")
    assert html.escape(FORCED_REASON) in digits


def test_every_relative_link_resolves_and_nothing_is_fetched(built: dict[str, Any]) -> None:
    site = built["site"]
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 1 + 3 + 6  # index, a page per model, a page per version (deregistered too)
    seen = 0
    for path in pages:
        for link in page(site, str(path.relative_to(site))).links:
            assert "://" not in link and not link.startswith("//"), (path, link)  # no CDN, nothing remote
            target = (path.parent / urllib.request.url2pathname(link.split("#")[0])).resolve()
            assert target.is_file() and site.resolve() in target.parents, (path, link)
            seen += 1
    assert seen > 50
    for path in pages:
        assert path.stat().st_size < 300_000


# -- incremental rebuilds, the folder, the CLI ------------------------------------------------------
def test_rebuild_rewrites_only_the_models_that_changed(built: dict[str, Any], tmp_path: Path) -> None:
    path, out = tmp_path / "registry.git", tmp_path / "site"
    git("clone", "-q", "--mirror", str(built["root"] / "registry.git"), str(path))  # the module's stays as it is
    reg = Registry(path)
    shutil.copytree(built["site"], out)
    again = site_mod.build(reg, out)
    assert again.rebuilt == () and again.pages == 1 and again.bytes == built["report"].bytes
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.html")}
    reg.push_files([make_onnx(tmp_path / "iris2.onnx", 21)], "iris", version="0.3.0", metrics={"acc": 0.8})
    changed = site_mod.build(reg, out)
    assert changed.rebuilt == ("iris",) and (out / "models/iris/v0.3.0.html").is_file()
    for p, t in before.items():
        if p.parent.parent.name == "models" and p.parent.name != "iris":
            assert p.stat().st_mtime_ns == t, p  # digits and old: untouched
    assert ["iris", "v0.3.0"] in [r[:2] for r in page(out, "index.html").rows]
    assert not [p for p in (out / "models").iterdir() if p.name.startswith(".")]  # no temporary folders left
    full = site_mod.build(reg, out, full=True)
    assert set(full.rebuilt) == {"digits", "iris", "old"}


def test_cli_site_prints_the_index_and_refuses_a_foreign_folder(built: dict[str, Any], tmp_path: Path) -> None:
    reg = ["--registry", str(built["root"] / "registry.git")]
    p = invoke("site", "-o", str(tmp_path / "out"), *reg)
    assert p.exit_code == 0, p.stderr
    assert p.stdout == f"{tmp_path / 'out' / 'index.html'}\n"
    assert "3 model(s), 6 version(s)" in p.stderr
    p = invoke("site", "-o", str(tmp_path / "out"), "--json", *reg)
    assert json.loads(p.stdout)["rebuilt"] == []
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    p = invoke("site", "-o", str(mine), *reg)
    assert p.exit_code == 2
    assert (
        one_error_line(p.stderr)
        == f"error: {mine}: the folder is not empty and holds no gitreg site ({site_mod.MANIFEST} is missing)"
    )
    assert [x.name for x in mine.iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    p = invoke("site", "-o", str(tmp_path / "file"), *reg)
    assert p.exit_code == 2 and "error: " in one_error_line(p.stderr)


# -- gitreg ui -------------------------------------------------------------------------------------
def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as r:
        assert r.status == 200
        return r.read().decode("utf-8")


def test_ui_serves_the_site_and_rebuilds_when_the_registry_changes(built: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "registry.git"
    git("clone", "-q", "--mirror", str(built["root"] / "registry.git"), str(path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitreg", "ui", "--port", "0", "--interval", "0.5", "--registry", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), (url, proc.stderr.read() if proc.poll() else "")
        index = _get(url)
        assert '<a href="models/digits/index.html">digits</a>' in index and "v0.3.0" not in index
        assert "Stage timeline" in _get(url + "models/digits/index.html")
        assert "Recorded evaluation" in _get(url + "models/digits/v1.1.0.html")
        Registry(path).push_files([make_onnx(tmp_path / "n.onnx", 31)], "iris", version="0.3.0", metrics={"acc": 0.9})
        assert "v0.3.0" in _get(url)  # asking for the index checks the refs first
        assert "iris@v0.3.0" in _get(url + "models/iris/v0.3.0.html")
        Registry(path).push_files([make_onnx(tmp_path / "m.onnx", 32)], "fresh", version="1.0.0")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the poller, without asking for the index
            try:
                if "fresh@v1.0.0" in _get(url + "models/fresh/v1.0.0.html"):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the new model never appeared")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and err.rstrip().endswith("stopped")
    with pytest.raises(OSError):
        _get(url)


def test_ui_on_a_taken_port_is_one_error(built: dict[str, Any]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run_cli("ui", "--port", str(port), "--registry", str(built["root"] / "registry.git"), timeout=60)
    assert p.returncode == 2, p.stderr
    assert one_error_line(p.stderr).startswith(f"error: cannot serve on 127.0.0.1:{port}: ")


# -- the GitHub Pages workflow -----------------------------------------------------------------------
def _pages(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "gitreg-pages.yml"
    path.write_text(github.render(pages=True))
    return path, yaml.safe_load(path.read_text())


def test_pages_workflow_passes_the_schema_and_a_typo_does_not(tmp_path: Path) -> None:
    path, _ = _pages(tmp_path)
    exe = TOOLS_DIR / "check-jsonschema"
    p = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True
    )
    assert p.returncode == 0 and "ok -- validation done" in p.stdout, p.stdout + p.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("    needs: build\n", "    needs: 7\n    need: build\n"))
    p = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.github-workflows", str(broken)], capture_output=True, text=True
    )
    assert p.returncode == 1 and "Schema validation errors" in p.stdout


def test_pages_workflow_least_privilege_pinned_and_builds_the_site(tmp_path: Path) -> None:
    path, doc = _pages(tmp_path)
    on = doc.get("on", doc.get(True))
    assert on["push"]["branches"] == ["main"] and on["workflow_run"]["workflows"] == ["gitreg"]
    assert doc["permissions"] == {}
    jobs = doc["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["needs"] == "build" and jobs["deploy"]["environment"]["name"] == "github-pages"
    uses = [s["uses"] for j in jobs.values() for s in j["steps"] if "uses" in s]
    assert "actions/upload-pages-artifact@56afc609e74202658d3ffba0e8f6dda462b719fa" in uses
    assert "actions/deploy-pages@d6db90164ac5ed86f2b6aed7e0febac5b3c0c03e" in uses
    for u in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u), u
    for line in path.read_text().splitlines():
        if re.match(r"\s*(- )?uses:", line):
            assert re.search(r"#\s*v\d+\.\d+\.\d+\s*$", line), line
    runs = [s["run"] for j in jobs.values() for s in j["steps"] if "run" in s]
    assert all("${{" not in r for r in runs)
    import shlex

    from gitreg.cli import cli

    site_runs = [shlex.split(r) for r in runs if r.startswith("gitreg ")]
    assert [a[:2] for a in site_runs] == [["gitreg", "site"]]
    cli.commands["site"].make_context("site", site_runs[0][2:])  # options this gitreg has
    assert f'python -m pip install "gitreg=={github.gitreg_version()}"' in runs


def test_init_github_pages_commits_both_workflows_and_keeps_them(registry_path: Path) -> None:
    p = invoke("init", "--github", "--pages", "--registry", str(registry_path))
    assert p.exit_code == 0, p.stderr
    assert f"wrote {github.WORKFLOW_PATH}, {github.PAGES_PATH} on main (" in p.stdout
    shown = git("--git-dir", str(registry_path), "show", f"main:{github.PAGES_PATH}")
    assert shown == github.render(pages=True).rstrip("\n")
    spec = "gitreg @ https://example.org/gitreg-0.1.0-py3-none-any.whl"
    p = invoke("init", "--github", "--pip-spec", spec, "--registry", str(registry_path))  # no --pages: kept, updated
    assert p.exit_code == 0, p.stderr
    shown = git("--git-dir", str(registry_path), "show", f"main:{github.PAGES_PATH}")
    assert f'python -m pip install "{spec}"' in shown
    p = invoke("init", "--pages", "--registry", str(registry_path))
    assert p.exit_code == 2 and one_error_line(p.stderr) == "error: --pages goes with --github"


def test_init_github_without_pages_writes_no_pages_workflow(registry_path: Path) -> None:
    assert invoke("init", "--github", "--registry", str(registry_path)).exit_code == 0
    tree = git("--git-dir", str(registry_path), "ls-tree", "-r", "--name-only", "main").splitlines()
    assert github.WORKFLOW_PATH in tree and github.PAGES_PATH not in tree


def test_leftovers_are_swept_and_a_tampered_manifest_deletes_nothing_outside(
    built: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "site"
    shutil.copytree(built["site"], out)
    leftover = out / "models" / ".digits.k3j2.tmp"
    leftover.mkdir()
    (leftover / "index.html").write_text("half")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    manifest = json.loads((out / site_mod.MANIFEST).read_text())
    manifest["models"]["../../victim"] = "x"
    (out / site_mod.MANIFEST).write_text(json.dumps(manifest))
    report = site_mod.build(built["reg"], out)
    assert report.removed == ("../../victim",) and report.rebuilt == ()
    assert (victim / "keep.txt").read_text() == "mine" and not leftover.exists()
    assert "../../victim" not in json.loads((out / site_mod.MANIFEST).read_text())["models"]


def test_a_model_with_no_version_and_a_garbled_manifest_still_build(built: dict[str, Any], tmp_path: Path) -> None:
    path, out = tmp_path / "registry.git", tmp_path / "site"
    git("clone", "-q", "--mirror", str(built["root"] / "registry.git"), str(path))
    main = git("--git-dir", str(path), "rev-parse", "main")
    git("--git-dir", str(path), "tag", "-a", "ghost@deprecated", main, "-m", "Deprecating artifact ghost")
    shutil.copytree(built["site"], out)
    manifest = json.loads((out / site_mod.MANIFEST).read_text())
    manifest.update(models=["digits"], versions="many", bytes={"digits": "big"})
    (out / site_mod.MANIFEST).write_text(json.dumps(manifest))
    report = site_mod.build(Registry(path), out)
    assert set(report.rebuilt) == {"digits", "ghost", "iris", "old"} and report.versions == 6
    ghost = page(out, "models/ghost/index.html")
    assert ["latest", "none"] in ghost.rows and ["versions", "0"] in ghost.rows
