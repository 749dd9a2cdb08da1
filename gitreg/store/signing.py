"""Signed tags the way ``git tag -s`` makes them, and their checks the way ``git verify-tag`` makes them.

gitreg builds tag objects with ``git mktag`` (no ref, no work tree), and git has no plumbing that
signs a body handed to ``mktag``. So this module does what git's ``gpg-interface.c`` does for
``git tag -s``: read the user's git configuration (``gpg.format``, ``user.signingkey``,
``gpg.program`` / ``gpg.<format>.program``, ``gpg.ssh.defaultKeyCommand``), run the signing program
over the exact tag body (ssh: ``ssh-keygen -Y sign -n git -f KEY FILE``; openpgp and x509:
``gpg``/``gpgsm --status-fd=2 -bsau KEY``) and append the armored signature to the body. The
result is byte for byte what ``git tag -s`` writes, so ``git verify-tag``, GitHub and GTO all read
it. The configuration is the user's (global and system), never the registry's: a signature says
who pushed, not where.

Checking is left to git itself (``git verify-tag --raw``): gitreg only reads who signed from its
output and classifies the outcome. An ssh signature counts only when its key is in the allowed
signers file (``gpg.ssh.allowedSignersFile`` or ``--allowed-signers``); git's own verify-tag
already refuses keys that match no principal.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitreg.errors import SigningError
from gitreg.store.git import Git, Identity

# Default signing program per gpg.format, as git has them.
PROGRAMS = {"openpgp": "gpg", "x509": "gpgsm", "ssh": "ssh-keygen"}
# First line of an armored signature -> its format (git's gpg-interface.c).
_SIG_STARTS = {
    b"-----BEGIN PGP SIGNATURE-----": "openpgp",
    b"-----BEGIN PGP MESSAGE-----": "openpgp",
    b"-----BEGIN SIGNED MESSAGE-----": "x509",
    b"-----BEGIN SSH SIGNATURE-----": "ssh",
}
_KEY_HINT = {
    "ssh": "git config --global user.signingkey ~/.ssh/id_ed25519.pub",
    "openpgp": "git config --global user.signingkey <gpg key id>",
    "x509": "git config --global user.signingkey <certificate id>",
}
_TIMEOUT = 300  # a pinentry or ssh passphrase prompt may wait for a person


# -- signing ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signer:
    """A signing setup read from git config; calling it signs a tag body and returns the signature."""

    format: str
    program: str
    key: str

    def __call__(self, payload: str) -> str:
        if not payload.endswith("\n"):  # the signature must start on a line of its own
            payload += "\n"
        sig = _sign_ssh(self, payload) if self.format == "ssh" else _sign_gpg(self, payload)
        sig = sig.replace("\r\n", "\n")  # git strips CRs too (ssh-keygen on Windows)
        return sig if sig.endswith("\n") else sig + "\n"


def signer(git: Git, ident: Identity) -> Signer:
    """The user's signing setup, checked before anything is uploaded; raises SigningError if unusable.

    ``git`` is any repository of gitreg's (its config is the user's global config plus nothing
    signing-related); ``ident`` is the committer, openpgp/x509's default key as in git.
    """
    cfg = _config(git)
    fmt = cfg.get("gpg.format", "openpgp")
    if fmt not in PROGRAMS:
        raise SigningError(f"cannot sign: gpg.format is {fmt!r}; git knows openpgp, ssh and x509")
    program = cfg.get(f"gpg.{fmt}.program") or (cfg.get("gpg.program") if fmt == "openpgp" else None)
    program = program or PROGRAMS[fmt]
    if shutil.which(program) is None:
        setting = f"gpg.{fmt}.program" if fmt != "openpgp" else "gpg.program"
        raise SigningError(f"cannot sign: {program} is not installed (gpg.format {fmt}; {setting} chooses another)")
    key = cfg.get("user.signingkey", "").strip()
    if fmt == "ssh":
        if not key:
            key = _default_ssh_key(cfg.get("gpg.ssh.defaultkeycommand", ""))
        if not key:
            raise SigningError(
                "cannot sign: user.signingkey is not set; gpg.format ssh needs the key to sign with",
                hint=_KEY_HINT["ssh"],
            )
        if not _literal_ssh_key(key):
            path = Path(key).expanduser()
            if not path.is_absolute():
                path = Path.cwd() / path
            if not path.is_file():
                raise SigningError(f"cannot sign: user.signingkey {key} does not exist", hint=_KEY_HINT["ssh"])
            key = str(path)
        return Signer(fmt, program, key)
    if not key:  # git signs with the committer's identity when no key is configured
        key = f"{ident.name} <{ident.email}>"
    p = _run([program, "--batch", "--list-secret-keys", "--", key])
    if p.returncode != 0:
        raise SigningError(
            f"cannot sign: {program} has no secret key for {key!r}"
            + ("" if cfg.get("user.signingkey") else " (user.signingkey is not set; git falls back to the committer)"),
            hint=_KEY_HINT[fmt],
        )
    return Signer(fmt, program, key)


def _config(git: Git) -> dict[str, str]:
    """``user.*`` and ``gpg.*`` settings, last one wins, keys lower-case (one git process)."""
    p = git.run("config", "-z", "--get-regexp", r"^(user|gpg)\.", check=False)
    out: dict[str, str] = {}
    for entry in p.stdout.split("\0"):
        if entry:
            k, _, v = entry.partition("\n")
            out[k.lower()] = v
    return out


def _literal_ssh_key(key: str) -> bool:
    return key.startswith(("key::", "ssh-"))


def _default_ssh_key(command: str) -> str:
    """``gpg.ssh.defaultKeyCommand``: git takes the first line that is a literal key."""
    if not command.strip():
        return ""
    p = subprocess.run(command, shell=True, capture_output=True, text=True, check=False, timeout=_TIMEOUT)
    if p.returncode != 0:
        raise SigningError(f"cannot sign: gpg.ssh.defaultKeyCommand failed: {_last_line(p.stderr)}")
    return next((ln.strip() for ln in p.stdout.splitlines() if _literal_ssh_key(ln.strip())), "")


def _sign_ssh(s: Signer, payload: str) -> str:
    with tempfile.TemporaryDirectory(prefix="gitreg-sign-") as tmp:
        buffer = Path(tmp) / "payload"
        buffer.write_text(payload, encoding="utf-8")
        argv = [s.program, "-Y", "sign", "-n", "git", "-f"]
        if _literal_ssh_key(s.key):  # a public key in the config: the private half is in ssh-agent
            keyfile = Path(tmp) / "key.pub"
            keyfile.write_text(s.key.removeprefix("key::") + "\n", encoding="utf-8")
            argv += [str(keyfile), "-U"]
        else:
            argv.append(s.key)
        p = _run([*argv, str(buffer)])
        sig = Path(f"{buffer}.sig")
        if p.returncode != 0 or not sig.is_file():
            raise SigningError(
                f"cannot sign: {s.program} -Y sign failed: {_last_line(p.stderr)}",
                hint="check user.signingkey (and that ssh-agent holds the key if it has a passphrase)",
            )
        return sig.read_text(encoding="utf-8")


def _sign_gpg(s: Signer, payload: str) -> str:
    p = _run([s.program, "--status-fd=2", "-bsau", s.key], input=payload)
    if p.returncode != 0 or "[GNUPG:] SIG_CREATED " not in p.stderr:
        raise SigningError(f"cannot sign: {s.program} failed to sign the data: {_last_line(p.stderr)}")
    return p.stdout


def _run(argv: list[str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SigningError(f"cannot sign: {argv[0]} did not run: {e}") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[GNUPG:]")]
    return lines[-1] if lines else "no output"


# -- checking -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TagObject:
    """An annotated tag object split as git splits it: headers, the signed payload, the signature."""

    oid: str
    headers: Mapping[str, str]
    payload: bytes
    signature: bytes

    @property
    def format(self) -> str | None:
        first = self.signature.split(b"\n", 1)[0].strip()
        return _SIG_STARTS.get(first)


def read_tag(git: Git, tag: str) -> TagObject | None:
    """The tag object ``refs/tags/<tag>`` points at; None when it is missing or lightweight."""
    p = git.run("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}", check=False)
    oid = p.stdout.strip()
    if p.returncode != 0 or git.out("cat-file", "-t", oid) != "tag":
        return None
    raw = git.run("cat-file", "tag", oid, text=False).stdout
    return parse_tag_object(oid, raw)


def parse_tag_object(oid: str, raw: bytes) -> TagObject:
    """Split at the last line that opens a signature (git's ``parse_signed_buffer``)."""
    cut = len(raw)
    pos = 0
    while pos < len(raw):
        if any(raw.startswith(s, pos) for s in _SIG_STARTS):
            cut = pos
        nl = raw.find(b"\n", pos)
        pos = len(raw) if nl < 0 else nl + 1
    headers: dict[str, str] = {}
    for line in raw.split(b"\n\n", 1)[0].decode("utf-8", errors="replace").splitlines():
        k, _, v = line.partition(" ")
        headers.setdefault(k, v)
    return TagObject(oid, headers, raw[:cut], raw[cut:])


@dataclass(frozen=True)
class SignatureCheck:
    """What a tag's signature says.

    ``status``: ``good``; ``unsigned``; ``bad`` (does not match the tag); ``untrusted`` (a valid
    signature by a key the allowed signers / keyring do not vouch for); ``unverifiable`` (nothing
    to check it against: no allowed signers file, no public key).
    """

    tag: str
    tag_object: str
    object: str
    tagger: str
    status: str
    format: str | None = None
    signer: str | None = None
    key: str | None = None
    detail: str = ""

    @property
    def good(self) -> bool:
        return self.status == "good"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_tag(git: Git, tag: str, allowed_signers: Path | None = None) -> SignatureCheck:
    """Check ``refs/tags/<tag>``'s signature with ``git verify-tag --raw`` and say who signed it."""
    obj = read_tag(git, tag)
    if obj is None:
        return SignatureCheck(tag, "", "", "", "bad", detail=f"{tag} is not an annotated tag")
    tagger = obj.headers.get("tagger", "").rsplit(" ", 2)[0]
    base = dict(tag=tag, tag_object=obj.oid, object=obj.headers.get("object", ""), tagger=tagger)
    if obj.headers.get("tag") != tag:  # a signed tag copied under another name is not what was signed
        return SignatureCheck(
            **base, status="bad", detail=f"the tag object is named {obj.headers.get('tag')!r}, not {tag!r}"
        )
    fmt = obj.format
    if fmt is None:
        return SignatureCheck(**base, status="unsigned", detail=f"{tag} is not signed")
    extra: list[str] = []
    if fmt == "ssh":
        signers = allowed_signers or _configured_signers(git)
        if signers is None:
            return SignatureCheck(
                **base,
                status="unverifiable",
                format=fmt,
                detail="no allowed signers file to check the ssh signature against",
            )
        extra = ["-c", f"gpg.ssh.allowedSignersFile={signers}"]
    p = git.run(*extra, "verify-tag", "--raw", obj.oid, check=False)
    return _classify(base, fmt, p.returncode, p.stdout + "\n" + p.stderr)


def _configured_signers(git: Git) -> Path | None:
    """``gpg.ssh.allowedSignersFile``, made absolute (git runs with the repository as its cwd)."""
    p = git.run("config", "--path", "--get", "gpg.ssh.allowedSignersFile", check=False)
    value = p.stdout.strip()
    if p.returncode != 0 or not value:
        return None
    path = Path(value)
    path = path if path.is_absolute() else Path.cwd() / path
    return path if path.is_file() else None


_SSH_GOOD = re.compile(r'Good "git" signature for (?P<who>.+?) with (?P<type>\S+) key (?P<fpr>\S+)')
_SSH_NOPRINCIPAL = re.compile(r'Good "git" signature with (?P<type>\S+) key (?P<fpr>\S+)')


def _classify(base: dict[str, str], fmt: str, code: int, out: str) -> SignatureCheck:
    if fmt == "ssh":
        m = _SSH_GOOD.search(out)
        if code == 0 and m:
            return SignatureCheck(**base, status="good", format=fmt, signer=m["who"], key=f"{m['type']} {m['fpr']}")
        m = _SSH_NOPRINCIPAL.search(out)
        if m:
            return SignatureCheck(
                **base,
                status="untrusted",
                format=fmt,
                key=f"{m['type']} {m['fpr']}",
                detail=f"signed by a key that is not in the allowed signers ({m['type']} {m['fpr']})",
            )
        return SignatureCheck(**base, status="bad", format=fmt, detail=_ssh_reason(out))
    status: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith("[GNUPG:] "):
            word, _, rest = line[len("[GNUPG:] ") :].partition(" ")
            status.setdefault(word, rest)
    who = status.get("GOODSIG", "").partition(" ")[2] or None
    fpr = status.get("VALIDSIG", "").partition(" ")[0] or None
    if code == 0 and "GOODSIG" in status:
        return SignatureCheck(**base, status="good", format=fmt, signer=who, key=fpr)
    if "BADSIG" in status:
        return SignatureCheck(**base, status="bad", format=fmt, detail="the signature does not match the tag")
    for word, why in (("EXPKEYSIG", "expired"), ("REVKEYSIG", "revoked"), ("EXPSIG", "expired")):
        if word in status:
            return SignatureCheck(**base, status="bad", format=fmt, key=fpr, detail=f"signed by an {why} key")
    if "NO_PUBKEY" in status or "ERRSIG" in status:
        keyid = (status.get("NO_PUBKEY") or status.get("ERRSIG", "")).split(" ")[0]
        return SignatureCheck(
            **base, status="unverifiable", format=fmt, detail=f"no public key {keyid} in the keyring to check it"
        )
    if "GOODSIG" in status:  # valid, but below gpg.minTrustLevel
        trust = next((w for w in status if w.startswith("TRUST_")), "TRUST_UNDEFINED")
        return SignatureCheck(
            **base, status="untrusted", format=fmt, signer=who, key=fpr, detail=f"key trust is {trust[6:].lower()}"
        )
    return SignatureCheck(**base, status="bad", format=fmt, detail=_last_line(out))


def _ssh_reason(out: str) -> str:
    for line in out.splitlines():
        if "verification failed" in line.lower():
            return line.strip().rstrip(".")
    return _last_line(out)
