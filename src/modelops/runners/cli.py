"""`modelops runners …`: argument parsing for start, stop, janitor and cost.

Flag names match the inputs of `actions/gpu-runner` (kebab-case). Defaults
come from the variables GitHub Actions sets (GITHUB_REPOSITORY,
GITHUB_RUN_ID, …), so the action passes little. Secrets are read from the
environment only (GITHUB_TOKEN), never from flags, so they never appear in a
process list or a log.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from modelops.errors import InputError, ServiceError
from modelops.project import Project
from modelops.results import CommandResult

SUBJECT = "runners"


class _Parser(argparse.ArgumentParser):
    """Bad arguments become an InputError (exit 2, one line), not argparse's own exit."""

    def error(self, message: str) -> NoReturn:
        raise InputError(message, hint=f"see `{self.prog} --help`")


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{value}'")


def _items(values: Sequence[str] | None) -> tuple[str, ...]:
    """A list given as several arguments, or one argument separated by commas/whitespace."""
    out: list[str] = []
    for value in values or ():
        out.extend(part for part in re.split(r"[\s,]+", value) if part)
    return tuple(out)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _context_args(p: argparse.ArgumentParser, *, job: bool = True) -> None:
    p.add_argument(
        "--repository",
        default=_env("GITHUB_REPOSITORY"),
        help="OWNER/NAME (default: $GITHUB_REPOSITORY)",
    )
    p.add_argument("--run-id", default=_env("GITHUB_RUN_ID"), help="default: $GITHUB_RUN_ID")
    p.add_argument(
        "--run-attempt",
        default=_env("GITHUB_RUN_ATTEMPT", "1"),
        help="default: $GITHUB_RUN_ATTEMPT or 1",
    )
    if job:
        p.add_argument(
            "--job", default=_env("GITHUB_JOB", "train"), help="job id (default: $GITHUB_JOB)"
        )


def _region_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--aws-region",
        default=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION"),
        help="default: $AWS_REGION",
    )


