"""TOML that reads well in a pull request's diff (pure).

Reviewers read ``model.toml`` and ``stages.toml`` in diffs, and ``tomli_w`` writes every array one
element per line (a 10-class ``classes`` list takes 12 lines, a 10x10 confusion matrix 120). Here a
short array of scalars stays on its key's line, a long one wraps to full lines, and an array of
arrays (a matrix) is one row per line. Keys follow a given order where one is meaningful (``name``
before ``version``), then sort. Values are never rounded: ``tomllib.loads(dumps(x)) == x``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import tomli_w

WIDTH = 100
INDENT = "    "


def dumps(data: Mapping[str, Any], order: Mapping[str, Sequence[str]] | None = None) -> str:
    """``data`` as TOML: tomli_w's tables, with arrays laid out as the module docstring says.
    ``order`` maps a table's dotted path ("" for the top, "model", "artifacts.onnx") to the keys
    that come first in it, in that order."""
    token = secrets.token_hex(8)
    arrays: dict[str, Any] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            first = list((order or {}).get(path, ()))
            keys = [k for k in first if k in value] + sorted(k for k in value if k not in first)
            return {k: walk(value[k], f"{path}.{k}" if path else str(k)) for k in keys}
        if isinstance(value, (list, tuple)):
            if value and all(isinstance(v, Mapping) for v in value):  # an array of tables: [[path]]
                return [walk(v, path) for v in value]
            if _holds_table(value):  # tables inside nested arrays: tomli_w's own layout
                return list(value)
            key = f"__gitreg_{token}_{len(arrays)}__"
            arrays[key] = value
            return key
        return value

    text = tomli_w.dumps(walk(data, ""))
    if not arrays:
        return text
    out = []
    for line in text.split("\n"):
        if f"__gitreg_{token}_" in line:
            for key, value in arrays.items():
                quoted = f'"{key}"'
                if line.endswith(quoted):  # a key's own value: laid out, maybe over several lines
                    head = line[: -len(quoted)]
                    line = head + _array(value, len(head))
                elif quoted in line:  # inside an inline table: one line
                    line = line.replace(quoted, _inline(value))
        out.append(line)
    return "\n".join(out)


def _holds_table(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_table(v) for v in value)


def _scalar(value: Any) -> str:
    return tomli_w.dumps({"v": value})[4:].rstrip("\n")


def _inline(value: Sequence[Any]) -> str:
    return "[" + ", ".join(_inline(v) if isinstance(v, (list, tuple)) else _scalar(v) for v in value) + "]"


def _array(value: Sequence[Any], column: int) -> str:
    """``value`` rendered after ``column`` characters of its line (``key = ``)."""
    one_line = _inline(value)
    if column + len(one_line) <= WIDTH:
        return one_line
    if value and all(isinstance(v, (list, tuple)) for v in value):  # a matrix: one row per line
        return "[\n" + "".join(f"{INDENT}{_inline(row)},\n" for row in value) + "]"
    lines, current = [], ""
    for item in (_inline(v) if isinstance(v, (list, tuple)) else _scalar(v) for v in value):
        piece = f"{item},"
        if current and len(INDENT) + len(current) + 1 + len(piece) > WIDTH:
            lines.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    lines.append(current)
    return "[\n" + "".join(f"{INDENT}{ln}\n" for ln in lines) + "]"
