"""The storage edge: the only code that runs git, git-lfs, gpg or ssh (git, lfs, signing), reads a
registry checkout (checkout), serves the pre-receive hook (hook), resolves which registry and where
its caches live (location), and writes files whole or not at all (files). Imports core and errors."""
