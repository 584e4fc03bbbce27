"""infra/aws: the CloudFormation template lints clean and its trust and guard rails hold."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "aws" / "modelops.yaml"
PARAMS = {
    "GitHubOrg": "acme",
    "GitHubRepo": "models",
    "GpuEnvironment": "gpu",
    "JanitorEnvironment": "runner-janitor",
}
AUD = "token.actions.githubusercontent.com:aud"
SUB = "token.actions.githubusercontent.com:sub"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Sub, !Ref, …) read as {"Fn::…": value}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    key = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {key: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.load(TEMPLATE.read_text("utf-8"), Loader=_CfnLoader)  # noqa: S506
    return doc


def resolve(value: Any) -> Any:
    """Render !Sub strings with the sample parameters (enough to read trust subjects)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda m: PARAMS.get(m[1], m[0]), value["Fn::Sub"])
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def oidc_trust_problems(template: dict[str, Any]) -> dict[str, list[str]]:
    """Per role trusting GitHub: the subjects it accepts, or a problem description."""
    found: dict[str, list[str]] = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            if "Federated" not in statement.get("Principal", {}):
                continue
            condition = statement.get("Condition", {})
            if set(condition) != {"StringEquals"}:
                found[name] = [f"operators {sorted(condition)}: only StringEquals is exact"]
                continue
            equals = condition["StringEquals"]
            if equals.get(AUD) != "sts.amazonaws.com":
                found[name] = [f"aud is {equals.get(AUD)!r}"]
                continue
            subs = resolve(equals.get(SUB))
            found[name] = subs if isinstance(subs, list) else [subs]
    return found


def test_template_passes_cfn_lint() -> None:
    """cfn-lint reports nothing (no errors, no warnings) for infra/aws/modelops.yaml."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run(
        [str(cfn_lint), "--format", "json", str(TEMPLATE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert json.loads(proc.stdout or "[]") == [], proc.stdout
    assert proc.returncode == 0


def test_roles_pin_audience_and_exact_environment_subjects() -> None:
    """Each GitHub role pins aud and exact environment subjects; prod accepts only prod."""
    trust = oidc_trust_problems(load_template())
    assert trust == {
        "ProdDeployRole": ["repo:acme/models:environment:prod"],
        "ProdPlanRole": ["repo:acme/models:environment:prod-plan"],
        "DeployRole": ["repo:acme/models:environment:dev", "repo:acme/models:environment:staging"],
        "GpuRunnerRole": ["repo:acme/models:environment:gpu"],
        "RunnerJanitorRole": ["repo:acme/models:environment:runner-janitor"],
    }


def test_no_role_trusts_pull_requests_or_wildcards() -> None:
    """Pull-request jobs get no role: no trust policy names pull_request or holds a wildcard."""
    trusts = json.dumps(
        [r["Properties"]["AssumeRolePolicyDocument"] for r in load_template()["Resources"].values()
         if r["Type"] == "AWS::IAM::Role"]
    )  # fmt: skip
    assert "pull_request" not in trusts
    assert "StringLike" not in trusts
    assert all("*" not in sub for subs in oidc_trust_problems(load_template()).values()
               for sub in subs)  # fmt: skip


def test_trust_check_catches_a_loosened_subject() -> None:
    """The trust check itself fails on a wildcard subject (so the tests above can fail)."""
    template = copy.deepcopy(load_template())
    trust = template["Resources"]["ProdDeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    condition = trust["Statement"][0]["Condition"]
    condition["StringLike"] = {SUB: "repo:acme/models:*"}
    del condition["StringEquals"][SUB]
    assert oidc_trust_problems(template)["ProdDeployRole"][0].startswith("operators")


def test_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    """The bucket blocks all public access, encrypts, versions and denies plain HTTP."""
    resources = load_template()["Resources"]
    bucket = resources["ArtifactsBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256")
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    [deny] = resources["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("template", ["GpuLaunchTemplate", "GpuMainLaunchTemplate"])
def test_launch_template_terminates_on_shutdown_and_requires_imdsv2(template: str) -> None:
    """The GPU templates: IMDSv2 only, one hop, encrypted disk, shutdown means terminate."""
    data = load_template()["Resources"][template]["Properties"]["LaunchTemplateData"]
    assert data["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert all(m["Ebs"]["Encrypted"] is True for m in data["BlockDeviceMappings"])


def test_janitor_role_cannot_launch() -> None:
    """The janitor's role may only describe and terminate this repository's instances."""
    statements = _statements("RunnerJanitorRole")
    actions = {a for s in statements.values() for a in _list(s["Action"])}
    assert actions == {"ec2:DescribeInstances", "ec2:TerminateInstances"}
    terminate = statements["TerminateOnlyThisRepositorysInstances"]["Condition"]["StringEquals"]
    assert resolve(terminate["aws:ResourceTag/modelops:repository"]) == "acme/models"


def _statements(role: str) -> dict[str, dict[str, Any]]:
    props = load_template()["Resources"][role]["Properties"]
    return {s["Sid"]: s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]}


def test_gpu_runner_role_is_least_privilege() -> None:
    """RunInstances only via the template with run tags; terminate only this repo's instances."""
    statements = _statements("GpuRunnerRole")
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert {a for s in statements.values() for a in _list(s["Action"])} == {
        "ec2:RunInstances", "ec2:CreateTags", "ec2:TerminateInstances",
        "ec2:DescribeInstances", "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions", "iam:PassRole",
    }  # fmt: skip
    instances = statements["InstancesFromTemplateWithRunTags"]["Condition"]
    assert "ec2:LaunchTemplate" in instances["ArnEquals"]
    assert resolve(instances["StringEquals"]["aws:RequestTag/modelops:repository"]) == "acme/models"
    assert statements["TagOnlyAtLaunch"]["Condition"] == {
        "StringEquals": {"ec2:CreateAction": "RunInstances"}
    }
    terminate = statements["TerminateOnlyThisRepositorysInstances"]["Condition"]["StringEquals"]
    assert resolve(terminate["aws:ResourceTag/modelops:repository"]) == "acme/models"
    star = [sid for sid, s in statements.items() if s["Resource"] == "*"]
    assert star == ["DescribeHasNoResourceLevelPermissions"]


