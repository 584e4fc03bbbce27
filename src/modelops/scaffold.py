"""`modelops new`: a new model from a template (package, pandera schema, spec, sample data).

The files come from `modelops/templates/<template>/` (package data), rendered with
`string.Template`; the sample data is drawn from a seeded generator, so a template
always writes the same bytes. Everything is written into a staging folder first and
moved into place only when all of it rendered and the spec passed the pipeline
schema: a refused name, template or spec leaves the project as it was.
"""

from __future__ import annotations

import csv
import io
import keyword
import math
import random
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from modelops.errors import InputError, ModelopsError
from modelops.project import Project
from modelops.results import CommandResult

TEMPLATES = ("sklearn-classifier", "sklearn-regressor", "torch-classifier")
# A model name is also its Python package name under src/models/: no dashes.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SAMPLE_ROWS = 1000
SAMPLE_SEED = 20240611
SEGMENTS = ("north", "south", "west")


def check_name(name: str) -> None:
    """Refuse a name that cannot be a model name and a Python package name at once."""
    if not NAME_PATTERN.match(name) or keyword.iskeyword(name) or name == "models":
        raise InputError(
            f"'{name}' is not a valid model name",
            field="NAME",
            hint="lower case letters, digits and _ (a Python package name), starting with a "
            "letter, at most 63 characters; e.g. fraud_score",
        )


def _row_id(i: int) -> str:
    return f"R{i:05d}"


def _sample_rows(template: str, rows: int, seed: int) -> list[list[object]]:
    """Rows of the template's sample table (header first): learnable, with some noise."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not a secret

    def gauss() -> float:
        return max(-4.0, min(4.0, rng.gauss(0.0, 1.0)))

    table: list[list[object]] = []
    if template == "torch-classifier":
        table.append(["row_id", "feature_a", "feature_b", "feature_c", "feature_d", "label"])
        for i in range(rows):
            a, b, c, d = gauss(), gauss(), gauss(), gauss()
            scores = [a + 0.5 * b, -a + 0.8 * c, 0.6 * d - 0.4 * b]
            noisy = [s + 0.5 * gauss() for s in scores]
            label = noisy.index(max(noisy))
            table.append([_row_id(i), *(round(v, 4) for v in (a, b, c, d)), label])
        return table
    effect = dict(zip(SEGMENTS, (0.8, -0.4, 0.0), strict=True))
    target = "target" if template == "sklearn-regressor" else "label"
    table.append(["row_id", "feature_a", "feature_b", "feature_c", "segment", target])
    for i in range(rows):
        a, b, c = gauss(), gauss(), gauss()
        segment = rng.choice(SEGMENTS)
        signal = 1.5 * a - 1.0 * b + 0.5 * c + effect[segment]
        if template == "sklearn-regressor":
            value: object = round(10.0 + 3.0 * signal + gauss(), 4)
        else:
            value = int(1 / (1 + math.exp(-signal)) > rng.random())
        table.append([_row_id(i), round(a, 4), round(b, 4), round(c, 4), segment, value])
    return table


def sample_csv(template: str, rows: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED) -> str:
    """The template's sample data as CSV text."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(_sample_rows(template, rows, seed))
    return out.getvalue()


def render_template(template: str, filename: str, values: dict[str, str]) -> str:
    """One file of a template with `${name}`-style placeholders filled in."""
    from string import Template

    source = resources.files("modelops").joinpath("templates", template, filename)
    text = source.read_text("utf-8")
    return Template(text).substitute(values)


def _check_spec(project: Project, template: str, text: str, file: str) -> None:
    """The rendered spec must pass this toolkit's pipeline schema before anything is written."""
    import yaml

    from modelops.spec import load_schema, validate_document

    doc = yaml.safe_load(text)
    tasks = load_schema("pipeline")["properties"]["evaluate"]["properties"]["task"]["enum"]
    task = doc["evaluate"]["task"]
    if task not in tasks:
        raise InputError(
            f"template '{template}' needs evaluate.task '{task}', which this toolkit's "
            f"pipeline schema does not accept yet (it accepts {', '.join(tasks)})",
            field="--template",
            hint="choose another template, or upgrade the toolkit to a release that "
            "supports this task (see CHANGELOG.md)",
        )
    try:
        validate_document(doc, "pipeline", Path(file))
    except ModelopsError as exc:
        raise InputError(
            f"template '{template}' writes a spec this toolkit's schema refuses: {exc}",
            field="--template",
            hint="this is a bug of the toolkit's templates; please report it",
        ) from None


