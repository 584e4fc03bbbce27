"""GitHub commands as library functions: setup, doctor and comment.

`modelops github …` parses its flags into these (see `modelops.cli`). The token is
read from GH_TOKEN, GITHUB_TOKEN or `gh auth token`, never passed as an argument;
the API base from GITHUB_API_URL (default https://api.github.com). githubkit is
imported only when one of these runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError
from modelops.github.client import connect, find_token, parse_repo
from modelops.github.comments import marker_for, token_login, upsert_comment
from modelops.github.doctor import diagnose
from modelops.github.setup import REQUIRED_CHECK, apply_setup, plan_setup
from modelops.github.workflows import WorkflowNeeds, read_workflows
from modelops.project import Project
from modelops.results import CommandResult

if TYPE_CHECKING:
    from githubkit import GitHub

SUBJECT = "github"
MAX_REVIEWERS = 6  # GitHub's limit of required reviewers per environment


@dataclass
class GitHubResult(CommandResult):
    """What a github command did; `data` holds its JSON result (see each function)."""

    @property
    def repository(self) -> str:
        return str(self.data["repository"])


def _needs(workflows: Path | None, project_root: Path | None) -> WorkflowNeeds:
    """What the workflows ask of GitHub: `workflows`, else the project's .github/workflows."""
    if workflows is None:
        if project_root is not None:
            root = project_root
        else:
            try:
                root = Project.discover(None).root
            except InputError:  # not inside a project: the current folder's workflows
                root = Path.cwd()
        workflows = root / ".github" / "workflows"
    return read_workflows(workflows)


def _client() -> GitHub[Any]:
    return connect(find_token())


def setup_repository(
    repo: str,
    *,
    reviewers: Mapping[str, Sequence[str]] | None = None,
    variables: Mapping[str, str] | None = None,
    workflows: Path | None = None,
    required_check: str = REQUIRED_CHECK,
    dry_run: bool = False,
    force: bool = False,
    project_root: Path | None = None,
    show: Callable[[str], None] | None = None,
) -> GitHubResult:
    """Create or update what the workflows need (environments, variables, token, ruleset).

    `reviewers` sets exactly those users or ORG/TEAMs per environment (others keep their
    current ones). Refuses, before writing anything, a change that weakens a protection
    unless `force`. The plan's lines go to `show` before anything is written when it is
    given (the CLI prints them, so a failure part-way follows the plan it interrupted),
    else into the summary. `data`: repository, dry_run, changes.
    """
    ref = parse_repo(repo)
    who = {env: [w for w in names if w.strip()] for env, names in (reviewers or {}).items()}
    for env, names in who.items():
        if len(names) > MAX_REVIEWERS:
            raise InputError(
                f"{env}: {len(names)} reviewers; GitHub takes at most {MAX_REVIEWERS} users "
                "or teams",
                field="--reviewer",
            )
    needs = _needs(workflows, project_root)
    plan = plan_setup(
        _client(),
        ref,
        needs,
        reviewers=who,
        variables=dict(variables or {}),
        required_check=required_check,
    )
    lines = [*plan.tier.describe(), *(c.line() for c in plan.changes)]
    data: dict[str, Any] = {
        "repository": str(ref),
        "dry_run": dry_run,
        "changes": [
            {"target": c.target, "action": c.action, "detail": c.detail, "weakens": c.weakens}
            for c in plan.changes
        ],
    }
    if dry_run:
        lines.append(f"dry run: {len(plan.pending)} change(s) not applied")
        return GitHubResult("setup", SUBJECT, data, lines)
    if show is not None:
        for line in lines:
            show(line)
        lines = []
    done = apply_setup(plan, force=force)
    lines.append(f"applied {len(done)} change(s) to {ref}")
    return GitHubResult("setup", SUBJECT, data, lines)


def diagnose_repository(
    repo: str,
    *,
    workflows: Path | None = None,
    required_check: str = REQUIRED_CHECK,
    project_root: Path | None = None,
) -> GitHubResult:
    """What is missing or unsafe in `repo`'s settings, read-only; exit code 1 when anything is.

    `data`: repository, plan, private, findings (what, fix).
    """
    ref = parse_repo(repo)
    needs = _needs(workflows, project_root)
    report = diagnose(_client(), ref, needs, required_check=required_check)
    lines = [*report.tier.describe(), *(f.line() for f in report.findings)]
    lines.append(
        f"{len(report.findings)} finding(s) in {ref}"
        if report.findings
        else f"{ref}: nothing missing or unsafe"
    )
    data = {
        "repository": str(ref),
        "plan": report.tier.plan,
        "private": report.tier.private,
        "findings": [{"what": f.what, "fix": f.fix} for f in report.findings],
    }
    return GitHubResult("doctor", SUBJECT, data, lines, exit_code=1 if report.findings else 0)


