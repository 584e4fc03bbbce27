"""An instance's billed life, read from EC2, and the small record the report prices.

EC2 bills a Linux instance (on-demand or spot) per second, with a 60 s minimum,
from its launch until it starts shutting down. Of what DescribeInstances returns:

- start: `LaunchTime`. The runners never stop and restart (their shutdown
  behaviour is `terminate`), so it is the start of the one billed period.
- end: the timestamp in `StateTransitionReason` (`User initiated (2026-11-29
  22:14:50 GMT)`), which EC2 sets when the instance leaves `running` for
  `shutting-down`, whoever ended it (stop, the janitor, the on-host timer, a
  spot interruption). It is the one place EC2 states that moment, and moto
  models it. When it is missing or unreadable, the time the stop step observed
  the instance ended is used instead (`end_source: observed-by-stop`), a
  slight overestimate.
- region: the client's region; market: `InstanceLifecycle == "spot"`.

The stop step (`modelops runners stop --billing-out FILE`) holds EC2 credentials
and writes the record; the report, in a job that runs a pull request's code and
holds no AWS role, reads it as untrusted input (`load_billing`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError, ServiceError
from modelops.fsutil import atomic_write_json
from modelops.runners.cost import BILLING_MINIMUM_S, BILLING_RULE, billed_seconds

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ENDED_STATES = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
# EC2 writes GMT; moto writes UTC.
_REASON_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class BilledLife:
    """One instance from launch to the end of its billing."""

    instance_id: str
    instance_type: str
    region: str
    market: str  # "spot" | "on-demand"
    state: str
    launch_time: datetime
    end_time: datetime
    end_source: str  # "state-transition-reason" | "observed-by-stop"
    label: str = ""

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_time - self.launch_time).total_seconds())

    @property
    def billed_seconds(self) -> float:
        """Whole seconds, and at least the 60 s minimum, however short its life."""
        return max(billed_seconds(self.seconds), BILLING_MINIMUM_S)

    def as_json(self) -> dict[str, str]:
        doc = {
            "instance_id": self.instance_id,
            "instance_type": self.instance_type,
            "region": self.region,
            "market": self.market,
            "state": self.state,
            "launch_time": self.launch_time.strftime(_STAMP),
            "end_time": self.end_time.strftime(_STAMP),
            "end_source": self.end_source,
        }
        if self.label:
            doc["label"] = self.label
        return doc


def transition_time(reason: str) -> datetime | None:
    """The UTC time in a `StateTransitionReason`, or None when it holds none."""
    found = _REASON_TIME.search(reason or "")
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def billed_life(instance: dict[str, Any], region: str, *, observed_at: datetime) -> BilledLife:
    """The billed life of one DescribeInstances entry.

    An instance that has not ended yet is billed up to `observed_at` (and on).
    """
    launch = instance["LaunchTime"]
    if launch.tzinfo is None:
        launch = launch.replace(tzinfo=UTC)
    state = str((instance.get("State") or {}).get("Name", ""))
    end = transition_time(str(instance.get("StateTransitionReason") or ""))
    source = "state-transition-reason"
    if state not in ENDED_STATES or end is None or end < launch:
        end, source = observed_at.astimezone(UTC).replace(microsecond=0), "observed-by-stop"
    tags = {str(t["Key"]): str(t["Value"]) for t in instance.get("Tags", [])}
    return BilledLife(
        instance_id=str(instance["InstanceId"]),
        instance_type=str(instance["InstanceType"]),
        region=region,
        market="spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand",
        state=state,
        launch_time=launch.replace(microsecond=0),
        end_time=end,
        end_source=source,
        label=tags.get("modelops:label", ""),
    )


def read_billed_lives(
    ec2: EC2Client, instance_ids: list[str], *, observed_at: datetime | None = None
) -> list[BilledLife]:
    """DescribeInstances for `instance_ids` (any state), each as its billed life."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not instance_ids:
        return []
    observed = observed_at or datetime.now(UTC)
    region = ec2.meta.region_name
    lives: list[BilledLife] = []
    try:
        paginator = ec2.get_paginator("describe_instances")
        for page in paginator.paginate(InstanceIds=instance_ids):
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    lives.append(billed_life(dict(instance), region, observed_at=observed))
    except (ClientError, BotoCoreError) as exc:
        raise ServiceError(f"DescribeInstances failed while reading billed life: {exc}") from None
    return sorted(lives, key=lambda life: (life.launch_time, life.instance_id))


def billing_document(
    lives: list[BilledLife], *, repository: str | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """The record `write_billing` writes and `load_billing` reads back."""
    doc: dict[str, Any] = {
        "schema_version": 1,
        "billing_rule": BILLING_RULE,
        "instances": [life.as_json() for life in lives],
    }
    if repository:
        doc["repository"] = repository
    if run_id:
        doc["run_id"] = run_id
    return doc


def write_billing(path: Path, doc: dict[str, Any]) -> Path:
    """Write the record atomically (validated first: what is written can be read back)."""
    from modelops.spec import validate_document

    validate_document(doc, "billing", path)
    atomic_write_json(path, doc)
    return path


def load_billing(path: Path) -> list[BilledLife]:
    """The record a stop step wrote, validated (it reaches a PR comment): exit 2 when bad."""
    from modelops.spec import validate_document

    try:
        doc: Any = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(
            "billing record not found", file=path, hint="`modelops runners stop --billing-out`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the billing record: {exc}", file=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg}, line {exc.lineno})", file=path) from None
    validate_document(doc, "billing", path)
    lives = []
    for i, item in enumerate(doc["instances"]):
        times = {}
        for key in ("launch_time", "end_time"):
            try:
                times[key] = datetime.strptime(item[key], _STAMP).replace(tzinfo=UTC)
            except ValueError:
                raise InputError(
                    f"not a valid UTC time: '{item[key]}'", file=path, field=f"instances[{i}].{key}"
                ) from None
        if times["end_time"] < times["launch_time"]:
            raise InputError(
                "ends before it was launched", file=path, field=f"instances[{i}].end_time"
            )
        lives.append(
            BilledLife(
                instance_id=item["instance_id"],
                instance_type=item["instance_type"],
                region=item["region"],
                market=item["market"],
                state=item["state"],
                launch_time=times["launch_time"],
                end_time=times["end_time"],
                end_source=item["end_source"],
                label=item.get("label", ""),
            )
        )
    return lives
