"""``gitreg site`` and ``gitreg ui``: the registry as a static web site, and a local viewer of it.

:func:`build` reads the registry through the public :class:`~gitreg.registry.Registry` API only
(``list``, ``versions`` — one cat-file process per model — and ``history``) and writes
``index.html``, ``models/<name>/index.html`` and ``models/<name>/v<version>.html`` plus one shared
stylesheet. The version pages are composed here, the rest and the HTML pieces in :mod:`.site_html`.
Nothing is fetched when a page is viewed and every link is relative, so the folder works from
``file://``, any static host and GitHub Pages.

Rebuilds are incremental: ``gitreg-site.json`` in the folder keeps, per model, a hash of the names
and targets of its tags and evaluation records; only models whose hash changed are rendered again
(plus the index). Each model's folder is rendered into a temporary sibling and swapped in with a
rename, the index and the manifest are replaced atomically and last, so an interrupted build leaves
the previous site (or a model's new folder whole) and the next build redoes what is missing.

:class:`Viewer` serves such a site from a temporary folder on 127.0.0.1 (``http.server`` in a
thread) and rebuilds it when the registry's refs change: polled every few seconds, and checked on
each request of the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gitreg.core.diff import signature_summary
from gitreg.errors import GitregError, UsageError
from gitreg.registry import Registry
from gitreg.store.files import atomic_write, disk_full, is_disk_full
from gitreg.workflow import site_html as h

MANIFEST = "gitreg-site.json"
FORMAT = 1  # bump when pages change shape: a site written by another format is rebuilt whole
EVAL_REFS = "refs/gitreg/evaluations/"

__all__ = ["MANIFEST", "SiteReport", "Viewer", "build", "fingerprints", "refs_digest"]


@dataclass(frozen=True)
class SiteReport:
    """What a build did: where the index is, what it rendered again and what the folder now holds."""

    index: str
    models: int
    versions: int
    rebuilt: tuple[str, ...]
    removed: tuple[str, ...]
    pages: int  # pages written by this build
    bytes: int  # size of the whole site folder
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rebuilt": list(self.rebuilt), "removed": list(self.removed)}


# -- what changed -----------------------------------------------------------------------------------
def _refs(reg: Registry, sync: bool) -> list[tuple[str, str]]:
    """(refname, target) of every tag and evaluation record of the registry: one for-each-ref."""
    view = reg.backend.view(sync=sync)
    if view is None:
        return []
    out = view.git.run("for-each-ref", "--format=%(refname)%00%(objectname)", "refs/tags", EVAL_REFS.rstrip("/"))
    pairs = []
    for line in out.stdout.splitlines():
        ref, _, target = line.partition("\0")
        pairs.append((ref, target))
    return pairs


def _model_of(ref: str) -> str | None:
    if ref.startswith("refs/tags/"):
        tag = ref[len("refs/tags/") :]
        cut = min((i for i in (tag.find("@"), tag.find("#")) if i > 0), default=-1)
        return tag[:cut] if cut > 0 else None
    if ref.startswith(EVAL_REFS):
        return ref[len(EVAL_REFS) :].split("/", 1)[0] or None
    return None


def fingerprints(reg: Registry, sync: bool = False) -> dict[str, str]:
    """Per model, a hash of its tags' and evaluation records' names and targets."""
    per: dict[str, list[str]] = {}
    for ref, target in _refs(reg, sync):
        name = _model_of(ref)
        if name is not None:
            per.setdefault(name, []).append(f"{ref} {target}")
    return {n: hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest() for n, lines in per.items()}


def refs_digest(reg: Registry, sync: bool = False) -> str:
    """One hash of every tag and evaluation record: changes whenever the registry does (``ui`` polls it)."""
    return hashlib.sha256("\n".join(f"{r} {t}" for r, t in sorted(_refs(reg, sync))).encode()).hexdigest()


# -- the build --------------------------------------------------------------------------------------
def _read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_folder(out: Path) -> dict[str, Any] | None:
    """The folder's manifest; refuses a file, or a folder with files that are not a gitreg site."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: not a folder", hint="pass -o DIR, a new or empty folder (or an earlier site)")
    manifest = _read_manifest(out) if out.is_dir() else None
    if manifest is None and out.is_dir() and any(out.iterdir()):
        raise UsageError(
            f"{out}: the folder is not empty and holds no gitreg site ({MANIFEST} is missing)",
            hint="pass -o DIR, a new or empty folder, or the folder of an earlier gitreg site",
        )
    return manifest


