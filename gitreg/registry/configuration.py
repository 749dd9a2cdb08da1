"""``gitreg config``: read and change the registry's ``gitreg.toml`` without cloning it.

A change is validated before anything is written — the schema (:class:`gitreg.core.settings.RegistryConfig`,
which names the offending key), every gate rule's syntax, stage names, and no key this gitreg does
not act on (a misspelt ``stages.prodution.require_pr`` would otherwise be kept and silently
ignored) — and lands as one commit on ``main`` through the one write path
(:func:`gitreg.registry.publish.publish`: a lost race is rebuilt on the new ``main``). ``set``
edits the file in place with tomlkit, so comments and layout survive; ``replace`` (what
``gitreg config edit`` commits) refuses to overwrite a ``gitreg.toml`` that changed on ``main``
since the text it started from was read.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitreg.core import rules, settings
from gitreg.core.refs import check_name
from gitreg.core.settings import GITREG_TOML, RegistryConfig, unknown_keys
from gitreg.core.sidecar import tomllib
from gitreg.errors import ConfigError, GitregError, RuleError, UsageError
from gitreg.registry.publish import Base, Unchanged, Write, publish
from gitreg.registry.registry import Registry

FILE = "gitreg.toml"
SCHEMA = 1

__all__ = ["FILE", "Change", "get", "parse_value", "replace", "set_value", "show", "text", "validate"]


@dataclass(frozen=True)
class Change:
    """What a ``config set``/``edit`` did: the new commit on main (None: the file already said so)."""

    commit: str | None
    text: str
    warnings: tuple[str, ...] = ()


def text(reg: Registry) -> str:
    """The registry's ``gitreg.toml`` as it is on main (what ``init`` writes when the registry does not exist yet)."""
    raw = reg.read_file(FILE)
    return raw.decode("utf-8", errors="replace") if raw is not None else GITREG_TOML


def show(reg: Registry) -> dict[str, Any]:
    """The registry's ``gitreg.toml`` parsed (ConfigError when it is not valid TOML)."""
    return _load(text(reg))


def get(reg: Registry, key: str) -> Any:
    """The value at dotted ``key`` (``parity.rtol``, ``stages.production.require_pr``, ``gates``).

    A key the file does not set raises ConfigError (naming gitreg's default when it has one).
    """
    node: Any = show(reg)
    parts = _parts(key)
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            default = _default(parts)
            hint = f"gitreg uses the default, {default}" if default is not None else "see: gitreg config show"
            raise ConfigError(f"gitreg.toml does not set {_shown(key)}", hint=hint)
        node = node[part]
    return node


def set_value(reg: Registry, key: str, value: str) -> Change:
    """Set dotted ``key`` to ``value`` (a TOML value: ``true``, ``1e-4``, ``["a", "b"]``; anything else
    is taken as a string) and commit it. Comments and layout of the rest of the file are kept.

    Raises ConfigError naming the key when the result is not a valid ``gitreg.toml`` or ``key`` is not
    one gitreg acts on; nothing is written then.
    """
    parts = _parts(key)

    def change(old: str) -> str:
        import tomlkit
        from tomlkit.exceptions import TOMLKitError

        _check_shape(old)
        try:
            doc = tomlkit.parse(old)
        except TOMLKitError as e:
            raise ConfigError(
                f"the registry's gitreg.toml is not valid TOML: {e}", hint="fix it: gitreg config edit"
            ) from None
        node: Any = doc
        for i, part in enumerate(parts[:-1]):
            if part not in node:
                node[part] = tomlkit.table(is_super_table=i == 0 and len(parts) > 2)
            node = node[part]
            if not isinstance(node, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"gitreg.toml: {_shown(where)} is a value, not a table, so {_shown(key)} cannot be set"
                )
        node[parts[-1]] = parse_value(value)  # a fresh item per attempt: a lost race rebuilds the document
        return tomlkit.dumps(doc)

    return _commit(reg, change, f"gitreg config set {key} = {value}", strict_key=key)


def replace(reg: Registry, new: str, expect: str | None = None, message: str = "gitreg config edit") -> Change:
    """Validate ``new`` as the whole ``gitreg.toml`` and commit it.

    ``expect`` is the text the edit started from: when main's file is no longer that, nothing is
    written (ConfigError), so an edit never overwrites a change it did not see.
    """

    def change(old: str) -> str:
        if expect is not None and old != expect:
            raise ConfigError(
                "gitreg.toml changed on main while it was being edited; nothing was written",
                hint="edit it again (gitreg config edit) to start from the new text",
            )
        return new

    return _commit(reg, change, message)


