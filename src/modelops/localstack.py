"""The local stack: a real `mlflow server` and a moto S3 server on free 127.0.0.1 ports.

`python -m modelops.localstack [--workdir DIR]` starts both, creates
the serving bucket and prints the environment variables that point `modelops` at
them; Ctrl-C stops them. The integration tests start the same stack through
`start_stack`, once per test session.

- MLflow: `--backend-store-uri sqlite:///<dir>/mlflow.db` (a database, not files),
  `--serve-artifacts --artifacts-destination <dir>/artifacts`, so clients hold no
  store credentials and upload artifacts through the server.
- S3: `python -m moto.server`, state in memory (lost when it stops).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelops.errors import ServiceError

BUCKET = "modelops-serving"
CREDENTIALS = {
    # moto accepts any credentials; fixed ones keep boto3 from searching the machine.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], *, timeout: float, what: str) -> None:
    """Poll `url` until it answers (any HTTP status), the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting")
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - our own 127.0.0.1 URL
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise ServiceError(f"{what} did not answer at {url} within {timeout:.0f}s")


def start_moto(
    port: int | None = None, *, log: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """A moto server process on 127.0.0.1; returns it and its URL."""
    port = port or free_port()
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stop() reaches every child
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/moto-api/", proc, timeout=30, what="moto server")
    return proc, url


def start_mlflow(workdir: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """An `mlflow server` process with a sqlite database and served artifacts."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    mlflow = Path(sys.executable).with_name("mlflow")
    argv = [str(mlflow)] if mlflow.exists() else [sys.executable, "-m", "mlflow"]
    proc = subprocess.Popen(
        [
            *argv,
            "server",
            "--backend-store-uri",
            f"sqlite:///{workdir / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=(workdir / "mlflow-server.log").open("ab"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,  # mlflow runs uvicorn as a child: stop() ends the group
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, timeout=120, what="mlflow server")
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a service we started and its children (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    # The group may outlive its leader (uvicorn workers): make sure none is left.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def create_bucket(endpoint: str, bucket: str = BUCKET) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)


@dataclass
class Stack:
    """The running services and the variables that point `modelops` at them."""

    workdir: Path
    mlflow_url: str
    s3_url: str
    bucket: str = BUCKET
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, prefix: str = "serving") -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MODELOPS_STORE": f"s3://{self.bucket}/{prefix}",
            "MODELOPS_S3_ENDPOINT_URL": self.s3_url,
            **CREDENTIALS,
        }

    def stop(self) -> None:
        for proc in self.procs.values():
            stop(proc)


def start_stack(workdir: Path) -> Stack:
    """Start MLflow and moto S3, create the bucket; stop what started if anything fails."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        procs["moto"], s3_url = start_moto(log=workdir / "moto.log" if workdir.exists() else None)
        create_bucket(s3_url)
        procs["mlflow"], mlflow_url = start_mlflow(workdir)
    except BaseException:
        for proc in procs.values():
            stop(proc)
        raise
    return Stack(workdir, mlflow_url, s3_url, procs=procs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelops.localstack",
        description="Start a local MLflow server and S3 (moto) and print the variables to use.",
    )
    parser.add_argument("--workdir", type=Path, help="state folder (default: a temporary one)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="modelops-stack-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the services as Ctrl-C does

    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack = start_stack(workdir)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    print(f"# local stack running (state in {workdir}); Ctrl-C stops it")
    for key, value in stack.env().items():
        print(f"export {key}={value}")
    sys.stdout.flush()
    try:
        while all(p.poll() is None for p in stack.procs.values()):
            time.sleep(1)
        print("error: a service stopped", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
