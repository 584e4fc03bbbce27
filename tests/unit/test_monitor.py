"""`modelops monitor`: predictions joined with later labels, windowed, gated against promotion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.errors import SpecError
from modelops.monitor import _drop
from modelops.project import Project
from modelops.spec import load_manifest, load_pipeline

MONITOR = """\
monitor:
  window: 1d
  min_rows: 20
  max_drop: {accuracy: 0.1}
  max_label_delay: 2d
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The toy model with an id column and a monitor section, v1 (accuracy 0.8) live in dev."""
    tmp = tmp_path_factory.mktemp("monitor")
    proj = make_project(tmp / "proj")
    spec = proj.pipeline_path("toy")
    text = spec.read_text().replace("  target: y\n", "  target: y\n  id_column: id\n")
    spec.write_text(text + MONITOR)
    commit(proj, "monitor section")
    register_version(proj, tmp, accuracy=0.8)
    assert modelops(proj, "promote", "toy", "--to", "dev") == 0
    commit(proj, "dev v1")
    assert modelops(proj, "deploy", "dev") == 0
    yield proj
    forget_models()


def _reports(project: Project) -> list[Path]:
    folder = project.state_dir / "reports" / "toy"
    return sorted(folder.glob("monitor-*")) if folder.is_dir() else []


def _clear_reports(project: Project) -> None:
    for path in _reports(project):
        path.unlink()


def _scored(
    project: Project, path: Path, days: list[tuple[str, int]], *, first_id: int = 0, **over: object
) -> list[int]:
    """A predictions file as `predict` writes it: `n` rows per day, all predicting class 0."""
    manifest = load_manifest(project, "dev", "toy")
    assert manifest is not None
    lines = ["id,prediction,proba_0,proba_1,model_version,model_sha256,scored_at"]
    ids = []
    i = first_id
    for day, n in days:
        for _ in range(n):
            version = over.get("version", manifest.version)
            sha = over.get("sha256", manifest.sha256)
            lines.append(f"{i},0,0.6,0.4,{version},{sha},{day}T10:00:00+00:00")
            ids.append(i)
            i += 1
    path.write_text("\n".join(lines) + "\n")
    return ids


def _labels(path: Path, rows: list[tuple[object, object]], labelled_at: str | None = None) -> None:
    header = "id,y" + (",labelled_at" if labelled_at else "")
    tail = f",{labelled_at}" if labelled_at else ""
    path.write_text("\n".join([header] + [f"{i},{y}{tail}" for i, y in rows]) + "\n")


def _result(project: Project) -> dict:
    return json.loads((project.results_dir("toy") / "monitor.json").read_text())


def _monitor(project: Project, predictions: Path, labels: Path) -> int:
    return modelops(
        project, "monitor", "toy", "--env", "dev",
        "--predictions", str(predictions), "--labels", str(labels),
    )  # fmt: skip


def test_predict_output_joins_with_labels_and_a_clean_stream_passes(
    project: Project, tmp_path: Path
) -> None:
    """Rows scored by `modelops predict` join on the id; labels as good as at promotion: exit 0."""
    source = tmp_path / "batch.csv"
    source.write_text("id,x\n" + "".join(f"{i},{i / 40:.3f}\n" for i in range(40)))
    scored = tmp_path / "scored.csv"
    assert modelops(project, "predict", "toy", "--env", "dev", "--input", str(source),
                    "--output", str(scored)) == 0  # fmt: skip
    labels = tmp_path / "labels.csv"
    _labels(labels, [(i, 0 if i % 10 else 1) for i in range(40)])  # 90% are class 0
    assert _monitor(project, scored, labels) == 0
    result = _result(project)
    assert result["crossed"] is False
    [window] = result["windows"]
    assert (window["scored"], window["labelled"], window["gated"]) == (40, 40, True)
    assert window["metrics"]["accuracy"] == 0.9
    assert window["gates"][0] == {
        "metric": "accuracy", "promoted": 0.8, "value": 0.9, "drop": -0.1,
        "max_drop": 0.1, "crossed": False,
    }  # fmt: skip
    assert (project.state_dir / "reports" / "toy" / "monitor-dev.md").is_file()


def test_a_planted_drop_crosses_the_gate_in_its_window_only(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two good days then one at 50% accuracy: exit 3, only the third window is crossed."""
    scored = tmp_path / "scored.csv"
    ids = _scored(project, scored, [("2026-03-01", 30), ("2026-03-02", 30), ("2026-03-03", 30)])
    truth = [(i, 0 if k % 10 else 1) for k, i in enumerate(ids[:60])]  # 90% right
    truth += [(i, k % 2) for k, i in enumerate(ids[60:])]  # 50% right: a drop of 0.3
    labels = tmp_path / "labels.csv"
    _labels(labels, truth)
    assert _monitor(project, scored, labels) == 3
    out = capsys.readouterr().out
    assert "performance gate crossed" in out and "CROSSED" in out
    windows = _result(project)["windows"]
    assert [w["start"][:10] for w in windows] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [w["crossed"] for w in windows] == [False, False, True]
    assert windows[2]["gates"][0]["drop"] == pytest.approx(0.3)
    md = (project.state_dir / "reports" / "toy" / "monitor-dev.md").read_text()
    assert "**crossed**" in md and "performance gate crossed" in md