def planned_files(project: Project, name: str) -> dict[str, Path]:
    """What `new` writes, by role: the package folder, the data folder and the spec."""
    return {
        "package": project.models_src / "models" / name,
        "data": project.root / "data" / name,
        "spec": project.pipeline_path(name),
    }


@dataclass
class NewResult(CommandResult):
    """The model `new_model` wrote: its name, template and files (project-relative)."""

    @property
    def model(self) -> str:
        return str(self.data["model"])

    @property
    def files(self) -> list[str]:
        return [str(f) for f in self.data["files"]]


def new_model(
    project: Project,
    name: str,
    template: str = "sklearn-classifier",
    *,
    owner: str = "@ml-team",
) -> NewResult:
    """Write model `name` from `template`: package, pandera schema, spec and sample data.

    Refused (InputError, exit 2) with nothing written for a bad name or template, a
    model that already exists, or a template whose spec this toolkit's schema refuses.
    """
    check_name(name)
    if template not in TEMPLATES:
        raise InputError(
            f"unknown template '{template}'",
            field="--template",
            hint=f"choose one of {', '.join(TEMPLATES)}",
        )
    targets = planned_files(project, name)
    for path in targets.values():
        if path.exists():
            raise InputError(
                f"model '{name}' already exists here; refusing to overwrite it",
                file=project.relative(path),
                field="NAME",
                hint="pick another name, or remove the existing files first",
            )
    values = {"name": name, "owner": owner, "title": name.replace("_", " ").capitalize()}
    spec_text = render_template(template, "pipeline.yaml.tmpl", values)
    schema_file = project.root / "src" / "modelops" / "schemas" / "pipeline.schema.json"
    if schema_file.is_file():  # only a path inside the repository: never a machine's own
        spec_text = (
            "# yaml-language-server: $schema=../src/modelops/schemas/pipeline.schema.json\n"
            + spec_text
        )
    spec_rel = project.relative(targets["spec"])
    _check_spec(project, template, spec_text, spec_rel)
    files = {
        Path("package") / "__init__.py": render_template(template, "model.py.tmpl", values),
        Path("package") / "schema.py": render_template(template, "schema.py.tmpl", values),
        Path("data") / f"{name}.csv": sample_csv(template),
        Path("data") / "README.md": (
            f"# {name} sample data\n\n`{name}.csv`: {SAMPLE_ROWS} synthetic rows written by "
            f"`modelops new --template {template}`. Replace it with your data and update "
            f"`src/models/{name}/schema.py` to match.\n"
        ),
        Path("spec"): spec_text,
    }
    written = _write_all(project, targets, files)
    summary = [f"{name}: wrote {len(written)} files from the {template} template", ""]
    summary += [f"  {path}" for path in written]
    summary += ["", "next:"]
    summary += [f"  modelops {step} {name}" for step in ("validate", "data-test", "train")]
    return NewResult(
        command="new",
        subject=name,
        data={"model": name, "template": template, "files": written},
        summary=summary,
    )


def _write_all(project: Project, targets: dict[str, Path], files: dict[Path, str]) -> list[str]:
    """Write `files` (keyed by role/relative path) into a staging folder, then move each
    role into place; on any failure, undo the moves already made."""
    # Inside the project, so that moving into place is a rename on one file system.
    staging = Path(tempfile.mkdtemp(prefix=".modelops-new-", dir=project.root))
    moved: list[Path] = []
    init = project.models_src / "models" / "__init__.py"
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if not init.exists():  # a fork that deleted the examples may have removed it
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text("", encoding="utf-8")
            moved.append(init)
        for role, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / role).replace(target)
            moved.append(target)
    except OSError:
        for path in reversed(moved):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = [f for p in moved for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return sorted(project.relative(f) for f in written)
