"""Figure 10: `modelops predict --engine spark` on local[2] against the one-machine `predict`.

The churn model deployed to dev by figure 4 (bench/out/batch_scoring/project, reused)
scores the same generated rows through both engines, in turn, round after round:
the one-machine engine reads them as one Parquet file, Spark as a folder of four
Parquet files (Spark runs one task per file or row group; one file of one row group
would leave the second core idle). Each run is the whole CLI process (a new JVM and
SparkSession for Spark, `local[2]`: two cores, one Python worker each). The fixed
start-up cost is the Spark engine's wall time on 1,000 rows; the throughput after
start-up is (rows − 1,000) over (wall − start-up), paired run by run. The per-core
figure is that rate over the two cores: what each executor core adds on a cluster,
before the cluster's own costs (reading from S3, shuffle-free writes, a driver round
trip per job), which were not measured here. Sizes: 1M rows by default, 100k with
`--quick`, `--spark-rows N` for another. Not the issue's 10M: at the rates a 2M-row run
measured here (one machine 134k rows/s, Spark 214k rows/s after 16 s of start-up), a
round of the three commands on 10M rows takes about two and a half minutes, and five
rounds would overrun `make bench`'s budget.
"""

from __future__ import annotations

from pathlib import Path

from bench.batch_scoring import deployed_project, scoring_rows
from bench.common import (
    MODELOPS,
    PYTHON,
    BenchError,
    Context,
    Figure,
    Row,
    Stat,
    clean_env,
    fmt_rate,
    fmt_s,
    interleave,
    paired,
    require_module,
    run_child,
)
from bench.data_tests import label

TITLE = "10 Batch scoring on Spark"
ROWS = 1_000_000
QUICK_ROWS = 100_000
TINY_ROWS = 1_000
FILES = 4

SPLIT = r"""
import os, sys, shutil
import pyarrow.parquet as pq
source, dest, files, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
table = pq.read_table(source).slice(0, limit)
tmp = dest + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
step = -(-table.num_rows // files)
for n in range(files):
    part = table.slice(n * step, step)
    if part.num_rows:
        pq.write_table(part, os.path.join(tmp, f"part-{n:05d}.parquet"))
os.replace(tmp, dest)
"""


def split_rows(source: Path, dest: Path, *, files: int, limit: int) -> Path:
    """`dest/`: the first `limit` rows of `source` as `files` Parquet files (made once)."""
    if not dest.is_dir():
        run_child([PYTHON, "-c", SPLIT, str(source), str(dest), str(files), str(limit)])
    return dest


def run(ctx: Context) -> Figure:
    fig = Figure("spark_scoring", TITLE)
    require_module("modelops.sparkscore")
    probe = run_child([PYTHON, "-c", "import pyspark"], check=False)
    if probe.returncode != 0:
        raise BenchError("PySpark is not installed: pip install -e '.[spark]'")
    rows = ctx.spark_rows or (QUICK_ROWS if ctx.quick else ROWS)
    root = deployed_project(ctx)
    env = clean_env()
    work = ctx.workdir("spark_scoring")
    whole = scoring_rows(ctx, rows)
    folder = split_rows(whole, work / f"in-{rows}", files=FILES, limit=rows)
    tiny = split_rows(whole, work / f"in-{TINY_ROWS}", files=2, limit=TINY_ROWS)
    predict = [MODELOPS, "predict", "churn", "--env", "dev"]
    spark = [*predict, "--engine", "spark", "--master", "local[2]", "--overwrite"]
    timings = interleave(
        {
            "local": [*predict, "--input", str(whole), "--output", str(work / "local.parquet")],
            "spark": [*spark, "--input", str(folder), "--output", str(work / "spark")],
            "start": [*spark, "--input", str(tiny), "--output", str(work / "spark-tiny")],
        },
        repeat=ctx.runs,
        cwd=root,
        env=env,
        timeout_s=1800,
    )
    local, on_spark, start = timings["local"].wall, timings["spark"].wall, timings["start"].wall
    extra = rows - TINY_ROWS
    after = paired(on_spark.values, start.values, lambda a, b: extra / max(a - b, 1e-9))
    speedup = paired(local.values, on_spark.values, lambda a, b: a / b)
    fig.rows += [
        Row(
            f"`predict --engine spark` local[2], {label(rows)}",
            Stat.of(rows / s for s in on_spark.values).show(fmt_rate),
            baseline=f"one machine {fmt_rate(rows / local.median)}",
            ratio=f"{speedup.median:.2f}× the one-machine rate",
            note=f"{fmt_s(on_spark.median)} vs {fmt_s(local.median)}",
        ),
        Row("Spark fixed start-up (JVM, session, 1k rows)", start.show(fmt_s)),
        Row(f"Spark throughput after start-up, {label(rows)}", after.show(fmt_rate)),
        Row(
            "per executor core (local[2] ÷ 2)",
            fmt_rate(after.median / 2),
            note="what each core adds on a cluster, before its I/O and scheduling",
        ),
    ]
    local_rate = rows / local.median
    if after.median > local_rate:
        even = start.median / (1 / local_rate - 1 / after.median)
        fig.notes.append(
            f"Break-even: after {fmt_s(start.median)} of start-up Spark scores "
            f"{fmt_rate(after.median)} against {fmt_rate(local_rate)} on one machine, so it "
            f"is faster end to end from about {even:,.0f} rows on this machine."
        )
    else:
        fig.notes.append(
            f"Spark on local[2] scores {fmt_rate(after.median)} after start-up, not faster "
            f"than one machine ({fmt_rate(local_rate)}) here: its gain is more executors."
        )
    return fig
