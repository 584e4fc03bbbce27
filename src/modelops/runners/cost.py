"""What a GPU run costs: a small price table in the repository times the runtime.

The table (`prices.json` beside this module) is indicative; a team overrides
it with `--prices FILE` or `MODELOPS_GPU_PRICES` to match its region and
discounts. The report calls `cost_estimate`, `start` uses `worst_case_cost`
to refuse a run that could exceed the spec's `max_cost_usd`.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from modelops.errors import InputError

PRICES_ENV = "MODELOPS_GPU_PRICES"


def prices_source(path: Path | str | None = None) -> str:
    """Where the prices come from: the argument, `MODELOPS_GPU_PRICES`, or the shipped table."""
    chosen = path or os.environ.get(PRICES_ENV)
    return str(chosen) if chosen else "modelops/runners/prices.json"


def load_prices(path: Path | str | None = None) -> dict[str, dict[str, float]]:
    """Instance type → {"on_demand": usd/h, "spot": usd/h}, validated."""
    chosen = path or os.environ.get(PRICES_ENV)
    source = prices_source(path)
    try:
        if chosen:
            text = Path(chosen).read_text("utf-8")
        else:
            text = resources.files("modelops.runners").joinpath("prices.json").read_text("utf-8")
        doc: Any = json.loads(text)
    except FileNotFoundError:
        raise InputError("price table not found", file=source, hint=f"check {PRICES_ENV}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg}, line {exc.lineno})", file=source) from None
    instances = doc.get("instances") if isinstance(doc, dict) else None
    if not isinstance(instances, dict):
        raise InputError(
            "expected a mapping 'instances' of instance type → prices",
            file=source,
            field="instances",
        )
    table: dict[str, dict[str, float]] = {}
    for itype, row in instances.items():
        for market in ("on_demand", "spot"):
            value = row.get(market) if isinstance(row, dict) else None
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise InputError(
                    "expected a non-negative number (USD per hour)",
                    file=source,
                    field=f"instances.{itype}.{market}",
                )
        table[itype] = {"on_demand": float(row["on_demand"]), "spot": float(row["spot"])}
    return table


def hourly_price(
    instance_type: str, spot: bool, prices: dict[str, dict[str, float]], source: str
) -> float:
    row = prices.get(instance_type)
    if row is None:
        raise InputError(
            f"no price for instance type '{instance_type}'",
            file=source,
            field=f"instances.{instance_type}",
            hint="add it to the price table or pass --prices FILE",
        )
    return row["spot" if spot else "on_demand"]


def cost_estimate(
    instance_type: str, seconds: float, spot: bool, prices_path: Path | str | None = None
) -> dict[str, Any]:
    """The cost of running `instance_type` for `seconds`, for the PR report.

    EC2 bills Linux instances per second (with a one-minute minimum); the
    estimate follows that.
    """
    if seconds < 0:
        raise InputError(f"runtime must not be negative, got {seconds}", field="seconds")
    source = prices_source(prices_path)
    hourly = hourly_price(instance_type, spot, load_prices(prices_path), source)
    billed = max(float(seconds), 60.0) if seconds > 0 else 0.0
    return {
        "instance_type": instance_type,
        "market": "spot" if spot else "on-demand",
        "usd_per_hour": hourly,
        "seconds": float(seconds),
        "billed_seconds": billed,
        "cost_usd": round(hourly * billed / 3600.0, 4),
        "prices": source,
    }


def worst_case_cost(
    instance_types: list[str],
    minutes: int,
    *,
    spot: bool,
    on_demand_fallback: bool,
    prices_path: Path | str | None = None,
) -> dict[str, Any]:
    """The most a run may cost: the dearest candidate at its dearest allowed market."""
    source = prices_source(prices_path)
    prices = load_prices(prices_path)
    markets = ([True] if spot else []) + ([False] if (not spot or on_demand_fallback) else [])
    worst: dict[str, Any] = {"cost_usd": 0.0}
    for itype in instance_types:
        for market in markets:
            hourly = hourly_price(itype, market, prices, source)
            cost = round(hourly * minutes / 60.0, 4)
            if cost >= worst["cost_usd"]:
                worst = {
                    "instance_type": itype,
                    "market": "spot" if market else "on-demand",
                    "usd_per_hour": hourly,
                    "minutes": minutes,
                    "cost_usd": cost,
                    "prices": source,
                }
    return worst
