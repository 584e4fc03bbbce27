"""GitHub's rules (OIDC subjects, job-token events, environment secrets, concurrency) as tests.

The model of GitHub lives in `github_rules.py`; here it is checked against
GitHub's documented examples, then applied to this repository's workflows,
actions, `infra/aws` and `.github/credentials.yml`, and each rule is shown to
fail on a deliberately broken copy. No test here reaches GitHub.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from github_rules import (
    RULES,
    Repo,
    environment_secret_reaches,
    job_runs,
    job_token_starts_workflows,
    oidc_sub,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.workflows


@pytest.fixture(scope="module")
def repo() -> Repo:
    return Repo.load(ROOT)


# -- the model against GitHub's own examples -------------------------------------


@pytest.mark.parametrize(
    ("event", "ref", "environment", "expected"),
    [
        # docs.github.com, "OpenID Connect reference", example subject claims.
        ("push", "refs/heads/main", "Production", "repo:octo-org/octo-repo:environment:Production"),
        ("pull_request", "refs/pull/1/merge", "Production",
         "repo:octo-org/octo-repo:environment:Production"),
        ("push", "refs/heads/demo-branch", None,
         "repo:octo-org/octo-repo:ref:refs/heads/demo-branch"),
        ("push", "refs/tags/demo-tag", None, "repo:octo-org/octo-repo:ref:refs/tags/demo-tag"),
        ("pull_request", "refs/pull/1/merge", None, "repo:octo-org/octo-repo:pull_request"),
        ("workflow_dispatch", "refs/heads/main", None,
         "repo:octo-org/octo-repo:ref:refs/heads/main"),
    ],
)  # fmt: skip
def test_oidc_sub_follows_githubs_examples(
    event: str, ref: str, environment: str | None, expected: str
) -> None:
    """The subject claim per event, ref and environment is the one GitHub documents."""
    assert oidc_sub("octo-org/octo-repo", event, ref, environment) == expected


def test_a_reusable_workflows_job_gets_the_callers_subject(repo: Repo) -> None:
    """A job of a called workflow carries the caller's event; its environment still wins."""
    runs = {(r.workflow, r.job_id, r.event, r.root): r for r in job_runs(repo)}
    stop = runs[("reusable-gpu-train.yml", "stop-runner", "pull_request", "pr.yml")]
    assert oidc_sub("acme/models", stop.event, stop.ref, stop.environment) == (
        "repo:acme/models:environment:runner-janitor"
    )
    train = runs[("reusable-train.yml", "train", "pull_request", "pr.yml")]
    assert oidc_sub("acme/models", train.event, train.ref, None) == "repo:acme/models:pull_request"
    assert train.environment == "ci"
    main_train = runs[("reusable-train.yml", "train", "push", "main.yml")]
    assert main_train.environment == "registry", "the caller's input names the environment"


@pytest.mark.parametrize(
    ("event", "starts"),
    [("push", False), ("pull_request", False), ("workflow_dispatch", True),
     ("repository_dispatch", True), ("issues", False)],
)  # fmt: skip
def test_job_token_events_start_workflows_only_for_dispatch(event: str, starts: bool) -> None:
    """GitHub: events caused by GITHUB_TOKEN start no run, except the two dispatch events."""
    assert job_token_starts_workflows(event) is starts


def test_environment_secrets_reach_only_their_environments_jobs() -> None:
    """GitHub: an environment's secrets reach only jobs that reference that environment."""
    assert environment_secret_reaches("gpu", ["gpu", "runner-janitor"])
    assert not environment_secret_reaches(None, ["gpu"])
    assert not environment_secret_reaches("ci", ["gpu"])


# -- the rules hold for this repository --------------------------------------------


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_repository_keeps_githubs_rule(repo: Repo, rule: str) -> None:
    """The workflows, actions and infra/aws keep each rule (no violation listed)."""
    assert RULES[rule](repo) == []


def test_every_workflow_and_event_is_modelled(repo: Repo) -> None:
    """The model reaches every workflow (reusable ones through callers) for each of its events."""
    runs = list(job_runs(repo))
    seen = {(r.workflow, r.event) for r in runs}
    callers = {hop.split(":")[0] for r in runs if r.via for hop in r.via.split(" > ")}
    assert {w for w, _ in seen} | callers == set(repo.workflows)
    assert ("pr.yml", "merge_group") in seen and ("reusable-gpu-train.yml", "merge_group") in seen
    assert ("release.yml", "push") in seen and ("deploy.yml", "workflow_dispatch") in seen


# -- each rule fails on a deliberately broken copy ----------------------------------


def _job(r: Repo, workflow: str, job: str) -> dict[str, Any]:
    found: dict[str, Any] = r.workflows[workflow]["jobs"][job]
    return found


def _step(r: Repo, workflow: str, job: str, uses_prefix: str) -> dict[str, Any]:
    return next(
        s for s in _job(r, workflow, job)["steps"] if str(s.get("uses", "")).startswith(uses_prefix)
    )


def _stop_without_environment(r: Repo) -> None:
    del _job(r, "reusable-gpu-train.yml", "stop-runner")["environment"]


def _prod_role_trusts_main(r: Repo) -> None:
    cond = r.template["Resources"]["ProdDeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    cond["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] = [
        "repo:acme/models:environment:prod",
        "repo:acme/models:ref:refs/heads/main",
    ]


def _app_key_outside_its_environment(r: Repo) -> None:
    job = _job(r, "pr.yml", "changed")
    job.setdefault("env", {})["KEY"] = "${{ secrets.MODELOPS_APP_PRIVATE_KEY }}"


