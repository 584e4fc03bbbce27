"""Run the benchmarks, print the table and write bench/RESULTS.md: `make bench`.

python bench/run.py                 all figures, full sizes, writes bench/RESULTS.md
python bench/run.py --quick         small sizes (a smoke run), writes bench/out/RESULTS.quick.md
python bench/run.py --only cli_start --only many_models
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

# Run as a script (`python bench/run.py`): make the `bench` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, BenchError, Context, Figure
from bench.report import Machine, render_markdown, render_table

FIGURES = (
    "cli_start",
    "pr_path",
    "data_tests",
    "batch_scoring",
    "many_models",
    "gpu_training",
    "workflow_time",
)


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
    figure.seconds = time.perf_counter() - start
    print(f"   {figure.seconds:.1f} s", flush=True)
    return figure, bug


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=FIGURES, help="run only this figure")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--output", type=Path, help="markdown file to write")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=REPO / "bench" / "out",
        help="generated data and scratch projects (reused when present)",
    )
    parser.add_argument("--device", default="auto", help="torch device for gpu_training")
    parser.add_argument("--note", default="", help="a line recorded with the machine")
    args = parser.parse_args(argv)

    output = args.output or (
        args.out_dir / "RESULTS.quick.md" if args.quick else REPO / "bench" / "RESULTS.md"
    )
    ctx = Context(quick=args.quick, out=args.out_dir.resolve(), device=args.device)
    ctx.out.mkdir(parents=True, exist_ok=True)
    machine = Machine.probe()
    figures: list[Figure] = []
    bugs = 0
    for name in args.only or FIGURES:
        figure, bug = run_figure(name, ctx)
        figures.append(figure)
        bugs += bug
    print()
    print(render_table(figures))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_markdown(figures, machine, quick=args.quick, note=args.note))
    print(f"\nwrote {output}")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
