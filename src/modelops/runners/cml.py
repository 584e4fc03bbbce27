"""The CML provider: the `cml runner launch` command line, as an argv list.

For teams already on CML. The argv is built from validated values and run
without a shell, so nothing a user or a pull request controls is ever
interpreted as shell syntax. The instance gets the same tags as the EC2 path
(through `--cloud-metadata`), so `stop` and the janitor find it, and the same
on-host hard limit (through `--cloud-startup-script`).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from modelops.errors import InputError
from modelops.runners import (
    TAG_EXPIRES_AT,
    TAG_JOB,
    TAG_LABEL,
    TAG_REPOSITORY,
    TAG_RUN_ATTEMPT,
    TAG_RUN_ID,
)
from modelops.runners.ec2 import RunContext

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_TYPE = re.compile(r"^[a-z0-9-]+\.[a-z0-9]+$|^(m|l|xl)(\+(k80|v100|tesla))?$")
_LABEL = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
CLOUD_GPUS = ("nogpu", "k80", "v100", "tesla")


@dataclass(frozen=True)
class CmlOptions:
    context: RunContext
    region: str
    instance_type: str
    label: str
    expires_at: str
    max_minutes: int = 60
    spot: bool = True
    cloud_gpu: str | None = None
    idle_timeout_s: int = 300
    hdd_size_gb: int | None = None
    cml: str = "cml"


def startup_script(max_minutes: int) -> str:
    """The hard limit, armed before CML's agent starts."""
    return f"#!/bin/bash\nshutdown -h +{int(max_minutes)}\n"


def cml_launch_argv(options: CmlOptions) -> list[str]:
    """`cml runner launch …` for one single-use runner; each value validated."""
    if not _REGION.fullmatch(options.region):
        raise InputError(f"not an AWS region: '{options.region}'", field="--aws-region")
    if not _TYPE.fullmatch(options.instance_type):
        raise InputError(
            f"not an instance type: '{options.instance_type}'", field="--instance-types"
        )
    if not _LABEL.fullmatch(options.label):
        raise InputError(
            f"labels may hold letters, digits, '.', '_' and '-' only: '{options.label}'",
            field="--label",
        )
    if options.cloud_gpu is not None and options.cloud_gpu not in CLOUD_GPUS:
        raise InputError(
            f"expected one of {', '.join(CLOUD_GPUS)}, got '{options.cloud_gpu}'",
            field="--cloud-gpu",
        )
    if not 1 <= options.max_minutes <= 1440:
        raise InputError(
            f"must be 1..1440 minutes, got {options.max_minutes}", field="--max-minutes"
        )
    if options.idle_timeout_s < 0:
        raise InputError("must not be negative", field="--idle-timeout")
    ctx = options.context
    argv = [
        options.cml, "runner", "launch",
        "--driver", "github",
        "--repo", f"https://github.com/{ctx.repository}",
        "--cloud", "aws",
        "--cloud-region", options.region,
        "--cloud-type", options.instance_type,
        "--labels", options.label,
        "--name", options.label,
        "--single",
        "--idle-timeout", str(options.idle_timeout_s),
        "--cloud-startup-script",
        base64.b64encode(startup_script(options.max_minutes).encode()).decode(),
    ]  # fmt: skip
    if options.cloud_gpu:
        argv += ["--cloud-gpu", options.cloud_gpu]
    if options.spot:
        argv.append("--cloud-spot")
    if options.hdd_size_gb is not None:
        if options.hdd_size_gb < 8:
            raise InputError("must be at least 8 (GB)", field="--cloud-hdd-size")
        argv += ["--cloud-hdd-size", str(options.hdd_size_gb)]
    tags = {
        TAG_REPOSITORY: ctx.repository,
        TAG_RUN_ID: ctx.run_id,
        TAG_RUN_ATTEMPT: ctx.run_attempt,
        TAG_JOB: ctx.job,
        TAG_EXPIRES_AT: options.expires_at,
        TAG_LABEL: options.label,
    }
    for key, value in tags.items():
        argv += ["--cloud-metadata", f"{key}={value}"]
    return argv
