"""``model.toml``: the sidecar schema, read tolerantly and written canonically (pure).

Canonical means: sections in a fixed order (model, artifacts, signature, metrics, …), keys sorted
inside them, ``None`` dropped (TOML has no null), floats in
Python's shortest round-trip form — so ``git diff`` between two versions shows only real changes.
Reading keeps unknown top-level sections in ``extra`` and writes them back, so a newer gitreg's
sidecar survives an older one's rewrite.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitreg.core import tomlfmt
from gitreg.errors import MetadataError, SidecarError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SCHEMA = 1
SECTIONS = ("signature", "metrics", "params", "parity", "evaluation", "lineage", "environment", "files")
ARTIFACT_FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
# Names in models/<name>/ that gitreg writes itself: no external-data or extra file may take them.
RESERVED_FILES = frozenset({*ARTIFACT_FILES.values(), "model.toml", "README.md"})
DATA_KIND = "onnx.data"  # kind of an ONNX external-data file in stored_files()
FILE_KIND = "file"  # kind of a file the model needs (files=[...], --file)
# Caps checked on the raw text before tomllib sees it: tomllib recurses once per nesting level
# (100,000 levels: RecursionError) and builds a key tuple per dotted component (20,000 components:
# ~2.4 GB RSS). A real sidecar is a few KiB, nests 4 deep and has 2-3 component keys.
MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_KEY_PARTS = 64
# Strings and comments (skipped whole), then the characters that open, close or separate. Every
# string alternative ends at its closing quotes or at the end of its line (or text), so no match
# fails after a long scan: the scan stays linear on hostile text. Multi-line strings may close
# with up to two extra quotes (TOML). What this lexes differently from tomllib is malformed TOML,
# where tomllib stops first; loads() still catches a RecursionError as a backstop.
_TOKENS = re.compile(
    r'"""(?:\\.|[^\\]|\\)*?(?:"{3,5}|\Z)'
    r"|'''.*?(?:'{3,5}|\Z)"
    r'|"(?:\\[^\n]|[^"\\\n]|\\)*(?:"|(?=\n)|\Z)'
    r"|'[^'\n]*(?:'|(?=\n)|\Z)"
    r"|#[^\n]*"
    r"|[\[\]{}.,=\n]",
    re.DOTALL,
)