def validate(new: str, old: str | None = None, strict_key: str | None = None) -> list[str]:
    """Check ``new`` as a ``gitreg.toml`` this gitreg would write; returns warnings, raises ConfigError.

    Beyond :meth:`RegistryConfig.parse`: ``[registry] schema`` is 1, stage names are valid and not
    repeated, every gate rule parses. A key gitreg does not act on is refused when it is new (not in
    ``old``) or is ``strict_key``; one that was already there is left alone with a warning (a newer
    gitreg may have written it).
    """
    try:
        cfg = RegistryConfig.parse(new)
    except ConfigError as e:
        raise ConfigError(e.message, hint="nothing was written; see: gitreg config show") from None
    data = cfg.raw
    schema = data.get("registry", {}).get("schema", SCHEMA)
    if schema != SCHEMA or isinstance(schema, bool):
        raise ConfigError(f"gitreg.toml: [registry] schema must be {SCHEMA}, got {schema!r}")
    seen: set[str] = set()
    for stage in cfg.stages:
        try:
            check_name(stage, "stage")
        except GitregError as e:
            raise ConfigError(f"gitreg.toml: [stages] order: {e.message}") from None
        if stage in seen:
            raise ConfigError(f"gitreg.toml: [stages] order names {stage!r} twice")
        seen.add(stage)
    for stage, gate in dict(data.get("gates", {})).items():
        for i, rule in enumerate(gate.get("rules", [])):
            try:
                rules.parse(rule)
            except RuleError as e:
                raise ConfigError(
                    f"gitreg.toml: gates.{stage}.rules[{i}] {rule!r}: {e.reason}",
                    hint="a rule compares dotted names and numbers, e.g. eval.accuracy >= 0.95 and parity.passed",
                ) from None
    before = {k for k, _ in unknown_keys(_load_or_empty(old))}
    warnings = []
    for key, known in unknown_keys(data):
        named = strict_key is not None and (strict_key == key or strict_key.startswith(f"{key}."))
        if key in before and not named:
            warnings.append(f"gitreg.toml: {key} is not a key gitreg acts on (left as it was)")
        else:
            raise _unknown(key, known)
    return warnings


def parse_value(value: str) -> Any:
    """``value`` as a TOML value (tomlkit keeps how it was written, ``1e-4`` stays ``1e-4``), or as a
    string when it is not exactly one TOML value (``datasets/x.npz``)."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    if "\n" not in value and "\r" not in value:
        problem = settings.toml_problem(f"v = {value}")
        if problem:  # tomlkit recurses once per level, as tomllib does
            raise ConfigError(f"the value {value[:40]!r}... {problem}; nothing was written")
        try:
            doc = tomlkit.parse(f"v = {value}")
        except TOMLKitError:
            pass
        else:
            if list(doc) == ["v"]:
                return doc.item("v")
    return tomlkit.string(value)


# -- helpers -------------------------------------------------------------------------------------------
def _commit(reg: Registry, change: Callable[[str], str], message: str, strict_key: str | None = None) -> Change:
    backend = reg.backend
    backend.ensure_writable()
    cache = backend.cache()
    ident = backend.identity()
    found: list[tuple[str, list[str]]] = []

    def attempt(base: Base) -> Write:
        raw = cache.read_blob(f"{base.main}:{FILE}")
        old = raw.decode("utf-8", errors="replace") if raw is not None else GITREG_TOML
        new = change(old)
        found[:] = [(new, validate(new, old, strict_key))]
        if new == old:
            raise Unchanged
        commit = cache.commit(base.main, {FILE: cache.hash_blob(new)}, message, ident, int(time.time()))
        return Write((base.main_update(commit),), commit)

    try:
        commit: str | None = publish(backend, cache, "", attempt, what="configuration change").commit
    except Unchanged:
        commit = None
    new, warnings = found[-1]
    return Change(commit, new, tuple(warnings))


def _shown(key: str) -> str:
    """A dotted key in a message: as typed when it is plain, else quoted (a line break in it would
    split the error line, and what followed it could pass for a ``hint:``)."""
    plain = key.isascii() and key.isprintable() and not any(c.isspace() or c in "'\"" for c in key)
    return key if plain and key else repr(key)


def _check_shape(text: str) -> None:
    problem = settings.toml_problem(text)
    if problem:
        raise ConfigError(f"the registry's gitreg.toml {problem}", hint="fix it: gitreg config edit")


def _load(text: str) -> dict[str, Any]:
    _check_shape(text)
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise ConfigError(
            f"the registry's gitreg.toml is not valid TOML: {e}", hint="fix it: gitreg config edit"
        ) from None


def _load_or_empty(text: str | None) -> dict[str, Any]:
    try:
        return tomllib.loads(text) if text and not settings.toml_problem(text) else {}
    except (tomllib.TOMLDecodeError, RecursionError):
        return {}


def _parts(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(not p or p != p.strip() for p in parts):
        raise UsageError(f"invalid key {key!r}: use dotted names such as parity.rtol or stages.production.require_pr")
    return parts


def _unknown(key: str, known: tuple[str, ...]) -> ConfigError:
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=1)
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    if parent in ("stages", "gates") and leaf not in known:
        why = f"{leaf!r} is not a stage (gitreg.toml's [stages] order)"
    else:
        why = "gitreg does not act on it"
    hint = f"did you mean {(parent + '.') if parent else ''}{close[0]}?" if close else None
    if hint is None and known:
        hint = f"{'[' + parent + ']' if parent else 'gitreg.toml'} takes: {', '.join(known)}"
    return ConfigError(f"gitreg.toml: unknown key {_shown(key)}: {why}; nothing was written", hint=hint)


def _default(parts: list[str]) -> str | None:
    """gitreg's default for a known key the file does not set, as TOML text."""
    defaults: Mapping[str, str] = {
        "parity.tolerance": repr(settings.DEFAULT_TOLERANCE),
        "parity.rtol": "none: the scale criterion (parity.tolerance) governs",
        "parity.atol": "none: the scale criterion (parity.tolerance) governs",
        "limits.max_plain_blob_bytes": str(settings.DEFAULT_MAX_PLAIN_BLOB_BYTES),
        "stages.order": "[" + ", ".join(f'"{s}"' for s in settings.DEFAULT_STAGES) + "]",
        "registry.schema": str(SCHEMA),
    }
    key = ".".join(parts)
    if key in defaults:
        return defaults[key]
    if len(parts) == 3 and parts[0] == "stages" and parts[2] == "require_pr":
        return "false"
    if len(parts) == 3 and parts[0] == "gates" and parts[2] == "rules":
        return "[] (no rules: the gate passes)"
    return None
