"""Batch scoring on Spark: `modelops predict MODEL --env ENV --engine spark`.

The driver resolves the model exactly as the one-machine `predict` does (the
environment's `live.json` in its store), fetches the bundle and verifies its tree
digest before loading it. The bundle's bytes and the model package's source (the
driver's checkout of `src/<package>`) travel with the job as one broadcast; each
executor process unpacks them into a folder of its own and verifies the digest
again before anything in the bundle is deserialised (it trusts no copy it did not
hash itself). Scoring is `DataFrame.mapInPandas`: every Arrow batch, split by the
file its rows came from, goes through `modelops.serve.Scorer.score`, the same
validate-and-score the one-machine engine runs on its chunks.

Input: a file or a folder of Parquet or CSV files (Spark's layout; `_` and `.`
files are skipped as Spark skips them). CSV is read by Spark as text and each
batch's types are inferred by pandas' own CSV reader, as the one-machine engine
reads CSV, so both engines see the same dtypes. Output: a folder of Parquet parts,
written to a hidden sibling folder and renamed into place only when the whole job
succeeded; a failed job leaves nothing under the target.

PySpark is optional (`pip install 'modelops[spark]'`) and imported only here.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from modelops.errors import (
    DataError,
    InputError,
    IntegrityError,
    ModelopsError,
    PromotionError,
    ServiceError,
    SpecError,
)
from modelops.fsutil import tree_files

if TYPE_CHECKING:
    from modelops.project import Project
    from modelops.serve import PredictResult, Scorer
    from modelops.spec import PipelineSpec

INSTALL_HINT = "install the extra: pip install 'modelops[spark]' (PySpark; it needs Java 17)"
DEFAULT_MASTER = "local[2]"
# The file each row came from (Spark's file metadata column), dropped before scoring.
FILE_COLUMN = "__modelops_file"
# Rows the driver scores first, with the model it verified, to learn the output schema.
SAMPLE_ROWS = 64
# An executor's ModelopsError crosses the JVM as this line (JSON after the mark).
ERROR_MARK = "MODELOPS-ERROR "
_ERRORS: dict[str, type[ModelopsError]] = {
    cls.__name__: cls
    for cls in (ModelopsError, InputError, SpecError, DataError, PromotionError, IntegrityError)
}


def require_pyspark() -> None:
    """Refuse `--engine spark` (exit 2) with the install line when PySpark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise InputError(
            "--engine spark needs PySpark, which is not installed",
            field="--engine",
            hint=INSTALL_HINT,
        ) from None


