"""No-op `modelops deploy` under concurrency against a shared MLflow (PostgreSQL, basic auth).

The server is the local stack's (`modelops.localstack.start_stack`): `mlflow server
--app-name basic-auth` on a throwaway PostgreSQL cluster, moto S3 for the serving
stores. One toy model is registered and promoted to dev once; each of `W` deployers
is its own clone of that project (a team) with its own store prefix and its own dev
alias, deployed once for real. Then, for each concurrency level C, C deployers each
run `deploy dev` back to back (`PER_WORKER` times, a closed loop) while the others do
the same; every run finds nothing to do (a no-op deploy: manifests, live.json, the
aliases and the stored bundles read and compared, nothing written).

Figures, each the median over repeated batches: throughput (deploys finished per
second of the batch's wall time) and the p95 of one deploy's wall time (a whole
`modelops deploy dev` process, as CI waits for it). The baseline of each level is
one deployer alone; the ratio is the throughput gained by running C at once.

    python bench/registry_load.py [--quick] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Run as a script (`python bench/registry_load.py`): make `bench` and the toy model importable.
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "unit")]

from bench.common import (  # noqa: E402
    INFO,
    MODELOPS,
    BenchError,
    Context,
    Figure,
    Row,
    clean_env,
    fmt_s,
    git,
    run_child,
)

TITLE = "9 Registry load: no-op deploy against MLflow on PostgreSQL with basic auth"
MODEL = "toy"
LEVELS = (1, 4, 8)
QUICK_LEVELS = (1, 4)
PER_WORKER = 3  # deploys each deployer runs back to back in one batch
RUNS, QUICK_RUNS = 5, 2


def _p95(values: list[float]) -> float:
    """The 95th percentile (inclusive method: it never exceeds the largest sample)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def _project(root: Path) -> Path:
    from toyproject import write_toy

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    write_toy(root)
    # The frozen sample project's environment files (a fork may change its own), not its
    # manifests: they name versions of another registry.
    shutil.copytree(
        REPO / "tests" / "fixtures" / "sample" / "environments",
        root / "environments",
        ignore=shutil.ignore_patterns("models"),
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench: toy model")
    return root


def _cli(root: Path, env: dict[str, str], *argv: str) -> float:
    """`modelops -C root ARGV`: its wall time; a failure stops the figure with its reason."""
    return run_child([MODELOPS, "-C", str(root), *argv], cwd=root, env=env, timeout_s=600).wall_s


def _set_alias(root: Path, alias: str) -> None:
    path = root / "environments" / "dev" / "environment.yaml"
    text = path.read_text()
    if "  alias: dev\n" not in text:
        raise BenchError(f"{path}: no `alias: dev` line to give this deployer its own alias")
    path.write_text(text.replace("  alias: dev\n", f"  alias: {alias}\n"))
    git(root, "commit", "-qam", f"bench: dev serves under alias {alias}")


def _batch(deployers: list[tuple[Path, dict[str, str]]]) -> tuple[float, list[float]]:
    """Every deployer runs PER_WORKER no-op deploys back to back, all at once.

    Returns the batch's wall time and every deploy's wall time.
    """

    def worker(root: Path, env: dict[str, str]) -> list[float]:
        return [_cli(root, env, "deploy", "dev") for _ in range(PER_WORKER)]

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(deployers)) as pool:
        done = [pool.submit(worker, root, env) for root, env in deployers]
        latencies = [t for job in done for t in job.result()]
    return time.perf_counter() - start, latencies


