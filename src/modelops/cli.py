"""The `modelops` command line: one argparse tree that parses, calls the library, prints.

Each command is a library function (`modelops.train.train_model`,
`modelops.deploy.deploy_environment`, …) that takes plain arguments and returns a
`CommandResult` subclass. This module only turns flags into those arguments,
prints the result's summary, writes its JSON and maps errors to exit codes.
Library modules are imported only when their command runs, so `modelops --help`
loads no heavy library.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from modelops import __version__
from modelops.errors import InputError, ModelopsError
from modelops.project import ENVIRONMENTS, Project

if TYPE_CHECKING:
    from modelops.results import CommandResult
    from modelops.runners.commands import ComputeRequest
    from modelops.runners.ec2 import RunContext

Handler = Callable[[Project | None, argparse.Namespace], "CommandResult"]

EPILOG = """\
exit codes: 0 ok, 1 a gate failed, 2 bad input or refused, 3 drift or a monitor gate,
4 an external service failed. Results are written as JSON under
.modelops/results/<model or env>/<command>.json (or --result PATH).
"""


class _Parser(argparse.ArgumentParser):
    """Bad arguments become an InputError (exit 2, one line), not argparse's own exit."""

    def error(self, message: str) -> NoReturn:
        raise InputError(message, hint=f"see `{self.prog} --help`")


def _model_name(value: str) -> str:
    """A model name as the pipeline schema allows it: nothing that could be a path."""
    from modelops.spec import MODEL_NAME

    if not MODEL_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"invalid model name {value!r}: lowercase letters, digits, '-' and '_', "
            "starting with a letter"
        )
    return value


def _model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", metavar="MODEL", type=_model_name, help="model name (pipelines/MODEL.yaml)"
    )


def _env(p: argparse.ArgumentParser, *, flag: bool, required: bool = True) -> None:
    help_ = "environment: " + ", ".join(ENVIRONMENTS)
    if flag:
        p.add_argument("--env", required=required, choices=ENVIRONMENTS, help=help_)
    else:
        p.add_argument("env", metavar="ENV", choices=ENVIRONMENTS, help=help_)


def _path(value: str) -> Path:
    return Path(value)


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


def _from_env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _context_args(p: argparse.ArgumentParser, *, job: bool = True) -> None:
    p.add_argument(
        "--repository",
        default=_from_env("GITHUB_REPOSITORY"),
        help="OWNER/NAME (default: $GITHUB_REPOSITORY)",
    )
    p.add_argument("--run-id", default=_from_env("GITHUB_RUN_ID"), help="default: $GITHUB_RUN_ID")
    p.add_argument(
        "--run-attempt",
        default=_from_env("GITHUB_RUN_ATTEMPT", "1"),
        help="default: $GITHUB_RUN_ATTEMPT or 1",
    )
    if job:
        p.add_argument(
            "--job",
            default=_from_env("GITHUB_JOB", "train"),
            help="job id (default: $GITHUB_JOB)",
        )


def _region_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--aws-region",
        default=_from_env("AWS_REGION") or _from_env("AWS_DEFAULT_REGION"),
        help="default: $AWS_REGION",
    )


def _compute_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        type=_model_name,
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


# -- handlers: flags in, one library call, its result out ---------------------------
# Each imports its module only when its command runs.


def _project(project: Project | None) -> Project:
    assert project is not None  # every command but `runners` and `github` runs in a project
    return project