def spark_session(master: str | None) -> tuple[Any, bool]:
    """The active SparkSession (spark-submit, Databricks), or a new one; True when new.

    A new session takes `--master`, else the master spark-submit configured, else
    `local[2]`. A local master binds the driver to 127.0.0.1 and runs without the UI.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        if master and master != active.sparkContext.master:
            raise InputError(
                f"a Spark session is already active with master '{active.sparkContext.master}'",
                field="--master",
                hint="drop --master: inside spark-submit or Databricks the session decides",
            )
        return active, False
    builder = SparkSession.builder.appName("modelops predict")
    if not master and "PYSPARK_GATEWAY_PORT" in os.environ:
        # Started by spark-submit (its JVM launched this Python): its master and --conf hold.
        SparkContext._ensure_initialized()
        chosen = SparkConf().get("spark.master", DEFAULT_MASTER)
    else:
        chosen = master or DEFAULT_MASTER
        builder = builder.master(chosen)
        if chosen.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the JVM's own address
    # Task failures are reported once, as a modelops error; not as executor stack traces.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    builder = builder.config("spark.log.level", "OFF")
    if chosen.startswith("local"):
        # Local workers run this interpreter (its venv has modelops), unless told otherwise;
        # PySpark reads the variable when the context starts.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
        )
    return builder.getOrCreate(), True


# ----------------------------------------------------------------------------- driver


class _HadoopFS:
    """Paths through the cluster's Hadoop FileSystem (file://, hdfs://, s3a://, dbfs:/)."""

    def __init__(self, spark: Any) -> None:
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def qualified(self, uri: str) -> str:
        """`uri` made absolute on its filesystem (a relative path: under the working folder)."""
        path = self.path(uri)
        return str(path.getFileSystem(self._conf).makeQualified(path).toString())

    def fs(self, uri: str) -> Any:
        return self.path(uri).getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        return bool(self.fs(uri).exists(self.path(uri)))

    def is_file(self, uri: str) -> bool:
        return bool(self.fs(uri).getFileStatus(self.path(uri)).isFile())

    def files(self, uri: str) -> list[str]:
        """Every data file under `uri`, recursively; `_x` and `.x` names skipped as Spark does."""
        found = []
        listing = self.fs(uri).listFiles(self.path(uri), True)
        while listing.hasNext():
            path = listing.next().getPath()
            if not _hidden(str(path.getName())):
                found.append(str(path.toString()))
        return sorted(found)

    def has_data(self, uri: str) -> bool:
        fs = self.fs(uri)
        path = self.path(uri)
        if not fs.exists(path):
            return False
        if fs.getFileStatus(path).isFile():
            return True
        return len(fs.listStatus(path)) > 0

    def delete(self, uri: str) -> None:
        fs = self.fs(uri)
        if fs.exists(self.path(uri)):
            fs.delete(self.path(uri), True)

    def rename(self, source: str, dest: str) -> None:
        fs = self.fs(dest)
        parent = self.path(dest).getParent()
        if parent is not None:
            fs.mkdirs(parent)
        if not fs.rename(self.path(source), self.path(dest)):
            raise ServiceError(
                "could not move the finished output into place",
                file=dest,
                hint=f"the predictions are complete in {source}",
            )


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def _display(uri: str) -> str:
    """A local path for file:// URIs (as the one-machine engine names files), else the URI."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _local_path(uri: str) -> Path | None:
    """The local path of a plain path or a file:// URI; None for other schemes."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri) if not parsed.scheme or len(parsed.scheme) == 1 else None


def input_format(hfs: _HadoopFS, source: str) -> str:
    """`csv` or `parquet`: what the input holds; InputError (exit 2) naming what is wrong."""
    if not hfs.exists(source):
        raise InputError("input not found", file=source, hint="check the --input path")
    files = [source] if hfs.is_file(source) else hfs.files(source)
    if not files:
        raise InputError(
            "input folder holds no data files", file=source, hint="expected .csv or .parquet files"
        )
    kinds: dict[str, str] = {}
    for file in files:
        suffix = Path(urlparse(file).path).suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise InputError(
                f"unsupported input format '{suffix or '(none)'}'",
                file=_display(file),
                hint="the input holds .csv or .parquet files (one format)",
            )
        kinds.setdefault(suffix, file)
    if len(kinds) > 1:
        raise InputError(
            "input mixes CSV and Parquet files: "
            + ", ".join(_display(f) for f in sorted(kinds.values())),
            file=source,
            hint="score each format separately",
        )
    return next(iter(kinds))[1:]


def _zip_tree(root: Path, files: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(root).as_posix())
    return buffer.getvalue()


def pack_bundle(bundle_dir: Path) -> bytes:
    """The bundle's files as a zip (what its tree digest covers: regular files, no links)."""
    return _zip_tree(bundle_dir, tree_files(bundle_dir))


def pack_code(project: Project, spec: PipelineSpec) -> bytes:
    """The model package's source from the driver's checkout: `src/<top package>`."""
    src = project.models_src
    files: list[Path] = []
    for reference in (spec.entrypoint, spec.data_schema):
        top = reference.partition(":")[0].split(".")[0]
        if (src / top).is_dir():
            files += [
                f for f in tree_files(src / top) if "__pycache__" not in f.relative_to(src).parts
            ]
        elif (src / f"{top}.py").is_file():
            files.append(src / f"{top}.py")
    return _zip_tree(src, sorted(set(files)))


@dataclass(frozen=True)
class _Job:
    """What each executor needs besides the broadcast bytes (pickled with the function)."""

    token: str
    spec: PipelineSpec
    entry: dict[str, Any]
    csv: bool
    columns: tuple[str, ...] = ()


# -------------------------------------------------------------------------- executors

# This Python worker's verified model, by job token: unpacked and hashed by this process.
_LOADED: dict[str, tuple[Path, Scorer]] = {}