@pytest.mark.parametrize(
    ("role", "prefixes"),
    [
        ("ProdDeployRole", ["serving/prod/"]),
        ("DeployRole", ["serving/dev/", "serving/staging/"]),
        ("GpuInstanceRole", ["checkpoints/pull-requests/"]),
        ("GpuMainInstanceRole", ["checkpoints/main/"]),
    ],
)
def test_s3_access_is_scoped_to_prefixes(role: str, prefixes: list[str]) -> None:
    """Each role reaches only its own prefixes of the bucket, never s3:* or the whole bucket."""
    for statement in _statements(role).values():
        assert "s3:*" not in _list(statement["Action"])
        for resource in _list(statement["Resource"]):
            rendered = (
                resource["Fn::Sub"]
                if isinstance(resource, dict) and "Fn::Sub" in resource
                else None
            )
            if rendered is not None:
                assert any(rendered.endswith(f"/{p}*") for p in prefixes), rendered
            else:  # the bucket itself: listing, limited by s3:prefix
                prefix = statement["Condition"]["StringLike"]["s3:prefix"]
                assert all(any(v.startswith(p.rstrip("/")) for p in prefixes) for v in prefix)


def test_pull_request_runners_cannot_write_mains_checkpoints() -> None:
    """The two launch templates carry different instance roles; only main's writes main/."""
    resources = load_template()["Resources"]

    def role_of(template: str) -> str:
        data = resources[template]["Properties"]["LaunchTemplateData"]
        profile = data["IamInstanceProfile"]["Arn"]["Fn::GetAtt"][0]
        return str(resources[profile]["Properties"]["Roles"][0]["Ref"])

    assert role_of("GpuLaunchTemplate") == "GpuInstanceRole"
    assert role_of("GpuMainLaunchTemplate") == "GpuMainInstanceRole"
    writes = json.dumps(_statements("GpuInstanceRole"))
    assert "checkpoints/main" not in writes and "checkpoints/pull-requests/*" in writes


def test_budget_alarm_notifies() -> None:
    """A monthly cost budget with actual and forecast e-mail alerts exists."""
    budget = load_template()["Resources"]["MonthlyBudget"]["Properties"]
    assert budget["Budget"]["BudgetType"] == "COST"
    kinds = {n["Notification"]["NotificationType"] for n in budget["NotificationsWithSubscribers"]}
    assert kinds == {"ACTUAL", "FORECASTED"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
