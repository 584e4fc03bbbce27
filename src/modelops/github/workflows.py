"""What the repository's workflows need from GitHub: environments, their refs, variables.

`github setup` and `github doctor` read `.github/workflows/*.yml` of the checkout so the
settings they manage follow the workflows a team actually runs, not a list kept apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelops.errors import InputError

# Environments whose jobs must wait for a person: prod deploys, and GPU launches run a
# PR's code on a paid machine. Every other environment only scopes secrets and OIDC.
REVIEWED = ("prod", "gpu")
_VARS = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")
_MATRIX = re.compile(r"^\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}$")


@dataclass(frozen=True)
class EnvironmentNeed:
    """One environment the workflows name, and the refs that may deploy to it."""

    name: str
    reviewed: bool
    # None: any ref (PR runs and reusable workflows run under refs no policy can name).
    branches: tuple[str, ...] | None
    tags: tuple[str, ...]
    used_by: tuple[str, ...]  # "workflow.yml:job"


@dataclass(frozen=True)
class WorkflowNeeds:
    environments: tuple[EnvironmentNeed, ...]
    variables: tuple[str, ...]
    default_branch: str = "main"

    def environment(self, name: str) -> EnvironmentNeed | None:
        return next((e for e in self.environments if e.name == name), None)


@dataclass
class _Uses:
    jobs: list[str] = field(default_factory=list)
    any_ref: bool = False
    branches: bool = False
    tags: list[str] = field(default_factory=list)


def _load(path: Path) -> dict[Any, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the workflow: {exc}", file=path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict):
        raise InputError("not a workflow (no jobs)", file=path, field="jobs")
    return doc


def _names(job: dict[str, Any]) -> list[str]:
    """The environment names a job deploys to (`environment:` string or `{name:}`)."""
    env = job.get("environment")
    name = env.get("name") if isinstance(env, dict) else env
    if not isinstance(name, str):
        return []
    matrix_key = _MATRIX.match(name.strip())
    if matrix_key is None:
        return [] if "${{" in name else [name.strip()]
    values = ((job.get("strategy") or {}).get("matrix") or {}).get(matrix_key.group(1))
    return [str(v) for v in values] if isinstance(values, list) else []


def read_workflows(directory: Path, *, default_branch: str = "main") -> WorkflowNeeds:
    """The environments and variables the workflows in `directory` use."""
    paths = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    if not paths:
        raise InputError(
            "no workflows here: run from the repository's checkout or pass --workflows",
            file=directory,
        )
    uses: dict[str, _Uses] = {}
    variables: set[str] = set()
    for path in paths:
        text = path.read_text("utf-8")
        variables.update(_VARS.findall(text))
        doc = _load(path)
        triggers = doc.get(True, doc.get("on"))  # PyYAML reads the key `on` as True
        if isinstance(triggers, str):
            triggers = {triggers: None}
        elif isinstance(triggers, list):
            triggers = dict.fromkeys(triggers)
        triggers = triggers if isinstance(triggers, dict) else {}
        push = triggers.get("push") or {}
        tag_patterns = [str(t) for t in push.get("tags", [])] if isinstance(push, dict) else []
        any_ref = bool({"pull_request", "workflow_call", "pull_request_target"} & set(triggers))
        on_branches = bool(set(triggers) - {"push"}) or ("push" in triggers and not tag_patterns)
        if isinstance(push, dict) and push.get("branches"):
            on_branches = True
        for job_id, job in doc["jobs"].items():
            if not isinstance(job, dict):
                continue
            for name in _names(job):
                use = uses.setdefault(name, _Uses())
                use.jobs.append(f"{path.name}:{job_id}")
                use.any_ref |= any_ref
                use.branches |= on_branches
                use.tags.extend(t for t in tag_patterns if t not in use.tags)
    needs = []
    for name in sorted(uses):
        use = uses[name]
        branches = None if use.any_ref else ((default_branch,) if use.branches else ())
        needs.append(
            EnvironmentNeed(
                name=name,
                reviewed=name in REVIEWED,
                branches=branches,
                tags=() if use.any_ref else tuple(use.tags),
                used_by=tuple(use.jobs),
            )
        )
    return WorkflowNeeds(tuple(needs), tuple(sorted(variables)), default_branch)