def _executor_scorer(job: _Job, payload: dict[str, bytes]) -> Scorer:
    """Unpack the shipped bundle and code, re-verify the digest, load; once per process."""
    from modelops.project import Project
    from modelops.serve import load_scorer

    if job.token in _LOADED:
        return _LOADED[job.token][1]
    for token, (folder, _scorer) in list(_LOADED.items()):
        shutil.rmtree(folder, ignore_errors=True)
        del _LOADED[token]
    folder = Path(tempfile.mkdtemp(prefix="modelops-spark-", dir=_worker_dir()))
    try:
        with zipfile.ZipFile(io.BytesIO(payload["bundle"])) as archive:
            archive.extractall(folder / "bundle")
        with zipfile.ZipFile(io.BytesIO(payload["code"])) as archive:
            archive.extractall(folder / "src")
        # load_verified hashes the unpacked tree against the digest the driver resolved.
        scorer = load_scorer(Project(folder), job.spec, folder / "bundle", job.entry)
    except IntegrityError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise IntegrityError(
            f"on an executor: {exc.message}",
            file=exc.file,
            field=exc.field,
            hint="the copy shipped to this executor is not the bundle the driver verified; "
            "nothing was loaded from it",
        ) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _LOADED[job.token] = (folder, scorer)
    return scorer


def _worker_dir() -> str | None:
    """Spark's own scratch folder of this executor (deleted when it stops), if known."""
    try:
        from pyspark import SparkFiles

        return str(SparkFiles.getRootDirectory())
    except Exception:
        return None


def _typed(part: Any) -> Any:
    """A batch of CSV text columns with the dtypes pandas' CSV reader gives them."""
    import pandas as pd

    return pd.read_csv(io.StringIO(part.to_csv(index=False)))


def score_batch(scorer: Scorer, job: _Job, batch: Any) -> Iterator[Any]:
    """The predictions of one Arrow batch, scored file by file (errors name the file)."""
    files = batch[FILE_COLUMN]
    batch = batch.drop(columns=[FILE_COLUMN])
    first = files.iloc[0] if len(files) else ""
    groups = (
        [(first, batch)] if (files == first).all() else batch.groupby(files.to_numpy(), sort=False)
    )
    for file, part in groups:
        if job.csv:
            part = _typed(part.reset_index(drop=True))
        scored = scorer.score(part, file=_display(str(file)), first_row=None)
        yield scored[list(job.columns)] if job.columns else scored


def _encode(exc: ModelopsError) -> str:
    fields = {"kind": type(exc).__name__, "message": exc.message, "file": exc.file}
    fields |= {"field": exc.field, "hint": exc.hint}
    return ERROR_MARK + json.dumps(fields)


def _partition_function(job: _Job, payload: Any) -> Callable[[Iterator[Any]], Iterator[Any]]:
    def score_partition(batches: Iterator[Any]) -> Iterator[Any]:
        try:
            scorer = _executor_scorer(job, payload.value)
            for batch in batches:
                yield from score_batch(scorer, job, batch)
        except ModelopsError as exc:
            raise RuntimeError(_encode(exc)) from None

    return score_partition


# ------------------------------------------------------------------------ error mapping


def _decode(text: str) -> ModelopsError | None:
    """The executor's ModelopsError carried in an exception text, fields checked."""
    at = text.find(ERROR_MARK)
    if at < 0:
        return None
    try:
        fields, _end = json.JSONDecoder().raw_decode(text, at + len(ERROR_MARK))
    except json.JSONDecodeError:
        return None
    if not isinstance(fields, dict):
        return None

    def text_of(key: str) -> str | None:
        value = fields.get(key)
        return value[:2000] if isinstance(value, str) else None

    cls = _ERRORS.get(str(fields.get("kind")), ModelopsError)
    return cls(
        text_of("message") or "an executor failed",
        file=text_of("file"),
        field=text_of("field"),
        hint=text_of("hint"),
    )


def _java_causes(exc: BaseException) -> Iterator[Any]:
    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    seen = 0
    while java is not None and seen < 20:
        yield java
        java = java.getCause()
        seen += 1


