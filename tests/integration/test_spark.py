"""`modelops predict --engine spark` on a real local Spark (`local[2]`, one JVM per session).

The model is the toy project's, with a row-wise predict (each row's score depends on
that row alone), so the Spark engine must give exactly the one-machine engine's rows.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the spark extra: pip install -e '.[spark]'")

from gitopsproject import (
    ENVIRONMENTS,
    cli_process,
    commit,
    forget_models,
    modelops,
    register_version,
)
from toyproject import TOY_SPEC, git_commit_all, write_toy

from modelops.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROW_WISE_MODEL = '''
"""A row-wise toy model: a row's probabilities depend on its own x only."""
import json
from pathlib import Path

import pandas as pd

def train(data, params, context):
    return {"classes": [0, 1], "slope": float(params.get("bias", 0.6))}

def predict(model, data):
    p1 = (0.2 + model["slope"] * data["x"].clip(0, 1)).round(6)
    out = pd.DataFrame({"proba_0": 1 - p1, "proba_1": p1}, index=data.index)
    out.insert(0, "prediction", (p1 >= 0.5).astype("int64"))
    return out

def save(model, directory):
    (Path(directory) / "model.json").write_text(json.dumps(model))

def load(directory):
    return json.loads((Path(directory) / "model.json").read_text())
