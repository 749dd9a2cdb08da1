"""The pure core: tag grammar (refs), the state fold, sidecar and ``gitreg.toml`` schemas (settings),
stage rules and the ``stages.toml`` codec (stages), the gate language (rules) and its verdicts, model
cards and diffs. No I/O; imports nothing of gitreg but :mod:`gitreg.errors`; unit-tested without a repository."""
