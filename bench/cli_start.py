"""Figure 1: how long `modelops --help` takes to start, against bare Python.

Each command is a fresh process started as a user starts it (the venv's console
script), in a scratch git copy of the template; one unrecorded warm-up round
first (file cache, bytecode), then rounds that run `python -c pass` and the
toolkit command one after the other, so both see the same load. The figure is
the median of the per-round differences. Import costs in a miss note come from
`python -X importtime` in the same run.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import (
    MODELOPS,
    PYTHON,
    BenchError,
    Context,
    Figure,
    Row,
    Stat,
    clean_env,
    fmt_s,
    interleave,
    paired,
    run_child,
    scratch_project,
    verdict,
)

TITLE = "1 CLI start"
PYTHON_MARGIN_S = 0.15


def slowest_imports(argv: list[str], env: dict[str, str], cwd: Path, top: int = 3) -> str:
    """The top-level imports that cost the most, from `python -X importtime` (for a miss note)."""
    sample = run_child([PYTHON, "-X", "importtime", *argv], env=env, cwd=cwd, check=False)
    costs: list[tuple[int, str]] = []
    for line in sample.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        # Only imports at depth one or two: the ones a reader can act on.
        if len(name) - len(name.lstrip()) <= 3:
            try:
                costs.append((int(cumulative), name.strip()))
            except ValueError:
                continue
    costs.sort(reverse=True)
    return ", ".join(f"{name} {us / 1e6:.2f} s" for us, name in costs[:top]) or "unknown"


def start_row(label: str, python: Stat, tool: Stat, extra: Stat, *, goal: bool) -> Row:
    """One command's start-up against bare Python; met when the median extra is in the margin."""
    return Row(
        label,
        tool.show(fmt_s),
        baseline=f"python {python.show(fmt_s)}",
        ratio=f"+{extra.show(fmt_s)}",
        goal=f"≤ python + {fmt_s(PYTHON_MARGIN_S)}" if goal else "",
        status=verdict(extra.median <= PYTHON_MARGIN_S) if goal else "info",
    )


def run(ctx: Context) -> Figure:
    fig = Figure("cli_start", TITLE)
    project = scratch_project(ctx.workdir("cli_start") / "project")
    env = clean_env()
    rounds = ctx.runs * 2  # start-up is short and noisy: twice the minimum
    commands = {
        "python": [PYTHON, "-c", "pass"],
        "help": [MODELOPS, "--help"],
        "validate": [MODELOPS, "validate"],
    }
    try:
        timings = interleave(commands, repeat=rounds, warmup=1, env=env, cwd=project)
    except BenchError as exc:
        return fig.not_run(str(exc))
    python = timings["python"].wall
    for key, label, goal in (
        ("help", "`modelops --help`", True),
        ("validate", "`modelops validate` (2 example models)", False),
    ):
        tool = timings[key].wall
        extra = paired(tool.values, python.values, lambda a, b: a - b)
        fig.rows.append(start_row(label, python, tool, extra, goal=goal))
        if goal:
            fig.notes.append(
                f"{label} takes {fmt_s(extra.median)} more than bare Python (median of "
                f"{extra.n} rounds, spread {extra.spread(fmt_s)}); the goal allows "
                f"{fmt_s(PYTHON_MARGIN_S)}."
            )
            if extra.median > PYTHON_MARGIN_S:
                heavy = slowest_imports(["-m", "modelops", *commands[key][1:]], env, project)
                fig.misses.append(
                    f"{label} is {fmt_s(extra.median - PYTHON_MARGIN_S)} over the margin; its "
                    f"costliest imports in this run: {heavy}."
                )
    return fig
