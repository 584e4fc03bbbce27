"""What a valid diabetes table looks like: unique ids, plausible measurements, a numeric target."""

from __future__ import annotations

import pandera.pandas as pa

from models.diabetes.columns import FEATURES, ID_COLUMN, TARGET

__all__ = ["FEATURES", "ID_COLUMN", "SCHEMA", "TARGET"]

SCHEMA = pa.DataFrameSchema(
    {
        ID_COLUMN: pa.Column(int, pa.Check.ge(0), unique=True),
        "age": pa.Column(int, pa.Check.in_range(0, 120)),
        "sex": pa.Column(int, pa.Check.isin((1, 2))),
        "bmi": pa.Column(float, pa.Check.in_range(10.0, 70.0)),
        "bp": pa.Column(float, pa.Check.in_range(40.0, 200.0)),
        # Blood serum measurements: positive, in the units scikit-learn documents.
        **{name: pa.Column(float, pa.Check.gt(0.0)) for name in FEATURES[4:]},
        # Disease progression one year after baseline: a positive number (never 0, so mape
        # is defined).
        TARGET: pa.Column(float, pa.Check.gt(0.0)),
    },
    strict=True,
    name="diabetes",
)
