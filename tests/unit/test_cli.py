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
