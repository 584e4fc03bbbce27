"""`modelops demo`: the PR path end to end on the example models, in a scratch repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mermaidcheck import mermaid_blocks, parse

from modelops.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_the_loop_for_every_model(tmp_path: Path, monkeypatch, capsys) -> None:
    """validate → … → report → promote → deploy → predict → drift, only in the scratch copy,
    for the classifiers and the regressor; every report chart parses in Mermaid."""
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
    assert result["models"] == ["churn", "diabetes", "digits"]
    charts = []
    for model, report in result["reports"].items():
        text = Path(report).read_text()
        assert text.startswith(f"<!-- modelops-report:{model} -->")
        assert "![" not in text  # charts are Mermaid text, not image links
        charts += mermaid_blocks(text)
        assert str(report) in out
        registered = json.loads(
            (workdir / ".modelops" / "results" / model / "register.json").read_text()
        )
        assert registered["version"] == 1
    # ROC + ROC + loss (digits logs losses) + predicted-vs-actual + residuals, all parse.
    assert len(charts) == 5
    assert all(r == {"ok": True, "type": "xychart"} for r in parse(charts))
    assert (workdir / ".git").is_dir() and (workdir / ".modelops" / "mlflow.db").is_file()
    # Promotion landed as commits and every environment serves version 1 of both models.
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout
    for env in ("dev", "staging", "prod"):
        for model in ("churn", "diabetes", "digits"):
            assert f"promote {model} to {env}" in log
        live = json.loads((workdir / ".modelops" / "serving" / env / "live.json").read_text())
        assert {m: e["version"] for m, e in live.items()} == {
            "churn": 1,
            "diabetes": 1,
            "digits": 1,
        }
    # The batch was scored from prod, one prediction per input row.
    batch = workdir / ".modelops" / "demo" / "churn-batch.csv"
    scores = workdir / ".modelops" / "demo" / "churn-scores.csv"
    assert len(scores.read_text().splitlines()) == len(batch.read_text().splitlines())
    # The shifted data was caught: drift exits 3 for at least one model, as the demo expects.
    drift_codes = {
        s["model"]: s["exit_code"] for s in result["steps"] if s["step"].startswith("drift")
    }
    assert set(drift_codes) == {"churn", "diabetes", "digits"} and 3 in drift_codes.values()
    # The regression example went through the same loop: rmse gated, predictions numeric.
    evaluation = json.loads(
        (workdir / ".modelops" / "results" / "diabetes" / "evaluate.json").read_text()
    )
    assert evaluation["task"] == "regression" and evaluation["passed"] is True
    assert set(evaluation["metrics"]) == {"rmse", "mae", "r2", "mape"}
    scored = (workdir / ".modelops" / "demo" / "diabetes-scores.csv").read_text().splitlines()
    assert scored[0] == "patient_id,prediction" and float(scored[1].split(",")[1]) > 0
    drift = json.loads(
        (workdir / ".modelops" / "reports" / "diabetes" / "drift-prod.json").read_text()
    )
    assert "statistic" in drift["prediction"]
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
