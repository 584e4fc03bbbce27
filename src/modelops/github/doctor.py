"""`github doctor`: read a repository's settings and say what is missing or unsafe, with the fix.

It reads, never writes. Each finding is one line naming the setting and the fix (most
often `modelops github setup`, which makes the same changes). The branch rules are read
as GitHub applies them (every active ruleset, and classic branch protection), so a
repository protected some other way than setup's ruleset is not reported as unprotected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelops.errors import ModelopsError
from modelops.github.client import RepoRef, as_dict, call, paged, refused
from modelops.github.setup import (
    REQUIRED_CHECK,
    list_environments,
    list_variables,
    needed_environments,
)
from modelops.github.tier import Tier, read_tier
from modelops.github.workflows import EnvironmentNeed, WorkflowNeeds

if TYPE_CHECKING:
    from githubkit import GitHub

# A variable that makes the workflows need others beside it.
_NEEDS_WITH = {
    "MODELOPS_GPU_PROVIDER=aws": (
        "MODELOPS_RUNNER_ROLE_ARN",
        "MODELOPS_AWS_REGION",
        "MODELOPS_GPU_LAUNCH_TEMPLATE",
        "MODELOPS_GPU_SUBNET_IDS",
    ),
    "MODELOPS_DEPLOY_ROLE_ARN": ("MODELOPS_AWS_REGION",),
    "MODELOPS_PROD_ROLE_ARN": ("MODELOPS_AWS_REGION",),
}


@dataclass(frozen=True)
class Finding:
    """Something missing or unsafe, and the fix."""

    what: str
    fix: str

    def line(self) -> str:
        return f"{self.what} — fix: {self.fix}"


@dataclass(frozen=True)
class DoctorReport:
    repo: RepoRef
    tier: Tier
    findings: tuple[Finding, ...]
    checked: int  # how many settings were read


def _setup(repo: RepoRef, extra: str = "") -> str:
    return f"`modelops github setup {repo}{extra}`"


def _environment_findings(
    github: GitHub[Any],
    repo: RepoRef,
    tier: Tier,
    need: EnvironmentNeed,
    current: dict[str, dict[str, Any]],
) -> list[Finding]:
    name = need.name
    env = current.get(name)
    if env is None:
        return [Finding(f"environment {name}: missing", _setup(repo))]
    out: list[Finding] = []
    reviewers: list[Any] = []
    self_review_blocked = False
    for rule in env.get("protection_rules") or []:
        if rule.get("type") == "required_reviewers":
            reviewers = list(rule.get("reviewers") or [])
            self_review_blocked = bool(rule.get("prevent_self_review"))
    if need.reviewed and tier.reviewers and not reviewers:
        out.append(
            Finding(
                f"environment {name}: no required reviewers, its jobs start unapproved",
                _setup(repo, f" --reviewer {name}=ORG/TEAM"),
            )
        )
    if reviewers and not self_review_blocked:
        out.append(
            Finding(
                f"environment {name}: whoever starts a run may approve it themselves",
                _setup(repo) + " (turns 'prevent self-review' on)",
            )
        )
    if reviewers and not need.reviewed:
        out.append(
            Finding(
                f"environment {name}: has reviewers, so its scheduled jobs wait for a person",
                f"remove the reviewers of {name} (Settings → Environments)",
            )
        )
    policy = env.get("deployment_branch_policy")
    if need.branches is not None:
        wanted = [("branch", b) for b in need.branches] + [("tag", t) for t in need.tags]
        refs = ", ".join(f"{k} {n}" for k, n in wanted)
        if policy is None:
            out.append(
                Finding(
                    f"environment {name}: any branch may deploy (wanted: {refs})",
                    _setup(repo),
                )
            )
        elif policy.get("custom_branch_policies"):
            listed = as_dict(
                call(
                    f"read the deployment policies of {name}",
                    github.rest.repos.list_deployment_branch_policies,
                    repo.owner,
                    repo.name,
                    name,
                    per_page=100,
                )
            )
            have = {
                (p.get("type", "branch"), p["name"]) for p in listed.get("branch_policies") or []
            }
            missing = [w for w in wanted if w not in have]
            if missing:
                out.append(
                    Finding(
                        f"environment {name}: "
                        + ", ".join(f"{k} {n}" for k, n in missing)
                        + " may not deploy, so its workflow cannot run",
                        _setup(repo),
                    )
                )
        elif need.tags:
            out.append(
                Finding(
                    f"environment {name}: only protected branches may deploy, not the tags "
                    + ", ".join(need.tags),
                    _setup(repo, " --force") + " (names the refs instead)",
                )
            )
    return out


def _rule_findings(
    github: GitHub[Any], repo: RepoRef, tier: Tier, required_check: str
) -> list[Finding]:
    branch = tier.default_branch
    rules = list(
        paged(
            github,
            f"read the rules of {branch}",
            github.rest.repos.get_branch_rules,
            owner=repo.owner,
            repo=repo.name,
            branch=branch,
        )
    )
    code_owners = any(
        r.get("type") == "pull_request"
        and (r.get("parameters") or {}).get("require_code_owner_review")
        for r in rules
    )
    # context -> pinned to an app (a check of any other app or a commit status cannot pass it)
    checks: dict[str, bool] = {}
    for rule in rules:
        if rule.get("type") == "required_status_checks":
            for check in (rule.get("parameters") or {}).get("required_status_checks") or []:
                name = str(check.get("context"))
                checks[name] = checks.get(name, False) or bool(check.get("integration_id"))
    classic = refused(
        f"read the branch protection of {branch}",
        github.rest.repos.get_branch_protection,
        repo.owner,
        repo.name,
        branch,
    )
    if not isinstance(classic, int):
        protection = as_dict(classic)
        reviews = protection.get("required_pull_request_reviews") or {}
        code_owners |= bool(reviews.get("require_code_owner_reviews"))
        status = protection.get("required_status_checks") or {}
        for check in status.get("checks") or []:
            name = str(check.get("context"))
            pinned = check.get("app_id") not in (None, -1)
            checks[name] = checks.get(name, False) or pinned
        for name in status.get("contexts") or []:
            checks.setdefault(str(name), False)
    out = []
    if not code_owners:
        out.append(
            Finding(
                f"branch {branch}: merges need no code-owner review, so CODEOWNERS of "
                "environments/prod/ gate nothing",
                _setup(repo),
            )
        )
    if required_check not in checks:
        out.append(
            Finding(f"branch {branch}: the check '{required_check}' is not required", _setup(repo))
        )
    elif not checks[required_check]:
        out.append(
            Finding(
                f"branch {branch}: the required check '{required_check}' is not pinned to an "
                "app, so a commit status of that name from any token with statuses:write "
                "passes it",
                _setup(repo) + " (pins it to GitHub Actions)",
            )
        )
    return out


def _token_findings(github: GitHub[Any], repo: RepoRef) -> list[Finding]:
    got = refused(
        "read the Actions token settings",
        github.rest.actions.get_github_actions_default_workflow_permissions_repository,
        repo.owner,
        repo.name,
    )
    if isinstance(got, int):
        return []
    current = as_dict(got)
    out = []
    if current.get("default_workflow_permissions") != "read":
        out.append(
            Finding(
                "Actions token: write by default, so a job that forgets `permissions:` can push",
                _setup(repo),
            )
        )
    if current.get("can_approve_pull_request_reviews"):
        out.append(
            Finding(
                "Actions token: may approve pull requests, so a workflow can approve a "
                "promotion in place of its code owners",
                _setup(repo),
            )
        )
    return out


def _codeowners_findings(github: GitHub[Any], repo: RepoRef) -> list[Finding]:
    got = refused(
        "read CODEOWNERS errors", github.rest.repos.codeowners_errors, repo.owner, repo.name
    )
    if isinstance(got, int):
        return [
            Finding(
                "CODEOWNERS: none on the default branch, so no one owns environments/prod/",
                "add .github/CODEOWNERS with owners for /environments/staging/ and "
                "/environments/prod/ (see docs/github.md)",
            )
        ]
    return [
        Finding(
            f"CODEOWNERS line {e.get('line')}: {str(e.get('message', e.get('kind')))[:160]}",
            f"edit {e.get('path', '.github/CODEOWNERS')} (owners must exist and have write access)",
        )
        for e in (as_dict(got).get("errors") or [])[:10]
    ]


def _variable_findings(github: GitHub[Any], repo: RepoRef, needs: WorkflowNeeds) -> list[Finding]:
    values = list_variables(github, repo)
    out = []
    for trigger, companions in _NEEDS_WITH.items():
        name, _, value = trigger.partition("=")
        if name not in values or (value and values[name] != value):
            continue
        missing = [c for c in companions if c in needs.variables and not values.get(c)]
        if missing:
            out.append(
                Finding(
                    f"variables: {trigger if value else name} is set but {', '.join(missing)} "
                    "is not",
                    _setup(repo, " " + " ".join(f"--var {m}=..." for m in missing)),
                )
            )
    return out


def _unless_unknown(tier: Tier, what: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    """Run `check`; where the plan is unknown, a refusal is itself the finding."""
    if tier.environments is not None:
        return check()
    try:
        return check()
    except ModelopsError as err:
        return [
            Finding(
                f"{what}: GitHub refused to show them ({err.message}); the owner's plan may "
                "not give them on a private repository",
                "check the plan (Settings → Billing); Pro/Team give environments and rulesets",
            )
        ]


def diagnose(
    github: GitHub[Any],
    repo: RepoRef,
    needs: WorkflowNeeds,
    *,
    required_check: str = REQUIRED_CHECK,
) -> DoctorReport:
    """Every finding about `repo`, read-only."""
    tier = read_tier(github, repo)
    findings: list[Finding] = []
    environments = needed_environments(needs, tier.default_branch)
    if tier.environments is False:
        findings.append(
            Finding(
                "plan: a private repository on the Free plan has no environments, rulesets or "
                "branch protection; nothing GitHub enforces gates prod",
                "upgrade the owner to Pro/Team (Enterprise for environment reviewers) or make "
                "the repository public",
            )
        )
    else:
        findings += _unless_unknown(
            tier,
            "environments",
            lambda: [
                finding
                for current in [list_environments(github, repo)]
                for need in environments
                for finding in _environment_findings(github, repo, tier, need, current)
            ],
        )
    if tier.rulesets is not False:
        findings += _unless_unknown(
            tier, "branch rules", lambda: _rule_findings(github, repo, tier, required_check)
        )
    findings += _token_findings(github, repo)
    findings += _codeowners_findings(github, repo)
    findings += _variable_findings(github, repo, needs)
    checked = len(environments) + len(needs.variables) + 3
    return DoctorReport(repo, tier, tuple(findings), checked)
