"""What every command returns: a JSON-able result and a short human summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelops.errors import InputError, ModelopsError
from modelops.fsutil import atomic_write_json
from modelops.project import Project


@dataclass
class CommandResult:
    """The outcome of one command.

    Every command's library function returns a subclass of it named for the command
    (`TrainResult`, `EvaluateResult`, …) with typed accessors for what callers use.
    The CLI writes `data` as JSON to `.modelops/results/<subject>/<command>.json`
    (atomically) and prints `summary` (stdout) and `notes` (stderr). A non-zero `exit_code` that is
    not an error (a failed gate: 1, drift: 3) still writes its result.
    """

    command: str
    subject: str
    data: dict[str, Any]
    summary: list[str] = field(default_factory=list)
    # Lines for a person watching (the CLI prints them to stderr), not part of the result.
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0
    # A failure found by the command itself (e.g. data that fails its schema): the
    # complete result is still written, then the error is reported and its code returned.
    error: ModelopsError | None = None

    def default_path(self, project: Project) -> Path:
        return project.results_dir(self.subject) / f"{self.command}.json"

    def payload(self) -> dict[str, Any]:
        """The JSON document: command, subject and exit code, then `data`."""
        return {
            "command": self.command,
            "subject": self.subject,
            "exit_code": self.exit_code,
            **self.data,
        }

    def write(self, path: Path) -> Path:
        """Write the JSON document to `path` (atomically)."""
        atomic_write_json(path, self.payload())
        return path

    def save(self, project: Project) -> Path:
        """Write the result where later commands read it (`read_result`), as the CLI does.

        A caller chaining commands in Python (train, then evaluate, then register) saves
        each result, because the next command reads the previous one from the project.
        """
        return self.write(self.default_path(project))


def read_result(project: Project, subject: str, command: str, *, needed_by: str) -> dict[str, Any]:
    """The JSON result an earlier command wrote, or a clear error saying which to run first."""
    path = project.results_dir(subject) / f"{command}.json"
    try:
        payload: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"no {command} result for '{subject}'",
            file=project.relative(path),
            hint=f"run `modelops {command} {subject}` before `modelops {needed_by} {subject}`",
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"result file is not valid JSON ({exc.msg}, line {exc.lineno})",
            file=project.relative(path),
            hint=f"rerun `modelops {command} {subject}`",
        ) from None
    return payload
