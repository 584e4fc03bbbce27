"""The machine a run ran on, and the table printed to the terminal and written to RESULTS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from bench.common import MIN_RUNS, MISSED, NEEDS_CUDA, NOT_RUN, Figure, fmt_bytes
from modelops.train import cpu_model


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    ram: str
    python: str
    os: str
    date: str
    commit: str
    load_before: str

    @classmethod
    def probe(cls, commit: str) -> Machine:
        return cls(
            cpu=cpu_model(),
            cores=os.cpu_count() or 0,
            ram=_ram(),
            python=f"{platform.python_implementation()} {platform.python_version()}",
            os=platform.platform(),
            date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            commit=commit,
            load_before=_load(),
        )


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return fmt_bytes(int(line.split()[1]) * 1024)
    except OSError:
        pass
    return "unknown"


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def render_table(figures: list[Figure]) -> str:
    """One markdown table for all figures: value, baseline, ratio, goal and whether it is met."""
    lines = [
        "| figure | measured | value | baseline | ratio | goal | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for fig in figures:
        for row in fig.rows:
            status = (
                f"**{row.status}**" if row.status in (MISSED, NOT_RUN, NEEDS_CUDA) else row.status
            )
            what = f"{row.what} ({row.note})" if row.note else row.what
            cells = [fig.title, what, row.value, row.baseline, row.ratio, row.goal, status]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def render_markdown(figures: list[Figure], machine: Machine, *, quick: bool, note: str) -> str:
    """RESULTS.md: the commit, the machine, the table, and per figure how and what the run found."""
    missed = sum(1 for f in figures for r in f.rows if r.status == MISSED)
    met = sum(1 for f in figures for r in f.rows if r.status == "met")
    not_run = sum(1 for f in figures for r in f.rows if r.status in (NOT_RUN, NEEDS_CUDA))
    parts = [
        "# Benchmark results",
        "",
        f"commit {machine.commit}",
        "",
        "Written by `make bench` (`bench/run.py`), which refuses to write this page from a tree "
        "with uncommitted changes: the commit above is what was measured. Every figure is the "
        f"median of at least {MIN_RUNS} runs with its min–max spread (`n=` says how many), "
        "measured in the same run as its baseline; times are wall-clock times of whole "
        "processes, peak memory is the child process's own maximum resident set size. "
        "Statuses and notes are computed from this run. Rerun one figure with "
        "`.venv/bin/python bench/run.py --only NAME --output FILE` (names: `--help`); "
        "`--quick` for a smoke run.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.cpu}, {machine.cores} cores",
        f"- RAM: {machine.ram}",
        f"- Python: {machine.python}",
        f"- OS: {machine.os}",
        f"- Date: {machine.date}",
        f"- Load average (1/5/15 min) at start: {machine.load_before}; at end: {_load()}",
    ]
    if quick:
        parts.append("- **Quick run** (`--quick`): small sizes, figures are not the real ones.")
    if note:
        parts.append(f"- Note: {note}")
    parts += [
        "",
        "## Figures",
        "",
        render_table(figures),
        "",
        f"{met} goal(s) met, {missed} missed, {not_run} not run (or needing CUDA).",
        "",
    ]
    for fig in figures:
        parts += [f"### {fig.title}", ""]
        if fig.method:
            parts += [f"How: {fig.method}", ""]
        parts += [f"- {n}" for n in fig.notes]
        parts += [f"- **Missed:** {m}" for m in fig.misses]
        parts += [f"- Took {fig.seconds:.0f} s to measure.", ""]
    return "\n".join(parts).rstrip() + "\n"
