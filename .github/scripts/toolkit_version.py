"""The toolkit's release version, checked: one source (`src/modelops/__init__.py`), semver.

Run by `.github/workflows/toolkit-release.yml` with the standard library only (the build
job installs nothing of the toolkit). It prints `version=`, `tag=`, `major=` and
`prerelease=` lines for `$GITHUB_OUTPUT`, and writes the release notes (the version's
section of CHANGELOG.md when there is one) to the file named by `--notes`.
Exit 2 with one `error:` line when the version is not `MAJOR.MINOR.PATCH[-PRERELEASE]`
or CHANGELOG.md has no section for it.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import secrets
import sys
from pathlib import Path

# Semantic Versioning 2.0.0 without build metadata (a tag cannot hold '+').
SEMVER = re.compile(
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
)


class VersionError(Exception):
    pass


def read_version(init: Path) -> str:
    """`__version__` from the package's `__init__.py`, read without importing it."""
    tree = ast.parse(init.read_text("utf-8"), filename=str(init))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise VersionError(f'{init}: no `__version__ = "X.Y.Z"`')


def release_facts(version: str) -> dict[str, str]:
    match = SEMVER.fullmatch(version)
    if match is None:
        raise VersionError(f"version '{version}' is not semantic (MAJOR.MINOR.PATCH[-PRE])")
    return {
        "version": version,
        "tag": f"v{version}",
        "major": f"v{match['major']}",
        "prerelease": "true" if match["pre"] else "false",
    }


def changelog_section(changelog: Path, version: str) -> str | None:
    """The text under `## [X.Y.Z]` / `## X.Y.Z` up to the next `## `; None without a file."""
    if not changelog.is_file():
        return None
    lines = changelog.read_text("utf-8").splitlines()
    heading = re.compile(rf"^##\s+\[?v?{re.escape(version)}\]?(\s|$)")
    for i, line in enumerate(lines):
        if heading.match(line):
            body = []
            for rest in lines[i + 1 :]:
                if rest.startswith("## "):
                    break
                body.append(rest)
            return "\n".join(body).strip() + "\n"
    raise VersionError(f"{changelog}: no section '## {version}' (add one before releasing)")


def dist_sums(dist: Path, version: str) -> str:
    """`sha256sum` lines of the sdist and wheel, which must be of `version` and alone."""
    files = sorted(p for p in dist.iterdir() if p.is_file())
    names = [p.name for p in files]
    sdists = [n for n in names if n == f"modelops-{version}.tar.gz"]
    wheels = [n for n in names if n.startswith(f"modelops-{version}-") and n.endswith(".whl")]
    if len(sdists) != 1 or len(wheels) != 1 or len(names) != 2:
        raise VersionError(
            f"{dist}: expected modelops-{version}.tar.gz and one modelops-{version}-*.whl, "
            f"found {', '.join(names) or 'nothing'}"
        )
    return "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {dist.name}/{p.name}\n" for p in files
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path())
    parser.add_argument("--notes", type=Path, help="write the release notes here")
    parser.add_argument(
        "--check-dist",
        type=Path,
        metavar="DIR",
        help="check DIR holds this version's sdist and wheel only; print their sha256sums",
    )
    args = parser.parse_args(argv)
    try:
        version = read_version(args.root / "src" / "modelops" / "__init__.py")
        facts = release_facts(version)
        if args.check_dist is not None:
            sums = dist_sums(args.check_dist, version)
            delimiter = f"EOF_{secrets.token_hex(8)}"
            print(f"sha256sums<<{delimiter}\n{sums}{delimiter}")
            return 0
        notes = changelog_section(args.root / "CHANGELOG.md", version)
    except (VersionError, OSError, SyntaxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.notes is not None:
        args.notes.write_text(notes or f"modelops {version}\n", "utf-8")
    for key, value in facts.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
