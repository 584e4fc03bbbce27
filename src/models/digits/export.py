"""Export scikit-learn's bundled digits (8×8 images, 1,797 rows) to `data/digits/digits.csv`.

scikit-learn ships this dataset inside its wheel, so nothing is downloaded. Run
`python -m models.digits.export [PATH]` from `src/`; the output is byte-for-byte
the same every time (a unit test checks the committed file's sha256).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from models.digits.columns import FEATURES, ID_COLUMN, TARGET

if TYPE_CHECKING:
    import pandas as pd


def export() -> pd.DataFrame:
    """The digits as a table: `image_id`, `pixel_0..pixel_63` (ints 0–16), `label`."""
    import pandas as pd
    from sklearn.datasets import load_digits

    bunch = load_digits()
    frame = pd.DataFrame(bunch.data.astype("int64"), columns=list(FEATURES))
    frame.insert(0, ID_COLUMN, range(len(frame)))
    frame[TARGET] = bunch.target.astype("int64")
    return frame


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    text: str = frame.to_csv(index=False, lineterminator="\n")
    return text.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    from modelops.fsutil import atomic_write_bytes

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("data/digits/digits.csv")
    atomic_write_bytes(out, to_csv_bytes(export()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
