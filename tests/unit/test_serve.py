"""`modelops predict`: digest-verified, schema-validated, chunked batch scoring; safe loading."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitopsproject import commit, forget_models, make_project, modelops, register_version

from modelops.fsutil import tree_digest
from modelops.project import Project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj")
    monkeypatch.chdir(proj.root)
    register_version(proj, tmp_path)
    assert modelops(proj, "promote", "toy", "--to", "dev") == 0
    commit(proj, "dev v1")
    assert modelops(proj, "deploy", "dev") == 0
    yield proj
    forget_models()


def _predict(project: Project, source: Path, output: Path, *extra: str) -> int:
    """`modelops predict toy --env dev` from `source` to `output`; the exit code."""
    return modelops(
        project,
        "predict",
        "toy",
        "--env",
        "dev",
        "--input",
        str(source),
        "--output",
        str(output),
        *extra,
    )


def _bundle(project: Project) -> Path:
    live = json.loads((project.state_dir / "serving" / "dev" / "live.json").read_text())
    return project.state_dir / "serving" / "dev" / "bundles" / "toy" / live["toy"]["sha256"]


class _Exploit:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (str(self.marker),))


def test_predict_streams_chunks_and_keeps_row_count(project: Project, tmp_path: Path) -> None:
    """Scoring in chunks of 7 rows writes one prediction per input row, target optional."""
    rows = "\n".join(f"{i / 50:.3f}" for i in range(50))
    source = tmp_path / "batch.csv"
    source.write_text("x\n" + rows + "\n")
    out = tmp_path / "out" / "scores.csv"
    assert _predict(project, source, out, "--chunk-size", "7") == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction,proba_0,proba_1,model_version,model_sha256,scored_at"
    assert len(lines) == 51


def test_every_prediction_names_its_version_digest_and_time(
    project: Project, tmp_path: Path
) -> None:
    """Each row carries the live version, its bundle sha256 and a UTC scoring time."""
    from datetime import UTC, datetime, timedelta

    import pandas as pd

    source = tmp_path / "batch.csv"
    source.write_text("x\n0.1\n0.2\n0.3\n")
    out = tmp_path / "scores.csv"
    before = datetime.now(UTC).replace(microsecond=0)
    assert _predict(project, source, out, "--chunk-size", "2") == 0
    frame = pd.read_csv(out)
    live = json.loads((project.state_dir / "serving" / "dev" / "live.json").read_text())["toy"]
    assert frame["model_version"].tolist() == [live["version"]] * 3
    assert frame["model_sha256"].tolist() == [live["sha256"]] * 3
    scored = pd.to_datetime(frame["scored_at"], utc=True)
    assert scored.min() >= before and scored.max() <= datetime.now(UTC) + timedelta(seconds=1)


def test_predict_parquet_round_trip(project: Project, tmp_path: Path) -> None:
    """Parquet input is read by record batches and Parquet output written incrementally."""
    import pandas as pd

    source = tmp_path / "batch.parquet"
    pd.DataFrame({"x": [i / 30 for i in range(30)], "y": [i % 2 for i in range(30)]}).to_parquet(
        source, row_group_size=8
    )
    out = tmp_path / "scores.parquet"
    assert _predict(project, source, out, "--chunk-size", "8") == 0
    assert len(pd.read_parquet(out)) == 30


def test_bad_input_names_the_column_and_writes_nothing(
    project: Project, tmp_path: Path, capsys
) -> None:
    """A chunk that fails the schema ends with exit 2 naming the column; no output file remains."""
    source = tmp_path / "batch.csv"
    source.write_text("x\n0.1\n0.2\n0.3\nnot-a-number\n")
    out = tmp_path / "scores.csv"
    assert _predict(project, source, out, "--chunk-size", "2") == 2
    err = capsys.readouterr().err
    assert "field 'x'" in err and "batch.csv" in err
    assert not out.exists()
    assert list(tmp_path.glob(".scores.csv.*")) == []


def test_altered_served_bundle_is_refused_before_loading(
    project: Project, tmp_path: Path, capsys
) -> None:
    """A pickle planted in the served bundle is never unpickled: the digest check refuses first."""
    marker = tmp_path / "pwned"
    model_file = _bundle(project) / "model" / "model.json"
    model_file.write_bytes(pickle.dumps(_Exploit(marker)))
    source = tmp_path / "batch.csv"
    source.write_text("x\n0.5\n")
    assert _predict(project, source, tmp_path / "o.csv") == 2
    assert "digest" in capsys.readouterr().err
    assert not marker.exists()


def test_pickle_with_matching_digest_is_still_refused(
    project: Project, tmp_path: Path, capsys
) -> None:
    """Even with live.json re-pointed at the pickle's digest, the loader refuses pickle files."""
    marker = tmp_path / "pwned"
    bundle = _bundle(project)
    (bundle / "model" / "model.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    forged = tree_digest(bundle)
    bundle.rename(bundle.parent / forged)
    live_path = project.state_dir / "serving" / "dev" / "live.json"
    live = json.loads(live_path.read_text())
    live["toy"]["sha256"] = forged
    live_path.write_text(json.dumps(live))
    source = tmp_path / "batch.csv"
    source.write_text("x\n0.5\n")
    assert _predict(project, source, tmp_path / "o.csv") == 2
    assert "pickle" in capsys.readouterr().err
    assert not marker.exists()
    # status sees that the served bundle is not the one git pins.
    assert modelops(project, "status", "--env", "dev") == 3
    assert "live is v1, git wants v1" in capsys.readouterr().out


def test_predict_refuses_an_environment_without_the_model(
    project: Project, tmp_path: Path, capsys
) -> None:
    """Scoring from an environment that does not serve the model is refused with a hint."""
    source = tmp_path / "batch.csv"
    source.write_text("x\n0.5\n")
    assert (
        modelops(
            project,
            "predict",
            "toy",
            "--env",
            "prod",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o.csv"),
        )
        == 2
    )
    assert "not deployed in 'prod'" in capsys.readouterr().err


def test_read_chunks_bounds_rows_in_memory(tmp_path: Path) -> None:
    """CSV and Parquet inputs arrive in chunks of at most chunk_size rows, covering every row."""
    import pandas as pd

    from modelops.serve import read_chunks

    frame = pd.DataFrame({"x": [i / 1000 for i in range(1000)]})
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_parquet(tmp_path / "in.parquet", row_group_size=1000)
    for name in ("in.csv", "in.parquet"):
        sizes = [len(chunk) for chunk in read_chunks(tmp_path / name, 64)]
        assert max(sizes) == 64 and sum(sizes) == 1000, name


def test_read_chunks_memory_does_not_grow_with_the_row_groups(tmp_path: Path) -> None:
    """Arrow memory while reading a Parquet file stays about one row group, however many."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from modelops.serve import read_chunks

    rng = np.random.default_rng(0)
    # Random floats do not compress: each of the 20 row groups is 1.28 MB, the file 25.6 MB.
    frame = pd.DataFrame(rng.random((400_000, 8)), columns=[f"x{i}" for i in range(8)])
    path = tmp_path / "groups.parquet"
    frame.to_parquet(path, row_group_size=20_000)
    del frame
    before = pa.total_allocated_bytes()
    peak = rows = 0
    for chunk in read_chunks(path, 5000):
        rows += len(chunk)
        peak = max(peak, pa.total_allocated_bytes() - before)
    assert rows == 400_000
    assert peak < 8 * 2**20  # a few row groups, not the 25.6 MB of them all


def test_spark_engine_without_pyspark_says_how_to_install_it(
    project: Project, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--engine spark` where PySpark cannot be imported: exit 2 with the install line."""
    import sys

    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` raises ImportError
    source = tmp_path / "batch.csv"
    source.write_text("x\n0.5\n")
    assert _predict(project, source, tmp_path / "out", "--engine", "spark") == 2
    err = capsys.readouterr().err
    assert "needs PySpark" in err and "pip install 'modelops[spark]'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", [["--master", "local[1]"], ["--overwrite"]])
def test_spark_only_flags_are_refused_with_the_local_engine(
    project: Project, tmp_path: Path, capsys, flag: list[str]
) -> None:
    """--master and --overwrite belong to --engine spark; the local engine refuses them."""
    source = tmp_path / "batch.csv"
    source.write_text("x\n0.5\n")
    assert _predict(project, source, tmp_path / "o.csv", *flag) == 2
    assert "only with --engine spark" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_a_failed_spark_job_reports_the_python_error_line() -> None:
    """A crash inside the team's predict on an executor is reported by its exception line."""
    from modelops.sparkscore import job_error

    text = (
        "An error occurred while calling o91.parquet.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure\n"
        "Caused by: org.apache.spark.api.python.PythonException: Traceback (most recent call "
        "last):\nTraceback (most recent call last):\n"
        '  File "/src/models/toy/__init__.py", line 9, in predict\n'
        "    raise ValueError('model exploded')\n"
        "ValueError: model exploded\n"
        "\tat org.apache.spark.api.python.BasePythonRunner.handle(PythonRunner.scala:1)\n"
    )
    error = job_error(RuntimeError(text))
    assert error.exit_code == 4
    assert error.message == "the Spark job failed: ValueError: model exploded"
