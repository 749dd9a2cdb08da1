"""What a registry's ``gitreg.toml`` says, and the files ``gitreg init`` writes into a new registry (pure).

:class:`RegistryConfig` is the part of ``gitreg.toml`` this version of gitreg acts on. Every value is
type-checked when it is read: a ``gitreg.toml`` arrives in pull requests, and ``rtol = "abc"`` must be
reported as such (naming the key) rather than surface later as a ``float()`` traceback in a hook or
a CI job. Unknown keys and tables are kept in ``raw`` for newer gitreg versions. This module is pure:
no I/O; reading the file from a registry is the caller's business.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitreg.core import rules
from gitreg.core.sidecar import MAX_BYTES, shape_problem
from gitreg.errors import ConfigError, RuleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_MAX_PLAIN_BLOB_BYTES",
    "DEFAULT_RTOL",
    "DEFAULT_STAGES",
    "DEFAULT_TOLERANCE",
    "GITATTRIBUTES",
    "GITREG_TOML",
    "KNOWN_KEYS",
    "STAGES_TOML",
    "RegistryConfig",
    "rule_problems",
    "toml_problem",
    "unknown_keys",
]

DEFAULT_STAGES = ("staging", "production")
DEFAULT_TOLERANCE = 1e-4  # [parity] tolerance: max |a - b| as a fraction of each output's scale (README)
DEFAULT_RTOL = 1e-4  # the elementwise rule's values when only one of rtol/atol is set
DEFAULT_ATOL = 1e-5
DEFAULT_MAX_PLAIN_BLOB_BYTES = 1_000_000

GITREG_TOML = """\
# gitreg registry configuration. Edited by people, read by gitreg and its CI.
[registry]
schema = 1

[stages]
order = ["staging", "production"]

[stages.production]
# Set require_pr = true to allow promotion to production only through a reviewed pull request.
require_pr = false

[parity]
# Each runtime passes when its max |a - b| <= tolerance x the output's scale (RMS of the original
# model's output) and a classifier's labels agree (see README). Setting rtol or atol instead switches
# to the elementwise rule |a - b| <= atol + rtol * |b| (gitreg's rule before 0.x; no scale).
tolerance = 1e-4
# rtol = 1e-4
# atol = 1e-5