def file_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file stored in ``models/<name>/`` beside the model; None if it can.

    A relative POSIX path of plain components (letters, digits, ``._+-@``; no ``..``, no hidden
    component, no absolute path), so it cannot escape the model's folder, needs no quoting in
    ``.gitattributes``, and does not take a name gitreg writes itself (``model.onnx``, ``model.pt``,
    ``model.toml``, ``README.md``).
    """
    if not path or path.startswith("/") or "\\" in path:
        return "must be a relative path inside the model's folder"
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return "must not contain empty, '.' or '..' components (it would escape the model's folder)"
        if part.startswith("."):
            return "must not contain hidden components (starting with '.')"
        if not _plain(part):
            return "may use letters, digits and ._+-@ only"
    if path in RESERVED_FILES:
        return f"is the name of a file gitreg writes itself ({', '.join(sorted(RESERVED_FILES))})"
    return None


def _plain(part: str) -> bool:
    # No control character, space or quote: these paths are sent line by line to `git cat-file --batch`.
    return all(c.isascii() and (c.isalnum() or c in "._+-@") for c in part)


@dataclass(frozen=True)
class Artifact:
    """One stored file of a version. ``path`` is relative to ``models/<name>/``."""

    kind: str
    path: str
    sha256: str
    size: int
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sidecar:
    """The parsed ``model.toml`` of one version."""

    model: Mapping[str, Any]
    artifacts: Mapping[str, Artifact]
    signature: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    parity: Mapping[str, Any] = field(default_factory=dict)
    evaluation: Mapping[str, Any] = field(default_factory=dict)
    lineage: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Any] = field(default_factory=dict)  # path -> {sha256, size}
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA

    @property
    def name(self) -> str:
        return str(self.model["name"])

    @property
    def version(self) -> str:
        return str(self.model["version"])

    def stored_files(self, kinds: tuple[str, ...] | None = None) -> list[Artifact]:
        """Every LFS object of the version: the artifacts, each artifact's external data files
        (``[artifacts.onnx] data = [{path, sha256, size}]``, kind ``onnx.data``) and the files the
        model needs (``[files."tokenizer.json"] sha256, size``, kind ``file``). ``kinds`` selects
        artifact kinds (their data files come with them); ``"file"`` selects the extra files."""
        out: list[Artifact] = []
        for kind, art in self.artifacts.items():
            if kinds is not None and kind not in kinds:
                continue
            out.append(art)
            for d in art.extra.get("data", ()):
                out.append(Artifact(f"{kind}.data", d["path"], d["sha256"], d["size"]))
        if kinds is None or FILE_KIND in kinds:
            for path, f in sorted(self.files.items()):
                out.append(Artifact(FILE_KIND, path, f["sha256"], f["size"]))
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": self.schema, "model": dict(self.model)}
        out["artifacts"] = {
            k: {"path": a.path, "sha256": a.sha256, "size": a.size, **dict(a.extra)} for k, a in self.artifacts.items()
        }
        for s in SECTIONS:
            value = getattr(self, s)
            if value:
                out[s] = dict(value)
        out.update(self.extra)
        return out


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {str(k): _canonical(v) for k, v in sorted(value.items()) if v is not None}
        return {k: v for k, v in out.items() if not (isinstance(v, dict) and not v)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value if v is not None]
    return value


# Where a table's keys have a meaningful order, it; other keys follow, sorted (see core.tomlfmt).
KEY_ORDER: dict[str, tuple[str, ...]] = {
    "": ("schema", "model", "artifacts", *SECTIONS),
    "model": ("name", "version", "framework", "created", "author", "description", "labels"),
    "artifacts.onnx": ("path", "sha256", "size"),
    "artifacts.torchscript": ("path", "sha256", "size"),
    "signature": ("task", "output", "classes", "inputs", "outputs"),
    "parity": ("passed", "criterion", "tolerance", "samples"),
    "evaluation": ("data", "rows", "metrics"),
    "lineage": ("parent", "code", "data", "command"),
}


def dumps(sidecar: Sidecar) -> str:
    """The canonical TOML text of ``sidecar``: keys in :data:`KEY_ORDER`, short arrays on one line,
    matrices one row per line (readable in a pull request's diff); values exactly as given."""
    return tomlfmt.dumps(_canonical(sidecar.to_dict()), KEY_ORDER)


def loads(text: str | bytes, where: str = "model.toml") -> Sidecar:
    """Parse and validate a sidecar; ``where`` names it in errors (e.g. ``digits@v1.0.0:models/...``).

    ``text`` may be the blob's bytes (decoded as UTF-8, errors replaced). Raises SidecarError for text
    over :data:`MAX_BYTES`, nesting deeper than :data:`MAX_DEPTH` or a dotted key of more than
    :data:`MAX_KEY_PARTS` components, before parsing it.
    """
    # A str is at least as many UTF-8 bytes as characters: encode only when it might still fit.
    if len(text) > MAX_BYTES or (isinstance(text, str) and len(text.encode()) > MAX_BYTES):
        raise SidecarError(f"corrupt sidecar {where}: larger than {MAX_BYTES} bytes")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    problem = shape_problem(text)
    if problem:
        raise SidecarError(f"corrupt sidecar {where}: {problem}")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise SidecarError(f"corrupt sidecar {where}: {e}") from None
    return from_dict(data, where)


def shape_problem(text: str) -> str | None:
    """Why ``text`` nests too deep or has too long a dotted key to hand to tomllib; None if it is fine.

    A scan of brackets and dots outside strings and comments, linear in the text. A dotted key counts
    its dots since the last ``, = [ ] { }``, comment or newline, so floats in an array never add up.
    """
    depth = dots = 0
    for m in _TOKENS.finditer(text):
        c = m.group()
        if c in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return f"nests deeper than {MAX_DEPTH} levels"
        elif c in ("]", "}"):
            depth = max(depth - 1, 0)
        elif c == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                return f"has a dotted key of more than {MAX_KEY_PARTS} components"
            continue
        elif c[0] in "\"'":
            continue  # a quoted key component: "a"."b" is as deep as a.b
        dots = 0
    return None


def from_dict(data: Mapping[str, Any], where: str = "model.toml") -> Sidecar:
    def bad(msg: str) -> SidecarError:
        return SidecarError(f"corrupt sidecar {where}: {msg}")

    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise bad("missing integer 'schema'")
    if schema > SCHEMA:
        raise SidecarError(
            f"sidecar {where} has schema {schema}, newer than this gitreg understands ({SCHEMA})",
            hint="upgrade gitreg: pip install -U gitreg",
        )
    model = data.get("model")
    if (
        not isinstance(model, Mapping)
        or not isinstance(model.get("name"), str)
        or not isinstance(model.get("version"), str)
    ):
        raise bad("[model] needs string 'name' and 'version'")
    arts_raw = data.get("artifacts", {})
    if not isinstance(arts_raw, Mapping):
        raise bad("[artifacts] must be a table")
    artifacts: dict[str, Artifact] = {}
    for kind, a in arts_raw.items():
        if not _plain(kind):
            raise bad(f"artifact kind {kind!r} may use letters, digits and ._+-@ only")
        if not isinstance(a, Mapping):
            raise bad(f"[artifacts.{kind}] must be a table")
        path, sha, size = a.get("path"), a.get("sha256"), a.get("size")
        if not isinstance(path, str) or not path or not _plain(path) or path.startswith("."):
            raise bad(f"[artifacts.{kind}] needs a plain file name in 'path' (letters, digits and ._+-@), got {path!r}")
        sha, size = _check_entry(bad, f"[artifacts.{kind}]", sha, size)
        extra = {k: v for k, v in a.items() if k not in ("path", "sha256", "size")}
        data_files = extra.get("data", [])
        if not isinstance(data_files, list) or not all(isinstance(d, Mapping) for d in data_files):
            raise bad(f"[artifacts.{kind}] 'data' must be a list of {{path, sha256, size}} tables")
        for d in data_files:
            _check_stored_path(bad, f"[artifacts.{kind}] data", d.get("path"))
            _check_entry(bad, f"[artifacts.{kind}] data {d.get('path')!r}", d.get("sha256"), d.get("size"))
        artifacts[kind] = Artifact(kind, path, sha, size, extra)
    sections: dict[str, Mapping[str, Any]] = {}
    for s in SECTIONS:
        v = data.get(s, {})
        if not isinstance(v, Mapping):
            raise bad(f"[{s}] must be a table")
        sections[s] = dict(v)
    for fpath, f in sections["files"].items():
        _check_stored_path(bad, "[files]", fpath)
        if not isinstance(f, Mapping):
            raise bad(f"[files.{fpath!r}] must be a table")
        _check_entry(bad, f"[files.{fpath!r}]", f.get("sha256"), f.get("size"))
    _check_field_types(bad, model, sections)
    stored = [a.path for a in Sidecar(model={}, artifacts=artifacts, files=sections["files"]).stored_files()]
    if len(set(stored)) != len(stored):
        raise bad("two stored files share a path")
    known = {"schema", "model", "artifacts", *SECTIONS}
    extra = {k: v for k, v in data.items() if k not in known}
    return Sidecar(model=dict(model), artifacts=artifacts, extra=extra, schema=schema, **sections)


def _check_entry(bad: Any, where: str, sha: Any, size: Any) -> tuple[str, int]:
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise bad(f"{where} needs a 64-hex 'sha256'")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise bad(f"{where} needs a non-negative integer 'size'")
    return sha, size


def _check_stored_path(bad: Any, where: str, path: Any) -> None:
    problem = file_path_problem(path) if isinstance(path, str) else "must be a string"
    if problem:
        raise bad(f"{where} path {path!r} {problem}")


# Fields readers (cards, diffs, gates) take apart, with the type they need when present: a value of
# another type is a corrupt sidecar (check exits 3), not a crash in whichever reader meets it first.
_FIELD_TYPES: tuple[tuple[str, str, str], ...] = (
    ("model", "task", "text"),
    ("model", "framework", "text"),
    ("model", "labels", "table"),
    ("signature", "task", "text"),
    ("signature", "inputs", "tables"),
    ("signature", "outputs", "tables"),
    ("signature", "classes", "list"),
    ("lineage", "code", "table"),
    ("lineage", "data", "tables"),
)
_WANT = {"text": "a string", "table": "a table", "list": "a list", "tables": "a list of tables"}


def _check_field_types(bad: Any, model: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]]) -> None:
    tables = {"model": model, **sections}
    for section, key, kind in _FIELD_TYPES:
        if key not in tables[section]:
            continue
        value = tables[section][key]
        ok = {
            "text": isinstance(value, str),
            "table": isinstance(value, Mapping),
            "list": isinstance(value, list),
            "tables": isinstance(value, list) and all(isinstance(v, Mapping) for v in value),
        }[kind]
        if not ok:
            raise bad(f"[{section}] {key} must be {_WANT[kind]}, got {type(value).__name__}")


