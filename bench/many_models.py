"""Figure 5: a repository of 500 models × 3 environments against one of 5.

The generated repository is a real one: each model has its own package folder
(a thin re-export of the churn example), data folder and spec; each has a
registered MLflow version carrying its bundle, digest-pinned manifests in dev,
staging and prod, and has been deployed to all three by a real `modelops deploy`.
Then a one-model change is committed. Measured on it: `validate`, `changed` for
that commit, `status`, and a second `deploy dev` that has nothing to do.

MLflow calls of the no-op deploy are counted by running the same command in a
process whose MLflow backend stores (tracking, registry, artifact repository)
count every outermost public call: with a tracking server each would be a REST
request.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bench.common import (
    MISSED,
    MODELOPS,
    NOT_RUN,
    PYTHON,
    REPO,
    BenchError,
    Context,
    Figure,
    Row,
    clean_env,
    fmt_s,
    git,
    measure,
    ratio,
    require_module,
    run_child,
    verdict,
)

TITLE = "5 Many models"
GOAL_S = 1.0
ENVS = ("dev", "staging", "prod")
READY = ".bench-ready"
DATA_ROWS = 40
# A command that scans 500 models slowly must not eat the whole benchmark budget.
COMMAND_TIMEOUT_S = 120.0
COMMAND_BUDGET_S = 40.0


def model_name(i: int) -> str:
    return f"m{i:03d}"


def generate(root: Path, count: int) -> None:
    """Write the repository's files (specs, packages, data, environments) and commit them."""
    if root.exists():
        shutil.rmtree(root)
    (root / "pipelines").mkdir(parents=True)
    for env in ENVS:
        (root / "environments" / env / "models").mkdir(parents=True)
        shutil.copy2(
            REPO / "environments" / env / "environment.yaml",
            root / "environments" / env / "environment.yaml",
        )
    shutil.copytree(
        REPO / "src" / "models",
        root / "src" / "models",
        ignore=shutil.ignore_patterns("__pycache__", "digits"),
    )
    spec_text = (REPO / "pipelines" / "churn.yaml").read_text()
    data_head = (REPO / "data" / "churn" / "customers.csv").read_text().splitlines()
    for i in range(count):
        name = model_name(i)
        pkg = root / "src" / "models" / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text(
            f'"""Model {name}: the churn example under its own name."""\n'
            "from models.churn import load, predict, save, train  # noqa: F401\n"
        )
        (pkg / "schema.py").write_text("from models.churn.schema import SCHEMA  # noqa: F401\n")
        data = root / "data" / name
        data.mkdir(parents=True)
        (data / "customers.csv").write_text("\n".join(data_head[: DATA_ROWS + 1]) + "\n")
        (root / "pipelines" / f"{name}.yaml").write_text(
            spec_text.replace("name: churn", f"name: {name}")
            .replace("data/churn/", f"data/{name}/")
            .replace("models.churn", f"models.{name}")
        )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"{count} models")


