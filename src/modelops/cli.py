"""The `modelops` command line: parses arguments, calls the library, maps errors to exit codes.

Each command is `module:function` taking `(project, args)` and returning a
`CommandResult`; modules are imported only when their command runs, so
`modelops --help` loads no heavy library.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelops import __version__
from modelops.errors import ModelopsError
from modelops.fsutil import atomic_write_json
from modelops.project import ENVIRONMENTS, Project

Handler = Callable[[Project, argparse.Namespace], Any]

EPILOG = """\
exit codes: 0 ok, 1 a gate failed, 2 bad input or refused, 3 drift found,
4 an external service failed. Results are written as JSON under
.modelops/results/<model or env>/<command>.json (or --result PATH).
"""


def _model(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model name (pipelines/MODEL.yaml)")


def _env(p: argparse.ArgumentParser, *, flag: bool, required: bool = True) -> None:
    help_ = "environment: " + ", ".join(ENVIRONMENTS)
    if flag:
        p.add_argument("--env", required=required, choices=ENVIRONMENTS, help=help_)
    else:
        p.add_argument("env", metavar="ENV", choices=ENVIRONMENTS, help=help_)


def _path(value: str) -> Path:
    return Path(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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

    def command(name: str, handler: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    p = command(
        "validate",
        "modelops.validate:cli_validate",
        "check pipeline specs, environments and manifests against their schemas "
        "and each other (entrypoints implement the contract, schemas resolve, data exists)",
    )
    p.add_argument("models", nargs="*", metavar="MODEL", help="models to check (default: all)")
    p.add_argument(
        "--import",
        dest="run_imports",
        action="store_true",
        help="also import each model package and data schema (runs the team's code and loads "
        "pandera); by default they are read from source, which runs no team code",
    )

    p = command(
        "data-test",
        "modelops.data:cli_data_test",
        "run the model's pandera schema (all failures at once), digest, row counts, "
        "missing values, class balance and a train/test leakage check",
    )
    _model(p)
    p.add_argument("--data", type=_path, help="data file to test instead of the spec's")

    p = command(
        "train",
        "modelops.train:cli_train",
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
        "modelops.evaluate:cli_evaluate",
        "compute the spec's metrics and check absolute gates and the gates against "
        "the prod champion; exit 1 when a gate fails",
    )
    _model(p)

    p = command(
        "report",
        "modelops.report:cli_report",
        "render the reviewer's markdown report with plots (metrics vs champion, "
        "data tests, reproducibility)",
    )
    _model(p)
    p.add_argument("--output", type=_path, help="report folder (default: .modelops/reports/MODEL)")

    p = command(
        "register",
        "modelops.registry:cli_register",
        "register the trained and evaluated model as a new MLflow model version",
    )
    _model(p)

    p = command(
        "changed",
        "modelops.changes:cli_changed",
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
        "modelops.promote:cli_promote",
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

    p = command(
        "deploy",
        "modelops.deploy:cli_deploy",
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
        "modelops.deploy:cli_status",
        "table of models × environments: version git wants vs version live, "
        "flagging drift between them",
    )
    _env(p, flag=True, required=False)
    p.add_argument(
        "--verify", action="store_true", help="re-hash every stored bundle, not only changed ones"
    )

    p = command(
        "history",
        "modelops.promote:cli_history",
        "earlier versions of a model in an environment, from git history",
    )
    _model(p)
    _env(p, flag=True)

    p = command(
        "rollback",
        "modelops.promote:cli_rollback",
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
        "modelops.serve:cli_predict",
        "batch-score a file with the model deployed in an environment "
        "(digest verified, input validated, streamed in chunks)",
    )
    _model(p)
    _env(p, flag=True)
    p.add_argument("--input", type=_path, required=True, help="CSV or Parquet to score")
    p.add_argument("--output", type=_path, required=True, help="where to write predictions")
    p.add_argument("--chunk-size", type=int, default=100_000, help="rows per chunk")

    p = command(
        "drift",
        "modelops.drift:cli_drift",
        "compare recent data with the training reference; exit 3 on drift",
    )
    _model(p)
    _env(p, flag=True)
    p.add_argument("--input", type=_path, required=True, help="recent data (CSV or Parquet)")

    p = command(
        "demo",
        "modelops.demo:cli_demo",
        "run the whole loop on the example models in a scratch copy of the project",
    )
    p.add_argument("--workdir", type=_path, help="scratch folder (default: a temporary one)")

    p = command(
        "runners",
        "modelops.runners.cli:cli_runners",
        "ephemeral GPU runners: start, stop, janitor, cost",
    )
    p.add_argument("runner_args", nargs=argparse.REMAINDER, help="see `modelops runners --help`")
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


def _resolve(handler: str) -> Handler:
    module, _, func = handler.partition(":")
    fn: Handler = getattr(importlib.import_module(module), func)
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code. Never raises for a ModelopsError."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        project = Project.discover(args.project) if args.command != "runners" else None
        result = _resolve(args.handler)(project, args)  # type: ignore[arg-type]
        if result is None:
            return 0
        for line in result.summary:
            print(line)
        if project is not None or args.result is not None:
            path = args.result or result.default_path(project)
            atomic_write_json(
                path,
                {
                    "command": result.command,
                    "subject": result.subject,
                    "exit_code": result.exit_code,
                    **result.data,
                },
            )
        if result.error is not None:
            raise result.error
        return int(result.exit_code)
    except ModelopsError as err:
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
