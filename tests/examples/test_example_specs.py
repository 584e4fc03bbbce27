"""The example specs (pipelines/churn.yaml, digits.yaml, diabetes.yaml) load as meant."""

from __future__ import annotations

import re

import pytest
from exampleproject import REPO

from modelops.project import Project
from modelops.spec import load_pipeline


@pytest.mark.parametrize("model", ["churn", "digits", "diabetes"])
def test_example_specs_load(model: str) -> None:
    """The example specs are valid and their gates are on computed metrics."""
    spec = load_pipeline(Project(REPO), model)
    assert spec.name == model
    assert spec.primary_metric in spec.metrics
    assert {g.metric for g in spec.gates} <= set(spec.metrics)
    assert spec.drift is not None


def test_digits_asks_for_a_gpu_with_fallbacks() -> None:
    """The torch example requests spot GPUs with an on-demand fallback and a time cap."""
    compute = load_pipeline(Project(REPO), "digits").compute
    assert compute.type == "gpu"
    assert compute.instance_types == ("g5.xlarge", "g4dn.xlarge")
    assert compute.spot and compute.on_demand_fallback
    assert compute.max_minutes == 30


@pytest.mark.parametrize("model", ["churn", "digits", "diabetes"])
def test_example_specs_point_editors_at_the_schema(model: str) -> None:
    """Each example spec's yaml-language-server comment names the schema file that exists."""
    first = (REPO / "pipelines" / f"{model}.yaml").read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match is not None
    assert (REPO / "pipelines" / match.group(1)).resolve().is_file()
