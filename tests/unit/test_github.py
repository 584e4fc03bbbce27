"""`modelops github setup|doctor|comment` against a stand-in of GitHub's REST API.

The stand-in (githubapi.py) validates every request and response against GitHub's
published OpenAPI description; each test ends by asserting it saw no violation.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from githubapi import ACTIONS_APP_ID, GitHubStandIn, OpenAPI

from modelops.cli import main
from modelops.github.client import RepoRef, connect, find_token, parse_repo
from modelops.github.comments import marker_for, upsert_comment

WRITES = (
    "repos/create-or-update-environment",
    "repos/create-deployment-branch-policy",
    "actions/create-repo-variable",
    "actions/update-repo-variable",
    "actions/set-github-actions-default-workflow-permissions-repository",
    "repos/create-repo-ruleset",
    "repos/update-repo-ruleset",
)

# A team's workflows, written here so the tests never read the repository's own.
WORKFLOWS = {
    "deploy.yml": """
on:
  push:
    branches: [main]
jobs:
  deploy:
    strategy:
      matrix:
        environment: [dev, staging]
    environment: ${{ matrix.environment }}
    runs-on: ubuntu-latest
    env:
      URI: ${{ vars.MLFLOW_TRACKING_URI }}
    steps: [{run: "true"}]
""",
    "release.yml": """
on:
  push:
    tags: ["prod-*"]
jobs:
  deploy-prod:
    environment: prod
    runs-on: ubuntu-latest
    steps:
      - if: vars.MODELOPS_PROD_ROLE_ARN != ''
        run: "true"
        env: {REGION: "${{ vars.MODELOPS_AWS_REGION }}"}
""",
    "reusable-gpu-train.yml": """
on:
  workflow_call: {}
jobs:
  start-runner:
    environment: gpu
    runs-on: ubuntu-latest
    steps:
      - run: "true"
        env: {P: "${{ vars.MODELOPS_GPU_PROVIDER }}", R: "${{ vars.MODELOPS_RUNNER_ROLE_ARN }}"}
""",
    "runner-janitor.yml": """
on:
  schedule: [{cron: "*/15 * * * *"}]
  workflow_dispatch:
jobs:
  janitor:
    environment: runner-janitor
    runs-on: ubuntu-latest
    steps: [{run: "true"}]
""",
}


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "repo" / ".github" / "workflows"
    folder.mkdir(parents=True)
    for name, text in WORKFLOWS.items():
        (folder / name).write_text(text)
    return folder


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["github", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def writes(gh: GitHubStandIn) -> list[str]:
    return [op for op, _ in gh.calls if op in WRITES]


# -- the stand-in itself ----------------------------------------------------------------


def test_standin_rejects_requests_and_responses_outside_githubs_description(
    gh: GitHubStandIn, openapi: OpenAPI
) -> None:
    """A body or response shape GitHub does not document is refused (the check can fail)."""
    gh.add_repo("acme/models")
    response = httpx.post(
        f"{gh.base_url}/repos/acme/models/issues/1/comments",
        json={"text": "not the field GitHub takes"},
        headers={"Authorization": f"Bearer {gh.token}"},
    )
    assert response.status_code == 400
    assert any("'body' is a required property" in v for v in gh.violations)
    gh.violations.clear()
    op = openapi.operations["issues/create-comment"]
    assert openapi.response_errors(op, 201, {"id": "seven"})
    assert openapi.response_errors(op, 200, openapi.example("issues/create-comment", 201))


def test_the_description_is_githubs_pinned_one(openapi: OpenAPI) -> None:
    """The cached description is @octokit/openapi's api.github.com one at the pinned version."""
    from githubapi import OPENAPI_VERSION

    assert openapi.doc["info"]["version"] == OPENAPI_VERSION
    assert openapi.doc["info"]["x-github-plan"] == "api.github.com"
    assert "repos/create-repo-ruleset" in openapi.operations


# -- input -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["acme", "acme/", "/models", "ac me/models", "-acme/x", "a/b/c"])
def test_a_bad_repository_name_is_refused(value: str) -> None:
    """OWNER/REPO that GitHub could not have is bad input before any request."""
    from modelops.errors import InputError

    with pytest.raises(InputError, match="not a repository"):
        parse_repo(value)


def test_token_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """GH_TOKEN wins over GITHUB_TOKEN; with neither and no gh, a clear InputError."""
    from modelops.errors import InputError

    assert find_token({"GH_TOKEN": "a", "GITHUB_TOKEN": "b"}) == "a"
    assert find_token({"GITHUB_TOKEN": "b"}) == "b"
    with pytest.raises(InputError, match="no GitHub token"):
        find_token({"PATH": "/nonexistent"})


