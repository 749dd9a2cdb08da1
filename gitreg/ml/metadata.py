"""Everything a version records about where it came from: metrics/params input, lineage, environment.

Kept apart from git plumbing so the parsing rules (what counts as a metric, how a data file is
fingerprinted) are plain functions with plain tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import stat
import sys
import zipfile
from collections.abc import Iterable, Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from gitreg.errors import MetadataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV_PACKAGES = ("gitreg", "numpy", "onnx", "onnxruntime", "torch", "onnxscript", "scikit-learn", "skl2onnx")


def parse_scalar(text: str) -> Any:
    """``--param k=v`` values: int, float, true/false, else the string as given."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_pairs(items: Iterable[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MetadataError(f"invalid --{what} {item!r}: use KEY=VALUE")
        out[key.strip()] = value
    return out


def parse_classes(text: str) -> list[Any]:
    """``--classes``: ``a,b,c`` or ``@FILE`` (one label a line); integers when every label is one, else strings."""
    if text.startswith("@"):
        try:
            raw = Path(text[1:]).expanduser().read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise MetadataError(f"--classes: cannot read {text[1:]}: {e.strerror or e}") from None
    else:
        raw = text.split(",")
    labels = [c.strip() for c in raw if c.strip()]
    if not labels:
        raise MetadataError("--classes lists no class: give A,B,… or @FILE with one label a line")
    if len(set(labels)) != len(labels):
        dup = next(c for c in labels if labels.count(c) > 1)
        raise MetadataError(f"--classes lists {dup!r} twice")
    try:
        return [int(c) for c in labels]
    except ValueError:
        return labels


def metrics_from_pairs(items: Iterable[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in parse_pairs(items, "metric").items():
        value = parse_scalar(v)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MetadataError(f"metric {k!r} must be a number, got {v!r}")
        out[k] = value
    return out


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


MAX_METRICS_FILE = 16 << 20  # a metrics file is a few KB; /dev/zero is not one


def regular_file(path: Path, what: str) -> None:
    """MetadataError unless ``path`` is a regular file: a FIFO would hang a read, /dev/zero never end it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MetadataError(f"{what} not found: {path}") from None
    except OSError as e:
        raise MetadataError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise MetadataError(f"{what} {path} is not a regular file")


def metrics_from_file(path: str | Path) -> dict[str, float]:
    """A JSON or TOML file of numbers; nested tables flatten to dotted names (``test.acc``)."""
    p = Path(path)
    regular_file(p, "metrics file")
    if p.stat().st_size > MAX_METRICS_FILE:
        raise MetadataError(f"metrics file {path} is over {MAX_METRICS_FILE >> 20} MB: not a metrics file")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetadataError(f"metrics file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MetadataError(f"cannot read metrics file {path}: {e}") from None
    data: Any = None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, ValueError):
            raise MetadataError(f"metrics file {path} is neither JSON nor TOML") from None
    if not isinstance(data, Mapping):
        raise MetadataError(f"metrics file {path} must hold an object/table of numbers")
    out: dict[str, float] = {}
    for k, v in _flatten(data).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MetadataError(f"metric {k!r} in {path} must be a number, got {v!r}")
        out[k] = v
    return out


def _npz_rows(path: Path) -> int | None:
    import numpy as np  # numpy is light (~0.15 s) and only needed for .npz/.npy

    try:
        if path.suffix == ".npy":
            return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
        with zipfile.ZipFile(path) as z:
            names = sorted(z.namelist(), key=lambda n: (n != "X.npy", n))
            with z.open(names[0]) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape = read(f)[0]
                return int(shape[0]) if shape else None
    except Exception:
        return None


def _sha256(path: Path) -> tuple[str, int]:
    # Not gitreg.store.lfs.sha256_file: this layer stays off the store (it knows no git), and a data
    # file's fingerprint is not an LFS oid, even though both are sha256 over the bytes.
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def data_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """sha256, size and (for .npz/.npy/.csv) row count of a training or evaluation data file."""
    p = Path(path)
    regular_file(p, "data file")
    try:
        sha, size = _sha256(p)
    except OSError as e:
        raise MetadataError(f"cannot read data file {path}: {e.strerror or e}") from None
    rows: int | None = None
    if p.suffix in (".npz", ".npy"):
        rows = _npz_rows(p)
    elif p.suffix in (".csv", ".tsv"):
        with open(p, "rb") as f:
            rows = max(sum(1 for _ in f) - 1, 0)
    return {"name": p.name, "sha256": sha, "size": size, "rows": rows}


def environment() -> dict[str, Any]:
    """Versions that produced the artifact; read from package metadata, nothing imported."""
    env: dict[str, Any] = {"python": platform.python_version(), "platform": _platform()}
    for pkg in ENV_PACKAGES:
        try:
            env[pkg.replace("-", "_")] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            pass
    return env


def _platform() -> str:
    """Like ``platform.platform()`` ("Linux-6.1.0-x86_64-with-glibc2.36") without its cost: that
    scans the Python binary for the libc version and runs ``uname -p``, ~10 ms of every push."""
    u = os.uname()
    libc = ""
    try:
        name, _, ver = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
        libc = f"-with-{name}{ver}" if name else ""
    except (ValueError, OSError, AttributeError):
        pass
    return f"{u.sysname}-{u.release}-{u.machine}{libc}"


def parse_dynamic(items: Iterable[str]) -> dict[str, dict[int, str]]:
    """``--dynamic input_ids:1=seq`` (repeatable) as ``{"input_ids": {1: "seq"}}``."""
    out: dict[str, dict[int, str]] = {}
    for item in items:
        target, eq, symbol = item.partition("=")
        name, colon, axis = target.rpartition(":")
        if not (eq and colon and name and axis.isdigit() and symbol.isidentifier()):
            raise MetadataError(f"--dynamic {item!r}: use INPUT:AXIS=NAME, e.g. input_ids:1=seq")
        out.setdefault(name, {})[int(axis)] = symbol
    return out
