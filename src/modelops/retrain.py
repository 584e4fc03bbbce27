"""`modelops retrain`: point a model's spec at the newest labelled data snapshot, for a PR.

When `drift` or `monitor` finds a problem, the scheduled workflow calls this with
where labelled snapshots land (a file, a folder of dated files, or an `s3://`
object). If the newest snapshot differs from the data the champion (the
environment's manifest, `data_sha256`) was trained on, the spec's `data.path`
and `data.sha256` are rewritten, comments and layout kept, and a pull-request
body is written: the ordinary PR path then trains, compares with the champion and
reports. Otherwise nothing is changed and an issue body says that no newer
labelled data exists. The result's `action` (`pr` or `issue`) tells the workflow
which to open; it never pushes or calls GitHub itself.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelops.errors import InputError
from modelops.fsutil import atomic_write_text, read_text, sha256_file
from modelops.project import Project
from modelops.results import CommandResult
from modelops.spec import PipelineSpec, load_pipeline, require_manifest, validate_document

SNAPSHOT_SUFFIXES = (".csv", ".parquet")
TRIGGERS = ("drift", "monitor", "manual")
_SAFE_LOCATION = re.compile(r"^(s3://)?[A-Za-z0-9._/+=@-]+$")


def newest_snapshot(project: Project, location: str) -> tuple[str, Path | None]:
    """The snapshot `location` names: an `s3://` object, a file, or the last file of a folder.

    A folder's snapshots are ordered by name (date them: `2026-11-01.csv`), which is
    the same on every clone; modification times are not.
    """
    if not _SAFE_LOCATION.fullmatch(location):
        raise InputError(
            "a snapshot location is letters, digits and . _ - / + = @ only",
            file=location,
            field="--snapshot",
            hint="it is written into the spec and the pull request",
        )
    if location.startswith("s3://"):
        if not location.removeprefix("s3://").partition("/")[2]:
            raise InputError("an s3:// snapshot names one object", field="--snapshot")
        return location, None
    path = (project.root / location).resolve()
    if not path.is_relative_to(project.root.resolve()):
        raise InputError(
            "a local snapshot must be inside the repository",
            file=location,
            field="--snapshot",
            hint="the spec names data by a path the PR commits, or an s3:// URI",
        )
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SNAPSHOT_SUFFIXES)
        if not files:
            raise InputError(
                "no .csv or .parquet snapshot in the folder", file=location, field="--snapshot"
            )
        path = files[-1]
    elif not path.is_file():
        raise InputError("snapshot not found", file=location, field="--snapshot")
    if path.suffix.lower() not in SNAPSHOT_SUFFIXES:
        raise InputError(
            f"unsupported snapshot format '{path.suffix}'",
            file=location,
            field="--snapshot",
            hint="use .csv or .parquet",
        )
    return path.relative_to(project.root.resolve()).as_posix(), path


def snapshot_digest(project: Project, spec: PipelineSpec, uri: str, local: Path | None) -> str:
    """sha256 of the snapshot's bytes (an `s3://` object is downloaded to a temporary file)."""
    if local is not None:
        return sha256_file(local)
    import tempfile

    from modelops.data.read import _download

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    with tempfile.TemporaryDirectory(prefix="modelops-snapshot-") as tmp:
        target = Path(tmp) / "snapshot"
        with target.open("wb") as fh:
            _download(bucket, key, fh, replace(spec, data_path=uri))
        return sha256_file(target)


