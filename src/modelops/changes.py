"""`modelops changed`: which models a git change touches, as a GitHub Actions matrix.

A model is touched when one of these changes between the merge base of
`--base` and `--head` (`git diff base...head`, the pull-request diff):

- its spec `pipelines/<model>.yaml`;
- its code: the package folder of its entrypoint and of its data schema module
  (`models.churn` → `src/models/churn/`);
- its data file (`data.path`, when local);
- any extra glob in the spec's `paths` (fnmatch: `*` also matches `/`);
- its own requirements file (`train.requirements`);
- in `requirements/lock.txt`, the pin of a package that its requirements reach
  (`requirements/models.in`, its own file, and what these need in turn, read
  from pip-compile's `# via` notes; see modelops.requirements).

A change to the toolkit's code (`src/modelops/`), to the shared model package
(files directly in `src/models/`) or to the requirements every model shares
(`requirements/models.in`) touches every model: all of them may train
differently afterwards. A change to the toolkit's dependencies alone
(`pyproject.toml`, a pin in the lock that no model's requirements reach)
touches none.

With `--since-registered` (main.yml) each model is compared with the commit of
its newest registered version instead of `--base`: a push whose run was
cancelled while pending (GitHub keeps one pending run per concurrency group)
is trained by the next run, and a model never registered always trains.

Stdout carries only the JSON matrix, so a workflow can capture it; the reasons
go to stderr and to the job summary. Loads no heavy library and no MLflow.
Every spec is loaded and validated (a data path or glob may point anywhere).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from modelops.errors import InputError
from modelops.project import Project
from modelops.requirements import LOCK, SHARED, Lock, changed_pins, lock_at, model_sources
from modelops.results import CommandResult
from modelops.spec import PipelineSpec, list_models, load_pipeline

# Paths whose change retrains every model (prefixes end with "/").
GLOBAL_PATHS = ("src/modelops/", SHARED)
# Files directly in the shared `models` package (not in a model's own folder).
_SHARED_MODELS_PACKAGE = "src/models/"
# `git diff` against the all-zero SHA (a push that created the branch) has no base.
_NULL_SHA = re.compile(r"^0+$")
_ANY_OUTPUT = {"matrix": "any", "cpu-matrix": "any-cpu", "gpu-matrix": "any-gpu"}


@dataclass(frozen=True)
class Touched:
    """One touched model and the first changed path that touched it."""

    model: str
    reason: str
    spec: PipelineSpec

    def matrix_entry(self) -> dict[str, Any]:
        """The row of the Actions matrix; keys match the inputs of reusable-train.yml."""
        compute = self.spec.compute
        return {
            "model": self.model,
            "compute": compute.type,
            "instance-types": ",".join(compute.instance_types),
            "spot": compute.spot,
            "on-demand-fallback": compute.on_demand_fallback,
            "max-minutes": compute.max_minutes,
            # 0: no cost cap (a matrix value must have one type for the workflow input).
            "max-cost-usd": compute.max_cost_usd or 0,
        }


def changed_files(project: Project, base: str, head: str) -> list[str] | None:
    """Paths changed between the merge base of `base` and `head`; None when there is no base."""
    if _NULL_SHA.match(base):
        return None
    for ref in (base, head):
        if not project.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False):
            raise InputError(
                f"unknown commit '{ref}'",
                file=project.root,
                field="--base" if ref == base else "--head",
                hint="fetch the history the diff needs (actions/checkout with fetch-depth: 0)",
            )
    # --no-renames lists both sides of a rename, so moving a model's files touches it.
    out = project.git("diff", "--name-only", "--no-renames", f"{base}...{head}")
    return [line for line in out.splitlines() if line]


def _module_folder(project: Project, module: str) -> str:
    """The package folder holding `module` (a dotted name under src/), as a path prefix."""
    # Paths as git names them: relative to the root without resolving symlinks.
    src = project.relative(project.models_src)
    parts = module.split(".")
    if project.models_src.joinpath(*parts).is_dir():
        return "/".join([src, *parts]) + "/"
    if len(parts) > 1:
        return "/".join([src, *parts[:-1]]) + "/"  # a module file: its package folder
    return f"{src}/{parts[0]}.py"  # a top-level module: just that file


def _watched_paths(project: Project, spec: PipelineSpec) -> list[str]:
    """Prefixes (ending in "/") or exact paths that belong to one model."""
    watched = [f"{project.relative(project.pipelines_dir)}/{spec.name}.yaml"]
    watched.append(_module_folder(project, spec.entrypoint))
    watched.append(_module_folder(project, spec.data_schema.partition(":")[0]))
    if not spec.is_remote_data:
        # A local data path may be a file or a folder of files.
        data = spec.data_path.rstrip("/")
        watched.extend([data, data + "/"])
    if spec.requirements:
        watched.append(spec.requirements)
    return watched


@dataclass(frozen=True)
class LockChange:
    """The packages whose pin moved in requirements/lock.txt, and both ends' dependency notes."""

    packages: frozenset[str]
    base: Lock | None
    head: Lock | None

    def reached(self, sources: set[str]) -> list[str]:
        """The moved packages that `sources` need, at either end of the change (sorted)."""
        reached: set[str] = set()
        for lock in (self.base, self.head):
            if lock is not None:
                reached |= lock.reached_from(sources)
        return sorted(self.packages & reached)