[limits]
# Plain (non-LFS) blobs under models/ and datasets/ above this size are refused by the hook.
max_plain_blob_bytes = 1000000
"""
STAGES_TOML = """\
# Desired stage assignments: changed by promotion pull requests, applied as stage tags on merge.
"""
GITATTRIBUTES = """\
# Artifacts are Git LFS objects; sidecars (model.toml), cards and config stay plain text.
models/**/*.onnx filter=lfs diff=lfs merge=lfs -text
models/**/*.pt filter=lfs diff=lfs merge=lfs -text
models/**/*.data filter=lfs diff=lfs merge=lfs -text
datasets/**/*.npz filter=lfs diff=lfs merge=lfs -text
"""


@dataclass(frozen=True)
class RegistryConfig:
    """The parts of ``gitreg.toml`` this version of gitreg acts on; unknown keys are kept in ``raw``."""

    stages: tuple[str, ...] = DEFAULT_STAGES
    tolerance: float = DEFAULT_TOLERANCE
    rtol: float | None = None  # set (or atol): the elementwise rule governs parity
    atol: float | None = None
    max_plain_blob_bytes: int = DEFAULT_MAX_PLAIN_BLOB_BYTES
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> RegistryConfig:
        """Read ``gitreg.toml`` text (None or empty: the defaults).

        Raises ConfigError naming the key for invalid TOML or a value of the wrong type, e.g.
        ``gitreg.toml: [parity] rtol must be a number, got 'abc'``.
        """
        if not text:
            return cls()
        problem = toml_problem(text)
        if problem:
            raise ConfigError(
                f"the registry's gitreg.toml {problem}",
                hint="fix the registry's gitreg.toml on main (gitreg init writes a commented example)",
            )
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise ConfigError(f"the registry's gitreg.toml is not valid TOML: {e}") from None
        stages = _table(data, "stages")
        parity = _table(data, "parity")
        limits = _table(data, "limits")
        for name, value in stages.items():
            if name != "order":
                _stage_table(name, value)
        gates = _table(data, "gates")
        for name, value in gates.items():
            _gate_table(name, value)
        return cls(
            stages=_stage_order(stages.get("order", list(DEFAULT_STAGES))),
            tolerance=_number(parity, "tolerance", DEFAULT_TOLERANCE) or 0.0,
            rtol=_number(parity, "rtol", None),
            atol=_number(parity, "atol", None),
            max_plain_blob_bytes=_byte_count(limits, "max_plain_blob_bytes", DEFAULT_MAX_PLAIN_BLOB_BYTES),
            raw=data,
        )


def toml_problem(text: str) -> str | None:
    """Why a registry file's TOML ``text`` must not reach tomllib (too large, nested too deep, too
    long a dotted key: a RecursionError or gigabytes there); None when it may.

    The sidecar's caps (:data:`gitreg.core.sidecar.MAX_BYTES`, :func:`gitreg.core.sidecar.shape_problem`):
    ``gitreg.toml`` and ``stages.toml`` arrive by pull request too, and nest no deeper than a sidecar.
    """
    if len(text) > MAX_BYTES or len(text.encode("utf-8", errors="surrogatepass")) > MAX_BYTES:
        return f"is larger than {MAX_BYTES} bytes"
    return shape_problem(text)


def rule_problems(cfg: RegistryConfig) -> list[str]:
    """One line per gate rule of ``cfg`` that does not parse (the hook refuses such a ``gitreg.toml``,
    ``check`` reports one already on main): gate and promote would refuse the rule only later."""
    out = []
    gates = cfg.raw.get("gates", {})
    for stage, gate in gates.items() if isinstance(gates, Mapping) else ():
        for i, rule in enumerate(gate.get("rules", []) if isinstance(gate, Mapping) else []):
            try:
                rules.parse(rule)
            except RuleError as e:
                shown = repr(rule) if len(rule) <= 60 else repr(rule[:57]) + "..."
                where = (
                    stage if stage and all(c.isascii() and (c.isalnum() or c in "_-") for c in stage) else repr(stage)
                )
                out.append(f"gitreg.toml: gates.{where}.rules[{i}] {shown}: {e.reason}")
    return out


def _bad(where: str, want: str, got: Any) -> ConfigError:
    return ConfigError(
        f"gitreg.toml: {where} must be {want}, got {got!r}",
        hint="fix the registry's gitreg.toml on main (gitreg init writes a commented example)",
    )


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise _bad(f"[{key}]", "a table", value)
    return value


def _stage_order(order: Any) -> tuple[str, ...]:
    if not isinstance(order, list) or not all(isinstance(s, str) and s for s in order):
        raise _bad("[stages] order", 'a list of stage names, e.g. ["staging", "production"]', order)
    return tuple(order)


def _stage_table(name: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _bad(f"[stages.{name}]", "a table", value)
    if "require_pr" in value and not isinstance(value["require_pr"], bool):
        raise _bad(f"[stages.{name}] require_pr", "true or false", value["require_pr"])


def _gate_table(name: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _bad(f"[gates.{name}]", "a table", value)
    rules = value.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise _bad(f"[gates.{name}] rules", 'a list of rules, e.g. ["eval.accuracy >= 0.95"]', rules)
    if "data" in value and not isinstance(value["data"], str):
        raise _bad(f"[gates.{name}] data", "a path in the registry (a string)", value["data"])


def _number(table: Mapping[str, Any], key: str, default: float | None) -> float | None:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"[parity] {key}", "a number", value)
    if not math.isfinite(value) or value < 0:
        raise _bad(f"[parity] {key}", "a finite number >= 0", value)
    return float(value)


def _byte_count(table: Mapping[str, Any], key: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, float) and value.is_integer():  # 1e6 reads naturally; TOML makes it a float
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"[limits] {key}", "a whole number of bytes, e.g. 1000000", value)
    if value < 0:
        raise _bad(f"[limits] {key}", "a number of bytes >= 0", value)
    return value


# -- the keys gitreg acts on ----------------------------------------------------------------------------
# ``parse`` keeps keys it does not know (a newer gitreg may act on them); ``gitreg config`` refuses to
# write new ones, because a misspelt key (``stages.prodution.require_pr``) would be silently ignored.
KNOWN_KEYS: Mapping[str, tuple[str, ...]] = {
    "registry": ("schema",),
    "stages": ("order",),  # and one [stages.<stage>] table per stage in order
    "gates": (),  # one [gates.<stage>] table per stage in order
    "parity": ("tolerance", "rtol", "atol"),
    "limits": ("max_plain_blob_bytes",),
}
STAGE_KEYS = ("require_pr",)
GATE_KEYS = ("data", "rules")


def unknown_keys(data: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """Every key of a parsed ``gitreg.toml`` this gitreg does not act on, as (dotted key, what it could have been).

    ``stages.<name>`` and ``gates.<name>`` must name a stage in ``[stages] order``; ``parity.rtl`` is
    not a key of ``[parity]``. Call after :meth:`RegistryConfig.parse` accepted ``data``.
    """
    out: list[tuple[str, tuple[str, ...]]] = []
    stages = data.get("stages", {})
    order = stages.get("order", list(DEFAULT_STAGES)) if isinstance(stages, Mapping) else []
    order = tuple(s for s in order if isinstance(s, str)) if isinstance(order, list) else ()
    for top, value in data.items():
        if top not in KNOWN_KEYS:
            out.append((top, tuple(KNOWN_KEYS)))
            continue
        if not isinstance(value, Mapping):
            continue
        for key, item in value.items():
            if key in KNOWN_KEYS[top]:
                continue
            if top not in ("stages", "gates") or key not in order:
                out.append((f"{top}.{key}", KNOWN_KEYS[top] + (order if top in ("stages", "gates") else ())))
                continue
            allowed = STAGE_KEYS if top == "stages" else GATE_KEYS
            if isinstance(item, Mapping):
                out += [(f"{top}.{key}.{k}", allowed) for k in item if k not in allowed]
    return out
