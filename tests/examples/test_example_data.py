"""The example data files are exactly what their seeded generator and exporter write."""

from __future__ import annotations

from pathlib import Path

import pytest
from exampleproject import REPO

from modelops.fsutil import sha256_file


@pytest.mark.usefixtures("models_on_path")
def test_churn_csv_is_reproduced_by_its_generator(tmp_path: Path) -> None:
    """The committed churn CSV is byte-identical to a fresh run of the seeded generator."""
    from models.churn.generate import main as generate

    assert generate([str(tmp_path / "customers.csv")]) == 0
    assert sha256_file(tmp_path / "customers.csv") == sha256_file(
        REPO / "data" / "churn" / "customers.csv"
    )


@pytest.mark.usefixtures("models_on_path")
def test_digits_csv_is_reproduced_by_its_exporter(tmp_path: Path) -> None:
    """The committed digits CSV is byte-identical to a fresh export of scikit-learn's copy."""
    from models.digits.export import main as export

    assert export([str(tmp_path / "digits.csv")]) == 0
    assert sha256_file(tmp_path / "digits.csv") == sha256_file(
        REPO / "data" / "digits" / "digits.csv"
    )
