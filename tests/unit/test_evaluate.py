"""`modelops evaluate`: metrics, absolute gates, the prod champion on the same split."""

from __future__ import annotations

import json
import sys

import pytest

from modelops.cli import main
from modelops.errors import GateFailure
from modelops.evaluate import EvaluateResult, check_gates, evaluate_model, flag_noise
from modelops.project import Project
from modelops.spec import Gate
from modelops.train import train_model


def _result(project: Project, command: str) -> dict:
    return json.loads((project.results_dir("toy") / f"{command}.json").read_text())


def _set_gate(project: Project, gate: str) -> None:
    spec = project.pipeline_path("toy")
    spec.write_text(spec.read_text().replace("accuracy: {min: 0.5, max_drop: 0.01}", gate))


def test_failed_gate_exits_1_and_lists_it(toy_repo: Project, capsys) -> None:
    """A metric below its minimum: exit 1, the gate named, and evaluate.json still written."""
    _set_gate(toy_repo, "accuracy: {min: 0.99}")
    assert main(["train", "toy"]) == 0
    assert main(["evaluate", "toy"]) == 1
    err = capsys.readouterr().err
    result = _result(toy_repo, "evaluate")
    value = result["metrics"]["accuracy"]
    assert f"accuracy {value:.4g} is below min 0.99" in err
    assert result["passed"] is False
    [gate] = result["gates"]
    assert {k: gate[k] for k in ("metric", "kind", "threshold", "value", "passed")} == {
        "metric": "accuracy",
        "kind": "min",
        "threshold": 0.99,
        "value": value,
        "passed": False,
    }
    assert main(["register", "toy"]) == 2  # a failed model is never registered
    assert "gates failed" in capsys.readouterr().err


def test_a_failed_gate_is_in_the_library_result(toy_repo: Project) -> None:
    """evaluate_model returns the whole result with passed False, exit code 1 and the
    GateFailure as its error, rather than raising."""
    _set_gate(toy_repo, "accuracy: {min: 0.99}")
    train_model(toy_repo, "toy").save(toy_repo)
    evaluated = evaluate_model(toy_repo, "toy")
    assert isinstance(evaluated, EvaluateResult)
    assert evaluated.passed is False and evaluated.exit_code == 1
    assert isinstance(evaluated.error, GateFailure) and evaluated.error.field == "evaluate.gates"
    assert [(g["kind"], g["passed"]) for g in evaluated.gates] == [("min", False)]


def test_no_champion_means_absolute_gates_decide(toy_repo: Project) -> None:
    """Without a prod manifest the result says so, and max_drop is not applied."""
    train_model(toy_repo, "toy").save(toy_repo)
    evaluated = evaluate_model(toy_repo, "toy")
    assert evaluated.passed and evaluated.error is None
    result = evaluated.data
    assert result["champion"] is None
    assert "absolute gates alone decide" in result["champion_note"]
    assert [g["kind"] for g in result["gates"]] == ["min"]
    assert 0.0 <= result["metrics"]["roc_auc"] <= 1.0
    assert sum(map(sum, result["plots"]["confusion_matrix"])) == result["split"]["test_rows"]
    assert result["changes"] is None


def _write_prod_manifest(project: Project, registered: dict) -> None:
    folder = project.root / "environments" / "prod" / "models"
    folder.mkdir(parents=True, exist_ok=True)
    import yaml

    (folder / "toy.yaml").write_text(
        yaml.safe_dump(
            {
                "model": "toy",
                "version": registered["version"],
                "model_uri": registered["model_uri"],
                "sha256": registered["sha256"],
                "run_id": registered["run_id"],
                "source_commit": registered["commit"],
                "data_sha256": registered["data_sha256"],
                "metrics": registered["metrics"],
                "promoted_from": "staging",
                "promoted_at": "2024-01-01T00:00:00Z",
            }
        )
    )


def test_champion_from_prod_manifest_is_scored_on_same_split(toy_repo: Project, capsys) -> None:
    """The prod version is downloaded, verified and scored; a worse challenger fails max_drop."""
    assert main(["train", "toy"]) == 0
    assert main(["evaluate", "toy"]) == 0
    assert main(["register", "toy"]) == 0
    champion_accuracy = _result(toy_repo, "evaluate")["metrics"]["accuracy"]
    _write_prod_manifest(toy_repo, _result(toy_repo, "register"))
    # bias < 0.5 makes the majority class the less likely one: accuracy collapses.
    spec = toy_repo.pipeline_path("toy")
    spec.write_text(spec.read_text().replace("bias: 0.6", "bias: 0.3"))
    _set_gate(toy_repo, "accuracy: {min: 0.0, max_drop: 0.01}")
    assert main(["train", "toy"]) == 0
    assert main(["evaluate", "toy"]) == 1
    result = _result(toy_repo, "evaluate")
    assert result["champion"]["version"] == 1
    assert result["champion"]["metrics"]["accuracy"] == champion_accuracy
    drop = next(g for g in result["gates"] if g["kind"] == "max_drop")
    assert drop["passed"] is False and drop["champion"] == champion_accuracy
    change = champion_accuracy - result["metrics"]["accuracy"]
    assert drop["change"] == pytest.approx(-change) and drop["worsening"] == pytest.approx(change)
    expected = (
        f"accuracy dropped {change:.4g} from the champion's {champion_accuracy:.4g}; max_drop 0.01"
    )
    assert drop["message"] == expected
    assert expected in capsys.readouterr().err
    # The champion is plotted next to the challenger, and what changed is listed.
    assert result["champion"]["plots"]["roc"]["fpr"] == result["plots"]["roc"]["fpr"]
    assert result["changes"]["params"] == [{"param": "bias", "champion": 0.6, "challenger": 0.3}]
    assert result["changes"]["data"]["rows"] == {"champion": 160, "challenger": 160}
    assert [r["psi"] for r in result["changes"]["data"]["psi"]] == [0.0]


