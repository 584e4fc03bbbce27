"""`modelops new`: each template passes validate, data-test and train as written; bad input
writes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import ENVIRONMENTS
from toyproject import git_commit_all

from modelops.cli import main
from modelops.scaffold import TEMPLATES, sample_csv

REPO = Path(__file__).resolve().parents[2]


def _forget_models() -> None:
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


@pytest.fixture
def fork(tmp_path: Path) -> Iterator[Path]:
    """A fork that deleted the examples: environments, an empty pipelines/, nothing else."""
    root = tmp_path / "fork"
    (root / "pipelines").mkdir(parents=True)
    import shutil

    shutil.copytree(ENVIRONMENTS, root / "environments")
    (root / ".gitignore").write_text(".modelops/\n__pycache__/\n")
    git_commit_all(root, "empty fork")
    yield root
    _forget_models()


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` but git's own and the results folder."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".modelops" not in p.parts
    }


def _modelops(root: Path, *argv: str) -> int:
    return main(["-C", str(root), *argv])


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES)
def test_template_passes_validate_data_test_and_train(
    fork: Path, template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The files a template writes pass validate (also importing them), data-test, train and
    evaluate's gates, untouched."""
    assert _modelops(fork, "new", "first_model", "--template", template) == 0
    out = capsys.readouterr().out
    for path in (
        "src/models/__init__.py",
        "src/models/first_model/__init__.py",
        "src/models/first_model/schema.py",
        "pipelines/first_model.yaml",
        "data/first_model/first_model.csv",
    ):
        assert (fork / path).is_file(), path
        assert path in out
    git_commit_all(fork, "add first_model")
    assert _modelops(fork, "validate", "first_model") == 0
    assert _modelops(fork, "validate", "--import", "first_model") == 0
    assert _modelops(fork, "data-test", "first_model") == 0
    assert _modelops(fork, "train", "first_model") == 0
    assert _modelops(fork, "evaluate", "first_model") == 0, "the sample data passes its gates"


def test_template_of_a_task_the_schema_lacks_is_refused(
    fork: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template whose evaluate.task this toolkit's pipeline schema does not accept (an older
    toolkit, say) is refused with exit 2 naming --template, and nothing is written."""
    import copy

    import modelops.spec

    real = modelops.spec.load_schema

    def without_regression(kind: str) -> dict:
        schema = copy.deepcopy(real(kind))
        if kind == "pipeline":
            task = schema["properties"]["evaluate"]["properties"]["task"]
            task["enum"] = [t for t in task["enum"] if t != "regression"]
        return schema

    monkeypatch.setattr(modelops.spec, "load_schema", without_regression)
    before = _tree(fork)
    code = _modelops(fork, "new", "house_price", "--template", "sklearn-regressor")
    err = capsys.readouterr().err
    assert code == 2
    assert "field '--template'" in err and "evaluate.task 'regression'" in err
    assert "does not accept yet" in err and "Traceback" not in err
    assert _tree(fork) == before
    assert not list(fork.glob(".modelops-new-*")), "the staging folder is removed"


@pytest.mark.parametrize("name", ["Churn", "1model", "fraud-score", "class", "models", "a" * 64])
def test_bad_name_is_refused_and_nothing_written(
    fork: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name that is not a lower-case Python package name exits 2 naming NAME; no file appears."""
    before = _tree(fork)
    assert _modelops(fork, "new", name) == 2
    err = capsys.readouterr().err
    assert "field 'NAME'" in err and "not a valid model name" in err
    assert _tree(fork) == before
    assert not (fork / ".modelops").exists(), "not even a result file"


