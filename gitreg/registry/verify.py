"""``gitreg verify REF``: an unbroken, offline chain from a signature to the artifact bytes.

1. the version tag (and, for ``name#stage``, the stage tag that gave it the stage) carries a good
   signature, checked by ``git verify-tag`` (:mod:`gitreg.store.signing`), and names the commit the
   registry says holds the version;
2. that commit's ``model.toml`` parses, is this version's own, and its ``[artifacts]`` sha256/size
   agree with the LFS pointers in the same tree;
3. the artifact bytes on this machine hash (streamed) to those sha256.

Everything is read from the local registry, or from the cache clone a previous ``gitreg`` read
left behind: verify never touches the network. Bytes that are not on this machine are a failed
check, never a download — ``gitreg pull REF`` fetches them (verifying them on the way), after
which ``verify`` can hash them. Unsigned tags fail unless ``allow_unsigned``; a bad or untrusted
signature always fails.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import Kind, parse_reference
from gitreg.errors import GitregError, RegistryNotFound
from gitreg.registry.backend import Backend, View, same_version
from gitreg.store import lfs, location
from gitreg.store.signing import SignatureCheck, check_tag


@dataclass(frozen=True)
class ArtifactCheck:
    """One artifact: ``ok``, ``missing`` (no bytes on this machine), ``mismatch`` or ``pointer`` (bad pointer)."""

    kind: str
    path: str
    sha256: str
    size: int
    status: str
    checked: tuple[str, ...] = ()  # the local copies that were hashed
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "checked": list(self.checked)}


@dataclass(frozen=True)
class VerifyReport:
    """What ``gitreg verify`` found; ``ok`` when ``problems`` is empty."""

    ref: str
    tag: str
    commit: str
    signatures: tuple[SignatureCheck, ...]
    sidecar: str | None
    artifacts: tuple[ArtifactCheck, ...]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def signers(self) -> tuple[str, ...]:
        """Who signed, one entry per good signature (principal or user id, else the key)."""
        return tuple(s.signer or s.key or "?" for s in self.signatures if s.good)

    @property
    def hint(self) -> str | None:
        """The next step for the first kind of problem found (an unsigned tag accepted with
        ``--allow-unsigned`` is a warning, not a problem: it gets no hint about signing)."""
        if not self.problems:
            return None
        if any(a.status == "missing" for a in self.artifacts):
            return f"run: gitreg pull {self.ref} (fetches and checks the bytes), then verify again"
        problems = set(self.problems)
        failed = {s.status for s in self.signatures if s.status != "unsigned" or f"{s.tag} is not signed" in problems}
        if "unverifiable" in failed or "untrusted" in failed:
            return (
                "ssh: list the signer in gpg.ssh.allowedSignersFile or pass --allowed-signers FILE; gpg: import the key"
            )
        if "unsigned" in failed:
            return "sign versions with gitreg push --sign; accept unsigned ones with --allow-unsigned"
        if any(a.status == "mismatch" for a in self.artifacts):
            return (
                "the file named above is not the artifact that was registered (damaged or tampered with): "
                "do not use it; see: gitreg check"
            )
        return "the registry's copy may be damaged or tampered with; see: gitreg check"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ref": self.ref,
            "tag": self.tag,
            "commit": self.commit,
            "signatures": [s.to_dict() for s in self.signatures],
            "sidecar": self.sidecar,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "hint": self.hint,
        }


def verify(
    backend: Backend, ref: str, *, allow_unsigned: bool = False, allowed_signers: str | os.PathLike[str] | None = None
) -> VerifyReport:
    """Check ``ref`` in the registry ``backend`` reads, offline; see the module docstring."""
    reference = parse_reference(ref)
    signers = None
    if allowed_signers is not None:
        signers = Path(allowed_signers).expanduser().resolve()
        if not signers.is_file():
            raise GitregError(
                f"allowed signers file {allowed_signers} does not exist",
                hint="one line per signer: PRINCIPAL KEYTYPE BASE64 (see ssh-keygen(1), ALLOWED SIGNERS)",
            )
    view = _offline_view(backend, ref)
    st = backend.model(backend.states(view, reference.name), reference.name)
    v = backend.resolve(st, reference)
    assert view is not None  # a model was found in it
    problems: list[str] = []
    warnings: list[str] = []
    if v.deregistered:
        warnings.append(f"{v.tag} is deregistered")

    tags = [v.tag]
    if reference.stage is not None:
        assigned = [
            e for e in st.events if e.kind is Kind.ASSIGN and e.stage == reference.stage and e.version == v.version
        ]
        if assigned:
            tags.append(max(assigned, key=lambda e: (e.counter if e.counter is not None else -1, e.time)).tag)
    checks = tuple(check_tag(view.git, t, signers) for t in tags)
    for c in checks:
        if c.object and c.object != v.commit:
            problems.append(
                f"{c.tag}: the tag object points at {c.object[:12]}, not the version's commit {v.commit[:12]}"
            )
        if c.status == "good":
            continue
        if c.status == "unsigned" and allow_unsigned:
            warnings.append(f"{c.tag} is not signed (accepted: --allow-unsigned)")
        elif c.status == "unsigned":
            problems.append(f"{c.tag} is not signed")
        else:
            problems.append(f"{c.tag}: {c.status} signature: {c.detail}")

    name = st.name
    base = f"{v.commit}:models/{name}/"
    sidecar_path = f"models/{name}/model.toml"
    artifacts: list[ArtifactCheck] = []
    with view.git.cat_file() as cf:
        raw = cf.get(base + "model.toml", max_size=sidecar_mod.MAX_BYTES)  # a bigger one fails to parse
        sc = None
        if raw is None:
            problems.append(f"{v.tag}: no {sidecar_path} in its commit (registered outside gitreg): nothing to check")
        else:
            try:
                sc = sidecar_mod.loads(raw.decode("utf-8", errors="replace"), f"{v.tag}:{sidecar_path}")
            except GitregError as e:
                problems.append(e.message)
        if sc is not None and (sc.name != name or not same_version(sc.version, v.version)):
            problems.append(f"{v.tag}: its commit holds {sc.name}@v{sc.version}'s sidecar, not its own")
            sc = None
        stored = sc.stored_files() if sc else []  # artifacts, external data, files the model needs
        pointers = {a.path: lfs.parse_pointer(cf.get(base + a.path, max_size=lfs.MAX_POINTER)) for a in stored}
    if sc is not None and not sc.artifacts:
        problems.append(f"{v.tag}: its sidecar lists no artifacts")
    stores = backend.lfs_stores(view)
    for art in stored:
        kind, ptr = art.kind, pointers[art.path]
        if ptr is None:
            artifacts.append(
                ArtifactCheck(kind, art.path, art.sha256, art.size, "pointer", detail="not an LFS pointer")
            )
            problems.append(f"{v.tag}: {art.path} is missing or not an LFS pointer")
            continue
        if (ptr.oid, ptr.size) != (art.sha256, art.size):
            detail = f"pointer {ptr.oid[:12]}… ({ptr.size} bytes), sidecar {art.sha256[:12]}… ({art.size} bytes)"
            artifacts.append(ArtifactCheck(kind, art.path, art.sha256, art.size, "pointer", detail=detail))
            problems.append(f"{v.tag}: {art.path} LFS pointer does not match the sidecar: {detail}")
            continue
        artifacts.append(_check_bytes(kind, art, stores))
        a = artifacts[-1]
        if a.status == "missing":
            problems.append(f"{v.tag}: {art.path} bytes are not on this machine (verify never downloads)")
        elif a.status == "mismatch":
            problems.append(f"{v.tag}: {art.path} on this machine does not match the sidecar: {a.detail}")
    return VerifyReport(
        f"{name}@v{v.version}",
        v.tag,
        v.commit,
        checks,
        sidecar_path if raw is not None else None,
        tuple(artifacts),
        tuple(problems),
        tuple(warnings),
    )


def _offline_view(backend: Backend, ref: str) -> View | None:
    """The local registry, or the cache clone of a remote one as the last read left it (no fetch)."""
    if not backend.location.is_local and not backend.has_cache():
        raise RegistryNotFound(
            f"nothing of {backend.url} is on this machine yet, and verify works offline",
            hint=f"run: gitreg pull {ref} --registry {backend.url} (it fetches the tags and the artifacts)",
        )
    return backend.view(sync=False)


def _check_bytes(kind: str, art: sidecar_mod.Artifact, stores: list[Path]) -> ArtifactCheck:
    """Hash every local copy: the LFS stores, and ``gitreg.load``'s content-addressed folder."""
    candidates = [lfs.object_path(root, art.sha256) for root in stores]
    candidates.append(location.cache_home() / "gitreg" / "artifacts" / art.sha256 / art.path)
    checked: list[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        got, size = lfs.sha256_file(path)
        checked.append(str(path))
        if (got, size) != (art.sha256, art.size):
            detail = f"{path} has sha256 {got[:12]}… ({size} bytes), expected {art.sha256[:12]}… ({art.size} bytes)"
            return ArtifactCheck(kind, art.path, art.sha256, art.size, "mismatch", tuple(checked), detail)
    status = "ok" if checked else "missing"
    return ArtifactCheck(kind, art.path, art.sha256, art.size, status, tuple(checked))
