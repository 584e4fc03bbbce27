"""A tiny model package and spec written into a temp project, for tests that need no real model.

The toy model predicts the majority class and saves itself as JSON, so bundles,
registry and gates can be tested in milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

TOY_MODEL = '''
"""Majority-class model, its confidence set by params.bias (a test double of a model package)."""
import json
from pathlib import Path

import pandas as pd

def train(data, params, context):
    counts = data[context.target].value_counts()
    for step, value in enumerate(params.get("losses", [])):
        context.log_metric("train_loss", float(value), step)
    return {"classes": sorted(counts.index.tolist()), "majority": int(counts.idxmax()),
            "bias": float(params.get("bias", 0.6))}

def predict(model, data):
    out = pd.DataFrame(index=data.index)
    other = (1 - model["bias"]) / max(len(model["classes"]) - 1, 1)
    for label in model["classes"]:
        p = model["bias"] if label == model["majority"] else other
        out[f"proba_{label}"] = p + 0.001 * data["x"].rank(pct=True).to_numpy() * (
            1 if label == model["majority"] else -1)
    probas = out[[f"proba_{c}" for c in model["classes"]]].to_numpy()
    out.insert(0, "prediction", [model["classes"][i] for i in probas.argmax(axis=1)])
    return out

def save(model, directory):
    (Path(directory) / "model.json").write_text(json.dumps(model))

def load(directory):
    return json.loads((Path(directory) / "model.json").read_text())
'''

TOY_SCHEMA = """
import pandera.pandas as pa
SCHEMA = pa.DataFrameSchema({"x": pa.Column(float), "y": pa.Column(int)})
"""

TOY_SPEC = """\
name: toy
owner: "@tests"
data:
  path: data/toy/toy.csv
  schema: models.toy.schema:SCHEMA
  target: y
train:
  entrypoint: models.toy
  params: {bias: 0.6}
  seed: 3
evaluate:
  task: binary_classification
  metrics: [accuracy, roc_auc]
  primary_metric: accuracy
  gates:
    accuracy: {min: 0.5, max_drop: 0.01}
drift:
  features: [x]
"""


def write_toy(root: Path, *, spec: str = TOY_SPEC, rows: int = 200) -> Path:
    """Add the toy model (code, schema, data, spec) to the project at `root`."""
    pkg = root / "src" / "models" / "toy"
    pkg.mkdir(parents=True, exist_ok=True)
    init = root / "src" / "models" / "__init__.py"
    if not init.exists():
        init.write_text("")
    (pkg / "__init__.py").write_text(textwrap.dedent(TOY_MODEL))
    (pkg / "schema.py").write_text(textwrap.dedent(TOY_SCHEMA))
    data = root / "data" / "toy"
    data.mkdir(parents=True, exist_ok=True)
    lines = ["x,y"] + [f"{i / rows:.4f},{int(i % 3 == 0)}" for i in range(rows)]
    (data / "toy.csv").write_text("\n".join(lines) + "\n")
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "pipelines" / "toy.yaml").write_text(spec)
    return root


def git_commit_all(root: Path, message: str = "toy") -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "commit", "-qm", message, "--allow-empty"], cwd=root, check=True, env=env
    )
