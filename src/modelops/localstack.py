"""The local stack: PostgreSQL, a real `mlflow server` with basic auth, and moto S3, on 127.0.0.1.

`python -m modelops.localstack [--workdir DIR]` starts them, creates the serving
bucket and the MLflow users, and prints the environment variables that point
`modelops` at them; Ctrl-C stops them. The integration tests start the same stack
through `start_stack`, once per test session.

- PostgreSQL: a throwaway cluster (`initdb` + `pg_ctl` from the PostgreSQL server
  binaries on this machine) in a fresh temporary folder, on a free 127.0.0.1 port,
  password authentication only; databases `mlflow` (tracking + registry) and
  `mlflow_auth` (MLflow's users and permissions). PostgreSQL refuses to run as root:
  as root the cluster runs as the `postgres` system user. Removed when the stack stops.
- MLflow: `mlflow server --app-name basic-auth` on that database,
  `--serve-artifacts --artifacts-destination <dir>/artifacts`, so clients hold no
  store credentials and upload artifacts through the server. Every request needs a
  user; see `USERS` for the ones created and what each may do.
- S3: `python -m moto.server`, state in memory (lost when it stops).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# -- PostgreSQL --------------------------------------------------------------

PG_SUPERUSER = "modelops"
PG_DATABASES = ("mlflow", "mlflow_auth")
PG_SYSTEM_USER = "postgres"  # who runs the cluster when we are root


def postgres_bindir() -> Path:
    """The folder of `initdb`, `pg_ctl`, `createdb`: `pg_ctl`'s on PATH, else the newest
    /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    # Debian links some of them into /usr/local/bin; their real folder has all of them.
    candidates = [Path(found).resolve().parent] if found else []
    candidates = [p for p in candidates if _has_server_programs(p)]
    if candidates:
        return candidates[0]
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server_programs(p)]
    if not candidates:
        raise ServiceError(
            "the PostgreSQL server programs (initdb, pg_ctl) are not installed",
            hint="install them (Debian: apt-get install postgresql) or put their folder on PATH",
        )

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)

    return max(candidates, key=version)


def _has_server_programs(folder: Path) -> bool:
    return all((folder / name).exists() for name in ("initdb", "pg_ctl", "createdb"))


@dataclass
class Postgres:
    """A running throwaway PostgreSQL cluster on 127.0.0.1, owned by this process."""

    bindir: Path
    home: Path  # the temporary folder: data/, the log, the socket
    port: int
    password: str
    run_as: str | None  # the system user that runs the server (None: ourselves)

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for `database` (driver: psycopg 3)."""
        return (
            f"postgresql+psycopg://{PG_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"
        )

    def pg_ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return _as_owner(
            self.run_as,
            [str(self.bindir / "pg_ctl"), "-D", str(self.home / "data"), *args],
            timeout=timeout,
        )

    def stop(self) -> None:
        """Fast shutdown (disconnect clients), immediate if that hangs; remove the folder."""
        if (self.home / "data" / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    if self.pg_ctl("stop", "-m", mode, "-w", "-t", "30").returncode == 0:
                        break
        shutil.rmtree(self.home, ignore_errors=True)


def _as_owner(
    run_as: str | None, argv: list[str], *, timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL server program as `run_as` (via runuser) or as ourselves."""
    prefix = ["runuser", "-u", run_as, "--"] if run_as else []
    return subprocess.run(
        [*prefix, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {}), "LC_ALL": "C"},
        cwd="/",  # runuser's user may not be allowed into our working directory
    )


