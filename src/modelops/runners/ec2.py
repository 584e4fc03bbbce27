"""The runner lifecycle on EC2: start one instance for one job, stop a run's instances, sweep.

Instances are found by their tags, never by a start job's outputs (which are
empty when the start job was cancelled). Every instance carries the run's
tags and an expiry; its user data arms an on-host shutdown before anything
else, so the deadline holds even when nothing here runs again.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError, ServiceError
from modelops.runners import (
    LIVE_STATES,
    TAG_EXPIRES_AT,
    TAG_JOB,
    TAG_LABEL,
    TAG_MARKET,
    TAG_REPOSITORY,
    TAG_RUN_ATTEMPT,
    TAG_RUN_ID,
)
from modelops.runners.billing import read_billed_lives
from modelops.runners.github import GitHub, JitConfig, Runner
from modelops.runners.userdata import render_user_data

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

Say = Callable[[str], None]

# Not enough room for this type here right now: try the next type, zone or market.
CAPACITY_ERRORS = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientFreeAddressesInSubnet",
        "InsufficientCapacityOnHost",
        "SpotMaxPriceTooLow",
        "Unsupported",
        "UnfulfillableCapacity",
    }
)
# Trying elsewhere would not help and may hide the cause: stop and say so.
QUOTA_ERRORS = frozenset(
    {
        "VcpuLimitExceeded",
        "MaxSpotInstanceCountExceeded",
        "InstanceLimitExceeded",
        "ResourceLimitExceeded",
    }
)
PERMISSION_ERRORS = frozenset(
    {
        "UnauthorizedOperation",
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "OptInRequired",
        "Blocked",
        "PendingVerification",
        "InvalidClientTokenId",
        "ExpiredToken",
    }
)

_LABEL_PART = re.compile(r"[^a-z0-9-]+")
_INSTANCE_TYPE = re.compile(r"^[a-z0-9-]+\.[a-z0-9]+$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]+$")


def stderr_say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ec2_client(region: str | None) -> EC2Client:
    """An EC2 client; `AWS_ENDPOINT_URL_EC2` or `AWS_ENDPOINT_URL` redirect it (tests)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=10)
    try:
        return boto3.client("ec2", region_name=region, config=config)
    except Exception as exc:  # botocore raises NoRegionError and friends from here
        raise InputError(
            f"cannot create an EC2 client: {exc}",
            field="--aws-region",
            hint="pass --aws-region or set AWS_REGION",
        ) from None


@dataclass(frozen=True)
class RunContext:
    """Which workflow run and job an instance belongs to (GITHUB_* variables by default)."""

    repository: str
    run_id: str
    run_attempt: str = "1"
    job: str = "train"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+", self.repository):
            raise InputError(f"expected OWNER/NAME, got '{self.repository}'", field="--repository")
        if not self.run_id.isdigit():
            raise InputError(f"expected a number, got '{self.run_id}'", field="--run-id")
        if not self.run_attempt.isdigit():
            raise InputError(f"expected a number, got '{self.run_attempt}'", field="--run-attempt")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", self.job):
            raise InputError(
                f"job ids hold letters, digits, '.', '_' and '-' only: '{self.job}'",
                field="--job",
            )


@dataclass(frozen=True)
class Candidate:
    """One RunInstances attempt: an instance type in a subnet, spot or on-demand."""

    instance_type: str
    subnet_id: str | None
    spot: bool

    def describe(self) -> str:
        where = self.subnet_id or "launch template's subnet"
        return f"{self.instance_type} in {where} ({'spot' if self.spot else 'on-demand'})"


