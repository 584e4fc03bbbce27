"""What a valid digits table looks like: unique ids, 64 pixels in 0–16, a label 0–9."""

from __future__ import annotations

import pandera.pandas as pa

from models.digits.columns import CLASSES, FEATURES, ID_COLUMN, MAX_INTENSITY, TARGET

__all__ = ["FEATURES", "ID_COLUMN", "SCHEMA", "TARGET"]

SCHEMA = pa.DataFrameSchema(
    {
        ID_COLUMN: pa.Column(int, pa.Check.ge(0), unique=True),
        # One column per pixel (not a regex) so that a missing pixel column is reported.
        **{name: pa.Column(int, pa.Check.in_range(0, MAX_INTENSITY)) for name in FEATURES},
        TARGET: pa.Column(int, pa.Check.isin(CLASSES)),
    },
    strict=True,
    name="digits",
)
