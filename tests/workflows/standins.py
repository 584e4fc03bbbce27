"""Local stand-ins for the remote actions a workflow uses, so `act` runs offline.

Each stand-in is a composite action written into a folder and handed to act
with `--local-repository owner/repo@sha=folder`. They do the least that keeps
the workflow honest, and record what they were asked to do:

- actions/setup-python: a fresh virtual environment whose interpreter sees the
  project's installed packages (a `.pth` line), so `pip install -e .` installs
  the scratch copy offline without touching the project's own `.venv`;
- iterative/setup-cml: a `cml` on PATH that records each comment it is asked
  to post (argv and markdown body) as JSON;
- actions/upload-artifact: copies the files to an artifacts folder;
- anything else (configure-aws-credentials, download-artifact): fails if a
  step ever runs it, because the offline runs must not reach the cloud.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})", re.MULTILINE)


@dataclass(frozen=True)
class Standins:
    root: Path
    comments: Path  # one JSON file per `cml comment create`
    artifacts: Path  # one folder per uploaded artifact

    def act_args(self, refs: dict[str, str]) -> list[str]:
        """`--local-repository` arguments for every `owner/repo -> sha` in `refs`."""
        args = []
        for repo, sha in sorted(refs.items()):
            folder = self.root / repo.replace("/", "__")
            if not folder.is_dir():
                folder = self.root / "_unreachable"
            args += ["--local-repository", f"{repo}@{sha}={folder}"]
        return args


def remote_actions(*folders: Path) -> dict[str, str]:
    """Every remote `owner/repo@sha` used by the workflows and actions under `folders`."""
    refs: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.yml")):
            for repo, sha in USES.findall(path.read_text("utf-8")):
                refs[repo] = sha
    return refs


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def write_standins(root: Path) -> Standins:
    """Write the stand-in actions under `root`."""
    comments, artifacts = root / "records" / "comments", root / "records" / "artifacts"
    comments.mkdir(parents=True)
    artifacts.mkdir(parents=True)
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    site_packages = sysconfig.get_paths()["purelib"]

    _write(
        root / "actions__setup-python" / "action.yml",
        f"""\
name: setup-python stand-in
description: a virtual environment that sees the project's installed packages
inputs:
  python-version: {{description: ignored, required: false}}
  cache: {{description: ignored, required: false}}
  cache-dependency-path: {{description: ignored, required: false}}
outputs:
  python-version:
    description: the interpreter version
    value: ${{{{ steps.venv.outputs.python-version }}}}
runs:
  using: composite
  steps:
    - id: venv
      shell: bash
      run: |
        venv="$RUNNER_TEMP/standin-python"
        {base_python} -m venv --without-pip "$venv"
        purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo "{site_packages}" > "$purelib/zz-project-venv.pth"
        echo "$venv/bin" >> "$GITHUB_PATH"
        version=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')
        echo "python-version=$version" >> "$GITHUB_OUTPUT"
""",
    )

    cml = root / "actions__setup-cml-bin" / "cml"
    _write(
        cml,
        f"""\
#!{sys.executable}
# Records `cml comment create ... FILE` instead of posting it.
import json, os, sys, time
from pathlib import Path
args = sys.argv[1:]
body = Path(args[-1]).read_text("utf-8") if args and Path(args[-1]).is_file() else None
record = {{"argv": args, "body": body, "env": {{k: os.environ.get(k) for k in
          ("REPO_TOKEN", "ITERATIVE_DO_NOT_TRACK")}}}}
Path({str(comments)!r}, f"{{time.time_ns()}}.json").write_text(json.dumps(record))
""",
    )
    cml.chmod(0o755)
    _write(
        root / "iterative__setup-cml" / "action.yml",
        f"""\
name: setup-cml stand-in
description: puts a recording cml on PATH
inputs:
  version: {{description: recorded, required: false}}
  vega: {{description: ignored, required: false}}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        VERSION: ${{{{ inputs.version }}}}
      run: |
        echo "{cml.parent}" >> "$GITHUB_PATH"
        echo "$VERSION" > "{root / "records" / "cml-version"}"
""",
    )

    _write(
        root / "actions__upload-artifact" / "action.yml",
        f"""\
name: upload-artifact stand-in
description: copies the files into a local folder
inputs:
  name: {{description: artifact name, required: true}}
  path: {{description: files, required: true}}
  if-no-files-found: {{description: ignored, required: false}}
  retention-days: {{description: ignored, required: false}}
  include-hidden-files: {{description: ignored, required: false}}
outputs:
  artifact-url:
    description: where the copy is
    value: ${{{{ steps.copy.outputs.artifact-url }}}}
runs:
  using: composite
  steps:
    - id: copy
      shell: bash
      env:
        NAME: ${{{{ inputs.name }}}}
        SRC: ${{{{ inputs.path }}}}
      run: |
        mkdir -p "{artifacts}/$NAME"
        cp -R "$SRC"/. "{artifacts}/$NAME/"
        echo "artifact-url=file://{artifacts}/$NAME" >> "$GITHUB_OUTPUT"
""",
    )

    _write(
        root / "_unreachable" / "action.yml",
        """\
name: unreachable stand-in
description: a remote action the offline run must never execute
runs:
  using: composite
  steps:
    - shell: bash
      run: |
        echo "::error::a step used a remote action that the offline run cannot reach"
        exit 1
""",
    )
    return Standins(root, comments, artifacts)
