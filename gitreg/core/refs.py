"""The tag and reference grammar: GTO's tag forms, built from one set of pieces.

gitreg writes only names matching ``NAME`` (a subset of GTO's rule: lower case, no ``.``/``/``),
but reads every tag GTO itself accepts, so a registry written by ``gto register`` reads here too.
Tags::

    digits@v1.3.0          register          digits@v1.3.0!        deregister
    digits#prod#4          assign stage      digits#prod!#5        unassign stage
    digits@deprecated      deprecate model

References a user types: ``digits``, ``digits@latest``, ``digits@v1.3.0`` (or ``@1.3.0``), ``digits#prod``.
This module is pure: no I/O.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from gitreg.errors import InvalidName, InvalidReference, InvalidVersion

# -- the pieces -------------------------------------------------------------------------------------
NAME = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
NAME_RULE = "lower-case letters, digits, '-' and '_', starting and ending with a letter or digit"
# GTO's own, broader artifact-name rule: what we accept when *reading* tags someone else wrote.
GTO_NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9_/-]*[a-zA-Z0-9])?"
_NUM = r"0|[1-9]\d*"
_PRE_ID = r"0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*"
SEMVER = (
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>(?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_SEMVER_NOGROUPS = re.sub(r"\?P<\w+>", "?:", SEMVER)
COUNTER = r"(?:#(?P<counter>\d+))?"

_NAME_RE = re.compile(rf"^{NAME}\Z")  # \Z, not $: "$" also matches before a trailing newline
_VERSION_RE = re.compile(rf"^v?{SEMVER}\Z")
# Every registry tag GTO accepts; groups: name, version, vcancel, stage, scancel, deprecated, counter.
TAG_RE = re.compile(
    rf"^(?P<name>{GTO_NAME})"
    rf"(?:@v(?P<version>{_SEMVER_NOGROUPS})(?P<vcancel>!?)"
    rf"|#(?P<stage>{GTO_NAME})(?P<scancel>!?)"
    rf"|@(?P<deprecated>deprecated))"
    rf"{COUNTER}\Z"
)
_REF_RE = re.compile(
    rf"^(?P<name>{GTO_NAME})(?:@(?P<latest>latest)|@(?P<version>v?{_SEMVER_NOGROUPS})|#(?P<stage>{GTO_NAME}))?\Z"
)


MAX_NAME = 100  # a tag is a file name on disk (plus "@v1.2.3-rc.1" and ".lock"): stay far from 255 bytes


def check_name(name: str, what: str = "model") -> str:
    """Return ``name`` if gitreg may write it, else raise InvalidName saying the rule."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidName(f"invalid {what} name {name!r}: use {NAME_RULE}")
    if len(name) > MAX_NAME:
        raise InvalidName(f"invalid {what} name: {len(name)} characters, at most {MAX_NAME}")
    return name


