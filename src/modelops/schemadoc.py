"""The field reference (docs/reference.md), generated from the shipped JSON Schemas.

`python -m modelops.schemadoc` rewrites the page; `--check` exits 1 when the page
differs from what the schemas say (a test runs it). Every field gets its type,
whether it is required, its default, what it means and an example; each file
ends with a complete example assembled from the fields' examples.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from modelops.spec import load_schema

FILES = (
    ("pipeline", "Pipeline spec", "pipelines/<model>.yaml"),
    ("environment", "Environment file", "environments/<env>/environment.yaml"),
    ("manifest", "Manifest", "environments/<env>/models/<model>.yaml"),
)
DEFAULT_OUTPUT = Path("docs/reference.md")
HEADER = """\
# Field reference

Every field of the files a team writes or reviews. This page is generated from
the JSON Schemas in `src/modelops/schemas/` by `python -m modelops.schemadoc`:
edit the schemas, not this page (a test fails when the two differ). Editors that
speak the yaml-language-server protocol check the files against the same
schemas (see the first line of each example spec).

A field marked *required* must be present; any other field may be left out, and
then its default applies. Unknown fields are refused. `schema_version` is
explained in [migration.md](migration.md).
"""


def _code(value: Any) -> str:
    """`value` as inline code: strings as written, anything else as YAML/JSON flow."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"`{text}`".replace("|", "\\|")


def type_text(schema: dict[str, Any]) -> str:
    """A short human reading of a schema's type and constraints."""
    if "enum" in schema:
        return "one of " + ", ".join(_code(v) for v in schema["enum"])
    kinds = schema.get("type", "any")
    kind = " or ".join(kinds) if isinstance(kinds, list) else kinds
    bounds = [
        f"{sign} {schema[key]}"
        for key, sign in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
        )
        if key in schema
    ]
    if kind == "array":
        items = schema.get("items", {})
        if "enum" in items:
            text = "list of " + ", ".join(_code(v) for v in items["enum"])
        else:
            text = f"list of {type_text(items)}" if items else "list"
        if schema.get("minItems"):
            text += f", at least {schema['minItems']}"
        if schema.get("uniqueItems"):
            text += ", no repeats"
        return text
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in schema:
            inner = "mapping (below)" if "properties" in extra else type_text(extra)
            return f"mapping of name → {inner}"
        return "mapping"
    text = kind
    if schema.get("minLength") == 1:
        text = f"non-empty {text}"
    if "pattern" in schema:
        # `$(?!\n)` is how the schemas refuse a trailing newline (Python's `$` allows one);
        # readers get the plain pattern and the rule in words.
        pattern = str(schema["pattern"])
        no_newline = pattern.endswith("$(?!\\n)")
        if no_newline:
            pattern = pattern[: -len("(?!\\n)")]
        text += f" matching {_code(pattern)}" + (" (no trailing newline)" if no_newline else "")
    if schema.get("format") == "date-time":
        text += " (date-time)"
    if bounds:
        text += ", " + " and ".join(bounds)
    return text


def fields(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(dotted name, subschema, required) for every field, parents before children."""
    required = set(schema.get("required", ()))
    for name, sub in schema.get("properties", {}).items():
        dotted = f"{prefix}{name}"
        yield dotted, sub, name in required
        yield from fields(sub, f"{dotted}.")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            yield from fields(extra, f"{dotted}.<name>.")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def example_document(schema: dict[str, Any]) -> dict[str, Any]:
    """A complete document: each field's first example, or one built from its own fields."""
    doc: dict[str, Any] = {}
    for name, sub in schema.get("properties", {}).items():
        if sub.get("examples"):
            doc[name] = sub["examples"][0]
        elif "properties" in sub:
            doc[name] = example_document(sub)
        elif "default" in sub:
            doc[name] = sub["default"]
    return doc


def render_file(name: str, title: str, path: str) -> str:
    import yaml

    schema = load_schema(name)
    lines = [
        f"## {title}: `{path}`",
        "",
        schema.get("description", ""),
        "",
        f"Schema: `src/modelops/schemas/{name}.schema.json`.",
        "",
        "| field | type | required | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for dotted, sub, required in fields(schema):
        meaning = sub.get("description", "")
        if sub.get("deprecated"):
            meaning = f"**Deprecated.** {meaning}"
        if sub.get("examples"):
            meaning += " Example: " + ", ".join(_code(e) for e in sub["examples"]) + "."
        default = _code(sub["default"]) if "default" in sub else ""
        lines.append(
            f"| `{dotted}` | {_cell(type_text(sub))} | {'required' if required else ''} "
            f"| {default} | {_cell(meaning)} |"
        )
    example = yaml.safe_dump(example_document(schema), sort_keys=False, allow_unicode=True)
    lines += ["", "A complete example:", "", "```yaml", example.rstrip(), "```", ""]
    return "\n".join(lines)


def render_reference() -> str:
    """The whole page."""
    return "\n".join([HEADER, *(render_file(*entry) for entry in FILES)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelops.schemadoc", description="write or check docs/reference.md"
    )
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the page differs from the schemas"
    )
    args = parser.parse_args(argv)
    text = render_reference()
    current = args.output.read_text("utf-8") if args.output.is_file() else None
    if args.check:
        if current != text:
            print(
                f"error: {args.output} is out of date with the JSON Schemas",
                file=sys.stderr,
            )
            print("hint: run `python -m modelops.schemadoc` and commit the page", file=sys.stderr)
            return 1
        return 0
    if current != text:
        from modelops.fsutil import atomic_write_text

        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