def post_comment(
    repo: str | None,
    pr: int,
    marker: str,
    body_file: Path,
    *,
    author: str | None = None,
) -> GitHubResult:
    """Update the one comment of pull request `pr` that carries `marker`, or create it.

    Only comments by `author` are considered (default: github-actions[bot] inside Actions,
    else the token's user). `data`: repository, pr, action, comment_id, url, scanned.
    """
    if not repo:
        raise InputError(
            "missing --repo", field="--repo", hint="pass --repo or set $GITHUB_REPOSITORY"
        )
    ref = parse_repo(repo, field="--repo")
    if pr < 1:
        raise InputError(f"--pr must be a positive number, got {pr}", field="--pr")
    marker_for(marker)
    try:
        body = body_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the comment: {exc.__class__.__name__}", file=body_file
        ) from None
    github = _client()
    if not author:
        in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
        author = "github-actions[bot]" if in_actions else token_login(github)
    result = upsert_comment(github, ref, pr, marker, body, author=author)
    data = {
        "repository": str(ref),
        "pr": pr,
        "action": result.action,
        "comment_id": result.comment_id,
        "url": result.url,
        "scanned": result.scanned,
    }
    lines = [f"{result.action} comment {result.comment_id} ({result.url}); read {result.scanned}"]
    if result.duplicates:
        lines.append(f"note: {result.duplicates} older comment(s) carry the same marker")
    return GitHubResult("comment", SUBJECT, data, lines)


RETRAIN_ACTIONS = ("pr", "issue")


def open_retrain_request(
    project: Project, repo: str | None, model: str, *, base: str = "main"
) -> GitHubResult:
    """Open or update what `modelops retrain MODEL` asked for: its pull request or its issue.

    Reads the retrain result (`.modelops/results/MODEL/retrain.json`); for `pr`, commits the
    rewritten spec to the result's branch (one commit on `base`, left alone when the branch
    already holds it) and opens or updates the one PR from it; for `issue`, opens or updates
    the one open issue marked `retrain:MODEL`. `data`: repository, model, action, opened,
    number, url, branch (for a PR: created, updated or unchanged).
    """
    from modelops.github.requests import (
        close_issues,
        upsert_issue,
        upsert_pull_request,
        write_branch_file,
    )
    from modelops.results import read_result

    if not repo:
        raise InputError(
            "missing --repo", field="--repo", hint="pass --repo or set $GITHUB_REPOSITORY"
        )
    ref = parse_repo(repo, field="--repo")
    result = read_result(project, model, "retrain", needed_by="github retrain")
    where = project.relative(project.results_dir(model) / "retrain.json")
    # The result is read back: every value that reaches GitHub is checked first.
    action = result.get("action")
    if action not in RETRAIN_ACTIONS or result.get("model") != model:
        raise InputError(
            f"not a retrain result of '{model}' (action {action!r})", file=where, field="action"
        )
    title = str(result.get("title") or "")
    if not title or len(title) > 256 or "\n" in title:
        raise InputError("title must be one line of 1-256 characters", file=where, field="title")
    body_path = (project.root / str(result.get("body") or "")).resolve()
    if not body_path.is_relative_to(project.state_dir.resolve()) or not body_path.is_file():
        raise InputError(
            "body must be a report file under the state folder", file=where, field="body"
        )
    body = body_path.read_text("utf-8")
    key = f"retrain:{model}"
    github = _client()
    data: dict[str, Any] = {"repository": str(ref), "model": model, "action": action}
    if action == "issue":
        opened = upsert_issue(github, ref, title=title, body=body, key=key)
        data.update(opened=opened.action, number=opened.number, url=opened.url)
        return GitHubResult(
            "retrain", SUBJECT, data, [f"{opened.action} issue #{opened.number} ({opened.url})"]
        )
    branch = f"modelops/retrain-{model}"
    spec_path = project.relative(project.pipeline_path(model))
    if result.get("branch") != branch or result.get("spec") != spec_path:
        raise InputError(
            f"the result names branch {result.get('branch')!r} and spec {result.get('spec')!r}; "
            f"expected {branch} and {spec_path}",
            file=where,
            field="branch",
        )
    content = project.pipeline_path(model).read_bytes()
    pushed = write_branch_file(
        github,
        ref,
        branch=branch,
        base=base,
        path=spec_path,
        content=content,
        message=f"{title}\n\nWritten by modelops retrain.",
    )
    opened = upsert_pull_request(
        github, ref, head=branch, base=base, title=title, body=body, key=key
    )
    # An earlier run found no newer data and opened the model's issue; the PR answers it.
    closed = close_issues(
        github, ref, key=key, note=f"Superseded by the retraining pull request #{opened.number}."
    )
    data.update(
        opened=opened.action,
        number=opened.number,
        url=opened.url,
        branch=branch,
        pushed=pushed,
        closed_issues=closed,
    )
    lines = [
        f"branch {branch}: {pushed}",
        f"{opened.action} pull request #{opened.number} ({opened.url})",
        *(f"closed issue #{n}: superseded by #{opened.number}" for n in closed),
    ]
    return GitHubResult("retrain", SUBJECT, data, lines)
