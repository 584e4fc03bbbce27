"""toolkit-release.yml and its version script, checked statically (GitHub alone can run it).

The attestation needs GitHub's OIDC and Sigstore, and the release needs GitHub's API:
none of that exists offline, so the workflow is read here, not run; the script it
calls is run for real.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "toolkit-release.yml"
SCRIPT = REPO / ".github" / "scripts" / "toolkit_version.py"

PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q")

pytestmark = pytest.mark.workflows


@functools.cache
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("toolkit_version", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def jobs() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    found: dict[str, dict[str, Any]] = doc["jobs"]
    return found


def uses(job: dict[str, Any]) -> list[str]:
    return [str(s.get("uses", "")) for s in job.get("steps", [])]


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job.get("steps", []))


def test_release_is_started_by_hand_on_main_only() -> None:
    """No tag trigger (the version comes from the source, not a pushed tag); main only."""
    doc = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    assert doc[True] == {"workflow_dispatch": None}  # PyYAML reads the key `on` as True
    assert doc["permissions"] == {}
    assert jobs()["build"]["if"] == "github.ref == 'refs/heads/main'"


def test_each_job_holds_only_the_permissions_it_uses() -> None:
    """build reads; only attest mints OIDC and writes attestations; only publish writes contents."""
    assert {name: job["permissions"] for name, job in jobs().items()} == {
        "build": {"contents": "read"},
        "attest": {"id-token": "write", "attestations": "write"},
        "publish": {"contents": "write"},
    }


def test_provenance_is_attested_by_the_pinned_action_over_the_built_files() -> None:
    """attest-build-provenance is pinned to a full SHA and attests dist/*, after a sha256 check."""
    attest = jobs()["attest"]
    (step,) = [s for s in attest["steps"] if "attest-build-provenance" in str(s.get("uses"))]
    assert re.fullmatch(r"actions/attest-build-provenance@[0-9a-f]{40}", step["uses"])
    line = next(x for x in WORKFLOW.read_text().splitlines() if step["uses"] in x)
    assert re.search(r"# v\d+\.\d+\.\d+$", line)
    assert step["with"] == {"subject-path": "dist/*"}
    assert attest["needs"] == "build"


def test_built_files_are_verified_by_sha256_before_attest_and_publish() -> None:
    """The digests travel as a job output, not inside the artifact they vouch for."""
    assert "sha256sums" in jobs()["build"]["outputs"]
    for name in ("attest", "publish"):
        step = next(s for s in jobs()[name]["steps"] if "sha256sum" in str(s.get("run")))
        assert "--check --strict" in step["run"]
        assert step["env"]["SHA256SUMS"] == "${{ needs.build.outputs.sha256sums }}"
        order = [str(s.get("uses") or s.get("run")) for s in jobs()[name]["steps"]]
        assert order.index(step["run"]) < len(order) - 1


def test_build_makes_sdist_and_wheel_with_python_build() -> None:
    """`python -m build` with neither --sdist nor --wheel: both are made, from a pinned build."""
    build = runs(jobs()["build"])
    assert "python -m build --outdir dist ." in build
    assert re.search(r'pip install "build==\d+\.\d+\.\d+"', build)
    assert "--check-dist dist" in build


def test_publish_creates_the_release_and_moves_the_major_tag_through_the_api() -> None:
    """Release and tags through `gh` with the job token; the major tag moves for finals only."""
    publish = jobs()["publish"]
    assert publish["needs"] == ["build", "attest"]
    create = next(s for s in publish["steps"] if s.get("name") == "create the release")
    assert create["run"].startswith('gh release create "$TAG" dist/*')
    assert create["env"]["TAG"] == "${{ needs.build.outputs.tag }}"
    move = next(s for s in publish["steps"] if s.get("name") == "move the major tag")
    assert move["if"] == "needs.build.outputs.prerelease == 'false'"
    assert "git/refs/tags/$MAJOR" in move["run"] and "force=true" in move["run"]
    assert "git push" not in runs(publish)


@pytest.mark.parametrize(
    ("version", "major", "pre"),
    [("1.0.0", "v1", "false"), ("1.4.2", "v1", "false"), ("2.0.0-rc.1", "v2", "true")],
)
def test_semantic_versions_give_tag_major_and_prerelease(
    version: str, major: str, pre: str
) -> None:
    """vX.Y.Z tag, vX major tag, and pre-releases flagged (their major tag is not moved)."""
    facts = script().release_facts(version)
    assert facts == {"version": version, "tag": f"v{version}", "major": major, "prerelease": pre}


@pytest.mark.parametrize("version", ["1.0", "01.2.3", "1.2.3+build.5", "v1.2.3", "1.2.3-"])
def test_a_version_that_is_not_semantic_is_refused(version: str) -> None:
    """Anything but MAJOR.MINOR.PATCH[-PRE] stops the release."""
    with pytest.raises(script().VersionError, match="not semantic"):
        script().release_facts(version)


def fake_checkout(root: Path, version: str, changelog: str | None) -> Path:
    (root / "src" / "modelops").mkdir(parents=True)
    (root / "src" / "modelops" / "__init__.py").write_text(
        f'"""x"""\n\n__version__ = "{version}"\n'
    )
    if changelog is not None:
        (root / "CHANGELOG.md").write_text(changelog)
    return root


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_release_notes_come_from_the_versions_changelog_section(tmp_path: Path) -> None:
    """The `## [1.2.0]` section becomes the notes; outputs are GITHUB_OUTPUT lines."""
    changelog = (
        "# Changelog\n\n## [1.2.0] - 2026-11-29\n\n- new: github setup\n\n## [1.1.0]\n\n- old\n"
    )
    root = fake_checkout(tmp_path / "co", "1.2.0", changelog)
    notes = tmp_path / "notes.md"
    proc = run_script("--root", str(root), "--notes", str(notes))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "version=1.2.0",
        "tag=v1.2.0",
        "major=v1",
        "prerelease=false",
    ]
    assert notes.read_text() == "- new: github setup\n"


def test_a_release_without_its_changelog_section_or_with_a_bad_version_exits_2(
    tmp_path: Path,
) -> None:
    """No section for the version, or a version like 1.2: one `error:` line, exit 2."""
    root = fake_checkout(tmp_path / "a", "1.3.0", "## [1.2.0]\n- x\n")
    proc = run_script("--root", str(root))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "## 1.3.0" in proc.stderr
    root = fake_checkout(tmp_path / "b", "1.2", None)
    proc = run_script("--root", str(root))
    assert proc.returncode == 2 and "not semantic" in proc.stderr


def test_dist_check_accepts_exactly_this_versions_sdist_and_wheel(tmp_path: Path) -> None:
    """sha256sums of the two files, as a multi-line output; a stray file is refused."""
    root = fake_checkout(tmp_path / "co", "1.2.0", None)
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "modelops-1.2.0.tar.gz").write_bytes(b"sdist")
    (dist / "modelops-1.2.0-py3-none-any.whl").write_bytes(b"wheel")
    proc = run_script("--root", str(root), "--check-dist", str(dist))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sha256sums<<EOF_") and lines[-1] == lines[0].split("<<")[1]
    check = subprocess.run(
        ["sha256sum", "--check", "--strict"],
        input="\n".join(lines[1:-1]) + "\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    (dist / "modelops-1.1.0-py3-none-any.whl").write_bytes(b"old")
    proc = run_script("--root", str(root), "--check-dist", str(dist))
    assert proc.returncode == 2 and "modelops-1.1.0-py3-none-any.whl" in proc.stderr


@pytest.mark.slow
def test_the_wheel_takes_its_version_from_the_package(tmp_path: Path) -> None:
    """pyproject's version is dynamic: a wheel built from the tree carries __version__."""
    for rel in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / rel, tmp_path / rel)
    shutil.copytree(REPO / "src" / "modelops", tmp_path / "src" / "modelops")
    version = script().read_version(REPO / "src" / "modelops" / "__init__.py")
    proc = subprocess.run(
        [*PIP_WHEEL, ".", "-w", str(tmp_path / "dist")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name.startswith(f"modelops-{version}-")
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"modelops-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in metadata
