"""Which protections a repository's GitHub plan gives, and what gates prod on each.

GitHub's rules (docs: "Managing environments for deployment", "About rulesets"):
public repositories get everything on every plan. Private or internal ones need
Pro, Team or Enterprise for environments, their secrets, deployment branch and tag
policies, rulesets and branch protection, and Enterprise for required reviewers (and
the other environment protection rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelops.github.client import RepoRef, as_dict, call, refused

if TYPE_CHECKING:
    from githubkit import GitHub

PAID = frozenset({"pro", "team", "business", "developer", "medium", "small", "large"})
ENTERPRISE = frozenset({"enterprise", "business_plus", "enterprise_plus"})


@dataclass(frozen=True)
class Tier:
    """A repository's visibility and plan, and the protections they give (None: unknown)."""

    private: bool
    plan: str | None
    default_branch: str

    @property
    def environments(self) -> bool | None:
        """Environments, environment secrets, deployment branch/tag policies."""
        return self._gives(paid=True)

    @property
    def rulesets(self) -> bool | None:
        """Rulesets and classic branch protection (code-owner review, required checks)."""
        return self._gives(paid=True)

    @property
    def reviewers(self) -> bool | None:
        """Required reviewers (and wait timers) on environments."""
        return self._gives(paid=False)

    def _gives(self, *, paid: bool) -> bool | None:
        if not self.private:
            return True
        if self.plan is None:
            return None
        name = self.plan.lower()
        if name in ENTERPRISE:
            return True
        if name in PAID:
            return paid
        if name == "free":
            return False
        return None

    def describe(self) -> list[str]:
        """Lines for `doctor` and `setup`: plan, what it gives, what gates prod."""
        visibility = "private" if self.private else "public"
        plan = self.plan or "unknown (the token cannot read the owner's plan)"

        def mark(value: bool | None) -> str:
            return {True: "yes", False: "no", None: "unknown"}[value]

        return [
            f"plan: {plan}; repository: {visibility}",
            f"gives: environments and deployment tag/branch policies: {mark(self.environments)}; "
            f"rulesets (code-owner review, required checks): {mark(self.rulesets)}; "
            f"environment required reviewers: {mark(self.reviewers)}",
            f"prod is gated by: {self.prod_gate()}",
        ]

    def prod_gate(self) -> str:
        if self.reviewers:
            return (
                "the prod environment's required reviewers, its tag policy (only release "
                "tags deploy), and the code-owner review of environments/prod/"
            )
        if self.environments:
            return (
                "the code-owner review of environments/prod/ (ruleset) and the prod "
                "environment's tag policy (only release tags deploy); environment reviewers "
                "need GitHub Enterprise on a private repository"
            )
        if self.environments is None:
            return "unknown until the plan is known (check Settings → Billing)"
        return (
            "nothing GitHub enforces: a private repository on the Free plan has no "
            "environments, rulesets or branch protection; only who may push tags and merge "
            "stands between a change and prod (upgrade to Pro/Team, or make it public)"
        )


def read_tier(github: GitHub[Any], repo: RepoRef) -> Tier:
    """The repository's visibility and default branch, and its owner's plan where readable."""
    data = as_dict(call(f"read {repo}", github.rest.repos.get, repo.owner, repo.name))
    private = bool(data.get("private")) or data.get("visibility") in ("private", "internal")
    plan: str | None = None
    if data["owner"]["type"] == "Organization":
        org = refused(f"read organisation {repo.owner}", github.rest.orgs.get, repo.owner)
        if not isinstance(org, int):
            plan = (as_dict(org).get("plan") or {}).get("name")
    else:
        me = refused("read the token's user", github.rest.users.get_authenticated)
        if not isinstance(me, int):
            body = as_dict(me)
            if str(body.get("login", "")).lower() == repo.owner.lower():
                plan = (body.get("plan") or {}).get("name")
    return Tier(private, plan, str(data.get("default_branch") or "main"))
