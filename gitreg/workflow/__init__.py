"""The promotion workflow above the registry: gates (gating), direct promotion, rollback and demotion
with their policy (promote), promotion by pull request (pr), CI's ``gate --changed`` (changed) and the
GitHub workflow templates (github). Imports registry and everything below it."""
