"""The benchmark's own rules, checked without running the heavy benches.

RESULTS.md is written only from a clean tree and names its commit; figures are
medians with spreads; statuses and notes follow the measured numbers.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench import cli_start, gpu_training, many_models, pr_path, warm_setup  # noqa: E402
from bench.common import (  # noqa: E402
    MET,
    MIN_RUNS,
    MISSED,
    NEEDS_CUDA,
    Figure,
    Sample,
    Stat,
    Timing,
    count_requests,
    paired,
)
from bench.report import Machine, render_markdown  # noqa: E402
from bench.run import FIGURES, OPTIONAL, Refused, choose_output, main  # noqa: E402


def git(root: Path, *args: str) -> str:
    who = {"NAME": "t", "EMAIL": "t@localhost"}
    env = {f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()}
    env["PATH"] = "/usr/bin:/bin"
    proc = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def clean_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "RESULTS.md").write_text("old page\n")
    (root / ".gitignore").write_text("bench/out/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


@pytest.mark.parametrize("name", FIGURES + OPTIONAL)
def test_every_figure_module_has_a_title_and_a_run(name: str) -> None:
    """Each benchmark module imports without heavy work and exposes TITLE and run(ctx)."""
    module = importlib.import_module(f"bench.{name}")
    assert module.TITLE[0].isdigit()
    assert callable(module.run)


def test_every_module_a_figure_requires_is_found_file_or_package() -> None:
    """require_module finds `serve.py` and the `data/` package alike, and refuses a missing one."""
    from bench.common import BenchError, require_module

    for module in ("modelops.serve", "modelops.data", "modelops.deploy", "modelops.sparkscore"):
        require_module(module)
    with pytest.raises(BenchError, match=r"modelops\.no_such_module"):
        require_module("modelops.no_such_module")


def test_dirty_tree_is_refused_with_exit_2_and_results_untouched(
    clean_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full run on a tree with uncommitted changes exits 2 before measuring, page unchanged."""
    (clean_repo / "stray.txt").write_text("not committed\n")
    code = main(["--out-dir", str(clean_repo / "bench" / "out")], repo=clean_repo)
    assert code == 2
    err = capsys.readouterr().err
    assert "uncommitted changes (stray.txt)" in err
    assert "--output" in err
    assert (clean_repo / "bench" / "RESULTS.md").read_text() == "old page\n"


def test_dirty_tree_may_write_elsewhere_never_results(clean_repo: Path, tmp_path: Path) -> None:
    """--output elsewhere is allowed on a dirty tree (page says so); --output RESULTS.md is not."""
    sha = git(clean_repo, "rev-parse", "HEAD")
    (clean_repo / "bench" / "RESULTS.md").write_text("edited\n")
    out = tmp_path / "elsewhere.md"
    path, commit = choose_output(clean_repo, out, quick=False, only=False, out_dir=tmp_path)
    assert path == out
    assert commit == f"{sha} plus uncommitted changes in 1 path(s)"
    with pytest.raises(Refused, match="uncommitted changes"):
        choose_output(
            clean_repo,
            clean_repo / "bench" / "RESULTS.md",
            quick=False,
            only=False,
            out_dir=tmp_path,
        )


def test_clean_full_run_writes_results_naming_the_full_sha(
    clean_repo: Path, tmp_path: Path
) -> None:
    """On a clean tree a full run targets RESULTS.md and records the full 40-hex commit."""
    path, commit = choose_output(clean_repo, None, quick=False, only=False, out_dir=tmp_path)
    assert path == (clean_repo / "bench" / "RESULTS.md").resolve()
    assert commit == git(clean_repo, "rev-parse", "HEAD")
    assert len(commit) == 40


@pytest.mark.parametrize(("quick", "only"), [(True, False), (False, True)])
def test_partial_runs_never_write_results(
    clean_repo: Path, tmp_path: Path, quick: bool, only: bool
) -> None:
    """A quick run or an --only run may not write RESULTS.md, even on a clean tree."""
    with pytest.raises(Refused):
        choose_output(
            clean_repo,
            clean_repo / "bench" / "RESULTS.md",
            quick=quick,
            only=only,
            out_dir=tmp_path,
        )


def test_the_page_names_its_commit_and_the_run_count() -> None:
    """RESULTS.md starts with `commit <sha>` and states the minimum number of runs."""
    machine = Machine("cpu", 2, "1 GiB", "CPython", "Linux", "today", "a" * 40, "0 / 0 / 0")
    page = render_markdown([Figure("x", "1 X")], machine, quick=False, note="")
    assert f"\ncommit {'a' * 40}\n" in page
    assert f"median of at least {MIN_RUNS} runs" in page


def test_stat_reports_the_median_and_its_spread() -> None:
    """A figure is the median of its runs, shown with min–max and the number of runs."""
    stat = Stat.of([3.0, 1.0, 2.0, 10.0, 4.0])
    assert (stat.median, stat.lo, stat.hi, stat.n) == (3.0, 1.0, 10.0, 5)
    assert stat.show(lambda v: f"{v:.1f} s") == "3.0 s (1.0–10.0 s, n=5)"
    assert Stat.of([1.0, 2.0, 3.0, 4.0]).median == 2.5


