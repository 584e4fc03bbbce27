"""`github setup`: bring a repository's GitHub settings to what the workflows need.

The plan is computed from what GitHub holds now, printed one line per setting, and
applied only when nothing in it would weaken an existing protection (or with --force).
Setup adds and strengthens; it never deletes a reviewer, a deployment policy, a rule
or a required check it did not ask for, so a second run changes nothing.

What it manages:
- environments the workflows name (plus dev, staging, prod): required reviewers where the
  plan allows (prod, gpu), self-review off, and the refs that may deploy (prod: the
  release tags; dev, staging and the janitor: the default branch);
- the repository variables given with --var, among those the workflows read;
- the Actions default token (read-only, may not approve pull requests);
- a ruleset on the default branch: a pull request with code-owner review, the required
  check (`all green`), no force pushes, no deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelops.errors import InputError
from modelops.github.client import RepoRef, as_dict, call, paged, refused
from modelops.github.tier import Tier, read_tier
from modelops.github.workflows import EnvironmentNeed, WorkflowNeeds

if TYPE_CHECKING:
    from githubkit import GitHub

RULESET_NAME = "modelops: default branch"
REQUIRED_CHECK = "all green"
BASE_ENVIRONMENTS = ("dev", "staging", "prod")
JANITOR_ENVIRONMENT = "gpu-runner"

Action = Literal["create", "update", "keep", "skip"]


@dataclass(frozen=True)
class Change:
    """One setting: what setup does to it, and whether that weakens a protection."""

    target: str
    action: Action
    detail: str
    weakens: bool = False
    apply: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    def line(self) -> str:
        flag = " [weakens: needs --force]" if self.weakens else ""
        return f"{self.action:6} {self.target}: {self.detail}{flag}"


@dataclass(frozen=True)
class SetupPlan:
    repo: RepoRef
    tier: Tier
    changes: tuple[Change, ...]

    @property
    def weakening(self) -> list[Change]:
        return [c for c in self.changes if c.weakens]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.apply is not None]


def parse_assignments(values: Sequence[str], *, flag: str) -> dict[str, str]:
    """`NAME=VALUE` arguments as a dict; an InputError naming the flag for a bad one."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise InputError(f"'{value}' is not NAME=VALUE", field=flag)
        out[name.strip()] = rest.strip()
    return out


def needed_environments(needs: WorkflowNeeds, default_branch: str) -> list[EnvironmentNeed]:
    """The workflows' environments, with dev/staging/prod and a janitor one when absent."""
    found = {e.name: e for e in needs.environments}
    defaults = {
        "dev": EnvironmentNeed("dev", False, (default_branch,), (), ()),
        "staging": EnvironmentNeed("staging", False, (default_branch,), (), ()),
        "prod": EnvironmentNeed("prod", True, (), ("prod-*",), ()),
    }
    if set(found) <= {*BASE_ENVIRONMENTS, "gpu"}:
        defaults[JANITOR_ENVIRONMENT] = EnvironmentNeed(
            JANITOR_ENVIRONMENT, False, (default_branch,), (), ()
        )
    for name, need in defaults.items():
        found.setdefault(name, need)
    out = []
    for need in found.values():
        branches = need.branches
        if branches is not None:
            branches = tuple(default_branch if b == needs.default_branch else b for b in branches)
        out.append(EnvironmentNeed(need.name, need.reviewed, branches, need.tags, need.used_by))
    return sorted(out, key=lambda e: e.name)


def _reviewer_ids(github: GitHub[Any], names: Sequence[str]) -> list[dict[str, Any]]:
    """`user` or `org/team` (an @ is optional) as the API's `{type, id}` reviewers."""
    out = []
    for raw in names:
        name = raw.strip().lstrip("@")
        if "/" in name:
            org, _, slug = name.partition("/")
            team = as_dict(
                call(f"look up team {org}/{slug}", github.rest.teams.get_by_name, org, slug)
            )
            out.append({"type": "Team", "id": int(team["id"])})
        elif name:
            user = as_dict(call(f"look up user {name}", github.rest.users.get_by_username, name))
            out.append({"type": "User", "id": int(user["id"])})
    return out


