"""`modelops demo`: the PR path end to end on the example models, in a scratch repository."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from modelops.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_the_loop_for_both_models(tmp_path: Path, monkeypatch, capsys) -> None:
    """validate → … → report succeed for every example model, using only the scratch copy."""
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "user-state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # must be ignored
    workdir = tmp_path / "demo"
    assert (
        main(
            [
                "-C",
                str(REPO),
                "--result",
                str(tmp_path / "demo.json"),
                "demo",
                "--workdir",
                str(workdir),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "demo.json").read_text())
    assert result["models"] == ["churn", "digits"]
    for model, report in result["reports"].items():
        text = Path(report).read_text()
        assert text.startswith(f"<!-- modelops-report:{model} -->")
        assert str(report) in out
        registered = json.loads(
            (workdir / ".modelops" / "results" / model / "register.json").read_text()
        )
        assert registered["version"] == 1
    assert (workdir / ".git").is_dir() and (workdir / ".modelops" / "mlflow.db").is_file()
    # The user's state (MODELOPS_HOME) was ignored: the demo kept to its scratch copy.
    assert not (tmp_path / "user-state" / "mlflow.db").exists()
    assert not (tmp_path / "user-state" / "reports").exists()
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


def test_demo_refuses_a_non_empty_workdir(tmp_path: Path, capsys) -> None:
    """A --workdir with files in it is refused (exit 2) rather than mixed into."""
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["-C", str(REPO), "demo", "--workdir", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