def test_paired_rounds_give_a_median_of_differences() -> None:
    """A ratio or difference is taken round by round, then the median of those."""
    diff = paired([1.0, 2.0, 9.0], [0.5, 0.5, 0.5], lambda a, b: a - b)
    assert diff.values == (0.5, 1.5, 8.5)
    assert diff.median == 1.5


def test_timing_medians_come_from_its_samples() -> None:
    """Wall time and peak memory of a command are medians over its runs, not the best run."""
    samples = tuple(Sample(w, r, 0, "", "") for w, r in [(1.0, 10), (5.0, 30), (2.0, 20)])
    timing = Timing(samples)
    assert timing.wall.median == 2.0
    assert timing.rss.median == 20


def test_cli_start_status_and_note_follow_the_numbers() -> None:
    """The --help goal is met or missed by the median extra over Python, as measured."""
    python = Stat.of([0.02] * 5)
    fast = cli_start.start_row("help", python, Stat.of([0.1] * 5), Stat.of([0.08] * 5), goal=True)
    slow = cli_start.start_row("help", python, Stat.of([0.4] * 5), Stat.of([0.38] * 5), goal=True)
    assert fast.status == MET
    assert slow.status == MISSED
    assert "+380 ms" in slow.ratio


def test_pr_path_overhead_is_computed_per_round() -> None:
    """The overhead row is total minus direct, round by round, with counted requests in notes."""
    fig = Figure("pr_path", "2 PR")
    steps = {s: [1.5, 1.0, 2.0, 1.5, 1.5] for s in pr_path.STEPS}
    calls = {s: [Counter({"POST /api/2.0/mlflow/runs/create": 2})] * 5 for s in pr_path.STEPS}
    total = Stat.of([sum(r) for r in zip(*steps.values(), strict=True)])
    pr_path.assess(fig, steps, calls, total, Stat.of([1.0] * 5), Stat.of([0.5] * 5))
    overhead = next(r for r in fig.rows if r.what.startswith("overhead"))
    assert overhead.value.startswith("6.50 s")
    assert overhead.status == MISSED
    assert "10 MLflow requests in all" in fig.notes[0]
    assert fig.misses and "1.50 s over the goal" in fig.misses[0]


def test_many_models_goal_follows_the_medians() -> None:
    """Each command meets the 2 s goal by its median at 500 models; misses name their numbers."""

    def timing(seconds: float) -> Timing:
        return Timing(tuple(Sample(seconds, 0, 0, "", "") for _ in range(5)))

    fig = Figure("many_models", "5 Many")
    times = {"validate": 0.5, "changed": 0.4, "status": 3.0, "deploy": 1.0}
    timings = {5: {k: timing(0.3) for k in times}, 500: {k: timing(v) for k, v in times.items()}}
    calls = {n: {k: Counter({"GET /x": 1}) for k in times} for n in (5, 500)}
    many_models.assess(fig, timings, calls, 5, 500)
    status = {r.what.split(" at ")[0]: r.status for r in fig.rows}
    assert status["`status`"] == MISSED
    assert status["`validate`"] == MET
    assert "3 of 4 commands within 2.00 s" in fig.notes[1]
    assert len(fig.misses) == 1 and "3.00 s at 500 models" in fig.misses[0]


def test_without_cuda_the_gpu_goal_says_so_and_has_no_number() -> None:
    """No GPU: the goal row reads `needs CUDA` with no value; the CPU row is information."""
    fig = Figure("gpu_training", "6 GPU")
    gpu_training.assess(
        fig, Stat.of([90.0] * 5), Stat.of([100.0] * 5), device="cpu", cuda=False, epochs=10
    )
    goal, cpu = fig.rows
    assert (goal.status, goal.value) == (NEEDS_CUDA, "—")
    assert cpu.status == "info" and cpu.ratio.startswith("90%")


def test_gpu_goal_is_judged_on_cuda() -> None:
    """On CUDA the toolkit loop must reach 90 % of the hand loop's samples/s."""
    fig = Figure("gpu_training", "6 GPU")
    gpu_training.assess(
        fig, Stat.of([80.0] * 5), Stat.of([100.0] * 5), device="cuda", cuda=True, epochs=30
    )
    assert [r.status for r in fig.rows] == [MISSED]
    assert "80%" in fig.misses[0]


def test_warm_setup_total_is_restore_plus_toolkit_plus_first_start() -> None:
    """The warm-setup figure adds the restore, the toolkit install and the first --help."""
    fig = Figure("warm_setup", "8 Warm")
    warm_setup.assess(
        fig, Stat.of([20.0] * 5), Stat.of([3.0] * 5), Stat.of([1.0] * 5),
        venv_bytes=2 << 30, archive_bytes=1 << 29, key="k", made_s=0.0, where="tmpfs",
    )  # fmt: skip
    total = fig.rows[-1]
    assert total.value.startswith("24.00 s") and total.status == MET
    assert "onto tmpfs" in fig.rows[0].what


