"""What every benchmark shares: timed child processes, peak memory, scratch projects, result rows.

Times are wall-clock times of whole child processes (what a user or a CI job
waits for), taken as the best and the median of N runs. Peak memory is the
child's own maximum resident set size, read from `os.wait4` for that one child,
so the benchmark process's memory never leaks into the figure.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYTHON = sys.executable
MODELOPS = str(BIN / "modelops")

MET = "met"
MISSED = "MISSED"
NOT_RUN = "not run"
INFO = "info"


class BenchError(RuntimeError):
    """A benchmark could not run (a command failed or a part is missing); the figure says why."""


@dataclass(frozen=True)
class Sample:
    """One finished child process."""

    wall_s: float
    peak_rss: int  # bytes
    returncode: int
    stdout: str
    stderr: str


def run_child(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
    check: bool = True,
) -> Sample:
    """Run `argv` to completion; its wall time, its own peak RSS and its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=err
        )
        killer = threading.Timer(timeout_s, proc.kill)
        killer.start()
        try:
            # wait4 instead of proc.wait(): it returns this child's rusage, not the sum of all.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        sample = Sample(
            wall_s=wall,
            peak_rss=usage.ru_maxrss * 1024,  # Linux reports kilobytes
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )
    if sample.returncode == -9 and wall >= timeout_s:
        raise BenchError(f"`{describe(argv)}` did not finish within {timeout_s:.0f} s")
    if check and sample.returncode != 0:
        raise BenchError(f"`{describe(argv)}` exited {sample.returncode}: {last_line(sample)}")
    return sample


def describe(argv: Sequence[str]) -> str:
    """A command as a reader would type it (program name without its folder)."""
    return " ".join([Path(argv[0]).name, *argv[1:]])


def last_line(sample: Sample) -> str:
    """The line that says what went wrong: the last one on stderr (or stdout)."""
    lines = (sample.stderr.strip() or sample.stdout.strip()).splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["no output"])[-1][:300]


@dataclass(frozen=True)
class Timing:
    """N runs of one command: best and median wall time, highest peak RSS."""

    samples: tuple[Sample, ...]

    @property
    def best(self) -> float:
        return min(s.wall_s for s in self.samples)

    @property
    def median(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def peak_rss(self) -> int:
        return max(s.peak_rss for s in self.samples)

    @property
    def last(self) -> Sample:
        return self.samples[-1]


def measure(
    argv: Sequence[str],
    *,
    repeat: int,
    warmup: int = 0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
    budget_s: float | None = None,
) -> Timing:
    """Run `argv` `warmup` times unrecorded (file cache, .pyc), then `repeat` times recorded.

    With `budget_s`, a command so slow that the repeats would overrun the budget is run
    fewer times (at least once; a slow warm-up run then counts as the one measurement).
    """
    warm: list[Sample] = [
        run_child(argv, cwd=cwd, env=env, timeout_s=timeout_s) for _ in range(warmup)
    ]
    if budget_s is not None and warm:
        each = warm[-1].wall_s
        if each * (repeat + 1) > budget_s:
            fits = int(budget_s // max(each, 1e-9)) - 1
            if fits < 1:
                return Timing((warm[-1],))
            repeat = min(repeat, fits)
    return Timing(
        tuple(run_child(argv, cwd=cwd, env=env, timeout_s=timeout_s) for _ in range(repeat))
    )


def python_snippet(code: str) -> list[str]:
    """argv running `code` in the project's interpreter (for in-memory baselines)."""
    return [PYTHON, "-c", code]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for toolkit commands: no developer MLflow server, store or CI variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "MLFLOW_TRACKING_URI",
            "MODELOPS_STORE",
            "MODELOPS_HOME",
            "MODELOPS_PROJECT",
            "GITHUB_ACTIONS",
            "GITHUB_STEP_SUMMARY",
            # Measure start-up as users see it: with cached bytecode, not recompiling
            # every edited module on every run.
            "PYTHONDONTWRITEBYTECODE",
        }
    }
    env.update(
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@localhost",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@localhost",
        PYTHONHASHSEED="0",
    )
    env.update(extra)
    return env


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=root, env=clean_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed in {root}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def scratch_project(dest: Path, *, with_data: bool = True) -> Path:
    """A fresh git repository at `dest` holding the template's pipelines, environments, models.

    Not the manifests: they name versions of the checkout's registry, which the scratch
    registry lacks (a fork that promoted its own models would break every figure).
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    names = ["pipelines", "environments", *(["data"] if with_data else [])]
    for name in names:
        if (REPO / name).exists():
            ignored = shutil.ignore_patterns("models") if name == "environments" else None
            shutil.copytree(REPO / name, dest / name, ignore=ignored)
    shutil.copytree(
        REPO / "src" / "models",
        dest / "src" / "models",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "scratch copy for benchmarks")
    return dest


def require(path: Path, what: str) -> None:
    """Stop the figure with a clear reason when a part it measures has not landed yet."""
    if not path.exists():
        raise BenchError(f"{what} is missing ({path.relative_to(REPO)})")


def require_module(module: str) -> None:
    require(REPO / "src" / Path(*module.split(".")).with_suffix(".py"), f"module {module}")


# -- results ---------------------------------------------------------------


@dataclass
class Row:
    """One measured figure beside its baseline."""

    what: str
    value: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    status: str = INFO
    note: str = ""


@dataclass
class Figure:
    """The rows of one benchmark, plus why each missed goal missed and what would close it."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def not_run(self, reason: str) -> Figure:
        self.rows.append(Row(what=self.title, value="—", status=NOT_RUN, note=reason))
        return self


@dataclass(frozen=True)
class Context:
    """What a benchmark is told: sizes (quick or full) and where generated data lives."""

    quick: bool
    out: Path
    device: str = "auto"

    def workdir(self, name: str) -> Path:
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return path


# -- formatting ------------------------------------------------------------


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def fmt_rate(per_s: float, unit: str = "rows/s") -> str:
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M {unit}"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.1f} k {unit}"
    return f"{per_s:.1f} {unit}"


def ratio(a: float, b: float, digits: int = 2) -> str:
    return f"{a / b:.{digits}f}×" if b > 0 else "—"


def verdict(ok: bool) -> str:
    return MET if ok else MISSED
