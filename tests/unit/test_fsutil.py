"""`modelops.fsutil.read_yaml`: the fast reader returns exactly what `yaml.safe_load` returns."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelops.errors import InputError
from modelops.fsutil import read_yaml

REPO = Path(__file__).resolve().parents[2]

TRICKY = [
    "a: 1\nb: 0x1F\nc: 1_000\nd: 1.5e3\ne: .inf\nf: ~\ng: null\nh: yes\ni: off\nj: 2025-01-02\n",
    "when: 2025-01-02T03:04:05Z\nplain: '2025-01-02'\nversion: 1.10\nquoted: '007'\n",
    "base: &b {x: 1, y: [1, 2]}\nother: *b\n",
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",
    "tagged: !!str 12\nset: !!set {a, b}\nbinary: !!binary aGk=\n",
    "1: one\n2.5: two\ntrue: three\nnull: four\n",
    "- a\n- [b, {c: d}]\n- {e: [f, g]}\n",
    "dup: 1\ndup: 2\n",
    "",
    "# only a comment\n",
    "just a string\n",
    'unicode: "h\\u00e9"\nliteral: |\n  two\n  lines\nfolded: >\n  one\n  line\n',
]


@pytest.mark.parametrize("text", TRICKY)
def test_same_result_as_safe_load(tmp_path: Path, text: str) -> None:
    """Scalars of every type, aliases, merges, tags, odd keys: identical to yaml.safe_load."""
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    assert read_yaml(path) == yaml.safe_load(text)


def test_same_result_on_every_yaml_file_of_the_repository() -> None:
    """Specs, environments, workflows, templates read the same as with yaml.safe_load (or fail)."""
    files = [
        p
        for p in REPO.rglob("*.y*ml")
        if not {".venv", ".git", "node_modules", "out"} & set(p.relative_to(REPO).parts)
    ]
    assert len(files) > 5
    for path in files:
        try:
            expected = yaml.safe_load(path.read_text("utf-8"))
        except yaml.YAMLError:  # e.g. CloudFormation's !Ref tags: refused by both
            with pytest.raises(InputError):
                read_yaml(path)
            continue
        assert read_yaml(path) == expected, path


def test_a_recursive_alias_does_not_hang(tmp_path: Path) -> None:
    """A self-referencing alias is built the standard way (a recursive list), not looped on."""
    path = tmp_path / "doc.yaml"
    path.write_text("a: &x [1, *x]\n")
    doc = read_yaml(path)
    assert doc["a"][1] is doc["a"]


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
