"""Smoke tests of the benchmarks: they import and read act logs. No timings (the quick run of a
figure is in tests/examples, it trains the digits example)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.run import FIGURES  # noqa: E402


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_module_has_a_title_and_a_run(name: str) -> None:
    """Each benchmark module imports without heavy work and exposes TITLE and run(ctx)."""
    module = importlib.import_module(f"bench.{name}")
    assert module.TITLE[0].isdigit()
    assert callable(module.run)


def test_act_job_spans_are_read_from_json_log_lines() -> None:
    """Per-job time is the span between a job's first and last act record (nanoseconds cut)."""
    from bench.workflow_time import job_spans

    log = "\n".join(
        [
            '{"jobID": "train", "time": "2025-01-01T00:00:01.123456789Z"}',
            "not json",
            '{"jobID": "train", "time": "2025-01-01T00:00:04.123456Z"}',
            '{"jobID": "checks", "time": "2025-01-01T00:00:02Z"}',
        ]
    )
    assert job_spans(log) == {"train": 3.0, "checks": 0.0}
