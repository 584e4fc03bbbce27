"""One exception hierarchy for the toolkit; the CLI maps each class to an exit code.

Exit codes:
    0  success
    1  a gate failed (the model is not good enough; not an error in the input)
    2  bad input or a refused operation (YAML, spec, manifest, data, CLI argument,
       stage skip, digest mismatch); nothing was written
    3  drift found (so a workflow can open a retraining issue)
    4  an external service failed (MLflow, S3, EC2, GitHub); the previous state is intact
Anything else is a bug and shows a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class ModelopsError(Exception):
    """Base class: a message a person can act on, with where and what to do next."""

    exit_code = 2
    title = "modelops error"

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        hint: str | None = None,
        line: int | None = None,
        details: Sequence[str] = (),
        problems: Sequence[ModelopsError] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.field = field
        self.hint = hint
        self.line = line
        # Further lines the CLI prints before the error (e.g. every problem validate found).
        self.details = list(details)
        # Every problem found in the same input, this one first (e.g. all schema errors).
        self.problems: list[ModelopsError] = list(problems) if problems else [self]

    def location(self) -> str:
        """`file:line (field x)` or the parts of it that are known."""
        parts = []
        if self.file:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


class InputError(ModelopsError):
    """Bad input: a file, a field or an argument that is not what it must be."""

    title = "invalid input"


class SpecError(InputError):
    """A pipeline spec, environment file or manifest that is malformed or inconsistent."""

    title = "invalid spec"


class DataError(InputError):
    """A data file that cannot be read, or data that fails its schema."""

    title = "data test failed"


class PromotionError(InputError):
    """A promotion or deploy that the rules refuse (stage skip, unknown version, digest)."""

    title = "refused"


class IntegrityError(PromotionError):
    """An artifact whose sha256 differs from the one recorded for it."""

    title = "digest mismatch"


class GateFailure(ModelopsError):
    """One or more evaluation gates failed."""

    exit_code = 1
    title = "gate failed"


class DriftDetected(ModelopsError):
    """Recent data drifted from the training reference."""

    exit_code = 3
    title = "drift detected"


class ServiceError(ModelopsError):
    """An external service (MLflow, S3, EC2, GitHub) failed; the previous state is intact."""

    exit_code = 4
    title = "service failure"