def _existing_reviewers(env: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    for rule in env.get("protection_rules") or []:
        if rule.get("type") == "required_reviewers":
            reviewers = [
                {"type": r["type"], "id": int(r["reviewer"]["id"])}
                for r in rule.get("reviewers") or []
            ]
            return reviewers, bool(rule.get("prevent_self_review"))
    return [], False


def _wait_timer(env: dict[str, Any]) -> int:
    for rule in env.get("protection_rules") or []:
        if rule.get("type") == "wait_timer":
            return int(rule.get("wait_timer") or 0)
    return 0


def _policy_label(policy: dict[str, Any] | None, patterns: list[dict[str, Any]]) -> str:
    if policy is None:
        return "any ref may deploy"
    if policy.get("protected_branches"):
        return "protected branches only"
    names = ", ".join(f"{p.get('type', 'branch')} {p['name']}" for p in patterns)
    return f"only {names}" if names else "no ref may deploy"


def list_environments(github: GitHub[Any], repo: RepoRef) -> dict[str, dict[str, Any]]:
    """The repository's environments by name (all pages)."""
    listed = paged(
        github,
        f"list the environments of {repo}",
        github.rest.repos.get_all_environments,
        items="environments",
        owner=repo.owner,
        repo=repo.name,
    )
    return {str(e["name"]): e for e in listed}


def list_variables(github: GitHub[Any], repo: RepoRef) -> dict[str, str]:
    """The repository's Actions variables by name (all pages; GitHub gives 30 a page)."""
    listed = paged(
        github,
        f"list the variables of {repo}",
        github.rest.actions.list_repo_variables,
        items="variables",
        per_page=30,
        owner=repo.owner,
        repo=repo.name,
    )
    return {str(v["name"]): str(v["value"]) for v in listed}


def _environment_change(
    github: GitHub[Any],
    repo: RepoRef,
    tier: Tier,
    need: EnvironmentNeed,
    reviewers: list[dict[str, Any]] | None,
    current: dict[str, dict[str, Any]],
) -> list[Change]:
    target = f"environment {need.name}"
    if tier.environments is False:
        return [
            Change(
                target,
                "skip",
                "the plan gives no environments on a private repository (Pro/Team/Enterprise)",
            )
        ]
    existing = current.get(need.name)
    patterns: list[dict[str, Any]] = []
    if existing is not None and (existing.get("deployment_branch_policy") or {}).get(
        "custom_branch_policies"
    ):
        listed = as_dict(
            call(
                f"read the deployment policies of {need.name}",
                github.rest.repos.list_deployment_branch_policies,
                repo.owner,
                repo.name,
                need.name,
                per_page=100,
            )
        )
        patterns = list(listed.get("branch_policies") or [])
    old_reviewers, old_self = _existing_reviewers(existing or {})
    policy = (existing or {}).get("deployment_branch_policy")

    body: dict[str, Any] = {}
    notes: list[str] = []
    weakens: list[str] = []
    # Reviewers: exactly the given ones; kept as they are when none are given.
    if tier.reviewers is not False and reviewers is not None:
        new_ids = {(r["type"], r["id"]) for r in reviewers}
        old_ids = {(r["type"], r["id"]) for r in old_reviewers}
        if new_ids != old_ids:
            body["reviewers"] = reviewers
            notes.append(f"reviewers {len(old_ids)} → {len(new_ids)}")
            if old_ids - new_ids:
                weakens.append(f"removes {len(old_ids - new_ids)} reviewer(s)")
    elif reviewers is not None:
        notes.append("reviewers not set: the plan gives none on a private repository")
    elif need.reviewed and not old_reviewers and tier.reviewers is not False:
        notes.append(f"no reviewers (pass --reviewer {need.name}=USER_OR_ORG/TEAM)")
    has_reviewers = bool(body.get("reviewers", old_reviewers))
    if has_reviewers and not old_self:
        body["prevent_self_review"] = True
        notes.append("self-review off")
    # Deployment refs.
    wanted = [("branch", b) for b in need.branches or ()] + [("tag", t) for t in need.tags]
    have = {(p.get("type", "branch"), p["name"]) for p in patterns}
    add = [w for w in wanted if w not in have]
    if need.branches is not None:
        if policy is None:
            body["deployment_branch_policy"] = {
                "protected_branches": False,
                "custom_branch_policies": True,
            }
        elif policy.get("protected_branches"):
            body["deployment_branch_policy"] = {
                "protected_branches": False,
                "custom_branch_policies": True,
            }
            weakens.append("replaces 'protected branches only' with named refs")
        elif add and have:
            weakens.append("adds refs to an existing deployment policy")
        if add:
            notes.append("deploy from " + ", ".join(f"{k} {n}" for k, n in add))
    elif policy is not None:
        notes.append(f"keeps its deployment policy ({_policy_label(policy, patterns)})")

    if existing is None:
        action: Action = "create"
    elif body or add:
        action = "update"
    else:
        action = "keep"
    detail = "; ".join(notes) or _policy_label(policy, patterns)
    if weakens:
        detail += " (" + "; ".join(weakens) + ")"

    # The PUT carries the whole environment (what stays and what changes), so no setting
    # depends on how GitHub treats a field left out.
    payload: dict[str, Any] = {
        "deployment_branch_policy": body.get("deployment_branch_policy", policy)
    }
    if tier.reviewers is not False:
        payload["reviewers"] = body.get("reviewers", old_reviewers)
        payload["prevent_self_review"] = body.get("prevent_self_review", old_self)
        payload["wait_timer"] = _wait_timer(existing or {})

    def apply() -> None:
        call(
            f"write {target}",
            github.rest.repos.create_or_update_environment,
            repo.owner,
            repo.name,
            need.name,
            data=payload,
        )
        for kind, name in add:
            call(
                f"add {kind} {name} to {target}",
                github.rest.repos.create_deployment_branch_policy,
                repo.owner,
                repo.name,
                need.name,
                data={"name": name, "type": kind},
            )

    return [
        Change(
            target,
            action,
            detail,
            weakens=bool(weakens),
            apply=apply if action != "keep" else None,
        )
    ]


def _variable_changes(
    github: GitHub[Any], repo: RepoRef, needs: WorkflowNeeds, values: Mapping[str, str]
) -> list[Change]:
    unknown = sorted(set(values) - set(needs.variables))
    if unknown:
        raise InputError(
            f"no workflow reads {', '.join(unknown)}",
            field="--var",
            hint="the workflows read: " + ", ".join(needs.variables),
        )
    changes = []
    existing = list_variables(github, repo)
    for name in needs.variables:
        current = existing.get(name.upper())
        target = f"variable {name}"
        if name not in values:
            state = "unset" if current is None else "set"
            changes.append(Change(target, "keep", f"{state} (not given)"))
            continue
        value = values[name]
        if current == value:
            changes.append(Change(target, "keep", "already this value"))
        elif current is None:

            def create(name: str = name, value: str = value) -> None:
                call(
                    f"create variable {name}",
                    github.rest.actions.create_repo_variable,
                    repo.owner,
                    repo.name,
                    data={"name": name, "value": value},
                )

            changes.append(Change(target, "create", f"= {value!r}", apply=create))
        else:

            def update(name: str = name, value: str = value) -> None:
                call(
                    f"update variable {name}",
                    github.rest.actions.update_repo_variable,
                    repo.owner,
                    repo.name,
                    name,
                    data={"value": value},
                )

            changes.append(Change(target, "update", f"{current!r} → {value!r}", apply=update))
    return changes


def _token_change(github: GitHub[Any], repo: RepoRef) -> Change:
    target = "Actions token"
    got = refused(
        f"read the {target} settings",
        github.rest.actions.get_github_actions_default_workflow_permissions_repository,
        repo.owner,
        repo.name,
    )
    if isinstance(got, int):
        return Change(target, "skip", f"cannot read it ({got}); an organisation policy may set it")
    current = as_dict(got)
    wanted = {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False}
    if all(current.get(k) == v for k, v in wanted.items()):
        return Change(target, "keep", "read-only by default, may not approve pull requests")

    def apply() -> None:
        call(
            f"write the {target} settings",
            github.rest.actions.set_github_actions_default_workflow_permissions_repository,
            repo.owner,
            repo.name,
            data=wanted,
        )

    return Change(
        target,
        "update",
        f"default {current.get('default_workflow_permissions')} → read; may approve "
        f"pull requests {current.get('can_approve_pull_request_reviews')} → False",
        apply=apply,
    )


def actions_app_id(github: GitHub[Any]) -> int | None:
    """The id of the GitHub Actions app (15368 on github.com), which posts workflow checks.

    A required check pinned to it cannot be satisfied by a commit status or another app
    that reuses the name `all green`. None where GitHub does not say (then unpinned).
    """
    got = refused("look up the GitHub Actions app", github.rest.apps.get_by_slug, "github-actions")
    return None if isinstance(got, int) else int(as_dict(got)["id"])


def desired_rules(required_check: str, app_id: int | None = None) -> list[dict[str, Any]]:
    check: dict[str, Any] = {"context": required_check}
    if app_id is not None:
        check["integration_id"] = app_id
    return [
        {"type": "deletion"},
        {"type": "non_fast_forward"},
        {
            "type": "pull_request",
            "parameters": {
                "required_approving_review_count": 1,
                "require_code_owner_review": True,
                "dismiss_stale_reviews_on_push": True,
                "require_last_push_approval": False,
                "required_review_thread_resolution": False,
            },
        },
        {
            "type": "required_status_checks",
            "parameters": {
                "strict_required_status_checks_policy": False,
                "required_status_checks": [check],
            },
        },
    ]


def merge_rules(
    existing: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Existing rules made at least as strict as `wanted`; what was added or raised."""
    merged = [dict(r) for r in existing]
    notes: list[str] = []
    for rule in wanted:
        same = next((r for r in merged if r.get("type") == rule["type"]), None)
        if same is None:
            merged.append(rule)
            notes.append(f"add {rule['type']}")
            continue
        if rule["type"] == "pull_request":
            params = dict(same.get("parameters") or {})
            for key, value in rule["parameters"].items():
                old = params.get(key)
                if isinstance(value, bool):
                    new: Any = bool(old) or value
                else:
                    new = max(int(old or 0), value)
                if new != old:
                    params[key] = new
                    notes.append(f"{key} {old} → {new}")
            same["parameters"] = params
        elif rule["type"] == "required_status_checks":
            params = dict(same.get("parameters") or {})
            checks = list(params.get("required_status_checks") or [])
            for check in rule["parameters"]["required_status_checks"]:
                same_name = [c for c in checks if c.get("context") == check["context"]]
                if not same_name:
                    checks.append(check)
                    notes.append(f"require check '{check['context']}'")
                elif "integration_id" in check and not any(
                    c.get("integration_id") for c in same_name
                ):
                    index = checks.index(same_name[0])
                    checks[index] = {**same_name[0], "integration_id": check["integration_id"]}
                    notes.append(f"pin check '{check['context']}' to GitHub Actions")
            params["required_status_checks"] = checks
            params.setdefault("strict_required_status_checks_policy", False)
            same["parameters"] = params
    return merged, notes


def _ruleset_change(github: GitHub[Any], repo: RepoRef, tier: Tier, required_check: str) -> Change:
    target = f"ruleset '{RULESET_NAME}'"
    if tier.rulesets is False:
        return Change(
            target,
            "skip",
            "the plan gives no rulesets on a private repository (Pro/Team/Enterprise)",
        )
    summaries = list(
        paged(
            github,
            "list rulesets",
            github.rest.repos.get_repo_rulesets,
            owner=repo.owner,
            repo=repo.name,
        )
    )
    ours = next((s for s in summaries if s.get("name") == RULESET_NAME), None)
    wanted = desired_rules(required_check, actions_app_id(github))
    conditions = {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}}
    if ours is None:

        def create() -> None:
            call(
                f"create {target}",
                github.rest.repos.create_repo_ruleset,
                repo.owner,
                repo.name,
                data={
                    "name": RULESET_NAME,
                    "target": "branch",
                    "enforcement": "active",
                    "conditions": conditions,
                    "rules": wanted,
                },
            )

        return Change(
            target,
            "create",
            f"default branch: pull request with code-owner review, check '{required_check}', "
            "no force push, no deletion",
            apply=create,
        )
    current = as_dict(
        call(
            f"read {target}",
            github.rest.repos.get_repo_ruleset,
            repo.owner,
            repo.name,
            int(ours["id"]),
        )
    )
    rules, notes = merge_rules(list(current.get("rules") or []), wanted)
    include = list(((current.get("conditions") or {}).get("ref_name") or {}).get("include") or [])
    new_conditions = current.get("conditions") or conditions
    if not {"~DEFAULT_BRANCH", f"refs/heads/{tier.default_branch}", "~ALL"} & set(include):
        new_conditions = {
            "ref_name": {
                "include": [*include, "~DEFAULT_BRANCH"],
                "exclude": list(
                    ((current.get("conditions") or {}).get("ref_name") or {}).get("exclude") or []
                ),
            }
        }
        notes.append("cover the default branch")
    if current.get("enforcement") != "active":
        notes.append(f"enforcement {current.get('enforcement')} → active")
    if not notes:
        return Change(target, "keep", "already at least as strict")

    def update() -> None:
        call(
            f"update {target}",
            github.rest.repos.update_repo_ruleset,
            repo.owner,
            repo.name,
            int(ours["id"]),
            data={"enforcement": "active", "conditions": new_conditions, "rules": rules},
        )

    return Change(target, "update", "; ".join(notes), apply=update)


def plan_setup(
    github: GitHub[Any],
    repo: RepoRef,
    needs: WorkflowNeeds,
    *,
    reviewers: Mapping[str, Sequence[str]] | None = None,
    variables: Mapping[str, str] | None = None,
    required_check: str = REQUIRED_CHECK,
) -> SetupPlan:
    """Read the repository and work out every change; nothing is written."""
    tier = read_tier(github, repo)
    environments = needed_environments(needs, tier.default_branch)
    names = {e.name for e in environments}
    unknown = sorted(set(reviewers or {}) - names)
    if unknown:
        raise InputError(
            f"no environment {', '.join(unknown)} in the workflows",
            field="--reviewer",
            hint="environments: " + ", ".join(sorted(names)),
        )
    changes: list[Change] = []
    current = list_environments(github, repo) if tier.environments is not False else {}
    for need in environments:
        given = (reviewers or {}).get(need.name)
        ids = _reviewer_ids(github, given) if given is not None else None
        changes += _environment_change(github, repo, tier, need, ids, current)
    changes += _variable_changes(github, repo, needs, variables or {})
    changes.append(_token_change(github, repo))
    changes.append(_ruleset_change(github, repo, tier, required_check))
    return SetupPlan(repo, tier, tuple(changes))


def apply_setup(plan: SetupPlan, *, force: bool = False) -> list[Change]:
    """Apply a plan; refuse, before writing anything, when it weakens a protection."""
    if plan.weakening and not force:
        raise InputError(
            f"refused: {len(plan.weakening)} change(s) would weaken a protection of {plan.repo}: "
            + "; ".join(f"{c.target}: {c.detail}" for c in plan.weakening),
            field="--force",
            hint="review the lines marked [weakens] (see --dry-run) and rerun with --force",
        )
    done = []
    for change in plan.pending:
        assert change.apply is not None
        change.apply()
        done.append(change)
    return done