'''

_ISOLATED = ("MLFLOW_TRACKING_URI", "MODELOPS_STORE", "MODELOPS_HOME", "MODELOPS_PROJECT")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for the whole test session, bound to 127.0.0.1."""
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as mp:
        # The Python workers run this interpreter (the venv with modelops and pyarrow).
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("modelops-tests")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("OFF")
        yield session
        session.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The toy project with the row-wise model, v1 promoted to dev and deployed there."""
    tmp = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as mp:
        for var in _ISOLATED:
            mp.delenv(var, raising=False)
        root = tmp / "proj"
        spec = TOY_SPEC.replace("  target: y\n", "  target: y\n  id_column: id\n")
        write_toy(root, spec=spec)
        (root / "src" / "models" / "toy" / "__init__.py").write_text(ROW_WISE_MODEL)
        rows = ["id,x,y"] + [f"{i},{i / 200:.4f},{int(i % 3 == 0)}" for i in range(200)]
        (root / "data" / "toy" / "toy.csv").write_text("\n".join(rows) + "\n")
        shutil.copytree(ENVIRONMENTS, root / "environments")
        git_commit_all(root, "row-wise toy")
        proj = Project(root)
        register_version(proj, tmp)
        assert modelops(proj, "promote", "toy", "--to", "dev") == 0
        commit(proj, "dev v1")
        assert modelops(proj, "deploy", "dev") == 0
        yield proj
    forget_models()


@pytest.fixture(scope="module")
def churn(sample_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The sample's churn model (scikit-learn, skops) trained, registered and deployed to dev."""
    root = tmp_path_factory.mktemp("churn") / "proj"
    with pytest.MonkeyPatch.context() as mp:
        for var in _ISOLATED:
            mp.delenv(var, raising=False)
        shutil.copytree(sample_project, root, ignore=shutil.ignore_patterns("__pycache__"))
        (root / ".gitignore").write_text(".modelops/\n__pycache__/\n")
        git_commit_all(root, "sample")
        proj = Project(root)
        for step in ("train", "evaluate", "register"):
            assert modelops(proj, step, "churn") == 0, step
        assert modelops(proj, "promote", "churn", "--to", "dev") == 0
        commit(proj, "dev: churn v1")
        assert modelops(proj, "deploy", "dev") == 0
        forget_models()
        yield proj
    forget_models()


def _frame(start: int, rows: int, *, labelled: bool = False) -> Any:
    import pandas as pd

    ids = list(range(start, start + rows))
    frame = pd.DataFrame({"id": ids, "x": [(i * 37 % 1000) / 997 for i in ids]})
    if labelled:
        frame["y"] = [i % 2 for i in ids]
    return frame


def _predict(project: Project, source: Path, output: Path, *extra: str) -> int:
    """`modelops predict toy --env dev --engine spark`; the exit code."""
    return modelops(
        project,
        "predict",
        "toy",
        "--env",
        "dev",
        "--engine",
        "spark",
        "--input",
        str(source),
        "--output",
        str(output),
        *extra,
    )


def _leftovers(folder: Path) -> list[str]:
    """Staging folders a job left beside its target."""
    return sorted(p.name for p in folder.glob(".*.modelops-*"))


def _sorted(frame: Any) -> Any:
    return frame.drop(columns=["scored_at"]).sort_values("id").reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_spark_scores_exactly_the_rows_of_the_one_machine_engine(
    spark: Any, project: Project, tmp_path: Path, fmt: str
) -> None:
    """Three input files scored on Spark give the one-machine engine's rows, values and dtypes."""
    import pandas as pd

    folder = tmp_path / "in"
    folder.mkdir()
    parts = [_frame(0, 700, labelled=True), _frame(700, 500), _frame(1200, 300)]
    parts[1]["y"] = [0] * 500
    parts[2]["y"] = [1] * 300
    for n, part in enumerate(parts):
        if fmt == "csv":
            part.to_csv(folder / f"part-{n}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{n}.parquet", index=False)
    whole = tmp_path / f"whole.{fmt}"
    everything = pd.concat(parts, ignore_index=True)
    if fmt == "csv":
        everything.to_csv(whole, index=False)
    else:
        everything.to_parquet(whole, index=False)

    one_machine = tmp_path / "one.parquet"
    assert modelops(project, "predict", "toy", "--env", "dev", "--input", str(whole),
                    "--output", str(one_machine)) == 0  # fmt: skip
    out = tmp_path / "scores"
    assert _predict(project, folder, out, "--chunk-size", "256") == 0

    expected = _sorted(pd.read_parquet(one_machine))
    got = _sorted(pd.read_parquet(out))
    assert len(got) == 1500
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".parquet")  # Parquet parts
    assert _leftovers(tmp_path) == []
    result = json.loads((project.results_dir("toy") / "predict.json").read_text())
    assert result["rows"] == 1500 and result["engine"] == "spark"


def _bad_parquet(folder: Path) -> Path:
    """Three Parquet files; the second holds x as text."""
    _frame(0, 100).to_parquet(folder / "a.parquet", index=False)
    bad = _frame(100, 100)
    bad["x"] = bad["x"].astype(str)
    bad.to_parquet(folder / "b.parquet", index=False)
    _frame(200, 100).to_parquet(folder / "c.parquet", index=False)
    return folder / "b.parquet"


def _bad_csv_value(folder: Path) -> Path:
    """Three CSV files; the third has a value in x that is not a number."""
    _frame(0, 100).to_csv(folder / "a.csv", index=False)
    _frame(100, 100).to_csv(folder / "b.csv", index=False)
    bad = _frame(200, 100)
    bad["x"] = bad["x"].astype(str)
    bad.loc[57, "x"] = "not-a-number"
    bad.to_csv(folder / "c.csv", index=False)
    return folder / "c.csv"


def _bad_csv_column(folder: Path) -> Path:
    """Three CSV files; the second names its feature column `z` instead of `x`."""
    _frame(0, 100).to_csv(folder / "a.csv", index=False)
    _frame(100, 100).rename(columns={"x": "z"}).to_csv(folder / "b.csv", index=False)
    _frame(200, 100).to_csv(folder / "c.csv", index=False)
    return folder / "b.csv"


@pytest.mark.parametrize(
    ("make", "column"),
    [(_bad_parquet, "x"), (_bad_csv_value, "x"), (_bad_csv_column, "x")],
    ids=["parquet-dtype", "csv-value", "csv-column"],
)
def test_a_malformed_file_fails_the_job_naming_it_and_writes_nothing(
    spark: Any, project: Project, tmp_path: Path, capsys: Any, make: Any, column: str
) -> None:
    """One bad file among three: exit 2, the file and column named, no output, no staging."""
    folder = tmp_path / "in"
    folder.mkdir()
    bad = make(folder)
    out = tmp_path / "scores"
    assert _predict(project, folder, out) == 2
    err = capsys.readouterr().err
    assert str(bad) in err, err
    assert f"field '{column}'" in err or f"column {column}" in err or f"[{column}]" in err, err
    assert "Traceback" not in err
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_a_bundle_altered_in_transit_is_refused_on_the_executors(
    spark: Any, project: Project, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes changed after the driver verified them: each executor re-hashes and refuses them."""
    from modelops import sparkscore

    original = sparkscore.pack_bundle

    def altered(bundle_dir: Path) -> bytes:
        source = zipfile.ZipFile(io.BytesIO(original(bundle_dir)))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as out:
            for info in source.infolist():
                data = source.read(info)
                if info.filename == "model/model.json":
                    data = data.replace(b'"slope": 0.6', b'"slope": 0.9')
                    assert b"0.9" in data
                out.writestr(info, data)
        return buffer.getvalue()

    monkeypatch.setattr(sparkscore, "pack_bundle", altered)
    folder = tmp_path / "in"
    folder.mkdir()
    _frame(0, 50).to_parquet(folder / "a.parquet", index=False)
    out = tmp_path / "scores"
    assert _predict(project, folder, out) == 2
    err = capsys.readouterr().err
    # The refusal names the executor's own unpacked copy, not the driver's.
    assert "digest" in err and "modelops-spark-" in err, err
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_an_output_folder_with_data_needs_overwrite(
    spark: Any, project: Project, tmp_path: Path, capsys: Any
) -> None:
    """Existing output: exit 2 and untouched without --overwrite; replaced with it; an empty
    folder is simply filled."""
    import pandas as pd

    source = tmp_path / "batch.parquet"
    _frame(0, 40).to_parquet(source, index=False)
    out = tmp_path / "scores"
    out.mkdir()
    (out / "keep.txt").write_text("earlier run\n")
    assert _predict(project, source, out) == 2
    assert "already holds data" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "earlier run\n"

    assert _predict(project, source, out, "--overwrite") == 0
    assert not (out / "keep.txt").exists()
    assert len(pd.read_parquet(out)) == 40
    assert _leftovers(tmp_path) == []

    empty = tmp_path / "empty"
    empty.mkdir()
    assert _predict(project, source, empty) == 0  # an empty folder holds no data
    assert sorted(p.suffix for p in empty.iterdir() if not p.name.startswith(("_", ".")))
    assert all(p.is_file() for p in empty.iterdir())  # the parts, not a folder of them
    assert len(pd.read_parquet(empty)) == 40


def test_a_missing_input_is_refused(
    spark: Any, project: Project, tmp_path: Path, capsys: Any
) -> None:
    """An --input that does not exist: exit 2 naming it; no output folder appears."""
    out = tmp_path / "scores"
    assert _predict(project, tmp_path / "nowhere", out) == 2
    err = capsys.readouterr().err
    assert "input not found" in err and "nowhere" in err
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_churn_example_scores_identically_on_both_engines(
    spark: Any, churn: Project, tmp_path: Path, fmt: str
) -> None:
    """Text, integer and nullable columns (scikit-learn via skops): the same rows on both."""
    import pandas as pd

    data = pd.read_csv(churn.root / "data" / "churn" / "customers.csv").head(1200)
    folder = tmp_path / "in"
    folder.mkdir()
    for n, start in enumerate(range(0, 1200, 400)):
        part = data.iloc[start : start + 400]
        if fmt == "csv":
            part.to_csv(folder / f"part-{n}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{n}.parquet", index=False)
    whole = tmp_path / f"whole.{fmt}"
    if fmt == "csv":
        data.to_csv(whole, index=False)
    else:
        data.to_parquet(whole, index=False)
    one_machine = tmp_path / "one.parquet"
    assert modelops(churn, "predict", "churn", "--env", "dev", "--input", str(whole),
                    "--output", str(one_machine)) == 0  # fmt: skip
    out = tmp_path / "scores"
    assert modelops(churn, "predict", "churn", "--env", "dev", "--engine", "spark",
                    "--input", str(folder), "--output", str(out)) == 0  # fmt: skip

    def rows(path: Path) -> Any:
        frame = pd.read_parquet(path).drop(columns=["scored_at"])
        return frame.sort_values("customer_id").reset_index(drop=True)

    expected, got = rows(one_machine), rows(out)
    assert len(got) == 1200 and got["customer_id"].is_unique
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_the_command_starts_its_own_local_session_when_none_is_active(
    project: Project, tmp_path: Path
) -> None:
    """`modelops predict --engine spark` as its own process: a local[2] session, clean stderr."""
    import pandas as pd

    source = tmp_path / "batch.parquet"
    _frame(0, 30).to_parquet(source, index=False)
    out = tmp_path / "scores"
    proc = cli_process(
        project, "predict", "toy", "--env", "dev", "--engine", "spark",
        "--input", str(source), "--output", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "on Spark (local[2])" in proc.stdout
    assert "Traceback" not in proc.stderr and "FutureWarning" not in proc.stderr
    assert len(pd.read_parquet(out)) == 30


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "input folder holds no data files"),
        (["_SUCCESS", ".hidden.parquet"], "input folder holds no data files"),
        (["a.parquet", "b.csv"], "input mixes CSV and Parquet files"),
        (["a.parquet", "notes.txt"], "unsupported input format '.txt'"),
        (["header-only.csv"], "input has no rows"),
    ],
    ids=["empty", "only-hidden", "mixed", "other-format", "no-rows"],
)
def test_an_input_folder_spark_cannot_score_is_refused(
    spark: Any, project: Project, tmp_path: Path, capsys: Any, files: list[str], message: str
) -> None:
    """A folder with no data files, two formats or another format: exit 2, nothing written."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in files:
        if name.endswith(".parquet"):
            _frame(0, 5).to_parquet(folder / name, index=False)
        elif name.startswith("header-only"):
            (folder / name).write_text("id,x\n")
        else:
            (folder / name).write_text("id,x\n1,0.5\n")
    out = tmp_path / "scores"
    assert _predict(project, folder, out) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert _leftovers(tmp_path) == []
