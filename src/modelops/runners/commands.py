"""GPU runner commands as library functions: start, stop, janitor and cost.

`modelops runners …` parses its flags into these (see `modelops.cli`). Secrets are
read from the environment only (GITHUB_TOKEN), never passed as arguments, so they
never appear in a process list or a log.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from modelops.errors import InputError, ServiceError
from modelops.project import Project
from modelops.results import CommandResult

if TYPE_CHECKING:
    from modelops.runners.billing import BilledLife
    from modelops.runners.ec2 import RunContext
    from modelops.spec import PipelineSpec

SUBJECT = "runners"
BILLING_NOTE = "billed per second, 60 s minimum"


@dataclass(frozen=True)
class ComputeRequest:
    """What a caller asks of the instance; what it leaves unset comes from the spec, else defaults.

    `model` names the pipeline whose `train.compute` supplies instance types, market,
    fallback and the budget (`max_minutes`, `max_cost_usd`), which a request may not exceed.
    """

    model: str | None = None
    instance_types: tuple[str, ...] = ()
    spot: bool | None = None
    max_minutes: int | None = None
    on_demand_fallback: bool | None = None
    max_cost_usd: float | None = None


@dataclass
class Compute:
    """The resolved request: flags over the spec's train.compute over defaults."""

    spec: PipelineSpec | None
    instance_types: tuple[str, ...]
    max_minutes: int
    spot: bool
    on_demand_fallback: bool
    max_cost_usd: float | None


@dataclass
class RunnerResult(CommandResult):
    """What a runner command did; `data` holds its JSON result (see each function)."""


def _required(value: str | None, flag: str, env: str) -> str:
    if not value:
        raise InputError(f"missing {flag}", field=flag, hint=f"pass {flag} or set ${env}")
    return value


def run_context(
    repository: str | None,
    run_id: str | None,
    run_attempt: str | None = "1",
    job: str | None = None,
) -> RunContext:
    """The workflow run an instance belongs to; a missing part is a clear InputError."""
    from modelops.runners.ec2 import RunContext

    return RunContext(
        repository=_required(repository, "--repository", "GITHUB_REPOSITORY"),
        run_id=_required(run_id, "--run-id", "GITHUB_RUN_ID"),
        run_attempt=str(run_attempt or "1"),
        job=job or "train",
    )


def _in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _mask(secret: str) -> None:
    """Tell the Actions runner to redact `secret` from the log; it consumes this line."""
    if _in_actions() and secret:
        print(f"::add-mask::{secret}", flush=True)


def _write_outputs(outputs: dict[str, str]) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as fh:
        for key, value in outputs.items():
            if "\n" in value:
                raise ServiceError(f"output {key} holds a newline; refusing to write it")
            fh.write(f"{key}={value}\n")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Actions cancels a job with SIGINT then SIGTERM; both must run the start's cleanup."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: no handler, stop/janitor still clean up
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def resolve_compute(request: ComputeRequest, project_root: Path | None = None) -> Compute:
    """Instance types, market and budget: the request over the spec's train.compute."""
    from modelops.spec import load_pipeline

    spec = None
    if request.model:
        project = Project.discover(project_root)
        spec = load_pipeline(project, request.model)
        if spec.compute.type != "gpu":
            raise InputError(
                "the spec asks for a CPU runner; GPU runners are for train.compute.type: gpu",
                file=spec.path,
                field="train.compute.type",
            )
    compute = spec.compute if spec else None
    types = request.instance_types or (compute.instance_types if compute else ())
    if not types:
        raise InputError(
            "no instance types", field="--instance-types", hint="pass them or --model MODEL"
        )
    budget = compute.max_minutes if compute else None
    minutes = request.max_minutes or budget or 60
    if budget is not None and minutes > budget:
        raise InputError(
            f"--max-minutes {minutes} exceeds the run's budget of {budget} minutes",
            file=spec.path if spec else None,
            field="train.compute.max_minutes",
            hint="raise the budget in the spec (reviewed in the PR) or ask for less",
        )
    spot = request.spot if request.spot is not None else (compute.spot if compute else True)
    fallback = (
        request.on_demand_fallback
        if request.on_demand_fallback is not None
        else (compute.on_demand_fallback if compute else True)
    )
    max_cost = request.max_cost_usd or (compute.max_cost_usd if compute else None)
    return Compute(
        spec=spec,
        instance_types=tuple(types),
        max_minutes=minutes,
        spot=spot,
        on_demand_fallback=fallback,
        max_cost_usd=max_cost,
    )


