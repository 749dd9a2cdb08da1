"""``gitreg push --from-python MODULE:FUNCTION``: get a live model from the user's training code.

The function takes no arguments and returns either the model itself or a dict with ``model`` and
any keyword of :func:`gitreg.push` (``example_inputs``, ``eval_data``, ``metrics``, ``params``,
``class_names``, …). A bare torch or scikit-learn model gets its example inputs from the command
line (``--example-inputs FILE`` or ``--data FILE``: :func:`gitreg.ml.frompython.with_inputs`).
MODULE is a dotted module importable from the current directory, or a path to a ``.py`` file.
Errors in finding the function are usage errors; errors inside it are the training code's,
reported in one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from gitreg.errors import GitregError, TrainingFailed, UsageError


def resolve(spec: str) -> Any:
    module_part, sep, func_name = spec.rpartition(":")
    if not sep or not module_part or not func_name:
        raise UsageError(f"--from-python {spec!r}: use MODULE:FUNCTION or path/to/train.py:FUNCTION")
    if module_part.endswith(".py") or "/" in module_part:
        path = Path(module_part).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--from-python: no such file {module_part}")
        sys.path.insert(0, str(path.parent))
        mod_spec = importlib.util.spec_from_file_location(f"_gitreg_training_{path.stem}", path)
        assert mod_spec is not None and mod_spec.loader is not None
        module = importlib.util.module_from_spec(mod_spec)
        try:
            mod_spec.loader.exec_module(module)
        except Exception as e:
            raise TrainingFailed(f"importing {module_part} raised {type(e).__name__}: {e}") from None
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as e:
            if e.name and module_part.startswith(e.name):
                raise UsageError(f"--from-python: no module named {module_part!r} (from {Path.cwd()})") from None
            raise TrainingFailed(f"importing {module_part} raised ModuleNotFoundError: {e}") from None
        except Exception as e:
            raise TrainingFailed(f"importing {module_part} raised {type(e).__name__}: {e}") from None
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise UsageError(f"--from-python: {module_part} has no function {func_name!r}")
    return fn


def call(spec: str) -> dict[str, Any]:
    """Run the training function; always a dict with ``model``."""
    fn = resolve(spec)
    try:
        result = fn()
    except GitregError:
        raise
    except Exception as e:
        raise TrainingFailed(f"{spec} raised {type(e).__name__}: {e}") from None
    if isinstance(result, dict):
        if "model" not in result:
            raise UsageError(f"{spec} returned a dict without 'model'")
        return dict(result)
    if result is None:
        raise UsageError(f"{spec} returned None: return the model, or a dict with 'model' and gitreg.push arguments")
    return {"model": result}
