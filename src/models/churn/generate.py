"""Generate the bundled churn dataset (`data/churn/customers.csv`) deterministically.

The data is synthetic but shaped like a telecom customer table: contract type
and tenure dominate churn, fibre customers with high bills and many support
calls leave more often. Churn is drawn from a logistic model plus noise, so a
good classifier reaches a ROC AUC around 0.85, never 1.0.

Run `python -m models.churn.generate [PATH]` from `src/`; the same seed always
writes the same bytes (a unit test checks the committed file's sha256).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from models.churn.columns import CONTRACTS, INTERNET_SERVICES, PAYMENT_METHODS, YES_NO

if TYPE_CHECKING:
    import pandas as pd

SEED = 20240611
ROWS = 5000


def generate(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    """The churn table: one row per customer, `churned` (0/1) as the label."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, size=rows, p=[0.55, 0.24, 0.21])
    # Long contracts go with long tenure; month-to-month customers are often new.
    mean_tenure = np.select(
        [contract == "month-to-month", contract == "one_year"], [14.0, 34.0], default=50.0
    )
    tenure = np.clip(np.round(rng.gamma(2.0, mean_tenure / 2.0)), 0, 72).astype(int)
    internet = rng.choice(INTERNET_SERVICES, size=rows, p=[0.35, 0.44, 0.21])
    base_charge = np.select(
        [internet == "fiber_optic", internet == "dsl"], [82.0, 55.0], default=22.0
    )
    monthly = np.round(np.clip(base_charge + rng.normal(0.0, 9.0, rows), 18.25, 118.75), 2)
    # Totals drift from monthly × tenure (price changes, discounts); new customers have none yet.
    total = np.round(monthly * tenure * rng.normal(1.0, 0.04, rows), 2)
    total = np.where(tenure == 0, np.nan, total)
    support_calls = np.minimum(
        rng.poisson(np.where(internet == "fiber_optic", 1.6, 1.0)), 12
    ).astype(int)
    payment = rng.choice(PAYMENT_METHODS, size=rows, p=[0.34, 0.23, 0.22, 0.21])
    paperless = rng.choice(YES_NO, size=rows, p=[0.6, 0.4])

    logit = (
        -1.9
        + 1.5 * (contract == "month-to-month")
        - 1.0 * (contract == "two_year")
        - 0.045 * tenure
        + 0.018 * (monthly - 65.0)
        + 0.45 * support_calls
        + 0.55 * (payment == "electronic_check")
        + 0.35 * (internet == "fiber_optic")
        + 0.25 * (paperless == "yes")
        + rng.normal(0.0, 0.5, rows)  # what the table does not know about a customer
    )
    churned = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)

    ids = rng.permutation(np.arange(100_000, 100_000 + rows))
    return pd.DataFrame(
        {
            "customer_id": [f"CUST-{i}" for i in ids],
            "tenure_months": tenure,
            "contract": contract,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support_calls,
            "payment_method": payment,
            "internet_service": internet,
            "paperless_billing": paperless,
            "churned": churned,
        }
    )


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV bytes written the same way on every platform (LF endings, fixed float format)."""
    text: str = frame.to_csv(index=False, lineterminator="\n", float_format="%.2f")
    return text.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    from modelops.fsutil import atomic_write_bytes

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("data/churn/customers.csv")
    atomic_write_bytes(out, to_csv_bytes(generate()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