def test_tampered_champion_is_refused(toy_repo: Project, capsys) -> None:
    """A champion whose bytes differ from the manifest's digest is refused, exit 2."""
    assert main(["train", "toy"]) == 0
    assert main(["evaluate", "toy"]) == 0
    assert main(["register", "toy"]) == 0
    registered = _result(toy_repo, "register")
    _write_prod_manifest(toy_repo, {**registered, "sha256": "f" * 64})
    assert main(["evaluate", "toy"]) == 2
    assert "digest" in capsys.readouterr().err


def test_skipped_champion_is_said_and_never_fetched(
    toy_repo: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODELOPS_SKIP_CHAMPION (a fork PR): no champion fetched, the reason is in the result."""
    assert main(["train", "toy"]) == 0
    assert main(["evaluate", "toy"]) == 0
    assert main(["register", "toy"]) == 0
    # A prod manifest whose digest matches nothing: fetching it would fail (exit 2).
    _write_prod_manifest(toy_repo, {**_result(toy_repo, "register"), "sha256": "f" * 64})
    monkeypatch.setenv("MODELOPS_SKIP_CHAMPION", "fork pull request: no shared registry")
    assert main(["evaluate", "toy"]) == 0
    result = _result(toy_repo, "evaluate")
    assert result["champion"] is None
    assert result["champion_note"].startswith(
        "champion comparison skipped: fork pull request: no shared registry"
    )


def test_champion_gates_follow_the_metric_direction() -> None:
    """log_loss and rmse rising is worse (max_rise); roc_auc and r2 rising is not (max_drop)."""
    gates = (
        Gate("log_loss", max_rise=0.01),
        Gate("roc_auc", max_drop=0.01),
        Gate("rmse", max_rise=1.0),
        Gate("r2", max_drop=0.02),
    )
    rows = check_gates(
        gates,
        {"log_loss": 0.50, "roc_auc": 0.95, "rmse": 54.5, "r2": 0.40},
        {"log_loss": 0.45, "roc_auc": 0.90, "rmse": 52.0, "r2": 0.45},
    )
    assert [(r["metric"], r["kind"], r["passed"]) for r in rows] == [
        ("log_loss", "max_rise", False),
        ("roc_auc", "max_drop", True),
        ("rmse", "max_rise", False),
        ("r2", "max_drop", False),
    ]
    assert rows[0]["worsening"] == pytest.approx(0.05)
    assert rows[2]["message"] == "rmse rose 2.5 from the champion's 52; max_rise 1"
    assert rows[3]["message"] == "r2 dropped 0.05 from the champion's 0.45; max_drop 0.02"
    assert rows[1]["message"] == "roc_auc rose 0.05 from the champion's 0.9; max_drop 0.01"


def test_a_gate_whose_bound_lies_in_the_interval_is_within_noise() -> None:
    """A bound inside the bootstrap interval is flagged; one outside is not."""
    rows = check_gates(
        (Gate("roc_auc", min=0.80, max_drop=0.005),), {"roc_auc": 0.81}, {"roc_auc": 0.90}
    )
    flag_noise(rows, {"metric": "roc_auc", "low": 0.79, "high": 0.83})
    assert [(r["kind"], r["bound"], r["within_noise"]) for r in rows] == [
        ("min", 0.80, True),
        ("max_drop", 0.895, False),
    ]


def test_scores_match_the_run_and_no_mlflow_without_champion(toy_repo: Project) -> None:
    """Without a champion evaluate imports no MLflow; its metrics equal those train logged."""
    import subprocess

    assert main(["train", "toy"]) == 0
    code = (
        "import sys\n"
        "from modelops.cli import main\n"
        "code = main(['evaluate', 'toy'])\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _result(toy_repo, "evaluate")["metrics"] == _result(toy_repo, "train")["test_metrics"]


def test_loss_curves_come_from_train_json(toy_repo: Project) -> None:
    """The per-step losses train recorded become the plot data, sorted by step."""
    spec = toy_repo.pipeline_path("toy")
    spec.write_text(
        spec.read_text().replace(
            "params: {bias: 0.6}", "params: {bias: 0.6, losses: [0.9, 0.5, 0.2]}"
        )
    )
    assert main(["train", "toy"]) == 0
    assert main(["evaluate", "toy"]) == 0
    losses = _result(toy_repo, "evaluate")["plots"]["losses"]
    assert losses == {"train_loss": [[0, 0.9], [1, 0.5], [2, 0.2]]}