def _check_cost(
    compute: Compute, prices: Path | None, region: str | None = None
) -> dict[str, Any] | None:
    """The worst-case cost; refuses when it exceeds max_cost_usd."""
    from modelops.runners.cost import worst_case_cost

    max_cost = compute.max_cost_usd
    if max_cost is None:
        return None
    worst = worst_case_cost(
        list(compute.instance_types),
        compute.max_minutes,
        spot=compute.spot,
        on_demand_fallback=compute.on_demand_fallback,
        prices_path=prices,
        region=region,
    )
    if worst["cost_usd"] > max_cost:
        spec = compute.spec
        raise InputError(
            f"worst case ${worst['cost_usd']:.2f} ({worst['instance_type']} "
            f"{worst['market']} for {compute.max_minutes} min) exceeds the budget "
            f"${max_cost:.2f}",
            file=spec.path if spec else None,
            field="train.compute.max_cost_usd",
            hint="lower max_minutes, choose cheaper instance types, or raise the budget",
        )
    return worst


# -- commands --------------------------------------------------------------


def start_gpu_runner(
    context: RunContext,
    request: ComputeRequest,
    *,
    launch_template: str,
    launch_template_version: str = "$Default",
    aws_region: str | None = None,
    subnet_ids: Sequence[str] = (),
    labels: Sequence[str] = (),
    wait_timeout_s: float = 300.0,
    poll_interval_s: float = 5.0,
    runner_dir: str = "/opt/actions-runner",
    runner_url: str | None = None,
    runner_sha256: str | None = None,
    prices: Path | None = None,
    project_root: Path | None = None,
) -> RunnerResult:
    """Launch one instance registered as a single-use (JIT) runner and wait until it is online.

    Refuses a request over the spec's budget before any call; writes `label` and
    `instance-id` to $GITHUB_OUTPUT. Needs GITHUB_TOKEN.
    """
    from modelops.runners.ec2 import StartOptions, ec2_client, start_runner
    from modelops.runners.github import GitHub

    compute = resolve_compute(request, project_root)
    worst = _check_cost(compute, prices, aws_region)
    options = StartOptions(
        context=context,
        launch_template=launch_template,
        launch_template_version=launch_template_version,
        instance_types=compute.instance_types,
        subnet_ids=tuple(subnet_ids),
        spot=compute.spot,
        on_demand_fallback=compute.on_demand_fallback,
        max_minutes=compute.max_minutes,
        wait_timeout_s=wait_timeout_s,
        poll_interval_s=poll_interval_s,
        extra_labels=tuple(labels),
        runner_dir=runner_dir,
        runner_url=runner_url,
        runner_sha256=runner_sha256,
    )
    github = GitHub.from_env(context.repository)
    assert github is not None  # required=True raises instead
    ec2 = ec2_client(aws_region)
    with _sigterm_as_interrupt():
        started = start_runner(options, ec2=ec2, github=github, mask=_mask)
    _write_outputs({"label": started.label, "instance-id": started.instance_id})
    data = {
        "label": started.label,
        "instance_id": started.instance_id,
        "instance_type": started.candidate.instance_type,
        "subnet_id": started.candidate.subnet_id,
        "market": "spot" if started.candidate.spot else "on-demand",
        "expires_at": started.expires_at,
        "max_minutes": options.max_minutes,
        "attempts": started.attempts,
        "waited_s": round(started.waited_s, 1),
        "repository": context.repository,
        "run_id": context.run_id,
        "run_attempt": context.run_attempt,
        "job": context.job,
        "worst_case_cost": worst,
    }
    return RunnerResult(
        command="start",
        subject=SUBJECT,
        data=data,
        summary=[
            f"runner {started.label} online on {started.instance_id} "
            f"({data['instance_type']}, {data['market']}), expires {started.expires_at}",
            f"label={started.label}",
            f"instance-id={started.instance_id}",
        ],
    )


def stop_gpu_runners(
    context: RunContext,
    *,
    aws_region: str | None = None,
    label: str | None = None,
    all_attempts: bool = False,
    billing_out: Path | None = None,
    prices: Path | None = None,
) -> RunnerResult:
    """Terminate the run's live instances (found by tag; idempotent) and, with GITHUB_TOKEN,
    unregister their idle runners. `label` limits it to one runner; `all_attempts` widens it
    to every attempt of the run.

    The result's `billing` lists each instance's billed life read from EC2 (launch to the
    end of billing, region, market); `billing_out` writes it as the record `modelops
    report --billing` prices, so the report needs no EC2 credentials.
    """
    from modelops.runners.billing import billing_document, write_billing
    from modelops.runners.ec2 import ec2_client, stop_runners
    from modelops.runners.github import GitHub

    github = GitHub.from_env(context.repository, required=False)
    outcome = stop_runners(
        ec2_client(aws_region),
        context,
        any_attempt=all_attempts,
        label=label,
        github=github,
    )
    ids = outcome["terminated"]
    summary = (
        [f"terminated {len(ids)} instance(s): {', '.join(ids)}"]
        if ids
        else [f"no live instance for run {context.run_id} of {context.repository}"]
    )
    lives = outcome["billing"]
    doc = billing_document(lives, repository=context.repository, run_id=context.run_id)
    outcome["billing"] = doc["instances"]
    if billing_out is not None:
        write_billing(billing_out, doc)
        outcome["billing_out"] = str(billing_out)
    summary += _billing_lines(lives, prices)
    if outcome["runners_removed"]:
        summary.append(f"removed runner(s): {', '.join(outcome['runners_removed'])}")
    return RunnerResult(command="stop", subject=SUBJECT, data=outcome, summary=summary)


