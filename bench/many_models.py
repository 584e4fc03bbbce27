"""Figure 5: `validate`, `changed`, `status` and a no-op `deploy` at 500 models × 3 environments.

The generated repository holds distinct models: each has its own package (a small
logistic regression on its own subset of the churn features, with its own pandera
schema), its own spec with its own parameters, and its own data file (its own
slice of the churn rows, with only its columns). Setup, not timed: each package
trains on its data and saves its model; the bench writes the bundle and registers
a version per model with MLflow's public client, straight into the sqlite database
the server will use (500 models over HTTP would take minutes); it writes
digest-pinned manifests for dev, staging and prod; then a real `modelops deploy`
of each environment (on that database) copies the bundles and points the aliases.
One model's data is changed in a last commit. Then a real `mlflow server` is
started on that database, and measured against it: `validate`, `changed` for that
commit, `status` and a second `deploy dev` that has nothing to do, in rounds after
one warm-up round. MLflow calls are the HTTP requests the server logs during each
command.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    MODELOPS,
    PYTHON,
    REPO,
    BenchError,
    Context,
    Figure,
    Row,
    Stat,
    Timing,
    TrackingServer,
    clean_env,
    fmt_calls,
    fmt_s,
    git,
    require_module,
    run_child,
    tracking_server,
    verdict,
)

TITLE = "5 Many models"
GOAL_S = 2.0
ENVS = ("dev", "staging", "prod")
READY = ".bench-ready"
DATA_ROWS = 60
COMMAND_TIMEOUT_S = 120.0
NUMERIC = ("tenure_months", "monthly_charges", "total_charges", "support_calls")
RANGES = {
    "tenure_months": "pa.Check.in_range(0, 72)",
    "monthly_charges": "pa.Check.in_range(0.0, 500.0)",
    "total_charges": "pa.Check.ge(0.0)",
    "support_calls": "pa.Check.in_range(0, 50)",
}
DTYPES = {"tenure_months": int, "monthly_charges": float, "total_charges": float}
SUBSETS = [
    combo for k in range(1, len(NUMERIC) + 1) for combo in itertools.combinations(NUMERIC, k)
]

PACKAGE = '''\
"""{name}: logistic regression on {features_text} (a generated model of the bench)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FEATURES = {features!r}
TARGET = "churned"
DEFAULTS = {{"C": {c!r}, "threshold": {threshold!r}}}


def train(data: Any, params: dict[str, Any], context: Any) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    p = {{**DEFAULTS, **params}}
    x = data[list(FEATURES)].fillna(0.0).to_numpy(dtype=float)
    fit = LogisticRegression(C=float(p["C"]), max_iter=500, random_state=context.seed)
    fit.fit(x, data[context.target].to_numpy())
    return {{
        "coef": fit.coef_[0].tolist(),
        "intercept": float(fit.intercept_[0]),
        "classes": [int(c) for c in fit.classes_],
        "threshold": float(p["threshold"]),
    }}


def predict(model: dict[str, Any], data: Any) -> Any:
    import numpy as np
    import pandas as pd

    x = data[list(FEATURES)].fillna(0.0).to_numpy(dtype=float)
    p1 = 1.0 / (1.0 + np.exp(-(x @ np.array(model["coef"]) + model["intercept"])))
    low, high = model["classes"]
    return pd.DataFrame(
        {{
            "prediction": np.where(p1 >= model["threshold"], high, low),
            f"proba_{{low}}": 1.0 - p1,
            f"proba_{{high}}": p1,
        }},
        index=data.index,
    )


def save(model: dict[str, Any], directory: Path) -> None:
    (directory / "model.json").write_text(json.dumps(model, sort_keys=True))


def load(directory: Path) -> dict[str, Any]:
    model: dict[str, Any] = json.loads((directory / "model.json").read_text())
    return model
'''

SCHEMA = '''\
"""What {name}'s table looks like."""

import pandera.pandas as pa