def job_error(exc: BaseException) -> ModelopsError:
    """A failed Spark job as one modelops error: the executor's own, a file Spark could not
    read (exit 2, naming file and column), or a service failure (exit 4)."""
    carried = _decode(str(exc))
    if carried is not None:
        return carried
    for java in _java_causes(exc):
        carried = _decode(str(java.toString()))
        if carried is not None:
            return carried
        condition = str(java.getCondition()) if hasattr(java, "getCondition") else ""
        condition = "" if condition == "None" else condition
        if condition.startswith(("FAILED_READ_FILE", "MALFORMED_CSV", "CANNOT_READ")):
            params = {str(k): str(v) for k, v in dict(java.getMessageParameters() or {}).items()}
            cause = java.getCause()
            detail = str(cause.getMessage() if cause is not None else java.getMessage())
            detail = detail.splitlines()[0][:300]
            if "actualType" in params and "expectedType" in params:
                detail = (
                    f"its column is {params['actualType']}, the input's schema (Spark takes "
                    f"it from one file) has {params['expectedType']}"
                )
            return DataError(
                f"Spark cannot read the file ({condition}): {detail}",
                file=_display(str(params.get("path", ""))) or None,
                field=params.get("column", "").strip("[]`") or None,
                hint="every file of the input must have the model's columns and types",
            )
    return ServiceError(
        f"the Spark job failed: {_python_error(str(exc))}", hint="see the Spark logs"
    )


def _python_error(text: str) -> str:
    """The exception line of the last Python traceback in `text`, else its first line."""
    lines = text.strip().splitlines() or ["(no message)"]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if starts:
        frames = []
        for line in lines[starts[-1] + 1 :]:
            if not line.strip() or line.startswith(("\tat ", "\t...")):
                break
            frames.append(line)
        if frames:
            return frames[-1].strip()[:300]
    return lines[0].strip()[:300]


def csv_header_problem(
    spark: Any, hfs: _HadoopFS, source: str, features: list[str]
) -> DataError | None:
    """After Spark refused a CSV header: the file whose header lacks a model column, or
    differs from the first file's. Spark compares every header with one file's, so its
    own error may name a good file when the bad one set the columns."""
    files = [source] if hfs.is_file(source) else hfs.files(source)
    headers = [(file, list(spark.read.option("header", True).csv(file).columns)) for file in files]
    for file, columns in headers:
        missing = [f for f in features if f not in columns]
        if missing:
            return DataError(
                f"the CSV header lacks the model's column(s) {missing} (it has {columns})",
                file=_display(file),
                field=missing[0],
                hint="every file of the input must have the model's columns",
            )
    first_file, first = headers[0]
    for file, columns in headers[1:]:
        if columns != first:
            return DataError(
                f"the CSV header {columns} differs from {_display(first_file)}'s {first}",
                file=_display(file),
                hint="Spark reads a folder of CSV files with one header: same columns, "
                "same order in every file",
            )
    return None


# ------------------------------------------------------------------------------- entry


def _sample_schema(frame: Any, scorer: Scorer, job: _Job, source: str) -> tuple[Any, list[str]]:
    """Score the first rows on the driver; the Spark schema and columns of the output."""
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    sample = frame.limit(SAMPLE_ROWS).toArrow().to_pandas()
    if sample.empty:
        raise DataError("input has no rows", file=source)
    scored = pd.concat(list(score_batch(scorer, job, sample)), ignore_index=True)
    schema = pa.Schema.from_pandas(scored, preserve_index=False)
    return from_arrow_schema(schema), [str(c) for c in scored.columns]


