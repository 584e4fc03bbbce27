"""`make bench` on the examples: a quick run of the GPU-training figure, which trains digits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exampleproject import REPO


def test_quick_digits_bench_prints_the_table_and_writes_the_machine(tmp_path: Path) -> None:
    """A quick run of one figure exits 0 and writes its table with the machine it ran on."""
    output = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "gpu_training",
         "--output", str(output), "--out-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = output.read_text()
    assert "| 6 GPU training |" in proc.stdout
    for field in ("- CPU:", "- RAM:", "- Python:", "- OS:", "- Date:", "Quick run"):
        assert field in text
    assert "samples/s on cpu" in text