def register_all(root: Path, count: int) -> None:
    """In this process: a run, a registered version and a deployed state for every model.

    Built through the toolkit's own registry client and store API with one MLflow client
    for all models, so setting up 500 models does not depend on how fast deploy is; the
    first measured `deploy` proves the state is complete (it must find nothing to do).
    """
    from modelops import registry
    from modelops.fsutil import tree_digest
    from modelops.project import Project
    from modelops.spec import load_environment
    from modelops.store import open_store

    project = Project(root)
    mc = registry.client(project)
    bundles = root / ".modelops" / "bench-bundles"
    commit = git(root, "rev-parse", "HEAD")
    stores = {env: open_store(project, env, load_environment(project, env).store) for env in ENVS}
    live: dict[str, dict[str, dict[str, object]]] = {env: {} for env in ENVS}
    for i in range(count):
        name = model_name(i)
        bundle = bundles / name
        (bundle / "model").mkdir(parents=True)
        (bundle / "bundle.json").write_text(json.dumps({"model": name, "entrypoint": name}))
        (bundle / "model" / "model.json").write_text(json.dumps({"weights": [i]}))
        digest = tree_digest(bundle)
        tags = {"modelops.sha256": digest}
        experiment = registry.ensure_experiment(project, name)
        run = mc.create_run(experiment, tags=tags)
        mc.log_artifacts(run.info.run_id, str(bundle), registry.BUNDLE_ARTIFACT_PATH)
        mc.set_terminated(run.info.run_id)
        mc.create_registered_model(name, tags={"modelops.managed": "true"})
        source = f"{run.info.artifact_uri.rstrip('/')}/{registry.BUNDLE_ARTIFACT_PATH}"
        version = int(
            mc.create_model_version(name, source, run_id=run.info.run_id, tags=tags).version
        )
        for env, came_from in zip(ENVS, ("registry", "dev", "staging"), strict=True):
            (root / "environments" / env / "models" / f"{name}.yaml").write_text(
                f"model: {name}\n"
                f"version: {version}\n"
                f"model_uri: models:/{name}/{version}\n"
                # Quoted: an all-digit hex string would otherwise load as a YAML number.
                f"sha256: '{digest}'\n"
                f"run_id: '{run.info.run_id}'\n"
                f"source_commit: '{commit}'\n"
                f"data_sha256: '{'0' * 64}'\n"
                "metrics: {roc_auc: 0.85}\n"
                f"promoted_from: {came_from}\n"
                "promoted_at: '2025-01-01T00:00:00+00:00'\n"
            )
            stores[env].put_bundle(name, digest, bundle)
            mc.set_registered_model_alias(name, env, str(version))
            live[env][name] = {"version": version, "sha256": digest, "deployed_at": "2025-01-01"}
    for env in ENVS:
        stores[env].write_live(live[env])


def prepare(root: Path, count: int) -> None:
    """The repository with `count` models deployed everywhere and one model changed since."""
    if (root / READY).is_file() and (root / READY).read_text() == str(count):
        return
    generate(root, count)
    run_child(
        [PYTHON, "-m", "bench.many_models", "register", str(root), str(count)],
        cwd=REPO,
        env=clean_env(),
        timeout_s=1200,
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "manifests")
    # The change `changed` is measured on: one model's data, nothing else.
    data = root / "data" / model_name(0) / "customers.csv"
    data.write_text(data.read_text().replace(",1\n", ",0\n", 1))
    git(root, "commit", "-qam", "one model's data changed")
    (root / READY).write_text(str(count))


COUNTER = r"""
import inspect, json, sys
from collections import Counter
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Tracking
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Registry
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository as Artifacts

calls = Counter()
depth = [0]

def counted(cls_name, name, fn):
    def wrapper(*args, **kwargs):
        depth[0] += 1
        try:
            if depth[0] == 1:  # a store method calling another is still one request
                calls[f"{cls_name}.{name}"] += 1
            return fn(*args, **kwargs)
        finally:
            depth[0] -= 1
    return wrapper

for label, cls in (("tracking", Tracking), ("registry", Registry), ("artifacts", Artifacts)):
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_"):
            setattr(cls, name, counted(label, name, fn))

from modelops.cli import main
code = main(sys.argv[1:])
print("BENCH-CALLS " + json.dumps({"exit": code, "calls": dict(calls)}))
"""


def count_mlflow_calls(root: Path, argv: list[str]) -> dict[str, int]:
    sample = run_child([PYTHON, "-c", COUNTER, *argv], cwd=root, env=clean_env())
    for line in sample.stdout.splitlines():
        if line.startswith("BENCH-CALLS "):
            payload = json.loads(line.removeprefix("BENCH-CALLS "))
            return dict(payload["calls"])
    raise BenchError("the call counter printed nothing")


