"""``python -m gitreg`` and the ``gitreg`` console script.

Ctrl-C can land while the CLI's modules are still importing, before the CLI's own handler exists;
this entry point turns that into the same one-line message instead of a traceback.
"""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from gitreg.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; nothing was registered\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