def _is_noop(root: Path, env: dict[str, str]) -> None:
    """The measured deploys must have nothing to do: `deploy --dry-run` plans no change."""
    proc = subprocess.run(
        [MODELOPS, "-C", str(root), "deploy", "dev", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0 or "nothing to do" not in proc.stdout:
        raise BenchError(f"deploy dev in {root.name} is not a no-op: {proc.stdout.strip()[-300:]}")


def run(ctx: Context) -> Figure:
    from modelops.localstack import start_stack

    fig = Figure("registry_load", TITLE)
    levels = QUICK_LEVELS if ctx.quick else LEVELS
    runs = QUICK_RUNS if ctx.quick else RUNS
    work = ctx.workdir("registry_load")
    stack_dir = work / "stack"
    shutil.rmtree(stack_dir, ignore_errors=True)
    started = time.perf_counter()
    stack = start_stack(stack_dir)
    try:
        base = _project(work / "origin")
        env = clean_env(**stack.env("bench-origin", role="deploy"))
        for step in ("train", "evaluate", "register"):
            _cli(base, env, step, MODEL)
        _cli(base, env, "promote", MODEL, "--to", "dev", "--version", "1")
        git(base, "add", "-A")
        git(base, "commit", "-qm", "dev: toy v1")

        deployers: list[tuple[Path, dict[str, str]]] = []
        for i in range(max(levels)):
            root = work / f"deployer-{i}"
            shutil.rmtree(root, ignore_errors=True)
            git(work, "clone", "-q", str(base), str(root))
            _set_alias(root, f"dev-bench{i}")
            denv = clean_env(**stack.env(f"bench-{i}", role="deploy"))
            _cli(root, denv, "deploy", "dev")  # the real first deploy; the measured ones are no-ops
            _is_noop(root, denv)
            deployers.append((root, denv))
        setup_s = time.perf_counter() - started

        results: dict[int, tuple[float, float, float]] = {}
        for level in levels:
            throughputs, p95s, medians = [], [], []
            for _ in range(runs):
                wall, latencies = _batch(deployers[:level])
                throughputs.append(len(latencies) / wall)
                p95s.append(_p95(latencies))
                medians.append(statistics.median(latencies))
            results[level] = (
                statistics.median(throughputs),
                statistics.median(p95s),
                statistics.median(medians),
            )
            print(
                f"   {level} at once: {results[level][0]:.2f} deploys/s, "
                f"p95 {fmt_s(results[level][1])}, median {fmt_s(results[level][2])}",
                flush=True,
            )
        for root, denv in deployers:
            _is_noop(root, denv)  # still nothing to do: the measured runs changed nothing
    finally:
        stack.stop()

    alone = results[levels[0]][0]
    for level, (throughput, p95, median) in results.items():
        fig.rows.append(
            Row(
                what=f"no-op deploy, {level} deployer{'s' if level > 1 else ''} at once",
                value=f"{throughput:.2f} deploys/s; p95 {fmt_s(p95)} (median {fmt_s(median)})",
                baseline=f"{alone:.2f} deploys/s alone" if level > 1 else "",
                ratio=f"{throughput / alone:.2f}× throughput" if level > 1 and alone > 0 else "",
                status=INFO,
                note=f"median of {runs} batches of {level}×{PER_WORKER} deploys",
            )
        )
    fig.notes.append(
        f"Each deployer is a separate clone with its own S3 prefix and dev alias; the server "
        f"is `mlflow server --app-name basic-auth --workers 2` on PostgreSQL "
        f"(modelops.localstack). Setup (stack, register, {max(levels)} first deploys): "
        f"{fmt_s(setup_s)}."
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/registry_load.py", description=TITLE)
    parser.add_argument("--quick", action="store_true", help="levels 1 and 4, 2 batches each")
    parser.add_argument(
        "--out-dir", type=Path, default=REPO / "bench" / "out", help="scratch projects and stack"
    )
    args = parser.parse_args(argv)
    ctx = Context(quick=args.quick, out=args.out_dir.resolve())
    print(f"== {TITLE}", flush=True)
    try:
        fig = run(ctx)
    except BenchError as exc:
        print(f"not run: {exc}", file=sys.stderr)
        return 1
    for row in fig.rows:
        extra = f"  (vs {row.baseline}: {row.ratio})" if row.baseline else ""
        print(f"{row.what}: {row.value}{extra}  [{row.note}]")
    for note in fig.notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
