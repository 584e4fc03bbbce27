"""The instance's boot script: hard lifetime limit first, then one job, then power off."""

from __future__ import annotations

import re
import shlex

from modelops.errors import InputError, ServiceError

# A JIT config is base64; anything else is refused rather than embedded in a script.
_BASE64 = re.compile(r"^[A-Za-z0-9+/=]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
USER_DATA_LIMIT = 16 * 1024  # EC2's limit on user data, before base64


def render_user_data(
    *,
    jitconfig: str,
    max_minutes: int,
    runner_dir: str = "/opt/actions-runner",
    runner_url: str | None = None,
    runner_sha256: str | None = None,
) -> str:
    """A bash script for cloud-init.

    The first command arms `shutdown -h +max_minutes`; with the instance's
    shutdown behaviour set to `terminate` this ends the instance at the
    deadline even if GitHub is unreachable and the runner never starts. The
    EXIT trap powers off as soon as the single job is done or anything fails.
    """
    if not _BASE64.fullmatch(jitconfig):
        raise ServiceError("GitHub returned a JIT config that is not base64; refusing to use it")
    if not 1 <= max_minutes <= 1440:
        raise InputError(f"must be 1..1440 minutes, got {max_minutes}", field="--max-minutes")
    if (runner_url is None) != (runner_sha256 is None):
        raise InputError(
            "--runner-url and --runner-sha256 go together",
            field="--runner-sha256",
            hint="the download is verified against its sha256 before it is unpacked",
        )
    if runner_sha256 is not None and not _SHA256.fullmatch(runner_sha256):
        raise InputError("expected 64 lowercase hex digits", field="--runner-sha256")
    q = shlex.quote
    lines = [
        "#!/bin/bash",
        "# modelops ephemeral GPU runner: one job, then gone.",
        "# 1. Hard lifetime limit before anything else can fail or hang.",
        f"shutdown -h +{int(max_minutes)}",
        "# 2. Power off as soon as the job ends or any step below fails.",
        "trap 'shutdown -h now' EXIT",
        "set -euo pipefail",
        f"RUNNER_DIR={q(runner_dir)}",
    ]
    if runner_url is not None and runner_sha256 is not None:
        lines += [
            'if [ ! -x "$RUNNER_DIR/run.sh" ]; then',
            '  mkdir -p "$RUNNER_DIR"',
            f"  curl -fsSL --retry 3 -o /tmp/actions-runner.tar.gz {q(runner_url)}",
            f"  echo {q(runner_sha256 + '  /tmp/actions-runner.tar.gz')} | sha256sum -c -",
            '  tar -xzf /tmp/actions-runner.tar.gz -C "$RUNNER_DIR"',
            "fi",
        ]
    lines += [
        "# 3. Tell the job what it runs on (the runner loads .env): the PR report prices the run.",
        'mkdir -p "$RUNNER_DIR"',
        "IMDS=http://169.254.169.254/latest",
        "IMDS_TOKEN=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "
        '"$IMDS/api/token" || true)',
        'imds() { curl -fsS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" '
        '"$IMDS/meta-data/$1" || echo unknown; }',
        "printf 'MODELOPS_INSTANCE_TYPE=%s\\nMODELOPS_INSTANCE_MARKET=%s\\n"
        "MODELOPS_INSTANCE_REGION=%s\\n' "
        '"$(imds instance-type)" "$(imds instance-life-cycle)" "$(imds placement/region)" '
        '>> "$RUNNER_DIR/.env"',
        "id runner >/dev/null 2>&1 || useradd --create-home runner",
        'chown -R runner: "$RUNNER_DIR"',
        "# The JIT config registers a single-use runner: it takes one job and exits.",
        f"JITCONFIG={q(jitconfig)}",
        'cd "$RUNNER_DIR"',
        'runuser -u runner -- ./run.sh --jitconfig "$JITCONFIG"',
        "",
    ]
    script = "\n".join(lines)
    if len(script.encode()) > USER_DATA_LIMIT:
        raise ServiceError(f"user data is {len(script.encode())} bytes, over EC2's 16 KiB limit")
    return script
