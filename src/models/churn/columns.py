"""The churn table's columns and categories, shared by the generator, schema and model.

Kept free of heavy imports so that naming a column does not load pandas or pandera.
"""

from __future__ import annotations

ID_COLUMN = "customer_id"
TARGET = "churned"

CONTRACTS = ("month-to-month", "one_year", "two_year")
PAYMENT_METHODS = ("electronic_check", "mailed_check", "bank_transfer", "credit_card")
INTERNET_SERVICES = ("dsl", "fiber_optic", "none")
YES_NO = ("yes", "no")

NUMERIC_FEATURES = ("tenure_months", "monthly_charges", "total_charges", "support_calls")
CATEGORICAL_FEATURES = ("contract", "payment_method", "internet_service", "paperless_billing")
FEATURES = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)
