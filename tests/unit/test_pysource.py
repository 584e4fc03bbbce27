"""`modelops.pysource`: names and schema columns read from source, never by running it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelops.pysource import SourceError, SourceIndex, schema_columns


def _index(tmp_path: Path, files: dict[str, str]) -> SourceIndex:
    for rel, text in files.items():
        path = tmp_path / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return SourceIndex(tmp_path / "src")


def _columns(index: SourceIndex, module: str = "pkg.schema") -> set[str] | None:
    binding = index.resolve(module, "SCHEMA")
    assert binding is not None
    return schema_columns(index, binding)


def test_top_level_names_of_every_kind(tmp_path: Path) -> None:
    """def, class, assignment, import-as, names in if/try blocks count; nested names do not."""
    index = _index(
        tmp_path,
        {
            "pkg/__init__.py": """
            import json as j
            def f(): inner = 1
            class C: attr = 2
            x, (y, z) = 1, (2, 3)
            try:
                from pkg.other import t
            except ImportError:
                t = None
            if True:
                w: int = 3
            """,
            "pkg/other.py": "t = 1\n",
        },
    )
    names = ["f", "C", "x", "y", "z", "t", "w", "j"]
    kinds = {n: b.kind for n in names if (b := index.resolve("pkg", n))}
    assert kinds == {
        "f": "def",
        "C": "class",
        "x": "value",
        "y": "value",
        "z": "value",
        "t": "value",
        "w": "value",
        "j": "module",
    }
    assert index.resolve("pkg", "inner") is None and index.resolve("pkg", "attr") is None


def test_relative_star_and_submodule_imports_are_followed(tmp_path: Path) -> None:
    """`from .a import *`, `from . import sub` and chains of re-exports reach the definition."""
    index = _index(
        tmp_path,
        {
            "pkg/__init__.py": "from .a import *\nfrom . import sub\n",
            "pkg/a.py": "from pkg.deep.b import train as train\n",
            "pkg/deep/__init__.py": "",
            "pkg/deep/b.py": "def train(): ...\n",
            "pkg/sub.py": "",
        },
    )
    found = index.resolve("pkg", "train")
    assert found is not None and (found.kind, found.module) == ("def", "pkg.deep.b")
    sub = index.resolve("pkg", "sub")
    assert sub is not None and (sub.kind, sub.target) == ("module", "pkg.sub")
    assert index.resolve("pkg", "predict") is None


def test_a_dangling_re_export_is_missing_and_a_missing_module_is_an_error(tmp_path: Path) -> None:
    """A re-export of a name its source lacks is absent; from a missing module, an error."""
    index = _index(
        tmp_path, {"pkg/__init__.py": "from pkg.a import gone\nfrom pkg.nope import x\n"}
    )
    (tmp_path / "src" / "pkg" / "a.py").write_text("here = 1\n")
    assert index.resolve("pkg", "gone") is None
    with pytest.raises(SourceError, match=r"No module named 'pkg\.nope'"):
        index.resolve("pkg", "x")


def test_installed_libraries_are_trusted_not_read(tmp_path: Path) -> None:
    """A name imported from an installed package counts without reading or importing it."""
    index = _index(tmp_path, {"pkg/__init__.py": "from json import loads as train\n"})
    found = index.resolve("pkg", "train")
    assert found is not None and found.kind == "opaque"
    assert index.find("no_such_library_anywhere") is None


def test_module_getattr_makes_any_name_possible(tmp_path: Path) -> None:
    """A module-level `__getattr__` (PEP 562) may provide any name: not reported missing."""
    index = _index(tmp_path, {"pkg/__init__.py": "def __getattr__(name): ...\n"})
    found = index.resolve("pkg", "train")
    assert found is not None and found.kind == "opaque"


def test_columns_from_constants_fstrings_and_comprehensions(tmp_path: Path) -> None:
    """Keys built from imported constants, f-strings, ranges and `**` merges are evaluated."""
    index = _index(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/cols.py": """
            ID = "id"
            N = 3
            PIXELS = tuple(f"p_{i:02d}" for i in range(N))
            EXTRA = {"a": 1, **{c: 2 for c in ["b", "c"] if c != "c"}}
            """,
            "pkg/schema.py": """
            import pandera.pandas as pa
            from pkg import cols
            from pkg.cols import ID, PIXELS
            SCHEMA = pa.DataFrameSchema(
                columns={ID: pa.Column(int), **{p: pa.Column(int) for p in PIXELS},
                         **cols.EXTRA, "y" + "1": pa.Column(int)},
                strict=True,
            )
            """,
        },
    )
    assert _columns(index) == {"id", "p_00", "p_01", "p_02", "a", "b", "y1"}


@pytest.mark.parametrize(
    "schema",
    [
        "SCHEMA = pa.DataFrameSchema(make())",
        "SCHEMA = pa.DataFrameSchema({c: pa.Column(int) for c in range(10**9)})",
        "SCHEMA = pa.DataFrameSchema({open('x').read(): pa.Column(int)})",
        "SCHEMA = BASE.add_columns({'z': pa.Column(int)})",
    ],
)
def test_what_cannot_be_evaluated_is_unknown_not_guessed(tmp_path: Path, schema: str) -> None:
    """Calls, huge ranges and other constructions give None (unknown), and nothing runs."""
    index = _index(
        tmp_path,
        {"pkg/__init__.py": "", "pkg/schema.py": f"import pandera.pandas as pa\n{schema}\n"},
    )
    assert _columns(index) is None


@pytest.mark.parametrize(
    ("schema", "kind"),
    [("def SCHEMA(): ...", "function"), ("class SCHEMA: ...", "class"), ("SCHEMA = 3", "int")],
)
def test_plainly_not_a_schema_says_what_it_is(tmp_path: Path, schema: str, kind: str) -> None:
    """A function, class or literal bound to the schema name is named as such."""
    index = _index(tmp_path, {"pkg/__init__.py": "", "pkg/schema.py": schema + "\n"})
    with pytest.raises(TypeError, match=f"^{kind}$"):
        _columns(index)


def test_import_cycles_end(tmp_path: Path) -> None:
    """Two modules re-exporting each other's name end as unknown instead of recursing forever."""
    index = _index(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import X\n",
            "pkg/b.py": "from pkg.a import X\n",
        },
    )
    found = index.resolve("pkg.a", "X")
    assert found is not None and found.kind == "opaque"
