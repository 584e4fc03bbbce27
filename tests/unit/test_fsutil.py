"""`modelops.fsutil.read_yaml`: safe YAML, with errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.errors import InputError
from modelops.fsutil import read_yaml


def test_reads_plain_yaml_with_the_safe_types(tmp_path: Path) -> None:
    """Mappings, lists and YAML 1.1 scalars come back as Python values."""
    path = tmp_path / "doc.yaml"
    path.write_text("a: 1\nb: [x, 2.5]\nc: ~\nd: yes\n")
    assert read_yaml(path) == {"a": 1, "b": ["x", 2.5], "c": None, "d": True}


def test_refuses_python_tags(tmp_path: Path) -> None:
    """A `!!python/object` tag is refused (the safe loader), not constructed."""
    path = tmp_path / "evil.yaml"
    path.write_text("x: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match="malformed YAML"):
        read_yaml(path)


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: 1\nb: [unclosed\nc: 2\n", 3), ("a: 1\n? [x]\n: y\n", 2), ("a:\n\tb: 1\n", 2)],
)
def test_malformed_yaml_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    """Syntax errors and unhashable keys end as an InputError naming the file and line."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_yaml(path)
    assert info.value.line == line and info.value.file is not None
    assert str(info.value).startswith(f"{info.value.file}:{line}: malformed YAML")
