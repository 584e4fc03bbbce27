"""What a valid churn table looks like: types, ranges, allowed categories, a unique id."""

from __future__ import annotations

import pandera.pandas as pa

from models.churn.columns import (
    CONTRACTS,
    FEATURES,
    ID_COLUMN,
    INTERNET_SERVICES,
    PAYMENT_METHODS,
    TARGET,
    YES_NO,
)

__all__ = ["FEATURES", "ID_COLUMN", "SCHEMA", "TARGET"]

SCHEMA = pa.DataFrameSchema(
    {
        ID_COLUMN: pa.Column(str, pa.Check.str_matches(r"^CUST-\d+$"), unique=True),
        "tenure_months": pa.Column(int, pa.Check.in_range(0, 72)),
        "contract": pa.Column(str, pa.Check.isin(CONTRACTS)),
        "monthly_charges": pa.Column(float, pa.Check.in_range(0.0, 500.0)),
        # Customers in their first month have not been billed yet: no total.
        "total_charges": pa.Column(float, pa.Check.ge(0.0), nullable=True),
        "support_calls": pa.Column(int, pa.Check.in_range(0, 50)),
        "payment_method": pa.Column(str, pa.Check.isin(PAYMENT_METHODS)),
        "internet_service": pa.Column(str, pa.Check.isin(INTERNET_SERVICES)),
        "paperless_billing": pa.Column(str, pa.Check.isin(YES_NO)),
        TARGET: pa.Column(int, pa.Check.isin((0, 1))),
    },
    strict=True,
    name="churn",
)