def test_a_window_with_too_few_labels_is_reported_not_gated(
    project: Project, tmp_path: Path
) -> None:
    """A window below min_rows labelled rows is not gated, however bad its few labels are."""
    scored = tmp_path / "scored.csv"
    ids = _scored(project, scored, [("2026-04-01", 30)])
    labels = tmp_path / "labels.csv"
    _labels(labels, [(i, 1) for i in ids[:10]])  # every label wrong, but only 10 of 30
    assert _monitor(project, scored, labels) == 0
    [window] = _result(project)["windows"]
    assert window["gated"] is False and window["missing_labels"] == 20
    assert "fewer than min_rows 20" in window["note"]


def test_rows_not_used_are_counted_by_reason(project: Project, tmp_path: Path) -> None:
    """Other versions, ids scored or labelled twice, conflicts, orphans, unknown and late labels."""
    scored = tmp_path / "scored.csv"
    ids = _scored(project, scored, [("2026-05-01", 25)])
    other = tmp_path / "other.csv"
    _scored(project, other, [("2026-05-01", 4)], first_id=100, version=7, sha256="a" * 64)
    again = tmp_path / "again.csv"
    _scored(project, again, [("2026-05-02", 2)], first_id=0)  # ids 0 and 1 scored again
    labels = tmp_path / "labels.csv"
    rows: list[tuple[object, object]] = [(i, 0) for i in ids[:22]]
    rows += [(3, 1), (4, 0)]  # id 3: conflicting labels; id 4: the same label twice
    rows += [(500, 0), (501, 1)]  # labels for ids never scored
    rows += [(22, 5)]  # a class the model does not know
    rows += [(23, "")]  # label not known yet
    _labels(labels, rows, labelled_at="2026-05-04T00:00:00+00:00")
    code = modelops(
        project, "monitor", "toy", "--env", "dev", "--predictions", str(scored),
        "--predictions", str(other), "--predictions", str(again), "--labels", str(labels),
    )  # fmt: skip
    assert code == 0
    data = _result(project)
    rows_ = data["rows"]
    assert rows_["predictions"] == 31 and rows_["this_version"] == 27
    assert rows_["other_versions"] == [{"version": 7, "sha256": "a" * 64, "rows": 4}]
    assert rows_["ids_scored_twice"] == 2
    assert rows_["labels"] == 28 and rows_["pending_labels"] == 1
    assert rows_["ids_labelled_twice"] == 2 and rows_["conflicting_label_ids"] == 1
    assert rows_["conflicting_label_examples"] == ["3"]
    assert rows_["labels_without_prediction"] == 2
    assert rows_["unknown_label_values"] == 1 and rows_["unknown_label_examples"] == ["5"]
    assert rows_["missing_labels"] == 2  # id 23 (empty) and id 24 (none)
    # Ids 2-22 were scored 05-01 and labelled 05-04 (3 days > 2d); ids 0 and 1 count by
    # their latest score (05-02, exactly 2 days); 23 and 24 have no label.
    assert data["label_timing"]["late_labels"] == 21
    windows = data["windows"]
    assert [w["scored"] for w in windows] == [23, 2]


