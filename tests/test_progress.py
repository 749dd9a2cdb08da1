"""Progress on a terminal: the export's long steps and the transfers, on one line of stderr.

The line is for people watching a terminal: it appears on a real TTY (a pty here), never when stderr
is a pipe or under ``--json``. ``GITREG_PROGRESS_DELAY=0`` makes it appear at once, so a small model
shows it.
"""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gitreg.cli.progress import Line, delay_from_env
from gitreg.ml import runtime
from tests.support.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_stage_reports_each_step_then_the_enclosing_one() -> None:
    heard: list[str | None] = []
    with runtime.stage("nobody listens"):  # no reporter: nothing happens
        pass
    with runtime.reporting(heard.append):
        outer = runtime.stage("exporting ONNX")
        with outer, runtime.stage("checking parity (onnxruntime)"):  # entered in this order, left in reverse
            pass
    assert heard == ["exporting ONNX", "checking parity (onnxruntime)", "exporting ONNX", None]


def test_line_draws_a_step_with_its_clock_and_wipes_it_when_it_ends() -> None:
    out = io.StringIO()
    line = Line(out, delay=0)
    line.status("exporting ONNX")
    assert out.getvalue() == "\rexporting ONNX... 0 s"
    line.step_start -= 12  # twelve seconds later
    line.tick()
    assert out.getvalue().endswith("\rexporting ONNX... 12 s")
    line.status(None)
    assert out.getvalue().endswith("\r" + " " * len("exporting ONNX... 12 s") + "\r")
    line("storing model.onnx", 50_000_000, 100_000_000)
    assert out.getvalue().endswith("\rstoring model.onnx: 50.0 MB / 100.0 MB (50%)")


def test_line_stays_silent_before_its_delay() -> None:
    out = io.StringIO()
    line = Line(out, delay=60)
    line.status("exporting ONNX")
    line.tick()
    line("storing model.onnx", 1, 2)
    line.status(None)
    line.close()
    assert out.getvalue() == ""


def test_delay_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITREG_PROGRESS_DELAY", "0.5")
    assert delay_from_env() == 0.5
    monkeypatch.setenv("GITREG_PROGRESS_DELAY", "soon")
    assert delay_from_env() == 2.0


def write_training(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train.py"
    train.write_text(
        "import torch\n"
        "def main():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))\n"
    )
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32))
    return train, x


def run_on_pty(argv: list[str], env: dict[str, str], timeout: float = 240) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    main, child = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=child, stderr=child, env=env, close_fds=True)
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_push_shows_its_steps_on_a_terminal_and_nowhere_else(tmp_path: Path, registry_path: Path) -> None:
    train, x = write_training(tmp_path)
    env = {**os.environ, "GITREG_PROGRESS_DELAY": "0", "PYTHONPATH": str(ROOT)}
    push = ["push", "--from-python", f"{train}:main", "--example-inputs", str(x), "--registry", str(registry_path)]
    code, shown = run_on_pty([sys.executable, "-m", "gitreg", *push, "--name", "tty"], env)
    assert code == 0, shown
    assert "\rexporting ONNX... " in shown
    assert "\rchecking parity (onnxruntime)... " in shown
    assert "registered tty@v1.0.0" in shown.replace("\r", "\n") or "tty@v1.0.0" in shown, shown
    # a pipe: the same push prints no progress at all
    piped = run_cli(*push, "--name", "piped", env={"GITREG_PROGRESS_DELAY": "0"}, timeout=240)
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stderr and "exporting ONNX" not in piped.stderr
    # --json on a terminal: the JSON alone
    code, shown = run_on_pty([sys.executable, "-m", "gitreg", *push, "--name", "quiet", "--json"], env)
    assert code == 0, shown
    assert "exporting ONNX" not in shown and "checking parity" not in shown
    assert shown.lstrip().startswith("{"), shown


@pytest.mark.http
def test_http_transfers_show_bytes_and_rate_on_a_terminal_only(tmp_path: Path) -> None:
    """git-lfs reports an HTTP upload's and download's bytes (GIT_LFS_PROGRESS); gitreg draws them."""
    from tests.support.onnxfiles import make_onnx
    from tests.support.servers import http_registry

    model = make_onnx(tmp_path / "model.onnx")
    blob = tmp_path / "weights.bin"
    blob.write_bytes(os.urandom(24 << 20))
    env = {**os.environ, "GITREG_PROGRESS_DELAY": "0", "PYTHONPATH": str(ROOT)}
    with http_registry(tmp_path / "srv") as srv:
        _, url = srv.create_repo()
        assert run_cli("init", "--registry", url).returncode == 0
        push = [sys.executable, "-m", "gitreg", "push", str(model), "--file", str(blob), "--name", "big", "-r", url]
        code, shown = run_on_pty(push, env)
        assert code == 0, shown
        assert "\ruploading 2 object(s): " in shown and "(100%), " in shown and "B/s" in shown, shown
        # another machine's first pull downloads through git-lfs, with the same line
        other = {**env, "XDG_CACHE_HOME": str(tmp_path / "other-cache")}
        pull = [sys.executable, "-m", "gitreg", "pull", "big", "-o", str(tmp_path / "out"), "-r", url]
        code, shown = run_on_pty(pull, other)
        assert code == 0, shown
        assert "\rdownloading weights.bin: " in shown and "(100%)" in shown, shown
        assert (tmp_path / "out" / "weights.bin").read_bytes() == blob.read_bytes()
        # not a terminal: nothing but the result
        piped = run_cli(
            "pull", "big", "-o", str(tmp_path / "out2"), "-r", url,
            env={"GITREG_PROGRESS_DELAY": "0", "XDG_CACHE_HOME": str(tmp_path / "third-cache")},
        )  # fmt: skip
        assert piped.returncode == 0 and piped.stderr == "", piped.stderr
