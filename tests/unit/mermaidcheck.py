"""Mermaid's own parser from npm, run under Node, for checking the report's chart blocks.

The packages pinned in `tests/mermaid/package-lock.json` are installed once with
`npm ci --ignore-scripts` into a cache folder keyed by the lock file's digest
(`$MODELOPS_NODE_CACHE`, default `~/.cache/modelops`), so a fresh machine needs Node
(>= 18) and npm with access to the registry the first time, and nothing after.
Mermaid sanitises labels with DOMPurify, which needs a DOM: `check.mjs` creates a
jsdom window before importing Mermaid (no browser).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "mermaid"
_BLOCK = re.compile(r"^```mermaid\n(.*?)^```", re.DOTALL | re.MULTILINE)


def mermaid_blocks(markdown: str) -> list[str]:
    """The bodies of the ```mermaid fences in `markdown`."""
    return [m.group(1) for m in _BLOCK.finditer(markdown)]


def install() -> Path:
    """The folder holding node_modules with the pinned Mermaid (installed on first use)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"`{tool}` is not on PATH: the report's charts are checked with Mermaid's own "
                "parser under Node; install Node.js >= 18 with npm"
            )
    lock = (HERE / "package-lock.json").read_bytes()
    key = hashlib.sha256(lock + (HERE / "check.mjs").read_bytes()).hexdigest()[:16]
    base = Path(os.environ.get("MODELOPS_NODE_CACHE", Path.home() / ".cache" / "modelops"))
    folder = base / f"mermaid-{key}"
    if (folder / ".installed").is_file():
        return folder
    scratch = base / f".mermaid-{key}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for name in ("package.json", "package-lock.json", "check.mjs"):
        shutil.copy2(HERE / name, scratch / name)
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=scratch,
        check=True,
        capture_output=True,
        timeout=600,
    )
    (scratch / ".installed").write_text("ok\n")
    try:
        scratch.rename(folder)  # atomic: a parallel run that got there first wins
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def parse(diagrams: list[str]) -> list[dict[str, object]]:
    """Mermaid's verdict on each diagram: {"ok": True, "type": ...} or {"ok": False, "error"}."""
    folder = install()
    proc = subprocess.run(
        ["node", str(folder / "check.mjs")],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the Mermaid check failed to run: {proc.stderr[-2000:]}")
    results: list[dict[str, object]] = json.loads(proc.stdout)
    return results
