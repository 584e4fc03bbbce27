"""`modelops github …`: setup, doctor and comment, parsed here, done by the library modules.

The token is read from GH_TOKEN, GITHUB_TOKEN or `gh auth token`, never from a flag.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from modelops.errors import InputError
from modelops.project import Project
from modelops.results import CommandResult

SUBJECT = "github"
MAX_REVIEWERS = 6  # GitHub's limit of required reviewers per environment


class _Parser(argparse.ArgumentParser):
    """Bad arguments become an InputError (exit 2, one line), not argparse's own exit."""

    def error(self, message: str) -> NoReturn:
        prog = self.prog if self.prog != "modelops github" else "modelops github ACTION"
        raise InputError(message, hint=f"see `{prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelops github",
        description="GitHub settings as code. The token comes from GH_TOKEN, GITHUB_TOKEN "
        "or `gh auth token`; the API from GITHUB_API_URL (default https://api.github.com).",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def workflows(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--workflows",
            type=Path,
            default=None,
            help="folder of the workflows to read (default: .github/workflows of the project)",
        )
        p.add_argument(
            "--check",
            default="all green",
            help="the status check a merge requires (default: 'all green', from pr.yml)",
        )

    p = sub.add_parser(
        "setup",
        help="create or update environments, variables, the Actions token and a ruleset",
        description="Create or update, idempotently, what the workflows need: environments "
        "(reviewers, deployment branch/tag policies), repository variables, the Actions "
        "token defaults, and a ruleset requiring code-owner review and the `all green` "
        "check. Refuses to weaken an existing protection without --force.",
    )
    p.add_argument("repo", metavar="OWNER/REPO")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--force", action="store_true", help="apply changes that weaken an existing protection"
    )
    p.add_argument(
        "--reviewer",
        action="append",
        default=[],
        metavar="ENV=WHO[,WHO]",
        help="required reviewers of an environment: users or ORG/TEAM (repeatable); "
        "sets exactly these, keeps the current ones when not given",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a repository variable the workflows read (repeatable)",
    )
    workflows(p)

    p = sub.add_parser(
        "doctor",
        help="say what is missing or unsafe, one line each with the fix; exit 1 when anything is",
        description="Read a repository's settings (read-only) and print what is missing or "
        "unsafe, one line each with the fix, and which protections its plan gives.",
    )
    p.add_argument("repo", metavar="OWNER/REPO")
    workflows(p)

    p = sub.add_parser(
        "comment",
        help="create or update the one pull-request comment that carries a marker",
        description="Find the comment with the marker across all pages of a pull request's "
        "comments and update it, or create it. Only comments by --author are considered.",
    )
    p.add_argument(
        "--repo",
        default=os.environ.get("GITHUB_REPOSITORY"),
        metavar="OWNER/REPO",
        help="default: $GITHUB_REPOSITORY",
    )
    p.add_argument("--pr", type=int, required=True, metavar="N", help="pull request number")
    p.add_argument(
        "--marker", required=True, metavar="KEY", help="identifies the comment, e.g. report:churn"
    )
    p.add_argument(
        "--body-file", type=Path, required=True, metavar="FILE", help="markdown of the comment"
    )
    p.add_argument(
        "--author",
        default=None,
        help="login whose comments may be updated (default: github-actions[bot] inside "
        "Actions, else the token's user)",
    )
    return parser


def _project_root(args: argparse.Namespace) -> Path:
    if args.project is not None:
        return Path(args.project)
    try:
        return Project.discover(None).root
    except InputError:
        return Path.cwd()


def _needs(args: argparse.Namespace) -> Any:
    from modelops.github.workflows import read_workflows

    folder = args.workflows or _project_root(args) / ".github" / "workflows"
    return read_workflows(folder)


def _client() -> Any:
    from modelops.github.client import connect, find_token

    return connect(find_token())