def lock_change(project: Project, base: str, head: str) -> LockChange:
    """How requirements/lock.txt changed between the merge base of `base` and `head`."""
    merge_base = project.git("merge-base", base, head)
    old, new = lock_at(project, merge_base), lock_at(project, head)
    return LockChange(frozenset(changed_pins(old, new)), old, new)


def _matches(path: str, watched: list[str], globs: tuple[str, ...]) -> bool:
    for item in watched:
        if path == item or (item.endswith("/") and path.startswith(item)):
            return True
    return any(fnmatchcase(path, pattern) for pattern in globs)


def _is_global(path: str) -> bool:
    if any(path == g or (g.endswith("/") and path.startswith(g)) for g in GLOBAL_PATHS):
        return True
    return (
        path.startswith(_SHARED_MODELS_PACKAGE) and "/" not in path[len(_SHARED_MODELS_PACKAGE) :]
    )


def _lock_reason(project: Project, spec: PipelineSpec, change: LockChange) -> str | None:
    packages = change.reached(model_sources(project, spec.requirements))
    if not packages:
        return None
    more = f" and {len(packages) - 3} more" if len(packages) > 3 else ""
    return f"{LOCK} ({', '.join(packages[:3])}{more})"


def touched_models(
    project: Project, files: list[str] | None, lock: LockChange | None = None
) -> list[Touched]:
    """The models `files` touch (every model when `files` is None), sorted by name.

    `lock`: how requirements/lock.txt changed, when it is among `files`; without it a
    change of the lock touches no model through the lock itself.
    """
    models = list_models(project)
    if files is None:
        return [
            Touched(m, "no base commit: every model", load_pipeline(project, m)) for m in models
        ]
    touched = []
    for model in models:
        spec = load_pipeline(project, model)  # raises naming the file and field
        watched = _watched_paths(project, spec)
        reason = next((p for p in files if _is_global(p) or _matches(p, watched, spec.paths)), None)
        if reason is None and lock is not None:
            reason = _lock_reason(project, spec, lock)
        if reason is not None:
            touched.append(Touched(model, reason, spec))
    return touched


def _registered_commit(project: Project, model: str) -> str | None:
    """The commit the newest registered version of `model` was trained at, if git knows it."""
    from modelops import registry

    latest = registry.latest_version(project, model)
    if latest is None:
        return None
    commit = latest.commit.removesuffix("+dirty")
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        return None
    known = project.git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False)
    return commit if known else None


def touched_since_registered(project: Project, head: str) -> tuple[list[Touched], dict[str, str]]:
    """Models changed since the commit of their newest registered version (all, if never).

    Returns the touched models and, per model, the base it was compared with
    ("" when it has no registered version git knows).
    """
    bases: dict[str, str] = {}
    by_base: dict[str, list[str]] = {}
    for model in list_models(project):
        base = _registered_commit(project, model) or ""
        bases[model] = base
        by_base.setdefault(base, []).append(model)
    touched: list[Touched] = []
    for base, models in by_base.items():
        if not base:
            touched += [
                Touched(m, "no registered version: trains", load_pipeline(project, m))
                for m in models
            ]
            continue
        files = changed_files(project, base, head)
        lock = lock_change(project, base, head) if files and LOCK in files else None
        touched += [t for t in touched_models(project, files, lock) if t.model in models]
    return sorted(touched, key=lambda t: t.model), bases


MATRIX_LIMIT = 256  # GitHub runs at most 256 jobs from one matrix


