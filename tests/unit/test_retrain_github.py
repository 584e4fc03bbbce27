"""Retraining requests on GitHub: one PR or one issue per model, updated in place, never doubled.

`modelops github retrain MODEL` reads what `modelops retrain` decided and talks to
GitHub's REST API; here that API is the stand-in of githubapi.py, which checks every
request and response against GitHub's OpenAPI description (no violation allowed).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from githubapi import GitHubStandIn
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.github.client import RepoRef, connect
from modelops.github.comments import marker_for
from modelops.github.requests import git_blob_sha, upsert_issue, upsert_pull_request
from modelops.project import Project

REPO = "acme/models"
SPEC = "pipelines/toy.yaml"
BRANCH = "modelops/retrain-toy"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The toy project with v1 (trained on data/toy/toy.csv) in dev."""
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    register_version(proj, tmp_path)
    assert modelops(proj, "promote", "toy", "--to", "dev") == 0
    commit(proj, "dev v1")
    yield proj
    forget_models()


def _fresh_checkout(project: Project) -> None:
    """What each scheduled run starts from: main's spec, not the last run's rewrite."""
    subprocess.run(["git", "checkout", "--", SPEC], cwd=project.root, check=True)


def _snapshot(project: Project, name: str, extra_rows: int) -> None:
    folder = project.root / "data" / "toy" / "labelled"
    folder.mkdir(exist_ok=True)
    original = (project.root / "data" / "toy" / "toy.csv").read_text()
    (folder / name).write_text(original + "".join(f"0.{i:04d},1\n" for i in range(extra_rows)))


def _retrain(project: Project, snapshot: str) -> dict:
    _fresh_checkout(project)
    argv = ["retrain", "toy", "--env", "dev", "--snapshot", snapshot, "--trigger", "monitor"]
    assert modelops(project, *argv) == 0
    return json.loads((project.results_dir("toy") / "retrain.json").read_text())