def run(ctx: Context) -> Figure:
    fig = Figure("many_models", TITLE)
    require_module("modelops.deploy")
    small, large = (2, 20) if ctx.quick else (5, 500)
    repeat = 1 if ctx.quick else 3
    work = ctx.workdir("many_models")
    roots = {n: work / f"repo-{n}" for n in (small, large)}
    for n, root in roots.items():
        prepare(root, n)

    env = clean_env()
    commands = {
        "`validate`": ["validate"],
        "`changed` (one model touched)": ["changed", "--base", "HEAD~1", "--head", "HEAD"],
        "`status`": ["status"],
        "`deploy dev` (no-op)": ["deploy", "dev"],
    }
    for label, args in commands.items():
        handler = "validate" if args[0] == "validate" else "changes" if args[0] == "changed" else ""
        if handler and not (REPO / "src" / "modelops" / f"{handler}.py").exists():
            fig.rows.append(Row(label, "—", status=NOT_RUN, note=f"modelops.{handler} missing"))
            continue
        timings = {}
        try:
            for n, root in roots.items():
                timings[n] = measure(
                    [MODELOPS, *args],
                    repeat=repeat,
                    warmup=1,
                    cwd=root,
                    env=env,
                    timeout_s=COMMAND_TIMEOUT_S,
                    budget_s=COMMAND_BUDGET_S,
                )
        except BenchError as exc:
            fig.rows.append(Row(f"{label} at {n}", "—", status=NOT_RUN, note=str(exc)))
            continue
        out = timings[large].last.stdout
        if args[0] == "deploy" and "nothing to do" not in out:
            raise BenchError(f"the second deploy was not a no-op: {out.strip()[:200]}")
        if args[0] == "changed" and model_name(0) not in out:
            raise BenchError(f"`changed` did not report {model_name(0)}: {out.strip()[:200]}")
        t_small, t_large = timings[small].best, timings[large].best
        growth = t_large / t_small
        fig.rows.append(
            Row(
                f"{label} at {large}",
                fmt_s(t_large),
                baseline=f"{small} models {fmt_s(t_small)}",
                ratio=ratio(t_large, t_small),
                goal=f"< {fmt_s(GOAL_S)}, ≤ {large // small}× (linear)",
                status=verdict(t_large < GOAL_S and growth <= large / small),
                note=f"{(t_large - t_small) / (large - small) * 1000:.2f} ms per extra model",
            )
        )
        if t_large >= GOAL_S:
            fig.misses.append(
                f"{label} takes {fmt_s(t_large)} at {large} models "
                f"({(t_large - t_small) / (large - small) * 1000:.1f} ms per model): "
                + _why(args[0])
            )

    for n, root in roots.items():
        try:
            calls = count_mlflow_calls(root, ["deploy", "dev"])
        except BenchError as exc:
            fig.rows.append(
                Row(f"MLflow calls, no-op deploy, {n} models", "—", status=NOT_RUN, note=str(exc))
            )
            continue
        total = sum(calls.values())
        top = ", ".join(f"{k} ×{v}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:3])
        fig.rows.append(
            Row(
                f"MLflow calls of a no-op `deploy dev`, {n} unchanged models",
                str(total),
                goal="0",
                status=verdict(total == 0),
                note=top or "none",
            )
        )
    if any(r.status == MISSED and r.what.startswith("MLflow calls") for r in fig.rows):
        fig.misses.append(
            "a no-op deploy calls MLflow for every model (counts above): the reconcile reads "
            "each model's registry alias to detect an alias moved by hand. Closing it: record "
            "the alias state with `live.json` and read the registry only for models whose "
            "manifest or pointer differs; keep the full alias check in `status`."
        )
    fig.notes.append(
        f"Repositories of {small} and {large} models, each deployed to {', '.join(ENVS)} by a "
        "real `modelops deploy` before measuring; the last commit changes one model's data. "
        f"Best of {repeat} after one warm-up; embedded MLflow (sqlite)."
    )
    fig.notes.append(
        "MLflow calls are counted by wrapping every public method of MLflow's sqlite tracking "
        "and registry stores and the local artifact repository in the deploy process "
        "(nested calls count once): with a tracking server each would be one REST request."
    )
    return fig


def _why(command: str) -> str:
    return {
        "validate": "it checks every spec, manifest and entrypoint; the per-model part was not "
        "profiled here. Closing it: profile at 500 models and cache what repeats "
        "(schema compilation, shared entrypoints).",
        "changed": "it reads every spec to learn which paths it watches; the per-model part "
        "was not profiled here. Closing it: profile at 500 models; match paths before parsing.",
        "status": "each model × environment asks MLflow for its alias and re-hashes its stored "
        "bundle (see `modelops.deploy.inspect`). Closing it: read aliases in one search per "
        "environment and trust the stored digest unless asked to verify.",
        "deploy": "the reconcile asks MLflow for every model's alias and re-hashes every stored "
        "bundle even when the pointer matches git. Closing it: skip unchanged models.",
    }[command]


if __name__ == "__main__":
    # `python -m bench.many_models register ROOT COUNT`: the setup step, in its own process.
    if len(sys.argv) == 4 and sys.argv[1] == "register":
        register_all(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("usage: python -m bench.many_models register ROOT COUNT")
