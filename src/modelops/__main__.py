"""`python -m modelops` runs the CLI."""

from modelops.cli import entrypoint

entrypoint()
