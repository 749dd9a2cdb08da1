"""The command line: click commands that parse options, call the library and render what it returns.

``app`` holds the group, the error wrapper and the shared options; ``output`` all the printing;
the ``commands_*`` modules the commands, grouped by area. Importing this package registers them.
"""

from gitreg.cli import (  # noqa: F401  (registers)
    commands_cache,
    commands_config,
    commands_eval,
    commands_misc,
    commands_site,
    commands_stages,
    commands_team,
    commands_versions,
)
from gitreg.cli.app import cli, main

__all__ = ["cli", "main"]
