"""``python -m gitreg.hook pre-receive``: the stable entry point of the registry's pre-receive hook.

Every registry on disk keeps the two-line shim that the ``gitreg init`` of its day wrote into its
``hooks/pre-receive``, and those shims run ``python -m gitreg.hook pre-receive``. This module is that
command, whatever the package's layout: it only hands over to :func:`gitreg.store.hook.main`, where the
rules live, and today's ``gitreg init`` writes the same shim, so old and new registries run one hook.
"""

from __future__ import annotations

import sys

from gitreg.store.hook import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