def _bad_files(project: Project, tmp_path: Path) -> tuple[Path, Path]:
    scored = tmp_path / "scored.csv"
    ids = _scored(project, scored, [("2026-06-01", 5)])
    labels = tmp_path / "labels.csv"
    _labels(labels, [(i, 0) for i in ids])
    return scored, labels


@pytest.mark.parametrize(
    ("case", "file", "field"),
    [
        ("labels without the id column", "labels", "id"),
        ("labels with text ids", "labels", "id"),
        ("labels without the target", "labels", "y"),
        ("predictions without model_sha256", "scored", "model_sha256"),
        ("predictions without proba columns", "scored", "proba_<label>"),
        ("a scored_at that is no time", "scored", "scored_at"),
        ("a model_version that is no number", "scored", "model_version"),
    ],
)
def test_bad_input_exits_2_naming_file_and_column_and_writes_nothing(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, file: str,
    field: str,
) -> None:  # fmt: skip
    """Each malformed input file: exit 2, the file and column named, no report or result."""
    import pandas as pd

    scored, labels = _bad_files(project, tmp_path)
    target = {"labels": labels, "scored": scored}[file]
    frame = pd.read_csv(target)
    if case == "labels with text ids":
        frame["id"] = "c-" + frame["id"].astype(str)
    elif case == "a scored_at that is no time":
        frame.loc[2, "scored_at"] = "yesterday"
    elif case == "a model_version that is no number":
        frame["model_version"] = frame["model_version"].astype(str)
        frame.loc[1, "model_version"] = "v1"
    elif case == "predictions without proba columns":
        frame = frame.drop(columns=["proba_0", "proba_1"])
    else:
        frame = frame.drop(columns=[field])
    frame.to_csv(target, index=False)
    _clear_reports(project)
    result = project.results_dir("toy") / "monitor.json"
    result.unlink(missing_ok=True)
    assert _monitor(project, scored, labels) == 2
    err = capsys.readouterr().err
    assert target.name in err and f"'{field}'" in err
    assert "Traceback" not in err
    assert _reports(project) == [] and not result.exists()


def test_unknown_keys_and_bad_metrics_in_monitor_are_refused(project: Project) -> None:
    """An unknown key, a gate on a metric not computed, no id column: each named by field."""
    path = project.pipeline_path("toy")
    original = path.read_text()
    try:
        path.write_text(original.replace("  min_rows: 20\n", "  min_rows: 20\n  windw: 2d\n"))
        with pytest.raises(SpecError) as err:
            load_pipeline(project, "toy")
        assert err.value.field == "monitor" and "windw" in err.value.message
        path.write_text(original.replace("{accuracy: 0.1}", "{f1: 0.1}"))
        with pytest.raises(SpecError) as err:
            load_pipeline(project, "toy")
        assert err.value.field == "monitor.max_drop.f1"
        path.write_text(original.replace("  id_column: id\n", ""))
        with pytest.raises(SpecError) as err:
            load_pipeline(project, "toy")
        assert err.value.field == "data.id_column"
    finally:
        path.write_text(original)


def test_a_drop_is_a_rise_for_losses() -> None:
    """For log_loss and brier a drop is an increase; for accuracy a decrease."""
    assert _drop("accuracy", 0.8, 0.7) == pytest.approx(0.1)
    assert _drop("log_loss", 0.3, 0.4) == pytest.approx(0.1)
    assert _drop("brier", 0.2, 0.1) == pytest.approx(-0.1)