# -- versions ---------------------------------------------------------------------------------------
@functools.total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version; ordering follows semver precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    pre: str | None = None
    build: str | None = None

    @classmethod
    def parse(cls, text: str) -> Version:
        return _parse_version(text) if isinstance(text, str) else _parse_version_uncached(text)

    @classmethod
    def _parse(cls, text: str) -> Version:
        m = _VERSION_RE.match(text.strip()) if isinstance(text, str) else None
        if not m:
            raise InvalidVersion(f"invalid version {text!r}: use semantic versioning, e.g. 1.2.0 (or v1.2.0)")
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"]), m["pre"], m["build"])

    def __str__(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            s += f"-{self.pre}"
        if self.build:
            s += f"+{self.build}"
        return s

    @property
    def tag_form(self) -> str:
        """The form used in tags and output: ``v1.2.0``."""
        return f"v{self}"

    def bump(self, part: str) -> Version:
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            # 1.2.0-rc.1 bumps to 1.2.0 (the release it was a candidate for), as semver tools do.
            return Version(self.major, self.minor, self.patch + (0 if self.pre else 1))
        raise InvalidVersion(f"invalid bump {part!r}: use major, minor or patch")

    def _key(self) -> tuple:
        pre: tuple = ()
        if self.pre is not None:
            pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre.split("."))
        # A release sorts after all of its pre-releases.
        return (self.major, self.minor, self.patch, self.pre is None, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@functools.lru_cache(maxsize=65536)
def _parse_version(text: str) -> Version:
    # Listing 10k versions sorts them by semver: parse each string once (bench_list.py).
    return Version._parse(text)


def _parse_version_uncached(text: object) -> Version:
    return Version._parse(text)  # type: ignore[arg-type]


# -- tags -------------------------------------------------------------------------------------------
class Kind(str, enum.Enum):
    REGISTER = "registration"
    DEREGISTER = "deregistration"
    ASSIGN = "assignment"
    UNASSIGN = "unassignment"
    DEPRECATE = "deprecation"


@dataclass(frozen=True)
class TagEvent:
    """What one tag name says. ``version`` is without the ``v``; ``counter`` is GTO's ``#N``."""

    kind: Kind
    name: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def parse_tag(tag: str) -> TagEvent | None:
    """Parse a tag name (without ``refs/tags/``); None when it is not a registry tag."""
    m = TAG_RE.match(tag)
    if not m or "//" in tag:
        return None
    counter = int(m["counter"]) if m["counter"] is not None else None
    name = m["name"]
    if m["version"] is not None:
        kind = Kind.DEREGISTER if m["vcancel"] else Kind.REGISTER
        return TagEvent(kind, name, version=m["version"], counter=counter)
    if m["stage"] is not None:
        kind = Kind.UNASSIGN if m["scancel"] else Kind.ASSIGN
        return TagEvent(kind, name, stage=m["stage"], counter=counter)
    return TagEvent(Kind.DEPRECATE, name, counter=counter)


def format_tag(event: TagEvent) -> str:
    """The tag name for ``event``; the inverse of ``parse_tag``."""
    suffix = f"#{event.counter}" if event.counter is not None else ""
    if event.kind in (Kind.REGISTER, Kind.DEREGISTER):
        bang = "!" if event.kind is Kind.DEREGISTER else ""
        return f"{event.name}@v{event.version}{bang}{suffix}"
    if event.kind in (Kind.ASSIGN, Kind.UNASSIGN):
        bang = "!" if event.kind is Kind.UNASSIGN else ""
        return f"{event.name}#{event.stage}{bang}{suffix}"
    return f"{event.name}@deprecated{suffix}"


def tag_patterns(name: str) -> list[str]:
    """``for-each-ref`` patterns naming every tag of model ``name`` and no other model's. git matches
    them with WM_PATHNAME, where ``*`` stops at a ``/``, and GTO's stage names may hold one."""
    base = f"refs/tags/{name}"
    return [f"{base}@*", f"{base}@*/**", f"{base}#*", f"{base}#*/**"]


def version_tag(name: str, version: Version) -> str:
    return format_tag(TagEvent(Kind.REGISTER, name, version=str(version)))


def tag_message(event: TagEvent) -> str:
    """GTO's exact tag messages, so ``gto history`` shows what GTO itself would have written."""
    v = f"v{event.version}" if event.version else ""
    if event.kind is Kind.REGISTER:
        return f"Registering artifact {event.name} version {v}"
    if event.kind is Kind.DEREGISTER:
        return f"Deregistering artifact {event.name} version {v}"
    if event.kind is Kind.ASSIGN:
        return f"Assigning stage {event.stage} to artifact {event.name} version {v}"
    if event.kind is Kind.UNASSIGN:
        return f"Unassigning stage '{event.stage}' to artifact '{event.name}' version '{v}'"
    return f"Deprecating artifact '{event.name}'"


# -- references -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """A model reference: exactly one of version/stage, or neither (meaning latest)."""

    name: str
    version: str | None = None
    stage: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.stage is None

    def __str__(self) -> str:
        if self.version:
            return f"{self.name}@v{self.version}"
        if self.stage:
            return f"{self.name}#{self.stage}"
        return self.name


def parse_reference(text: str) -> Reference:
    """Parse ``name``, ``name@latest``, ``name@vX.Y.Z``, ``name@X.Y.Z`` or ``name#stage``."""
    m = _REF_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise InvalidReference(f"invalid reference {text!r}: use NAME, NAME@latest, NAME@vX.Y.Z or NAME#STAGE")
    version = str(Version.parse(m["version"])) if m["version"] else None
    return Reference(m["name"], version=version, stage=m["stage"])