@dataclass(frozen=True)
class StartOptions:
    context: RunContext
    launch_template: str
    instance_types: tuple[str, ...]
    subnet_ids: tuple[str, ...] = ()
    launch_template_version: str = "$Default"
    spot: bool = True
    on_demand_fallback: bool = True
    max_minutes: int = 60
    wait_timeout_s: float = 300.0
    poll_interval_s: float = 5.0
    extra_labels: tuple[str, ...] = ()
    runner_dir: str = "/opt/actions-runner"
    runner_url: str | None = None
    runner_sha256: str | None = None

    def __post_init__(self) -> None:
        if not self.instance_types:
            raise InputError("at least one instance type is needed", field="--instance-types")
        for itype in self.instance_types:
            if not _INSTANCE_TYPE.fullmatch(itype):
                raise InputError(f"not an instance type: '{itype}'", field="--instance-types")
        for subnet in self.subnet_ids:
            if not _SUBNET.fullmatch(subnet):
                raise InputError(f"not a subnet id: '{subnet}'", field="--subnet-ids")
        if not re.fullmatch(r"[A-Za-z0-9()./_-]{3,128}", self.launch_template):
            raise InputError(
                f"not a launch template name or id: '{self.launch_template}'",
                field="--launch-template",
            )
        if not 1 <= self.max_minutes <= 1440:
            raise InputError(
                f"must be 1..1440 minutes, got {self.max_minutes}", field="--max-minutes"
            )
        if self.wait_timeout_s <= 0 or self.poll_interval_s <= 0:
            raise InputError(
                "wait timeout and poll interval must be positive", field="--wait-timeout"
            )

    def candidates(self) -> list[Candidate]:
        """Spot first (when asked) over types × subnets in order, then on-demand if allowed."""
        markets = [True] if self.spot else []
        if not self.spot or self.on_demand_fallback:
            markets.append(False)
        subnets: tuple[str | None, ...] = self.subnet_ids or (None,)
        return [
            Candidate(itype, subnet, market)
            for market in markets
            for itype in self.instance_types
            for subnet in subnets
        ]


@dataclass
class StartResult:
    label: str
    instance_id: str
    candidate: Candidate
    expires_at: str
    attempts: list[dict[str, str]] = field(default_factory=list)
    waited_s: float = 0.0


def make_label(context: RunContext) -> str:
    """`modelops-<run>-<attempt>-<job>-<random>`: unique per start, readable in the runners list."""
    job = _LABEL_PART.sub("-", context.job.lower()).strip("-")[:24] or "job"
    return f"modelops-{context.run_id}-{context.run_attempt}-{job}-{secrets.token_hex(4)}"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__


def _error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def _launch_template_spec(name_or_id: str, version: str) -> dict[str, str]:
    key = "LaunchTemplateId" if name_or_id.startswith("lt-") else "LaunchTemplateName"
    return {key: name_or_id, "Version": version}


def run_instance(
    ec2: EC2Client,
    options: StartOptions,
    candidate: Candidate,
    *,
    label: str,
    user_data: str,
    expires_at: str,
) -> str:
    """One RunInstances call; returns the instance id or raises botocore's ClientError."""
    ctx = options.context
    tags = [
        {"Key": "Name", "Value": label},
        {"Key": TAG_REPOSITORY, "Value": ctx.repository},
        {"Key": TAG_RUN_ID, "Value": ctx.run_id},
        {"Key": TAG_RUN_ATTEMPT, "Value": ctx.run_attempt},
        {"Key": TAG_JOB, "Value": ctx.job},
        {"Key": TAG_EXPIRES_AT, "Value": expires_at},
        {"Key": TAG_LABEL, "Value": label},
        {"Key": TAG_MARKET, "Value": "spot" if candidate.spot else "on-demand"},
    ]
    request: dict[str, Any] = {
        "LaunchTemplate": _launch_template_spec(
            options.launch_template, options.launch_template_version
        ),
        "InstanceType": candidate.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "UserData": user_data,
        # The on-host `shutdown -h` becomes a termination, not a stopped instance
        # that keeps its disk (and its bill) forever.
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
        # Idempotent on a retried request: one label, one instance.
        "ClientToken": f"{label}-{candidate.instance_type}-{candidate.subnet_id or 'lt'}"[:64],
    }
    if candidate.subnet_id:
        request["SubnetId"] = candidate.subnet_id
    if candidate.spot:
        request["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {
                "SpotInstanceType": "one-time",
                "InstanceInterruptionBehavior": "terminate",
            },
        }
    response = ec2.run_instances(**request)
    return str(response["Instances"][0]["InstanceId"])


