"""`modelops due` and `modelops watch`: each model watched on its own schedule, findings named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.project import Project
from modelops.spec import load_manifest

WATCHED = """\
drift:
  features: [x]
  schedule: "0 6 * * 1"
monitor:
  window: 1d
  min_rows: 20
  max_drop: {accuracy: 0.1}
  schedule: "30 7 * * *"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The toy model with an id column, drift and monitor schedules; v1 (accuracy 0.8) in dev."""
    tmp = tmp_path_factory.mktemp("watch")
    proj = make_project(tmp / "proj")
    spec = proj.pipeline_path("toy")
    text = spec.read_text().replace("  target: y\n", "  target: y\n  id_column: id\n")
    spec.write_text(text + WATCHED)
    commit(proj, "watched")
    register_version(proj, tmp, accuracy=0.8)
    assert modelops(proj, "promote", "toy", "--to", "dev") == 0
    commit(proj, "dev v1")
    yield proj
    forget_models()


def _due(project: Project, *argv: str) -> dict:
    assert modelops(project, "due", "--env", "dev", *argv) == 0
    return json.loads((project.results_dir("dev") / "due.json").read_text())


@pytest.mark.parametrize(
    ("at", "checks"),
    [
        ("2026-11-30T06:05:00Z", [{"model": "toy", "checks": "drift"}]),  # a Monday
        ("2026-11-30T07:59:00+00:00", [{"model": "toy", "checks": "monitor"}]),
        ("2026-12-01T06:10:00Z", []),  # a Tuesday: drift is weekly
        ("2026-11-30T08:00:00Z", []),
    ],
)
def test_a_check_is_due_in_the_hour_its_cron_fires(project: Project, at: str, checks: list) -> None:
    """The hour containing --at decides: drift Mondays 06:xx, monitor daily 07:xx."""
    assert _due(project, "--at", at)["matrix"] == {"include": checks}


def test_all_takes_every_check_and_github_output_gets_the_matrix(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run by hand (--all) watches both; the matrix and `any` reach $GITHUB_OUTPUT."""
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = _due(project, "--all", "--at", "2026-12-01T10:00:00Z")
    assert result["matrix"] == {"include": [{"model": "toy", "checks": "drift,monitor"}]}
    lines = output.read_text().splitlines()
    assert lines == ['matrix={"include":[{"model":"toy","checks":"drift,monitor"}]}', "any=true"]


def test_a_model_the_environment_does_not_run_is_not_watched(project: Project) -> None:
    """Staging runs nothing: no rows, and the model is named as skipped."""
    assert modelops(project, "due", "--env", "staging", "--all") == 0
    result = json.loads((project.results_dir("staging") / "due.json").read_text())
    assert result["matrix"] == {"include": []} and result["any"] is False
    assert result["skipped"] == ["toy: staging does not run it"]


def test_a_bad_cron_names_the_spec_and_field(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """An impossible schedule is bad input: exit 2 with the file and `monitor.schedule`."""
    spec = project.pipeline_path("toy")
    before = spec.read_text()
    spec.write_text(before.replace('"30 7 * * *"', '"61 7 * * *"'))
    try:
        assert modelops(project, "due", "--env", "dev") == 2
    finally:
        spec.write_text(before)
    err = capsys.readouterr().err
    assert "field 'monitor.schedule'" in err and "toy.yaml" in err and "Traceback" not in err


def _stream(project: Project, folder: Path, labels: Path, correct_every: int) -> None:
    """40 rows scored by v1 (all class 0) on one day; every `correct_every`-th label is 1."""
    manifest = load_manifest(project, "dev", "toy")
    assert manifest is not None
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        f"{i},0,0.6,0.4,{manifest.version},{manifest.sha256},2026-11-20T10:00:00+00:00"
        for i in range(40)
    ]
    header = "id,prediction,proba_0,proba_1,model_version,model_sha256,scored_at"
    (folder / "2026-11-20.csv").write_text("\n".join([header, *rows]) + "\n")
    truth = [f"{i},{1 if i % correct_every == 0 else 0}" for i in range(40)]
    labels.write_text("\n".join(["id,y", *truth]) + "\n")


def _watch(project: Project, tmp: Path, *argv: str) -> tuple[int, dict]:
    code = modelops(
        project, "watch", "toy", "--env", "dev", "--checks", "monitor",
        "--predictions", f"{tmp.relative_to(project.root)}/{{model}}/scored",
        "--labels", f"{tmp.relative_to(project.root)}/{{model}}/labels.csv", *argv,
    )  # fmt: skip
    return code, json.loads((project.results_dir("toy") / "watch.json").read_text())


def test_a_planted_performance_drop_names_monitor_as_the_trigger(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Half the labels are 1 (accuracy 0.5 against 0.8 at promotion): exit 3, trigger monitor."""
    data = project.root / "watched"
    _stream(project, data / "toy" / "scored", data / "toy" / "labels.csv", correct_every=2)
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    code, result = _watch(project, data)
    assert code == 3 and result["trigger"] == "monitor"
    assert result["checks"]["monitor"] == {
        "status": "found",
        "report": "reports/toy/monitor-dev.md",
    }
    assert output.read_text() == "trigger=monitor\n"
    assert (project.state_dir / "reports" / "toy" / "monitor-dev.md").is_file()


def test_a_clean_stream_finds_nothing(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """90% class 0, as good as at promotion: exit 0, no trigger, an empty trigger output."""
    data = project.root / "clean"
    _stream(project, data / "toy" / "scored", data / "toy" / "labels.csv", correct_every=10)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    code, result = _watch(project, data)
    assert code == 0 and result["trigger"] is None
    assert result["checks"]["monitor"]["status"] == "clean"


def test_a_check_without_its_data_is_skipped_not_failed(project: Project) -> None:
    """No labels yet (a new model): monitor is reported as skipped, exit 0."""
    code, result = _watch(project, project.root / "nowhere")
    assert code == 0 and result["trigger"] is None
    assert result["checks"]["monitor"]["status"] == "skipped"
    assert result["checks"]["monitor"]["why"] == "nothing at nowhere/toy/scored"


def test_an_unknown_check_or_a_path_outside_the_repository_exits_2(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """--checks names drift and monitor only; data paths stay inside the repository."""
    assert modelops(project, "watch", "toy", "--env", "dev", "--checks", "accuracy") == 2
    assert "field '--checks'" in capsys.readouterr().err
    code = modelops(
        project, "watch", "toy", "--env", "dev", "--checks", "drift", "--recent", "../x.csv"
    )
    err = capsys.readouterr().err
    assert code == 2 and "field '--recent'" in err and "inside the repository" in err


def test_a_bad_path_for_one_check_writes_no_report_of_the_other(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drift's data is fine but --labels leaves the repository: exit 2 before drift runs."""
    recent = project.root / "data" / "toy" / "recent.csv"
    recent.write_text((project.root / "data" / "toy" / "toy.csv").read_text())
    reports = project.state_dir / "reports" / "toy"
    before = sorted(reports.glob("drift-*")) if reports.is_dir() else []
    code = modelops(
        project, "watch", "toy", "--env", "dev", "--checks", "drift,monitor",
        "--labels", "../../labels.csv",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "field '--labels'" in err
    assert (sorted(reports.glob("drift-*")) if reports.is_dir() else []) == before
    recent.unlink()
