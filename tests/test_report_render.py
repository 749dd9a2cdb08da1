"""The HTML reports render in a real browser: headless Chromium opens what ``gitreg eval --report`` and
``gitreg report`` wrote, and every chart decodes to an image of the size its PNG says.

A copy of each report gets a small probe script that, on ``load``, records per ``<img>`` its alt text,
``complete``, natural and laid-out size, plus the page's rendered text (``innerText``), as JSON in a
``<pre>``; ``chromium --dump-dom`` prints the DOM after it ran. The report itself has no scripts (the
parser test in test_report.py checks that), so the probe only ever touches the copy. A copy with one
chart's bytes corrupted shows the probe catches a broken image, and a screenshot of the original
shows the charts' colours reach the screen.

Chromium is Debian's ``chromium`` package; ``make setup`` installs it. Without it the tests skip,
except under CI (``CI`` set), where a missing browser fails them so a green run cannot hide it.
Chromium runs with every host name unresolvable and a dead proxy: the pages are local files and
must need no network.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gitreg
from gitreg import Registry
from tests.support import eval_models
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow  # starts chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get install chromium (make setup does it)"
EVAL_IMAGES = ["metrics bar chart", "confusion matrix heatmap", "ROC curves"]
COMPARE_IMAGES = ["metrics comparison", "confusion difference"]
BAR_BLUE = (0x4C, 0x72, 0xB0)  # report.PALETTE[0], the first series of the metrics chart

PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    return {alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
            shown: img.getBoundingClientRect().width};
  });
  var out = document.createElement("pre");
  out.id = "render-check";
  out.textContent = JSON.stringify({images: images, text: document.body.innerText});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail(f"headless Chromium is not installed; CI must have it: {INSTALL}")
        pytest.skip(f"headless Chromium is not installed: {INSTALL}")
    return CHROMIUM


def _browse(chromium: str, tmp_path: Path, page: Path, *args: str) -> str:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    argv = [
        chromium,
        "--headless",
        "--no-sandbox",  # root in a container has no usable sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        f"--user-data-dir={profile}",
        *args,
        page.resolve().as_uri(),
    ]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, f"chromium exited {p.returncode}: {p.stderr[-2000:]}"
    return p.stdout


def _render(chromium: str, tmp_path: Path, report: Path, html: str | None = None) -> dict[str, Any]:
    """What the probe saw in Chromium for ``report`` (or for ``html`` standing in for its text)."""
    text = report.read_text(encoding="utf-8") if html is None else html
    assert text.count("</body>") == 1
    probe = tmp_path / f"{report.stem}.probe{len(list(tmp_path.glob('*.probe*.html')))}.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _browse(chromium, tmp_path, probe, "--virtual-time-budget=5000", "--dump-dom")
    found = re.search(r'<pre id="render-check">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; DOM starts: {dom[:300]!r}"
    raw = found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return json.loads(raw)


def _png_sizes(html: str) -> dict[str, tuple[int, int]]:
    """``{alt: (width, height)}`` from each inlined PNG's IHDR chunk."""
    out = {}
    for alt, data in re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', html):
        png = base64.b64decode(data, validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        out[alt] = struct.unpack(">II", png[16:24])
    return out


def _assert_rendered(seen: dict[str, Any], html: str, expected: list[str]) -> None:
    images = {i["alt"]: i for i in seen["images"]}
    assert [i["alt"] for i in seen["images"]] == expected
    sizes = _png_sizes(html)
    for alt in expected:
        img = images[alt]
        assert img["complete"] and img["width"] > 0 and img["height"] > 0, img
        assert (img["width"], img["height"]) == sizes[alt], (alt, img, sizes[alt])
        assert img["shown"] > 100, img  # laid out on the page, not collapsed


@pytest.fixture(scope="module")
def reports(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two real digits classifiers in a registry, and both reports written by the real CLI (once per module;
    after ``chromium``, so a machine without it skips before building anything)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("render")
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolated_env is per test; this runs once
        for k, v in eval_models._env(root).items():
            mp.setenv(k, v)
        for k in ("GITREG_REGISTRY", "GITREG_DEBUG", "GIT_DIR", "GIT_WORK_TREE"):
            mp.delenv(k, raising=False)
        mp.chdir(root)
        registry = Registry(root / "registry.git")
        registry.init()
        x, y = load_digits(return_X_y=True)
        train, hold = slice(0, 900), slice(900, None)
        for version, c in (("1.0.0", 1e-3), ("1.1.0", 1e-2)):
            model = LogisticRegression(C=c, max_iter=500).fit(x[train], y[train])
            gitreg.push(model, "digits", version=version, eval_data=(x[hold], y[hold]), registry=registry)
        np.savez("holdout.npz", X=x[hold], y=y[hold])
        reg = ["--registry", str(root / "registry.git")]
        p = run_cli("eval", "digits@v1.0.0", "--data", "holdout.npz", "--report", "eval.html", "--json", *reg)
        assert p.returncode == 0, p.stderr
        ev_a = json.loads(p.stdout)
        p = run_cli("eval", "digits@v1.1.0", "--data", "holdout.npz", "--json", *reg)
        assert p.returncode == 0, p.stderr
        ev_b = json.loads(p.stdout)
        p = run_cli("report", "digits@v1.0.0", "digits@v1.1.0", "--data", "holdout.npz", "-o", "cmp.html", *reg)
        assert p.returncode == 0, p.stderr
    yield {"eval": root / "eval.html", "cmp": root / "cmp.html", "a": ev_a, "b": ev_b}


def test_eval_and_compare_reports_render_every_chart_in_chromium(chromium: str, reports, tmp_path: Path) -> None:
    html = reports["eval"].read_text(encoding="utf-8")
    seen = _render(chromium, tmp_path, reports["eval"])
    _assert_rendered(seen, html, EVAL_IMAGES)
    text, metrics = seen["text"], reports["a"]["metrics"]
    assert text.startswith("digits@v1.0.0")
    for heading in ("Metrics", "Confusion matrix", "ROC curves", "Per class", "Parity", "Lineage"):
        assert f"\n{heading}\n" in f"\n{text}\n", heading
    assert f"accuracy\t{metrics['accuracy']:.6g}" in text and f"roc_auc\t{metrics['roc_auc']:.6g}" in text
    assert f"samples\t{reports['a']['samples']}" in text and "onnxruntime" in text

    html = reports["cmp"].read_text(encoding="utf-8")
    seen = _render(chromium, tmp_path, reports["cmp"])
    _assert_rendered(seen, html, COMPARE_IMAGES)
    text = seen["text"]
    assert text.startswith("digits@v1.0.0 vs digits@v1.1.0")
    assert "Confusion matrix difference (digits@v1.1.0 − digits@v1.0.0)" in text
    delta = reports["b"]["metrics"]["accuracy"] - reports["a"]["metrics"]["accuracy"]
    assert f"{delta:+.6g}" in text and "Δ (B − A)" in text


def test_the_probe_catches_a_chart_that_does_not_decode(chromium: str, reports, tmp_path: Path) -> None:
    html = reports["eval"].read_text(encoding="utf-8")
    marker = 'alt="confusion matrix heatmap" src="data:image/png;base64,'
    start = html.index(marker) + len(marker)
    assert html[start : start + 8] == "iVBORw0K"  # the PNG signature, base64
    broken = html[:start] + "AAAAAAAA" + html[start + 8 :]  # valid base64, no longer a PNG
    seen = _render(chromium, tmp_path, reports["eval"], broken)
    images = {i["alt"]: i for i in seen["images"]}
    assert images["confusion matrix heatmap"]["width"] == 0
    assert images["metrics bar chart"]["width"] > 0 and images["ROC curves"]["width"] > 0
    with pytest.raises(AssertionError):
        _assert_rendered(seen, html, EVAL_IMAGES)


def test_a_screenshot_of_the_report_shows_the_charts(chromium: str, reports, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "eval.png"
    _browse(chromium, tmp_path, reports["eval"], "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int32)
    assert pixels.shape == (2400, 1200, 3)
    blue = (np.abs(pixels - np.array(BAR_BLUE)).max(axis=2) <= 8).sum()
    assert blue > 20_000, blue  # nine metric bars in the chart's first colour
    rgb = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    assert len(np.unique(rgb)) > 200  # charts, not a blank or text-only page