def _validate(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.validate import validate_project

    return validate_project(_project(project), a.models)


def _data_test(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.data.datatest import run_data_test

    return run_data_test(_project(project), a.model, data=a.data)


def _train(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.train import train_model

    return train_model(
        _project(project),
        a.model,
        resume=a.resume,
        force=a.force,
        checkpoint_store=a.checkpoint_store,
    )


def _evaluate(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.evaluate import evaluate_model

    return evaluate_model(_project(project), a.model)


def _report(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.report import write_report

    return write_report(
        _project(project), a.model, output=a.output, billing=a.billing, prices=a.prices
    )


def _register(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.registry import register_model

    return register_model(_project(project), a.model)


def _changed(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.changes import changed_models

    return changed_models(
        _project(project),
        a.base,
        a.head,
        gpu_runners=a.gpu_runners == "true",
        since_registered=a.since_registered,
    )


def _promote(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.promote import promote_model

    return promote_model(
        _project(project),
        a.model,
        a.to,
        version=a.model_version,
        pr_body=a.pr_body,
        automated=a.automated,
        release_hold=a.release_hold,
    )


def _deploy(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.deploy import deploy_environment

    return deploy_environment(_project(project), a.env, dry_run=a.dry_run, verify=a.verify)


def _status(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.deploy import environment_status

    return environment_status(_project(project), a.env, verify=a.verify)


def _history(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.promote import model_history

    return model_history(_project(project), a.model, a.env)


def _rollback(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.promote import rollback_model

    return rollback_model(_project(project), a.model, a.env, a.to_version, a.reason)


def _predict(project: Project | None, a: argparse.Namespace) -> CommandResult:
    if a.engine == "spark":
        from modelops.sparkscore import predict_spark

        return predict_spark(
            _project(project),
            a.model,
            a.env,
            str(a.input),
            str(a.output),
            master=a.master,
            overwrite=a.overwrite,
            chunk_size=a.chunk_size,
        )
    for flag, value in (("--master", a.master), ("--overwrite", a.overwrite)):
        if value:
            raise InputError(
                "only with --engine spark",
                field=flag,
                hint="the one-machine engine writes one file, replacing it when it succeeds",
            )
    from modelops.serve import predict_batch

    return predict_batch(
        _project(project), a.model, a.env, a.input, a.output, chunk_size=a.chunk_size
    )


def _drift(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.drift import drift_report

    return drift_report(_project(project), a.model, a.env, a.input)


def _monitor(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.monitor import monitor_performance

    return monitor_performance(_project(project), a.model, a.env, a.predictions, a.labels)


def _retrain(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.retrain import retrain_pull_request

    return retrain_pull_request(
        _project(project),
        a.model,
        a.snapshot,
        env=a.env,
        trigger=a.trigger,
        missing_ok=a.missing_ok,
    )


def _due(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.watch import due_checks

    return due_checks(
        _project(project), a.env, at=a.at, models=list(_items(a.models)) or None, every=a.all
    )


def _watch(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.watch import watch_model

    return watch_model(
        _project(project),
        a.model,
        a.env,
        list(_items([a.checks])),
        recent=a.recent,
        predictions=a.predictions,
        labels=a.labels,
    )


def _new(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.scaffold import new_model

    return new_model(_project(project), a.name, a.template, owner=a.owner)


def _demo(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.demo import run_demo

    return run_demo(_project(project), main, workdir=a.workdir)


def _compute_request(a: argparse.Namespace) -> ComputeRequest:
    from modelops.runners.commands import ComputeRequest

    return ComputeRequest(
        model=a.model,
        instance_types=_items(a.instance_types),
        spot=a.spot,
        max_minutes=a.max_minutes,
        on_demand_fallback=getattr(a, "on_demand_fallback", None),
        max_cost_usd=getattr(a, "max_cost_usd", None),
    )


def _run_context(a: argparse.Namespace) -> RunContext:
    from modelops.runners.commands import run_context

    return run_context(a.repository, a.run_id, a.run_attempt, getattr(a, "job", None))


def _runners_start(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.runners.commands import start_gpu_runner

    return start_gpu_runner(
        _run_context(a),
        _compute_request(a),
        launch_template=a.launch_template,
        launch_template_version=a.launch_template_version,
        aws_region=a.aws_region,
        subnet_ids=_items(a.subnet_ids),
        labels=_items(a.labels),
        wait_timeout_s=a.wait_timeout,
        poll_interval_s=a.poll_interval,
        runner_dir=a.runner_dir,
        runner_url=a.runner_url,
        runner_sha256=a.runner_sha256,
        prices=a.prices,
        project_root=a.project,
    )


def _runners_stop(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.runners.commands import stop_gpu_runners

    return stop_gpu_runners(
        _run_context(a),
        aws_region=a.aws_region,
        label=a.label,
        all_attempts=a.all_attempts,
        billing_out=a.billing_out,
        prices=a.prices,
    )


def _runners_janitor(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.runners.commands import sweep_gpu_runners

    return sweep_gpu_runners(
        a.repository,
        aws_region=a.aws_region,
        boot_grace_minutes=a.boot_grace_minutes,
        dry_run=a.dry_run,
    )


def _runners_cost(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.runners.commands import runner_cost

    return runner_cost(
        a.instance_type, a.minutes, spot=a.spot, prices=a.prices, aws_region=a.aws_region
    )


def _assignments(values: Sequence[str], flag: str) -> dict[str, str]:
    from modelops.github.setup import parse_assignments

    return parse_assignments(values, flag=flag)


def _github_setup(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.github.commands import setup_repository

    return setup_repository(
        a.repo,
        reviewers={
            env: _items([who]) for env, who in _assignments(a.reviewer, "--reviewer").items()
        },
        variables=_assignments(a.var, "--var"),
        workflows=a.workflows,
        required_check=a.check,
        dry_run=a.dry_run,
        force=a.force,
        project_root=a.project,
        show=print,
    )


def _github_doctor(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.github.commands import diagnose_repository

    return diagnose_repository(
        a.repo, workflows=a.workflows, required_check=a.check, project_root=a.project
    )


def _github_comment(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.github.commands import post_comment

    return post_comment(a.repo, a.pr, a.marker, a.body_file, author=a.author)


def _github_retrain(project: Project | None, a: argparse.Namespace) -> CommandResult:
    from modelops.github.commands import open_retrain_request

    return open_retrain_request(_project(project), a.repo, a.model, base=a.base)


# -- the parser ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelops",
        description="GitOps CI/CD for ML models: test data, train, evaluate against the "
        "champion, report, register, promote dev → staging → prod, deploy, score, watch drift.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modelops {__version__}")
    parser.add_argument(
        "-C", "--project", type=_path, default=None, help="project root (default: search upwards)"
    )
    parser.add_argument(
        "--result", type=_path, default=None, metavar="PATH", help="write the JSON result here"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler, needs_project=True)
        return p

    p = command(
        "validate",
        _validate,
        "check pipeline specs, environments and manifests against their schemas "
        "and each other (entrypoints implement the contract, schemas resolve, data exists)",
    )
    p.add_argument("models", nargs="*", metavar="MODEL", help="models to check (default: all)")
    p.add_argument(
        "--import",
        dest="run_imports",
        action="store_true",
        help="deprecated, does nothing: validate always imports the model packages and data "
        "schemas it checks",
    )

    p = command(
        "data-test",
        _data_test,
        "run the model's pandera schema (all failures at once), digest, row counts, "
        "missing values, class balance and a train/test leakage check",
    )
    _model(p)
    p.add_argument("--data", type=_path, help="data file to test instead of the spec's")

    p = command(
        "train",
        _train,
        "train the model reproducibly and log the run (params, seed, data digest, "
        "commit, versions, hardware, safe artifact + sha256) to MLflow",
    )
    _model(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="resume from the last checkpoint of an interrupted run (torch models)",
    )
    p.add_argument(
        "--checkpoint-store",
        default=os.environ.get("MODELOPS_CHECKPOINT_STORE") or None,
        metavar="URI",
        help="keep checkpoints in s3://bucket/prefix (or an absolute folder) of this run "
        "alone: pulled with --resume, pushed while training (also MODELOPS_CHECKPOINT_STORE)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="train even when train.json already holds a run of the same commit, data, "
        "params and spec",
    )

    p = command(
        "evaluate",
        _evaluate,
        "compute the spec's metrics and check absolute gates and the gates against "
        "the prod champion; exit 1 when a gate fails",
    )
    _model(p)

    p = command(
        "report",
        _report,
        "render the reviewer's markdown report with plots (metrics vs champion, "
        "data tests, reproducibility)",
    )
    _model(p)
    p.add_argument("--output", type=_path, help="report folder (default: .modelops/reports/MODEL)")
    p.add_argument(
        "--billing",
        type=_path,
        metavar="FILE",
        help="the GPU instance's billed life (`modelops runners stop --billing-out`); "
        "without it the cost is estimated from training time only",
    )
    p.add_argument("--prices", type=_path, help="price table (default: $MODELOPS_GPU_PRICES)")

    p = command(
        "register",
        _register,
        "register the trained and evaluated model as a new MLflow model version",
    )
    _model(p)

    p = command(
        "changed",
        _changed,
        "print the models a change touches, as a JSON matrix for GitHub Actions",
    )
    p.add_argument("--base", help="base commit (e.g. the PR base SHA)")
    p.add_argument(
        "--since-registered",
        action="store_true",
        help="instead of --base: per model, the commit of its newest registered version "
        "(a model never registered is touched)",
    )
    p.add_argument("--head", default="HEAD", help="head commit (default: HEAD)")
    p.add_argument(
        "--gpu-runners",
        choices=("true", "false"),
        default="false",
        help="GPU runners may be started for this change (provider configured, not a fork): "
        "models whose spec asks for a GPU go to the gpu matrix, the rest to the cpu matrix",
    )

    p = command(
        "promote",
        _promote,
        "write the manifest one stage up (registry → dev → staging → prod) and "
        "print the pull-request title and body",
    )
    _model(p)
    p.add_argument("--to", required=True, choices=ENVIRONMENTS, help="target environment")
    p.add_argument(
        "--version",
        dest="model_version",
        type=int,
        help="registry version (only for dev; default: the newest)",
    )
    p.add_argument("--pr-body", type=_path, help="also write the PR body markdown here")
    p.add_argument(
        "--automated",
        action="store_true",
        help="promotion by automation (also MODELOPS_AUTOMATION=true): refused into an "
        "environment that holds the model or whose policy forbids auto-promotion",
    )
    p.add_argument(
        "--release-hold",
        action="store_true",
        help="a person lifts the hold a rollback placed on this environment (recorded in the "
        "manifest with the git author); refused with --automated",
    )

    p = command(
        "deploy",
        _deploy,
        "reconcile an environment: verify digests, copy bundles to the serving "
        "store, point registry aliases; idempotent and all-or-nothing",
    )
    _env(p, flag=False)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--verify", action="store_true", help="re-hash every stored bundle, not only changed ones"
    )

    p = command(
        "status",
        _status,
        "table of models × environments: version git wants vs version live, "
        "flagging drift between them",
    )
    _env(p, flag=True, required=False)
    p.add_argument(
        "--verify", action="store_true", help="re-hash every stored bundle, not only changed ones"
    )

    p = command(
        "history",
        _history,
        "earlier versions of a model in an environment, from git history",
    )
    _model(p)
    _env(p, flag=True)

    p = command(
        "rollback",
        _rollback,
        "write the manifest of an earlier version (from history) and place a hold",
    )
    _model(p)
    _env(p, flag=True)
    p.add_argument(
        "--to-version",
        dest="to_version",
        type=int,
        required=True,
        help="version to go back to (see `modelops history`)",
    )
    p.add_argument("--reason", required=True, help="why; recorded in the hold")

    p = command(
        "predict",
        _predict,
        "batch-score a file with the model deployed in an environment "
        "(digest verified, input validated, streamed in chunks)",
    )
    _model(p)
    _env(p, flag=True)
    p.add_argument(
        "--input",
        type=_path,
        required=True,
        help="CSV or Parquet to score (spark: a file or a folder of them)",
    )
    p.add_argument(
        "--output",
        type=_path,
        required=True,
        help="where to write predictions (spark: a folder of Parquet parts)",
    )
    p.add_argument(
        "--chunk-size", type=int, default=100_000, help="rows per chunk (spark: per Arrow batch)"
    )
    p.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: stream in this process; spark: a Spark job (pip install 'modelops[spark]')",
    )
    p.add_argument(
        "--master",
        help="spark: master URL for a new session (default: the active session, "
        "spark-submit's master, or local[2])",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="spark: replace an output folder that already holds data",
    )

    p = command(
        "drift",
        _drift,
        "compare recent data with the training reference; exit 3 on drift",
    )
    _model(p)
    _env(p, flag=True)
    p.add_argument("--input", type=_path, required=True, help="recent data (CSV or Parquet)")

    p = command(
        "monitor",
        _monitor,
        "join predictions with the labels that came later, gate each time window against "
        "the metrics at promotion; exit 3 when a gate is crossed",
    )
    _model(p)
    _env(p, flag=True)
    p.add_argument(
        "--predictions",
        type=_path,
        action="append",
        required=True,
        help="predictions written by `modelops predict` (CSV or Parquet); repeat for more files",
    )
    p.add_argument(
        "--labels",
        type=_path,
        required=True,
        help="labels: the id column, the target and optionally labelled_at (CSV or Parquet)",
    )

    p = command(
        "retrain",
        _retrain,
        "point the spec at the newest labelled data snapshot when it is newer than the "
        "champion's data (result action: pr), else write an issue body (action: issue)",
    )
    _model(p)
    p.add_argument(
        "--snapshot",
        required=True,
        help="labelled data: a file or a folder of dated files in the repository, "
        "or an s3:// object",
    )
    p.add_argument("--env", default="prod", choices=ENVIRONMENTS, help="whose champion (prod)")
    p.add_argument(
        "--trigger",
        default="manual",
        choices=["drift", "monitor", "manual"],
        help="what asked for it; its report goes into the body",
    )
    p.add_argument(
        "--missing-ok",
        action="store_true",
        help="a local location that does not exist yet means no newer data (action issue)",
    )

    p = command(
        "due",
        _due,
        "which models of an environment have a drift or monitor check due in this hour "
        "(their spec's schedule); writes matrix and any to $GITHUB_OUTPUT",
    )
    _env(p, flag=True)
    p.add_argument("--at", help="the time whose hour is checked, ISO 8601 (default: now, UTC)")
    p.add_argument(
        "--models", nargs="+", metavar="MODEL", help="only these models (default: every spec)"
    )
    p.add_argument(
        "--all", action="store_true", help="every check each model has, whatever its schedule"
    )

    p = command(
        "watch",
        _watch,
        "run a model's due checks (drift, monitor) on the repository's data; exit 3 and "
        "trigger=drift|monitor in $GITHUB_OUTPUT when one finds a problem",
    )
    _model(p)
    _env(p, flag=True)
    p.add_argument(
        "--checks", required=True, help="comma-separated: drift, monitor (from `modelops due`)"
    )
    p.add_argument(
        "--recent",
        default="data/{model}/recent.csv",
        help="recent data for drift, {model} replaced (default: data/{model}/recent.csv)",
    )
    p.add_argument(
        "--predictions",
        default="data/{model}/predictions",
        help="predictions file or folder for monitor, {model} replaced "
        "(default: data/{model}/predictions)",
    )
    p.add_argument(
        "--labels",
        default="data/{model}/labels.csv",
        help="labels file for monitor, {model} replaced (default: data/{model}/labels.csv)",
    )

    p = command(
        "new",
        _new,
        "write a new model from a template: package under src/models/NAME, pandera schema, "
        "spec pipelines/NAME.yaml and sample data, ready for validate, data-test and train",
    )
    p.add_argument("name", metavar="NAME", help="model name: lower case, digits and _")
    p.add_argument(
        "--template",
        default="sklearn-classifier",
        choices=("sklearn-classifier", "sklearn-regressor", "torch-classifier"),
        help="what to start from (default: sklearn-classifier)",
    )
    p.add_argument(
        "--owner", default="@ml-team", help="team or person accountable (default: @ml-team)"
    )

    p = command(
        "demo",
        _demo,
        "run the whole loop on the example models in a scratch copy of the project",
    )
    p.add_argument("--workdir", type=_path, help="scratch folder (default: a temporary one)")

    p = sub.add_parser(
        "runners",
        help="ephemeral GPU runners: start, stop, janitor, cost",
        description="Ephemeral GPU runners: one instance per job, always shut down. Flags "
        "match the inputs of actions/gpu-runner; defaults come from the GITHUB_* variables; "
        "secrets only from the environment (GITHUB_TOKEN), never from flags.",
    )
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = rsub.add_parser(
        "start",
        help="launch one instance registered as a single-use (JIT) runner; print its label",
        description="Register a just-in-time runner with GitHub, launch one EC2 instance for "
        "it (spot first over instance types × subnets, on-demand fallback if allowed), wait "
        "until the runner is online (bounded; the instance is terminated on timeout). Writes "
        "label and instance-id to $GITHUB_OUTPUT. Needs GITHUB_TOKEN (a GitHub App "
        "installation token with administration:write).",
    )
    p.set_defaults(handler=_runners_start, needs_project=False)
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

    p = rsub.add_parser(
        "stop",
        help="terminate the run's instances, found by tag (for an `if: always()` job)",
        description="Terminate every live instance tagged with this repository and run id "
        "(and attempt), whatever the start job printed or did not print. Idempotent. With "
        "GITHUB_TOKEN set, also unregisters their idle runners.",
    )
    p.set_defaults(handler=_runners_stop, needs_project=False)
    _context_args(p, job=False)
    _region_arg(p)
    p.add_argument("--label", help="only the instance of this runner label")
    p.add_argument(
        "--all-attempts", action="store_true", help="every attempt of the run, not just this one"
    )
    p.add_argument(
        "--billing-out",
        type=Path,
        metavar="FILE",
        help="write each instance's billed life read from EC2 (launch to end, region, "
        "market) for `modelops report --billing`",
    )
    p.add_argument("--prices", type=Path, help="price table (default: $MODELOPS_GPU_PRICES)")

    p = rsub.add_parser(
        "janitor",
        help="terminate expired or finished instances, remove offline runners without one",
        description="For the scheduled janitor workflow. Terminates tagged instances past "
        "their expiry, or whose workflow run has completed; removes offline modelops runners "
        "that have no instance. Never touches an instance in its boot grace period or whose "
        "runner is busy (except past its expiry, which is a hard limit). Without "
        "GITHUB_TOKEN only the expiry rule applies.",
    )
    p.set_defaults(handler=_runners_janitor, needs_project=False)
    p.add_argument(
        "--repository",
        default=_from_env("GITHUB_REPOSITORY"),
        help="OWNER/NAME (default: $GITHUB_REPOSITORY)",
    )
    _region_arg(p)
    p.add_argument(
        "--boot-grace-minutes", type=float, default=10.0, help="leave younger instances alone"
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    p = rsub.add_parser(
        "cost",
        help="estimated cost of running an instance type for some minutes",
        description="An estimate: the price per hour for the region and market from the "
        "table (src/modelops/runners/prices.json, or --prices / $MODELOPS_GPU_PRICES) times "
        "the runtime, billed per second with a 60 s minimum; says how old the table is.",
    )
    p.set_defaults(handler=_runners_cost, needs_project=False)
    _region_arg(p)
    p.add_argument("--instance-type", required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--spot", type=_bool, nargs="?", const=True, default=False, metavar="BOOL")
    p.add_argument("--prices", type=Path, help="price table (default: $MODELOPS_GPU_PRICES)")
    p = sub.add_parser(
        "github",
        help="GitHub settings as code: setup, doctor, and the one report comment per model",
        description="GitHub settings as code. The token comes from GH_TOKEN, GITHUB_TOKEN "
        "or `gh auth token`, never from a flag; the API from GITHUB_API_URL (default "
        "https://api.github.com).",
    )
    gsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def _workflows_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--workflows",
            type=_path,
            default=None,
            metavar="DIR",
            help="folder of the workflows to read (default: .github/workflows of the project)",
        )
        p.add_argument(
            "--check",
            default="all green",
            help="the status check a merge requires (default: 'all green', from pr.yml)",
        )

    p = gsub.add_parser(
        "setup",
        help="create or update environments, variables, the Actions token and a ruleset",
        description="Create or update, idempotently, what the workflows need: environments "
        "(reviewers, deployment branch/tag policies), repository variables, the Actions "
        "token defaults, and a ruleset requiring code-owner review and the `all green` "
        "check. Refuses to weaken an existing protection without --force.",
    )
    p.set_defaults(handler=_github_setup, needs_project=False)
    p.add_argument("repo", metavar="OWNER/REPO")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--force", action="store_true", help="apply changes that weaken an existing protection"
    )
    p.add_argument(
        "--reviewer",
        action="append",
        default=[],
        metavar="ENV=WHO[,WHO]",
        help="required reviewers of an environment: users or ORG/TEAM (repeatable); "
        "sets exactly these, keeps the current ones when not given",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a repository variable the workflows read (repeatable)",
    )
    _workflows_args(p)

    p = gsub.add_parser(
        "doctor",
        help="say what is missing or unsafe, one line each with the fix; exit 1 when anything is",
        description="Read a repository's settings (read-only) and print what is missing or "
        "unsafe, one line each with the fix, and which protections its plan gives.",
    )
    p.set_defaults(handler=_github_doctor, needs_project=False)
    p.add_argument("repo", metavar="OWNER/REPO")
    _workflows_args(p)

    p = gsub.add_parser(
        "comment",
        help="create or update the one pull-request comment that carries a marker",
        description="Find the comment with the marker across all pages of a pull request's "
        "comments and update it, or create it. Only comments by --author are considered.",
    )
    p.set_defaults(handler=_github_comment, needs_project=False)
    p.add_argument(
        "--repo",
        default=_from_env("GITHUB_REPOSITORY"),
        metavar="OWNER/REPO",
        help="default: $GITHUB_REPOSITORY",
    )
    p.add_argument("--pr", type=int, required=True, metavar="N", help="pull request number")
    p.add_argument(
        "--marker", required=True, metavar="KEY", help="identifies the comment, e.g. report:churn"
    )
    p.add_argument(
        "--body-file", type=_path, required=True, metavar="FILE", help="markdown of the comment"
    )
    p.add_argument(
        "--author",
        default=None,
        metavar="LOGIN",
        help="login whose comments may be updated (default: github-actions[bot] inside "
        "Actions, else the token's user)",
    )

    p = gsub.add_parser(
        "retrain",
        help="open or update the retraining pull request or issue `modelops retrain` wrote",
        description="Read the result of `modelops retrain MODEL`. For a pull request: commit "
        "the rewritten spec to modelops/retrain-MODEL (one commit on --base, left alone when "
        "the branch already holds it) and open or update the one open PR from that branch. "
        "For an issue: open or update the one open issue marked retrain:MODEL. Use a GitHub "
        "App token, so that the pull request's checks run.",
    )
    p.set_defaults(handler=_github_retrain, needs_project=True)
    _model(p)
    p.add_argument(
        "--repo",
        default=_from_env("GITHUB_REPOSITORY"),
        metavar="OWNER/REPO",
        help="default: $GITHUB_REPOSITORY",
    )
    p.add_argument("--base", default="main", help="branch the pull request targets (main)")
    return parser


def _annotate(err: ModelopsError) -> None:
    """In GitHub Actions, also print an ::error annotation and add it to the job summary."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return

    def esc(value: str) -> str:
        return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def esc_prop(value: str) -> str:
        return esc(value).replace(":", "%3A").replace(",", "%2C")

    props = []
    if err.file:
        props.append(f"file={esc_prop(err.file)}")
    if err.line:
        props.append(f"line={err.line}")
    props.append(f"title={esc_prop(err.title)}")
    text = str(err) + (f" (hint: {err.hint})" if err.hint else "")
    print(f"::error {','.join(props)}::{esc(text)}", flush=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as fh:
            fh.write(f"### ❌ {err.title}\n\n`{err}`\n\n")
            if err.hint:
                fh.write(f"Hint: {err.hint}\n\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code. Never raises for a ModelopsError."""
    try:
        args = build_parser().parse_args(argv)
        project = Project.discover(args.project) if args.needs_project else None
        result = args.handler(project, args)
        for line in result.notes:
            print(line, file=sys.stderr)
        for line in result.summary:
            print(line)
        if args.result is not None:
            result.write(args.result)
        elif project is not None:
            result.save(project)
        if result.error is not None:
            raise result.error
        return int(result.exit_code)
    except ModelopsError as err:
        for line in err.details:
            print(line, file=sys.stderr)
        print(f"error: {err}", file=sys.stderr)
        if err.hint:
            print(f"hint: {err.hint}", file=sys.stderr)
        _annotate(err)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def entrypoint() -> None:
    sys.exit(main())