def _gitreg_version() -> str:
    from gitreg.workflow.github import gitreg_version

    return gitreg_version()


def build(reg: Registry, out: str | os.PathLike[str], full: bool = False) -> SiteReport:
    """Write (or bring up to date) the static site of ``reg`` in ``out``; returns what was done.

    ``full`` renders every model again. Raises :class:`UsageError` when ``out`` is a file or a
    non-empty folder that holds no gitreg site (never writes over someone's files).
    """
    t0 = time.perf_counter()
    folder = Path(out)
    manifest = _check_folder(folder)
    summaries = reg.list()  # syncs a remote registry once; the reads below use that state
    prints = fingerprints(reg, sync=False)
    stamp = {"format": FORMAT, "gitreg": _gitreg_version()}
    old: Mapping[str, Any] = {}
    if manifest is not None and not full and all(manifest.get(k) == v for k, v in stamp.items()):
        old = _part(manifest, "models", str)
    names = {s.name for s in summaries}
    models_dir = folder / "models"
    stale = [
        s
        for s in summaries
        if old.get(s.name) != prints.get(s.name, "") or not (models_dir / s.name / "index.html").is_file()
    ]
    gone = sorted(n for n in old if n not in names)
    pages = 0
    counts: dict[str, int] = _part(manifest, "versions", int) if old else {}
    sizes: dict[str, int] = _part(manifest, "bytes", int) if old else {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for left in models_dir.glob(".*") if models_dir.is_dir() else ():  # an interrupted build's folders
            shutil.rmtree(left, ignore_errors=True)
        _write(folder / h.CSS_FILE, h.CSS)
        for s, (versions, history) in zip(stale, _read_models(reg, [s.name for s in stale])):
            files = model_files(s, versions, history, names, reg.url)
            sizes[s.name] = _swap_in(models_dir, s.name, files)
            pages += len(files)
            counts[s.name] = len(versions)
        for n in gone:
            if n and "/" not in n and "\\" not in n and not n.startswith("."):  # the manifest is a file anyone edits
                shutil.rmtree(models_dir / n, ignore_errors=True)
            counts.pop(n, None)
            sizes.pop(n, None)
        index = folder / "index.html"
        atomic_write(index, h.index_page(summaries))
        pages += 1
        new_manifest = {
            **stamp,
            "models": {s.name: prints.get(s.name, "") for s in summaries},
            "versions": counts,
            "bytes": sizes,  # each model folder's size: the report's total without a walk of every page
        }
        atomic_write(folder / MANIFEST, json.dumps(new_manifest, indent=1, sort_keys=True) + "\n")
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(folder, e) from None
        raise GitregError(f"{folder}: cannot write the site: {e.strerror or e}") from None
    size = sum(sizes.get(s.name, 0) for s in summaries)
    size += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return SiteReport(
        str(index),
        len(summaries),
        sum(counts.get(s.name, 0) for s in summaries),
        tuple(s.name for s in stale),
        tuple(gone),
        pages,
        size,
        time.perf_counter() - t0,
    )


def _read_models(reg: Registry, names: Sequence[str]) -> Iterator[tuple[list[Any], list[Any]]]:
    """``(versions, history)`` of each model, in order: read in bulk (:meth:`Registry.read_models`:
    one for-each-ref and one cat-file for them all, where a model at a time cost ~5 git processes)."""
    read = reg.read_models(names)
    for n in names:
        yield read.get(n, ([], []))


def _part(manifest: Mapping[str, Any] | None, key: str, kind: type) -> dict[str, Any]:
    """One map of the manifest, only the entries of the expected type (it is a file anyone can edit)."""
    value = (manifest or {}).get(key)
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and type(v) is kind}


def _write(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write(path, text)


def _swap_in(models_dir: Path, name: str, files: Mapping[str, str]) -> int:
    """Write ``files`` into a temporary folder beside ``models/<name>``, then rename it into place;
    returns the bytes written."""
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=models_dir))
    try:
        written = 0
        for rel, text in files.items():
            data = text.encode("utf-8")
            (tmp / rel).write_bytes(data)
            written += len(data)
        tmp.chmod(0o755)
        target = models_dir / name
        trash = None
        if target.exists():
            trash = models_dir / f".{name}.{os.urandom(4).hex()}.old"
            target.rename(trash)
        tmp.rename(target)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


