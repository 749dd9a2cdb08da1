"""Shared setup for the gitreg benchmarks: isolation, timing, reporting, fixtures.

Import this module *before* gitreg and call ``isolate()`` first thing: it points HOME, the XDG
dirs and git's global config at a fresh temporary directory, disables the system git config
(Debian's ``/etc/gitconfig`` turns LFS filters on), fixes the author/committer identity and
``chdir``s into the temp dir (so neither ``/work/main/pyproject.toml`` nor its git work tree
leaks into registry resolution or a version's lineage). This module never imports gitreg.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Bot",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench Bot",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
CHUNK = 1 << 20
MB = 1_000_000


def isolate(prefix: str, keep: bool | None = None) -> Path:
    """Create the benchmark's temp root and make os.environ point into it; return the root.

    The root is removed at exit unless ``--keep`` is on the command line (or ``keep`` is True).
    """
    if keep is None:
        keep = "--keep" in sys.argv
    # Under /var/tmp by default: /tmp may be a small tmpfs on some machines, and these
    # fixtures hold up to a few GB. TMPDIR overrides.
    base = os.environ.get("TMPDIR") or ("/var/tmp" if os.path.isdir("/var/tmp") else None)
    root = Path(tempfile.mkdtemp(prefix=f"gitreg-{prefix}-", dir=base)).resolve()
    home = root / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig-bench"
    gitconfig.write_text("")
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        **IDENTITY,
    }
    os.environ.update(env)
    for k in ("GITREG_REGISTRY", "GITREG_DEBUG", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        os.environ.pop(k, None)
    # An installed package runs from compiled bytecode. Some sandboxes set PYTHONDONTWRITEBYTECODE,
    # so every gitreg process (each CLI call, the registry's pre-receive hook on each push) would
    # compile gitreg's modules again, ~25 ms each here. Bytecode is cached under the temp root
    # instead (the first, untimed run writes it); GITREG_BENCH_NO_BYTECODE=1 keeps the setting.
    if os.environ.get("GITREG_BENCH_NO_BYTECODE"):
        flag = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
        print(f"[bytecode cache: as the environment says (PYTHONDONTWRITEBYTECODE={flag!r})]")
    else:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        print("[bytecode cache: on, under the temp root (GITREG_BENCH_NO_BYTECODE=1 to turn it off)]")
    work = root / "work"
    work.mkdir()
    os.chdir(work)
    if keep:
        print(f"[fixture kept at {root}]")
    else:
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


# -- running things ---------------------------------------------------------------------------------
def git(*args: str, cwd: Path | str | None = None, input: bytes | None = None) -> str:
    p = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return p.stdout.decode().strip()


def gitreg_argv() -> list[str]:
    """The installed ``gitreg`` console script next to this interpreter (not a pyenv shim,
    whose bash wrapper adds ~50-100 ms), else ``python -m gitreg``."""
    script = Path(sys.executable).parent / "gitreg"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "gitreg"]


def run_checked(argv: Sequence[str], **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(list(argv), capture_output=True, check=False, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stderr.decode(errors='replace')[-2000:]}")
    return p


# -- timing -----------------------------------------------------------------------------------------
def measure(
    fn: Callable[[], object],
    runs: int,
    before: Callable[[], object] | None = None,
) -> list[float]:
    """Wall time (perf_counter) of ``fn`` over ``runs`` runs; ``before`` runs untimed each time."""
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure_cmd(argv: Sequence[str], runs: int, **kw) -> tuple[list[float], list[float]]:
    """Wall and CPU (user+sys of the process and everything it waited for) of a command."""
    import resource

    walls, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run_checked(argv, **kw)
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    return walls, cpus


def med(ts: Sequence[float]) -> float:
    return statistics.median(ts)


def stats(ts: Sequence[float]) -> str:
    return f"min {min(ts):8.3f} s  median {med(ts):8.3f} s  (n={len(ts)})"


def row(
    label: str,
    ts: Sequence[float],
    target: float | None = None,
    width: int = 58,
    cpu: Sequence[float] | None = None,
) -> None:
    """One result line; with ``target`` (seconds), says whether the median meets it."""
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target:g} s: {'MET' if med(ts) <= target else 'MISSED'}"
    extra = f"  cpu median {med(cpu):6.3f} s" if cpu else ""
    print(f"  {label:<{width}} {stats(ts)}{extra}{verdict}")


def ratio_line(label: str, num: float, den: float, target: float | None = None, width: int = 58) -> None:
    r = num / den if den else float("inf")
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target:g}: {'MET' if r <= target else 'MISSED'}"
    print(f"  {label:<{width}} {r:10.2f}x{verdict}")


def machine_note() -> None:
    """CPU count and load: the timings are wall times, so a busy machine inflates them."""
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(f"[{os.cpu_count()} CPUs, load average {load}; python {sys.version.split()[0]}]")


def header(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 90 - len(text)))


# -- baselines and measurements ----------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def copy_hashing(src: Path, dst: Path) -> str:
    """One pass: read 1 MiB blocks, hash and write them (the floor for 'store an artifact')."""
    h = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(CHUNK):
            h.update(block)
            fout.write(block)
    return h.hexdigest()


def du_bytes(path: Path) -> int:
    """Apparent size of everything under ``path`` (``du -sb``); 0 if it does not exist."""
    if not path.exists():
        return 0
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def tree_bytes(path: Path) -> int:
    """Sum of regular file sizes under ``path`` (what was written there)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.isfile(p) and not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def drop_caches_if_root() -> bool:
    """Try to drop the page cache (root only, and often refused in containers); True on success."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def settle(root: Path, warm: Path | None = None, min_size: int = 1 << 20) -> None:
    """Flush writes, evict the page cache of big files under ``root``, then read ``warm`` back in.

    Every timed step then starts alike: its input cached (as right after an export) and nothing
    else of the fixture's in memory. Without this, the VMs these benchmarks run on reclaim page
    cache in the foreground once a GB or two of it is in use, so whichever step runs once
    earlier steps' outputs piled up pays for it (e.g. the 4th and 5th 200 MB push: 0.4-0.9 s).
    """
    os.sync()
    keep = warm.resolve() if warm is not None else None
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                if path.is_symlink() or path.stat().st_size < min_size or path.resolve() == keep:
                    continue
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    if warm is not None:
        sha256_file(warm)


# -- fixtures -----------------------------------------------------------------------------------------
def make_big_onnx(path: Path, n_floats: int, seed: int) -> Path:
    """A valid ONNX model (``Y = X @ W``) whose float32 initializer ``W`` holds ``n_floats`` values.

    ``W`` has shape ``(n_floats // 4, 4)``; the file is ``4 * n_floats`` bytes plus ~200 bytes.
    Different seeds give different bytes (so different LFS objects).
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rows = n_floats // 4
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, 4), dtype=np.float32)
    init = numpy_helper.from_array(w, "W")
    del w
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", rows])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "bench", [x], [y], [init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="gitreg-bench")
    model.ir_version = 8
    onnx.save_model(model, str(path))
    return path
