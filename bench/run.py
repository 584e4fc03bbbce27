"""Run the benchmarks, print the table and write bench/RESULTS.md: `make bench`.

python bench/run.py                  all figures, full sizes, writes bench/RESULTS.md
                                     (refused, exit 2, when the git tree is not clean)
python bench/run.py --quick          small sizes (a smoke run), writes bench/out/RESULTS.quick.md
python bench/run.py --only pr_path --output /tmp/pr.md
                                     one figure; anything but a full run on a clean tree
                                     must name its own --output (never RESULTS.md)
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

# Run as a script (`python bench/run.py`): make the `bench` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, BenchError, Context, Figure
from bench.report import Machine, render_markdown, render_table

# What `make bench` runs, in this order.
FIGURES = (
    "cli_start",
    "pr_path",
    "data_tests",
    "batch_scoring",
    "many_models",
    "gpu_training",
    "warm_setup",
    "registry_load",
    "spark_scoring",
)
# Run only when named with --only: five act runs of pr.yml would take a third of the budget.
# (Figure numbers in titles stay stable.)
OPTIONAL = ("workflow_time",)
RESULTS = Path("bench") / "RESULTS.md"


class Refused(Exception):
    """The run may not write where it was asked to; the message says why and what to do."""


def tree_state(repo: Path) -> tuple[str, list[str]]:
    """The full commit sha of HEAD and the paths `git status` reports as changed or untracked."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise Refused(f"`git {' '.join(args)}` failed in {repo}: {proc.stderr.strip()}")
        return proc.stdout

    sha = git("rev-parse", "--verify", "HEAD").strip()
    dirty = [
        line[3:] for line in git("status", "--porcelain", "--untracked-files=all").splitlines()
    ]
    return sha, dirty


def choose_output(
    repo: Path, output: Path | None, *, quick: bool, only: bool, out_dir: Path
) -> tuple[Path, str]:
    """Where to write the page and the commit line it names; `Refused` when not allowed.

    RESULTS.md is written only by a full run (not --quick, not --only) on a clean tree, so
    the commit it names is exactly what was measured. Other runs write elsewhere.
    """
    results = (repo / RESULTS).resolve()
    sha, dirty = tree_state(repo)
    if output is None:
        if quick:
            return out_dir / "RESULTS.quick.md", _commit_line(sha, dirty)
        if only:
            raise Refused(
                f"--only measures part of the figures, and {RESULTS} holds them all: "
                "pass --output FILE to write this run elsewhere"
            )
        output = results
    if output.resolve() == results:
        if quick or only:
            raise Refused(f"{RESULTS} is written only by a full run (no --quick, no --only)")
        if dirty:
            shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
            raise Refused(
                f"the git tree has uncommitted changes ({shown}): {RESULTS} must name the "
                "commit it measured. Commit or stash them and rerun, or pass --output FILE "
                "to write this run elsewhere"
            )
    return output, _commit_line(sha, dirty)


def _commit_line(sha: str, dirty: list[str]) -> str:
    return f"{sha} plus uncommitted changes in {len(dirty)} path(s)" if dirty else sha


def run_figure(name: str, ctx: Context) -> tuple[Figure, bool]:
    """Run one benchmark module; a figure that cannot run says why instead of stopping the rest."""
    module = importlib.import_module(f"bench.{name}")
    start = time.perf_counter()
    print(f"== {module.TITLE}", flush=True)
    bug = False
    try:
        figure: Figure = module.run(ctx)
    except BenchError as exc:
        figure = Figure(name, module.TITLE).not_run(str(exc))
    except Exception as exc:  # a bug in the benchmark itself: keep going, but say so and fail
        traceback.print_exc()
        figure = Figure(name, module.TITLE).not_run(f"benchmark crashed: {type(exc).__name__}")
        bug = True
    figure.method = figure.method or _method(module)
    figure.seconds = time.perf_counter() - start
    print(f"   {figure.seconds:.1f} s", flush=True)
    return figure, bug


def _method(module: object) -> str:
    """How a figure is measured: its module docstring after the first line, as one paragraph."""
    doc = (getattr(module, "__doc__", None) or "").strip().split("\n\n", 1)
    return " ".join(doc[1].split()) if len(doc) > 1 else ""


def main(argv: list[str] | None = None, *, repo: Path = REPO) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=FIGURES + OPTIONAL, help="run only this figure"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--output", type=Path, help="markdown file to write (not RESULTS.md)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=repo / "bench" / "out",
        help="generated data and scratch projects (reused when present)",
    )
    parser.add_argument("--device", default="auto", help="torch device for gpu_training")
    parser.add_argument(
        "--warm-dir", type=Path, help="folder warm_setup restores into (default: under --out-dir)"
    )
    parser.add_argument(
        "--spark-rows", type=int, help="rows spark_scoring scores (default 1M; --quick 100k)"
    )
    parser.add_argument("--note", default="", help="a line recorded with the machine")
    args = parser.parse_args(argv)

    try:
        output, commit = choose_output(
            repo, args.output, quick=args.quick, only=bool(args.only), out_dir=args.out_dir
        )
    except Refused as exc:
        print(f"error: refused: {exc}", file=sys.stderr)
        return 2
    ctx = Context(
        quick=args.quick,
        out=args.out_dir.resolve(),
        device=args.device,
        warm_dir=args.warm_dir,
        spark_rows=args.spark_rows,
    )
    ctx.out.mkdir(parents=True, exist_ok=True)
    machine = Machine.probe(commit)
    figures: list[Figure] = []
    bugs = 0
    start = time.perf_counter()
    for name in args.only or FIGURES:
        figure, bug = run_figure(name, ctx)
        figures.append(figure)
        bugs += bug
    print()
    print(render_table(figures))
    print(f"\nall figures: {time.perf_counter() - start:.0f} s")
    # The tree must still be the one measured (a figure that wrote into it would show here).
    try:
        again, _ = choose_output(
            repo, output, quick=args.quick, only=bool(args.only), out_dir=args.out_dir
        )
    except Refused as exc:
        print(f"error: refused at the end of the run: {exc}", file=sys.stderr)
        return 2
    now = _commit_line(*tree_state(repo))
    if now != commit:
        if again.resolve() == (repo / RESULTS).resolve():
            print("error: refused: HEAD or the tree changed during the run", file=sys.stderr)
            return 2
        machine = replace(machine, commit=f"{commit} at the start, {now} at the end")
    again.parent.mkdir(parents=True, exist_ok=True)
    tmp = again.with_name(again.name + ".tmp")
    tmp.write_text(render_markdown(figures, machine, quick=args.quick, note=args.note))
    tmp.replace(again)
    print(f"wrote {again}")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
