"""docs/reference.md: every field of the shipped schemas, generated, and never out of date."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.schemadoc import FILES, example_document, fields, main, render_reference
from modelops.spec import load_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = [name for name, _, _ in FILES]


def test_reference_page_matches_the_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    """The committed page is exactly what the schemas generate (run the module to refresh)."""
    assert main(["--check", str(REPO / "docs" / "reference.md")]) == 0, capsys.readouterr().err


def test_check_fails_on_a_stale_page_and_a_rewrite_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check exits 1 naming the page when one field's text differs; writing it makes it pass."""
    page = tmp_path / "reference.md"
    page.write_text(render_reference().replace("Label column.", "The label."))
    assert main(["--check", str(page)]) == 1
    assert str(page) in capsys.readouterr().err
    assert main([str(page)]) == 0
    assert main(["--check", str(page)]) == 0


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_field_is_described_and_listed(schema: str) -> None:
    """Each field has a description and a row on the page under its dotted name."""
    page = render_reference()
    for dotted, sub, _ in fields(load_schema(schema)):
        assert sub.get("description"), f"{schema}: {dotted} has no description"
        assert f"| `{dotted}` |" in page


@pytest.mark.parametrize("schema", SCHEMAS)
def test_defaults_and_examples_are_valid_values(schema: str) -> None:
    """Each field's default and examples pass that field's own schema."""
    from jsonschema import Draft202012Validator

    checked = 0
    for dotted, sub, _ in fields(load_schema(schema)):
        validator = Draft202012Validator(sub)
        for value in [*sub.get("examples", []), *([sub["default"]] if "default" in sub else [])]:
            errors = [e.message for e in validator.iter_errors(value)]
            assert errors == [], f"{schema}: {dotted}: {value!r}: {errors}"
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("schema", SCHEMAS)
def test_complete_example_is_a_valid_file(schema: str) -> None:
    """The page's complete example of each file passes that file's schema."""
    from jsonschema import Draft202012Validator

    doc = example_document(load_schema(schema))
    errors = [e.message for e in Draft202012Validator(load_schema(schema)).iter_errors(doc)]
    assert errors == []
    assert set(load_schema(schema)["required"]) <= set(doc)


def test_patterns_read_plainly_with_the_newline_rule_in_words() -> None:
    """The schemas' `$(?!\\n)` guard is shown as `$` plus "(no trailing newline)", never raw."""
    from modelops.schemadoc import type_text

    assert type_text({"type": "string", "pattern": "^[a-z]+$(?!\\n)"}) == (
        "string matching `^[a-z]+$` (no trailing newline)"
    )
    assert type_text({"type": "string", "pattern": "^[a-z]+$"}) == "string matching `^[a-z]+$`"
    assert "(?!" not in (REPO / "docs" / "reference.md").read_text("utf-8")
