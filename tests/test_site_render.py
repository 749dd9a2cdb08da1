"""The registry site in a real browser: headless Chromium opens every page ``gitreg site`` wrote, from
``file://``, with every host name unresolvable and a dead proxy (nothing may be fetched).

Each page is opened as a copy next to the original (so its relative links still resolve) with a probe
script first in ``<head>``: it records every error event (a script error, a stylesheet or image that
failed to load) and every ``console.error``, and on ``load`` the laid-out size of each SVG chart,
every link's resolved URL, the page's rendered text, whether the stylesheet applied, how far the
page overflows a phone-sized window, and (on the index) which rows the filter box leaves visible.
``chromium --dump-dom`` prints the DOM after it ran. A screenshot of a model page shows the charts'
line colour on a page that is not blank.

Chromium is Debian's ``chromium`` package (``make setup``); without it these tests skip, except under
CI, where a missing browser fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gitreg.workflow import site as site_mod
from tests.test_site import DEMOTE_REASON, ENV_KEYS, FORCED_REASON, HOSTILE, ROLLBACK_REASON, build_registry
from tests.test_site import test_env as site_env

pytestmark = pytest.mark.slow  # starts chromium once per page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get install chromium (make setup does it)"
LINE_BLUE = (0x4C, 0x72, 0xB0)  # site_html.LINE, the charts' line colour

PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { errors.push("failed to load " + (t.src || t.href)); }
    else { errors.push("error: " + e.message); }
  }, true);
  console.error = function () { errors.push("console.error: " + Array.prototype.join.call(arguments, " ")); };
  window.addEventListener("load", function () {
    var all = function (sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); };
    var out = {
      errors: errors,
      title: document.title,
      svgs: all("svg").map(function (s) {
        var r = s.getBoundingClientRect();
        return {label: s.getAttribute("aria-label"), width: r.width, height: r.height,
                marks: s.querySelectorAll("polyline, rect, circle").length};
      }),
      links: all("a[href], link[href]").map(function (a) { return a.href; }),
      styled: getComputedStyle(document.body).maxWidth,
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      text: document.body.innerText
    };
    var box = document.getElementById("filter");
    if (box) {
      box.value = "DIG";
      box.dispatchEvent(new Event("input"));
      out.filtered = all("tr[data-name]").filter(function (r) { return r.offsetParent !== null; })
        .map(function (r) { return r.getAttribute("data-name"); });
      box.value = "";
      box.dispatchEvent(new Event("input"));
    }
    var pre = document.createElement("pre");
    pre.id = "render-check";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
})();
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail(f"headless Chromium is not installed; CI must have it: {INSTALL}")
        pytest.skip(f"headless Chromium is not installed: {INSTALL}")
    return CHROMIUM


@pytest.fixture(scope="module")
def site(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("site-render")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in site_env(root).items():
            mp.setenv(k, v)
        for k in ENV_KEYS:
            mp.delenv(k, raising=False)
        reg = build_registry(root)
        site_mod.build(reg, root / "site")
        yield {"root": root, "reg": reg, "site": root / "site"}


def browse(chromium: str, work: Path, page: Path, *args: str) -> str:
    profile = work / f"chromium-profile-{len(list(work.glob('chromium-profile-*')))}"
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


def probe(chromium: str, work: Path, page: Path, *args: str) -> dict[str, Any]:
    """What the probe saw in Chromium for ``page`` (a copy with the probe sits beside it)."""
    text = page.read_text(encoding="utf-8")
    assert text.count("<head>") == 1
    copy = page.with_name(f"{page.stem}.probe.html")
    copy.write_text(text.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    try:
        dom = browse(chromium, work, copy, "--virtual-time-budget=5000", "--dump-dom", *args)
    finally:
        copy.unlink()
    found = re.search(r'<pre id="render-check">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; DOM starts: {dom[:300]!r}"
    raw = found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    return json.loads(raw)


def test_every_page_renders_with_no_error_every_link_resolving_and_charts_laid_out(
    chromium: str, site: dict[str, Any], tmp_path: Path
) -> None:
    root = site["site"]
    pages = sorted(root.rglob("*.html"))
    assert len(pages) == 10
    charts = 0
    for page in pages:
        seen = probe(chromium, tmp_path, page)
        assert seen["errors"] == [], (page, seen["errors"])
        assert seen["styled"] == "1152px", page  # the shared stylesheet loaded (72rem)
        assert seen["links"], page
        for link in seen["links"]:
            url = urllib.parse.urlsplit(link)
            assert url.scheme == "file", (page, link)
            assert Path(urllib.request.url2pathname(url.path)).is_file(), (page, link)
        for svg in seen["svgs"]:
            assert svg["width"] > 100 and svg["height"] > 50 and svg["marks"] > 0, (page, svg)
            charts += 1
    assert charts >= 4


def test_the_dom_holds_the_registrys_facts(chromium: str, site: dict[str, Any], tmp_path: Path) -> None:
    root, reg = site["site"], site["reg"]
    index = probe(chromium, tmp_path, root / "index.html")
    lines = index["text"].splitlines()
    for s in reg.list():
        row = next(ln for ln in lines if ln.startswith(s.name + "\t") or ln.startswith(s.name + " "))
        assert s.latest in row, row
        for stage, version in s.stages.items():
            assert f"{stage}: {version}" in row
    assert index["filtered"] == ["digits"]  # the filter box, case-insensitive

    model = probe(chromium, tmp_path, root / "models" / "digits" / "index.html")
    text = model["text"]
    after = text[text.index("Stage timeline") :].splitlines()
    timeline = [ln.split("\t") for ln in after if "\tproduction\t" in ln or "\tstaging\t" in ln]
    assert [(r[1], r[2], r[5], r[6]) for r in timeline] == [
        ("promotion", "v1.0.0", "", "production: v1.0.0"),
        ("promotion", "v1.1.0", "", "production: v1.1.0"),
        ("promotion forced", "v1.2.0", FORCED_REASON, "production: v1.2.0"),
        ("rollback forced", "v1.1.0", ROLLBACK_REASON, "production: v1.1.0"),
        ("promotion", "v1.2.0", "", "production: v1.1.0, staging: v1.2.0"),
        ("demotion", "v1.2.0", DEMOTE_REASON, "production: v1.1.0"),
    ]
    assert [s["label"] for s in model["svgs"]][:2] == ["acc", "f1"]

    version = probe(chromium, tmp_path, root / "models" / "digits" / "v1.1.0.html")
    mv = reg.show("digits@v1.1.0")
    assert f"accuracy\t{mv.sidecar.evaluation['accuracy']:.6g}" in version["text"]
    assert mv.sidecar.artifacts["onnx"].sha256 in version["text"]
    assert "gitreg pull digits@v1.1.0 -o digits" in version["text"]
    hostile = probe(chromium, tmp_path, root / "models" / "iris" / "v0.2.0.html")
    assert HOSTILE in hostile["text"] and hostile["errors"] == []


def test_pages_fit_a_phone(chromium: str, site: dict[str, Any], tmp_path: Path) -> None:
    root = site["site"]
    for rel in ("index.html", "models/digits/index.html", "models/digits/v1.2.0.html"):
        seen = probe(chromium, tmp_path, root / rel, "--window-size=375,800")
        assert seen["overflow"] <= 0, (rel, seen["overflow"])  # wide tables scroll inside their box


def test_a_screenshot_of_a_model_page_shows_its_charts(chromium: str, site: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "digits.png"
    page = site["site"] / "models" / "digits" / "index.html"
    browse(chromium, tmp_path, page, "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int32)
    assert pixels.shape == (2400, 1200, 3)
    blue = (np.abs(pixels - np.array(LINE_BLUE)).max(axis=2) <= 8).sum()
    assert blue > 500, blue  # the metric lines and their points
    rgb = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    assert len(np.unique(rgb)) > 50  # text, charts, badges: not a blank page


def test_the_probe_catches_a_missing_stylesheet_a_script_error_and_overflow(
    chromium: str, site: dict[str, Any], tmp_path: Path
) -> None:
    """The checks above can fail: a page whose stylesheet is gone, whose script throws and whose table
    is not in its scrolling box is reported on all three counts."""
    original = site["site"] / "models" / "digits" / "index.html"
    text = original.read_text(encoding="utf-8")
    broken = original.with_name("broken.html")
    bad = text.replace("../../site.css", "../../missing.css").replace('<div class="scroll">', "<div>")
    broken.write_text(bad.replace("</main>", "</main><script>undefinedFunction();</script>"), encoding="utf-8")
    try:
        seen = probe(chromium, tmp_path, broken, "--window-size=375,800")
    finally:
        broken.unlink()
    assert any("failed to load" in e and e.endswith("missing.css") for e in seen["errors"]), seen["errors"]
    assert any("undefinedFunction" in e for e in seen["errors"]), seen["errors"]
    assert seen["styled"] != "1152px" and seen["overflow"] > 0
