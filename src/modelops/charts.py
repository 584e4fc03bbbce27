"""The report's charts as Mermaid `xychart-beta` blocks, which github.com renders in place.

No image host and no relative image links: a chart is text in the comment. Mermaid's
xychart is beta on GitHub, so every chart is followed by its numbers in a collapsed
`<details>` table. Only numbers and fixed words go into a chart (never a label or name
read from a results file), formatted without exponents, as Mermaid's grammar requires;
`tests/unit/test_charts.py` checks each generated block with Mermaid's own parser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# First line blue, second orange, third grey: the text under each chart names them.
PALETTE = "#2563eb, #f97316, #9ca3af"
COLOURS = ("blue", "orange", "grey")


def number(value: float) -> str:
    """A finite number as Mermaid reads it: plain decimal, no exponent, no trailing zeros."""
    if not math.isfinite(value):
        return "0"
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _axis_range(values: Sequence[float], *, floor: float | None = None) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if floor is not None:
        low = min(low, floor)
    if high == low:
        high = low + 1.0
    pad = (high - low) * 0.05
    return low - (0 if floor is not None and low == floor else pad), high + pad


def xychart(
    title: str,
    x_title: str,
    categories: Sequence[str],
    y_title: str,
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    y_range: tuple[float, float] | None = None,
) -> str:
    """One ```mermaid block: `series` are (kind, values) with kind `line` or `bar`.

    `title`, the axis titles and the categories are the caller's fixed words and numbers.
    """
    for text in (title, x_title, y_title, *categories):
        if '"' in text or "\n" in text:
            raise ValueError(f"chart text {text!r} cannot be quoted for Mermaid")
    values = [v for _, points in series for v in points]
    low, high = y_range or _axis_range(values)
    lines = [
        "```mermaid",
        f'%%{{init: {{"themeVariables": {{"xyChart": {{"plotColorPalette": "{PALETTE}"}}}}}}}}%%',
        "xychart-beta",
        f'    title "{title}"',
        f'    x-axis "{x_title}" [{", ".join(f"{chr(34)}{c}{chr(34)}" for c in categories)}]',
        f'    y-axis "{y_title}" {number(low)} --> {number(high)}',
    ]
    for kind, points in series:
        if kind not in ("line", "bar"):
            raise ValueError(f"unknown series kind {kind!r}")
        lines.append(f"    {kind} [{', '.join(number(v) for v in points)}]")
    lines.append("```")
    return "\n".join(lines)


def details(summary: str, table: list[str]) -> list[str]:
    """A collapsed block holding a markdown table (blank lines around it so GitHub renders it)."""
    return ["<details>", f"<summary>{summary}</summary>", "", *table, "", "</details>"]


def legend(names: Sequence[str]) -> str:
    """`blue: challenger · orange: champion` for the series in palette order."""
    return " · ".join(f"{COLOURS[i]}: {name}" for i, name in enumerate(names))
