"""The only place that runs ``git`` (and ``git lfs``): argv lists, a fixed environment, typed errors.

Reads are one ``for-each-ref`` and one ``cat-file --batch`` process per command — never one git
process per tag (measured: 86 ms against 18 s for 10k tags). Writes never touch a working tree: blobs
via ``hash-object``, trees in a temporary index, ``commit-tree``, ``mktag``, then one
``push --atomic`` of object ids, so a failed attempt leaves no local ref behind either.

Every git process runs with ``LC_ALL=C`` (we parse its messages), ``GIT_TERMINAL_PROMPT=0`` (never
hang on a password prompt), and ``GIT_LFS_SKIP_SMUDGE=1`` (Debian enables LFS smudge system-wide).
The user's and system's config are otherwise honoured: credential helpers and proxies live there.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, overload

from gitreg.core.state import TagRecord
from gitreg.errors import GitFailed, RemoteError
from gitreg.store import credentials
from gitreg.store.credentials import strip_credentials
from gitreg.store.files import disk_full, is_disk_full

ZERO = "0" * 40
MAIN = "refs/heads/main"  # the registry's one branch
REMOTE_MAIN = "refs/remotes/origin/main"  # main as a cache clone last fetched it
_FIELDS = (
    "%(refname:lstrip=2)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objectname)",
    "%(*objecttype)",
    "%(taggerdate:raw)",
    "%(taggername)",
    "%(taggeremail:trim)",
    "%(contents:subject)",
)
_REF_FORMAT = "%00".join(_FIELDS)
# Without tagger name, email and subject: ~20% less git time at 10k tags, for reads that only fold.
_LEAN_FORMAT = "%00".join(_FIELDS[:6])
# Messages git prints when the remote cannot be reached at all.
_UNREACHABLE = (
    "does not appear to be a git repository",
    "Could not resolve host",
    "Failed to connect",
    "Connection refused",
    "not found",
    "unable to access",
    "Could not read from remote",
    "does not exist",
    "No such file or directory",
)
# How git (and git-lfs, in Go's words) says the disk or the quota is full.
DISK_FULL = ("no space left on device", "out of diskspace", "disk quota exceeded")


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0", GIT_LFS_SKIP_SMUDGE="1")
    # A credential prompt through ssh or a GUI askpass would hang a CI job just as well.
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    credentials.add_helpers(env)
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def env(self, when: int | None = None) -> dict[str, str]:
        out = {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }
        if when is not None:
            out["GIT_AUTHOR_DATE"] = out["GIT_COMMITTER_DATE"] = f"{when} +0000"
        return out


@dataclass(frozen=True)
class PushResult:
    ok: bool
    rejected: dict[str, str]  # ref -> reason
    remote_messages: list[str]
    stderr: str


class Git:
    """A git repository (usually bare) that gitreg drives."""

    def __init__(self, git_dir: Path | str, env: dict[str, str] | None = None) -> None:
        self.git_dir = Path(git_dir)
        self._env = base_env(env)

    def argv(self, *args: str) -> list[str]:
        return ["git", f"--git-dir={self.git_dir}", *args]

    @overload
    def run(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        text: Literal[True] = True,
        stdout: int | IO[Any] = subprocess.PIPE,
    ) -> subprocess.CompletedProcess[str]: ...

    @overload
    def run(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        text: Literal[False],
        stdout: int | IO[Any] = subprocess.PIPE,
    ) -> subprocess.CompletedProcess[bytes]: ...

    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        text: bool = True,
        stdout: int | IO[Any] = subprocess.PIPE,
    ) -> subprocess.CompletedProcess[Any]:
        """Run ``git --git-dir=… ARGS``; output as text unless ``text=False``. Raises GitFailed when it
        fails and ``check`` is on; with ``check=False`` the caller reads ``returncode`` and ``stderr``."""
        argv = self.argv(*args)
        full_env = {**self._env, **env} if env else self._env
        started = time.time()
        proc = subprocess.run(
            argv,
            input=input,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=full_env,
            text=text,
            check=False,
            cwd=self.git_dir if self.git_dir.is_dir() else None,
        )
        if proc.returncode != 0:
            err = proc.stderr if text else proc.stderr.decode(errors="replace")
            self._raise_if_full(err, started)  # never a condition a caller handles, checked or not
            if check:
                raise GitFailed(argv, proc.returncode, strip_credentials(err))
        return proc

    def _raise_if_full(self, stderr: str, started: float) -> None:
        """A git process that failed on a full disk: remove the loose-object temporaries it left
        (git does not: a 0-byte ``objects/xx/tmp_obj_*`` per object it could not write), then raise
        DiskFull naming the filesystem; the registry's server being full is a RemoteError."""
        lines = [ln for ln in stderr.splitlines() if any(m in ln.lower() for m in DISK_FULL)]
        if not lines:
            return
        if all(ln.startswith("remote:") for ln in lines):
            raise RemoteError(
                f"the registry's server is out of disk space: {lines[-1].removeprefix('remote:').strip()}",
                hint="nothing was written; ask the registry's administrator to free space",
            )
        for tmp in self.git_dir.glob("objects/??/tmp_obj_*"):
            try:
                # Only what appeared while this process ran: older ones may be another writer's
                # (those are swept once stale, :func:`gitreg.store.files.sweep`).
                if tmp.stat().st_mtime >= started - 1:
                    tmp.unlink()
            except OSError:
                continue
        raise disk_full(self.git_dir)

    def smudge(
        self, path: str, pointer: bytes, out: IO[bytes], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """``git lfs smudge``: the one call that must download, so GIT_LFS_SKIP_SMUDGE is dropped."""
        env = {k: v for k, v in {**self._env, **(env or {})}.items() if k != "GIT_LFS_SKIP_SMUDGE"}
        return subprocess.run(
            self.argv("lfs", "smudge", "--", path),
            input=pointer,
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
            cwd=self.git_dir,
            check=False,
        )

    def out(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        """Standard output of a git command that must succeed, stripped."""
        return self.run(*args, input=input, env=env).stdout.strip()

    def config(self, key: str, value: str) -> None:
        self.run("config", key, value)

    def get_config(self, key: str) -> str | None:
        p = self.run("config", "--get", key, check=False)
        return p.stdout.strip() if p.returncode == 0 else None

    def rev(self, spec: str) -> str | None:
        p = self.run("rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}", check=False)
        return p.stdout.strip() if p.returncode == 0 else None

    # -- reading ------------------------------------------------------------------------------------
    def tags(
        self, patterns: Sequence[str] = ("refs/tags",), details: bool = True, ids: dict[str, str] | None = None
    ) -> list[TagRecord]:
        """Every tag under ``patterns`` with its peeled commit, tagger and subject: one process.

        ``details=False`` leaves tagger name, email and subject empty (enough for ``list``); ``ids``
        receives each listed tag's object id (tags naming no commit too), for a cache keyed by it.
        """
        fmt = _REF_FORMAT if details else _LEAN_FORMAT
        out = self.run("for-each-ref", f"--format={fmt}", *patterns).stdout
        records = []
        n = len(_FIELDS) if details else 6
        for f in _records(out, n):
            if details:
                tag, otype, oid, peeled, ptype, date, name, email, subject = f
            else:
                tag, otype, oid, peeled, ptype, date = f
                name = email = subject = ""
            if ids is not None:
                ids[tag] = oid
            annotated = otype == "tag"
            if (ptype if annotated else otype) != "commit":
                continue  # a tag of a tree, a blob or another tag names no version: one verdict for every read
            when, _, tz = date.partition(" ")
            records.append(
                TagRecord(
                    tag,
                    peeled if annotated else oid,
                    annotated,
                    int(when) if when.isdigit() else 0,
                    tz or "+0000",
                    name,
                    email,
                    subject,
                )
            )
        return records

    @contextmanager
    def cat_file(self) -> Iterator[CatFile]:
        """One ``git cat-file --batch`` process for the whole command."""
        cf = CatFile(self.argv("cat-file", "--batch"), self._env)
        try:
            yield cf
        finally:
            cf.close()

    def blob_to_file(self, oid: str, dest: Path) -> int:
        """Write the plain blob ``oid`` to ``dest``, streamed, verified (``git hash-object`` of what
        landed must be ``oid``) and moved into place only then; its size. IntegrityError otherwise."""
        from gitreg.errors import IntegrityError

        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{os.urandom(8).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            with open(fd, "wb") as out:
                self.run("cat-file", "blob", oid, text=False, stdout=out)
                out.flush()
                os.fsync(out.fileno())
            got = self.out("hash-object", "--no-filters", str(tmp))
            if got != oid:
                raise IntegrityError(f"{dest.name}: the registry's blob {oid[:12]}… reads back as {got[:12]}…")
            size = tmp.stat().st_size
            os.replace(tmp, dest)
            return size
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, OSError) and is_disk_full(e):
                raise disk_full(dest, e) from None
            raise

    def read_blob(self, spec: str, max_size: int | None = None) -> bytes | None:
        """The blob at ``spec``, None when there is none. With ``max_size``, at most its first
        ``max_size + 1`` bytes are read (the caller sees it is too big), never the whole blob."""
        if max_size is None:
            p = self.run("cat-file", "blob", spec, check=False, text=False)
            return p.stdout if p.returncode == 0 else None
        proc = subprocess.Popen(
            self.argv("cat-file", "blob", spec), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self._env
        )
        assert proc.stdout is not None
        with proc.stdout:
            data = proc.stdout.read(max_size + 1)
            if len(data) > max_size:
                proc.kill()  # over the cap: the rest is never read
        code = proc.wait()
        return data if code == 0 or len(data) > max_size else None

    def pack_loose_tags(self, limit: int = 256) -> bool:
        """``git pack-refs`` once more than ``limit`` tags are loose ref files; True if it packed.

        ``for-each-ref`` opens every loose ref (10k loose tags add ~0.1 s to each read, bench_list.py),
        and receive-pack and fetch write each new tag loose; packing them is cheap and safe to race.
        """
        try:
            with os.scandir(self.git_dir / "refs" / "tags") as entries:
                loose = sum(1 for _ in entries)  # tags named a/b count once: enough for a trigger
        except OSError:
            return False
        return loose > limit and self.run("pack-refs", check=False).returncode == 0

    def blob_id(self, commit: str, path: str) -> str | None:
        """The object id at ``commit:path``, None when there is none."""
        p = self.run("rev-parse", "--verify", "--quiet", f"{commit}:{path}", check=False)
        return (p.stdout.strip() or None) if p.returncode == 0 else None

    def commits_on(self, ref: str) -> set[str]:
        p = self.run("rev-list", ref, check=False)
        return set(p.stdout.split()) if p.returncode == 0 else set()

    # -- writing ------------------------------------------------------------------------------------
    def hash_blob(self, data: bytes | str) -> str:
        payload = data.encode() if isinstance(data, str) else data
        return self.run("hash-object", "-w", "--stdin", input=payload, text=False).stdout.decode().strip()

    def commit(
        self,
        parent: str | None,
        files: Mapping[str, str | None],
        message: str,
        ident: Identity,
        when: int,
        replace_dirs: Iterable[str] = (),
    ) -> str:
        """A commit on ``parent`` with ``files`` (path -> blob id, or None to delete).

        Paths under ``replace_dirs`` that ``files`` does not name are removed, so a version's folder
        holds exactly that version's files.
        """
        import tempfile  # ~4 ms to import (shutil, random): only writes need it, not every read

        fd, index = tempfile.mkstemp(prefix="gitreg-index-", dir=self.git_dir)
        os.close(fd)
        os.unlink(index)  # git wants to create it; the name is ours alone
        env = {"GIT_INDEX_FILE": index}
        try:
            if parent:
                self.run("read-tree", parent, env=env)
            lines = []
            for d in replace_dirs:
                if not parent:
                    continue
                listed = self.out("ls-tree", "-r", "--name-only", parent, "--", d.rstrip("/") + "/")
                lines += [f"0 {ZERO}\t{p}" for p in listed.splitlines() if p and p not in files]
            for path, blob in sorted(files.items()):
                lines.append(f"0 {ZERO}\t{path}" if blob is None else f"100644 {blob}\t{path}")
            self.run("update-index", "--index-info", input="\n".join(lines) + "\n", env=env)
            tree = self.out("write-tree", env=env)
            args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
            return self.out(*args, env=ident.env(when))
        finally:
            if os.path.exists(index):
                os.unlink(index)

    def make_tag(
        self, tag: str, commit: str, message: str, ident: Identity, when: int, sign: Callable[[str], str] | None = None
    ) -> str:
        """An annotated tag object (no ref): GTO's shape, no trailing newline in the message.

        ``sign`` (a :class:`gitreg.store.signing.Signer`) returns an armored signature of the body, which
        follows it as in ``git tag -s``: git has no plumbing that signs a body given to mktag.
        """
        body = (
            f"object {commit}\ntype commit\ntag {tag}\ntagger {ident.name} <{ident.email}> {when} +0000\n\n{message}\n"
        )
        if sign is not None:
            body += sign(body)
        return self.out("mktag", input=body)

    def fetch(self, *refspecs: str, remote: str = "origin") -> None:
        p = self.run("fetch", "--quiet", "--prune", "--no-write-fetch-head", remote, *refspecs, check=False)
        if p.returncode != 0:
            raise_remote_error(self.argv("fetch", remote), p.returncode, p.stderr, remote_url=self.remote_url())

    def ls_remote(self, *patterns: str, remote: str = "origin") -> dict[str, str]:
        """``{ref: object id}`` of the remote's refs matching ``patterns`` (no peeled ``^{}`` lines)."""
        p = self.run("ls-remote", "--refs", remote, *patterns, check=False)
        if p.returncode != 0:
            raise_remote_error(self.argv("ls-remote", remote), p.returncode, p.stderr, remote_url=self.remote_url())
        out = {}
        for line in p.stdout.split("\n"):
            oid, _, ref = line.partition("\t")
            if ref:
                out[ref] = oid
        return out

    def remote_url(self, remote: str = "origin") -> str:
        return self.get_config(f"remote.{remote}.url") or remote

    def push(self, refspecs: Sequence[str], remote: str = "origin", atomic: bool = True) -> PushResult:
        """Push ``refspecs`` (object ids to full ref names). Client hooks are skipped on purpose:
        gitreg uploads LFS objects itself, before any ref, and git-lfs's pre-push would only rescan."""
        args = ["push", "--porcelain", "--no-verify"] + (["--atomic"] if atomic else []) + [remote, *refspecs]
        p = self.run(*args, check=False)
        rejected: dict[str, str] = {}
        for line in p.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[0] == "!":
                dst = parts[1].split(":", 1)[-1]
                rejected[dst] = parts[2]
        remote_msgs = [
            ln[len("remote: ") :].rstrip()
            for ln in p.stderr.splitlines()
            if ln.startswith("remote: ") and ln[len("remote: ") :].strip()
        ]
        if p.returncode != 0 and not rejected:
            raise_remote_error(self.argv(*args), p.returncode, p.stderr, remote_url=self.remote_url(remote))
        return PushResult(p.returncode == 0 and not rejected, rejected, remote_msgs, p.stderr)


def raise_remote_error(argv: Sequence[str], code: int, stderr: str, remote_url: str) -> None:
    if "Authentication failed" in stderr or "could not read Username" in stderr or "HTTP 401" in stderr:
        raise RemoteError(
            f"the registry at {strip_credentials(remote_url)} refused the credentials (or asked for some)",
            hint="store them with a credential helper (git credential approve) or check the token; see docs/server.md",
        )
    if any(s in stderr for s in _UNREACHABLE):
        last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
        raise RemoteError(
            f"cannot reach registry {strip_credentials(remote_url)}: {strip_credentials(last.removeprefix('fatal: '))}",
            hint="check the URL and your network; --registry or GITREG_REGISTRY chooses the registry",
        )
    raise GitFailed(argv, code, strip_credentials(stderr))


class CatFile:
    """A persistent ``git cat-file --batch``: request by spec, get bytes (None when missing)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self._p = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )

    def _read_one(self, max_size: int | None = None) -> bytes | None:
        assert self._p.stdout is not None
        header = self._p.stdout.readline()
        if not header:
            raise GitFailed(["git", "cat-file", "--batch"], self._p.poll() or -1, "cat-file exited")
        parts = header.split()
        if len(parts) != 3 or parts[-1] in (b"missing", b"ambiguous"):
            return None
        size = int(parts[2])
        if max_size is not None and size > max_size:
            # Over the cap: keep the first max_size + 1 bytes (the caller sees it is too big) and
            # drain the rest in chunks, so a 200 MB blob is never held whole.
            data = self._p.stdout.read(max_size + 1)
            left = size - len(data)
            while left > 0:
                chunk = self._p.stdout.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
        else:
            data = self._p.stdout.read(size)
        self._p.stdout.read(1)
        return data

    @staticmethod
    def _line(spec: str) -> bytes:
        # The batch protocol is one request per line: a newline in a spec (a path out of a hostile
        # sidecar) would be two requests, and every later answer would belong to another question.
        if "\n" in spec or "\r" in spec or "\0" in spec:
            raise GitFailed(["git", "cat-file", "--batch"], -1, f"refusing a request with a line break: {spec!r}")
        return spec.encode() + b"\n"

    def get(self, spec: str, max_size: int | None = None) -> bytes | None:
        """The blob at ``spec``, None when missing; over ``max_size`` bytes only its first
        ``max_size + 1`` bytes (the rest is read and dropped), so a size check fails without
        holding it whole."""
        assert self._p.stdin is not None
        self._p.stdin.write(self._line(spec))
        self._p.stdin.flush()
        return self._read_one(max_size)

    def get_many(self, specs: Sequence[str], max_size: int | None = None) -> list[bytes | None]:
        """All specs in one pipe; a writer thread keeps both pipe buffers moving. ``max_size`` as in get."""
        if not specs:
            return []
        payload = b"".join(self._line(s) for s in specs)  # all checked before any is sent

        def write() -> None:
            assert self._p.stdin is not None
            self._p.stdin.write(payload)
            self._p.stdin.flush()

        t = threading.Thread(target=write, daemon=True)
        t.start()
        out = [self._read_one(max_size) for _ in specs]
        t.join()
        return out

    def close(self) -> None:
        if self._p.stdin:
            self._p.stdin.close()
        if self._p.stdout:
            self._p.stdout.close()
        self._p.wait()


def discover(path: Path) -> Git | None:
    """The repository ``path`` is inside (a CI checkout of the registry), or None when there is none."""
    p = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--absolute-git-dir"],
        capture_output=True,
        text=True,
        env=base_env(),
        check=False,
    )
    return Git(p.stdout.strip()) if p.returncode == 0 and p.stdout.strip() else None


def work_tree_info(path: Path) -> dict[str, object] | None:
    """Lineage of the training code: commit, branch, dirty, remote of the repo at ``path``, if any."""

    def git(*args: str) -> str | None:
        p = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, env=base_env(), check=False)
        return p.stdout.strip() if p.returncode == 0 else None

    if git("rev-parse", "--is-inside-work-tree") != "true":
        return None
    commit = git("rev-parse", "--verify", "--quiet", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    remote = git("config", "--get", "remote.origin.url")
    return {
        "commit": commit,
        "branch": git("symbolic-ref", "--short", "-q", "HEAD"),
        "dirty": bool(status),
        "repo": strip_credentials(remote) if remote else None,
    }


def identity(git_dir: Path | None = None) -> Identity:
    """Who is writing: git's own resolution (env, then config), else the login name at this host."""
    import getpass
    import socket

    env = base_env()
    name = env.get("GIT_COMMITTER_NAME") or env.get("GIT_AUTHOR_NAME")
    email = env.get("GIT_COMMITTER_EMAIL") or env.get("GIT_AUTHOR_EMAIL")
    if not (name and email):
        p = subprocess.run(
            ["git", "var", "GIT_COMMITTER_IDENT"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=git_dir,
        )
        if p.returncode == 0 and "<" in p.stdout:
            n, _, rest = p.stdout.partition("<")
            name = name or n.strip()
            email = email or rest.split(">", 1)[0].strip()
    try:
        user = getpass.getuser()
    except Exception:
        user = "gitreg"
    return Identity(name or user, email or f"{user}@{socket.gethostname()}")


def _records(out: str, n: int) -> list[list[str]]:
    """``for-each-ref`` output of ``n`` NUL-separated fields per ref, one ref per line, as records.

    Not ``splitlines()`` nor even ``split("\\n")``: git prints a carriage return in a tagger name as a
    newline, and splitlines() also splits on \\x1c-\\x1e and \\x85 — either would cut a record in two
    and hide a version. A ref name cannot hold a newline, so the newline before each ref name (the
    last one inside the field that ends a record) is the only true record separator.
    """
    rows = [line.split("\0") for line in out.split("\n") if line]
    if all(len(r) == n for r in rows):  # no newline inside any field: the common, fast case
        return rows
    tokens = out.split("\0")
    records: list[list[str]] = []
    current = [tokens[0]] if tokens[0] else []
    for token in tokens[1:]:
        if len(current) == n - 1:
            last, _, following = token.rpartition("\n")
            records.append([*current, last])
            current = [following] if following else []
        else:
            current.append(token)
    return records