def _setup(args: argparse.Namespace) -> CommandResult:
    from modelops.github.client import parse_repo
    from modelops.github.setup import apply_setup, parse_assignments, plan_setup

    repo = parse_repo(args.repo)
    reviewers = {
        env: [w for w in who.split(",") if w.strip()]
        for env, who in parse_assignments(args.reviewer, flag="--reviewer").items()
    }
    for env, who in reviewers.items():
        if len(who) > MAX_REVIEWERS:
            raise InputError(
                f"{env}: {len(who)} reviewers; GitHub takes at most {MAX_REVIEWERS} users or teams",
                field="--reviewer",
            )
    variables = parse_assignments(args.var, flag="--var")
    needs = _needs(args)
    plan = plan_setup(
        _client(),
        repo,
        needs,
        reviewers=reviewers,
        variables=variables,
        required_check=args.check,
    )
    lines = [*plan.tier.describe(), *(c.line() for c in plan.changes)]
    data: dict[str, Any] = {
        "repository": str(repo),
        "dry_run": bool(args.dry_run),
        "changes": [
            {"target": c.target, "action": c.action, "detail": c.detail, "weakens": c.weakens}
            for c in plan.changes
        ],
    }
    if args.dry_run:
        lines.append(f"dry run: {len(plan.pending)} change(s) not applied")
        return CommandResult("setup", SUBJECT, data, lines)
    for line in lines:
        print(line)
    done = apply_setup(plan, force=args.force)
    return CommandResult("setup", SUBJECT, data, [f"applied {len(done)} change(s) to {repo}"])


def _doctor(args: argparse.Namespace) -> CommandResult:
    from modelops.github.client import parse_repo
    from modelops.github.doctor import diagnose

    repo = parse_repo(args.repo)
    needs = _needs(args)
    report = diagnose(_client(), repo, needs, required_check=args.check)
    lines = [*report.tier.describe(), *(f.line() for f in report.findings)]
    lines.append(
        f"{len(report.findings)} finding(s) in {repo}"
        if report.findings
        else f"{repo}: nothing missing or unsafe"
    )
    data = {
        "repository": str(repo),
        "plan": report.tier.plan,
        "private": report.tier.private,
        "findings": [{"what": f.what, "fix": f.fix} for f in report.findings],
    }
    return CommandResult("doctor", SUBJECT, data, lines, exit_code=1 if report.findings else 0)


def _comment(args: argparse.Namespace) -> CommandResult:
    from modelops.github.client import parse_repo
    from modelops.github.comments import marker_for, token_login, upsert_comment

    if not args.repo:
        raise InputError(
            "missing --repo", field="--repo", hint="pass --repo or set $GITHUB_REPOSITORY"
        )
    repo = parse_repo(args.repo, field="--repo")
    if args.pr < 1:
        raise InputError(f"--pr must be a positive number, got {args.pr}", field="--pr")
    marker_for(args.marker)
    try:
        body = args.body_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the comment: {exc.__class__.__name__}", file=args.body_file
        ) from None
    github = _client()
    author = args.author
    if not author:
        in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
        author = "github-actions[bot]" if in_actions else token_login(github)
    result = upsert_comment(github, repo, args.pr, args.marker, body, author=author)
    data = {
        "repository": str(repo),
        "pr": args.pr,
        "action": result.action,
        "comment_id": result.comment_id,
        "url": result.url,
        "scanned": result.scanned,
    }
    lines = [f"{result.action} comment {result.comment_id} ({result.url}); read {result.scanned}"]
    if result.duplicates:
        lines.append(f"note: {result.duplicates} older comment(s) carry the same marker")
    return CommandResult("comment", SUBJECT, data, lines)


def cli_github(project: Project | None, args: argparse.Namespace) -> CommandResult:
    """Entry point from `modelops github`; `args.github_args` holds the rest of argv."""
    del project  # these commands talk to GitHub; the checkout is needed only for workflows
    parsed = build_parser().parse_args(list(args.github_args))
    parsed.project = getattr(args, "project", None)
    handler = {"setup": _setup, "doctor": _doctor, "comment": _comment}[parsed.action]
    return handler(parsed)


def main(argv: Sequence[str]) -> CommandResult:
    """Parse and run one `github` action (for tests and other Python callers)."""
    return cli_github(None, argparse.Namespace(github_args=list(argv), project=None))