# Free text may break lines and indent; nothing else that steers a terminal (ESC, BEL, CR, backspace,
# C1's CSI) or splits a line for a reader (U+2028/U+2029; str.splitlines also splits on \x1c-\x1e, \x85).
_FREE_TEXT_OK = frozenset("\n\t")
_LINE_SEPARATORS = frozenset("\u2028\u2029")


def control_char(text: str, multiline: bool = False) -> str | None:
    """The first control character in ``text`` (C0, DEL, C1, U+2028/U+2029), None if it has none.

    ``multiline`` allows newline and tab (a description, a reason): free text, which readers print
    as lines; names, keys, labels and identities are one line and get neither.
    """
    for c in text:
        o = ord(c)
        if (o < 32 or 127 <= o < 160 or c in _LINE_SEPARATORS) and not (multiline and c in _FREE_TEXT_OK):
            return c
    return None


def check_text(what: str, value: Any, multiline: bool = False, hint: str | None = None) -> None:
    """Raise MetadataError naming ``what`` when ``value`` (a string, or the strings of nested
    mappings and lists: their keys are one-line names) holds a control character: gitreg never
    writes a terminal control sequence into a registry others read (tags, sidecars, model cards)."""
    if isinstance(value, str):
        c = control_char(value, multiline)
        if c is not None:
            allowed = "; newline and tab are the only ones free text may hold" if multiline else ""
            raise MetadataError(
                f"{what} holds a control character ({c!r}): terminal control sequences are refused{allowed}",
                hint=hint or "remove it and run the command again; nothing was written",
            )
    elif isinstance(value, Mapping):
        for k, v in value.items():
            check_text(f"{what} key {str(k)[:40]!r}", str(k), hint=hint)
            check_text(f"{what} {str(k)[:40]!r}", v, multiline, hint)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_text(what, v, multiline, hint)


def check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics are flat, finite numbers (not bools, not strings) under printable names: gates compare
    them (NaN would pass ``not (metrics.acc < 0.9)``) and terminals print the names."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        key = str(k)
        if not key or control_char(key) is not None:
            raise ValueError(f"metric name {key!r} is empty or holds a control character")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"metric {key!r} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"metric {key!r} must be a finite number, got {v!r}")
        out[key] = v
    return out
