"""Figure 1: how long `modelops` takes to start, against bare Python and `mlflow --help`."""

from __future__ import annotations

from pathlib import Path

from bench.common import (
    BIN,
    MODELOPS,
    NOT_RUN,
    PYTHON,
    BenchError,
    Context,
    Figure,
    Row,
    clean_env,
    fmt_s,
    measure,
    ratio,
    run_child,
    scratch_project,
    verdict,
)

TITLE = "1 CLI start"
PYTHON_MARGIN_S = 0.15
MLFLOW_FRACTION = 0.2


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


def run(ctx: Context) -> Figure:
    fig = Figure("cli_start", TITLE)
    project = scratch_project(ctx.workdir("cli_start") / "project")
    env = clean_env()
    fast, slow = (2, 1) if ctx.quick else (9, 2)

    python = measure([PYTHON, "-c", "pass"], repeat=fast, warmup=1, env=env)
    # mlflow --help takes seconds; a warm-up run of it would only lengthen the benchmark.
    mlflow = measure([str(BIN / "mlflow"), "--help"], repeat=slow, env=env)
    fig.rows.append(Row("`python -c pass`", fmt_s(python.best), note=f"best of {fast}"))
    fig.rows.append(Row("`mlflow --help`", fmt_s(mlflow.best), note=f"best of {slow}"))

    commands = {
        "`modelops --help`": ["--help"],
        "`modelops validate` (examples)": ["validate"],
    }
    for label, args in commands.items():
        try:
            timing = measure([MODELOPS, *args], repeat=fast, warmup=1, env=env, cwd=project)
        except BenchError as exc:
            fig.rows.append(Row(label, "—", status=NOT_RUN, note=str(exc)))
            continue
        extra = timing.best - python.best
        ok_python = extra <= PYTHON_MARGIN_S
        ok_mlflow = timing.best <= MLFLOW_FRACTION * mlflow.best
        fig.rows.append(
            Row(
                label,
                fmt_s(timing.best),
                baseline=f"python {fmt_s(python.best)}",
                ratio=f"+{fmt_s(extra)}",
                goal=f"≤ python + {fmt_s(PYTHON_MARGIN_S)}",
                status=verdict(ok_python),
                note=f"median {fmt_s(timing.median)}",
            )
        )
        fig.rows.append(
            Row(
                label,
                fmt_s(timing.best),
                baseline=f"mlflow --help {fmt_s(mlflow.best)}",
                # Three digits: a ratio just over the goal must not print as equal to it.
                ratio=ratio(timing.best, mlflow.best, 3),
                goal=f"≤ {MLFLOW_FRACTION:.3f}×",
                status=verdict(ok_mlflow),
            )
        )
        if not (ok_python and ok_mlflow):
            heavy = slowest_imports(["-m", "modelops", *args], env, project)
            fig.misses.append(
                f"{label} takes {fmt_s(extra)} more than bare Python; its costliest imports "
                f"are {heavy}. Closing it means importing those only inside the functions "
                "that need them (or lazily resolving them on first use)."
            )
    fig.notes.append(
        "Each command is a fresh process started the way a user starts it (the console script in "
        f"the venv), one unrecorded warm-up run first (none for mlflow); best of {fast} "
        f"({slow} for mlflow). Import costs in a miss note come from `python -X importtime`."
    )
    fig.notes.append(
        "`modelops validate` runs in a scratch git copy of the template (2 example models, "
        "3 environments)."
    )
    return fig
