"""The public surface: ``gitreg.__all__`` resolves name by name, ``import gitreg`` stays light, and no
subpackage is named like a public function (``import gitreg.load`` would replace ``gitreg.load``)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import gitreg

HEAVY = ("torch", "onnx", "onnxruntime", "sklearn", "matplotlib")
PUBLIC_MODULES = {"errors"}  # public names that are modules on purpose: gitreg.errors


@pytest.mark.parametrize("name", gitreg.__all__)
def test_every_public_name_resolves(name: str) -> None:
    obj = getattr(gitreg, name)
    assert obj is not None
    assert name in dir(gitreg)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gitreg.nope  # noqa: B018


@pytest.mark.parametrize("statement", ["import gitreg", "import gitreg.cli", "import gitreg.errors"])
def test_importing_loads_no_heavy_library(statement: str) -> None:
    code = f"import sys, json\n{statement}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(p.stdout) == [], statement


def test_no_subpackage_is_named_like_a_public_name() -> None:
    submodules = {m.name for m in pkgutil.iter_modules(gitreg.__path__)}
    for sub in submodules:  # importing a submodule sets it as an attribute of the package
        importlib.import_module(f"gitreg.{sub}")
    for name in gitreg.__all__:
        obj = getattr(gitreg, name)
        if name in PUBLIC_MODULES:
            assert isinstance(obj, ModuleType) and obj.__name__ == f"gitreg.{name}"
        else:
            assert name not in submodules, f"gitreg/{name} shadows the public gitreg.{name}"
            assert not isinstance(obj, ModuleType), name
