"""Where things live: the project root, its folders and the embedded state under `.modelops/`."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from modelops.errors import InputError

STATE_DIRNAME = ".modelops"
ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Project:
    """A checkout of the template: pipelines/, environments/, src/models/, data/."""

    root: Path

    @classmethod
    def discover(cls, start: Path | None = None) -> Project:
        """The nearest directory at or above `start` that holds `pipelines/`.

        `MODELOPS_PROJECT` overrides the search.
        """
        override = os.environ.get("MODELOPS_PROJECT")
        if override:
            root = Path(override).resolve()
            if not (root / "pipelines").is_dir():
                raise InputError(
                    "no pipelines/ folder here",
                    file=root,
                    field="MODELOPS_PROJECT",
                    hint="point MODELOPS_PROJECT at a checkout of the template",
                )
            return cls(root)
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / "pipelines").is_dir():
                return cls(candidate)
        raise InputError(
            "not inside a modelops project (no pipelines/ folder found)",
            file=here,
            hint="run from a checkout of the template, or set MODELOPS_PROJECT",
        )

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "pipelines"

    @property
    def environments_dir(self) -> Path:
        return self.root / "environments"

    @property
    def models_src(self) -> Path:
        return self.root / "src"

    @cached_property
    def state_dir(self) -> Path:
        """Embedded state: MLflow sqlite db, artifacts, serving store, results, locks."""
        override = os.environ.get("MODELOPS_HOME")
        return Path(override).resolve() if override else self.root / STATE_DIRNAME

    def results_dir(self, subject: str) -> Path:
        """Where commands about `subject` (a model or an environment) write their results."""
        return self.state_dir / "results" / subject

    def pipeline_path(self, model: str) -> Path:
        return self.pipelines_dir / f"{model}.yaml"

    def environment_dir(self, env: str) -> Path:
        return self.environments_dir / env

    def manifest_path(self, env: str, model: str) -> Path:
        return self.environments_dir / env / "models" / f"{model}.yaml"

    def relative(self, path: Path) -> str:
        """`path` relative to the root when it is inside it, for messages and annotations."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # -- state backends ---------------------------------------------------

    def tracking_uri(self) -> str:
        """`MLFLOW_TRACKING_URI`, or the embedded sqlite database under the state dir."""
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            return uri
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.state_dir / 'mlflow.db'}"

    def artifact_root(self) -> str:
        """Where the embedded MLflow stores run artifacts (ignored with a real server)."""
        return (self.state_dir / "mlartifacts").as_uri()

    def store_uri(self) -> str:
        """The serving store: `MODELOPS_STORE` (a folder or `s3://bucket/prefix`)."""
        return os.environ.get("MODELOPS_STORE") or str(self.state_dir / "serving")

    # -- git ---------------------------------------------------------------

    def git(self, *args: str, check: bool = True) -> str:
        """Run git in the project root and return stdout (stripped)."""
        proc = subprocess.run(
            ["git", *args], cwd=self.root, capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise InputError(
                f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}",
                file=self.root,
                hint="is this a git checkout with the commits it needs?",
            )
        return proc.stdout.strip()

    def git_commit(self) -> str:
        """The current commit, `+dirty` appended when tracked files differ from it."""
        sha = self.git("rev-parse", "HEAD", check=False)
        if not sha:
            return "unknown"
        dirty = self.git("status", "--porcelain", "--untracked-files=no", check=False)
        return f"{sha}+dirty" if dirty else sha