# -- the pages of one model ------------------------------------------------------------------------
def diff_html(d: Mapping[str, Any]) -> str:
    """One :func:`gitreg.core.diff.diff` as HTML: metric deltas, signature (breaking marked), artifacts, lineage."""
    out = []
    for section in ("metrics", "evaluation"):
        rows = [
            [k, r["a"], r["b"], "" if r["delta"] is None else h.number(r["delta"], signed=True)]
            for k, r in d[section].items()
        ]
        if rows:
            out.append(h.table([section, str(d["a"]), str(d["b"]), "Δ"], rows))
    if d["params"]:
        out.append(h.table(["param", str(d["a"]), str(d["b"])], [[k, r["a"], r["b"]] for k, r in d["params"].items()]))
    summary = signature_summary(d["signature"])
    css = ' class="breaking"' if d["signature"]["breaking"] else ""
    out.append(f"<p{css}>Signature: {h.esc(summary)}.</p>")
    arts = [
        [k, "identical" if r["same"] else "changed", h.short(r["sha256"]["a"]), h.short(r["sha256"]["b"]), *sizes]
        for k, r in d["artifacts"].items()
        for sizes in [(r["size"]["a"], r["size"]["b"])]
    ]
    if arts:
        out.append(h.table(["artifact", "", "sha256 a", "sha256 b", "size a", "size b"], arts))
    lin = d["lineage"]
    changes = [(f"code {k}", r["a"], r["b"]) for k, r in lin["code"].items()]
    changes += [(f"data {k}", h.short(r["a"]), h.short(r["b"])) for k, r in lin["data"].items()]
    if lin["parent"]:
        changes.append(("parent", lin["parent"]["a"], lin["parent"]["b"]))
    if changes:
        out.append(h.table(["lineage", str(d["a"]), str(d["b"])], changes))
    return "\n".join(out)


def version_page(summary: Any, mv: Any, previous: Any, holders: Mapping[str, Any], registry_url: str | None) -> str:
    """One version: model card, recorded evaluation, pull/load commands, diffs against the previous
    version and each stage's current holder. ``holders``: stage -> ModelVersion."""
    from gitreg.core.diff import diff

    d = mv.sidecar.to_dict() if mv.sidecar is not None else None
    flags = [h.badge(s) for s in mv.stages]
    if mv.deregistered:
        flags.append(h.badge("deregistered", "grey"))
    if summary.deprecated:
        flags.append(h.badge("model deprecated", "grey"))
    if summary.latest == f"v{mv.version}":
        flags.append(h.badge("latest"))
    body = [f"<h1>{h.esc(mv.ref)}</h1>", f"<p>{' '.join(flags)}</p>"]
    body.append(h.kv_table([("tag", mv.tag), ("commit", mv.commit), ("created", mv.created), ("author", mv.author)]))
    reg = f" --registry {_sh(registry_url)}" if registry_url else ""
    reg_py = f", registry={json.dumps(registry_url)}" if registry_url else ""
    body += [
        "<h2>Pull and load</h2>",
        f'<pre class="cmd"><code>gitreg pull {h.esc(_sh(mv.ref))} -o {h.esc(_sh(mv.name))}{h.esc(reg)}</code></pre>',
        f'<pre class="cmd"><code>import gitreg\nmodel = gitreg.load({h.esc(json.dumps(mv.ref) + reg_py)})\n'
        "y = model.predict(X)</code></pre>",
    ]
    if d is None:
        body.append('<p class="muted">This version has no sidecar of its own (registered outside gitreg).</p>')
    else:
        body += ['<section class="card">', h.card(d), "</section>"]
        body.append(_evaluation(d.get("evaluation") or {}))
    compare = ([("previous version", previous)] if previous is not None else []) + [
        (f"{stage} (current holder)", other) for stage, other in sorted(holders.items()) if other.version != mv.version
    ]
    for label, other in compare:
        od = other.sidecar.to_dict() if other.sidecar is not None else None
        link = f'<a href="{h.href(h.version_file(other.version))}">{h.esc(other.ref)}</a>'
        body.append(f"<h2>Compared with {h.esc(label)}: {link}</h2>")
        body.append(
            diff_html(diff(other.ref, od, mv.ref, d))
            if d is not None and od is not None
            else "<p>No sidecar to compare.</p>"
        )
    crumbs = [("registry", "../../index.html"), (mv.name, "index.html"), (f"v{mv.version}", None)]
    return h.page(mv.ref, "\n".join(body), "../../", crumbs)


