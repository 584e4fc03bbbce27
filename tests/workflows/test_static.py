"""Static checks of the workflows and composite actions: linters, schemas, hardening rules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO / "actions").glob("*/action.yml"))
ALL_FILES = WORKFLOWS + ACTIONS
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")

pytestmark = pytest.mark.workflows


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], cwd=REPO, capture_output=True, text=True, check=False
    )


def load(path: Path) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load(path.read_text("utf-8"))
    return doc


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(path)["jobs"]
    return found


def steps(path: Path) -> list[dict[str, Any]]:
    if path.name == "action.yml":
        return list(load(path)["runs"]["steps"])
    return [step for job in jobs(path).values() for step in job.get("steps", [])]


def test_the_suite_is_all_there() -> None:
    """Every workflow and action the design names exists (a missing file would pass the rest)."""
    names = {p.name for p in WORKFLOWS}
    assert {
        "pr.yml",
        "main.yml",
        "deploy.yml",
        "release.yml",
        "promote.yml",
        "monitor.yml",
        "runner-janitor.yml",
        "reusable-train.yml",
        "reusable-gpu-train.yml",
    } <= names
    assert {p.parent.name for p in ACTIONS} >= {
        "setup",
        "data-test",
        "train",
        "report",
        "promote",
        "deploy",
        "gpu-runner",
    }


def test_actionlint_finds_nothing() -> None:
    """actionlint (syntax, expressions, shellcheck of run: blocks, job permissions) is clean."""
    proc = tool("actionlint", "-color=false")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_zizmor_finds_nothing(persona: str) -> None:
    """zizmor offline reports no finding in any persona; accepted ones carry a reasoned ignore."""
    proc = tool("zizmor", "--offline", "--format", "json", "--persona", persona, ".")
    findings = json.loads(proc.stdout)
    assert findings == [], json.dumps(findings, indent=1)[:4000]


def test_workflows_match_the_github_schema() -> None:
    """Every workflow validates against the GitHub workflow JSON Schema."""
    proc = tool(
        "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actions_match_the_github_schema() -> None:
    """Every composite action validates against the GitHub action JSON Schema."""
    proc = tool("check-jsonschema", "--builtin-schema", "vendor.github-actions", *map(str, ACTIONS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dependabot_matches_its_schema() -> None:
    """dependabot.yml validates, and covers github-actions and pip with a cooldown."""
    path = REPO / ".github" / "dependabot.yml"
    proc = tool("check-jsonschema", "--builtin-schema", "vendor.dependabot", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    updates = load(path)["updates"]
    assert {u["package-ecosystem"] for u in updates} == {"github-actions", "pip"}
    assert all(u["cooldown"]["default-days"] >= 3 and u["groups"] for u in updates)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_remote_action_is_pinned_to_a_sha_with_its_version(path: Path) -> None:
    """`uses:` of a remote action names a full commit SHA and `# vX.Y.Z` beside it."""
    for line in path.read_text("utf-8").splitlines():
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(.+)$", line)
        if match and not match.group(1).startswith("./"):
            assert PINNED.match(match.group(1).strip()), line


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_expression_inside_run(path: Path) -> None:
    """No `${{ }}` inside a `run:` block: values reach scripts through env only."""
    for step in steps(path):
        assert "${{" not in step.get("run", ""), step["run"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_hardening(path: Path) -> None:
    """permissions {} on top, grants per job with a reason, timeouts, no risky triggers."""
    doc = load(path)
    text = path.read_text("utf-8")
    assert doc["permissions"] == {}
    triggers = doc[True]  # PyYAML reads the key `on` as True
    assert "pull_request_target" not in triggers and "workflow_run" not in triggers
    assert "secrets: inherit" not in text
    for name, job in jobs(path).items():
        assert "permissions" in job, f"{name}: no job-level permissions"
        if "uses" not in job:  # a reusable-workflow call has no timeout of its own
            assert "timeout-minutes" in job, f"{name}: no timeout-minutes"
    for grant in re.findall(r"^\s+([\w-]+): (?:read|write)(.*)$", text, re.MULTILINE):
        assert grant[1].strip().startswith("#"), f"{path.name}: {grant[0]} grant without a reason"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_persist_credentials_unless_they_push(path: Path) -> None:
    """Only a job that pushes a branch keeps the token in .git/config, and it says so."""
    for name, job in jobs(path).items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                persist = step.get("with", {}).get("persist-credentials")
                pushes = any(
                    "promote" in str(s.get("uses", "")) or "git push" in str(s.get("run", ""))
                    for s in job["steps"]
                )
                assert persist is pushes, f"{path.name}:{name}"


@pytest.mark.parametrize("path", ["deploy.yml", "release.yml", "promote.yml"])
def test_deploy_release_and_promotion_restore_no_cache(path: str) -> None:
    """Jobs that ship or promote set up Python with the cache off (cache poisoning)."""
    for job in jobs(REPO / ".github" / "workflows" / path).values():
        for step in job.get("steps", []):
            if step.get("uses") == "./actions/setup":
                assert step["with"]["cache"] == "false"


def test_oidc_is_granted_only_where_a_role_is_assumed() -> None:
    """`id-token: write` appears only on jobs that assume an AWS role (or call the GPU workflow)."""
    for path in WORKFLOWS:
        for name, job in jobs(path).items():
            if (job.get("permissions") or {}).get("id-token") != "write":
                continue
            uses = [str(s.get("uses", "")) for s in job.get("steps", [])]
            assumes = any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
            # Provenance attestations are signed with a certificate bound to the job's OIDC token.
            assumes |= any(u.startswith("actions/attest-build-provenance@") for u in uses)
            calls_gpu = job.get("uses") in (
                "./.github/workflows/reusable-gpu-train.yml",
                "./.github/workflows/reusable-train-many.yml",
            )
            assert assumes or calls_gpu, f"{path.name}:{name}"


def test_pr_workflow_keeps_forks_off_gpu_and_has_one_required_check() -> None:
    """Fork PRs never reach the GPU path; `all-green` needs every job and fails on any failure."""
    pr = jobs(REPO / ".github" / "workflows" / "pr.yml")
    changed_env = pr["changed"]["steps"][-1]["env"]["GPU_RUNNERS"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in changed_env
    many = jobs(REPO / ".github" / "workflows" / "reusable-train-many.yml")
    assert "id-token" not in many["cpu"]["permissions"]
    green = pr["all-green"]
    assert green["if"] == "always()"
    assert set(green["needs"]) == set(pr) - {"all-green"}
    assert "'failure'" in green["steps"][0]["env"]["FAILED"]
    assert "'cancelled'" in green["steps"][0]["env"]["FAILED"]


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_action_inputs_are_kebab_case_and_described(path: Path) -> None:
    """Each input is kebab-case with a description; each output comes from a step id."""
    doc = load(path)
    for name, spec in (doc.get("inputs") or {}).items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name
        assert spec.get("description"), name
    for name, spec in (doc.get("outputs") or {}).items():
        assert re.fullmatch(r"\$\{\{ steps\.[\w-]+\.outputs\.[\w-]+ \}\}", spec["value"]), name


def test_codeowners_guard_staging_and_prod() -> None:
    """The staging and prod environment folders have owners, so promotions need their review."""
    owners = (REPO / ".github" / "CODEOWNERS").read_text("utf-8")
    assert re.search(r"^/environments/staging/\s+@\S+", owners, re.MULTILINE)
    assert re.search(r"^/environments/prod/\s+@\S+", owners, re.MULTILINE)


def test_report_comment_never_publishes_images() -> None:
    """The CML comment is posted with --publish=false, so plots never leave GitHub."""
    report = (REPO / "actions" / "report" / "action.yml").read_text("utf-8")
    assert "cml comment create" in report
    assert "--publish=false" in report
    assert "--watermark-title" in report and "--update" in report


def _tag_patterns(path: Path) -> list[str]:
    on = load(path).get(True) or {}  # PyYAML reads the key `on` as True
    push = on.get("push") if isinstance(on, dict) else None
    return [str(t) for t in (push or {}).get("tags", [])] if isinstance(push, dict) else []


def test_prod_deploys_on_prod_tags_never_on_toolkit_tags() -> None:
    """Only release.yml starts on a tag, `prod-*`; the toolkit's v1 / v1.2.3 match none of it."""
    from fnmatch import fnmatchcase  # GitHub's `*` stops at `/`; these tag names have none

    started_by_tags = {p.name: _tag_patterns(p) for p in WORKFLOWS if _tag_patterns(p)}
    assert started_by_tags == {"release.yml": ["prod-*"]}
    patterns = started_by_tags["release.yml"]
    assert any(fnmatchcase("prod-2026.11.29", p) for p in patterns)
    for toolkit_tag in ("v1", "v1.2.3", "v10.0.0-rc.1"):
        assert not any(fnmatchcase(toolkit_tag, p) for p in patterns), toolkit_tag
    credentials = yaml.safe_load((REPO / ".github" / "credentials.yml").read_text("utf-8"))
    prod = credentials["environments"]["prod"]
    assert prod["deployment-branches"] == patterns, "the prod environment admits the same tags"