def _rewritten_spec(spec_file: Path, uri: str, digest: str) -> str:
    """The spec's text with data.path and data.sha256 set; every other line kept."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    doc = yaml.load(read_text(spec_file, what="pipeline spec"))
    data = doc["data"]
    data["path"] = uri
    if "sha256" in data:
        data["sha256"] = digest
    else:  # right under path, not after the section's trailing blank line
        data.insert(list(data).index("path") + 1, "sha256", digest)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


@dataclass
class RetrainResult(CommandResult):
    """`action`: `pr` (the spec now names the snapshot) or `issue` (nothing newer)."""

    @property
    def action(self) -> str:
        return str(self.data["action"])


def _trigger_report(project: Project, model: str, env: str, trigger: str) -> str:
    path = project.state_dir / "reports" / model / f"{trigger}-{env}.md"
    if trigger == "manual" or not path.is_file():
        return ""
    return "\n## What triggered it\n\n" + read_text(path, what=f"{trigger} report")


def _exists(project: Project, location: str) -> bool:
    """Whether a snapshot location is there, or is not ours to call missing (an s3:// URI, a
    path outside the repository: `newest_snapshot` looks it up or refuses it)."""
    path = (project.root / location).resolve()
    if location.startswith("s3://") or not path.is_relative_to(project.root.resolve()):
        return True
    return path.exists()


def retrain_pull_request(
    project: Project,
    model: str,
    snapshot: str,
    *,
    env: str = "prod",
    trigger: str = "manual",
    missing_ok: bool = False,
) -> RetrainResult:
    """Point MODEL's spec at the newest snapshot under `snapshot` if it is newer than ENV's data.

    `missing_ok` (the scheduled workflow): a local location that does not exist yet means
    no newer snapshot (action `issue`), not bad input.
    """
    if trigger not in TRIGGERS:
        raise InputError(
            f"unknown trigger '{trigger}'", field="--trigger", hint=f"one of {', '.join(TRIGGERS)}"
        )
    spec = load_pipeline(project, model)
    manifest = require_manifest(project, env, model, why="there is no champion to retrain")
    champion_data = str(manifest.raw["data_sha256"])
    spec_file = project.root / spec.path
    folder = project.state_dir / "reports" / model
    if missing_ok and _SAFE_LOCATION.fullmatch(snapshot) and not _exists(project, snapshot):
        uri, digest = snapshot, "none"
    else:
        uri, local = newest_snapshot(project, snapshot)
        digest = snapshot_digest(project, spec, uri, local)
    data: dict[str, Any] = {
        "model": model,
        "env": env,
        "trigger": trigger,
        "champion_version": manifest.version,
        "champion_data_sha256": champion_data,
        "snapshot": uri,
        "snapshot_sha256": digest,
        "spec": project.relative(spec_file),
        "branch": f"modelops/retrain-{model}",
    }
    missing = digest == "none"
    if missing or digest == champion_data or (uri == spec.data_path and digest == spec.data_sha256):
        if missing:
            why = f"no labelled snapshot is at `{uri}` yet"
        elif digest == champion_data:
            why = (
                f"the newest labelled snapshot `{uri}` is the data "
                f"v{manifest.version} was trained on"
            )
        else:
            why = f"the spec already trains on `{uri}`; its retraining PR is open or merged"
        title = f"Retrain {model}: no labelled data newer than the {env} champion's"
        body = (
            f"# {title}\n\n`{trigger}` asked for retraining of {model} (v{manifest.version} "
            f"in {env}), but {why}"
            + ("" if missing else f" (sha256 {digest[:12]})")
            + ".\n\nLand newer labelled data "
            "where the workflow looks for snapshots, or retrain by hand.\n"
            + _trigger_report(project, model, env, trigger)
        )
        body_path = folder / f"retrain-{env}-issue.md"
        atomic_write_text(body_path, body)
        data.update(action="issue", title=title, body=project.relative(body_path))
        summary = [
            f"{model}: no labelled data newer than v{manifest.version}'s; issue body {data['body']}"
        ]
        return RetrainResult(command="retrain", subject=model, data=data, summary=summary)

    text = _rewritten_spec(spec_file, uri, digest)
    import yaml

    # The rewritten spec must still be a valid spec before it replaces the old one.
    validate_document(yaml.safe_load(text), "pipeline", spec.path)
    title = f"Retrain {model} on {Path(uri).name}"
    body = (
        f"# {title}\n\n`{trigger}` found a problem with {model} v{manifest.version} in "
        f"{env}. This points the spec at the newest labelled data; the PR checks train "
        f"on it, compare with the champion and post the report.\n\n"
        "| | data | sha256 |\n|---|---|---|\n"
        f"| {env} champion v{manifest.version} | `{spec.data_path}` | `{champion_data}` |\n"
        f"| this PR | `{uri}` | `{digest}` |\n" + _trigger_report(project, model, env, trigger)
    )
    body_path = folder / f"retrain-{env}-pr.md"
    atomic_write_text(body_path, body)
    atomic_write_text(spec_file, text)
    data.update(action="pr", title=title, body=project.relative(body_path))
    return RetrainResult(
        command="retrain",
        subject=model,
        data=data,
        summary=[
            f"{model}: {data['spec']} now trains on {uri} (sha256 {digest[:12]}); "
            f"PR body {data['body']}"
        ],
    )
