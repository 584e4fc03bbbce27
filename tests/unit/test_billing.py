"""An instance's billed life read from moto's EC2 (in process), the stop record, and its price."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelops.cli import main
from modelops.errors import InputError
from modelops.runners.billing import (
    billed_life,
    billing_document,
    load_billing,
    read_billed_lives,
    transition_time,
    write_billing,
)
from modelops.runners.cost import load_prices

REPO = "acme/models"
RUN_ID = "4242"


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's EC2 in this process (`mock_aws`), us-east-1, with fake credentials."""
    import boto3
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_DEFAULT_REGION", "GITHUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def launch(ec2: Any, *, spot: bool, instance_type: str = "g5.xlarge", run_id: str = RUN_ID) -> str:
    """One instance tagged as `runners start` tags it."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = {
        "modelops:repository": REPO,
        "modelops:run-id": run_id,
        "modelops:run-attempt": "1",
        "modelops:label": f"modelops-{run_id}-1-train-abcd",
    }
    extra: dict[str, Any] = (
        {"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {}}} if spot else {}
    )
    out = ec2.run_instances(
        ImageId=image,
        InstanceType=instance_type,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
        **extra,
    )
    return str(out["Instances"][0]["InstanceId"])


@pytest.mark.parametrize("spot", [True, False])
def test_billed_life_of_a_terminated_instance(ec2: Any, spot: bool) -> None:
    """Launch and terminate: launch time, end from StateTransitionReason, region, market."""
    instance_id = launch(ec2, spot=spot)
    ec2.terminate_instances(InstanceIds=[instance_id])
    later = datetime.now(UTC) + timedelta(hours=1)
    (life,) = read_billed_lives(ec2, [instance_id], observed_at=later)
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert life.instance_id == instance_id and life.instance_type == "g5.xlarge"
    assert life.region == "us-east-1"
    assert life.market == ("spot" if spot else "on-demand")
    assert life.state == "terminated"
    assert life.end_source == "state-transition-reason", "EC2's own time, not the observer's"
    assert life.launch_time == described["LaunchTime"].replace(microsecond=0)
    assert life.end_time == transition_time(described["StateTransitionReason"])
    assert life.launch_time <= life.end_time < later
    assert life.billed_seconds == 60.0, "a life under a minute is billed as one minute"


def test_a_live_instance_is_billed_up_to_when_it_was_seen(ec2: Any) -> None:
    """A running instance has no end in EC2: its life runs to the observation time."""
    instance_id = launch(ec2, spot=False)
    seen = datetime.now(UTC) + timedelta(minutes=10)
    (life,) = read_billed_lives(ec2, [instance_id], observed_at=seen)
    assert life.state == "running" and life.end_source == "observed-by-stop"
    assert life.end_time == seen.replace(microsecond=0)
    assert 595 <= life.billed_seconds <= 601


def test_transition_reason_formats() -> None:
    """EC2's GMT and moto's UTC timestamps parse; text without one gives None."""
    assert transition_time("User initiated (2026-11-29 22:14:50 GMT)") == datetime(
        2026, 11, 29, 22, 14, 50, tzinfo=UTC
    )
    assert transition_time("User initiated (2026-11-29 22:14:50 UTC)") is not None
    assert transition_time("") is None and transition_time("Server.SpotInstance") is None
    launched = datetime(2026, 11, 29, 22, 0, 0, tzinfo=UTC)
    entry = {
        "InstanceId": "i-0123456789abcdef0",
        "InstanceType": "g5.xlarge",
        "LaunchTime": launched,
        "State": {"Name": "terminated"},
        "StateTransitionReason": "Service initiated (2026-11-29 22:30:00 GMT)",
        "InstanceLifecycle": "spot",
    }
    life = billed_life(entry, "eu-west-1", observed_at=launched + timedelta(hours=2))
    assert life.billed_seconds == 1800.0 and life.market == "spot" and life.region == "eu-west-1"


def test_stop_writes_the_billing_record_the_report_reads(ec2: Any, tmp_path: Path, capsys) -> None:
    """`runners stop --billing-out` terminates the run's instance and records its billed life,
    including an instance of the run that had already ended; other runs are left out."""
    running = launch(ec2, spot=True)
    ended = launch(ec2, spot=False, instance_type="g4dn.xlarge")
    ec2.terminate_instances(InstanceIds=[ended])
    other = launch(ec2, spot=True, run_id="999")
    record = tmp_path / "billing.json"
    argv = ["runners", "stop", "--repository", REPO, "--run-id", RUN_ID, "--aws-region",
            "us-east-1", "--billing-out", str(record)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"terminated 1 instance(s): {running}" in out
    assert "estimate" in out and "prices as of" in out
    lives = {life.instance_id: life for life in load_billing(record)}
    assert set(lives) == {running, ended}
    assert lives[running].market == "spot" and lives[ended].market == "on-demand"
    assert lives[running].state in ("shutting-down", "terminated")
    assert all(life.end_source == "state-transition-reason" for life in lives.values())
    states = ec2.describe_instances(InstanceIds=[other])["Reservations"][0]["Instances"][0]
    assert states["State"]["Name"] == "running"
    doc = json.loads(record.read_text())
    assert doc["repository"] == REPO and doc["run_id"] == RUN_ID
    assert "60 s minimum" in doc["billing_rule"]


def _record(path: Path, **changes: Any) -> Path:
    item = {
        "instance_id": "i-0123456789abcdef0",
        "instance_type": "g5.xlarge",
        "region": "us-east-1",
        "market": "spot",
        "state": "terminated",
        "launch_time": "2026-11-29T22:00:00Z",
        "end_time": "2026-11-29T22:30:00Z",
        "end_source": "state-transition-reason",
        **changes,
    }
    path.write_text(json.dumps({"instances": [item]}))
    return path


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"instance_id": "i-<script>"}, "instances[0].instance_id"),
        ({"market": "reserved"}, "instances[0].market"),
        ({"launch_time": "2026-11-29 22:00"}, "instances[0].launch_time"),
        ({"end_time": "2026-13-29T22:00:00Z"}, "instances[0].end_time"),
        ({"end_time": "2026-11-29T21:00:00Z"}, "instances[0].end_time"),
        ({"region": "us-east-1\n@x"}, "instances[0].region"),
    ],
)
def test_a_bad_billing_record_names_the_field(tmp_path: Path, change: dict, field: str) -> None:
    """The record is read back as input: a bad value is an InputError naming the field."""
    with pytest.raises(InputError) as bad:
        load_billing(_record(tmp_path / "b.json", **change))
    assert bad.value.field == field and str(tmp_path / "b.json") in str(bad.value.file)


def test_written_record_round_trips(tmp_path: Path) -> None:
    """What write_billing writes, load_billing reads back to the same lives."""
    (life,) = load_billing(_record(tmp_path / "a.json"))
    write_billing(tmp_path / "b.json", billing_document([life], repository=REPO, run_id="1"))
    assert load_billing(tmp_path / "b.json") == [life]
    assert life.billed_seconds == 1800.0


def test_shipped_table_has_an_as_of_and_prices_what_start_offers() -> None:
    """The shipped table validates, is dated, and prices g5.xlarge in both markets."""
    table = load_prices()
    assert table.as_of <= date.today()
    assert table.hourly("g5.xlarge", region="us-east-1", spot=True) > 0
    assert table.hourly("g5.xlarge", region="us-east-1", spot=False) > 0
