"""The README as a test: its fenced blocks, how to run them, and the files a reader brings.

:func:`blocks` reads README.md into :class:`Block` values (language, text, first line). A block
that cannot run on this machine says why in an HTML comment right above its fence,
``<!-- not run by tests/test_readme.py: REASON -->``. :func:`shell_script` turns an ``sh`` block
into one ``bash`` script whose line numbers are README.md's, so a failing command is reported at
its README line; a command whose trailing comment starts with ``exit N`` (``# exit 3: ...``) must
exit with N. :func:`python_script` does the same for a ``python`` block, after a :func:`prelude`
that stands for the training script the README's Python starts at the end of.

:func:`write_fixtures` writes what a reader brings to the walkthrough into a working directory:
``train.py`` (a 64-32-10 torch MLP on scikit-learn's bundled digits; ``main()`` returns a dict of
``gitreg.push`` arguments), ``model.onnx`` (that MLP exported), ``out/`` (a wider one as
``model.onnx`` + ``model.pt``), ``metrics.json``, ``train.npz``, ``holdout.npz`` and ``X.npz``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.repo import REPO_ROOT

README = REPO_ROOT / "README.md"
MARKER = "not run by tests/test_readme.py"
_MARKER = re.compile(r"^<!--\s*not run by tests/test_readme\.py(?::\s*(?P<reason>.*?))?\s*-->$")
_FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)\s*$")
_EXIT = re.compile(r"exit (?P<code>\d+)\b")


@dataclass(frozen=True)
class Block:
    """A fenced block of README.md: ``line`` is the README line of its first line of text."""

    lang: str
    text: str
    line: int
    not_run: str | None = None  # the reason given by a marker right above the fence ("" if none given)

    @property
    def where(self) -> str:
        return f"README.md:{self.line}"


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of ``text`` (README.md by default), in order."""
    lines = (README.read_text() if text is None else text).splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        above = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        marker = _MARKER.match(above)
        end = i + 1
        while end < len(lines) and lines[end].strip() != m["fence"]:
            end += 1
        if end == len(lines):
            raise ValueError(f"README.md:{i + 1}: a fence that is never closed")
        not_run = (marker["reason"] or "") if marker else None
        found.append(Block(m["lang"], "\n".join(lines[i + 1 : end]) + "\n", i + 2, not_run))
        i = end + 1
    return found


def markers(text: str | None = None) -> list[tuple[int, str]]:
    """(line, text) of every HTML comment line with the not-run marker: each must sit right above a fence."""
    lines = (README.read_text() if text is None else text).splitlines()
    return [(n, ln) for n, ln in enumerate(lines, 1) if ln.lstrip().startswith("<!--") and MARKER in ln]


# -- shell -------------------------------------------------------------------------------------------
def split_comment(line: str) -> tuple[str, str | None]:
    """(command, trailing comment without its ``#``): a ``#`` outside quotes that starts a word."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                continue
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), None


def expected_exit(line: str) -> int:
    """The exit code a README command line promises: N when its comment starts with ``exit N``, else 0."""
    _, comment = split_comment(line)
    m = _EXIT.match(comment or "")
    return int(m["code"]) if m else 0


def shell_script(block: Block) -> str:
    """A bash script running ``block`` under ``set -euo pipefail`` with README.md's line numbers: a
    failing command names its README line; a command promising ``exit N`` must exit with exactly N."""
    head = "set -euo pipefail; trap 'echo \"README.md:$LINENO: exit $?\" >&2' ERR"
    body = []
    for line in block.text.splitlines():
        code = expected_exit(line)
        if code:
            command, _ = split_comment(line)
            if command.endswith("\\"):
                raise ValueError(f"README.md: `exit {code}` must be on a command's last line: {line}")
            line = (
                f"__rc=0; {command} || __rc=$?; if [ $__rc != {code} ]; then "
                f'echo "README.md:$LINENO: exit $__rc, the README says {code}" >&2; exit 1; fi'
            )
        body.append(line)
    return head + "\n" * (block.line - 1) + "\n".join(body) + "\n"


# -- python ------------------------------------------------------------------------------------------
def reads_before_binding(code: str, name: str) -> bool:
    """Whether ``code`` reads ``name`` before it binds it (so the prelude must provide it)."""
    uses = sorted(
        (node.lineno, node.col_offset, isinstance(node.ctx, ast.Load))
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Name) and node.id == name
    )
    return bool(uses) and uses[0][2]


def prelude(block: Block) -> str:
    """What the README's Python has in hand at the end of a training script: the digits split, and
    ``model`` (trained by ``train.py``) when the block uses one it did not load itself."""
    lines = ["from train import digits, train_mlp", "X_train, X_test, y_train, y_test = digits()"]
    if reads_before_binding(block.text, "model"):
        lines.append("model = train_mlp(X_train, y_train)")
    return "\n".join(lines) + "\n"


def python_script(block: Block) -> str:
    """The prelude, then ``block`` compiled as README.md with its own line numbers (for tracebacks)."""
    code = "\n" * (block.line - 1) + block.text
    return f"{prelude(block)}exec(compile({code!r}, 'README.md', 'exec'))\n"


# -- what a reader brings ----------------------------------------------------------------------------
TRAIN_PY = '''\
"""Train a small MLP on scikit-learn's bundled digits (8x8 images, 64 features, 10 classes)."""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def digits():
    """X_train, X_test, y_train, y_test: pixels scaled to [0, 1], 30% held out (the demo's split)."""
    x, y = load_digits(return_X_y=True)
    return train_test_split(
        (x / 16.0).astype(np.float32), y.astype(np.int64), test_size=0.3, random_state=0, stratify=y
    )


def train_mlp(x, y, hidden=32, steps=100, lr=1e-2):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return round(float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean()), 4)


def main():
    X_train, X_test, y_train, y_test = digits()
    model = train_mlp(X_train, y_train)
    return {
        "model": model,
        "example_inputs": X_train[:2],
        "eval_data": (X_test, y_test),
        "metrics": {"accuracy": accuracy(model, X_test, y_test)},
        "params": {"hidden": 32, "steps": 100, "lr": 1e-2},
        "class_names": list(range(10)),
    }
'''

# Run in the working directory by a fresh interpreter: exports what `gitreg push FILES` registers.
_EXPORT = """\
import json, shutil, tempfile
from pathlib import Path

import numpy as np

from gitreg.ml.export import export
from train import accuracy, digits, train_mlp

X_train, X_test, y_train, y_test = digits()
np.savez("train.npz", X=X_train, y=y_train)
np.savez("holdout.npz", X=X_test, y=y_test)
np.savez("X.npz", X=X_test[:20])
narrow, wide = train_mlp(X_train, y_train), train_mlp(X_train, y_train, hidden=64)
with tempfile.TemporaryDirectory() as tmp:
    export(narrow, Path(tmp), X_train[:2], class_names=list(range(10)))
    shutil.copy(Path(tmp) / "model.onnx", "model.onnx")
Path("out").mkdir()
export(wide, Path("out"), X_train[:2], class_names=list(range(10)))
Path("metrics.json").write_text(json.dumps({"accuracy": accuracy(wide, X_test, y_test)}))
"""


def write_fixtures(work: Path, home: Path) -> None:
    """Write what a reader brings into ``work``, and an ssh key into ``home``/.ssh."""
    (work / "train.py").write_text(TRAIN_PY)
    subprocess.run([sys.executable, "-c", _EXPORT], cwd=work, check=True, capture_output=True, text=True, timeout=300)
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    key = ssh / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@example.com", "-f", str(key)],
        check=True,
        capture_output=True,
    )
