"""The GPU-runner lifecycle against a real moto EC2 server and the validated GitHub stand-in.

moto cannot produce capacity or quota errors, so those are injected with
botocore `before-call` hooks on the real client the CLI builds; everything
else (RunInstances, tags, user data, terminate, describe) is moto's EC2 API
over HTTP on 127.0.0.1. GitHub is tests/unit/githubapi.py, which checks every request
and response against GitHub's published OpenAPI description; each test ends by
asserting it saw no violation.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from githubapi import GitHubStandIn, OpenAPI, Repo, openapi_description, serve

from modelops.cli import main

pytestmark = pytest.mark.integration

REPO = "acme/models"
TOKEN = "ghs_" + "x" * 36  # what an App installation token looks like
RUN_ID = "4242"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- moto server ------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A real `moto.server` process on 127.0.0.1, for the whole session."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()  # noqa: S310
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A clean moto EC2 with a GPU launch template; boto3 pointed at it through the env."""
    import boto3

    req = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(req, timeout=5).close()  # noqa: S310
    for key, value in {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_url)
    image = _moto_image(ec2)
    ec2.create_launch_template(
        LaunchTemplateName="modelops-gpu",
        LaunchTemplateData={"ImageId": image, "MetadataOptions": {"HttpTokens": "required"}},
    )
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    yield {"ec2": ec2, "subnets": [s["SubnetId"] for s in subnets[:3]], "url": moto_url}


_IMAGE: list[str] = []


def _moto_image(ec2: Any) -> str:
    """One of moto's built-in AMIs (they survive a reset; listing them all takes seconds)."""
    if not _IMAGE:
        _IMAGE.append(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])
    return _IMAGE[0]


def live_instances(ec2: Any, **tags: str) -> list[dict[str, Any]]:
    filters = [
        {"Name": f"tag:modelops:{k.replace('_', '-')}", "Values": [v]} for k, v in tags.items()
    ]
    filters.append(
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    )
    pages = ec2.describe_instances(Filters=filters)["Reservations"]
    return [i for r in pages for i in r["Instances"]]


