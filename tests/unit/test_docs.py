"""The command reference stays in step with the parser."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelops.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def _subcommands(
    parser: argparse.ArgumentParser | None = None, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every command of the one parser tree by its full name, nested ones too (`runners start`)."""
    parser = parser or build_parser()
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(_subcommands(sub, f"{prefix}{name} "))
    return found


def _docs() -> str:
    """The command reference: docs/cli.md and the GPU runner page it links for `runners`."""
    return "".join((REPO / "docs" / n).read_text("utf-8") for n in ("cli.md", "gpu-runners.md"))


def test_every_command_is_documented() -> None:
    """Each (nested) subcommand of build_parser() has a `modelops NAME` entry in the docs."""
    docs = _docs()
    readme = (REPO / "README.md").read_text("utf-8") if (REPO / "README.md").exists() else ""
    missing = [n for n in _subcommands() if f"modelops {n}" not in docs + readme]
    assert missing == []


def test_every_option_is_documented() -> None:
    """Each long option of each (nested) subcommand appears in the docs."""
    docs = _docs()
    missing = [
        f"{name} {option}"
        for name, sub in _subcommands().items()
        for action in sub._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help" and option not in docs
    ]
    assert missing == []