def launch(
    ec2: EC2Client,
    options: StartOptions,
    *,
    label: str,
    user_data: str,
    expires_at: str,
    say: Say,
) -> tuple[str, Candidate, list[dict[str, str]]]:
    """Try each candidate in order; capacity errors move on, anything else fails fast."""
    from botocore.exceptions import BotoCoreError, ClientError

    attempts: list[dict[str, str]] = []
    for candidate in options.candidates():
        try:
            instance_id = run_instance(
                ec2, options, candidate, label=label, user_data=user_data, expires_at=expires_at
            )
        except ClientError as exc:
            code = _error_code(exc)
            attempts.append({"candidate": candidate.describe(), "error": code})
            if code in CAPACITY_ERRORS:
                say(f"no capacity for {candidate.describe()}: {code}; trying the next")
                continue
            raise ServiceError(
                f"RunInstances failed for {candidate.describe()}: {code}: {_error_text(exc)}",
                hint=_launch_hint(code),
            ) from None
        except BotoCoreError as exc:
            raise ServiceError(
                f"EC2 API unreachable: {exc}", hint="check the network and region"
            ) from None
        attempts.append({"candidate": candidate.describe(), "error": ""})
        return instance_id, candidate, attempts
    tried = "; ".join(f"{a['candidate']}: {a['error']}" for a in attempts)
    raise ServiceError(
        f"no capacity for any candidate ({tried})",
        hint="add instance types or subnets in other zones, or allow on-demand fallback",
    )


def _launch_hint(code: str) -> str:
    if code in QUOTA_ERRORS:
        return (
            "a service quota is exhausted; request an increase (Service Quotas → EC2, e.g. "
            "'Running On-Demand G and VT instances' / 'All G and VT Spot Instance Requests')"
        )
    if code in PERMISSION_ERRORS:
        return (
            "the role lacks a permission or the account is not enabled for this; check the "
            "training role from infra/aws and that the launch template and tags match its policy"
        )
    return "see the EC2 error code in the AWS documentation"


def find_instances(
    ec2: EC2Client, filters: dict[str, str], states: tuple[str, ...] = LIVE_STATES
) -> list[dict[str, Any]]:
    """Instances whose tags match `filters` (tag key → value), in `states`."""
    from botocore.exceptions import BotoCoreError, ClientError

    request_filters: list[dict[str, Any]] = [
        {"Name": f"tag:{key}", "Values": [value]} for key, value in filters.items()
    ]
    request_filters.append({"Name": "instance-state-name", "Values": list(states)})
    instances: list[dict[str, Any]] = []
    try:
        paginator = ec2.get_paginator("describe_instances")
        for page in paginator.paginate(Filters=request_filters):  # type: ignore[arg-type]
            for reservation in page.get("Reservations", []):
                instances.extend(dict(i) for i in reservation.get("Instances", []))
    except (ClientError, BotoCoreError) as exc:
        raise ServiceError(
            f"DescribeInstances failed: {_error_code(exc)}: {_error_text(exc)}"
        ) from None
    return instances


def terminate(ec2: EC2Client, instance_ids: list[str]) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    if not instance_ids:
        return
    try:
        ec2.terminate_instances(InstanceIds=instance_ids)
    except (ClientError, BotoCoreError) as exc:
        raise ServiceError(
            f"TerminateInstances {', '.join(instance_ids)} failed: "
            f"{_error_code(exc)}: {_error_text(exc)}",
            hint="the on-host shutdown timer still ends them at their deadline; rerun "
            "`modelops runners stop` or the janitor",
        ) from None


def tags_of(instance: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in instance.get("Tags", [])}


def _cleanup_after_failed_start(
    ec2: EC2Client, github: GitHub, label: str, jit: JitConfig, repository: str, say: Say
) -> list[str]:
    """Best effort: terminate what this start launched (found by its label) and unregister it."""
    terminated: list[str] = []
    try:
        ids = [
            str(i["InstanceId"])
            for i in find_instances(ec2, {TAG_REPOSITORY: repository, TAG_LABEL: label})
        ]
        terminate(ec2, ids)
        terminated = ids
    except ServiceError as exc:
        say(f"warning: could not terminate the instance of {label}: {exc}")
    try:
        github.delete_runner(jit.runner_id)
    except ServiceError as exc:
        say(f"warning: could not remove runner {label}: {exc}")
    if terminated:
        say(f"terminated {', '.join(terminated)} after the failed start")
    return terminated


