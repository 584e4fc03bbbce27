"""Export scikit-learn's bundled diabetes data (442 patients) to `data/diabetes/diabetes.csv`.

scikit-learn ships this dataset inside its wheel, so nothing is downloaded. Run
`python -m models.diabetes.export [PATH]` from `src/`; the output is byte-for-byte
the same every time (a unit test checks the committed file's sha256).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from models.diabetes.columns import FEATURES, ID_COLUMN, TARGET

if TYPE_CHECKING:
    import pandas as pd


def export() -> pd.DataFrame:
    """The data as a table: `patient_id`, the ten unscaled features, `progression` (25–346)."""
    import pandas as pd
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    frame = pd.DataFrame(bunch.data, columns=list(FEATURES))
    frame["age"] = frame["age"].astype("int64")
    frame["sex"] = frame["sex"].astype("int64")
    frame.insert(0, ID_COLUMN, range(len(frame)))
    frame[TARGET] = bunch.target.astype("float64")
    return frame


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    text: str = frame.to_csv(index=False, lineterminator="\n")
    return text.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    from modelops.fsutil import atomic_write_bytes

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("data/diabetes/diabetes.csv")
    atomic_write_bytes(out, to_csv_bytes(export()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