SCHEMA = pa.DataFrameSchema(
    {{
        "customer_id": pa.Column(str, pa.Check.str_matches(r"^CUST-\\d+$"), unique=True),
{columns}        "churned": pa.Column(int, pa.Check.isin((0, 1))),
    }},
    strict=True,
    name="{name}",
)
'''


def model_name(i: int) -> str:
    return f"m{i:03d}"


def model_design(i: int) -> dict[str, Any]:
    """Model i's own features and parameters: no two models share both."""
    features = SUBSETS[i % len(SUBSETS)]
    return {
        "features": features,
        "c": round(0.05 * (1 + i // len(SUBSETS)), 2),
        "threshold": round(0.3 + 0.01 * (i % 40), 2),
    }


def generate(root: Path, count: int) -> None:
    """Write the repository's files (specs, packages, data, environments) and commit them."""
    import yaml

    if root.exists():
        shutil.rmtree(root)
    (root / "pipelines").mkdir(parents=True)
    for env in ENVS:
        (root / "environments" / env / "models").mkdir(parents=True)
        shutil.copy2(
            REPO / "environments" / env / "environment.yaml",
            root / "environments" / env / "environment.yaml",
        )
    (root / "src" / "models").mkdir(parents=True)
    (root / "src" / "models" / "__init__.py").write_text('"""Generated models."""\n')
    base = yaml.safe_load((REPO / "pipelines" / "churn.yaml").read_text())
    with (REPO / "data" / "churn" / "customers.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i in range(count):
        name = model_name(i)
        design = model_design(i)
        features = list(design["features"])
        pkg = root / "src" / "models" / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text(
            PACKAGE.format(
                name=name,
                features=tuple(features),
                features_text=", ".join(features),
                c=design["c"],
                threshold=design["threshold"],
            )
        )
        columns = "".join(
            f'        "{f}": pa.Column({DTYPES.get(f, int).__name__}, {RANGES[f]}'
            + (", nullable=True" if f == "total_charges" else "")
            + "),\n"
            for f in features
        )
        (pkg / "schema.py").write_text(SCHEMA.format(name=name, columns=columns))
        # Its own slice of the rows, its own columns.
        start = (i * 7) % (len(rows) - DATA_ROWS)
        data = root / "data" / name
        data.mkdir(parents=True)
        with (data / "customers.csv").open("w", newline="") as fh:
            out = csv.DictWriter(fh, ["customer_id", *features, "churned"], extrasaction="ignore")
            out.writeheader()
            out.writerows(rows[start : start + DATA_ROWS])
        spec = json.loads(json.dumps(base))  # a deep copy of the plain YAML data
        spec["name"] = name
        spec["description"] = f"Generated model {name} of the many-models benchmark."
        spec["data"]["path"] = f"data/{name}/customers.csv"
        spec["data"]["schema"] = f"models.{name}.schema:SCHEMA"
        spec["train"]["entrypoint"] = f"models.{name}"
        spec["train"]["params"] = {"C": design["c"], "threshold": design["threshold"]}
        spec["drift"]["features"] = features
        (root / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"{count} models")


def register_all(root: Path, count: int, tracking_uri: str, artifacts: Path) -> None:
    """In this process: train each model, write its bundle, register it, pin it everywhere.

    Only MLflow's public client and each model package's own contract are used; the
    bundle's identity is the documented `fsutil.tree_digest`. Deploying is left to the
    real `modelops deploy` afterwards.
    """
    import importlib

    import mlflow
    import pandas as pd
    import yaml

    from modelops.fsutil import tree_digest
    from modelops.modelapi import TrainContext

    sys.path.insert(0, str(root / "src"))
    mc = mlflow.MlflowClient(tracking_uri)
    bundles = root / ".modelops" / "bench-bundles"
    commit = git(root, "rev-parse", "HEAD")
    experiment = mc.create_experiment("bench-many-models", artifact_location=artifacts.as_uri())
    for i in range(count):
        name = model_name(i)
        module = importlib.import_module(f"models.{name}")
        csv_path = root / "data" / name / "customers.csv"
        frame = pd.read_csv(csv_path)
        params = yaml.safe_load((root / "pipelines" / f"{name}.yaml").read_text())["train"]
        model = module.train(frame, params["params"], TrainContext(seed=42, target="churned"))
        bundle = bundles / name
        (bundle / "model").mkdir(parents=True)
        module.save(model, bundle / "model")
        features = list(module.FEATURES)
        meta = {
            "bundle_format": 1,
            "model": name,
            "entrypoint": f"models.{name}",
            "format": "json",
            "features": features,
            "target": "churned",
            "classes": model["classes"],
            "signature": {f: str(frame[f].dtype) for f in features},
            "created_by": "bench/many_models.py",
        }
        (bundle / "bundle.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        example = json.loads(frame[features].head(3).to_json(orient="records"))
        (bundle / "input_example.json").write_text(json.dumps(example, sort_keys=True) + "\n")
        digest = tree_digest(bundle)
        tags = {"modelops.sha256": digest}
        # As few database writes as a registered version needs: setup time, not measured.
        run = mc.create_run(experiment, tags=tags)
        mc.log_artifacts(run.info.run_id, str(bundle), "bundle")
        mc.create_registered_model(name, tags={"modelops.managed": "true"})
        source = f"{run.info.artifact_uri.rstrip('/')}/bundle"
        version = int(
            mc.create_model_version(name, source, run_id=run.info.run_id, tags=tags).version
        )
        data_sha256 = hashlib.sha256(csv_path.read_bytes()).hexdigest()
        for env, came_from in zip(ENVS, ("registry", "dev", "staging"), strict=True):
            manifest = {
                "model": name,
                "version": version,
                "model_uri": f"models:/{name}/{version}",
                "sha256": digest,
                "run_id": run.info.run_id,
                "source_commit": commit,
                "data_sha256": data_sha256,
                "metrics": {"roc_auc": 0.8},
                "promoted_from": came_from,
                "promoted_at": "2026-01-01T00:00:00+00:00",
            }
            path = root / "environments" / env / "models" / f"{name}.yaml"
            path.write_text(yaml.safe_dump(manifest, sort_keys=False))


def prepare(root: Path, count: int, db_dir: Path) -> str:
    """`count` models registered in `db_dir`'s database, deployed everywhere, one changed since.

    Returns a line saying how long the setup took (it is not part of any figure).
    """
    if db_dir.exists():
        shutil.rmtree(db_dir)
    db_dir.mkdir(parents=True)
    uri = f"sqlite:///{db_dir / 'mlflow.db'}"
    start = time.perf_counter()
    generate(root, count)
    run_child(
        [PYTHON, "-m", "bench.many_models", "register", str(root), str(count), uri,
         str(db_dir / "artifacts")],
        cwd=REPO, env=clean_env(), timeout_s=1800,
    )  # fmt: skip
    git(root, "add", "-A")
    git(root, "commit", "-qm", "manifests")
    registered = time.perf_counter()
    env = clean_env(MLFLOW_TRACKING_URI=uri)
    for name in ENVS:
        run_child([MODELOPS, "deploy", name], cwd=root, env=env, timeout_s=1800)
    done = (
        f"setup of {count} models (not timed): generated and registered in "
        f"{registered - start:.0f} s, first `modelops deploy` of {len(ENVS)} environments "
        f"in {time.perf_counter() - registered:.0f} s"
    )
    print(f"   {done}", flush=True)
    # The change `changed` is measured on: one model's data, nothing else.
    data = root / "data" / model_name(0) / "customers.csv"
    data.write_text(data.read_text().replace(",1\n", ",0\n", 1))
    git(root, "commit", "-qam", "one model's data changed")
    return done


COMMANDS = {
    "validate": ["validate"],
    "changed": ["changed", "--base", "HEAD~1", "--head", "HEAD"],
    "status": ["status"],
    "deploy": ["deploy", "dev"],
}
LABELS = {
    "validate": "`validate`",
    "changed": "`changed` (one model touched)",
    "status": "`status`",
    "deploy": "`deploy dev` (no-op)",
}


def measure_repo(
    root: Path, server: TrackingServer, runs: int
) -> tuple[dict[str, Timing], dict[str, Counter[str]]]:
    """Each command `runs` times in rounds after one warm-up round; its requests in the last."""
    env = clean_env(MLFLOW_TRACKING_URI=server.url)
    for args in COMMANDS.values():
        run_child([MODELOPS, *args], cwd=root, env=env, timeout_s=COMMAND_TIMEOUT_S)
    samples: dict[str, list[Any]] = {key: [] for key in COMMANDS}
    calls: dict[str, Counter[str]] = {}
    for _ in range(runs):
        for key, args in COMMANDS.items():
            mark = server.mark()
            sample = run_child([MODELOPS, *args], cwd=root, env=env, timeout_s=COMMAND_TIMEOUT_S)
            samples[key].append(sample)
            calls[key] = server.calls_since(mark)
    out = samples["deploy"][-1].stdout
    if "nothing to do" not in out:
        raise BenchError(f"the measured deploy was not a no-op: {out.strip()[:200]}")
    if model_name(0) not in samples["changed"][-1].stdout:
        raise BenchError(f"`changed` did not report {model_name(0)}")
    return {k: Timing(tuple(v)) for k, v in samples.items()}, calls


def run(ctx: Context) -> Figure:
    fig = Figure("many_models", TITLE)
    require_module("modelops.deploy")
    small, large = (2, 20) if ctx.quick else (5, 500)
    work = ctx.workdir("many_models")
    timings: dict[int, dict[str, Timing]] = {}
    calls: dict[int, dict[str, Counter[str]]] = {}
    for n in (small, large):
        # A fresh database and repository per size: the registry holds exactly these models.
        root, db_dir = work / f"repo-{n}", work / f"server-{n}"
        fig.notes.append(prepare(root, n, db_dir).capitalize() + ".")
        with tracking_server(db_dir, fresh=False) as server:
            timings[n], calls[n] = measure_repo(root, server, ctx.runs)
    assess(fig, timings, calls, small, large)
    return fig


def assess(
    fig: Figure,
    timings: dict[int, dict[str, Timing]],
    calls: dict[int, dict[str, Counter[str]]],
    small: int,
    large: int,
) -> None:
    """Rows, goals and notes of this figure from the measured runs."""
    for key, label in LABELS.items():
        big: Stat = timings[large][key].wall
        little: Stat = timings[small][key].wall
        requests = calls[large][key]
        per_model = (big.median - little.median) / (large - small)
        fig.rows.append(
            Row(
                f"{label} at {large} models",
                big.show(fmt_s),
                baseline=f"{small} models {little.show(fmt_s)}",
                ratio=f"{big.median / little.median:.2f}×",
                goal=f"< {fmt_s(GOAL_S)}",
                status=verdict(big.median < GOAL_S),
                note=f"{sum(requests.values())} MLflow requests ({fmt_calls(requests, 2)}); "
                f"{per_model * 1000:.2f} ms per extra model",
            )
        )
        if big.median >= GOAL_S:
            fig.misses.append(
                f"{label} takes {fmt_s(big.median)} at {large} models (spread "
                f"{big.spread(fmt_s)}), {fmt_s(big.median - GOAL_S)} over the goal; "
                f"{per_model * 1000:.2f} ms per model beyond the {small}-model repository."
            )
    counts = ", ".join(f"{k} {sum(calls[large][k].values())}" for k in COMMANDS)
    fig.notes.append(
        f"MLflow HTTP requests per command at {large} models (one run each): {counts}; "
        f"at {small} models: "
        + ", ".join(f"{k} {sum(calls[small][k].values())}" for k in COMMANDS)
        + "."
    )
    met = [LABELS[k] for k in COMMANDS if timings[large][k].wall.median < GOAL_S]
    fig.notes.append(
        f"{len(met)} of {len(COMMANDS)} commands within {fmt_s(GOAL_S)} at {large} models"
        + (f": {', '.join(met)}." if met else ".")
    )


if __name__ == "__main__":
    # `python -m bench.many_models register ROOT COUNT URI ARTIFACTS`: the setup, own process.
    if len(sys.argv) == 6 and sys.argv[1] == "register":
        register_all(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]))
    else:
        sys.exit("usage: python -m bench.many_models register ROOT COUNT TRACKING_URI ARTIFACTS")