def _evaluation(ev: Mapping[str, Any]) -> str:
    if not ev:
        return ""
    data = ev.get("data") or {}
    out = ["<h2>Recorded evaluation</h2>"]
    out.append(h.kv_table([("data", data.get("name") or data.get("path")), ("data sha256", data.get("sha256")),
                         ("samples", ev.get("samples")), ("task", ev.get("task"))]))  # fmt: skip
    metrics = [(k, float(v)) for k, v in sorted(ev.items()) if h.finite(v) and k not in h.RUN_FIELDS]
    if metrics:
        out.append(f'<div class="charts">{h.bar_chart("evaluation metrics (onnxruntime)", metrics)}</div>')
        out.append(h.table(["metric", "value"], metrics, cls="evaluation"))
    if ev.get("labels") and ev.get("confusion"):
        out += ["<h3>Confusion matrix</h3>", h.heatmap(ev["labels"], ev["confusion"])]
    return "\n".join(out)


def _sh(s: str) -> str:
    import shlex

    return shlex.quote(s)


def model_files(
    summary: Any, versions: Sequence[Any], history: Sequence[Any], names: set[str], url: str | None
) -> dict[str, str]:
    """Every page of one model: ``index.html`` and ``v<version>.html`` per version."""
    by_version = {mv.version: mv for mv in versions}
    holders = {s: by_version[v[1:]] for s, v in summary.stages.items() if v[1:] in by_version}
    shown_url = url if url and "://" in url and not url.startswith("file:") else None
    files = {"index.html": h.model_page(summary, versions, history, names)}
    for i, mv in enumerate(versions):
        files[h.version_file(mv.version)] = version_page(
            summary, mv, versions[i - 1] if i else None, holders, shown_url
        )
    return files


# -- the viewer -------------------------------------------------------------------------------------
class _Handler(SimpleHTTPRequestHandler):
    viewer: Viewer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] in ("/", "/index.html"):
            self.viewer.refresh()  # a reload of the index always shows the registry as it is now
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Viewer:
    """The site of ``reg`` built into a temporary folder and served on ``host``:``port`` (0: any free
    port); rebuilt when the registry's refs change. :meth:`start`, then :attr:`url`, then :meth:`stop`."""

    def __init__(self, reg: Registry, port: int = 8765, host: str = "127.0.0.1", interval: float = 2.0) -> None:
        self.reg = reg
        self.host, self.port = host, port
        # A remote registry is fetched to see a change: poll it less often than a local one.
        self.interval = interval if reg.location.is_local else max(interval, 30.0)
        self.root = Path(tempfile.mkdtemp(prefix="gitreg-ui-"))
        self.builds = 0
        self.last_error: str | None = None
        self._digest = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}/"

    def start(self) -> None:
        """Build the site once (errors raised), then serve it and watch the registry in threads."""
        try:
            self._rebuild(self.refs(sync=True))
            handler = type("Handler", (_Handler,), {"viewer": self})
            self._server = ThreadingHTTPServer((self.host, self.port), partial(handler, directory=str(self.root)))
        except OSError as e:
            self.stop()
            raise UsageError(
                f"cannot serve on {self.host}:{self.port}: {e.strerror or e}", hint="try --port 0"
            ) from None
        except BaseException:
            self.stop()
            raise
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="gitreg-ui-http", daemon=True),
            threading.Thread(target=self._watch, name="gitreg-ui-watch", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def refs(self, sync: bool = False) -> str:
        return refs_digest(self.reg, sync=sync)

    def refresh(self, sync: bool = False) -> bool:
        """Rebuild if the registry changed since the last build; True when it did. Errors are kept
        in :attr:`last_error` (and on stderr) and the previous site stays served."""
        try:
            digest = self.refs(sync=sync)
            if digest == self._digest:
                return False
            self._rebuild(digest)
            self.last_error = None
            return True
        except GitregError as e:
            if self.last_error != e.message:
                print(f"gitreg ui: rebuild failed: {e.message}", file=sys.stderr, flush=True)
            self.last_error = e.message
            return False

    def _rebuild(self, digest: str) -> None:
        with self._lock:
            if digest == self._digest:
                return
            build(self.reg, self.root)
            self._digest = digest
            self.builds += 1

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh(sync=not self.reg.location.is_local)

    def stop(self) -> None:
        """Stop serving and watching, and remove the temporary folder."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
