"""`modelops demo`: the PR path end to end in a scratch repository, whatever the project holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gitopsproject import commit, make_project, modelops, register_version
from mermaidcheck import mermaid_blocks, parse
from toyproject import TOY_SPEC, write_toy

from modelops.cli import main
from modelops.project import Project


def _forget_models() -> None:
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


@pytest.fixture
def promoted_project(tmp_path: Path) -> Project:
    """A toy project whose own registry took v1 and v2 to prod, as a fork's would."""
    project = make_project(tmp_path / "fork")
    # A second model without a drift section: the demo runs every model, drift where it can.
    write_toy(project.root)
    spec = TOY_SPEC.replace("name: toy", "name: quiet").split("drift:")[0]
    (project.root / "pipelines" / "quiet.yaml").write_text(spec)
    commit(project, "second model")
    register_version(project, tmp_path, bias=0.6)
    register_version(project, tmp_path, bias=0.7, accuracy=0.85)
    for env in ("dev", "staging", "prod"):
        assert modelops(project, "promote", "toy", "--to", env, "--version", "2") == 0
        commit(project, f"toy v2 to {env}")
    _forget_models()
    return project


@pytest.mark.slow
def test_demo_runs_the_loop_whatever_the_environments_hold(
    promoted_project: Project, tmp_path: Path, monkeypatch, capsys
) -> None:
    """validate → … → promote → deploy → predict → drift runs in a scratch copy, ignoring the
    project's own manifests (they name versions its scratch registry lacks) and user state."""
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "user-state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # must be ignored
    workdir = tmp_path / "demo"
    root = promoted_project.root
    before = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=root, capture_output=True, text=True
    ).stdout
    argv = ["-C", str(root), "--result", str(tmp_path / "demo.json"), "demo", "--workdir"]
    assert main([*argv, str(workdir)]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "demo.json").read_text())
    models = sorted(p.stem for p in (root / "pipelines").glob("*.yaml"))
    assert result["models"] == models == ["quiet", "toy"]
    charts = []
    for model, report in result["reports"].items():
        text = Path(report).read_text()
        assert text.startswith(f"<!-- modelops-report:{model} -->")
        assert "![" not in text  # charts are Mermaid text, not image links
        charts += mermaid_blocks(text)
        assert str(report) in out
        registered = json.loads(
            (workdir / ".modelops" / "results" / model / "register.json").read_text()
        )
        assert registered["version"] == 1
    # One ROC chart per binary model; each parses in Mermaid.
    assert len(charts) == len(models)
    assert all(r == {"ok": True, "type": "xychart"} for r in parse(charts))
    assert (workdir / ".git").is_dir() and (workdir / ".modelops" / "mlflow.db").is_file()
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout
    for env in ("dev", "staging", "prod"):
        assert all(f"promote {m} to {env}" in log for m in models)
        live = json.loads((workdir / ".modelops" / "serving" / env / "live.json").read_text())
        assert {m: e["version"] for m, e in live.items()} == dict.fromkeys(models, 1)
    batch = workdir / ".modelops" / "demo" / "toy-batch.csv"
    scores = workdir / ".modelops" / "demo" / "toy-scores.csv"
    assert len(scores.read_text().splitlines()) == len(batch.read_text().splitlines())
    # Each prediction carries its provenance: the version and bundle digest that scored it.
    header = scores.read_text().splitlines()[0].split(",")
    assert header[-3:] == ["model_version", "model_sha256", "scored_at"]
    drift = {s["model"]: s["exit_code"] for s in result["steps"] if s["step"].startswith("drift")}
    assert set(drift) == {"toy"}, "a spec without a drift section skips the drift step"
    assert drift["toy"] in (0, 3)
    # The project itself is untouched: its prod manifest still pins its own v2.
    after = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=root, capture_output=True, text=True
    ).stdout
    assert after == before
    assert "version: 2" in (root / "environments" / "prod" / "models" / "toy.yaml").read_text()
    assert not (tmp_path / "user-state" / "mlflow.db").exists()
    _forget_models()


def test_demo_refuses_a_non_empty_workdir(tmp_path: Path, capsys) -> None:
    """A --workdir with files in it is refused (exit 2) rather than mixed into."""
    project = write_toy(tmp_path / "proj")
    workdir = tmp_path / "busy"
    workdir.mkdir()
    (workdir / "keep.txt").write_text("mine")
    assert main(["-C", str(project), "demo", "--workdir", str(workdir)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in workdir.iterdir()) == ["keep.txt"]
