"""SIGKILL a push over HTTP at 20 random moments; the registry stays whole and the retry succeeds.

A push over HTTP runs in phases: copy and hash the artifact into the machine's cache, upload it to
giftless (``git lfs push``), then one ``git push --atomic`` of main and the tag, which the server's
pre-receive hook checks before the refs move. Each kill aims at one phase — before the objects,
mid-upload, before the ref update, just after it — by watching the push's processes and the served
repository, waits a random time (seeded) inside that phase, and kills the push's whole process group
(the job dies with its git and git-lfs children, as when CI cancels it). Where the kill really landed
is read off the same signals at the moment of the kill and counted.

After each kill: no process of the push left, the served repository whole (``assert_consistent``), and
either nothing of the version or all of it (tag on main, object in giftless); then the same machine,
with the cache the killed push left, pushes the same file again and must succeed. At the end a
fresh machine's ``gitreg check --deep`` downloads and hashes every artifact.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.team import (
    artifact_sha256,
    assert_consistent,
    group_processes,
    kill_group,
    lfs_object,
    machine,
    read_facts,
    serve_registry,
    sha256_of,
    wait_group_gone,
    wait_server_idle,
)
from tests.support.onnxfiles import make_onnx
from tests.support.repo import git
from tests.support.servers import RestartableServer, restartable_http_registry

pytestmark = [pytest.mark.slow, pytest.mark.http]

KILLS = 20
MAX_RUNS = 40  # a push that ends before its kill lands is a run without a kill; bounded
PAD = 24_000_000  # artifact bytes: the upload lasts long enough to be killed in the middle
PHASES = ("before-objects", "mid-upload", "before-ref-update", "after-ref-update")
SEED = 13


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RestartableServer, Path, str]]:
    with restartable_http_registry(tmp_path / "srv") as srv:
        bare, url = serve_registry(srv.server)
        yield srv, bare, url


def main_of(bare: Path) -> str:
    return git("--git-dir", str(bare), "rev-parse", "refs/heads/main")


def uploading(procs: list[tuple[int, str]]) -> bool:
    return any("lfs" in cmd and " push" in cmd for _, cmd in procs)


def pushing_refs(procs: list[tuple[int, str]]) -> bool:
    """``git push --porcelain`` (gitreg's ref update) is running; the fetch before it also runs git-remote-http."""
    return any(" push --porcelain" in cmd for _, cmd in procs)


def test_sigkill_push_over_http_at_random_moments(served: tuple[RestartableServer, Path, str], tmp_path: Path) -> None:
    srv, bare, url = served
    rng = random.Random(SEED)
    ci = machine(tmp_path, "ci")
    auditor = machine(tmp_path, "auditor")
    acked: dict[str, str] = {}  # tag -> sha256, from the retries' exit 0
    landed_unacked: list[str] = []  # versions a killed push completed on the server
    hit: Counter[str] = Counter()
    runs = kills = 0

    while kills < KILLS and runs < MAX_RUNS:
        target = PHASES[runs % len(PHASES)]
        runs += 1
        f = make_onnx(tmp_path / "artifacts" / f"big{runs}.onnx", seed=runs, pad=PAD)
        digest, size = sha256_of(f), f.stat().st_size
        stored = lfs_object(srv.server, digest)
        main_before = main_of(bare)

        def landed(main_before: str = main_before) -> bool:
            return main_of(bare) != main_before

        def object_done(stored: Path = stored, size: int = size) -> bool:
            return stored.is_file() and stored.stat().st_size == size

        proc = ci.spawn("push", str(f), "--name", "big", "--registry", url, "--json")
        # Wait for the target phase to begin, then a random moment inside it.
        trigger: Callable[[list[tuple[int, str]]], bool]
        if target == "before-objects":  # from gitreg's first git (its fetch): past the interpreter's start-up
            trigger, jitter = (lambda procs: len(procs) > 1), rng.uniform(0.0, 0.5)
        elif target == "mid-upload":
            trigger, jitter = uploading, rng.uniform(0.0, 0.1)
        elif target == "before-ref-update":
            trigger, jitter = pushing_refs, rng.uniform(0.0, 0.03)
        else:
            trigger, jitter = (lambda procs: landed()), rng.uniform(0.0, 0.01)
        fired_at = None
        state = (False, False, False)
        while proc.poll() is None:
            procs = group_processes(proc.pid)
            now = time.monotonic()
            if fired_at is None and trigger(procs):
                fired_at = now
            # Never wait past the phase aimed at: a push of "before-objects" that starts uploading is killed at once.
            if fired_at is not None and (now - fired_at >= jitter or (target == "before-objects" and uploading(procs))):
                state = (landed(), object_done(), uploading(procs))
                kill_group(proc.pid)
                break
            time.sleep(0.002)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # finished before the kill: a run without a kill
            acked[json.loads(out)["tag"]] = digest
            continue
        assert proc.returncode == -9, (proc.returncode, err)
        kills += 1
        was_landed, was_uploaded, was_uploading = state
        where = (
            "after-ref-update" if was_landed
            else "before-ref-update" if was_uploaded
            else "mid-upload" if was_uploading
            else "before-objects"
        )  # fmt: skip
        hit[where] += 1
        wait_group_gone(proc.pid)
        wait_server_idle(srv.pid)

        # All of the version or none of it, and the registry whole either way.
        facts = assert_consistent(bare, srv.server, url, auditor, cli_check=kills % 5 == 0)
        new = [t for t in facts.versions if t not in acked and t not in landed_unacked]
        assert len(new) <= 1, new
        if new:
            assert landed() and facts.versions[new[0]] == facts.main[0] and object_done(), (where, new)
            landed_unacked.append(new[0])
        else:
            assert not landed() and where != "after-ref-update", where

        # The retry, from the same machine and the cache the kill left behind.
        p = ci.run("push", str(f), "--name", "big", "--registry", url, "--json")
        assert p.returncode == 0, (where, p.stderr)
        tag = json.loads(p.stdout)["tag"]
        assert tag not in acked and tag not in landed_unacked, tag
        acked[tag] = digest
        assert read_facts(bare).versions[tag] == main_of(bare)

    print(
        f"\nSIGKILL over HTTP: {runs} runs, {kills} kills ({', '.join(f'{p} {hit[p]}' for p in PHASES)}), "
        f"{len(landed_unacked)} killed pushes had landed, {len(acked)} acknowledged pushes, retries failed: 0"
    )
    assert kills == KILLS, (runs, kills)
    assert all(hit[p] for p in PHASES), hit

    # Nothing lost: every acknowledged version holds its bytes, checked by a machine that never pushed.
    facts = assert_consistent(bare, srv.server, url, auditor, deep=True)
    assert set(facts.versions) == set(acked) | set(landed_unacked)
    for tag, digest in acked.items():
        assert artifact_sha256(bare, tag) == digest, tag
    # The machine whose pushes were killed keeps no half-written file in its cache.
    [cache] = ci.cache_repos()
    leftovers = [p for p in cache.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or "incomplete" in p.parts)]
    assert leftovers == [], leftovers
