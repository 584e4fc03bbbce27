"""`evaluate.positive_class`: the label as written in the data drives every binary metric,
plot and gate; a label the data lacks is refused before anything is written."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import forget_models, modelops
from toyproject import git_commit_all

from modelops.project import Project

YES_NO_MODEL = '''
"""P(yes) = sigmoid(k·(x − 0.5)) (a test double of a binary model with text labels)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd

def train(data, params, context):
    return {"k": float(params.get("k", 8.0))}

def predict(model, data):
    p = 1 / (1 + np.exp(-model["k"] * (data["x"].to_numpy(float) - 0.5)))
    out = pd.DataFrame({"proba_no": 1 - p, "proba_yes": p}, index=data.index)
    out.insert(0, "prediction", np.where(p >= 0.5, "yes", "no"))
    return out

def save(model, directory):
    (Path(directory) / "model.json").write_text(json.dumps(model))

def load(directory):
    return json.loads((Path(directory) / "model.json").read_text())
'''

SCHEMA = """
import pandera.pandas as pa
SCHEMA = pa.DataFrameSchema({"x": pa.Column(float), "answer": pa.Column(str)})
"""

SPEC = """\
name: yesno
owner: "@tests"
data:
  path: data/yesno.csv
  schema: models.yesno.schema:SCHEMA
  target: answer
train:
  entrypoint: models.yesno
evaluate:
  task: binary_classification
  metrics: [roc_auc, f1, precision, recall, brier]
  primary_metric: f1
POSITIVE
  gates:
    f1: {min: 0.1}
"""


@pytest.fixture
def yesno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A committed project with a binary model whose labels are "no" (70 %) and "yes"."""
    import numpy as np

    root = tmp_path / "proj"
    pkg = root / "src" / "models" / "yesno"
    pkg.mkdir(parents=True)
    (root / "src" / "models" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(textwrap.dedent(YES_NO_MODEL))
    (pkg / "schema.py").write_text(textwrap.dedent(SCHEMA))
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, 400)
    answer = np.where(x + rng.normal(0, 0.25, 400) > 0.7, "yes", "no")
    (root / "data").mkdir()
    rows = [f"{a:.4f},{b}" for a, b in zip(x, answer, strict=True)]
    (root / "data" / "yesno.csv").write_text("x,answer\n" + "\n".join(rows) + "\n")
    (root / "pipelines").mkdir()
    (root / "pipelines" / "yesno.yaml").write_text(SPEC.replace("POSITIVE\n", ""))
    (root / ".gitignore").write_text(".modelops/\n__pycache__/\n")
    git_commit_all(root)
    monkeypatch.chdir(root)
    yield Project(root)
    forget_models()


def _set_positive(project: Project, line: str) -> None:
    spec = project.pipeline_path("yesno")
    spec.write_text(SPEC.replace("POSITIVE", line))


def _evaluate(project: Project) -> dict:
    assert modelops(project, "train", "yesno", "--force") == 0
    assert modelops(project, "evaluate", "yesno") == 0
    return json.loads((project.results_dir("yesno") / "evaluate.json").read_text())


def test_positive_class_drives_every_binary_metric_and_plot(yesno: Project) -> None:
    """With positive_class "no", f1/precision/recall/brier, ROC, calibration and the
    report describe "no"; the default stays the last sorted label ("yes")."""
    import numpy as np
    import pandas as pd
    from sklearn import metrics as skm

    from modelops.data.split import split
    from modelops.spec import load_pipeline

    default = _evaluate(yesno)
    assert default["positive_class"] == "yes"
    assert default["plots"]["roc"]["kind"] == "positive class yes"

    _set_positive(yesno, '  positive_class: "no"')
    chosen = _evaluate(yesno)
    assert chosen["positive_class"] == "no"
    assert chosen["plots"]["roc"]["kind"] == "positive class no"
    assert chosen["plots"]["calibration"]["kind"] == "P(no)"

    spec = load_pipeline(yesno, "yesno")
    _, test = split(spec, pd.read_csv(yesno.root / "data" / "yesno.csv"))
    p_yes = 1 / (1 + np.exp(-8.0 * (test["x"].to_numpy() - 0.5)))
    predicted = ["yes" if p >= 0.5 else "no" for p in p_yes]
    y = test["answer"]
    for name, fn in (("f1", skm.f1_score), ("precision", skm.precision_score),
                     ("recall", skm.recall_score)):  # fmt: skip
        assert chosen["metrics"][name] == pytest.approx(fn(y, predicted, pos_label="no"), abs=1e-6)
        assert default["metrics"][name] == pytest.approx(
            fn(y, predicted, pos_label="yes"), abs=1e-6
        )
    assert chosen["metrics"]["f1"] != default["metrics"]["f1"]
    assert chosen["metrics"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y == "no", 1 - p_yes), abs=1e-6
    )
    brier = float((((1 - p_yes) - (y == "no").to_numpy()) ** 2).mean())
    assert chosen["metrics"]["brier"] == pytest.approx(brier, abs=1e-6)
    assert modelops(yesno, "report", "yesno") == 0
    report = (yesno.state_dir / "reports" / "yesno" / "report.md").read_text()
    assert "Positive class: <code>no</code>." in report and "#### ROC (positive class no)" in report


def test_an_integer_positive_class_is_matched_to_integer_labels() -> None:
    """`positive_class: 0` names the label 0 (and "0" does too); YAML's `yes` (True) does not
    name the label 1."""
    from modelops.metrics import match_label, positive_label

    assert positive_label([0, 1], 0) == 0 and positive_label([0, 1], "0") == 0
    assert positive_label([0, 1]) == 1
    assert match_label([0, 1], True) is None and match_label([False, True], True) is True


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('  positive_class: "maybe"', "positive class 'maybe' is not a label of 'answer'"),
        ("  positive_class: yes", "quote it"),
    ],
)
def test_a_positive_class_absent_from_the_data_is_refused(
    yesno: Project, capsys, line: str, words: str
) -> None:
    """data-test, train and evaluate exit 2 naming the spec and evaluate.positive_class;
    nothing is trained or written."""
    _set_positive(yesno, line)
    for command in ("data-test", "train"):
        assert modelops(yesno, command, "yesno") == 2
        err = capsys.readouterr().err
        assert "pipelines/yesno.yaml" in err and "evaluate.positive_class" in err
        assert words in err and "Traceback" not in err
    assert not (yesno.state_dir / "bundles").exists()
    assert not (yesno.results_dir("yesno") / "train.json").exists()
