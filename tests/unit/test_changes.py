"""`modelops changed`: the models a git diff touches, in a real git repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from modelops.cli import main

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}

SPEC = """\
name: {name}
owner: "@acme/{name}"
paths: {paths}
data: {{path: {data}, schema: "models.{name}.schema:SCHEMA", target: y}}
train:
  entrypoint: models.{name}
  compute: {compute}
evaluate: {{task: binary_classification, metrics: [roc_auc], primary_metric: roc_auc}}
"""


def git(root: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        ["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    return proc.stdout.strip()


def write(root: Path, rel: str, text: str = "x\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def commit(root: Path, message: str = "change") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two models: `alpha` on CPU with an extra glob, `beta` on GPU; one commit."""
    root = tmp_path / "repo"
    write(
        root,
        "pipelines/alpha.yaml",
        SPEC.format(
            name="alpha",
            data="data/alpha/rows.csv",
            paths='["features/alpha/**"]',
            compute="{type: cpu}",
        ),
    )
    write(
        root,
        "pipelines/beta.yaml",
        SPEC.format(
            name="beta",
            data="data/beta",
            paths="[]",
            compute="{type: gpu, instance_types: [g5.xlarge, g4dn.xlarge], max_minutes: 30}",
        ),
    )
    for name in ("alpha", "beta"):
        write(root, f"src/models/{name}/__init__.py")
        write(root, f"src/models/{name}/schema.py")
    write(root, "src/models/__init__.py")
    write(root, "data/alpha/rows.csv")
    write(root, "data/alpha/README.md")
    write(root, "data/beta/part-0.csv")
    write(root, "docs/index.md")
    git(root, "init", "-q", "-b", "main")
    commit(root, "init")
    monkeypatch.chdir(root)
    return root


def changed(capsys: pytest.CaptureFixture[str], base: str, *extra: str) -> dict[str, object]:
    assert main(["changed", "--base", base, *extra]) == 0
    matrix: dict[str, object] = json.loads(capsys.readouterr().out)
    return matrix


def models(matrix: dict[str, object]) -> list[str]:
    include = matrix["include"]
    assert isinstance(include, list)
    return [row["model"] for row in include]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pipelines/alpha.yaml", ["alpha"]),
        ("src/models/alpha/train_helpers.py", ["alpha"]),
        ("data/alpha/rows.csv", ["alpha"]),
        ("data/beta/part-1.csv", ["beta"]),
        ("features/alpha/deep/x.sql", ["alpha"]),
        ("src/modelops/train.py", ["alpha", "beta"]),
        ("pyproject.toml", ["alpha", "beta"]),
        ("src/models/__init__.py", ["alpha", "beta"]),
        ("docs/index.md", []),
        ("data/alpha/README.md", []),
    ],
)
def test_a_changed_path_touches_exactly_its_models(
    repo: Path, capsys: pytest.CaptureFixture[str], path: str, expected: list[str]
) -> None:
    """Spec, code folder, data path, extra globs and toolkit files each touch the right models."""
    base = git(repo, "rev-parse", "HEAD")
    before = (repo / path).read_text() if (repo / path).exists() else ""
    write(repo, path, before + "# changed\n")
    commit(repo)
    assert models(changed(capsys, base)) == expected


def test_matrix_rows_carry_the_compute_of_the_spec(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GPU model's row carries its instance types, spot policy and time cap for the runner."""
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "src/modelops/x.py")
    commit(repo)
    rows = {row["model"]: row for row in changed(capsys, base)["include"]}  # type: ignore[attr-defined]
    assert rows["alpha"]["compute"] == "cpu"
    assert rows["beta"] == {
        "model": "beta",
        "compute": "gpu",
        "instance-types": "g5.xlarge,g4dn.xlarge",
        "spot": True,
        "on-demand-fallback": True,
        "max-minutes": 30,
        "max-cost-usd": 0,
    }


def test_diff_is_against_the_merge_base_not_the_base_tip(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Commits that landed on main after the branch point do not count as the PR's changes."""
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "pipelines/alpha.yaml", (repo / "pipelines/alpha.yaml").read_text() + "# tuned\n")
    commit(repo, "feature")
    git(repo, "checkout", "-q", "main")
    write(repo, "data/beta/part-2.csv")
    main_tip = commit(repo, "main moved on")
    git(repo, "checkout", "-q", "feature")
    assert models(changed(capsys, main_tip)) == ["alpha"]


