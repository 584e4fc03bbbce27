"""`make demo` on this repository: the whole loop for every model it holds, examples included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from exampleproject import REPO
from mermaidcheck import mermaid_blocks, parse

from modelops.cli import main
from modelops.project import Project
from modelops.spec import list_models


@pytest.mark.slow
def test_demo_runs_the_loop_for_every_model(tmp_path: Path, monkeypatch, capsys) -> None:
    """validate → … → report → promote → deploy → predict → drift for each model, in the scratch
    copy, for the classifiers and the regressor; every report chart parses in Mermaid."""
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "user-state"))
    workdir = tmp_path / "demo"
    argv = ["-C", str(REPO), "--result", str(tmp_path / "demo.json"), "demo", "--workdir"]
    assert main([*argv, str(workdir)]) == 0
    capsys.readouterr()
    result = json.loads((tmp_path / "demo.json").read_text())
    models = list_models(Project(REPO))
    assert result["models"] == models and {"churn", "digits", "diabetes"} <= set(models)
    charts: dict[str, list[str]] = {}
    for model, report in result["reports"].items():
        text = Path(report).read_text()
        assert "![" not in text  # charts are Mermaid text, not image links
        charts[model] = mermaid_blocks(text)
    # ROC for the classifiers, + loss for digits, predicted-vs-actual + residuals for diabetes.
    assert (len(charts["churn"]), len(charts["digits"]), len(charts["diabetes"])) == (1, 2, 2)
    every = [c for blocks in charts.values() for c in blocks]
    assert all(r == {"ok": True, "type": "xychart"} for r in parse(every))
    for env in ("dev", "staging", "prod"):
        live = json.loads((workdir / ".modelops" / "serving" / env / "live.json").read_text())
        assert {m: e["version"] for m, e in live.items()} == dict.fromkeys(models, 1)
    batch = workdir / ".modelops" / "demo" / "churn-batch.csv"
    scores = workdir / ".modelops" / "demo" / "churn-scores.csv"
    assert len(scores.read_text().splitlines()) == len(batch.read_text().splitlines())
    # The examples' shifted data is caught: drift exits 3 for at least one of them.
    drift = {s["model"]: s["exit_code"] for s in result["steps"] if s["step"].startswith("drift")}
    assert 3 in (drift["churn"], drift["digits"])
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout
    assert all(f"promote {m} to prod" in log for m in ("churn", "digits", "diabetes"))
    # The regression example went through the same loop: rmse gated, predictions numeric.
    evaluation = json.loads(
        (workdir / ".modelops" / "results" / "diabetes" / "evaluate.json").read_text()
    )
    assert evaluation["task"] == "regression" and evaluation["passed"] is True
    assert set(evaluation["metrics"]) == {"rmse", "mae", "r2", "mape"}
    scored = (workdir / ".modelops" / "demo" / "diabetes-scores.csv").read_text().splitlines()
    assert scored[0] == "patient_id,prediction,model_version,model_sha256,scored_at"
    assert float(scored[1].split(",")[1]) > 0
    drift_report = json.loads(
        (workdir / ".modelops" / "reports" / "diabetes" / "drift-prod.json").read_text()
    )
    assert "statistic" in drift_report["prediction"]
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]
