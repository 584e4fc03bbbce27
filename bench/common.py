"""What every benchmark shares: timed child processes, medians, a tracking server, result rows.

Times are wall-clock times of whole child processes (what a user or a CI job
waits for); every figure is the median of at least `MIN_RUNS` runs, shown with
its min–max spread. Peak memory is the child's own maximum resident set size,
read from `os.wait4` for that one child, so the benchmark process's memory never
leaks into the figure. MLflow calls are counted at the HTTP layer: the requests
a real `mlflow server` logs in its access log.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYTHON = sys.executable
MODELOPS = str(BIN / "modelops")

MIN_RUNS = 5  # a full run measures every figure at least this often
QUICK_RUNS = 2  # `--quick`: a smoke run, never written to RESULTS.md

MET = "met"
MISSED = "MISSED"
NOT_RUN = "not run"
NEEDS_CUDA = "needs CUDA"  # a GPU goal on a machine without one: no number, not a miss
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
class Stat:
    """Several measurements of one quantity: reported as the median with its min–max spread."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        values = tuple(float(v) for v in values)
        if not values:
            raise BenchError("no measurement to summarise")
        return cls(values)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def show(self, fmt: Callable[[float], str]) -> str:
        """`median (min–max, n=N)`, each number through `fmt`: `1.20 s (1.10–1.40 s, n=5)`."""
        return f"{fmt(self.median)} ({self.spread(fmt)})"

    def spread(self, fmt: Callable[[float], str]) -> str:
        """`min–max, n=N`: the spread alone; a unit both ends share is written once."""
        lo, hi = fmt(self.lo), fmt(self.hi)
        lo_num, _, lo_unit = lo.rpartition(" ")
        if lo_num and hi.endswith(f" {lo_unit}"):
            lo = lo_num
        return f"{lo}–{hi}, n={self.n}"


def paired(a: Sequence[float], b: Sequence[float], op: Callable[[float, float], float]) -> Stat:
    """`op(a[i], b[i])` for runs measured side by side (so load changes hit both sides alike)."""
    if len(a) != len(b):
        raise BenchError(f"paired runs differ in number: {len(a)} and {len(b)}")
    return Stat.of(op(x, y) for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class Timing:
    """N runs of one command: wall times and peak RSS, each summarised as a median and spread."""

    samples: tuple[Sample, ...]

    @property
    def wall(self) -> Stat:
        return Stat.of(s.wall_s for s in self.samples)

    @property
    def rss(self) -> Stat:
        return Stat.of(s.peak_rss for s in self.samples)

    @property
    def median(self) -> float:
        return self.wall.median

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
) -> Timing:
    """Run `argv` `warmup` times unrecorded (file cache, .pyc), then `repeat` times recorded."""
    for _ in range(warmup):
        run_child(argv, cwd=cwd, env=env, timeout_s=timeout_s)
    return Timing(
        tuple(run_child(argv, cwd=cwd, env=env, timeout_s=timeout_s) for _ in range(repeat))
    )


def interleave(
    commands: Mapping[str, Sequence[str]],
    *,
    repeat: int,
    warmup: int = 0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
) -> dict[str, Timing]:
    """Run several commands in turn, `repeat` rounds: a command and its baseline share the load."""
    for _ in range(warmup):
        for argv in commands.values():
            run_child(argv, cwd=cwd, env=env, timeout_s=timeout_s)
    runs: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            runs[name].append(run_child(argv, cwd=cwd, env=env, timeout_s=timeout_s))
    return {name: Timing(tuple(samples)) for name, samples in runs.items()}


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
    # requirements/: a spec may name its own requirements file there (train.requirements).
    names = ["pipelines", "environments", "requirements", *(["data"] if with_data else [])]
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
    """Stop the figure when `module` (a `.py` file or a package folder) is not in src/."""
    base = REPO / "src" / Path(*module.split("."))
    package = base / "__init__.py"
    require(package if package.exists() else base.with_suffix(".py"), f"module {module}")


# -- a real MLflow tracking server -----------------------------------------

# One uvicorn access-log line: `... "POST /api/2.0/mlflow/runs/create HTTP/1.1" 200 OK`.
_ACCESS = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD) (/[^ ?"]*)[^ "]* HTTP/[0-9.]+" (\d{3})')


def count_requests(log: str) -> Counter[str]:
    """The requests an access log records, as `METHOD /path` (query dropped; health checks not)."""
    calls: Counter[str] = Counter()
    for match in _ACCESS.finditer(log):
        method, path, _status = match.groups()
        if path != "/health":
            calls[f"{method} {path}"] += 1
    return calls


@dataclass
class TrackingServer:
    """A running `mlflow server` (sqlite backend, served artifacts) and its access log."""

    url: str
    log: Path
    proc: subprocess.Popen[bytes]

    def mark(self) -> int:
        """The access log's current end: pass it to `calls_since` after a command."""
        return self.log.stat().st_size

    def calls_since(self, mark: int) -> Counter[str]:
        """Requests logged after `mark`, once the log has stopped growing (lines land late)."""
        size = -1
        for _ in range(50):
            now = self.log.stat().st_size
            if now == size:
                break
            size = now
            time.sleep(0.1)
        with self.log.open("rb") as fh:
            fh.seek(mark)
            return count_requests(fh.read().decode("utf-8", "replace"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tracking_server(
    workdir: Path, *, fresh: bool = True, timeout_s: float = 180.0
) -> Iterator[TrackingServer]:
    """Start `mlflow server` on a free 127.0.0.1 port for the duration of the block.

    Its sqlite database is `workdir/mlflow.db`: a new one, or with `fresh=False` the one
    already there.
    """
    import urllib.error
    import urllib.request

    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = workdir / "mlflow-server.log"
    argv = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # Unbuffered: each access-log line reaches the file when the request is served. No job
    # runner: its worker processes serve nothing the toolkit asks for.
    env = clean_env(PYTHONUNBUFFERED="1", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir, env=env,
            start_new_session=True,  # uvicorn runs as a child: the whole group is stopped
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise BenchError(f"mlflow server exited {proc.returncode}; see {log}")
            try:
                # An http:// URL on loopback that this function built.
                with urllib.request.urlopen(f"{url}/health", timeout=2):  # noqa: S310
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise BenchError(f"mlflow server not up after {timeout_s:.0f} s") from None
                time.sleep(0.3)
        yield TrackingServer(url=url, log=log, proc=proc)
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue


def fmt_calls(calls: Counter[str], top: int = 3) -> str:
    """The most frequent requests, for a note: `POST /api/2.0/mlflow/runs/create ×2, …`."""
    ranked = sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    short = [(k.replace("/api/2.0/mlflow/", "/").replace("/ajax-api/2.0/mlflow/", "/"), v)
             for k, v in ranked]  # fmt: skip
    return ", ".join(f"{k} ×{v}" for k, v in short) or "none"


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
    method: str = ""
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
    warm_dir: Path | None = None  # where warm_setup restores the venv (default: under `out`)
    spark_rows: int | None = None  # spark_scoring's row count (default: its own sizes)

    @property
    def runs(self) -> int:
        """How many measured runs each figure takes (its median is what is reported)."""
        return QUICK_RUNS if self.quick else MIN_RUNS

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
