"""``python -m gitreg``: the same CLI (the pre-receive shim uses this form)."""

from gitreg.cli import main

main()