def test_no_token_and_a_bad_repo_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workflows: Path
) -> None:
    """Bad input ends with exit 2 and one `error:` line, no traceback."""
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = run("doctor", "acme/models", "--workflows", str(workflows), capsys=capsys)
    assert code == 2 and err.startswith("error: field 'GH_TOKEN': no GitHub token")
    assert "Traceback" not in err
    code, _, err = run("setup", "acme", "--workflows", str(workflows), capsys=capsys)
    assert code == 2 and "'acme' is not a repository" in err


# -- comments --------------------------------------------------------------------------


def test_marker_comment_past_the_first_page_is_updated_not_duplicated(
    gh: GitHubStandIn,
) -> None:
    """With 150 comments, the report at #120 is found on page 2 and updated in place."""
    gh.add_repo("acme/models")
    bodies = [f"chatter {i}" for i in range(150)]
    ids = gh.add_comments("acme/models", 7, bodies)
    report = gh.comments("acme/models", 7)[120]
    report["body"] = f"old report\n\n{marker_for('report:churn')}\n"
    report["user"]["login"] = gh.login
    github = connect(gh.token)
    result = upsert_comment(
        github, RepoRef("acme", "models"), 7, "report:churn", "new report", author=gh.login
    )
    assert (result.action, result.comment_id, result.scanned) == ("updated", ids[120], 150)
    assert len(gh.comments("acme/models", 7)) == 150
    assert report["body"].startswith("new report") and marker_for("report:churn") in report["body"]
    pages = gh.calls_of("issues/list-comments")
    assert len(pages) == 2 and "page=2" in pages[1]
    assert not gh.calls_of("issues/create-comment")


