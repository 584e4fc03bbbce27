"""Where the example models live in this repository, and whether a fork still has them."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("churn", "digits", "diabetes")


def example_present(model: str) -> bool:
    """The example's spec, package and data folder are all still in the repository."""
    return all(
        path.exists()
        for path in (
            REPO / "pipelines" / f"{model}.yaml",
            REPO / "src" / "models" / model / "__init__.py",
            REPO / "data" / model,
        )
    )
