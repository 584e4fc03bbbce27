"""Scheduled watching of deployed models: which checks are due, and running them.

The monitoring workflow (`.github/workflows/monitor.yml`) runs once an hour.
`due_checks` reads each spec's `drift.schedule` and `monitor.schedule` (cron, UTC)
and says which models have a check due in the hour that contains the run's time, so
each model is watched on its own schedule from one workflow. A section without a
schedule is checked on `DEFAULT_SCHEDULE` (Mondays 06:00 UTC). A model the
environment does not run has nothing to watch.

`watch_model` runs the due checks of one model (`drift` on recent data, `monitor`
on predictions and labels) and names the trigger for `modelops retrain`: `monitor`
when a performance gate was crossed (the stronger finding), else `drift`. A check
whose inputs are not there yet is reported as skipped, not failed: a new model has
no labels in its first weeks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelops.errors import InputError
from modelops.project import Project
from modelops.results import CommandResult
from modelops.spec import list_models, load_manifest, load_pipeline

DEFAULT_SCHEDULE = "0 6 * * 1"
CHECKS = ("drift", "monitor")
# The workflow's own period: a model's check is due when its cron fires in the hour.
PERIOD = timedelta(hours=1)
DATA_SUFFIXES = (".csv", ".parquet")


def _cron_fires(expr: str, start: datetime) -> bool:
    """Whether cron `expr` (checked when the spec loaded) ticks in [start, start + PERIOD)."""
    from cronsim import CronSim

    # CronSim yields times strictly after its start.
    return next(CronSim(expr, start - timedelta(minutes=1))) < start + PERIOD


def parse_time(value: str | None) -> datetime:
    """An ISO 8601 time (default now) in UTC; an InputError naming --at otherwise."""
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"'{value}' is not an ISO 8601 time", field="--at", hint="e.g. 2026-11-30T07:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass
class DueResult(CommandResult):
    """`matrix`: {"include": [{"model", "checks"}]} of the models with a check due."""

    @property
    def rows(self) -> list[dict[str, str]]:
        return list(self.data["matrix"]["include"])


def due_checks(
    project: Project,
    env: str,
    *,
    at: str | None = None,
    models: list[str] | None = None,
    every: bool = False,
) -> DueResult:
    """The checks of each model of ENV whose schedule fires in the hour of `at` (default now).

    `every` (a run by hand) takes every check a model has, whatever its schedule;
    `models` limits the models looked at. Writes `matrix` and `any` to $GITHUB_OUTPUT.
    """
    when = parse_time(at)
    hour = when.replace(minute=0, second=0, microsecond=0)
    names = models or list_models(project)
    rows: list[dict[str, str]] = []
    skipped: list[str] = []
    for model in names:
        spec = load_pipeline(project, model)
        if load_manifest(project, env, model) is None:
            skipped.append(f"{model}: {env} does not run it")
            continue
        checks = []
        for check, section in (("drift", spec.drift), ("monitor", spec.monitor)):
            if section is None:
                continue
            cron = section.schedule or DEFAULT_SCHEDULE
            if every or _cron_fires(cron, hour):
                checks.append(check)
        if checks:
            rows.append({"model": model, "checks": ",".join(checks)})
    matrix = {"include": rows}
    data: dict[str, Any] = {
        "env": env,
        "at": hour.isoformat(),
        "every": every,
        "matrix": matrix,
        "any": bool(rows),
        "skipped": skipped,
    }
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with Path(output).open("a", encoding="utf-8") as fh:
            fh.write(f"matrix={json.dumps(matrix, separators=(',', ':'))}\n")
            fh.write(f"any={'true' if rows else 'false'}\n")
    summary = [f"{r['model']}: {r['checks']} due" for r in rows] or [
        f"no check due in {env} at {hour:%Y-%m-%d %H:00} UTC"
    ]
    return DueResult("due", env, data, summary, notes=skipped)


@dataclass
class WatchResult(CommandResult):
    """`trigger`: `monitor`, `drift` or None (nothing found)."""

    @property
    def trigger(self) -> str | None:
        value = self.data["trigger"]
        return None if value is None else str(value)


def _location(project: Project, template: str, model: str, flag: str) -> Path:
    """`template` with `{model}` filled in, inside the repository."""
    rel = template.replace("{model}", model)
    path = (project.root / rel).resolve()
    if not path.is_relative_to(project.root.resolve()):
        raise InputError("must name a path inside the repository", file=rel, field=flag)
    return path


def _files(path: Path) -> list[Path]:
    """A file, or the .csv/.parquet files of a folder by name (none when it is not there)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
    return [path] if path.is_file() else []


def watch_model(
    project: Project,
    model: str,
    env: str,
    checks: list[str],
    *,
    recent: str = "data/{model}/recent.csv",
    predictions: str = "data/{model}/predictions",
    labels: str = "data/{model}/labels.csv",
) -> WatchResult:
    """Run MODEL's `checks` in ENV; exit code 3 and a `trigger` when one found a problem.

    `recent`, `predictions` and `labels` are repository paths with `{model}` replaced;
    `predictions` may be a folder (every .csv and .parquet in it). Writes `trigger`
    to $GITHUB_OUTPUT.
    """
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or not checks:
        raise InputError(
            f"unknown check(s) {unknown}" if unknown else "no check named",
            field="--checks",
            hint=f"one or more of {', '.join(CHECKS)}",
        )
    spec = load_pipeline(project, model)
    for check in checks:
        if getattr(spec, check) is None:
            raise InputError(f"the spec has no {check} section", file=spec.path, field=check)
    # Every path is checked before any check writes its report (bad input writes nothing).
    recent_at = _location(project, recent, model, "--recent")
    predictions_at = _location(project, predictions, model, "--predictions")
    labels_at = _location(project, labels, model, "--labels")
    found: dict[str, Any] = {}
    lines: list[str] = []
    if "drift" in checks:
        files = _files(recent_at)
        if not files:
            found["drift"] = {
                "status": "skipped",
                "why": f"no recent data at {recent.replace('{model}', model)}",
            }
        else:
            from modelops.drift import drift_report

            result = drift_report(project, model, env, files[-1])
            result.save(project)
            found["drift"] = {
                "status": "found" if result.exit_code == 3 else "clean",
                "report": f"reports/{model}/drift-{env}.md",
            }
    if "monitor" in checks:
        scored = _files(predictions_at)
        truth = _files(labels_at)
        if not scored or not truth:
            missing = (predictions if not scored else labels).replace("{model}", model)
            found["monitor"] = {"status": "skipped", "why": f"nothing at {missing}"}
        else:
            from modelops.monitor import monitor_performance

            monitored = monitor_performance(project, model, env, scored, truth[-1])
            monitored.save(project)
            found["monitor"] = {
                "status": "found" if monitored.exit_code == 3 else "clean",
                "report": f"reports/{model}/monitor-{env}.md",
            }
    for check, outcome in found.items():
        lines.append(
            f"{model} {check}: {outcome['status']}"
            + (f" ({outcome['why']})" if "why" in outcome else "")
        )
    trigger = next(
        (c for c in ("monitor", "drift") if found.get(c, {}).get("status") == "found"), None
    )
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with Path(output).open("a", encoding="utf-8") as fh:
            fh.write(f"trigger={trigger or ''}\n")
    data = {"model": model, "env": env, "checks": found, "trigger": trigger}
    return WatchResult("watch", model, data, lines, exit_code=3 if trigger else 0)