def _compute_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        help="read instance types, spot, fallback and the budget (max_minutes, max_cost_usd) "
        "from pipelines/MODEL.yaml train.compute",
    )
    p.add_argument(
        "--instance-types",
        nargs="+",
        metavar="TYPE",
        help="instance types to try in order (comma- or space-separated)",
    )
    p.add_argument(
        "--spot",
        type=_bool,
        nargs="?",
        const=True,
        default=None,
        metavar="BOOL",
        help="use spot capacity (default: the spec's, else true)",
    )
    p.add_argument(
        "--max-minutes",
        type=int,
        help="hard lifetime of the instance; may not exceed the spec's "
        "train.compute.max_minutes (default: that, else 60)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelops runners",
        description="Ephemeral GPU runners: one instance per job, always shut down.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser(
        "start",
        help="launch one instance registered as a single-use (JIT) runner; print its label",
        description="Register a just-in-time runner with GitHub, launch one EC2 instance for "
        "it (spot first over instance types × subnets, on-demand fallback if allowed), wait "
        "until the runner is online (bounded; the instance is terminated on timeout). Writes "
        "label and instance-id to $GITHUB_OUTPUT. Needs GITHUB_TOKEN (a GitHub App "
        "installation token with administration:write).",
    )
    _context_args(p)
    _region_arg(p)
    _compute_args(p)
    p.add_argument("--launch-template", required=True, help="launch template name or id (lt-…)")
    p.add_argument("--launch-template-version", default="$Default", help="default: $Default")
    p.add_argument(
        "--subnet-ids", nargs="+", metavar="SUBNET", help="subnets (zones) to try in order"
    )
    p.add_argument(
        "--on-demand-fallback",
        type=_bool,
        nargs="?",
        const=True,
        default=None,
        metavar="BOOL",
        help="fall back to on-demand when no spot capacity (default: the spec's, else true)",
    )
    p.add_argument("--max-cost-usd", type=float, help="refuse when the worst case costs more")
    p.add_argument(
        "--labels", nargs="+", metavar="LABEL", help="extra runner labels besides the unique one"
    )
    p.add_argument(
        "--wait-timeout", type=float, default=300.0, help="seconds to wait for the runner"
    )
    p.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls")
    p.add_argument("--runner-dir", default="/opt/actions-runner", help="runner folder on the AMI")
    p.add_argument("--runner-url", help="download the runner from here if the AMI lacks it")
    p.add_argument("--runner-sha256", help="sha256 of --runner-url's archive (required with it)")
    p.add_argument("--prices", type=Path, help="price table (default: $MODELOPS_GPU_PRICES)")

    p = sub.add_parser(
        "stop",
        help="terminate the run's instances, found by tag (for an `if: always()` job)",
        description="Terminate every live instance tagged with this repository and run id "
        "(and attempt), whatever the start job printed or did not print. Idempotent. With "
        "GITHUB_TOKEN set, also unregisters their idle runners.",
    )
    _context_args(p, job=False)
    _region_arg(p)
    p.add_argument("--label", help="only the instance of this runner label")
    p.add_argument(
        "--all-attempts", action="store_true", help="every attempt of the run, not just this one"
    )

    p = sub.add_parser(
        "janitor",
        help="terminate expired or finished instances, remove offline runners without one",
        description="For the scheduled janitor workflow. Terminates tagged instances past "
        "their expiry, or whose workflow run has completed; removes offline modelops runners "
        "that have no instance. Never touches an instance in its boot grace period or whose "
        "runner is busy (except past its expiry, which is a hard limit). Without "
        "GITHUB_TOKEN only the expiry rule applies.",
    )
    p.add_argument(
        "--repository",
        default=_env("GITHUB_REPOSITORY"),
        help="OWNER/NAME (default: $GITHUB_REPOSITORY)",
    )
    _region_arg(p)
    p.add_argument(
        "--boot-grace-minutes", type=float, default=10.0, help="leave younger instances alone"
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    p = sub.add_parser(
        "cost",
        help="estimated cost of running an instance type for some minutes",
        description="Price per hour from the table (src/modelops/runners/prices.json, or "
        "--prices / $MODELOPS_GPU_PRICES) times the runtime, billed per second.",
    )
    p.add_argument("--instance-type", required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--spot", type=_bool, nargs="?", const=True, default=False, metavar="BOOL")
    p.add_argument("--prices", type=Path, help="price table (default: $MODELOPS_GPU_PRICES)")
    return parser


def cli_runners(project: Project | None, args: argparse.Namespace) -> CommandResult:
    """Entry point from `modelops runners`; `args.runner_args` holds the rest of argv."""
    del project  # runners may run outside a checkout; --model discovers one itself
    parsed = build_parser().parse_args(list(args.runner_args))
    parsed.project_root = getattr(args, "project", None)
    handler = {
        "start": _start,
        "stop": _stop,
        "janitor": _janitor,
        "cost": _cost,
    }[parsed.action]
    return handler(parsed)


# -- shared ----------------------------------------------------------------


def _required(value: str | None, flag: str, env: str) -> str:
    if not value:
        raise InputError(f"missing {flag}", field=flag, hint=f"pass {flag} or set ${env}")
    return value


def _context(args: argparse.Namespace) -> Any:
    from modelops.runners.ec2 import RunContext

    return RunContext(
        repository=_required(args.repository, "--repository", "GITHUB_REPOSITORY"),
        run_id=_required(args.run_id, "--run-id", "GITHUB_RUN_ID"),
        run_attempt=str(args.run_attempt or "1"),
        job=getattr(args, "job", None) or "train",
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


def _compute(args: argparse.Namespace) -> dict[str, Any]:
    """Instance types, markets and budget: flags over the spec's train.compute over defaults."""
    from modelops.spec import load_pipeline

    spec = None
    if args.model:
        project = Project.discover(args.project_root)
        spec = load_pipeline(project, args.model)
        if spec.compute.type != "gpu":
            raise InputError(
                "the spec asks for a CPU runner; GPU runners are for train.compute.type: gpu",
                file=spec.path,
                field="train.compute.type",
            )
    compute = spec.compute if spec else None
    types = _items(args.instance_types) or (compute.instance_types if compute else ())
    if not types:
        raise InputError(
            "no instance types", field="--instance-types", hint="pass them or --model MODEL"
        )
    budget = compute.max_minutes if compute else None
    minutes = args.max_minutes or budget or 60
    if budget is not None and minutes > budget:
        raise InputError(
            f"--max-minutes {minutes} exceeds the run's budget of {budget} minutes",
            file=spec.path if spec else None,
            field="train.compute.max_minutes",
            hint="raise the budget in the spec (reviewed in the PR) or ask for less",
        )
    spot = args.spot if args.spot is not None else (compute.spot if compute else True)
    fallback_arg = getattr(args, "on_demand_fallback", None)
    fallback = (
        fallback_arg
        if fallback_arg is not None
        else (compute.on_demand_fallback if compute else True)
    )
    max_cost = getattr(args, "max_cost_usd", None) or (compute.max_cost_usd if compute else None)
    return {
        "spec": spec,
        "instance_types": types,
        "max_minutes": minutes,
        "spot": spot,
        "on_demand_fallback": fallback,
        "max_cost_usd": max_cost,
    }


def _check_cost(compute: dict[str, Any], prices: Path | None) -> dict[str, Any] | None:
    """The worst-case cost; refuses when it exceeds max_cost_usd."""
    from modelops.runners.cost import worst_case_cost

    max_cost = compute["max_cost_usd"]
    if max_cost is None:
        return None
    worst = worst_case_cost(
        list(compute["instance_types"]),
        compute["max_minutes"],
        spot=compute["spot"],
        on_demand_fallback=compute["on_demand_fallback"],
        prices_path=prices,
    )
    if worst["cost_usd"] > max_cost:
        spec = compute["spec"]
        raise InputError(
            f"worst case ${worst['cost_usd']:.2f} ({worst['instance_type']} "
            f"{worst['market']} for {compute['max_minutes']} min) exceeds the budget "
            f"${max_cost:.2f}",
            file=spec.path if spec else None,
            field="train.compute.max_cost_usd",
            hint="lower max_minutes, choose cheaper instance types, or raise the budget",
        )
    return worst


# -- commands --------------------------------------------------------------


def _start(args: argparse.Namespace) -> CommandResult:
    from modelops.runners.ec2 import StartOptions, ec2_client, start_runner
    from modelops.runners.github import GitHub

    context = _context(args)
    compute = _compute(args)
    worst = _check_cost(compute, args.prices)
    options = StartOptions(
        context=context,
        launch_template=args.launch_template,
        launch_template_version=args.launch_template_version,
        instance_types=compute["instance_types"],
        subnet_ids=_items(args.subnet_ids),
        spot=compute["spot"],
        on_demand_fallback=compute["on_demand_fallback"],
        max_minutes=compute["max_minutes"],
        wait_timeout_s=args.wait_timeout,
        poll_interval_s=args.poll_interval,
        extra_labels=_items(args.labels),
        runner_dir=args.runner_dir,
        runner_url=args.runner_url,
        runner_sha256=args.runner_sha256,
    )
    github = GitHub.from_env(context.repository)
    assert github is not None  # required=True raises instead
    ec2 = ec2_client(args.aws_region)
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
    return CommandResult(
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


def _stop(args: argparse.Namespace) -> CommandResult:
    from modelops.runners.ec2 import ec2_client, stop_runners
    from modelops.runners.github import GitHub

    context = _context(args)
    github = GitHub.from_env(context.repository, required=False)
    outcome = stop_runners(
        ec2_client(args.aws_region),
        context,
        any_attempt=args.all_attempts,
        label=args.label,
        github=github,
    )
    ids = outcome["terminated"]
    summary = (
        [f"terminated {len(ids)} instance(s): {', '.join(ids)}"]
        if ids
        else [f"no live instance for run {context.run_id} of {context.repository}"]
    )
    if outcome["runners_removed"]:
        summary.append(f"removed runner(s): {', '.join(outcome['runners_removed'])}")
    return CommandResult(command="stop", subject=SUBJECT, data=outcome, summary=summary)


def _janitor(args: argparse.Namespace) -> CommandResult:
    from modelops.runners.ec2 import ec2_client, janitor
    from modelops.runners.github import GitHub

    repository = _required(args.repository, "--repository", "GITHUB_REPOSITORY")
    github = GitHub.from_env(repository, required=False)
    outcome = janitor(
        ec2_client(args.aws_region),
        repository,
        github=github,
        boot_grace_s=args.boot_grace_minutes * 60.0,
        dry_run=args.dry_run,
    )
    verb = "would terminate" if args.dry_run else "terminate"
    summary = [
        f"{d['instance_id']} ({d['label'] or 'no label'}): "
        f"{verb if d['action'] == 'terminate' else 'keep'}, {d['reason']}"
        for d in outcome["decisions"]
    ] or [f"no live modelops instance for {repository}"]
    if outcome["runners_removed"]:
        summary.append(f"removed offline runner(s): {', '.join(outcome['runners_removed'])}")
    elif args.dry_run and outcome["stale_runners"]:
        summary.append(f"would remove offline runner(s): {', '.join(outcome['stale_runners'])}")
    if github is None:
        summary.append(
            "no GITHUB_TOKEN: only expiry was checked (run state, busy runners and offline "
            "runners need it)"
        )
    return CommandResult(command="janitor", subject=SUBJECT, data=outcome, summary=summary)


def _cost(args: argparse.Namespace) -> CommandResult:
    from modelops.runners.cost import cost_estimate

    if args.minutes < 0:
        raise InputError(f"must not be negative, got {args.minutes}", field="--minutes")
    estimate = cost_estimate(args.instance_type, args.minutes * 60.0, args.spot, args.prices)
    return CommandResult(
        command="cost",
        subject=SUBJECT,
        data=estimate,
        summary=[
            f"{estimate['instance_type']} {estimate['market']} for {args.minutes:g} min: "
            f"${estimate['cost_usd']:.4f} (at ${estimate['usd_per_hour']:.4f}/h, "
            f"{estimate['prices']})"
        ],
    )
