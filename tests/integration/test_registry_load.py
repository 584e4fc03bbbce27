"""Load on the shared registry: 8 PR pipelines and 4 deploys at once, repeated, via the CLI.

Every command is a `modelops` child process against the session's MLflow server
(PostgreSQL, basic auth) and moto S3, as concurrent CI jobs would run them:

- 8 PR pipelines, each in its own scratch project with its own model:
  `train --force` and `evaluate` as modelops-pr, then `register` as modelops-deploy;
- 4 deploys of different environments at the same time: dev, staging and prod of a
  release project (three aliases of one registered model moving at once) and dev of
  a second team's project, whose dev serves under its own alias (`serving.alias`).
  Every round flips each environment's manifest between v1 and v2 (as a revert
  would), so every deploy moves an alias and rewrites `live.json`.

(The second team keeps the default alias names once deploy touches only the models
it manages, issue 13 item 2: today its `deploy dev` deletes the release project's
`dev` alias. test_shared_registry.py holds that case as an expected failure.)

After each round: each pipeline registered exactly one new version, of its own run;
every alias and every `live.json` names the version its manifest names.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sharedserver import cli, commit, job_env, ok, result, toy_project, unique

from modelops.localstack import CREDENTIALS, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINES = 8
ROUNDS = 3
RELEASE_ENVS = ("dev", "staging", "prod")


@dataclass
class Release:
    """A project whose model runs in some environments, with the manifests of v1 and v2."""

    root: Path
    model: str
    prefix: str
    envs: tuple[str, ...]
    aliases: dict[str, str]  # env -> its registry alias
    manifests: dict[int, dict[str, str]]  # version -> env -> manifest text


def _two_versions(
    stack: Stack,
    root: Path,
    model: str,
    prefix: str,
    envs: tuple[str, ...],
    alias_suffix: str = "",
) -> Release:
    """Register v1 and v2 of `model` (different params) and promote each through `envs`."""
    aliases = {target: target + alias_suffix for target in envs}
    if alias_suffix:
        for target, alias in aliases.items():
            path = root / "environments" / target / "environment.yaml"
            text = path.read_text()
            assert f"  alias: {target}\n" in text
            path.write_text(text.replace(f"  alias: {target}\n", f"  alias: {alias}\n"))
    env = job_env(stack, prefix, "deploy")
    manifests: dict[int, dict[str, str]] = {}
    spec = root / "pipelines" / f"{model}.yaml"
    for version, bias in ((1, "0.6"), (2, "0.7")):
        spec.write_text(spec.read_text().replace("bias: 0.6", f"bias: {bias}"))
        commit(root, f"{model}: bias {bias}")
        for step in ("train", "evaluate", "register"):
            ok(cli(root, env, step, model))
        assert result(root, model, "register")["version"] == version
        for target in envs:  # dev → staging → prod: each stage runs it now (working tree)
            ok(cli(root, env, "promote", model, "--to", target, "--version", str(version)))
        commit(root, f"{model} v{version} in {', '.join(envs)}")
        manifests[version] = {
            target: (root / "environments" / target / "models" / f"{model}.yaml").read_text()
            for target in envs
        }
    return Release(root, model, prefix, envs, aliases, manifests)


def _live(stack: Stack, prefix: str, env: str) -> dict[str, Any]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=stack.s3_url,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    body = s3.get_object(Bucket=stack.bucket, Key=f"{prefix}/{env}/live.json")["Body"]
    live: dict[str, Any] = json.loads(body.read())
    return live


def _pipeline(stack: Stack, root: Path, model: str) -> tuple[str, int, bool]:
    """One PR pipeline: train and evaluate as modelops-pr, register as modelops-deploy."""
    pr_env = job_env(stack, "unused", "pr")
    ok(cli(root, pr_env, "train", model, "--force"))
    ok(cli(root, pr_env, "evaluate", model))
    ok(cli(root, job_env(stack, "unused", "deploy"), "register", model))
    registered = result(root, model, "register")
    assert registered["run_id"] == result(root, model, "train")["run_id"]
    return registered["run_id"], int(registered["version"]), bool(registered["created"])


def test_concurrent_pipelines_and_deploys_lose_nothing(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 pipelines + 4 deploys at once, 3 rounds: no version lost or doubled, no alias wrong."""
    from mlflow import MlflowClient

    started = time.monotonic()
    rel, side = unique("rel"), unique("side")
    with ThreadPoolExecutor(max_workers=2) as pool:
        setups = [
            pool.submit(
                _two_versions,
                stack,
                toy_project(tmp_path / "release", [rel]),
                rel,
                unique("load"),
                RELEASE_ENVS,
            ),
            pool.submit(
                _two_versions,
                stack,
                toy_project(tmp_path / "side", [side]),
                side,
                unique("load"),
                ("dev",),
                "-side",
            ),
        ]
        releases = [s.result() for s in setups]
    print(f"\nsetup: two projects with v1 and v2 in {time.monotonic() - started:.1f} s")
    pipelines = {}
    for i in range(PIPELINES):
        model = unique(f"pr{i}")
        pipelines[model] = toy_project(tmp_path / f"pr{i}", [model])

    for key, value in stack.credentials("deploy").items():
        monkeypatch.setenv(key, value)
    mc = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
    runs: dict[str, list[str]] = {model: [] for model in pipelines}
    for round_ in range(ROUNDS):
        # Each environment's manifest flips to the other version (v1/v2), committed.
        wanted: dict[tuple[str, str], int] = {}
        for release in releases:
            for n, env in enumerate(release.envs):
                version = 1 + (round_ + n) % 2
                path = release.root / "environments" / env / "models" / f"{release.model}.yaml"
                path.write_text(release.manifests[version][env])
                wanted[(release.model, env)] = version
            commit(release.root, f"round {round_}")

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=PIPELINES + 4) as pool:
            jobs = {
                model: pool.submit(_pipeline, stack, root, model)
                for model, root in pipelines.items()
            }
            deploys = {
                (release.model, env): pool.submit(
                    cli, release.root, job_env(stack, release.prefix, "deploy"), "deploy", env
                )
                for release in releases
                for env in release.envs
            }
            registered = {model: job.result() for model, job in jobs.items()}
            deployed = {key: job.result() for key, job in deploys.items()}
        print(
            f"round {round_ + 1}: {PIPELINES} pipelines + {len(deploys)} deploys in "
            f"{time.monotonic() - started:.1f} s"
        )

        for key, proc in deployed.items():
            assert proc.returncode == 0, f"deploy {key}: exit {proc.returncode}\n{proc.stderr}"
        for model, (run_id, version, created) in registered.items():
            assert (version, created) == (round_ + 1, True), model
            runs[model].append(run_id)
        for release in releases:
            aliases = {a: int(v) for a, v in mc.get_registered_model(release.model).aliases.items()}
            assert aliases == {
                release.aliases[env]: wanted[(release.model, env)] for env in release.envs
            }
            for env in release.envs:
                live = _live(stack, release.prefix, env)
                assert set(live) == {release.model}
                assert live[release.model]["version"] == wanted[(release.model, env)]

    # Every pipeline's model: one version per round, each of that round's own run, no alias.
    for model, run_ids in runs.items():
        versions = mc.search_model_versions(f"name = '{model}'")
        by_version = {int(v.version): v.run_id for v in versions}
        assert by_version == {n + 1: run_id for n, run_id in enumerate(run_ids)}, model
        assert len(set(run_ids)) == ROUNDS
        assert mc.get_registered_model(model).aliases == {}