def _open(project: Project, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    code = modelops(project, "github", "retrain", "toy", "--repo", REPO)
    out, err = capsys.readouterr()
    result = project.results_dir("github") / "retrain.json"
    return code, json.loads(result.read_text()) if code == 0 else {}, out + err


def test_the_retraining_pr_is_opened_then_left_alone_then_updated(
    project: Project, gh: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same finding twice: one PR, one commit; a newer snapshot: the same PR, branch redone."""
    gh.add_repo(REPO)
    main_spec = project.pipeline_path("toy").read_bytes()
    gh.add_branch(REPO, "main", {SPEC: main_spec})
    _snapshot(project, "2026-11-01.csv", 3)

    first = _retrain(project, "data/toy/labelled")
    assert first["action"] == "pr"
    code, result, out = _open(project, capsys)
    assert code == 0, out
    assert (result["pushed"], result["opened"]) == ("created", "created")
    pushed = gh.files_at(REPO, BRANCH)[SPEC]
    assert pushed == project.pipeline_path("toy").read_bytes() != main_spec
    assert b"data/toy/labelled/2026-11-01.csv" in pushed
    (pr,) = gh.repos[REPO].pulls
    assert (pr["head"], pr["base"], pr["state"]) == (BRANCH, "main", "open")
    assert pr["title"] == "Retrain toy on 2026-11-01.csv"
    assert marker_for("retrain:toy") in pr["body"] and "monitor" in pr["body"]
    assert gh.commit_messages == ["Retrain toy on 2026-11-01.csv\n\nWritten by modelops retrain."]

    # The next scheduled run, same finding, same snapshot: nothing new on GitHub.
    _retrain(project, "data/toy/labelled")
    code, result, out = _open(project, capsys)
    assert code == 0, out
    assert (result["pushed"], result["opened"], result["number"]) == (
        "unchanged", "unchanged", pr["number"],
    )  # fmt: skip
    assert len(gh.commit_messages) == 1, "no new commit, so the PR's checks do not rerun"
    assert not gh.calls_of("pulls/update") and len(gh.calls_of("pulls/create")) == 1

    # Newer labelled data lands: the same PR now trains on it.
    _snapshot(project, "2026-11-15.csv", 5)
    _retrain(project, "data/toy/labelled")
    code, result, out = _open(project, capsys)
    assert code == 0, out
    assert (result["pushed"], result["opened"], result["number"]) == (
        "updated", "updated", pr["number"],
    )  # fmt: skip
    assert len(gh.repos[REPO].pulls) == 1
    assert pr["title"] == "Retrain toy on 2026-11-15.csv"
    assert b"2026-11-15.csv" in gh.files_at(REPO, BRANCH)[SPEC]
    assert gh.files_at(REPO, "main")[SPEC] == main_spec, "main is never written"


def test_no_newer_snapshot_opens_one_issue_and_updates_it(
    project: Project, gh: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """Champion's data is the newest: one issue, found again and updated; no PR, no branch."""
    gh.add_repo(REPO)
    gh.add_branch(REPO, "main", {SPEC: project.pipeline_path("toy").read_bytes()})
    marker = marker_for("retrain:toy")
    closed = gh.add_issue(
        REPO, "old", f"dealt with\n{marker}", author="modelops-bot", state="closed"
    )
    other = gh.add_issue(REPO, "Retrain churn", "another model", author="someone")

    assert _retrain(project, "data/toy/toy.csv")["action"] == "issue"
    code, result, out = _open(project, capsys)
    assert code == 0, out
    assert result["opened"] == "created" and result["number"] not in (closed, other)
    issue = next(i for i in gh.repos[REPO].issues if i["number"] == result["number"])
    assert issue["title"] == "Retrain toy: no labelled data newer than the dev champion's"

    # The next run: the same issue, unchanged; then its body changes with the trigger's report.
    _retrain(project, "data/toy/toy.csv")
    code, again, _ = _open(project, capsys)
    assert (again["opened"], again["number"]) == ("unchanged", result["number"])
    report = project.state_dir / "reports" / "toy" / "monitor-dev.md"
    report.write_text("# Performance: toy in dev\n\naccuracy fell 0.2\n")
    _retrain(project, "data/toy/toy.csv")
    code, third, _ = _open(project, capsys)
    assert (third["opened"], third["number"]) == ("updated", result["number"])
    open_issues = [i for i in gh.repos[REPO].issues if i["state"] == "open"]
    assert [i["number"] for i in open_issues if marker in i["body"]] == [result["number"]]
    assert "accuracy fell 0.2" in open_issues[-1]["body"]
    assert gh.repos[REPO].pulls == [] and BRANCH not in gh.repos[REPO].refs


def test_the_pr_closes_the_models_earlier_no_newer_data_issue(
    project: Project, gh: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    """No snapshot yet: an issue; once one lands, the PR opens and that issue is closed
    with a comment naming the PR. Another model's issue stays open."""
    gh.add_repo(REPO)
    gh.add_branch(REPO, "main", {SPEC: project.pipeline_path("toy").read_bytes()})
    other = gh.add_issue(
        REPO, "Retrain churn", f"x\n{marker_for('retrain:churn')}", author="modelops-bot"
    )
    assert _retrain(project, "data/toy/toy.csv")["action"] == "issue"
    code, issue, out = _open(project, capsys)
    assert code == 0 and issue["opened"] == "created", out

    _snapshot(project, "2026-11-01.csv", 3)
    assert _retrain(project, "data/toy/labelled")["action"] == "pr"
    code, result, out = _open(project, capsys)
    assert code == 0, out
    assert result["closed_issues"] == [issue["number"]]
    assert f"closed issue #{issue['number']}: superseded by #{result['number']}" in out
    states = {i["number"]: i["state"] for i in gh.repos[REPO].issues}
    assert states == {other: "open", issue["number"]: "closed"}
    (note,) = gh.repos[REPO].comments[issue["number"]]
    assert note["body"] == f"Superseded by the retraining pull request #{result['number']}."

    # The next run finds nothing more to close.
    _retrain(project, "data/toy/labelled")
    code, again, _ = _open(project, capsys)
    assert code == 0 and again["closed_issues"] == []


def test_issue_lookup_skips_pull_requests_and_pages_through_issues(gh: GitHubStandIn) -> None:
    """A PR carrying the marker is not the issue; the marked issue past page 1 is found."""
    gh.add_repo(REPO)
    gh.add_branch(REPO, "main", {"README.md": b"hello\n"})
    gh.add_branch(REPO, "feature", {"README.md": b"hello\n"})
    marker = marker_for("retrain:toy")
    target = gh.add_issue(REPO, "Retrain toy", f"old\n{marker}", author="modelops-bot")
    for i in range(120):
        gh.add_issue(REPO, f"chatter {i}", "nothing", author="someone")
    github = connect(gh.token)
    ref = RepoRef("acme", "models")
    pr = upsert_pull_request(
        github, ref, head="feature", base="main", title="t", body="b", key="retrain:toy"
    )
    opened = upsert_issue(github, ref, title="Retrain toy", body="new", key="retrain:toy")
    assert (opened.action, opened.number) == ("updated", target) and opened.number != pr.number
    assert len(gh.calls_of("issues/list-for-repo")) >= 2, "the issue was on a later page"
    assert not gh.calls_of("issues/create")


def test_git_blob_sha_is_gits_own() -> None:
    """The blob id compared with the contents API's `sha` is the one `git hash-object` prints."""
    content = b"name: toy\n"
    proc = subprocess.run(
        ["git", "hash-object", "--stdin"], input=content, capture_output=True, check=True
    )
    assert git_blob_sha(content) == proc.stdout.decode().strip()


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("title", "two\nlines", "field 'title'"),
        ("body", "../../etc/passwd", "field 'body'"),
        ("action", "merge", "field 'action'"),
        ("branch", "main", "field 'branch'"),
    ],
)
def test_a_tampered_retrain_result_is_refused_before_any_request(
    project: Project,
    gh: GitHubStandIn,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: str,
    expected: str,
) -> None:
    """The result is read back as input: a bad title, body path, action or branch exits 2."""
    gh.add_repo(REPO)
    _snapshot(project, "2026-11-01.csv", 3)
    _retrain(project, "data/toy/labelled")
    path = project.results_dir("toy") / "retrain.json"
    result = json.loads(path.read_text())
    result[field] = value
    path.write_text(json.dumps(result))
    code, _, out = _open(project, capsys)
    assert code == 2 and expected in out and "Traceback" not in out
    assert gh.calls == [], "nothing was sent to GitHub"