def start_postgres(port: int | None = None) -> Postgres:
    """`initdb` a cluster in a fresh temp folder, start it on 127.0.0.1, create the databases."""
    bindir = postgres_bindir()
    run_as = PG_SYSTEM_USER if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="modelops-pg-"))
    password = secrets.token_urlsafe(18)
    pg = Postgres(bindir, home, port or free_port(), password, run_as)
    try:
        pwfile = home / "pwfile"
        pwfile.write_text(password + "\n")
        if run_as:
            import pwd

            owner = pwd.getpwnam(run_as)
            for path in (home, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        initdb = _as_owner(
            run_as,
            [
                str(bindir / "initdb"),
                "-D",
                str(home / "data"),
                "-U",
                PG_SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            timeout=120,
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            raise ServiceError(f"initdb failed: {_last_line(initdb)}")
        options = f"-h 127.0.0.1 -p {pg.port} -k {home} -c max_connections=200"
        started = pg.pg_ctl(
            "start", "-w", "-t", "60", "-l", str(home / "postgres.log"), "-o", options
        )
        if started.returncode != 0:
            log = home / "postgres.log"
            detail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
            raise ServiceError(
                f"PostgreSQL did not start on 127.0.0.1:{pg.port}: "
                + (detail[0] if detail else _last_line(started))
            )
        for database in PG_DATABASES:
            created = subprocess.run(
                [
                    str(bindir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(pg.port),
                    "-U",
                    PG_SUPERUSER,
                    database,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, "PGPASSWORD": password},
            )
            if created.returncode != 0:
                raise ServiceError(f"createdb {database} failed: {_last_line(created)}")
    except BaseException:
        pg.stop()
        raise
    return pg


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"


# -- MLflow ------------------------------------------------------------------


ADMIN_USER = "admin"


def start_mlflow(
    workdir: Path,
    *,
    backend_uri: str,
    auth_db_uri: str,
    admin_password: str,
    port: int | None = None,
    workers: int = 2,
) -> tuple[subprocess.Popen[bytes], str]:
    """An `mlflow server` with MLflow's basic-auth app, its stores at the given databases.

    Database URLs (which hold the database password) reach the server through its
    environment and a 0600 config file, never its command line.
    """
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "basic_auth.ini"
    config.touch(mode=0o600)
    config.write_text(
        "[mlflow]\n"
        "# Users without a grant may read; writes need ownership or a grant (see USERS).\n"
        "default_permission = READ\n"
        f"database_uri = {auth_db_uri}\n"
        f"admin_username = {ADMIN_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "# Checking a password costs ~0.3 s of server CPU (a deliberately slow hash); without\n"
        "# this cache every request pays it. A changed password reaches the other workers\n"
        "# within the TTL.\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    mlflow = Path(sys.executable).with_name("mlflow")
    argv = [str(mlflow)] if mlflow.exists() else [sys.executable, "-m", "mlflow"]
    env = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": backend_uri,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        # The auth app's CSRF protection (its web forms) needs one key for all workers.
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(32),
    }
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [
            *argv,
            "server",
            "--app-name",
            "basic-auth",
            "--serve-artifacts",
            "--artifacts-destination",
            str(workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=(workdir / "mlflow-server.log").open("ab"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env=env,
        start_new_session=True,  # mlflow runs uvicorn as a child: stop() ends the group
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, timeout=180, what="mlflow server")
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


# -- users ---------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """An MLflow user the stack creates, and the grants that make up its least privilege."""

    username: str
    job: str
    grants: tuple[tuple[str, str, str], ...]  # (resource type, resource id or "*", permission)


# The server's default permission is READ: every user reads every experiment and model.
# A user owns (MANAGE) what it creates; beyond that it may write only what it is granted.
ROLES = {
    # PR pipelines run code from the pull request: they log runs (train, evaluate) and
    # read the registry (the champion), but never register, tag or move an alias.
    "pr": Role(
        "modelops-pr", "PR pipelines: log runs, read the registry", (("experiment", "*", "EDIT"),)
    ),
    # main (register) and deploy/release (aliases): edit runs and registered models;
    # deleting experiments or models stays with their owner or an admin.
    "deploy": Role(
        "modelops-deploy",
        "main, deploy, release: register versions, set aliases",
        (("experiment", "*", "EDIT"), ("registered_model", "*", "EDIT")),
    ),
}


def create_users(url: str, admin_password: str) -> dict[str, str]:
    """Create each role's user with a fresh password and its grants; role -> password.

    Through MLflow's auth REST API as the admin (the admin itself is created by the
    server from `MLFLOW_AUTH_ADMIN_PASSWORD` on first start).
    """
    import requests
    from mlflow.server.auth.routes import CREATE_USER, GRANT_USER_PERMISSION

    passwords: dict[str, str] = {}
    with requests.Session() as http:
        http.auth = (ADMIN_USER, admin_password)

        def post(route: str, body: dict[str, Any]) -> None:
            resp = http.post(url + route, json=body, timeout=30)
            if resp.status_code != 200:
                raise ServiceError(
                    f"mlflow server refused {route} for {body.get('username')}: "
                    f"HTTP {resp.status_code} {resp.text[:200]}"
                )

        for key, role in ROLES.items():
            password = secrets.token_urlsafe(18)
            post(CREATE_USER, {"username": role.username, "password": password})
            for resource_type, resource_id, permission in role.grants:
                post(
                    GRANT_USER_PERMISSION,
                    {
                        "username": role.username,
                        "resource_type": resource_type,
                        "resource_id": resource_id,
                        "permission": permission,
                    },
                )
            passwords[key] = password
    return passwords


# -- the stack -------------------------------------------------------------------


@dataclass
class Stack:
    """The running services and the variables that point `modelops` at them."""

    workdir: Path
    mlflow_url: str
    s3_url: str
    admin_password: str
    passwords: dict[str, str]  # ROLES key -> password
    bucket: str = BUCKET
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: Postgres | None = None

    def credentials(self, role: str) -> dict[str, str]:
        """MLflow's client variables that log in as `role` ("pr", "deploy" or "admin")."""
        if role == "admin":
            return {
                "MLFLOW_TRACKING_USERNAME": ADMIN_USER,
                "MLFLOW_TRACKING_PASSWORD": self.admin_password,
            }
        return {
            "MLFLOW_TRACKING_USERNAME": ROLES[role].username,
            "MLFLOW_TRACKING_PASSWORD": self.passwords[role],
        }

    def env(self, prefix: str = "serving", role: str = "deploy") -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            **self.credentials(role),
            "MODELOPS_STORE": f"s3://{self.bucket}/{prefix}",
            "MODELOPS_S3_ENDPOINT_URL": self.s3_url,
            **CREDENTIALS,
        }

    def stop(self) -> None:
        """Stop MLflow and moto, then the database under them."""
        for proc in self.procs.values():
            stop(proc)
        if self.postgres is not None:
            self.postgres.stop()


def start_stack(workdir: Path) -> Stack:
    """Start PostgreSQL, MLflow (basic auth, users created) and moto S3, create the bucket.

    Stops whatever started if anything fails.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    postgres: Postgres | None = None
    try:
        procs["moto"], s3_url = start_moto(log=workdir / "moto.log")
        create_bucket(s3_url)
        postgres = start_postgres()
        admin_password = secrets.token_urlsafe(18)
        procs["mlflow"], mlflow_url = start_mlflow(
            workdir,
            backend_uri=postgres.url("mlflow"),
            auth_db_uri=postgres.url("mlflow_auth"),
            admin_password=admin_password,
        )
        passwords = create_users(mlflow_url, admin_password)
    except BaseException:
        for proc in procs.values():
            stop(proc)
        if postgres is not None:
            postgres.stop()
        raise
    return Stack(
        workdir, mlflow_url, s3_url, admin_password, passwords, procs=procs, postgres=postgres
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelops.localstack",
        description="Start PostgreSQL, an MLflow server with basic auth and S3 (moto) on "
        "127.0.0.1, and print the variables to use.",
    )
    parser.add_argument("--workdir", type=Path, help="state folder (default: a temporary one)")
    parser.add_argument(
        "--role",
        choices=sorted(ROLES),
        default="deploy",
        help="the MLflow user the printed variables log in as (default: deploy)",
    )
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
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 4
    try:
        print(f"# local stack running (state in {workdir}); Ctrl-C stops it")
        for key, role in ROLES.items():
            print(f"# MLflow user {role.username} ({role.job}): {stack.passwords[key]}")
        print(f"# MLflow admin {ADMIN_USER} (users and grants only): {stack.admin_password}")
        for key, value in stack.env(role=args.role).items():
            print(f"export {key}={value}")
        sys.stdout.flush()
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
