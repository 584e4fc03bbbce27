"""The format version of specs, environment files and manifests (`schema_version`).

A file without `schema_version` is read as the current version, so files written
before the field existed keep working. A file that declares a newer version than
this toolkit reads is refused before its fields are checked: a newer format may
rename or add fields, and "unknown field" would send the reader the wrong way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelops.errors import SpecError

# The one format version this toolkit reads and writes. Bump it (and add a section to
# docs/migration.md and CHANGELOG.md) when a change to the JSON Schemas would make an
# older toolkit misread a file.
SCHEMA_VERSION = 1
MIGRATION_DOC = "docs/migration.md"


def check_schema_version(document: Any, file: str | Path, kind: str) -> None:
    """Refuse (exit 2) a `kind` document that declares a format newer than this toolkit's."""
    if not isinstance(document, dict):
        return
    declared = document.get("schema_version")
    # Not an integer: the JSON Schema check that follows names the field and the type.
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > SCHEMA_VERSION:
        from modelops import __version__

        raise SpecError(
            f"this {kind} is written for format version {declared}, newer than the "
            f"{SCHEMA_VERSION} that modelops {__version__} reads",
            file=file,
            field="schema_version",
            hint=f"upgrade the toolkit to a release that reads format {declared} (see "
            f"{MIGRATION_DOC} and CHANGELOG.md), or rewrite the file for format "
            f"{SCHEMA_VERSION}",
        )
