"""The report's Mermaid charts, checked with Mermaid's own parser (npm, under Node + jsdom)."""

from __future__ import annotations

import pytest
from mermaidcheck import mermaid_blocks, parse
from reportdata import classification_evaluation, regression_evaluation

from modelops.charts import number, xychart
from modelops.report import render_markdown

TRAIN = {"run_id": "r1", "params": {"a": 1}, "seed": 1, "rows": {"train": 10, "test": 5}}


def test_the_parser_refuses_a_broken_chart() -> None:
    """The check can fail: Mermaid refuses an exponent and an unclosed bracket."""
    broken = [
        'xychart-beta\n    x-axis ["a", "b"]\n    line [1e-7, 2]\n',
        'xychart-beta\n    x-axis ["a", "b"\n    line [1, 2]\n',
    ]
    good = xychart("t", "x", ["a", "b"], "y", [("line", [1e-7, 2.0])]).split("\n", 1)[1]
    results = parse([*broken, good.rsplit("```", 1)[0]])
    assert [r["ok"] for r in results] == [False, False, True]
    assert results[2]["type"] == "xychart"


def test_numbers_are_plain_decimals() -> None:
    """Tiny, huge and negative values come out without exponents, as Mermaid's grammar needs."""
    assert [number(v) for v in (1e-7, 2.5e12, -0.000001, 3.0, float("nan"))] == [
        "0",
        "2500000000000",
        "-0.000001",
        "3",
        "0",
    ]


@pytest.mark.parametrize("classes", [[0, 1], ["no", "yes"], list(range(7))])
def test_every_classification_chart_parses(classes: list[object]) -> None:
    """ROC (challenger and champion) and loss curves of binary and multiclass reports parse."""
    task = "binary_classification" if len(classes) == 2 else "multiclass_classification"
    evaluation = classification_evaluation(classes, task=task)
    text = render_markdown("m", TRAIN, evaluation, None, None, [])
    blocks = mermaid_blocks(text)
    assert len(blocks) == 2  # ROC, loss
    assert blocks[0].count("    line [") == 2  # challenger and champion
    assert all(r == {"ok": True, "type": "xychart"} for r in parse(blocks)), parse(blocks)


def test_every_regression_chart_parses() -> None:
    """Predicted-vs-actual (with the champion) and the residual histogram parse."""
    text = render_markdown("m", TRAIN, regression_evaluation(), None, None, [])
    blocks = mermaid_blocks(text)
    assert len(blocks) == 2
    assert blocks[0].count("    line [") == 2 and blocks[0].count("    bar [") == 1
    assert all(r == {"ok": True, "type": "xychart"} for r in parse(blocks)), parse(blocks)
