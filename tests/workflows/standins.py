"""Local stand-ins for the remote actions a workflow uses, so `act` runs offline.

Each stand-in is a composite action written into a folder and handed to act
with `--local-repository owner/repo@sha=folder`. They do the least that keeps
the workflow honest, and record what they were asked to do:

- actions/setup-python: a fresh virtual environment whose interpreter sees the
  project's installed packages (a `.pth` line), so `pip install -e .` installs
  the scratch copy offline without touching the project's own `.venv`;
- iterative/setup-cml: a `cml` on PATH that records each comment it is asked
  to post (argv and markdown body) as JSON;
- actions/upload-artifact: copies the files to an artifacts folder, and
  actions/download-artifact copies them back;
- actions/create-github-app-token: outputs a recognisable fake installation
  token (`app-token:` and the permissions asked for) and records the inputs;
- `gh` (put first on PATH by the test): records each call with the token it
  was given (GH_TOKEN) and keeps pull requests and issues in a JSON file, so a
  test can read which PR a run opened, edited or closed, and with which token;
- anything else (configure-aws-credentials): fails if a step ever runs it,
  because the offline runs must not reach the cloud.
"""

from __future__ import annotations

import json
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})", re.MULTILINE)


@dataclass(frozen=True)
class Standins:
    root: Path
    comments: Path  # one JSON file per `cml comment create`
    artifacts: Path  # one folder per uploaded artifact
    bin: Path  # the recording `gh`; put it first on PATH
    github: Path  # gh's state: {"calls": [...], "pulls": [...], "issues": [...]}
    app_tokens: Path  # one JSON line per minted App token (its inputs)

    def github_state(self) -> dict[str, Any]:
        """What the runs did through `gh` (empty when nothing called it)."""
        if not self.github.exists():
            return {"calls": [], "pulls": [], "issues": []}
        state: dict[str, Any] = json.loads(self.github.read_text("utf-8"))
        return state

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
        root / "actions__download-artifact" / "action.yml",
        f"""\
name: download-artifact stand-in
description: copies an uploaded artifact back from the local folder
inputs:
  name: {{description: artifact name, required: true}}
  path: {{description: destination, required: true}}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{{{ inputs.name }}}}
        DEST: ${{{{ inputs.path }}}}
      run: |
        mkdir -p "$DEST"
        cp -R "{artifacts}/$NAME"/. "$DEST/"
""",
    )

    app_tokens = root / "records" / "app-tokens.jsonl"
    _write(
        root / "actions__create-github-app-token" / "action.yml",
        f"""\
name: create-github-app-token stand-in
description: a fake installation token naming the permissions asked for
inputs:
  app-id: {{description: recorded, required: false}}
  private-key: {{description: recorded (whether set), required: false}}
  permission-contents: {{description: recorded, required: false}}
  permission-pull-requests: {{description: recorded, required: false}}
  permission-administration: {{description: recorded, required: false}}
  permission-actions: {{description: recorded, required: false}}
  permission-issues: {{description: recorded, required: false}}
outputs:
  token:
    description: the fake token
    value: ${{{{ steps.mint.outputs.token }}}}
runs:
  using: composite
  steps:
    - id: mint
      shell: bash
      env:
        CONTENTS: ${{{{ inputs.permission-contents }}}}
        PULLS: ${{{{ inputs.permission-pull-requests }}}}
        ADMIN: ${{{{ inputs.permission-administration }}}}
        ACTIONS: ${{{{ inputs.permission-actions }}}}
        ISSUES: ${{{{ inputs.permission-issues }}}}
      run: |
        token="app-token:contents=$CONTENTS,pull-requests=$PULLS,administration=$ADMIN,actions=$ACTIONS"
        token="$token${{ISSUES:+,issues=$ISSUES}}"
        echo "$token" >> "{app_tokens}"
        echo "token=$token" >> "$GITHUB_OUTPUT"
""",
    )

    github = root / "records" / "github.json"
    gh = root / "bin" / "gh"
    _write(gh, GH_STANDIN.replace("@STATE@", repr(str(github))).replace("@PY@", sys.executable))
    gh.chmod(0o755)

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
    return Standins(root, comments, artifacts, gh.parent, github, app_tokens)


# The recording `gh`: the few subcommands the workflows and actions use, each
# recorded with its token; pull requests and issues live in a JSON file.
GH_STANDIN = """\
#!@PY@
import json, os, sys
from pathlib import Path

STATE = Path(@STATE@)
EMPTY = {"calls": [], "pulls": [], "issues": []}
state = json.loads(STATE.read_text()) if STATE.exists() else EMPTY
args = sys.argv[1:]
state["calls"].append({"argv": args, "token": os.environ.get("GH_TOKEN", "")})


def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def body():
    path = opt("--body-file")
    return Path(path).read_text() if path else opt("--body", "")


def find(kind, number):
    return next(x for x in state[kind] if str(x["number"]) == str(number))


out = ""
group, verb = args[0], args[1]
token = os.environ.get("GH_TOKEN", "")
if group == "pr" and verb == "list":
    open_prs = [p for p in state["pulls"] if p["state"] == "open"]
    if "--head" in args:
        out = "\\n".join(str(p["number"]) for p in open_prs if p["head"] == opt("--head"))
    else:  # the promote action's supersede query: heads under PREFIX other than BRANCH
        prefix, branch = os.environ["PREFIX"], os.environ["BRANCH"]
        out = "\\n".join(str(p["number"]) for p in open_prs
                          if p["head"].startswith(prefix) and p["head"] != branch)
elif group == "pr" and verb == "create":
    number = len(state["pulls"]) + len(state["issues"]) + 1
    state["pulls"].append({"number": number, "state": "open", "head": opt("--head"),
                           "base": opt("--base"), "title": opt("--title"), "body": body(),
                           "token": token, "comments": []})
    out = f"https://github.com/acme/churn-models/pull/{number}"
elif group == "pr" and verb == "edit":
    pr = find("pulls", args[2])
    pr.update(title=opt("--title"), body=body(), edited_with=token)
elif group == "pr" and verb == "view":
    out = f"https://github.com/acme/churn-models/pull/{args[2]}"
elif group == "pr" and verb == "close":
    pr = find("pulls", args[2])
    pr.update(state="closed", closed_with=token)
    pr["comments"].append(opt("--comment"))
elif group == "issue" and verb == "list":
    out = "\\n".join(str(i["number"]) for i in state["issues"] if i["state"] == "open")
elif group == "issue" and verb == "create":
    number = len(state["pulls"]) + len(state["issues"]) + 1
    state["issues"].append({"number": number, "state": "open", "title": opt("--title"),
                            "body": body(), "token": token, "comments": []})
    out = f"https://github.com/acme/churn-models/issues/{number}"
elif group == "issue" and verb == "comment":
    find("issues", args[2])["comments"].append(body())
else:
    print(f"gh stand-in: unsupported {args}", file=sys.stderr)
    sys.exit(2)
STATE.write_text(json.dumps(state, indent=1))
if out:
    print(out)
"""