def start_runner(
    options: StartOptions,
    *,
    ec2: EC2Client,
    github: GitHub,
    say: Say = stderr_say,
    mask: Callable[[str], None] | None = None,
) -> StartResult:
    """Register a JIT runner, launch its instance, wait (bounded) until it is online.

    If anything fails or the process is interrupted after the JIT config
    exists, the instance (found by its label tag) is terminated and the runner
    unregistered before the error propagates; a kill that allows no cleanup is
    handled by `stop` and the janitor, and in the end by the on-host timer.
    """
    ctx = options.context
    label = make_label(ctx)
    labels = [label, *options.extra_labels]
    jit = github.generate_jitconfig(label, labels)
    if mask is not None:
        mask(jit.encoded)
    try:
        user_data = render_user_data(
            jitconfig=jit.encoded,
            max_minutes=options.max_minutes,
            runner_dir=options.runner_dir,
            runner_url=options.runner_url,
            runner_sha256=options.runner_sha256,
        )
        expires_at = iso_utc(datetime.now(UTC) + timedelta(minutes=options.max_minutes))
        instance_id, candidate, attempts = launch(
            ec2, options, label=label, user_data=user_data, expires_at=expires_at, say=say
        )
        say(f"launched {instance_id}: {candidate.describe()}, runner {label}, expires {expires_at}")
        waited = wait_until_online(
            ec2, github, instance_id=instance_id, label=label, options=options, say=say
        )
    except BaseException:
        _cleanup_after_failed_start(ec2, github, label, jit, ctx.repository, say)
        raise
    return StartResult(label, instance_id, candidate, expires_at, attempts, waited)


def wait_until_online(
    ec2: EC2Client,
    github: GitHub,
    *,
    instance_id: str,
    label: str,
    options: StartOptions,
    say: Say,
) -> float:
    """Poll until the runner named `label` is online; bounded by `options.wait_timeout_s`."""
    started = time.monotonic()
    deadline = started + options.wait_timeout_s
    while True:
        runner = github.find_runner(label)
        if runner is not None and runner.status == "online":
            waited = time.monotonic() - started
            say(f"runner {label} is online after {waited:.0f}s")
            return waited
        states = find_instances(ec2, {TAG_LABEL: label}, states=("shutting-down", "terminated"))
        if any(str(i["InstanceId"]) == instance_id for i in states):
            raise ServiceError(
                f"instance {instance_id} ended before runner {label} came online",
                hint="a spot interruption or a failed boot; see the instance's console output",
            )
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"runner {label} did not come online within {options.wait_timeout_s:.0f}s; "
                f"instance {instance_id} terminated",
                hint="check the AMI has the runner in --runner-dir (or pass --runner-url) and "
                "that the subnet can reach GitHub",
            )
        time.sleep(min(options.poll_interval_s, max(0.0, deadline - time.monotonic())))


# -- stop ------------------------------------------------------------------


def stop_runners(
    ec2: EC2Client,
    context: RunContext,
    *,
    any_attempt: bool,
    label: str | None = None,
    github: GitHub | None = None,
    say: Say = stderr_say,
) -> dict[str, Any]:
    """Terminate the run's live instances (by tag) and unregister their idle runners.

    `billing` holds the billed life of every instance of the run (`BilledLife`), read
    from EC2 after the terminate call.
    """
    filters = {TAG_REPOSITORY: context.repository, TAG_RUN_ID: context.run_id}
    if not any_attempt:
        filters[TAG_RUN_ATTEMPT] = context.run_attempt
    if label:
        filters[TAG_LABEL] = label
    instances = find_instances(ec2, filters)
    ids = [str(i["InstanceId"]) for i in instances]
    terminate(ec2, ids)
    labels = sorted({tags_of(i).get(TAG_LABEL, "") for i in instances} - {""})
    removed = _remove_runners(github, set(labels), say) if github else []
    # Every instance of the run, also those that ended before this step (spot
    # interruption, on-host timer): each was billed from launch to its end.
    ended = find_instances(ec2, filters, states=(*LIVE_STATES, "shutting-down", "terminated"))
    lives = read_billed_lives(ec2, sorted({str(i["InstanceId"]) for i in ended}))
    return {
        "terminated": ids,
        "labels": labels,
        "runners_removed": removed,
        "filters": filters,
        "billing": lives,
    }


def _remove_runners(github: GitHub, names: set[str], say: Say) -> list[str]:
    """Unregister the named runners unless busy; failures are reported, not fatal."""
    removed: list[str] = []
    try:
        runners = [r for r in github.list_runners() if r.name in names]
    except ServiceError as exc:
        say(f"warning: could not list runners: {exc}")
        return removed
    for runner in runners:
        if runner.busy:
            continue
        try:
            github.delete_runner(runner.id)
            removed.append(runner.name)
        except ServiceError as exc:
            say(f"warning: could not remove runner {runner.name}: {exc}")
    return removed


