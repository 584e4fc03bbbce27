"""Regression end to end: spec, data-test, train, evaluate, gates, report, predict, drift."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import REPO, commit, forget_models, modelops
from mermaidcheck import mermaid_blocks, parse
from toyproject import git_commit_all

from modelops.project import Project

LINE_MODEL = '''
"""Least squares y = a·x + b (a test double of a regression model package)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd

def train(data, params, context):
    a, b = np.polyfit(data["x"].to_numpy(float), data[context.target].to_numpy(float), 1)
    return {"a": float(a) * params.get("scale", 1.0), "b": float(b)}

def predict(model, data):
    return pd.DataFrame({"prediction": model["a"] * data["x"] + model["b"]}, index=data.index)

def save(model, directory):
    (Path(directory) / "model.json").write_text(json.dumps(model))

def load(directory):
    return json.loads((Path(directory) / "model.json").read_text())
'''

LINE_SCHEMA = """
import pandera.pandas as pa
SCHEMA = pa.DataFrameSchema({"x": pa.Column(float), "y": pa.Column(float)})
"""

LINE_SPEC = """\
name: line
owner: "@tests"
data:
  path: data/line/line.csv
  schema: models.line.schema:SCHEMA
  target: y
train:
  entrypoint: models.line
  params: {scale: 1.0}
evaluate:
  task: regression
  metrics: [rmse, mae, r2, mape]
  primary_metric: rmse
  gates:
    rmse: {max: 5.0, max_rise: 0.5}
    r2: {min: 0.9}
drift:
  features: [x]
"""


def write_line(root: Path, *, spec: str = LINE_SPEC, offset: float = 10.0) -> Path:
    """The `line` regression model: y = 3x + offset + noise, 300 rows."""
    import numpy as np

    pkg = root / "src" / "models" / "line"
    pkg.mkdir(parents=True, exist_ok=True)
    (root / "src" / "models" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(textwrap.dedent(LINE_MODEL))
    (pkg / "schema.py").write_text(textwrap.dedent(LINE_SCHEMA))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 20, 300)
    y = 3 * x + offset + rng.normal(0, 2, 300)
    (root / "data" / "line").mkdir(parents=True, exist_ok=True)
    lines = ["x,y", *(f"{a:.4f},{b:.4f}" for a, b in zip(x, y, strict=True))]
    (root / "data" / "line" / "line.csv").write_text("\n".join(lines) + "\n")
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "pipelines" / "line.yaml").write_text(spec)
    return root


@pytest.fixture
def line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A committed project holding the `line` regression model and the environments."""
    root = write_line(tmp_path / "proj")
    shutil.copytree(REPO / "environments", root / "environments")
    (root / ".gitignore").write_text(".modelops/\n__pycache__/\n")
    git_commit_all(root)
    monkeypatch.chdir(root)
    yield Project(root)
    forget_models()


def _result(project: Project, command: str) -> dict:
    return json.loads((project.results_dir("line") / f"{command}.json").read_text())


def test_regression_model_goes_through_the_whole_loop(
    line: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """data-test shows the target distribution, evaluate gates rmse/r2, the report draws
    predicted-vs-actual and residuals, predict writes `prediction`, drift covers outputs."""
    import pandas as pd

    assert modelops(line, "data-test", "line") == 0
    out = capsys.readouterr().out
    assert "target distribution: mean" in out and "class balance" not in out
    profile = _result(line, "data-test")["profile"]
    assert profile["class_balance"] is None and profile["target_distribution"]["count"] == 300

    assert modelops(line, "train", "line") == 0
    assert modelops(line, "evaluate", "line") == 0
    evaluation = _result(line, "evaluate")
    metrics = evaluation["metrics"]
    assert set(metrics) == {"rmse", "mae", "r2", "mape"}
    assert 1.5 < metrics["rmse"] < 2.5 and metrics["r2"] > 0.95  # noise sd is 2
    assert metrics["mae"] < metrics["rmse"]
    assert [(g["kind"], g["passed"]) for g in evaluation["gates"]] == [
        ("max", True),
        ("min", True),
    ]
    interval = evaluation["interval"]
    assert interval["metric"] == "rmse" and interval["low"] < metrics["rmse"] < interval["high"]
    rows = evaluation["plots"]["predicted_vs_actual"]["rows"]
    assert sum(r["count"] for r in rows) == evaluation["split"]["test_rows"] == 60
    assert sum(evaluation["plots"]["residuals"]["counts"]) == 60

    assert modelops(line, "register", "line") == 0
    assert modelops(line, "report", "line") == 0
    report = (line.state_dir / "reports" / "line" / "report.md").read_text()
    assert "#### Predicted vs actual" in report and "#### Residuals" in report
    assert "confusion" not in report.lower() and "![" not in report
    blocks = mermaid_blocks(report)
    assert len(blocks) == 2 and all(r["ok"] for r in parse(blocks))

    assert modelops(line, "promote", "line", "--to", "dev") == 0
    commit(line, "dev v1")
    assert modelops(line, "deploy", "dev") == 0
    batch = tmp_path / "batch.csv"
    batch.write_text("x\n1.0\n2.0\n10.0\n")
    scores = tmp_path / "scores.csv"
    assert modelops(line, "predict", "line", "--env", "dev", "--input", str(batch),
                    "--output", str(scores)) == 0  # fmt: skip
    scored = pd.read_csv(scores)
    assert list(scored.columns) == ["prediction"]
    assert scored["prediction"].diff().iloc[1:].gt(0).all()  # y rises with x
    assert scored["prediction"].iloc[2] == pytest.approx(40.0, abs=1.5)

    shifted = tmp_path / "shifted.csv"
    shifted.write_text("x\n" + "\n".join(str(30 + i / 10) for i in range(100)) + "\n")
    capsys.readouterr()
    assert modelops(line, "drift", "line", "--env", "dev", "--input", str(shifted)) == 3
    drift = json.loads((line.state_dir / "reports" / "line" / "drift-dev.json").read_text())
    assert drift["prediction"]["drifted"] is True and drift["prediction"]["kind"] == "numeric"
    assert "(prediction)" in capsys.readouterr().out


def test_a_worse_regressor_fails_max_rise_against_the_champion(line: Project, capsys) -> None:
    """rmse rising past max_rise fails, and the message names the champion's rmse and the rise."""
    import yaml

    assert modelops(line, "train", "line") == 0
    assert modelops(line, "evaluate", "line") == 0
    assert modelops(line, "register", "line") == 0
    registered = _result(line, "register")
    champion_rmse = _result(line, "evaluate")["metrics"]["rmse"]
    folder = line.root / "environments" / "prod" / "models"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "line.yaml").write_text(
        yaml.safe_dump(
            {
                "model": "line",
                "version": registered["version"],
                "model_uri": registered["model_uri"],
                "sha256": registered["sha256"],
                "run_id": registered["run_id"],
                "source_commit": registered["commit"],
                "data_sha256": registered["data_sha256"],
                "metrics": registered["metrics"],
                "promoted_from": "staging",
                "promoted_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    spec = line.pipeline_path("line")
    spec.write_text(spec.read_text().replace("scale: 1.0", "scale: 1.1"))
    assert modelops(line, "train", "line") == 0
    capsys.readouterr()
    assert modelops(line, "evaluate", "line") == 1
    evaluation = _result(line, "evaluate")
    rise = next(g for g in evaluation["gates"] if g["kind"] == "max_rise")
    change = evaluation["metrics"]["rmse"] - champion_rmse
    assert rise["passed"] is False and change > 0.5
    message = f"rmse rose {change:.4g} from the champion's {champion_rmse:.4g}; max_rise 0.5"
    assert rise["message"] == message and message in capsys.readouterr().err
    assert evaluation["changes"]["params"] == [
        {"param": "scale", "champion": 1.0, "challenger": 1.1}
    ]
    assert modelops(line, "report", "line") == 0
    report = (line.state_dir / "reports" / "line" / "report.md").read_text()
    assert message.replace("_", "\\_").replace("'", "&#x27;") in report
    assert "| <code>scale</code> | <code>1.0</code> | <code>1.1</code> |" in report


def test_mape_with_a_zero_target_is_refused(line: Project, capsys) -> None:
    """mape of a target that is 0 anywhere in the data is undefined: data-test and train
    exit 2 naming the spec and evaluate.metrics, before anything is trained."""
    data = line.root / "data" / "line" / "line.csv"
    rows = data.read_text().splitlines()
    data.write_text("\n".join([rows[0], "0.0,0.0", *rows[1:]]) + "\n")
    for command in ("data-test", "train"):
        assert modelops(line, command, "line") == 2
        err = capsys.readouterr().err
        assert "mape is undefined: 1 value(s) of 'y'" in err
        assert "pipelines/line.yaml" in err and "evaluate.metrics" in err
    assert not (line.state_dir / "bundles").exists()


def test_a_non_numeric_target_is_refused_before_anything_is_written(line: Project, capsys) -> None:
    """A text target under task regression: exit 2 naming the spec and data.target; no run."""
    data = line.root / "data" / "line" / "line.csv"
    rows = data.read_text().splitlines()
    data.write_text("\n".join([rows[0], *(r.rsplit(",", 1)[0] + ",high" for r in rows[1:])]))
    spec = line.pipeline_path("line")
    spec.write_text(spec.read_text().replace("schema: models.line.schema:SCHEMA", "schema: m:S"))
    assert modelops(line, "train", "line") == 2
    err = capsys.readouterr().err
    assert "pipelines/line.yaml" in err and "data.target" in err and "must be numeric" in err
    assert "Traceback" not in err
    assert not (line.results_dir("line") / "train.json").exists()
    assert not (line.state_dir / "bundles").exists()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("task: regression", "task: ranking"), "evaluate.task", "is not one of"),
        (("[rmse, mae, r2, mape]", "[rmse, roc_auc]"), "evaluate.metrics[1]", "does not apply"),
        (("[rmse, mae, r2, mape]", "[rmse, nope]"), "evaluate.metrics[1]", "is not one of"),
        (("max_rise: 0.5", "max_drop: 0.5"), "evaluate.gates.rmse.max_drop", "max_rise"),
        (("{min: 0.9}", "{min: 0.9, below: 1}"), "evaluate.gates.r2", "unknown field"),
        (("  target: y\n", "  target: y\n  split: {stratify: true}\n"), "data.split.stratify", ""),
        (("task: regression", "task: regression\n  positive_class: 1"),
         "evaluate.positive_class", "binary_classification only"),
    ],
)  # fmt: skip
def test_bad_regression_specs_exit_2_naming_the_field(
    line: Project, capsys, change: tuple[str, str], field: str, words: str
) -> None:
    """Unknown task, metric or gate key, a metric of another task, the wrong champion gate:
    exit 2 with the file and field named, and nothing written."""
    spec = line.pipeline_path("line")
    spec.write_text(spec.read_text().replace(*change))
    assert modelops(line, "train", "line") == 2
    err = capsys.readouterr().err
    assert "pipelines/line.yaml" in err and field in err and words in err
    assert not line.results_dir("line").exists() or not any(line.results_dir("line").iterdir())