def _billing_lines(lives: list[BilledLife], prices: Path | None) -> list[str]:
    """One line per instance: its billed life and, where the table has it, the estimate."""
    from modelops.runners.cost import load_prices

    try:
        table = load_prices(prices)
    except InputError as exc:  # a bad table must not fail the stop that already terminated
        return [f"billed life recorded; cost unknown: {exc.message} ({exc.file})"]
    lines = []
    for life in lives:
        text = (
            f"{life.instance_id} ({life.instance_type}, {life.market}, {life.region}): "
            f"billed {life.billed_seconds:.0f} s from {life.launch_time:%H:%M:%SZ} to "
            f"{life.end_time:%H:%M:%SZ}"
        )
        try:
            hourly = table.hourly(
                life.instance_type, region=life.region, spot=life.market == "spot"
            )
            text += (
                f", about ${hourly * life.billed_seconds / 3600:.4f} "
                f"(estimate, {table.age_text(life.end_time.date())})"
            )
        except InputError as exc:
            text += f", cost unknown ({exc.message})"
        lines.append(text)
    return lines


def sweep_gpu_runners(
    repository: str | None,
    *,
    aws_region: str | None = None,
    boot_grace_minutes: float = 10.0,
    dry_run: bool = False,
) -> RunnerResult:
    """The janitor: terminate expired or finished instances, remove offline runners without one.

    Without GITHUB_TOKEN only the expiry rule applies.
    """
    from modelops.runners.ec2 import ec2_client, janitor
    from modelops.runners.github import GitHub

    repository = _required(repository, "--repository", "GITHUB_REPOSITORY")
    github = GitHub.from_env(repository, required=False)
    outcome = janitor(
        ec2_client(aws_region),
        repository,
        github=github,
        boot_grace_s=boot_grace_minutes * 60.0,
        dry_run=dry_run,
    )
    verb = "would terminate" if dry_run else "terminate"
    summary = [
        f"{d['instance_id']} ({d['label'] or 'no label'}): "
        f"{verb if d['action'] == 'terminate' else 'keep'}, {d['reason']}"
        for d in outcome["decisions"]
    ] or [f"no live modelops instance for {repository}"]
    if outcome["runners_removed"]:
        summary.append(f"removed offline runner(s): {', '.join(outcome['runners_removed'])}")
    elif dry_run and outcome["stale_runners"]:
        summary.append(f"would remove offline runner(s): {', '.join(outcome['stale_runners'])}")
    if github is None:
        summary.append(
            "no GITHUB_TOKEN: only expiry was checked (run state, busy runners and offline "
            "runners need it)"
        )
    return RunnerResult(command="janitor", subject=SUBJECT, data=outcome, summary=summary)


def runner_cost(
    instance_type: str,
    minutes: float,
    *,
    spot: bool = False,
    prices: Path | None = None,
    aws_region: str | None = None,
) -> RunnerResult:
    """Estimated cost of `instance_type` in a region for `minutes`, billed per second
    (60 s minimum), from the price table; says how old the table is."""
    from datetime import UTC, datetime

    from modelops.runners.cost import cost_estimate, load_prices

    if minutes < 0:
        raise InputError(f"must not be negative, got {minutes}", field="--minutes")
    table = load_prices(prices)
    estimate = cost_estimate(instance_type, minutes * 60.0, spot, region=aws_region, table=table)
    age = table.age_text(datetime.now(UTC).date())
    return RunnerResult(
        command="cost",
        subject=SUBJECT,
        data=estimate,
        summary=[
            f"{estimate['instance_type']} {estimate['market']} in {estimate['region']} for "
            f"{minutes:g} min: about ${estimate['cost_usd']:.4f} (estimate at "
            f"${estimate['usd_per_hour']:.4f}/h, {BILLING_NOTE}; {age}, {estimate['prices']})"
        ],
    )
