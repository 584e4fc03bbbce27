"""Figure 8: warm setup, restoring the locked virtual environment as actions/setup does.

actions/setup keeps a job's virtual environment in the Actions cache under
`modelops-venv-OS-ARCH-pyVERSION-torch-BUILD-HASH`, HASH covering
requirements/lock.txt and requirements/*.in (the torch pin). A cold job builds
the venv from the lock (`pip install --require-hashes --no-deps -r`, the
toolkit with `--no-deps`, torch at its pin) and saves it; a warm job restores
it at the same path, reinstalls the toolkit of its own ref (`pip install
--no-deps --no-build-isolation -e`) and runs `modelops`. This figure does the
same on this checkout: it builds the venv from the lock once per key (not timed;
it needs the package index, and takes torch from the machine's own wheel rather
than PyTorch's CPU index), archives it as a tar compressed with zstd (the format
actions/cache uses), and in each round removes the folder (not timed), extracts
the archive at the same path, reinstalls the toolkit and runs the restored
console script's `modelops --help`. The folder is on tmpfs (/dev/shm) when it
has room, else on the bench's disk, or where `--warm-dir` says; the table names
its file system (deleting copies of a venv from this machine's ext4 disk mounted
with `discard` can take longer than the rest of `make bench`).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench.common import (
    REPO,
    BenchError,
    Context,
    Figure,
    Row,
    Stat,
    clean_env,
    fmt_bytes,
    fmt_s,
    run_child,
    verdict,
)
from modelops.project import Project
from modelops.requirements import LOCK, REQUIREMENTS_DIR, torch_pin

TITLE = "8 Warm setup"
GOAL_S = 30.0
# What a venv of 2 GB needs at most to build from the lock over a slow link.
BUILD_TIMEOUT_S = 1800.0


def torch_build() -> str:
    """ "cpu" or "cuda", as actions/setup's torch-build input would say for this machine."""
    try:
        installed = version("torch")
    except PackageNotFoundError:
        return "cpu"
    return "cpu" if installed.endswith("+cpu") else "cuda"


def cache_key(repo: Path) -> tuple[str, list[str]]:
    """The key actions/setup gives the venv here, and the files its hash covers.

    As `hashFiles(lock-file, 'requirements/*.in')`: one sha256 over each file's own
    sha256, in path order, behind the OS, architecture, Python version and torch build.
    """
    lock = repo / LOCK
    if not lock.is_file():
        raise BenchError(f"{LOCK} is missing: `make lock` writes it")
    files = sorted({lock, *(repo / REQUIREMENTS_DIR).glob("*.in")})
    digest = hashlib.sha256()
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    key = (
        f"modelops-venv-{platform.system()}-{platform.machine()}-py{platform.python_version()}"
        f"-torch-{torch_build()}-{digest.hexdigest()[:16]}"
    )
    return key, [path.relative_to(repo).as_posix() for path in files]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_venv(venv: Path, repo: Path) -> None:
    """The cold path of actions/setup: the venv from the lock, the toolkit, torch at its pin."""
    shutil.rmtree(venv, ignore_errors=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "install", "--require-hashes", "--no-deps", "-r", str(repo / LOCK)],
        [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(repo)],
    ]
    torch = torch_pin(Project(repo))
    if torch:
        steps.append([*pip, "install", torch])
    steps.append([*pip, "check"])
    for argv in steps:
        sample = run_child(argv, cwd=repo, timeout_s=BUILD_TIMEOUT_S, check=False)
        if sample.returncode != 0:
            raise BenchError(f"building the venv from the lock failed: {' '.join(argv[3:6])}")


def archive_venv(venv: Path, archive: Path) -> None:
    """Write `venv` as a zstd-compressed tar at `archive` (atomically), as a cache save would."""
    if shutil.which("zstd") is None:
        raise BenchError("zstd is not installed (actions/cache compresses with it)")
    tmp = archive.with_name(archive.name + ".tmp")
    run_child(
        ["tar", "--use-compress-program", "zstd -T0 -3", "-cf", str(tmp), "-C", str(venv), "."],
        timeout_s=1800,
    )
    tmp.replace(archive)


