"""The diabetes table's columns: an id, ten baseline measurements and the disease progression.

Kept free of heavy imports so that naming a column does not load pandas or pandera.
"""

from __future__ import annotations

ID_COLUMN = "patient_id"
TARGET = "progression"
# Age in years, sex (1 or 2), body-mass index, mean blood pressure and six blood serum
# measurements (tc, ldl, hdl, tch, ltg, glu), unscaled as scikit-learn ships them.
FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