def chunks(
    touched: list[Touched], *, gpu_runners: bool, size: int = MATRIX_LIMIT
) -> dict[str, Any]:
    """The touched models in chunks of at most `size`: the matrix of the caller job.

    Each chunk row carries its own `all`, `cpu` and `gpu` matrices (each within
    GitHub's limit of 256 jobs per matrix) and `any-cpu`/`any-gpu` flags; the
    workflows call reusable-train-many.yml once per chunk, which fans out again.
    """
    rows = []
    for index in range(0, len(touched), size):
        part = split_matrices(touched[index : index + size], gpu_runners=gpu_runners)
        rows.append(
            {
                "chunk": index // size + 1,
                "all": part["matrix"],
                "cpu": part["cpu-matrix"],
                "gpu": part["gpu-matrix"],
                "any-cpu": bool(part["cpu-matrix"]["include"]),
                "any-gpu": bool(part["gpu-matrix"]["include"]),
            }
        )
    return {"include": rows}


def split_matrices(touched: list[Touched], *, gpu_runners: bool) -> dict[str, dict[str, Any]]:
    """`matrix` (every touched model), and the `cpu`/`gpu` matrices the workflow runs.

    A model goes to `gpu` only when its spec asks for a GPU and runners may be
    started; otherwise it trains on CPU (its row still says `compute: gpu`, so
    the workflow can tell the reviewer why).
    """
    rows = [t.matrix_entry() for t in touched]
    on_gpu = [r for r in rows if gpu_runners and r["compute"] == "gpu"]
    return {
        "matrix": {"include": rows},
        "cpu-matrix": {"include": [r for r in rows if r not in on_gpu]},
        "gpu-matrix": {"include": on_gpu},
    }


def _write_github_output(matrices: dict[str, dict[str, Any]], chunked: dict[str, Any]) -> None:
    output = os.environ.get("GITHUB_OUTPUT")
    if not output:
        return
    with Path(output).open("a", encoding="utf-8") as fh:
        fh.write(f"chunks={json.dumps(chunked, separators=(',', ':'))}\n")
        for name, matrix in matrices.items():
            fh.write(f"{name}={json.dumps(matrix, separators=(',', ':'))}\n")
            # `any`, `any-cpu`, `any-gpu`: a job's `if:` cannot test an empty matrix itself.
            flag = _ANY_OUTPUT[name]
            fh.write(f"{flag}={'true' if matrix['include'] else 'false'}\n")


def _write_step_summary(touched: list[Touched], base: str, head: str) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary or os.environ.get("GITHUB_ACTIONS") != "true":
        return
    lines = [f"### Models touched by `{base[:12]}...{head[:12]}`", ""]
    if touched:
        lines += ["| model | compute | because of |", "|---|---|---|"]
        lines += [f"| {t.model} | {t.spec.compute.type} | `{t.reason}` |" for t in touched]
    else:
        lines.append("No model is touched: nothing to train.")
    with Path(summary).open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n\n")


@dataclass
class ChangedResult(CommandResult):
    """What `changed_models` found: the changed files, the matrices and why each model is in."""

    @property
    def models(self) -> list[str]:
        return sorted(self.data["reasons"])


def changed_models(
    project: Project,
    base: str | None = None,
    head: str = "HEAD",
    *,
    gpu_runners: bool = False,
    since_registered: bool = False,
) -> ChangedResult:
    """The models touched between `base` and `head`, as GitHub Actions matrices.

    In Actions the matrices (and `chunks`, see `chunks`) are also set as step outputs
    and listed in the step summary. `gpu_runners`: models whose spec asks for a GPU go
    to the gpu matrix. `since_registered`: compare each model with the commit of its
    newest registered version instead of `base` (then `base` is not needed).
    """
    bases: dict[str, str] | None = None
    files: list[str] | None
    if since_registered:
        files = None
        touched, bases = touched_since_registered(project, head)
    elif not base:
        raise InputError("give --base COMMIT or --since-registered", field="--base")
    else:
        files = changed_files(project, base, head)
        lock = lock_change(project, base, head) if files and LOCK in files else None
        touched = touched_models(project, files, lock)
    base = base or ""
    matrices = split_matrices(touched, gpu_runners=gpu_runners)
    chunked = chunks(touched, gpu_runners=gpu_runners)
    matrix = matrices["matrix"]
    _write_github_output(matrices, chunked)
    _write_step_summary(touched, base, head)
    notes = [f"{t.model}: touched by {t.reason}" for t in touched] or ["no model touched"]
    return ChangedResult(
        command="changed",
        subject="_project",
        data={
            "base": base,
            "head": head,
            "files": files,
            **matrices,
            "chunks": chunked,
            "reasons": {t.model: t.reason for t in touched},
            **({"registered_bases": bases} if bases is not None else {}),
        },
        summary=[json.dumps(matrix, separators=(",", ":"))],
        notes=notes,
    )
