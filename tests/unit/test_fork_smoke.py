"""A fork stays green: add a model, take it to prod, delete the examples; toolkit tests and the
demo still pass there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A few toolkit test files that build their own projects (sample, toy, scaffold, demo),
# and the example tests, which must skip once the examples are gone.
SUBSET = (
    "tests/unit/test_spec.py",
    "tests/unit/test_promote.py",
    "tests/unit/test_deploy.py",
    "tests/unit/test_demo.py",
    "tests/unit/test_schemadoc.py",
    "tests/examples",
)


def _fork(dest: Path) -> Path:
    """The files a fork starts with: everything git tracks or would track here, committed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (name.decode() for name in listed)):
        source = REPO / rel
        if source.is_file():  # a deleted-but-tracked file is listed too
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "fork of the template")
    return dest


def _git(root: Path, *argv: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=team", "-c", "user.email=team@example.invalid", *argv],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _env(fork: Path) -> dict[str, str]:
    """The fork's own toolkit and model code first on the path, nothing of this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MODELOPS_"))}
    return {**env, "PYTHONPATH": str(fork / "src")}


def _run(fork: Path, *argv: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=fork,
        env=_env(fork),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _modelops(fork: Path, *argv: str) -> None:
    proc = _run(fork, "-m", "modelops", *argv)
    assert proc.returncode == 0, f"modelops {' '.join(argv)}:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.slow
def test_fork_with_its_own_model_in_prod_and_no_examples_stays_green(tmp_path: Path) -> None:
    """Fork → `modelops new` → train → promote to prod → delete the examples: a subset of the
    toolkit tests passes (example tests skip) and `modelops demo` runs, inside the fork."""
    fork = _fork(tmp_path / "fork")
    # This repository may itself be a fork with models of its own: pick a name it lacks.
    taken = {p.stem for p in (fork / "pipelines").glob("*.yaml")}
    name = next(f"cancer{i}" for i in range(len(taken) + 1) if f"cancer{i}" not in taken)
    _modelops(fork, "new", name, "--template", "sklearn-classifier", "--owner", "@team")
    _git(fork, "add", "-A")
    _git(fork, "commit", "-qm", f"{name} model")
    for step in ("data-test", "train", "evaluate", "register"):
        _modelops(fork, step, name)
    for env in ("dev", "staging", "prod"):
        _modelops(fork, "promote", name, "--to", env)
        _git(fork, "add", "environments")
        _git(fork, "commit", "-qm", f"promote {name} to {env}")
    manifest = fork / "environments" / "prod" / "models" / f"{name}.yaml"
    prod = manifest.read_text()
    assert f"models:/{name}/1" in prod and str(tmp_path) not in prod
    # Delete the examples (and any other model: the demo below runs offline, on ours only);
    # the manifests that name them stay, as they would in a fork.
    for other in sorted(taken):
        for path in (f"pipelines/{other}.yaml", f"src/models/{other}", f"data/{other}"):
            if (fork / path).exists():
                _git(fork, "rm", "-rq", path)
    _git(fork, "commit", "-qm", "remove the examples", "--allow-empty")

    subset = [path for path in SUBSET if (fork / path).exists()]
    tests = _run(fork, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *subset)
    report = tests.stdout + tests.stderr
    assert tests.returncode == 0, report
    assert " passed" in report and " failed" not in report
    if "tests/examples" in subset:
        assert "removed from this repository" in report, "the example tests skip, never fail"

    demo = _run(fork, "-m", "modelops", "demo", "--workdir", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo:" in demo.stdout and name in demo.stdout
    # The demo worked in its scratch copy: the fork's prod still pins its own version.
    assert manifest.read_text() == prod
