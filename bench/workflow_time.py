"""Figure 7: wall time of `pr.yml` under `act` for a one-model change, split by job.

Reuses the harness of tests/workflows/test_act.py (a fork-like copy of the template,
local stand-ins for remote actions, act on the host without Docker). The change is
the one that test makes: churn's spec tuned, digits untouched. Per-job time is the
span between the first and last log record act prints for that job. The issue sets
no goal for this figure (information), and `make bench` leaves it out: five act
runs take minutes; run it with `--only workflow_time --output FILE`.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.common import REPO, BenchError, Context, Figure, Row, Stat, fmt_s, git

TITLE = "7 Workflow time"
HARNESS = REPO / "tests" / "workflows"


def job_spans(log: str) -> dict[str, float]:
    """Seconds between each job's first and last JSON record in act's `--json` output."""
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        job, stamp = record.get("jobID"), record.get("time")
        if not job or not stamp:
            continue
        # act prints nanoseconds; datetime takes microseconds.
        at = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", stamp.replace("Z", "+00:00")))
        first.setdefault(job, at)
        last[job] = at
    return {job: (last[job] - first[job]).total_seconds() for job in first}


def act_round() -> tuple[dict[str, float], float, dict[str, str]]:
    """One act run of pr.yml on a fresh fork copy: per-job spans, total, job results."""
    import test_act  # the workflow engineer's harness: fork copy, stand-ins, act invocation

    with tempfile.TemporaryDirectory(prefix="bench-act-") as tmp:
        root = Path(tmp)
        fork = test_act.fork_copy(root / "fork")
        standins = test_act.write_standins(root / "standins")
        base = git(fork, "rev-parse", "HEAD")
        git(fork, "switch", "-q", "-c", "tune-churn")
        spec = fork / "pipelines" / "churn.yaml"
        spec.write_text(spec.read_text().replace("max_iter: 150", "max_iter: 120"))
        git(fork, "commit", "-qam", "churn: fewer boosting rounds")
        head = git(fork, "rev-parse", "HEAD")
        start = time.perf_counter()
        try:
            jobs = test_act.act(
                fork,
                standins,
                "pull_request",
                "pr.yml",
                test_act.pr_payload(fork, base, head),
                root / "state",
            )
        except (AssertionError, OSError) as exc:
            raise BenchError(f"act could not run pr.yml: {str(exc)[:200]}") from None
        total = time.perf_counter() - start
        spans = job_spans((root / "act-pr.yml.log").read_text())
    return spans, total, dict(jobs)


def run(ctx: Context) -> Figure:
    fig = Figure("workflow_time", TITLE)
    if ctx.quick:
        return fig.not_run("skipped in --quick (an act run takes minutes)")
    if not (HARNESS / "test_act.py").exists() or not (REPO / ".github/workflows/pr.yml").exists():
        return fig.not_run("the act harness or pr.yml has not landed")
    sys.path.insert(0, str(HARNESS))
    spans: dict[str, list[float]] = {}
    totals: list[float] = []
    failed: set[str] = set()
    for _ in range(ctx.runs):
        round_spans, total, jobs = act_round()
        totals.append(total)
        for job, seconds in round_spans.items():
            spans.setdefault(job, []).append(seconds)
        failed |= {job for job, result in jobs.items() if result != "success"}
    for job, values in sorted(spans.items(), key=lambda kv: -Stat.of(kv[1]).median):
        fig.rows.append(Row(f"job `{job}`", Stat.of(values).show(fmt_s)))
    fig.rows.append(
        Row(
            "pr.yml total (one model touched)",
            Stat.of(totals).show(fmt_s),
            note="all green" if not failed else f"not green: {', '.join(sorted(failed))}",
        )
    )
    if failed:
        fig.notes.append(
            f"Job(s) {', '.join(sorted(failed))} did not succeed in at least one round; their "
            "times are still real. tests/workflows/test_act.py runs the same workflow."
        )
    return fig