def test_comment_is_created_once_then_updated_then_left_alone(
    gh: GitHubStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI creates the marker comment, updates it on new text, and skips equal text."""
    gh.add_repo("acme/models")
    body = tmp_path / "report.md"
    argv = ["comment", "--repo", "acme/models", "--pr", "3", "--marker", "report:churn"]
    argv += ["--body-file", str(body)]
    body.write_text("AUC 0.91\n")
    assert run(*argv, capsys=capsys)[0] == 0
    body.write_text("AUC 0.93\n")
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0 and out.startswith("updated comment")
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0 and out.startswith("unchanged comment")
    (comment,) = gh.comments("acme/models", 3)
    assert comment["body"].startswith("AUC 0.93") and comment["user"]["login"] == gh.login


def test_a_planted_marker_from_someone_else_is_not_touched(gh: GitHubStandIn) -> None:
    """A comment by another author that copies the marker stays as it is; ours is new."""
    gh.add_repo("acme/models")
    marker = marker_for("report:churn")
    gh.add_comments("acme/models", 4, [f"fake numbers\n{marker}"], author="mallory")
    result = upsert_comment(
        connect(gh.token), RepoRef("acme", "models"), 4, "report:churn", "real", author=gh.login
    )
    planted, ours = gh.comments("acme/models", 4)
    assert result.action == "created" and planted["body"] == f"fake numbers\n{marker}"
    assert ours["id"] == result.comment_id and ours["body"].startswith("real")


def test_comment_bad_input_exits_2(
    gh: GitHubStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A marker that could close the HTML comment, a missing file, a body over 65,536: exit 2."""
    gh.add_repo("acme/models")
    body = tmp_path / "r.md"
    body.write_text("x" * 65_530)
    base = ["comment", "--repo", "acme/models", "--pr", "1", "--body-file", str(body)]
    code, _, err = run(*base, "--marker", "a --> b", capsys=capsys)
    assert code == 2 and "field '--marker'" in err
    code, _, err = run(*base, "--marker", "report", capsys=capsys)
    assert code == 2 and "GitHub takes at most 65536" in err
    code, _, err = run(*base[:-1], str(tmp_path / "none.md"), "--marker", "r", capsys=capsys)
    assert code == 2 and "none.md" in err
    assert not gh.calls_of("issues/create-comment")


# -- setup -----------------------------------------------------------------------------


def test_setup_dry_run_then_apply_then_nothing_left_to_do(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dry run writes nothing; apply creates everything; a second run is all `keep`."""
    repo = gh.add_repo("acme/models")
    gh.teams["acme/release-managers"] = 41
    gh.users["alice"] = 42
    repo.workflow_permissions.update(
        default_workflow_permissions="write", can_approve_pull_request_reviews=True
    )
    argv = ["setup", "acme/models", "--workflows", str(workflows)]
    argv += ["--reviewer", "prod=@acme/release-managers", "--reviewer", "gpu=alice"]
    argv += ["--var", "MLFLOW_TRACKING_URI=https://mlflow.example"]
    code, out, _ = run(*argv, "--dry-run", capsys=capsys)
    assert code == 0 and writes(gh) == []
    assert "create environment prod" in out and "dry run:" in out
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0, out
    prod = repo.environments["prod"]
    assert prod["reviewers"] == [("Team", 41)] and prod["prevent_self_review"] is True
    assert [(p["type"], p["name"]) for p in repo.branch_policies["prod"]] == [("tag", "prod-*")]
    assert [(p["type"], p["name"]) for p in repo.branch_policies["dev"]] == [("branch", "main")]
    assert repo.environments["gpu"]["deployment_branch_policy"] is None
    assert repo.environments["runner-janitor"]["reviewers"] == []
    assert repo.variables["MLFLOW_TRACKING_URI"]["value"] == "https://mlflow.example"
    assert repo.workflow_permissions["default_workflow_permissions"] == "read"
    (ruleset,) = repo.rulesets.values()
    rules = {r["type"]: r.get("parameters") for r in ruleset["rules"]}
    assert rules["pull_request"]["require_code_owner_review"] is True
    assert rules["required_status_checks"]["required_status_checks"] == [
        {"context": "all green", "integration_id": ACTIONS_APP_ID}
    ]
    before = len(writes(gh))
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0 and len(writes(gh)) == before
    assert "applied 0 change(s)" in out
    assert "create" not in out and "update" not in out


def test_setup_refuses_to_weaken_without_force(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replacing prod's reviewer is refused with exit 2 and nothing written; --force applies."""
    repo = gh.add_repo("acme/models")
    gh.users.update(alice=42, bob=43)
    argv = ["setup", "acme/models", "--workflows", str(workflows)]
    assert run(*argv, "--reviewer", "prod=alice", capsys=capsys)[0] == 0
    before = len(writes(gh))
    code, out, err = run(*argv, "--reviewer", "prod=bob", capsys=capsys)
    assert code == 2 and "refused: 1 change(s) would weaken" in err
    assert "[weakens: needs --force]" in out and "removes 1 reviewer(s)" in out
    assert len(writes(gh)) == before and repo.environments["prod"]["reviewers"] == [("User", 42)]
    code, _, _ = run(*argv, "--reviewer", "prod=bob", "--force", capsys=capsys)
    assert code == 0 and repo.environments["prod"]["reviewers"] == [("User", 43)]


def test_setup_keeps_a_stricter_existing_ruleset(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two required approvals and an extra check survive setup; the missing parts are added."""
    repo = gh.add_repo("acme/models")
    gh.users["alice"] = 42
    argv = ["setup", "acme/models", "--workflows", str(workflows)]
    assert run(*argv, capsys=capsys)[0] == 0
    (ruleset,) = repo.rulesets.values()
    ruleset["enforcement"] = "evaluate"
    ruleset["rules"] = [
        {
            "type": "pull_request",
            "parameters": {
                "required_approving_review_count": 2,
                "require_code_owner_review": False,
                "dismiss_stale_reviews_on_push": False,
                "require_last_push_approval": True,
                "required_review_thread_resolution": True,
            },
        },
        {
            "type": "required_status_checks",
            "parameters": {
                "strict_required_status_checks_policy": True,
                "required_status_checks": [{"context": "lint"}],
            },
        },
    ]
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0 and "weakens" not in out
    rules = {r["type"]: r.get("parameters") for r in ruleset["rules"]}
    pull = rules["pull_request"]
    assert pull["required_approving_review_count"] == 2 and pull["require_code_owner_review"]
    assert pull["require_last_push_approval"] and pull["required_review_thread_resolution"]
    checks = rules["required_status_checks"]
    assert checks["required_status_checks"] == [
        {"context": "lint"},
        {"context": "all green", "integration_id": ACTIONS_APP_ID},
    ]
    assert checks["strict_required_status_checks_policy"] is True
    assert ruleset["enforcement"] == "active" and {"deletion", "non_fast_forward"} <= set(rules)


def test_setup_bad_arguments_exit_2_before_writing(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown variable, environment or reviewer, or seven reviewers: exit 2, nothing written."""
    gh.add_repo("acme/models")
    argv = ["setup", "acme/models", "--workflows", str(workflows)]
    code, _, err = run(*argv, "--var", "MLFLOW_URI=x", capsys=capsys)
    assert code == 2 and "no workflow reads MLFLOW_URI" in err
    code, _, err = run(*argv, "--reviewer", "qa=alice", capsys=capsys)
    assert code == 2 and "no environment qa" in err
    code, _, err = run(*argv, "--reviewer", "prod=a,b,c,d,e,f,g", capsys=capsys)
    assert code == 2 and "GitHub takes at most 6" in err
    code, _, err = run(*argv, "--reviewer", "prod=ghost", capsys=capsys)
    assert code == 2 and "look up user ghost: not found" in err
    code, _, err = run("setup", "acme/other", "--workflows", str(workflows), capsys=capsys)
    assert code == 2 and "read acme/other: not found" in err
    assert writes(gh) == []


def test_setup_on_a_private_free_repository_skips_what_the_plan_lacks(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Free private repo: environments and ruleset are skipped, and the output says why."""
    repo = gh.add_repo("acme/models", private=True, plan="free")
    code, out, _ = run("setup", "acme/models", "--workflows", str(workflows), capsys=capsys)
    assert code == 0
    assert "skip   environment prod: the plan gives no environments" in out
    assert "prod is gated by: nothing GitHub enforces" in out
    assert repo.environments == {} and repo.rulesets == {}


def test_setup_on_a_private_team_repository_sets_policies_not_reviewers(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Team plan, private: tag policy and ruleset are set; reviewers are noted as unavailable."""
    repo = gh.add_repo("acme/models", private=True, plan="team")
    gh.users["alice"] = 42
    argv = ["setup", "acme/models", "--workflows", str(workflows), "--reviewer", "prod=alice"]
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0, out
    assert "the plan gives none on a private repository" in out
    assert "prod is gated by: the code-owner review of environments/prod/" in out
    assert repo.environments["prod"]["reviewers"] == []
    assert [p["name"] for p in repo.branch_policies["prod"]] == ["prod-*"]
    assert len(repo.rulesets) == 1


# -- doctor ----------------------------------------------------------------------------


def test_doctor_lists_each_gap_with_its_fix_and_is_clean_after_setup(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bare repository: exit 1 and one line per gap; after setup: exit 0."""
    repo = gh.add_repo("acme/models", plan="team")
    gh.users["alice"] = 42
    argv = ["doctor", "acme/models", "--workflows", str(workflows)]
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 1
    lines = out.splitlines()
    for name in ("dev", "staging", "prod", "gpu", "runner-janitor"):
        assert f"environment {name}: missing — fix: `modelops github setup acme/models`" in lines
    assert any(line.startswith("branch main: merges need no code-owner review") for line in lines)
    assert any("the check 'all green' is not required" in line for line in lines)
    assert lines[0] == "plan: team; repository: public"
    assert writes(gh) == []
    setup = ["setup", "acme/models", "--workflows", str(workflows)]
    assert run(*setup, "--reviewer", "prod=alice", "--reviewer", "gpu=alice", capsys=capsys)[0] == 0
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "acme/models: nothing missing or unsafe"
    (ruleset,) = repo.rulesets.values()
    status_rule = next(r for r in ruleset["rules"] if r["type"] == "required_status_checks")
    status_rule["parameters"]["required_status_checks"] = [{"context": "all green"}]
    repo.workflow_permissions["can_approve_pull_request_reviews"] = True
    repo.codeowners_errors.append(
        {
            "line": 3,
            "column": 1,
            "kind": "Unknown owner",
            "source": "* @acme/ml-platform",
            "suggestion": None,
            "message": "Unknown owner on line 3: make sure @acme/ml-platform exists",
            "path": ".github/CODEOWNERS",
        }
    )
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 1
    assert "Actions token: may approve pull requests" in out
    assert "the required check 'all green' is not pinned to an app" in out
    assert "CODEOWNERS line 3: Unknown owner on line 3" in out
    code, out, _ = run(*setup, capsys=capsys)
    assert code == 0 and "pin check 'all green' to GitHub Actions" in out
    status_rule = next(r for r in ruleset["rules"] if r["type"] == "required_status_checks")
    assert status_rule["parameters"]["required_status_checks"] == [
        {"context": "all green", "integration_id": ACTIONS_APP_ID}
    ]
    assert repo.workflow_permissions["can_approve_pull_request_reviews"] is False


def test_doctor_flags_missing_reviewers_and_half_set_gpu_variables(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prod without reviewers (where the plan gives them) and GPU on AWS without its role."""
    gh.add_repo("acme/models")
    setup = ["setup", "acme/models", "--workflows", str(workflows)]
    assert run(*setup, "--var", "MODELOPS_GPU_PROVIDER=aws", capsys=capsys)[0] == 0
    code, out, _ = run("doctor", "acme/models", "--workflows", str(workflows), capsys=capsys)
    assert code == 1
    assert (
        "environment prod: no required reviewers, its jobs start unapproved — fix: "
        "`modelops github setup acme/models --reviewer prod=ORG/TEAM`" in out
    )
    assert "variables: MODELOPS_GPU_PROVIDER=aws is set but MODELOPS_RUNNER_ROLE_ARN" in out


def test_doctor_states_what_gates_prod_on_a_private_free_repository(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Free private repo: the plan finding and the prod gate line; JSON result written."""
    gh.add_repo("acme/models", private=True, plan="free")
    result = tmp_path / "doctor.json"
    argv = ["--result", str(result), "github", "doctor", "acme/models"]
    code = main([*argv, "--workflows", str(workflows)])
    out = capsys.readouterr().out
    assert code == 1
    assert "gives: environments and deployment tag/branch policies: no" in out
    assert "prod is gated by: nothing GitHub enforces" in out
    data = json.loads(result.read_text())
    assert data["private"] is True and data["plan"] == "free"
    assert data["findings"][0]["what"].startswith("plan: a private repository on the Free plan")


def test_setup_where_the_plan_is_unreadable_reports_githubs_refusal_in_one_line(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Private repo, plan hidden from the token: GitHub's 422 ends the run, exit 4, one line."""
    repo = gh.add_repo("acme/models", private=True, plan=None)
    code, out, err = run("setup", "acme/models", "--workflows", str(workflows), capsys=capsys)
    assert "plan: unknown (the token cannot read the owner's plan)" in out
    assert code == 4
    assert err.splitlines() == [
        "error: write environment dev: GitHub answered 422: Environments are not available "
        "for private repositories on this plan"
    ]
    assert repo.environments == {} and repo.rulesets == {}


def test_setup_keeps_what_it_does_not_manage_on_an_environment(
    gh: GitHubStandIn, workflows: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wait timer and reviewers set by hand survive setup adding prod's tag policy."""
    repo = gh.add_repo("acme/models")
    gh.users["alice"] = 42
    argv = ["setup", "acme/models", "--workflows", str(workflows)]
    assert run(*argv, "--reviewer", "prod=alice", capsys=capsys)[0] == 0
    prod = repo.environments["prod"]
    prod["wait_timer"] = 30
    prod["deployment_branch_policy"] = None
    repo.branch_policies.pop("prod")
    code, out, _ = run(*argv, capsys=capsys)
    assert code == 0 and "update environment prod: deploy from tag prod-*" in out
    assert prod["wait_timer"] == 30 and prod["reviewers"] == [("User", 42)]
    assert prod["prevent_self_review"] is True
    assert [p["name"] for p in repo.branch_policies["prod"]] == ["prod-*"]


# -- the library functions the CLI calls ------------------------------------------------


def test_github_commands_are_typed_library_calls(
    gh: GitHubStandIn, workflows: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """setup_repository, diagnose_repository and post_comment work from Python, printing nothing."""
    from modelops.errors import InputError
    from modelops.github.commands import (
        GitHubResult,
        diagnose_repository,
        post_comment,
        setup_repository,
    )

    repo = gh.add_repo("acme/models", plan="team")
    gh.users["alice"] = 42
    with pytest.raises(InputError, match="at most 6"):
        setup_repository("acme/models", reviewers={"prod": ["alice"] * 7}, workflows=workflows)
    assert writes(gh) == []
    before = diagnose_repository("acme/models", workflows=workflows)
    assert isinstance(before, GitHubResult) and before.exit_code == 1
    assert before.repository == "acme/models" and before.data["findings"]
    shown: list[str] = []
    reviewers = {"prod": ["alice"], "gpu": ["alice"]}
    done = setup_repository(
        "acme/models", reviewers=reviewers, workflows=workflows, show=shown.append
    )
    assert any(line.startswith("create environment prod") for line in shown)
    applied = sum(1 for c in done.data["changes"] if c["action"] in ("create", "update"))
    assert applied > 0 and done.summary == [f"applied {applied} change(s) to acme/models"]
    assert done.data["dry_run"] is False and repo.environments["prod"]["reviewers"] == [
        ("User", 42)
    ]
    after = diagnose_repository("acme/models", workflows=workflows)
    assert after.exit_code == 0 and after.data["findings"] == []
    body = tmp_path / "report.md"
    body.write_text("AUC 0.91\n")
    posted = post_comment("acme/models", 5, "report:churn", body)
    assert posted.command == "comment" and posted.data["action"] == "created"
    assert capsys.readouterr() == ("", "")