def file_system(path: Path) -> str:
    """The file system type of the mount holding `path` (`ext4`, `tmpfs`), as findmnt says."""
    proc = subprocess.run(
        ["findmnt", "-no", "FSTYPE", "--target", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return (proc.stdout.split() or ["unknown file system"])[0]


def default_base(work: Path, venv_bytes: int) -> Path:
    """tmpfs when it holds three copies of the venv, else the bench's own folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 3 * venv_bytes:
        return shm
    return work


def restore_round(archive: Path, venv: Path, repo: Path) -> tuple[float, float, float]:
    """Remove `venv` (not timed), extract the archive there, reinstall the toolkit, start it."""
    start = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    print(f"   removed the previous copy in {time.perf_counter() - start:.0f} s", flush=True)
    venv.mkdir(parents=True)
    start = time.perf_counter()
    run_child(
        ["tar", "--use-compress-program", "zstd -d -T0", "-xf", str(archive), "-C", str(venv)],
        timeout_s=600,
    )
    restored = time.perf_counter() - start
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    toolkit = run_child([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(repo)])
    help_run = run_child([str(venv / "bin" / "modelops"), "--help"], env=clean_env())
    if "usage: modelops" not in help_run.stdout:
        raise BenchError("the restored venv's `modelops --help` printed no usage line")
    return restored, toolkit.wall_s, help_run.wall_s


def run(ctx: Context) -> Figure:
    fig = Figure("warm_setup", TITLE)
    key, files = cache_key(REPO)
    work = ctx.workdir("warm_setup")
    # Where the job's venv lives: restored at the path it was built at, as on a runner.
    estimate = folder_bytes(Path(sys.prefix))
    base = ctx.warm_dir or default_base(work, estimate)
    venv = base.resolve() / "modelops-venv"
    place = hashlib.sha256(str(venv).encode()).hexdigest()[:8]
    archive = work / f"{key}-{place}.tar.zst"
    made = 0.0
    if not archive.exists():
        for old in work.glob("*.tar.zst"):
            old.unlink()
        start = time.perf_counter()
        build_venv(venv, REPO)
        archive_venv(venv, archive)
        made = time.perf_counter() - start
    where = file_system(base)
    restore: list[float] = []
    toolkit: list[float] = []
    first_help: list[float] = []
    try:
        for _ in range(ctx.runs):
            a, b, c = restore_round(archive, venv, REPO)
            restore.append(a)
            toolkit.append(b)
            first_help.append(c)
        venv_bytes = folder_bytes(venv)
    finally:
        shutil.rmtree(venv, ignore_errors=True)
    assess(
        fig,
        Stat.of(restore),
        Stat.of(toolkit),
        Stat.of(first_help),
        venv_bytes=venv_bytes,
        archive_bytes=archive.stat().st_size,
        key=f"{key} (hash of {', '.join(files)})",
        made_s=made,
        where=where,
    )
    fig.notes.append(f"Restored into {venv} ({where}).")
    return fig


def assess(
    fig: Figure,
    restore: Stat,
    toolkit: Stat,
    first_help: Stat,
    *,
    venv_bytes: int,
    archive_bytes: int,
    key: str,
    made_s: float,
    where: str,
) -> None:
    """Rows and notes of the warm setup from the measured rounds."""
    total = Stat.of(
        a + b + c for a, b, c in zip(restore.values, toolkit.values, first_help.values, strict=True)
    )
    fig.rows.append(
        Row(
            f"restore the cached venv (tar + zstd) onto {where}",
            restore.show(fmt_s),
            note=f"{fmt_bytes(archive_bytes)} archive of a {fmt_bytes(venv_bytes)} venv",
        )
    )
    fig.rows.append(Row("reinstall the toolkit of this ref (--no-deps -e)", toolkit.show(fmt_s)))
    fig.rows.append(Row("first `modelops --help` from it", first_help.show(fmt_s)))
    fig.rows.append(
        Row(
            "warm setup: restore + toolkit + working `modelops --help`",
            total.show(fmt_s),
            goal=f"< {fmt_s(GOAL_S)}",
            status=verdict(total.median < GOAL_S),
        )
    )
    fig.notes.append(
        f"Cache key {key}. The venv was built from the lock and archived "
        + (f"in this run in {fmt_s(made_s)}." if made_s else "by an earlier run.")
    )
    fig.notes.append(
        f"Warm setup takes {fmt_s(total.median)} (spread {total.spread(fmt_s)}) against a goal "
        f"of {fmt_s(GOAL_S)}; extracting is {restore.median / total.median:.0%} of it."
    )
    if total.median >= GOAL_S:
        fig.misses.append(
            f"restoring takes {fmt_s(total.median)}, {fmt_s(total.median - GOAL_S)} over the goal."
        )
