"""`train_model` / `modelops train`: a reproducible MLflow run with a digest-pinned, pickle-free
bundle. Behaviour is tested through the library function; exit codes through `main`."""

from __future__ import annotations

import json
from pathlib import Path

from modelops import registry
from modelops.bundle import pickle_files
from modelops.cli import main
from modelops.fsutil import tree_digest
from modelops.project import Project
from modelops.train import TrainResult, train_model


def _train_json(project: Project) -> dict:
    return json.loads((project.results_dir("toy") / "train.json").read_text())


def _train(project: Project, **options: bool) -> dict:
    """Train the toy model through the library, save its result as the CLI would, return it."""
    trained = train_model(project, "toy", **options)
    assert isinstance(trained, TrainResult) and trained.exit_code == 0
    trained.save(project)
    return trained.data


def test_run_records_reproducibility_tags(toy_repo: Project) -> None:
    """The run carries data digest, commit, seed, hardware, versions and the params."""
    result = _train(toy_repo)
    run = registry.client(toy_repo).get_run(result["run_id"])
    tags = run.data.tags
    assert tags["modelops.data_sha256"] == result["data_sha256"]
    assert tags["modelops.commit"] == toy_repo.git_commit() == result["commit"]
    assert tags["modelops.seed"] == "3"
    assert json.loads(tags["modelops.hardware"])["cores"] >= 1
    versions = json.loads(tags["modelops.versions"])
    assert {"python", "modelops", "mlflow", "scikit-learn", "torch", "pandas"} <= set(versions)
    assert run.data.params == {"bias": "0.6"}
    assert result["rows"] == {"train": 160, "test": 40}
    assert set(result["timings"]) >= {"load_data", "split", "train", "bundle"}


def test_sha256_tag_is_the_bundle_tree_digest_and_no_pickle(
    toy_repo: Project, tmp_path: Path
) -> None:
    """The sha256 tag equals the digest of the uploaded bundle/, which holds no pickle."""
    result = _train(toy_repo)
    run = registry.client(toy_repo).get_run(result["run_id"])
    import mlflow.artifacts

    got = Path(
        mlflow.artifacts.download_artifacts(
            run_id=result["run_id"],
            artifact_path="bundle",
            dst_path=str(tmp_path / "dl"),
            tracking_uri=toy_repo.tracking_uri(),
        )
    )
    assert run.data.tags["modelops.sha256"] == tree_digest(got) == result["sha256"]
    assert pickle_files(got) == []
    assert not [p for p in got.rglob("*") if p.suffix in {".pkl", ".pickle", ".joblib"}]


def test_signature_and_input_example_are_logged(toy_repo: Project, tmp_path: Path) -> None:
    """An MLmodel with the input/output signature and an input example is logged."""
    run_id = _train(toy_repo)["run_id"]
    import mlflow.artifacts
    from mlflow.models import Model

    folder = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="mlflow-model",
            dst_path=str(tmp_path / "m"),
            tracking_uri=toy_repo.tracking_uri(),
        )
    )
    model = Model.load(str(folder / "MLmodel"))
    assert model.signature is not None
    assert model.signature.inputs.input_names() == ["x"]
    assert "prediction" in model.signature.outputs.input_names()
    example = json.loads((folder / "input_example.json").read_text())
    assert example["columns"] == ["x"] and len(example["data"]) == 5


def test_same_job_is_not_retrained_unless_forced(toy_repo: Project, capsys) -> None:
    """A second train of the same commit, data and params reuses the run; force retrains."""
    first = _train(toy_repo)["run_id"]
    again = train_model(toy_repo, "toy")
    assert again.reused and again.run_id == first
    assert "up to date" in again.summary[0]
    assert main(["train", "toy"]) == 0  # the CLI says so too, and keeps the result
    assert "up to date" in capsys.readouterr().out
    assert _train_json(toy_repo)["run_id"] == first
    assert main(["train", "toy", "--force"]) == 0
    assert _train_json(toy_repo)["run_id"] != first


def test_per_step_metrics_reach_mlflow(toy_repo: Project) -> None:
    """Metrics a model logs through its TrainContext end up as MLflow metric history."""
    spec = toy_repo.pipeline_path("toy")
    spec.write_text(
        spec.read_text().replace(
            "params: {bias: 0.6}", "params: {bias: 0.6, losses: [0.9, 0.5, 0.2]}"
        )
    )
    run_id = train_model(toy_repo, "toy").run_id
    history = registry.client(toy_repo).get_metric_history(run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.2)]


def test_pinned_data_digest_mismatch_is_refused(toy_repo: Project, capsys) -> None:
    """Data that differs from data.sha256 ends with exit 2 naming the field; no run result."""
    spec = toy_repo.pipeline_path("toy")
    spec.write_text(
        spec.read_text().replace("  target: y\n", "  target: y\n  sha256: " + "0" * 64 + "\n")
    )
    assert main(["train", "toy"]) == 2
    assert "data.sha256" in capsys.readouterr().err
    assert not (toy_repo.results_dir("toy") / "train.json").exists()


def test_test_metrics_and_curves_are_recorded_at_training(toy_repo: Project) -> None:
    """The run gets test_<metric> for the spec's metrics; train.json keeps them and the curves."""
    spec = toy_repo.pipeline_path("toy")
    spec.write_text(
        spec.read_text().replace(
            "params: {bias: 0.6}", "params: {bias: 0.6, losses: [0.9, 0.5, 0.2]}"
        )
    )
    result = _train(toy_repo)
    logged = registry.client(toy_repo).get_run(result["run_id"]).data.metrics
    assert set(result["test_metrics"]) == {"accuracy", "roc_auc"}
    assert {k: logged[f"test_{k}"] for k in result["test_metrics"]} == result["test_metrics"]
    assert result["curves"] == {"train_loss": [[0, 0.9], [1, 0.5], [2, 0.2]]}


def test_mlflow_source_tags_name_the_project_commit(toy_repo: Project) -> None:
    """mlflow.source.git.commit is the project's commit, not the toolkit checkout's."""
    result = _train(toy_repo)
    run = registry.client(toy_repo).get_run(result["run_id"])
    assert run.data.tags["mlflow.source.git.commit"] == toy_repo.git_commit()
    assert run.data.tags["mlflow.source.name"] == "modelops train"
    assert run.info.status == "FINISHED" and run.info.end_time is not None