# -- janitor ---------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    instance_id: str
    label: str
    action: str  # "terminate" | "keep"
    reason: str


def janitor(
    ec2: EC2Client,
    repository: str,
    *,
    github: GitHub | None,
    boot_grace_s: float = 600.0,
    dry_run: bool = False,
    now: datetime | None = None,
    say: Say = stderr_say,
) -> dict[str, Any]:
    """Terminate expired instances and those whose run ended; drop runners with no instance.

    Order of the rules, per instance:
      1. past its expiry tag (or with none): terminate. The deadline is a hard
         limit, the same one the on-host timer enforces; a job still busy at
         its deadline is what the limit exists for.
      2. launched less than `boot_grace_s` ago: keep (its runner may not be
         registered yet).
      3. its runner is busy: keep.
      4. its workflow run has completed: terminate.
      5. otherwise keep.
    """
    now = now or datetime.now(UTC)
    instances = find_instances(ec2, {TAG_REPOSITORY: repository})
    runners: dict[str, Runner] = {}
    run_status: dict[str, str] = {}
    if github is not None:
        try:
            runners = {r.name: r for r in github.list_runners()}
        except ServiceError as exc:
            # Expiry needs no GitHub: go on with that rule alone rather than not at all.
            say(f"warning: GitHub unavailable, only expiry is checked: {exc}")
            github = None
    decisions: list[Decision] = []
    for instance in instances:
        tags = tags_of(instance)
        instance_id = str(instance["InstanceId"])
        label = tags.get(TAG_LABEL, "")
        expires = parse_iso_utc(tags.get(TAG_EXPIRES_AT, ""))
        launched = instance.get("LaunchTime")
        age_s = (now - launched).total_seconds() if isinstance(launched, datetime) else 0.0
        runner = runners.get(label)
        if expires is None:
            if age_s >= boot_grace_s:
                decisions.append(Decision(instance_id, label, "terminate", "no valid expiry tag"))
            else:
                decisions.append(Decision(instance_id, label, "keep", "booting, no expiry tag"))
            continue
        if now >= expires:
            decisions.append(
                Decision(instance_id, label, "terminate", f"expired at {iso_utc(expires)}")
            )
        elif age_s < boot_grace_s:
            decisions.append(
                Decision(instance_id, label, "keep", f"booting ({age_s:.0f}s < grace)")
            )
        elif runner is not None and runner.busy:
            decisions.append(Decision(instance_id, label, "keep", "runner busy"))
        elif github is not None and tags.get(TAG_RUN_ID, "").isdigit():
            run_id = tags[TAG_RUN_ID]
            if run_id not in run_status:
                try:
                    run_status[run_id] = github.run_status(run_id)
                except ServiceError as exc:
                    say(f"warning: status of run {run_id} unknown: {exc}")
                    run_status[run_id] = "unknown"
            if run_status[run_id] == "completed":
                decisions.append(
                    Decision(instance_id, label, "terminate", f"workflow run {run_id} completed")
                )
            else:
                decisions.append(
                    Decision(instance_id, label, "keep", f"run {run_id} {run_status[run_id]}")
                )
        else:
            decisions.append(Decision(instance_id, label, "keep", "within its deadline"))
    doomed = [d.instance_id for d in decisions if d.action == "terminate"]
    if not dry_run:
        terminate(ec2, doomed)
    # Runners whose instance is gone (or is going now) and that are offline: leftovers
    # of cancelled starts and killed instances. Only this toolkit's runners are touched.
    live_labels = {d.label for d in decisions if d.action == "keep"}
    stale = sorted(
        name
        for name, r in runners.items()
        if name.startswith("modelops-")
        and r.status == "offline"
        and not r.busy
        and name not in live_labels
    )
    removed: list[str] = []
    if github is not None and not dry_run:
        removed = _remove_runners(github, set(stale), say)
    return {
        "decisions": [d.__dict__ for d in decisions],
        "terminated": [] if dry_run else doomed,
        "would_terminate": doomed if dry_run else [],
        "runners_removed": removed,
        "stale_runners": stale,
        "checked_github": github is not None,
        "dry_run": dry_run,
    }
