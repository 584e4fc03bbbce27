"""The CLI shell: lazy imports, exit codes, error format."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mlflow", "torch", "sklearn", "pandas", "pandera", "boto3", "matplotlib")


def test_help_imports_no_heavy_library() -> None:
    """`modelops --help` must stay fast: none of the heavy libraries is imported."""
    code = (
        "import sys\n"
        "from modelops.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_model_is_a_clear_error(tmp_path, monkeypatch, capsys) -> None:
    """An unknown model name ends with exit 2, the file named, and no traceback."""
    from modelops.cli import main

    (tmp_path / "pipelines").mkdir()
    monkeypatch.chdir(tmp_path)
    code = main(["train", "nosuch"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pipelines/nosuch.yaml" in err
    assert "unknown model 'nosuch'" in err
    assert "Traceback" not in err


def test_model_packages_resolve_in_the_project_at_hand(tmp_path, monkeypatch) -> None:
    """A `models` package imported from one checkout never answers for another one."""
    from modelops.modelapi import import_object
    from modelops.project import Project

    for name, value in (("a", 1), ("b", 2)):
        pkg = tmp_path / name / "src" / "models"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(f"VALUE = {value}\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        monkeypatch.delitem(sys.modules, name)
    first = import_object(Project(tmp_path / "a"), "models:VALUE", file=tmp_path, field_name="x")
    second = import_object(Project(tmp_path / "b"), "models:VALUE", file=tmp_path, field_name="x")
    assert (first, second) == (1, 2)
    del sys.modules["models"]


def test_a_model_package_that_exits_on_import_is_reported(tmp_path, monkeypatch) -> None:
    """Team code calling sys.exit() at import time is a clear SpecError, not a dead CLI."""
    import pytest

    from modelops.errors import SpecError
    from modelops.modelapi import import_object
    from modelops.project import Project

    pkg = tmp_path / "src" / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(SpecError) as err:
        import_object(Project(tmp_path), "models", file=tmp_path / "p.yaml", field_name="x")
    assert "SystemExit" in str(err.value) and err.value.field == "x"


def test_bad_arguments_are_one_error_line_and_exit_2(capsys) -> None:
    """A missing or malformed argument anywhere in the tree is `error: …` plus a hint, exit 2."""
    from modelops.cli import main

    for argv, text in (
        (["train"], "the following arguments are required: MODEL"),
        (["deploy", "nowhere"], "invalid choice: 'nowhere'"),
        (["runners", "cost", "--minutes", "x", "--instance-type", "g5.xlarge"], "--minutes"),
        (["nosuch"], "invalid choice: 'nosuch'"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and text in err and "Traceback" not in err
        assert "hint: see `modelops" in err


def test_every_command_of_the_tree_has_a_handler() -> None:
    """Each leaf command of the one parser tree (runner and github actions too) has a function."""
    import argparse

    from modelops.cli import build_parser

    def leaves(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, object]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [(name, parser.get_default("handler"))]
        children = [(n, p) for sub in subs for n, p in sub.choices.items()]
        return [leaf for n, p in children for leaf in leaves(p, f"{name} {n}")]

    found = leaves(build_parser(), "modelops")
    assert len(found) == 28  # 20 commands, 4 runner actions and 4 github actions
    assert [name for name, handler in found if not callable(handler)] == []