def predict_spark(
    project: Project,
    model: str,
    env: str,
    source: str,
    output: str,
    *,
    master: str | None = None,
    overwrite: bool = False,
    chunk_size: int = 100_000,
) -> PredictResult:
    """Score `source` on Spark with the bundle `env` serves; commit `output` only on success."""
    from modelops.serve import PredictResult, live_entry, load_scorer
    from modelops.spec import load_pipeline

    require_pyspark()
    if chunk_size < 1:
        raise InputError("must be at least 1", field="--chunk-size")
    spec = load_pipeline(project, model)
    store, entry = live_entry(project, model, env)
    local = _local_path(source)
    if local is not None and not local.exists():  # before a JVM starts for nothing
        raise InputError("input not found", file=source, hint="check the --input path")
    # Before the model's schema is imported: pandera, on import, sets SPARK_LOCAL_IP
    # to 127.0.0.1 when PySpark is installed, which a cluster driver must not inherit.
    spark, owned = spark_session(master)
    conf_key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    previous = spark.conf.get(conf_key, None)
    payload = None
    hfs = _HadoopFS(spark)
    staging = ""
    try:
        target = hfs.qualified(output)
        parent = hfs.path(target).getParent()
        if parent is None:
            raise InputError("--output must be a folder below a parent folder", file=output)
        name = hfs.path(target).getName()
        staging = f"{parent.toString()}/.{name}.modelops-{uuid.uuid4().hex[:12]}"
        kind = input_format(hfs, source)
        if hfs.exists(target) and hfs.is_file(target):
            raise InputError(
                "--output is a file; the Spark engine writes a folder of Parquet parts",
                file=output,
                field="--output",
            )
        if hfs.has_data(target) and not overwrite:
            raise InputError(
                "output folder already holds data",
                file=output,
                field="--output",
                hint="pass --overwrite to replace it, or choose another folder",
            )
        with tempfile.TemporaryDirectory(prefix="modelops-spark-") as tmp:
            bundle_dir = store.fetch_bundle(model, entry["sha256"], Path(tmp))
            scorer = load_scorer(project, spec, bundle_dir, entry)  # verified on the driver
            shipped = {"bundle": pack_bundle(bundle_dir), "code": pack_code(project, spec)}
        payload = spark.sparkContext.broadcast(shipped)
        job = _Job(uuid.uuid4().hex, spec, scorer.entry, kind == "csv")
        try:
            reader = spark.read
            if kind == "csv":
                # Text columns (pandas types them per batch); each file's header checked by name.
                reader = reader.option("header", True).option("enforceSchema", False)
                reader = reader.option("inferSchema", False)
            frame = reader.format(kind).load(source)
            frame = frame.select("*", frame["_metadata.file_path"].alias(FILE_COLUMN))
            labelled = spec.target in frame.columns
            out_schema, columns = _sample_schema(frame, scorer, job, source)
            job = _Job(job.token, spec, scorer.entry, job.csv, tuple(columns))
            spark.conf.set(conf_key, str(chunk_size))
            scored = frame.mapInPandas(_partition_function(job, payload), out_schema)
            scored.write.mode("errorifexists").parquet(staging)
            rows = int(spark.read.parquet(staging).count())
        except ModelopsError:
            raise
        except Exception as exc:
            error = job_error(exc)
            if kind == "csv" and "CSV header" in error.message:
                error = csv_header_problem(spark, hfs, source, scorer.features) or error
            raise error from None
        # A rename onto an existing folder would move the parts inside it: clear the way.
        if hfs.has_data(target):  # only with --overwrite (checked above)
            backup = f"{staging}.old"
            hfs.rename(target, backup)
            try:
                hfs.rename(staging, target)
            except BaseException:
                hfs.rename(backup, target)  # the previous output back in place
                raise
            hfs.delete(backup)
        else:
            hfs.delete(target)  # an empty folder, if any
            hfs.rename(staging, target)
    finally:
        if staging:
            hfs.delete(staging)
        if payload is not None:
            payload.destroy()
        if previous is None:
            spark.conf.unset(conf_key)
        else:
            spark.conf.set(conf_key, previous)
        master_url = str(spark.sparkContext.master)
        if owned:
            spark.stop()
    outcome = {
        "model": model,
        "env": env,
        "engine": "spark",
        "master": master_url,
        "version": entry["version"],
        "sha256": entry["sha256"],
        "input": source,
        "output": output,
        "rows": rows,
        "chunk_size": chunk_size,
        "target_ignored": spec.target if labelled else None,
    }
    return PredictResult(
        command="predict",
        subject=model,
        data=outcome,
        summary=[
            f"{model}: scored {rows} row(s) on Spark ({master_url}) with v{entry['version']} "
            f"from {env} (sha256 {entry['sha256'][:12]} verified on the driver and on every "
            f"executor) → {output}",
            *([f"the target column '{spec.target}' was ignored (labels)"] if labelled else []),
        ],
    )
