"""Tests of the example models (churn, digits, diabetes): skipped when a fork deletes them.

These tests read the repository's own `pipelines/`, `src/models/` and `data/`:
they check the examples a team copies from, not the toolkit. A team that
deletes an example loses its tests here and nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The toolkit's test helpers (mermaidcheck) import as they do from tests/unit.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from exampleproject import EXAMPLES, REPO, example_present


def needed_examples(item: pytest.Item) -> set[str]:
    """The examples a test needs: those its name or parameters mention, else all of them."""
    name = item.nodeid.split("::", 1)[-1]
    return {m for m in EXAMPLES if m in name} or set(EXAMPLES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip each test of this folder whose example a fork has deleted."""
    here = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(here):
            continue
        missing = sorted(m for m in needed_examples(item) if not example_present(m))
        if missing:
            item.add_marker(
                pytest.mark.skip(reason=f"example(s) {missing} removed from this repository")
            )


@pytest.fixture
def models_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Import the repository's model packages (generators, schemas) in-process."""
    import sys

    monkeypatch.syspath_prepend(str(REPO / "src"))
    yield
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]