def test_warm_setup_key_is_the_lock_and_the_in_files_as_the_action_keys_it(
    tmp_path: Path,
) -> None:
    """The key hashes requirements/lock.txt and requirements/*.in, not pyproject.toml."""
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "lock.txt").write_text("a==1 --hash=sha256:00\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    first, files = warm_setup.cache_key(tmp_path)
    assert files == ["requirements/lock.txt"]
    assert first.startswith("modelops-venv-") and "-torch-" in first
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert warm_setup.cache_key(tmp_path)[0] == first
    (tmp_path / "requirements" / "digits.in").write_text("torch==2.13.0\n")
    second, files = warm_setup.cache_key(tmp_path)
    assert files == ["requirements/digits.in", "requirements/lock.txt"] and second != first
    (tmp_path / "requirements" / "lock.txt").write_text("a==2 --hash=sha256:00\n")
    assert warm_setup.cache_key(tmp_path)[0] not in (first, second)


def test_requests_are_counted_from_the_server_access_log() -> None:
    """Each logged API request counts once (query dropped); health checks do not count."""
    log = "\n".join(
        [
            'INFO:     127.0.0.1:1 - "GET /health HTTP/1.1" 200 OK',
            'INFO:     127.0.0.1:1 - "POST /api/2.0/mlflow/runs/create HTTP/1.1" 200 OK',
            'INFO:     127.0.0.1:1 - "GET /api/2.0/mlflow/runs/get?run_id=1 HTTP/1.1" 200 OK',
            'INFO:     127.0.0.1:1 - "GET /api/2.0/mlflow/runs/get?run_id=2 HTTP/1.1" 404 Not',
            "INFO: startup complete",
        ]
    )
    assert count_requests(log) == Counter(
        {"POST /api/2.0/mlflow/runs/create": 1, "GET /api/2.0/mlflow/runs/get": 2}
    )


def test_generated_models_are_distinct_and_valid(tmp_path: Path) -> None:
    """The many-models repository holds distinct packages, params and data, and validates."""
    root = tmp_path / "many"
    many_models.generate(root, 3)
    names = [many_models.model_name(i) for i in range(3)]
    packages = {(root / "src" / "models" / n / "__init__.py").read_text() for n in names}
    data = {(root / "data" / n / "customers.csv").read_text() for n in names}
    specs = {(root / "pipelines" / f"{n}.yaml").read_text() for n in names}
    assert len(packages) == len(data) == len(specs) == 3
    for text in packages:
        assert "from models." not in text  # its own code, not a re-export of another model
    designs = [many_models.model_design(i) for i in range(500)]
    assert len({(d["features"], d["c"], d["threshold"]) for d in designs}) == 500
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "modelops"), "validate"],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_act_job_spans_are_read_from_json_log_lines() -> None:
    """Per-job time is the span between a job's first and last act record (nanoseconds cut)."""
    from bench.workflow_time import job_spans

    log = "\n".join(
        [
            '{"jobID": "train", "time": "2025-01-01T00:00:01.123456789Z"}',
            "not json",
            '{"jobID": "train", "time": "2025-01-01T00:00:04.123456Z"}',
            '{"jobID": "checks", "time": "2025-01-01T00:00:02Z"}',
        ]
    )
    assert job_spans(log) == {"train": 3.0, "checks": 0.0}


def test_quick_run_prints_the_table_and_writes_the_machine(tmp_path: Path) -> None:
    """A quick run of one figure exits 0 and writes its table, commit and machine elsewhere."""
    output = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "cli_start",
         "--output", str(output), "--out-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = output.read_text()
    assert "| 1 CLI start |" in proc.stdout
    for field in ("commit ", "- CPU:", "- RAM:", "- Python:", "- OS:", "- Date:", "Quick run"):
        assert field in text
    assert "`modelops --help`" in text and "n=4" in text


def test_tree_changed_during_the_run_is_refused(
    clean_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A figure that leaves the tree dirty makes the run refuse RESULTS.md at the end (exit 2)."""
    import bench.run

    def dirtying_figure(name: str, ctx: object) -> tuple[Figure, bool]:
        (clean_repo / "written-by-a-figure.txt").write_text("oops\n")
        return Figure(name, "0 Fake"), False

    monkeypatch.setattr(bench.run, "run_figure", dirtying_figure)
    code = main(["--out-dir", str(clean_repo / "bench" / "out")], repo=clean_repo)
    assert code == 2
    assert "refused at the end of the run" in capsys.readouterr().err
    assert (clean_repo / "bench" / "RESULTS.md").read_text() == "old page\n"


def test_clean_run_writes_results_with_its_commit(
    clean_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full run on a clean tree that stays clean writes RESULTS.md naming the commit."""
    import bench.run

    monkeypatch.setattr(bench.run, "run_figure", lambda name, ctx: (Figure(name, "0 X"), False))
    assert main(["--out-dir", str(clean_repo / "bench" / "out")], repo=clean_repo) == 0
    page = (clean_repo / "bench" / "RESULTS.md").read_text()
    assert f"\ncommit {git(clean_repo, 'rev-parse', 'HEAD')}\n" in page
