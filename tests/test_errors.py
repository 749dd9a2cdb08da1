"""The error tree: every ``GitregError`` subclass lives in ``gitreg/errors.py`` and its docstring draws
them all, with the exit codes the classes really have."""

from __future__ import annotations

import importlib
import pkgutil
import re

import gitreg
from gitreg import errors

TREE_LINE = re.compile(r"^\s*(?:[├└]── )?(\w+)\s*(?:exit (\d))?")


def drawn() -> dict[str, int | None]:
    """Class name -> exit code written beside it (None when the line names none: the default, 1)."""
    doc = errors.__doc__ or ""
    out: dict[str, int | None] = {}
    for line in doc.split("::", 1)[1].splitlines():
        m = TREE_LINE.match(line)
        if m and m.group(1)[0].isupper():
            out[m.group(1)] = int(m.group(2)) if m.group(2) else None
    return out


def defined() -> dict[str, type[errors.GitregError]]:
    return {
        name: obj
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.GitregError) and obj.__module__ == errors.__name__
    }


def test_the_docstring_tree_lists_every_class_with_its_exit_code() -> None:
    tree, classes = drawn(), defined()
    assert set(tree) == set(classes)
    for name, code in tree.items():
        assert classes[name].exit_code == (code if code is not None else 1), name


def test_every_gitreg_error_lives_in_errors_py() -> None:
    for info in pkgutil.walk_packages(gitreg.__path__, "gitreg."):
        if info.name in ("gitreg.__main__", "gitreg.hook"):
            continue  # entry points: importing them runs them
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if isinstance(obj, type) and issubclass(obj, errors.GitregError):
                assert obj.__module__ == "gitreg.errors", f"{info.name}.{name} is defined outside gitreg/errors.py"


def test_gate_and_parity_failures_carry_their_reports() -> None:
    report = object()
    assert errors.GateFailed("no", report=report).report is report
    assert errors.ParityFailed("no", report=report).report is report
    assert errors.GateFailed("no").exit_code == errors.ParityFailed("no").exit_code == 3
