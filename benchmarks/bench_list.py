"""Listing speed on a large registry: gitreg vs a naive GitPython walk (and optionally GTO).

Fixture: ``Registry(path).init()`` makes a bare registry; one ``git fast-import`` stream then adds,
on top of its ``main``, one commit per version (100 models x 100 versions by default), each
changing ``models/mNN/model.toml`` (a valid sidecar) and a pointer-sized ``models/mNN/model.onnx``
LFS pointer, an annotated tag ``mNN@v1.J.0`` per version with GTO's exact message, and two stage
tags per model (``mNN#prod#1`` -> v1.(V-1).0, ``mNN#staging#2`` -> v1.V.0). Tagger times strictly
increase. Refs are loose as fast-import leaves them; gitreg is timed on loose refs and again after
``git pack-refs --all`` (how clone/fetch/gc leave them), the baselines on packed refs.

    python benchmarks/bench_list.py                       # 10,000 versions, no GTO (~1 min)
    python benchmarks/bench_list.py --gto                 # + gto show --json (~70 s a run at 10k)
    python benchmarks/bench_list.py --versions-per-model 10 --gto   # 1,000 versions, fast
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    IDENTITY,
    git,
    gitreg_argv,
    header,
    isolate,
    machine_note,
    measure,
    measure_cmd,
    med,
    ratio_line,
    row,
    run_checked,
)

# Isolated only when run: bench_scale.py imports the fixture builder from here, after its own isolate().
ROOT = isolate("list") if __name__ == "__main__" else Path()
os.environ.update(IDENTITY)  # explicit: author/committer fixed before gitreg is imported

from gitreg import Registry  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
GTO_BIN = REPO_ROOT / ".venvs" / "gto" / "bin" / "gto"
T0 = 1_700_000_000
TARGET = 0.3


def sidecar(name: str, version: str, oid: str, size: int, when: int, j: int) -> bytes:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    return (
        "schema = 1\n\n"
        "[model]\n"
        f'author = "Bench Bot <bench@example.com>"\n'
        f'created = "{created}"\n'
        'framework = "onnx"\n'
        f'name = "{name}"\n'
        f'version = "{version}"\n\n'
        "[artifacts.onnx]\n"
        "ir_version = 8\n"
        "opset = 17\n"
        'path = "model.onnx"\n'
        f'sha256 = "{oid}"\n'
        f"size = {size}\n\n"
        "[metrics]\n"
        f"accuracy = {0.5 + j / 1000:.3f}\n"
    ).encode()


def pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def data(b: bytes) -> bytes:
    return b"data %d\n" % len(b) + b + b"\n"


def build(path: Path, models: int, versions: int, real: str | None = None) -> tuple[int, float]:
    """Init the registry, then one fast-import stream; returns (number of tags, seconds).

    Artifacts are pointers to objects that do not exist, except for model ``real``: its versions'
    (small) objects are written to the registry's LFS store, so ``pull`` of it works.
    """
    t0 = time.perf_counter()
    Registry(path).init()
    base = git("--git-dir", str(path), "rev-parse", "refs/heads/main")
    who = f"{IDENTITY['GIT_COMMITTER_NAME']} <{IDENTITY['GIT_COMMITTER_EMAIL']}>"
    out = bytearray()
    when = T0
    mark = 0
    marks: dict[tuple[int, int], int] = {}
    for j in range(1, versions + 1):
        for m in range(models):
            name, version = f"m{m:02d}", f"1.{j}.0"
            oid = hashlib.sha256(f"{name}@{version}".encode()).hexdigest()
            size = 50_000_000 + j
            if name == real:
                payload = f"{name}@{version}\n".encode() * 64
                oid, size = hashlib.sha256(payload).hexdigest(), len(payload)
                obj = path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
                obj.parent.mkdir(parents=True, exist_ok=True)
                obj.write_bytes(payload)
            when += 1
            mark += 1
            marks[(m, j)] = mark
            out += b"commit refs/heads/main\nmark :%d\n" % mark
            out += f"author {who} {when} +0000\ncommitter {who} {when} +0000\n".encode()
            out += data(f"Register {name} v{version}".encode())
            if mark == 1:
                out += f"from {base}\n".encode()
            out += f"M 100644 inline models/{name}/model.toml\n".encode()
            out += data(sidecar(name, version, oid, size, when, j))
            out += f"M 100644 inline models/{name}/model.onnx\n".encode()
            out += data(pointer(oid, size))
            out += b"\n"
            out += f"tag {name}@v{version}\nfrom :{mark}\ntagger {who} {when} +0000\n".encode()
            # GTO writes no trailing newline; fast-import's `data` takes the bytes exactly.
            out += data(f"Registering artifact {name} version v{version}".encode())
    ntags = models * versions
    for m in range(models):
        name = f"m{m:02d}"
        for counter, (stage, j) in enumerate((("prod", max(versions - 1, 1)), ("staging", versions)), 1):
            when += 1
            out += f"tag {name}#{stage}#{counter}\nfrom :{marks[(m, j)]}\ntagger {who} {when} +0000\n".encode()
            out += data(f"Assigning stage {stage} to artifact {name} version v1.{j}.0".encode())
            ntags += 1
    out += b"done\n"
    p = subprocess.run(
        ["git", "--git-dir", str(path), "fast-import", "--quiet", "--done"],
        input=bytes(out),
        capture_output=True,
        check=False,
    )
    if p.returncode != 0:
        raise RuntimeError(f"fast-import failed: {p.stderr.decode(errors='replace')}")
    return ntags, time.perf_counter() - t0


def check_fixture(path: Path, models: int, versions: int) -> None:
    summaries = {s.name: s for s in Registry(path).list()}
    m = f"m{min(42, models - 1):02d}"
    s = summaries[m]
    want_prod = f"v1.{max(versions - 1, 1)}.0"
    ok = (
        len(summaries) == models
        and s.latest == f"v1.{versions}.0"
        and s.versions == versions
        and s.stages.get("prod") == want_prod
        and s.stages.get("staging") == f"v1.{versions}.0"
    )
    print(
        f"  fixture check ({m}: latest {s.latest}, {s.versions} versions, stages {dict(s.stages)}): "
        f"{'ok' if ok else 'UNEXPECTED'}"
    )
    if not ok:
        sys.exit(1)


def time_gitreg(path: Path, model: str, runs: int, label: str) -> dict[str, list[float]]:
    cli = gitreg_argv()
    reg = str(path)
    cases = {
        "gitreg list --json": [*cli, "list", "--registry", reg, "--json"],
        f"gitreg history {model} --json": [*cli, "history", model, "--registry", reg, "--json"],
        f"gitreg list {model}": [*cli, "list", model, "--registry", reg],
    }
    res: dict[str, list[float]] = {}
    header(f"gitreg on {label} refs (subprocess wall, {runs} runs)")
    for name, argv in cases.items():
        run_checked(argv)  # warm-up, untimed
        res[name], cpu = measure_cmd(argv, runs)
        res[name + " cpu"] = cpu
        row(name, res[name], TARGET, cpu=cpu)
    Registry(path).list()
    res["Registry(path).list()"] = measure(lambda: Registry(path).list(), runs)
    row("Registry(path).list()  [in-process]", res["Registry(path).list()"], TARGET)
    res["Registry(path).versions()"] = measure(lambda: Registry(path).versions(model), runs)
    row(f"Registry(path).versions({model!r})  [in-process]", res["Registry(path).versions()"])
    return res


def floors(path: Path, runs: int) -> dict[str, list[float]]:
    header(f"floors (context, {runs} runs)")
    # What `gitreg list` asks for (gitreg.store.git._LEAN_FORMAT); history and show add tagger and subject.
    fmt = "%(refname:lstrip=2)%00%(objecttype)%00%(objectname)%00%(*objectname)%00%(taggerdate:raw)"
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import gitreg.cli, gitreg.registry'": [sys.executable, "-c", "import gitreg.cli, gitreg.registry"],
        "git for-each-ref refs/tags (gitreg list's format)": [
            "git", "--git-dir", str(path), "for-each-ref", f"--format={fmt}", "refs/tags",
        ],
    }  # fmt: skip
    out = {}
    for name, argv in cases.items():
        out[name], cpu = measure_cmd(argv, runs)
        row(name, out[name], cpu=cpu)
    return out


def gitpython_walk(path: Path, cap: int, runs: int) -> tuple[float, list[float], int]:
    """The naive per-tag walk on the first ``cap`` tags; returns (extrapolated s, raw times, n)."""
    import git as gitpython

    times, n_all = [], 0
    for _ in range(runs):
        repo = gitpython.Repo(str(path))
        t0 = time.perf_counter()
        tags = list(repo.tags)
        n_all = len(tags)
        t_list = time.perf_counter() - t0
        # An evenly spaced sample: GitPython scans packed-refs from the top for each dereference and
        # stops at the match, so the first `cap` tags (m00..m09) would be cheaper than the average.
        sample = tags[:: max(1, n_all // cap)][:cap]
        t1 = time.perf_counter()
        for t in sample:
            _ = (t.commit.hexsha, t.tag.tagged_date)
        t_loop = time.perf_counter() - t1
        repo.close()
        times.append(t_list + t_loop * n_all / len(sample))
    return med(times), times, n_all


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--versions-per-model", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each gitreg command (median)")
    ap.add_argument("--gitpython-cap", type=int, default=1000, help="tags walked by GitPython, then extrapolated")
    ap.add_argument("--gitpython-runs", type=int, default=3)
    ap.add_argument("--gto", action="store_true", help=f"also time {GTO_BIN} show --json")
    ap.add_argument("--gto-runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temp fixture")
    args = ap.parse_args()
    if not 1 <= args.models <= 100:
        ap.error("--models must be 1..100 (names are mNN)")

    path = ROOT / "registry.git"
    model = f"m{min(42, args.models - 1):02d}"
    machine_note()
    header("fixture")
    ntags, secs = build(path, args.models, args.versions_per_model)
    nversions = args.models * args.versions_per_model
    print(
        f"  {args.models} models x {args.versions_per_model} versions = {nversions} versions, "
        f"{ntags} tags, built in {secs:.2f} s (init + fast-import, loose refs)"
    )
    check_fixture(path, args.models, args.versions_per_model)

    loose = time_gitreg(path, model, args.runs, "loose")
    git("--git-dir", str(path), "pack-refs", "--all")
    packed = time_gitreg(path, model, args.runs, "packed")
    fl = floors(path, args.runs)

    header(f"baseline (a): GitPython per-tag walk on packed refs, {args.gitpython_cap} evenly spaced tags")
    gp, gp_times, n_all = gitpython_walk(path, args.gitpython_cap, args.gitpython_runs)
    cap = min(args.gitpython_cap, n_all)
    note = "measured" if cap >= n_all else f"EXTRAPOLATED from {cap} evenly spaced of {n_all} tags"
    print(
        f"  for t in repo.tags: t.commit.hexsha; t.tag.tagged_date   "
        f"min {min(gp_times):8.2f} s  median {gp:8.2f} s  (n={len(gp_times)}; {note})"
    )

    gto_med = None
    if args.gto:
        header(f"baseline (b): gto show --json -r PATH ({args.gto_runs} runs, packed refs)")
        if not GTO_BIN.exists():
            print(f"  skipped: {GTO_BIN} not found (create it: python -m tests.support.gto)")
        else:
            argv = [str(GTO_BIN), "show", "--json", "-r", str(path)]
            gto_times, gto_cpu = measure_cmd(argv, args.gto_runs)
            row("gto show --json -r PATH", gto_times, cpu=gto_cpu)
            gto_med = med(gto_times)
            gto_out = subprocess.run(argv, capture_output=True, text=True).stdout
            import json

            g = json.loads(gto_out)
            mine = {s.name: s for s in Registry(path).list()}
            same = (
                all(
                    g.get(n, {}).get("version") == s.latest
                    and {k: v for k, v in g.get(n, {}).get("stage", {}).items() if v} == dict(s.stages)
                    for n, s in mine.items()
                )
                if isinstance(g, dict)
                else False
            )
            print(f"  gto and gitreg agree on latest and stage holders of all {len(mine)} models: {same}")

    header("ratios (baseline median / gitreg median, packed refs; higher = gitreg faster)")
    for name in (
        "gitreg list --json",
        f"gitreg history {model} --json",
        f"gitreg list {model}",
        "Registry(path).list()",
    ):
        ratio_line(f"GitPython walk{' (extrapolated)' if cap < n_all else ''} / {name}", gp, med(packed[name]))
        if gto_med is not None:
            ratio_line(f"gto show --json / {name}", gto_med, med(packed[name]))
    header("targets (median <= 0.3 s wall)")
    for lbl, res in (("loose", loose), ("packed", packed)):
        for name in (
            "gitreg list --json",
            f"gitreg history {model} --json",
            f"gitreg list {model}",
            "Registry(path).list()",
        ):
            v = med(res[name])
            cpu = f"  (cpu {med(res[name + ' cpu']):.3f} s)" if name + " cpu" in res else ""
            print(f"  [{lbl:6}] {name:<40} {v:6.3f} s  {'MET' if v <= TARGET else 'MISSED'}{cpu}")
    startup = med(fl["python -c 'import gitreg.cli, gitreg.registry'"])
    machine_note()
    print(f"\n  (of each CLI run, ~{startup:.3f} s is interpreter start + importing gitreg.cli and gitreg.registry)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