def launch_tagged(ec2: Any, *, label: str, expires_at: datetime, run_id: str = RUN_ID) -> str:
    """An instance as `start` tags it, launched directly (to control its expiry)."""
    tags = {
        "modelops:repository": REPO,
        "modelops:run-id": run_id,
        "modelops:run-attempt": "1",
        "modelops:job": "train",
        "modelops:label": label,
        "modelops:expires-at": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    out = ec2.run_instances(
        LaunchTemplate={"LaunchTemplateName": "modelops-gpu"},
        InstanceType="g5.xlarge",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )
    return str(out["Instances"][0]["InstanceId"])


# -- GitHub stand-in --------------------------------------------------------


@pytest.fixture(scope="session")
def openapi() -> OpenAPI:
    """GitHub's published OpenAPI description, which the stand-in checks every exchange against."""
    return OpenAPI(openapi_description())


@pytest.fixture
def github(openapi: OpenAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubStandIn]:
    """The validated GitHub stand-in on 127.0.0.1 holding REPO; GITHUB_* variables point at it.

    A runner registered with a JIT config comes online at the first list after it (its
    machine booted); a test sets `online_after_lists = None` for one that never does.
    """
    standin = GitHubStandIn(openapi, TOKEN)
    standin.add_repo(REPO).online_after_lists = 1
    running = serve(standin)
    server = next(running)
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_RUN_ID", RUN_ID)
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "1")
    monkeypatch.setenv("GITHUB_JOB", "train")
    for var in ("GITHUB_OUTPUT", "MODELOPS_GPU_PRICES", "GH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    yield standin
    running.close()
    assert standin.violations == [], "\n".join(standin.violations)


def state(github: GitHubStandIn) -> Repo:
    """What the stand-in holds for REPO: runners, runs, JIT configs handed out."""
    return github.repos[REPO]


# -- failure injection on the real boto3 client ------------------------------

Injector = Callable[[dict[str, Any]], str | None]


@pytest.fixture
def inject_run_instances(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[Injector], list[dict[str, Any]]]:
    """Make RunInstances fail with the error code `decide(params)` returns (None: call moto)."""

    def install(decide: Injector) -> list[dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        import modelops.runners.ec2 as ec2_module

        calls: list[dict[str, Any]] = []
        original = ec2_module.ec2_client

        def before_call(params: dict[str, Any], **_: Any) -> Any:
            body = params["body"]  # the serialised EC2 query: flat "A.B" keys
            call = {
                "InstanceType": body.get("InstanceType"),
                "SubnetId": body.get("SubnetId"),
                "spot": body.get("InstanceMarketOptions.MarketType") == "spot",
            }
            calls.append(call)
            code = decide(call)
            if code is None:
                return None
            http = AWSResponse("http://injected", 400, {}, None)
            return http, {"Error": {"Code": code, "Message": f"injected {code}"},
                          "ResponseMetadata": {"HTTPStatusCode": 400}}  # fmt: skip

        def patched(region: str | None) -> Any:
            client = original(region)
            client.meta.events.register("before-call.ec2.RunInstances", before_call)
            return client

        monkeypatch.setattr(ec2_module, "ec2_client", patched)
        return calls

    return install


def start_args(aws: dict[str, Any], *extra: str) -> list[str]:
    return [
        "runners", "start",
        "--launch-template", "modelops-gpu",
        "--instance-types", "g5.xlarge,g4dn.xlarge",
        "--subnet-ids", ",".join(aws["subnets"][:2]),
        "--max-minutes", "30",
        "--wait-timeout", "5",
        "--poll-interval", "0.05",
        *extra,
    ]  # fmt: skip


# -- tests --------------------------------------------------------------------


def test_start_then_stop_leaves_no_running_instance(aws, github, tmp_path, monkeypatch, capsys):
    """start launches one tagged instance and writes its outputs; stop (by tag) terminates it."""
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert main(start_args(aws)) == 0
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    [instance] = live_instances(aws["ec2"], repository=REPO, run_id=RUN_ID)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert written["instance-id"] == instance["InstanceId"]
    assert written["label"] == tags["modelops:label"]
    assert written["label"].startswith(f"modelops-{RUN_ID}-1-train-")
    assert tags["modelops:run-attempt"] == "1" and tags["modelops:job"] == "train"
    expires = datetime.fromisoformat(tags["modelops:expires-at"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    assert instance["InstanceType"] == "g5.xlarge"
    assert instance["SubnetId"] == aws["subnets"][0]
    behaviour = aws["ec2"].describe_instance_attribute(
        InstanceId=instance["InstanceId"], Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"

    assert main(["runners", "stop"]) == 0
    assert live_instances(aws["ec2"], repository=REPO) == []
    assert state(github).runners == {}, "the run's idle runner is unregistered too"
    capsys.readouterr()
    assert main(["runners", "stop"]) == 0, "stop is idempotent"
    assert "no live instance" in capsys.readouterr().out


def test_user_data_arms_hard_shutdown_before_the_runner(aws, github):
    """The user data arms `shutdown -h +max-minutes` first, then runs the single-use JIT config."""
    assert main(start_args(aws, "--max-minutes", "17")) == 0
    [instance] = live_instances(aws["ec2"], repository=REPO)
    attr = aws["ec2"].describe_instance_attribute(
        InstanceId=instance["InstanceId"], Attribute="userData"
    )
    script = base64.b64decode(attr["UserData"]["Value"]).decode()
    commands = [ln for ln in script.splitlines() if ln and not ln.startswith("#")]
    assert commands[0] == "shutdown -h +17"
    [jit] = state(github).jit_configs
    assert f"JITCONFIG={jit}" in script
    assert commands[-1] == 'runuser -u runner -- ./run.sh --jitconfig "$JITCONFIG"'
    assert "trap 'shutdown -h now' EXIT" in commands


@pytest.mark.parametrize("in_actions", [False, True])
def test_no_token_or_jit_config_in_logs(aws, github, monkeypatch, capfd, in_actions):
    """Neither the token nor the JIT config is printed; in Actions the config is only masked."""
    if in_actions:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(start_args(aws)) == 0
    assert main(["runners", "stop"]) == 0
    out, err = capfd.readouterr()
    [jit] = state(github).jit_configs
    assert TOKEN not in out + err
    leaking = [ln for ln in (out + err).splitlines() if jit in ln]
    assert leaking == ([f"::add-mask::{jit}"] if in_actions else [])


def test_capacity_error_in_first_zone_falls_back(aws, github, inject_run_instances, tmp_path):
    """Spot capacity errors move on to the next subnet, then the next type, in order."""
    first, second = aws["subnets"][:2]
    calls = inject_run_instances(
        lambda p: (
            "InsufficientInstanceCapacity"
            if p["InstanceType"] == "g5.xlarge" or p["SubnetId"] == first
            else None
        )
    )
    result = tmp_path / "start.json"
    assert main(["--result", str(result), *start_args(aws)]) == 0
    tried = [(c["InstanceType"], c["SubnetId"]) for c in calls]
    assert tried == [("g5.xlarge", first), ("g5.xlarge", second), ("g4dn.xlarge", first),
                     ("g4dn.xlarge", second)]  # fmt: skip
    [instance] = live_instances(aws["ec2"], repository=REPO)
    assert (instance["InstanceType"], instance["SubnetId"]) == ("g4dn.xlarge", second)
    data = json.loads(result.read_text())
    assert data["market"] == "spot"
    assert [a["error"] for a in data["attempts"]] == ["InsufficientInstanceCapacity"] * 3 + [""]


def test_no_spot_anywhere_falls_back_to_on_demand(aws, github, inject_run_instances):
    """When spot has no capacity for any type or zone, on-demand is tried if allowed."""
    calls = inject_run_instances(lambda p: "SpotMaxPriceTooLow" if p["spot"] else None)
    assert main(start_args(aws)) == 0
    assert len(calls) == 5, "four spot attempts, then the first on-demand one"
    [instance] = live_instances(aws["ec2"], repository=REPO)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["modelops:market"] == "on-demand"


def test_no_capacity_without_fallback_fails_and_unregisters(
    aws, github, inject_run_instances, capsys
):
    """Without on-demand fallback, exhausted spot capacity is exit 4 and leaves nothing behind."""
    inject_run_instances(lambda p: "InsufficientInstanceCapacity")
    assert main(start_args(aws, "--on-demand-fallback", "false")) == 4
    assert "no capacity for any candidate" in capsys.readouterr().err
    assert live_instances(aws["ec2"], repository=REPO) == []
    assert state(github).runners == {}


@pytest.mark.parametrize("code", ["VcpuLimitExceeded", "UnauthorizedOperation"])
def test_quota_or_permission_error_fails_fast(aws, github, inject_run_instances, capsys, code):
    """A quota or permission error stops at the first attempt, names the error, exits 4."""
    calls = inject_run_instances(lambda p: code)
    assert main(start_args(aws)) == 4
    err = capsys.readouterr().err
    assert len(calls) == 1
    assert code in err and "Traceback" not in err
    assert live_instances(aws["ec2"], repository=REPO) == []


def test_runner_that_never_registers_is_terminated(aws, github, capsys):
    """Waiting for the runner is bounded: on timeout the instance is terminated, exit 4."""
    state(github).online_after_lists = None
    started = time.monotonic()
    assert main(start_args(aws, "--wait-timeout", "1")) == 4
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "did not come online within 1s" in err
    assert live_instances(aws["ec2"], repository=REPO) == []
    assert state(github).runners == {}, "the JIT registration is removed as well"


def test_interrupt_after_run_instances_cleans_up(aws, github, monkeypatch):
    """A cancel (SIGINT/SIGTERM → KeyboardInterrupt) right after RunInstances terminates it."""
    import modelops.runners.ec2 as ec2_module

    original = ec2_module.ec2_client

    def interrupting(region: str | None) -> Any:
        client = original(region)

        def after_call(**_: Any) -> None:
            raise KeyboardInterrupt

        client.meta.events.register("after-call.ec2.RunInstances", after_call)
        return client

    monkeypatch.setattr(ec2_module, "ec2_client", interrupting)
    assert main(start_args(aws)) == 130
    assert live_instances(aws["ec2"], repository=REPO) == []
    assert state(github).runners == {}


def _start_in_subprocess(aws: dict[str, Any], github_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GITHUB_API_URL": github_url}
    args = start_args(aws, "--wait-timeout", "60", "--poll-interval", "0.2")
    return subprocess.Popen(
        [sys.executable, "-m", "modelops", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_for_instance(aws: dict[str, Any], proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = live_instances(aws["ec2"], repository=REPO, run_id=RUN_ID)
        if found:
            return str(found[0]["InstanceId"])
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("start never launched an instance")


def test_sigterm_during_wait_terminates_the_instance(aws, github):
    """A job cancelled while start waits (SIGTERM) terminates its own instance on the way out."""
    state(github).online_after_lists = None
    proc = _start_in_subprocess(aws, os.environ["GITHUB_API_URL"])
    _wait_for_instance(aws, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert live_instances(aws["ec2"], repository=REPO) == []


@pytest.mark.parametrize("cleaner", ["stop", "janitor"])
def test_killed_start_is_cleaned_up_by_tag(aws, github, cleaner, capsys):
    """A start killed outright after RunInstances leaves an orphan that stop/janitor find by tag."""
    state(github).online_after_lists = None
    proc = _start_in_subprocess(aws, os.environ["GITHUB_API_URL"])
    orphan = _wait_for_instance(aws, proc)
    proc.kill()
    proc.wait(timeout=10)
    assert [i["InstanceId"] for i in live_instances(aws["ec2"], repository=REPO)] == [orphan]
    if cleaner == "stop":
        assert main(["runners", "stop"]) == 0
    else:
        github.add_run(REPO, int(RUN_ID), "completed", conclusion="success")
        assert main(["runners", "janitor", "--boot-grace-minutes", "0"]) == 0
        assert f"workflow run {RUN_ID} completed" in capsys.readouterr().out
    assert live_instances(aws["ec2"], repository=REPO) == []
    assert state(github).runners == {}, "the orphan's offline runner is removed"


def test_janitor_spares_booting_and_terminates_expired(aws, github, capsys):
    """Within its boot grace an instance is kept even if its run ended; an expired one goes."""
    now = datetime.now(UTC)
    booting = launch_tagged(
        aws["ec2"], label="modelops-1-1-train-a", expires_at=now + timedelta(hours=1)
    )
    expired = launch_tagged(
        aws["ec2"], label="modelops-1-1-train-b", expires_at=now - timedelta(minutes=1)
    )
    github.add_run(REPO, int(RUN_ID), "completed", conclusion="success")
    state(github).online_after_lists = None
    assert main(["runners", "janitor", "--boot-grace-minutes", "10"]) == 0
    out = capsys.readouterr().out
    assert [i["InstanceId"] for i in live_instances(aws["ec2"], repository=REPO)] == [booting]
    assert f"{expired} (modelops-1-1-train-b): terminate, expired" in out
    assert f"{booting} (modelops-1-1-train-a): keep, booting" in out


def test_janitor_spares_busy_runner_and_removes_offline_runners(aws, github, capsys):
    """A busy runner's instance is kept though its run looks ended; idle leftovers are removed."""
    later = datetime.now(UTC) + timedelta(hours=1)
    busy = launch_tagged(aws["ec2"], label="modelops-1-1-train-busy", expires_at=later)
    idle = launch_tagged(aws["ec2"], label="modelops-1-1-train-idle", expires_at=later)
    github.add_runner(REPO, "modelops-1-1-train-busy", status="online", busy=True)
    github.add_runner(REPO, "modelops-9-1-train-gone", status="offline")
    github.add_runner(REPO, "team-shared-gpu", status="offline")
    state(github).online_after_lists = None
    github.add_run(REPO, int(RUN_ID), "completed", conclusion="success")

    assert main(["runners", "janitor", "--boot-grace-minutes", "0", "--dry-run"]) == 0
    assert len(live_instances(aws["ec2"], repository=REPO)) == 2, "dry run changes nothing"

    assert main(["runners", "janitor", "--boot-grace-minutes", "0"]) == 0
    out = capsys.readouterr().out
    assert [i["InstanceId"] for i in live_instances(aws["ec2"], repository=REPO)] == [busy]
    assert f"{idle} (modelops-1-1-train-idle): terminate" in out
    names = sorted(r["name"] for r in state(github).runners.values())
    assert names == ["modelops-1-1-train-busy", "team-shared-gpu"], "only modelops runners go"


def test_janitor_without_token_only_enforces_expiry(aws, github, monkeypatch, capsys):
    """Without a GitHub token the janitor still ends expired instances and says what it skipped."""
    monkeypatch.delenv("GITHUB_TOKEN")
    now = datetime.now(UTC)
    keep = launch_tagged(
        aws["ec2"], label="modelops-1-1-train-a", expires_at=now + timedelta(hours=1)
    )
    launch_tagged(aws["ec2"], label="modelops-1-1-train-b", expires_at=now - timedelta(seconds=1))
    assert main(["runners", "janitor", "--boot-grace-minutes", "0"]) == 0
    assert [i["InstanceId"] for i in live_instances(aws["ec2"], repository=REPO)] == [keep]
    assert "no GITHUB_TOKEN" in capsys.readouterr().out
    assert github.unauthorized == 0 and github.calls == []


def test_janitor_survives_a_github_error(aws, github):
    """A run lookup failing with 502 (after retries) keeps that instance, prints no traceback,
    and the expired instance is still terminated."""
    now = datetime.now(UTC)
    unknown = launch_tagged(
        aws["ec2"], label="modelops-1-1-train-a", expires_at=now + timedelta(hours=1)
    )
    launch_tagged(aws["ec2"], label="modelops-1-1-train-b", expires_at=now - timedelta(seconds=1))
    github.add_run(REPO, int(RUN_ID), fails_with=502)
    # A process of its own: what the CLI prints, logging included, is what a job log shows.
    proc = subprocess.run(
        [sys.executable, "-m", "modelops", "runners", "janitor", "--boot-grace-minutes", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [i["InstanceId"] for i in live_instances(aws["ec2"], repository=REPO)] == [unknown]
    assert f"status of run {RUN_ID} unknown" in proc.stderr and "502" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{unknown} (modelops-1-1-train-a): keep, run {RUN_ID} unknown" in proc.stdout
    assert len(github.calls_of("actions/get-workflow-run")) > 1, "a 5xx is retried"


def test_janitor_ignores_other_repositories(aws, github):
    """Instances tagged for another repository are never touched."""
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=aws["url"])
    other = ec2.run_instances(
        ImageId=_moto_image(ec2),
        MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "modelops:repository", "Value": "someone/else"},
            {"Key": "modelops:expires-at", "Value": "2000-01-01T00:00:00Z"}]}],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    assert main(["runners", "janitor", "--boot-grace-minutes", "0"]) == 0
    state = ec2.describe_instances(InstanceIds=[other])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


@pytest.mark.parametrize("spot", [True, False])
def test_stop_records_the_billed_life_the_report_prices(aws, github, tmp_path, spot, capsys):
    """start then stop --billing-out: the record holds the instance's launch-to-terminate
    life read from moto's EC2, its region and market, and prices to what the table says."""
    from modelops.report import compute_section
    from modelops.runners.billing import load_billing
    from modelops.runners.cost import load_prices

    assert main(start_args(aws, "--spot", "true" if spot else "false")) == 0
    [instance] = live_instances(aws["ec2"], repository=REPO, run_id=RUN_ID)
    record = tmp_path / "billing.json"
    assert main(["runners", "stop", "--billing-out", str(record)]) == 0
    assert "estimate" in capsys.readouterr().out
    [life] = load_billing(record)
    assert life.instance_id == instance["InstanceId"] and life.instance_type == "g5.xlarge"
    assert life.region == "us-east-1" and life.market == ("spot" if spot else "on-demand")
    assert life.end_source == "state-transition-reason"
    assert life.launch_time == instance["LaunchTime"].replace(microsecond=0)
    assert life.launch_time <= life.end_time <= datetime.now(UTC)
    hourly = load_prices().hourly("g5.xlarge", region="us-east-1", spot=spot)
    assert life.billed_seconds == 60.0  # launched and stopped within the minimum
    cost = compute_section({"compute": {}}, {"max_minutes": 30}, [life])
    assert cost.basis == "billed-life" and cost.cost_usd == round(hourly * 60 / 3600, 4)


def test_runner_list_reads_every_page(github):
    """The runner list follows GitHub's pages past 100; finding one asks by name."""
    from modelops.runners.github import GitHub

    names = [f"team-gpu-{i:03d}" for i in range(230)]
    for name in names:
        github.add_runner(REPO, name, status="online")
    client = GitHub(REPO, TOKEN)
    assert sorted(r.name for r in client.list_runners()) == names
    pages = github.calls_of("actions/list-self-hosted-runners-for-repo")
    assert len(pages) == 3 and "page=3" in pages[-1]
    found = client.find_runner("team-gpu-150")
    assert found is not None and found.status == "online"
    assert found.labels == ("self-hosted", "Linux", "X64")
    assert "name=team-gpu-150" in github.calls_of("actions/list-self-hosted-runners-for-repo")[-1]
    assert client.find_runner("absent") is None


def test_a_rejected_token_is_exit_4_with_the_app_token_hint(aws, github, monkeypatch, capsys):
    """A token GitHub rejects (401) stops start before any launch, names the App token, exit 4."""
    wrong = "ghs_" + "y" * 36
    monkeypatch.setenv("GITHUB_TOKEN", wrong)
    assert main(start_args(aws)) == 4
    err = capsys.readouterr().err
    assert "401" in err and "administration:write" in err and "Traceback" not in err
    assert wrong not in err and TOKEN not in err
    assert github.unauthorized == 1
    assert live_instances(aws["ec2"], repository=REPO) == []


def test_a_busy_runner_is_not_removed_by_stop(aws, github, capsys):
    """stop terminates the run's instance but leaves a runner GitHub says is running a job."""
    assert main(start_args(aws)) == 0
    [runner] = state(github).runners.values()
    runner["busy"] = True
    assert main(["runners", "stop"]) == 0
    assert live_instances(aws["ec2"], repository=REPO) == []
    assert list(state(github).runners.values()) == [runner]
    assert github.calls_of("actions/delete-self-hosted-runner-from-repo") == []
