"""`modelops demo`: the whole model loop on the example models, in a scratch repository.

The scratch folder gets a copy of pipelines/, environments/ (the stage files, not
the manifests), data/, src/models/ and requirements/, its own git history and its own embedded
MLflow under `.modelops/`; the user's checkout and any configured tracking server
are never touched. The manifests stay behind because they name versions of the
user's registry, which the scratch registry does not hold: the demo promotes its
own versions from an empty registry, whatever the checkout's environments run.
The loop is a list of `Step`s, each one `modelops` command line, so later stages
(promote, deploy, predict, drift) are added by appending steps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from modelops.errors import InputError, ModelopsError
from modelops.project import Project
from modelops.results import CommandResult

# requirements/: a spec may name its own requirements file there (train.requirements).
COPIED = ("pipelines", "environments", "data", "src/models", "requirements")
# Settings that would point the demo at the user's state instead of the scratch copy.
ISOLATED_VARS = ("MLFLOW_TRACKING_URI", "MODELOPS_HOME", "MODELOPS_PROJECT", "MODELOPS_STORE")
# Runs one command line (argv without the program name) and returns its exit code.
CommandRunner = Callable[[list[str]], int]


@dataclass(frozen=True)
class Step:
    """One command of the loop; `argv(model)` builds it (per model) or `argv(None)` (once)."""

    name: str
    argv: Callable[[str | None], list[str]]
    per_model: bool = True
    # Exit codes that are an expected outcome (drift: 3), with what to say about them.
    expected: dict[int, str] = field(default_factory=lambda: {0: ""})
    # Runs before / after the command, e.g. to write its input or commit its output.
    before: Callable[[str | None], object] | None = None
    after: Callable[[str | None], None] | None = None
    # For per-model steps: whether it applies to a model (drift only where the spec has one).
    applies: Callable[[str], bool] | None = None


def default_steps() -> list[Step]:
    """The PR path: validate → data-test → train → evaluate → register → report.

    `run_demo` appends `gitops_steps`: promotion, deploys, scoring and drift.
    """
    return [
        Step("validate", lambda _: ["validate"], per_model=False),
        Step("data-test", lambda m: ["data-test", str(m)]),
        Step("train", lambda m: ["train", str(m)]),
        Step("evaluate", lambda m: ["evaluate", str(m)]),
        Step("register", lambda m: ["register", str(m)]),
        Step("report", lambda m: ["report", str(m)]),
    ]


def gitops_steps(scratch: Project) -> list[Step]:
    """After registering: promote dev → staging → prod as commits, deploy each, score, drift."""
    from modelops.drift import shifted_copy
    from modelops.serve import scoring_batch
    from modelops.spec import load_pipeline

    inputs = scratch.state_dir / "demo"

    def commit(message: str) -> Callable[[str | None], None]:
        def run(model: str | None) -> None:
            git = ["git", "-c", "user.name=modelops demo", "-c", "user.email=demo@modelops.invalid"]
            subprocess.run([*git, "add", "environments"], cwd=scratch.root, check=True)
            subprocess.run(
                [*git, "commit", "-qm", message.format(model=model)],
                cwd=scratch.root,
                check=True,
                capture_output=True,
            )

        return run

    def promote_to(env: str) -> Callable[[str | None], list[str]]:
        return lambda m: ["promote", str(m), "--to", env]

    def deploy(env: str) -> Callable[[str | None], list[str]]:
        return lambda _: ["deploy", env]

    steps: list[Step] = []
    for env in ("dev", "staging", "prod"):
        steps.append(
            Step(
                f"promote → {env}",
                promote_to(env),
                after=commit(f"promote {{model}} to {env}"),
            )
        )
        steps.append(Step(f"deploy {env}", deploy(env), per_model=False))
    steps += [
        Step(
            "predict (prod)",
            lambda m: [
                "predict",
                str(m),
                "--env",
                "prod",
                "--input",
                str(inputs / f"{m}-batch.csv"),
                "--output",
                str(inputs / f"{m}-scores.csv"),
            ],
            before=lambda m: scoring_batch(scratch, str(m), inputs / f"{m}-batch.csv"),
        ),
        Step(
            "drift (shifted data)",
            lambda m: [
                "drift",
                str(m),
                "--env",
                "prod",
                "--input",
                str(inputs / f"{m}-shifted.csv"),
            ],
            before=lambda m: shifted_copy(scratch, str(m), inputs / f"{m}-shifted.csv"),
            expected={0: "", 3: "drift detected, as expected: the demo shifted the data"},
            applies=lambda m: load_pipeline(scratch, m).drift is not None,
        ),
    ]
    return steps


def make_scratch(project: Project, workdir: Path) -> Project:
    """Copy the model-facing parts of `project` into `workdir` and commit them."""
    if workdir.exists() and any(workdir.iterdir()):
        raise InputError(
            "demo folder is not empty",
            file=workdir,
            field="--workdir",
            hint="pass a new or empty folder (or none, for a temporary one)",
        )
    workdir.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = project.root / name
        if source.exists():
            ignored = ["__pycache__", "*.pyc"]
            if name == "environments":
                ignored.append("models")  # the manifests: see the module docstring
            shutil.copytree(source, workdir / name, ignore=shutil.ignore_patterns(*ignored))
    (workdir / ".gitignore").write_text(".modelops/\n__pycache__/\n", encoding="utf-8")
    identity = {
        "GIT_AUTHOR_NAME": "modelops demo",
        "GIT_AUTHOR_EMAIL": "demo@modelops.invalid",
        "GIT_COMMITTER_NAME": "modelops demo",
        "GIT_COMMITTER_EMAIL": "demo@modelops.invalid",
    }
    env = {**os.environ, **identity}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "demo: initial"]):
        subprocess.run(["git", *argv], cwd=workdir, check=True, env=env, capture_output=True)
    return Project(workdir.resolve())


@contextmanager
def isolated_environment() -> Iterator[None]:
    """Run with the embedded defaults, whatever the user's shell points at."""
    saved = {name: os.environ.pop(name) for name in ISOLATED_VARS if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def run_steps(
    scratch: Project, steps: list[Step], models: list[str], run_command: CommandRunner
) -> list[dict[str, object]]:
    """Run each step for each model through `run_command` (argv in, exit code out); stop at the
    first failure."""
    done: list[dict[str, object]] = []
    for step in steps:
        chosen = [m for m in models if step.applies is None or step.applies(m)]
        for model in chosen if step.per_model else [None]:
            argv = ["-C", str(scratch.root), *step.argv(model)]
            label = f"{step.name} {model}" if model else step.name
            print(f"── {label}", flush=True)
            start = time.perf_counter()
            if step.before is not None:
                step.before(model)
            code = run_command(argv)
            if code in step.expected and step.after is not None:
                step.after(model)
            seconds = round(time.perf_counter() - start, 2)
            done.append({"step": step.name, "model": model, "exit_code": code, "seconds": seconds})
            if step.expected.get(code):
                print(f"   ({step.expected[code]})", flush=True)
            if code not in step.expected:
                raise ModelopsError(
                    f"demo stopped: `modelops {' '.join(step.argv(model))}` exited {code}",
                    file=scratch.root,
                    hint="the message above says why; the scratch folder is kept for a look",
                )
    return done


@dataclass
class DemoResult(CommandResult):
    """What `run_demo` ran: the scratch repository, the steps and the reports."""

    @property
    def workdir(self) -> Path:
        return Path(self.data["workdir"])


def run_demo(
    project: Project, run_command: CommandRunner, *, workdir: Path | None = None
) -> DemoResult:
    """Build a scratch repository (in `workdir`, default a temporary one) and run the loop on
    every example model in it, each step as the command line a person would type.

    `run_command` runs one command line and returns its exit code: `modelops.cli.main`.
    """
    from modelops.spec import list_models

    workdir = workdir or Path(tempfile.mkdtemp(prefix="modelops-demo-"))
    start = time.perf_counter()
    with isolated_environment():
        scratch = make_scratch(project, workdir.resolve())
        models = list_models(scratch)
        if not models:
            where = project.relative(project.pipelines_dir)
            raise InputError("no pipeline specs to run", file=where)
        steps = run_steps(scratch, default_steps() + gitops_steps(scratch), models, run_command)
        # Inside the isolated environment: MODELOPS_HOME must not redirect the state dir.
        reports = {m: str(scratch.state_dir / "reports" / m / "report.md") for m in models}
    seconds = round(time.perf_counter() - start, 1)
    summary = [f"demo: {len(steps)} steps for {', '.join(models)} in {seconds}s", "reports:"]
    summary += [f"  {path}" for path in reports.values()]
    return DemoResult(
        "demo",
        "demo",
        {
            "workdir": str(scratch.root),
            "models": models,
            "steps": steps,
            "reports": reports,
            "seconds": seconds,
        },
        summary,
    )
