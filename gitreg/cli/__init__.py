"""The command line: click commands that parse, call the library and render."""

from gitreg.cli.main import cli, main

__all__ = ["cli", "main"]
