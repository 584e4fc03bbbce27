"""The command reference stays in step with the parser."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelops.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_is_documented() -> None:
    """Each subcommand of build_parser() has a `modelops NAME` entry in docs/cli.md or README."""
    docs = (REPO / "docs" / "cli.md").read_text("utf-8")
    readme = (REPO / "README.md").read_text("utf-8") if (REPO / "README.md").exists() else ""
    missing = [n for n in _subcommands() if f"modelops {n}" not in docs + readme]
    assert missing == []


def test_every_option_is_documented() -> None:
    """Each long option of each subcommand appears in docs/cli.md."""
    docs = (REPO / "docs" / "cli.md").read_text("utf-8")
    missing = [
        f"{name} {option}"
        for name, sub in _subcommands().items()
        for action in sub._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help" and option not in docs
    ]
    assert missing == []


def test_team_lint_rules_are_stated_as_configured() -> None:
    """docs/team-code.md states the line length and every rule set ruff is configured with."""
    import tomllib

    ruff = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["ruff"]
    text = (REPO / "docs" / "team-code.md").read_text("utf-8")
    assert f"line length {ruff['line-length']}" in text
    assert f'target-version = "{ruff["target-version"]}"' in text
    missing = [code for code in ruff["lint"]["select"] if f"`{code}`" not in text]
    missing += [code for code in ruff["lint"]["ignore"] if code not in text]
    assert missing == []


def test_first_model_page_uses_real_commands_and_templates() -> None:
    """Every `modelops X` in docs/first-model.md is a command, every template it names exists."""
    import re

    from modelops.scaffold import TEMPLATES

    text = (REPO / "docs" / "first-model.md").read_text("utf-8")
    used = set(re.findall(r"^modelops ([a-z-]+)", text, flags=re.MULTILINE))
    assert used and used <= set(_subcommands())
    assert [t for t in TEMPLATES if f"`{t}`" not in text] == []
