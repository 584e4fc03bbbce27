"""Figure 2: the PR path of the scikit-learn example with a tracking server vs training by hand.

Toolkit: `data-test`, `train`, `evaluate`, `register`, `report` of `churn`, each a
fresh process as in CI, in a fresh scratch git copy of the template per round,
all rounds against one real `mlflow server` (sqlite backend, served artifacts) on
127.0.0.1. Baseline, run in the same round: one process that reads the same CSV,
splits it the same way and calls the model package's own `train` and `predict`.
The overhead is everything the toolkit adds: the chain's total minus the baseline.
MLflow calls are the HTTP requests the server's access log records during each
command.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bench.common import (
    MODELOPS,
    PYTHON,
    Context,
    Figure,
    Row,
    Sample,
    Stat,
    TrackingServer,
    clean_env,
    fmt_calls,
    fmt_s,
    paired,
    require_module,
    run_child,
    scratch_project,
    tracking_server,
    verdict,
)

TITLE = "2 PR-path overhead"
GOAL_OVERHEAD_S = 5.0
STEPS = ("data-test", "train", "evaluate", "register", "report")

DIRECT = r"""
import sys
sys.path.insert(0, "src")
import pandas as pd
import yaml
from sklearn.model_selection import train_test_split
import models.churn as churn
from modelops.modelapi import TrainContext

spec = yaml.safe_load(open("pipelines/churn.yaml"))
df = pd.read_csv(spec["data"]["path"])
split = spec["data"]["split"]
target = spec["data"]["target"]
train, test = train_test_split(df, test_size=split["test_fraction"], random_state=split["seed"],
                               stratify=df[target])
model = churn.train(train, spec["train"]["params"], TrainContext(seed=spec["train"]["seed"],
                    target=target))
predictions = churn.predict(model, test)
assert len(predictions) == len(test)
"""


def run_chain(
    root: Path, steps: tuple[str, ...] = STEPS, server: TrackingServer | None = None
) -> dict[str, tuple[Sample, Counter[str]]]:
    """Run the PR-path commands for churn in `root`; each step's sample and its MLflow requests."""
    env = clean_env(**({"MLFLOW_TRACKING_URI": server.url} if server else {}))
    out: dict[str, tuple[Sample, Counter[str]]] = {}
    for step in steps:
        mark = server.mark() if server else 0
        sample = run_child([MODELOPS, step, "churn"], cwd=root, env=env, timeout_s=900)
        out[step] = (sample, server.calls_since(mark) if server else Counter())
    return out


def run(ctx: Context) -> Figure:
    fig = Figure("pr_path", TITLE)
    for module in ("train", "evaluate", "registry", "report"):
        require_module(f"modelops.{module}")
    work = ctx.workdir("pr_path")
    direct: list[float] = []
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    calls: dict[str, list[Counter[str]]] = {step: [] for step in STEPS}
    fits: list[float] = []
    with tracking_server(work / "server") as server:
        for _ in range(ctx.runs):
            root = scratch_project(work / "project")
            direct.append(
                run_child([PYTHON, "-c", DIRECT], cwd=root, env=clean_env(), timeout_s=900).wall_s
            )
            for step, (sample, counted) in run_chain(root, server=server).items():
                steps[step].append(sample.wall_s)
                calls[step].append(counted)
            fits.append(_fit_seconds(root))
    totals = [sum(times) for times in zip(*steps.values(), strict=True)]
    assess(fig, steps, calls, Stat.of(totals), Stat.of(direct), Stat.of(fits))
    return fig


def assess(
    fig: Figure,
    steps: dict[str, list[float]],
    calls: dict[str, list[Counter[str]]],
    total: Stat,
    direct: Stat,
    fit: Stat,
) -> None:
    """The rows, the goal and the notes of this figure, from the measured rounds."""
    for step, times in steps.items():
        counts = Stat.of(sum(c.values()) for c in calls[step])
        fig.rows.append(
            Row(
                f"`modelops {step} churn`",
                Stat.of(times).show(fmt_s),
                note=f"MLflow requests: {counts.show(_count)}; {fmt_calls(calls[step][-1])}",
            )
        )
    overhead = paired(total.values, direct.values, lambda a, b: a - b)
    beyond_fit = paired(total.values, fit.values, lambda a, b: a - b)
    per_round = Stat.of(sum(sum(c[i].values()) for c in calls.values()) for i in range(total.n))
    fig.rows.append(
        Row(
            "PR path total",
            total.show(fmt_s),
            baseline=f"direct train+predict {direct.show(fmt_s)}",
            note=f"model fit inside train {fit.show(fmt_s)}",
        )
    )
    fig.rows.append(
        Row(
            "overhead (total − direct), tracking server",
            overhead.show(fmt_s),
            goal=f"< {fmt_s(GOAL_OVERHEAD_S)}",
            status=verdict(overhead.median < GOAL_OVERHEAD_S),
        )
    )
    fig.rows.append(Row("total − model fit", beyond_fit.show(fmt_s)))
    fig.rows.append(Row("MLflow HTTP requests, whole PR path", per_round.show(_count)))
    slowest = sorted(steps, key=lambda s: -Stat.of(steps[s]).median)[:2]
    fig.notes.append(
        f"The five steps take {fmt_s(total.median)} (median of {total.n} rounds); the direct "
        f"baseline {fmt_s(direct.median)}; the toolkit adds {fmt_s(overhead.median)} "
        f"(spread {overhead.spread(fmt_s)}), goal < {fmt_s(GOAL_OVERHEAD_S)}. Slowest steps: "
        + ", ".join(f"{s} {fmt_s(Stat.of(steps[s]).median)}" for s in slowest)
        + f". They made {per_round.median:.0f} MLflow requests in all."
    )
    if overhead.median >= GOAL_OVERHEAD_S:
        fig.misses.append(
            f"the toolkit adds {fmt_s(overhead.median)} over the direct call, "
            f"{fmt_s(overhead.median - GOAL_OVERHEAD_S)} over the goal."
        )


def _count(value: float) -> str:
    return f"{value:.0f}"


def _fit_seconds(root: Path) -> float:
    """The training time the train step recorded itself (its `timings.train`)."""
    path = root / ".modelops" / "results" / "churn" / "train.json"
    return float(json.loads(path.read_text())["timings"]["train"])