def test_unknown_template_is_refused_and_nothing_written(
    fork: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown --template exits 2 with the choices listed, from the CLI and from the
    library function alike; no file appears."""
    from modelops.errors import InputError
    from modelops.project import Project
    from modelops.scaffold import new_model

    before = _tree(fork)
    assert _modelops(fork, "new", "fraud", "--template", "xgboost") == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'xgboost'" in err and "torch-classifier" in err
    assert "Traceback" not in err
    with pytest.raises(InputError) as info:
        new_model(Project(fork), "fraud", "xgboost")
    assert info.value.field == "--template" and "torch-classifier" in str(info.value.hint)
    assert _tree(fork) == before


def test_new_model_returns_the_files_it_wrote(fork: Path) -> None:
    """The library call returns a NewResult listing exactly the files that appeared."""
    from modelops.project import Project
    from modelops.scaffold import NewResult, new_model

    before = _tree(fork)
    result = new_model(Project(fork), "fraud", owner="@acme/fraud")
    assert isinstance(result, NewResult) and result.model == "fraud"
    assert result.data["template"] == "sklearn-classifier"
    assert set(result.files) == set(_tree(fork)) - set(before)
    assert "pipelines/fraud.yaml" in result.files
    assert 'owner: "@acme/fraud"' in (fork / "pipelines" / "fraud.yaml").read_text()


@pytest.mark.parametrize("existing", ["pipelines/fraud.yaml", "src/models/fraud", "data/fraud"])
def test_existing_model_is_never_overwritten(
    fork: Path, existing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any of spec, package or data folder already there: exit 2 naming it, nothing changed."""
    path = fork / existing
    if path.suffix:
        path.write_text("name: fraud  # mine\n")
    else:
        path.mkdir(parents=True)
        (path / "keep.txt").write_text("mine")
    before = _tree(fork)
    assert _modelops(fork, "new", "fraud") == 2
    err = capsys.readouterr().err
    assert existing in err and "refusing to overwrite" in err
    assert _tree(fork) == before


def test_written_files_hold_no_machine_local_path(fork: Path, tmp_path: Path) -> None:
    """What `new` writes (to be committed) names no absolute path of this machine."""
    assert _modelops(fork, "new", "fraud") == 0
    for rel, data in _tree(fork).items():
        text = data.decode()
        assert str(tmp_path) not in text and str(Path.home()) not in text, rel
        assert str(Path(sys.prefix)) not in text, rel
    # No toolkit sources in this fork: no editor schema line pointing outside the repository.
    assert "yaml-language-server" not in (fork / "pipelines" / "fraud.yaml").read_text()


def test_spec_points_editors_at_the_schema_inside_the_repository(tmp_path: Path) -> None:
    """In a checkout that holds the toolkit, the spec's first line names its schema file."""
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "src" / "modelops" / "schemas").mkdir(parents=True)
    (root / "src" / "modelops" / "schemas" / "pipeline.schema.json").write_text("{}")
    assert _modelops(root, "new", "fraud") == 0
    first = (root / "pipelines" / "fraud.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../src/modelops/schemas/pipeline.schema.json"


def test_sample_data_is_the_same_every_time() -> None:
    """A template's sample data comes from a seeded generator: the same bytes on every run."""
    for template in TEMPLATES:
        assert sample_csv(template) == sample_csv(template)
    assert sample_csv("sklearn-classifier") != sample_csv("sklearn-classifier", seed=1)


@pytest.mark.parametrize("template", TEMPLATES)
def test_rendered_templates_pass_the_team_lint_rules(tmp_path: Path, template: str) -> None:
    """The code a template writes passes ruff check and ruff format with the project's rules
    (docs/team-code.md), so `make lint TEAM=1` is green on a fresh model."""
    from modelops.scaffold import render_template

    out = tmp_path / "pkg"
    out.mkdir()
    values = {"name": "fraud", "owner": "@t", "title": "Fraud"}
    (out / "__init__.py").write_text(render_template(template, "model.py.tmpl", values))
    (out / "schema.py").write_text(render_template(template, "schema.py.tmpl", values))
    config = ["--config", str(REPO / "pyproject.toml")]
    for argv in (["check", *config, str(out)], ["format", "--check", *config, str(out)]):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *argv], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