def _start_runner_checks_out_the_pr(r: Repo) -> None:
    step = _step(r, "reusable-gpu-train.yml", "start-runner", "actions/checkout@")
    del step["with"]["ref"]


def _start_runner_uses_the_prs_actions(r: Repo) -> None:
    job = _job(r, "reusable-gpu-train.yml", "start-runner")
    job["steps"].insert(0, {"uses": "actions/checkout@x", "with": {"persist-credentials": False}})
    for step in job["steps"]:
        if str(step.get("uses", "")).startswith("./.modelops-toolkit/"):
            step["uses"] = step["uses"].replace("./.modelops-toolkit/", "./")


def _pr_training_holds_the_registrar(r: Repo) -> None:
    _job(r, "pr.yml", "models")["with"]["environment"] = "registry"


def _promotion_with_the_job_token(r: Repo) -> None:
    step = _step(r, "reusable-promote.yml", "promote", "./actions/promote")
    step["with"]["github-token"] = "${{ github.token }}"


def _checkout_persists_the_job_token(r: Repo) -> None:
    del _step(r, "promote.yml", "promote", "actions/checkout@")["with"]["token"]


def _plan_shares_the_release_group(r: Repo) -> None:
    _job(r, "deploy.yml", "plan-prod")["concurrency"]["group"] = "deploy-prod"


def _promotion_as_a_person(r: Repo) -> None:
    step = next(s for s in r.actions["promote"]["runs"]["steps"] if s.get("id") == "promote")
    del step["env"]["MODELOPS_AUTOMATION"]


def _automation_flag_misspelt(r: Repo) -> None:
    r.actions["promote"]["inputs"]["automated"]["default"] = "yes-please"


def _main_promotes_as_a_person(r: Repo) -> None:
    step = _step(r, "reusable-promote.yml", "promote", "./actions/promote")
    step["with"]["automated"] = "false"


def _promotions_share_one_group(r: Repo) -> None:
    _job(r, "reusable-promote.yml", "promote")["concurrency"]["group"] = "promote-${{ inputs.to }}"


def _retrain_request_with_the_job_token(r: Repo) -> None:
    step = next(s for s in _job(r, "monitor.yml", "watch")["steps"] if "run" in s and
                "modelops github retrain" in s["run"])  # fmt: skip
    step["env"]["GH_TOKEN"] = "${{ github.token }}"


def _watch_without_its_environment(r: Repo) -> None:
    del _job(r, "monitor.yml", "watch")["environment"]


def _watch_rows_share_one_group(r: Repo) -> None:
    _job(r, "monitor.yml", "watch")["concurrency"]["group"] = "retrain"


def _app_lacks_issues(r: Repo) -> None:
    del r.credentials["app"]["permissions"]["issues"]


BROKEN: list[tuple[str, Callable[[Repo], None], str]] = [
    ("oidc-subjects", _stop_without_environment, "is not trusted by RunnerJanitorRole"),
    ("oidc-subjects", _prod_role_trusts_main, "not only the prod environment"),
    ("environment-secrets", _app_key_outside_its_environment, "reads MODELOPS_APP_PRIVATE_KEY"),
    ("no-credentials-beside-pr-code", _start_runner_checks_out_the_pr, "checks out the pull"),
    ("no-credentials-beside-pr-code", _start_runner_uses_the_prs_actions, "from the pull"),
    ("no-credentials-beside-pr-code", _pr_training_holds_the_registrar, "environment registry"),
    ("pushes-trigger-workflows", _promotion_with_the_job_token, "github.token"),
    ("pushes-trigger-workflows", _checkout_persists_the_job_token, "checkout's job token"),
    ("release-concurrency-alone", _plan_shares_the_release_group, "plan-prod"),
    ("promotions-are-automated", _promotion_as_a_person, "promotes as a person"),
    ("promotions-are-automated", _automation_flag_misspelt, "promotes as a person"),
    ("promotions-are-automated", _main_promotes_as_a_person, "main.yml"),
    ("matrix-rows-do-not-cancel-each-other", _promotions_share_one_group, "shared by its rows"),
    ("pushes-trigger-workflows", _retrain_request_with_the_job_token, "github.token"),
    ("environment-secrets", _watch_without_its_environment, "in environment None"),
    ("matrix-rows-do-not-cancel-each-other", _watch_rows_share_one_group, "monitor.yml:watch"),
    ("app-tokens-ask-only-what-the-app-has", _app_lacks_issues, "asks for issues: write"),
]


@pytest.mark.parametrize(
    ("rule", "breakage", "expected"), BROKEN, ids=[b.__name__.strip("_") for _, b, _ in BROKEN]
)
def test_each_rule_fails_on_a_broken_copy(
    repo: Repo, rule: str, breakage: Callable[[Repo], None], expected: str
) -> None:
    """A copy of the repository broken in one place violates exactly the rule that guards it."""
    broken = copy.deepcopy(repo)
    breakage(broken)
    problems = RULES[rule](broken)
    assert any(expected in p for p in problems), problems
    assert RULES[rule](repo) == [], "the unbroken repository still passes"


def test_docs_name_every_credential_of_the_plan(repo: Repo) -> None:
    """docs/github.md names every environment, secret and variable of .github/credentials.yml."""
    docs = (ROOT / "docs" / "github.md").read_text("utf-8")
    plan = repo.credentials
    names = set(plan["environments"]) | set(plan["variables"])
    for env in plan["environments"].values():
        names |= set(env.get("secrets") or {})
    missing = sorted(n for n in names if f"`{n}`" not in docs)
    assert missing == [], f"docs/github.md does not name {missing}"