def test_all_zero_base_touches_every_model(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A push that created the branch has no `before` commit: every model trains."""
    assert models(changed(capsys, "0" * 40)) == ["alpha", "beta"]


def test_github_outputs_are_written(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """In Actions, `matrix` and `any` land in $GITHUB_OUTPUT and the reasons in the summary."""
    output, summary = tmp_path / "output", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "docs/index.md", "only docs\n")
    commit(repo)
    assert changed(capsys, base) == {"include": []}
    assert output.read_text().splitlines() == [
        'chunks={"include":[]}',
        'matrix={"include":[]}',
        "any=false",
        'cpu-matrix={"include":[]}',
        "any-cpu=false",
        'gpu-matrix={"include":[]}',
        "any-gpu=false",
    ]
    assert "No model is touched" in summary.read_text()

    write(repo, "data/alpha/rows.csv", "new rows\n")
    commit(repo)
    output.write_text("")
    changed(capsys, base)
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert lines["any"] == "true"
    assert models(json.loads(lines["matrix"])) == ["alpha"]
    assert "`data/alpha/rows.csv`" in summary.read_text()


def test_unknown_base_is_a_clear_input_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A base commit the clone lacks exits 2 and says to fetch the history."""
    assert main(["changed", "--base", "deadbeef" * 5]) == 2
    err = capsys.readouterr().err
    assert "unknown commit" in err
    assert "fetch-depth: 0" in err
    assert "Traceback" not in err


def test_a_broken_spec_fails_with_its_file_and_field(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PR that breaks a spec fails here, naming the file and field, instead of training."""
    base = git(repo, "rev-parse", "HEAD")
    write(
        repo,
        "pipelines/beta.yaml",
        (repo / "pipelines/beta.yaml").read_text().replace("type: gpu", "type: tpu"),
    )
    commit(repo)
    assert main(["changed", "--base", base]) == 2
    err = capsys.readouterr().err
    assert "pipelines/beta.yaml" in err
    assert "train.compute.type" in err


@pytest.mark.parametrize(
    ("gpu_runners", "cpu", "gpu"), [("true", ["alpha"], ["beta"]), ("false", ["alpha", "beta"], [])]
)
def test_gpu_models_go_to_the_gpu_matrix_only_when_runners_may_start(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    gpu_runners: str,
    cpu: list[str],
    gpu: list[str],
) -> None:
    """Without a provider (or on a fork) a GPU model trains on CPU; with one it gets a runner."""
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert models(changed(capsys, "0" * 40, "--gpu-runners", gpu_runners)) == ["alpha", "beta"]
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert models(json.loads(lines["cpu-matrix"])) == cpu
    assert models(json.loads(lines["gpu-matrix"])) == gpu
    assert lines["any-gpu"] == ("true" if gpu else "false")


def test_an_unroutable_spec_fails_even_when_untouched(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An untouched spec is only skimmed, but one whose paths cannot be read still fails by name."""
    write(repo, "pipelines/beta.yaml", "name: beta\ndata: [unclosed\n")
    base = commit(repo, "break beta")
    write(repo, "data/alpha/rows.csv", "y\n1\n")
    commit(repo)
    assert main(["changed", "--base", base]) == 2
    err = capsys.readouterr().err
    assert "pipelines/beta.yaml:3: malformed YAML" in err
    assert "Traceback" not in err


def _register_at(root: Path, model: str, commit_sha: str) -> None:
    """A registered version of `model` whose run was trained at `commit_sha` (embedded MLflow)."""
    import mlflow

    from modelops import registry
    from modelops.project import Project

    project = Project(root)
    experiment = registry.ensure_experiment(project, model)
    mlflow.set_tracking_uri(project.tracking_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.set_tag("modelops.commit", commit_sha)
    # A run without a bundle: only its commit matters here, so no MLflow model is logged.
    registry.register_run(
        project, model, run.info.run_id, tags={"modelops.commit": commit_sha}, mlflow_model=False
    )


def test_since_registered_trains_what_changed_since_each_models_last_registration(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each model is diffed from its newest registered commit; never registered means touched."""
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI: restore it after this test.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    start = git(repo, "rev-parse", "HEAD")
    _register_at(repo, "alpha", start)
    _register_at(repo, "beta", start)
    assert models(changed_since(capsys)) == [], "nothing changed since both were registered"

    # Two pushes; imagine the run of the first cancelled while pending: nothing registered.
    write(repo, "data/alpha/rows.csv", "x\ny\n")
    commit(repo, "alpha data")
    write(repo, "docs/index.md", "more\n")
    head = commit(repo, "docs")
    assert models(changed_since(capsys)) == ["alpha"], "the cancelled push's change still trains"

    _register_at(repo, "alpha", head)
    assert models(changed_since(capsys)) == []
    # A registered commit git does not know (history rewritten) retrains, as does a new model.
    _register_at(repo, "beta", "0123456789abcdef0123456789abcdef01234567")
    assert models(changed_since(capsys)) == ["beta"]


def changed_since(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["changed", "--since-registered"]) == 0
    matrix: dict[str, object] = json.loads(capsys.readouterr().out)
    return matrix


def test_changed_needs_a_base_or_since_registered(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither --base nor --since-registered: one clear error, exit 2."""
    assert main(["changed"]) == 2
    assert "--since-registered" in capsys.readouterr().err


def test_more_models_than_a_matrix_holds_are_chunked(tmp_path: Path) -> None:
    """Past GitHub's 256 jobs per matrix, models go in chunks, each within the limit."""
    from modelops.changes import MATRIX_LIMIT, Touched, chunks
    from modelops.project import Project
    from modelops.spec import load_pipeline

    root = tmp_path / "many"
    specs = {"cpu": "{type: cpu}", "gpu": "{type: gpu, instance_types: [g5.xlarge]}"}
    names = [f"m{i:03d}" for i in range(MATRIX_LIMIT + 44)]
    for i, name in enumerate(names):
        compute = specs["gpu" if i % 10 == 0 else "cpu"]
        write(root, f"pipelines/{name}.yaml",
              SPEC.format(name=name, data="data/x.csv", paths="[]", compute=compute))  # fmt: skip
    project = Project(root)
    touched = [Touched(n, "test", load_pipeline(project, n)) for n in names]

    result = chunks(touched, gpu_runners=True)["include"]
    assert [c["chunk"] for c in result] == [1, 2]
    assert [len(c["all"]["include"]) for c in result] == [MATRIX_LIMIT, 44]
    assert all(len(c[k]["include"]) <= MATRIX_LIMIT for c in result for k in ("cpu", "gpu"))
    assert [r["model"] for c in result for r in c["all"]["include"]] == names
    assert [c["any-gpu"] for c in result] == [True, True]
    on_cpu = chunks(touched, gpu_runners=False)["include"]
    assert not any(c["any-gpu"] for c in on_cpu), "no runners: every model trains on CPU"
