"""What a GPU run costs: an instance's billed seconds times its price for its region and market.

The price table (`prices.json` beside this module, or `--prices FILE` /
`MODELOPS_GPU_PRICES`) holds USD per hour per region, market (`on_demand`,
`spot`) and instance type, with the date the figures were read (`as_of`).
It is indicative: spot prices move by the hour and differ by zone, and a
team's discounts are not in it. Every figure from it is an estimate, and the
report shows how old the table is.

Billing rule (EC2, Linux, on-demand and spot): per second, with a minimum of
60 seconds, from the instance's launch to the moment it starts shutting down
(see `modelops.runners.billing`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from modelops.errors import InputError, SpecError

PRICES_ENV = "MODELOPS_GPU_PRICES"
SHIPPED = "modelops/runners/prices.json"
BILLING_MINIMUM_S = 60.0
BILLING_RULE = "EC2 bills Linux on-demand and spot per second, 60 s minimum"


def prices_source(path: Path | str | None = None) -> str:
    """Where the prices come from: the argument, `MODELOPS_GPU_PRICES`, or the shipped table."""
    chosen = path or os.environ.get(PRICES_ENV)
    return str(chosen) if chosen else SHIPPED


def market_key(spot: bool) -> str:
    return "spot" if spot else "on_demand"


def market_name(spot: bool) -> str:
    return "spot" if spot else "on-demand"


@dataclass(frozen=True)
class PriceTable:
    """USD per hour by region → market (`on_demand`/`spot`) → instance type, read on `as_of`."""

    file: str
    as_of: date
    origin: str
    regions: dict[str, dict[str, dict[str, float]]]

    def hourly(self, instance_type: str, *, region: str, spot: bool) -> float:
        """The table's price; an InputError naming the missing field when it has none."""
        market = market_key(spot)
        row = self.regions.get(region)
        if row is None:
            raise InputError(
                f"no prices for region '{region}'",
                file=self.file,
                field=f"regions.{region}",
                hint=f"the table prices {', '.join(sorted(self.regions))}; add the region "
                "or pass --prices FILE",
            )
        price = row[market].get(instance_type)
        if price is None:
            raise InputError(
                f"no {market_name(spot)} price for '{instance_type}' in {region}",
                file=self.file,
                field=f"regions.{region}.{market}.{instance_type}",
                hint="add it to the price table or pass --prices FILE",
            )
        return price

    def default_region(self) -> str | None:
        """The one region the table prices, else None (the caller must name one)."""
        return next(iter(self.regions)) if len(self.regions) == 1 else None

    def age_days(self, on: date) -> int:
        return (on - self.as_of).days

    def age_text(self, on: date) -> str:
        """`prices as of 2025-06-01, 546 days old` (relative to `on`)."""
        days = self.age_days(on)
        if days < 0:
            age = f"dated {-days} day(s) after {on.isoformat()}"
        else:
            age = f"{days} day{'s' if days != 1 else ''} old"
        return f"prices as of {self.as_of.isoformat()}, {age}"


def load_prices(path: Path | str | None = None) -> PriceTable:
    """The validated price table: the argument, `MODELOPS_GPU_PRICES`, or the shipped one.

    A bad table is an InputError (exit 2) naming the file and the field.
    """
    from modelops.spec import validate_document

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
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the price table: {exc}", file=source) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg}, line {exc.lineno})", file=source) from None
    if isinstance(doc, dict) and "instances" in doc and "regions" not in doc:
        raise SpecError(
            "the table is in the old format (one region, 'instances'); prices are now per "
            "region and market",
            file=source,
            field="instances",
            hint='write {"as_of": "YYYY-MM-DD", "source": …, "currency": "USD", "regions": '
            '{"us-east-1": {"on_demand": {TYPE: usd/h}, "spot": {TYPE: usd/h}}}}',
        )
    validate_document(doc, "prices", Path(source))
    try:
        as_of = date.fromisoformat(doc["as_of"])
    except ValueError:
        raise SpecError(
            f"not a calendar date: '{doc['as_of']}'", file=source, field="as_of"
        ) from None
    regions = {
        region: {market: {t: float(v) for t, v in row[market].items()} for market in row}
        for region, row in doc["regions"].items()
    }
    return PriceTable(file=source, as_of=as_of, origin=str(doc["source"]), regions=regions)


def resolve_region(table: PriceTable, region: str | None) -> str:
    """`region`, else AWS_REGION / AWS_DEFAULT_REGION, else the table's only region."""
    chosen = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    chosen = chosen or table.default_region()
    if not chosen:
        raise InputError(
            "which region's prices?",
            field="--aws-region",
            hint=f"pass --aws-region or set AWS_REGION ({', '.join(sorted(table.regions))})",
        )
    return chosen


def billed_seconds(seconds: float) -> float:
    """EC2's Linux rule: whole seconds, at least 60 once the instance ran at all."""
    if seconds <= 0:
        return 0.0
    return max(float(math.ceil(seconds)), BILLING_MINIMUM_S)


def cost_estimate(
    instance_type: str,
    seconds: float,
    spot: bool,
    prices_path: Path | str | None = None,
    *,
    region: str | None = None,
    table: PriceTable | None = None,
) -> dict[str, Any]:
    """The estimated cost of `instance_type` in `region` for `seconds` of billed life."""
    if seconds < 0:
        raise InputError(f"runtime must not be negative, got {seconds}", field="seconds")
    table = table or load_prices(prices_path)
    where = resolve_region(table, region)
    hourly = table.hourly(instance_type, region=where, spot=spot)
    billed = billed_seconds(seconds)
    return {
        "instance_type": instance_type,
        "region": where,
        "market": market_name(spot),
        "usd_per_hour": hourly,
        "seconds": float(seconds),
        "billed_seconds": billed,
        "billing_rule": BILLING_RULE,
        "cost_usd": round(hourly * billed / 3600.0, 4),
        "estimate": True,
        "prices": table.file,
        "prices_as_of": table.as_of.isoformat(),
    }


def worst_case_cost(
    instance_types: list[str],
    minutes: int,
    *,
    spot: bool,
    on_demand_fallback: bool,
    prices_path: Path | str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """The most a run may cost: the dearest candidate at its dearest allowed market."""
    table = load_prices(prices_path)
    where = resolve_region(table, region)
    markets = ([True] if spot else []) + ([False] if (not spot or on_demand_fallback) else [])
    worst: dict[str, Any] = {"cost_usd": 0.0}
    for itype in instance_types:
        for market in markets:
            hourly = table.hourly(itype, region=where, spot=market)
            cost = round(hourly * minutes / 60.0, 4)
            if cost >= worst["cost_usd"]:
                worst = {
                    "instance_type": itype,
                    "region": where,
                    "market": market_name(market),
                    "usd_per_hour": hourly,
                    "minutes": minutes,
                    "cost_usd": cost,
                    "prices": table.file,
                    "prices_as_of": table.as_of.isoformat(),
                }
    return worst
