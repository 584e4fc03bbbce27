"""GitHub's own rules, modelled over the parsed workflow, action and infra files.

act runs a workflow but enforces none of the rules below, and the linters do
not know this repository's plan of credentials, so the tests model them from
GitHub's documentation (the sentences each function follows are quoted in its
docstring):

- the OIDC `sub` claim a job's token carries (event, ref, environment, and for
  a reusable workflow the caller's context);
- which events a push or pull request made with the job token starts;
- which jobs an environment secret reaches;
- a concurrency group keeps one running and one pending run (a newer pending
  one cancels the older).

Every rule returns a list of violations (empty when the repository keeps it),
so a test can also check that a deliberately broken copy fails it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ORG, REPO_NAME = "acme", "models"
REPOSITORY = f"{ORG}/{REPO_NAME}"
AUD = "token.actions.githubusercontent.com:aud"
SUB = "token.actions.githubusercontent.com:sub"
APP_TOKEN_ACTION = "actions/create-github-app-token@"
CHECKOUT = "actions/checkout@"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials@"
# The events this repository's workflows run on; PR code runs under the first two.
PR_EVENTS = ("pull_request", "merge_group")
EXPR = re.compile(r"^\$\{\{\s*(.*?)\s*\}\}$", re.DOTALL)


# -- GitHub's documented behaviour -------------------------------------------------


def oidc_sub(repository: str, event: str, ref: str, environment: str | None) -> str:
    """The default `sub` claim GitHub issues for a job.

    "If your job references an environment, the subject claim includes the
    environment: repo:ORG-NAME/REPO-NAME:environment:ENVIRONMENT-NAME";
    "Filtering for pull_request events: repo:ORG-NAME/REPO-NAME:pull_request";
    otherwise "repo:ORG-NAME/REPO-NAME:ref:refs/heads/BRANCH-NAME" or
    ":ref:refs/tags/TAG-NAME". A job in a reusable workflow gets the claim of
    the caller's run ("the sub ... reflects the caller workflow's context";
    `job_workflow_ref` is a separate claim).
    """
    if environment:
        return f"repo:{repository}:environment:{environment}"
    if event == "pull_request":
        return f"repo:{repository}:pull_request"
    return f"repo:{repository}:ref:{ref}"


def job_token_starts_workflows(event: str) -> bool:
    """Whether an event caused with the job token (GITHUB_TOKEN) starts a workflow run.

    "events triggered by the GITHUB_TOKEN, with the exception of
    workflow_dispatch and repository_dispatch, will not create a new workflow run."
    """
    return event in ("workflow_dispatch", "repository_dispatch")


def environment_secret_reaches(job_environment: str | None, secret_environments: list[str]) -> bool:
    """Whether a secret stored in those environments reaches a job.

    "Secrets stored in an environment are only available to workflow jobs that
    reference the environment."
    """
    return job_environment is not None and job_environment in secret_environments


def default_ref(event: str, trigger: Any) -> str:
    """The ref a run of `event` has (GITHUB_REF), for the OIDC claim."""
    if event == "push":
        if isinstance(trigger, dict) and trigger.get("tags"):
            # A tag the trigger admits: its first pattern with the wildcards filled in.
            return "refs/tags/" + str(trigger["tags"][0]).replace("*", "2026.11.29", 1).replace(
                "*", ""
            )
        return "refs/heads/main"
    if event == "merge_group":
        return "refs/heads/gh-readonly-queue/main/pr-7-0123456789abcdef0123456789abcdef01234567"
    if event == "pull_request":
        return "refs/pull/7/merge"
    return "refs/heads/main"  # schedule and workflow_dispatch: the default branch


# -- the parsed repository ---------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Sub, !Ref, …) read as {"Fn::…": value}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@dataclass
class Repo:
    """Workflows, actions, the CloudFormation template and the credentials plan, as data."""

    workflows: dict[str, dict[str, Any]]
    actions: dict[str, dict[str, Any]]
    template: dict[str, Any]
    credentials: dict[str, Any]

    @classmethod
    def load(cls, root: Path) -> Repo:
        workflows = {
            p.name: yaml.safe_load(p.read_text("utf-8"))
            for p in sorted((root / ".github" / "workflows").glob("*.yml"))
        }
        actions = {
            p.parent.name: yaml.safe_load(p.read_text("utf-8"))
            for p in sorted((root / "actions").glob("*/action.yml"))
        }
        cfn = (root / "infra" / "aws" / "modelops.yaml").read_text("utf-8")
        template = yaml.load(cfn, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
        credentials = yaml.safe_load((root / ".github" / "credentials.yml").read_text("utf-8"))
        return cls(workflows, actions, template, credentials)

    def trusted_subjects(self, role: str) -> list[str]:
        """The `sub` values a role's trust policy accepts, with the sample org and repo."""
        resource = self.template["Resources"][role]
        subs: list[str] = []
        for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            equals = statement.get("Condition", {}).get("StringEquals", {})
            if equals.get(AUD) != "sts.amazonaws.com":
                continue
            value = equals.get(SUB)
            for item in value if isinstance(value, list) else [value]:
                text = item["Fn::Sub"] if isinstance(item, dict) else str(item)
                subs.append(
                    text.replace("${GitHubOrg}", ORG)
                    .replace("${GitHubRepo}", REPO_NAME)
                    .replace("${GpuEnvironment}", self._param("GpuEnvironment"))
                    .replace("${JanitorEnvironment}", self._param("JanitorEnvironment"))
                )
        return subs

    def _param(self, name: str) -> str:
        return str(self.template["Parameters"].get(name, {}).get("Default", name))


@dataclass
class JobRun:
    """One job as GitHub would run it: in a workflow, for an event, maybe via a caller."""

    workflow: str
    job_id: str
    job: dict[str, Any]
    event: str
    ref: str
    inputs: dict[str, Any] = field(default_factory=dict)
    matrix: dict[str, Any] = field(default_factory=dict)
    via: str = ""  # "caller.yml:job > nested.yml:job" for a job of a reusable workflow

    @property
    def root(self) -> str:
        """The workflow whose event started this job (the first caller)."""
        return self.via.split(":", 1)[0] if self.via else self.workflow

    @property
    def name(self) -> str:
        via = f" (via {self.via})" if self.via else ""
        return f"{self.workflow}:{self.job_id}[{self.event}]{via}"

    def resolve(self, value: Any) -> str:
        """A value with `${{ inputs.X }}` / `${{ matrix.X }}` filled in; other expressions stay."""
        text = "" if value is None else str(value)

        def fill(match: re.Match[str]) -> str:
            kind, key = match[1], match[2]
            source = self.inputs if kind == "inputs" else self.matrix
            return str(source[key]) if key in source else match[0]

        return re.sub(r"\$\{\{\s*(inputs|matrix)\.([\w-]+)\s*\}\}", fill, text)

    @property
    def environment(self) -> str | None:
        env = self.job.get("environment")
        if isinstance(env, dict):
            env = env.get("name")
        return self.resolve(env) if env else None

    @property
    def permissions(self) -> dict[str, str]:
        perms = self.job.get("permissions") or {}
        return perms if isinstance(perms, dict) else {}

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.job.get("steps", []))


def _triggers(doc: dict[str, Any]) -> dict[str, Any]:
    on = doc.get(True, doc.get("on"))  # PyYAML reads the key `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def _matrix_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a static matrix; one empty row for a dynamic one (fromJSON) or none."""
    matrix = (job.get("strategy") or {}).get("matrix")
    if not isinstance(matrix, dict):
        return [{}]
    rows: list[dict[str, Any]] = [{}]
    for key, values in matrix.items():
        if key in ("include", "exclude") or not isinstance(values, list):
            continue
        rows = [{**row, key: v} for row in rows for v in values]
    return rows


def _input_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    call = _triggers(doc).get("workflow_call") or {}
    return {k: v.get("default", "") for k, v in (call.get("inputs") or {}).items()}


def job_runs(repo: Repo) -> Iterator[JobRun]:
    """Every job for every event that starts it, reusable workflows through their callers."""

    def expand(
        workflow: str, event: str, ref: str, inputs: dict[str, Any], via: str
    ) -> Iterator[JobRun]:
        doc = repo.workflows[workflow]
        for job_id, job in doc["jobs"].items():
            for row in _matrix_rows(job):
                run = JobRun(workflow, job_id, job, event, ref, inputs, row, via)
                uses = str(job.get("uses", ""))
                if uses.startswith("./.github/workflows/"):
                    called = uses.rsplit("/", 1)[1]
                    passed = {k: run.resolve(v) for k, v in (job.get("with") or {}).items()}
                    yield from expand(
                        called,
                        event,
                        ref,
                        {**_input_defaults(repo.workflows[called]), **passed},
                        f"{via} > {workflow}:{job_id}" if via else f"{workflow}:{job_id}",
                    )
                else:
                    yield run

    for workflow, doc in repo.workflows.items():
        for event, trigger in _triggers(doc).items():
            if event == "workflow_call":
                continue  # reached through its callers
            yield from expand(workflow, event, default_ref(event, trigger), {}, "")


# -- what a job holds and runs -----------------------------------------------------


def secrets_read(run: JobRun) -> set[str]:
    """Names of the secrets a job reads (`secrets.NAME` anywhere in it)."""
    text = yaml.safe_dump(run.job)
    return set(re.findall(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", text)) - {"GITHUB_TOKEN"}


def _expr_terms(value: Any) -> list[str]:
    """The `a || b || c` alternatives of a `${{ }}` value, in order ([] for none)."""
    match = EXPR.match(str(value or "").strip())
    if not match:
        return [str(value)] if value else []
    return [t.strip() for t in match[1].split("||")]


def _trusted_ref(run: JobRun, ref_value: Any) -> bool:
    """Whether a checkout's `ref` names code that is not the pull request's, for this event.

    The first alternative that has a value wins, as in GitHub's `||`: a caller's
    input, the PR's base commit, the merge queue's base commit. `github.sha`,
    the head ref or no ref at all is the PR's code under a PR event.
    """
    for term in _expr_terms(run.resolve(ref_value)):
        if term.startswith("inputs."):
            passed = run.inputs.get(term.removeprefix("inputs."), "")
            if passed:
                return _trusted_ref(run, passed)
            continue  # not passed by the caller: empty, the next alternative decides
        if term == "github.event.pull_request.base.sha":
            if run.event == "pull_request":
                return True
            continue
        if term == "github.event.merge_group.base_sha":
            if run.event == "merge_group":
                return True
            continue
        if term.startswith(("github.", "$")):
            return run.event not in PR_EVENTS
        return True  # a literal ref (a release tag) chosen by the workflow
    return run.event not in PR_EVENTS  # no ref: the event's own commit


def _allowed_pr_secrets(repo: Repo) -> set[str]:
    allowed: set[str] = set()
    for env in repo.credentials["environments"].values():
        if env.get("runs-pr-code"):
            allowed |= set(env.get("secrets") or {})
    return allowed


def credentials_held(repo: Repo, run: JobRun) -> list[str]:
    """What a job holds beyond what a job running PR code may hold."""
    held = []
    perms = run.permissions
    if perms.get("id-token") == "write":
        held.append("OIDC (id-token: write)")
    held += [f"{k}: write" for k, v in perms.items() if v == "write" and k != "pull-requests"]
    env = run.environment
    envs = repo.credentials["environments"]
    if env and not (envs.get(env) or {}).get("runs-pr-code"):
        held.append(f"environment {env}")
    extra = secrets_read(run) - _allowed_pr_secrets(repo)
    held += [f"secret {s}" for s in sorted(extra)]
    if any(str(s.get("uses", "")).startswith(APP_TOKEN_ACTION) for s in run.steps):
        held.append("a GitHub App token")
    return held


def runs_pr_code(run: JobRun) -> list[str]:
    """Steps of a job that run the pull request's code (under a PR event), with why."""
    if run.event not in PR_EVENTS:
        return []
    trusted_paths: list[str] = []
    untrusted_checkout = False
    found = []
    for index, step in enumerate(run.steps):
        uses = str(step.get("uses", ""))
        label = step.get("name") or step.get("id") or uses or f"step {index + 1}"
        if uses.startswith(CHECKOUT):
            with_ = step.get("with") or {}
            path = str(with_.get("path", "")).removeprefix("./").rstrip("/")
            if _trusted_ref(run, with_.get("ref")):
                trusted_paths.append(path)
            else:
                untrusted_checkout = True
                found.append(f"{label}: checks out the pull request")
        elif uses.startswith("./"):
            local = uses[2:]
            if not any(local.startswith(p + "/") or p == "" for p in trusted_paths):
                found.append(f"{label}: runs {uses} from the pull request's checkout")
            elif untrusted_checkout and any(p == "" for p in trusted_paths):
                found.append(f"{label}: runs {uses} beside the pull request's checkout")
        elif "run" in step and untrusted_checkout:
            found.append(f"{label}: a script in the pull request's checkout")
    return found


def _app_token_steps(run: JobRun) -> set[str]:
    return {
        str(s.get("id"))
        for s in run.steps
        if str(s.get("uses", "")).startswith(APP_TOKEN_ACTION) and s.get("id")
    }


def _is_app_token(run: JobRun, value: Any) -> bool:
    match = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.token\s*\}\}", str(value).strip())
    return bool(match) and match[1] in _app_token_steps(run)


def _action_scripts(repo: Repo, uses: str) -> str:
    """The `run:` scripts of a local composite action, as written (no YAML line folding)."""
    if uses.startswith("./") and "/actions/" in "/" + uses[2:]:
        name = uses.rstrip("/").rsplit("/", 1)[1]
        steps = ((repo.actions.get(name) or {}).get("runs") or {}).get("steps") or []
        return "\n".join(str(step.get("run", "")) for step in steps)
    return ""


def _action_text(repo: Repo, uses: str) -> str:
    if uses.startswith("./") and "/actions/" in "/" + uses[2:]:
        name = uses.rstrip("/").rsplit("/", 1)[1]
        if name in repo.actions:
            return yaml.safe_dump(repo.actions[name])
    return ""


# Pushes a branch or opens a PR: git, gh, or the toolkit's REST calls (which write the
# branch through the contents API and open the PR, so no checkout credentials are used).
PUSHES = re.compile(r"\bgit push\b|\bgh pr (create|edit)\b|\bmodelops github retrain\b")
GIT_PUSH = re.compile(r"\bgit push\b")
# A command line that starts with it (not a commit message that mentions it).
PROMOTES = re.compile(r"^\s*modelops promote\b", re.MULTILINE)


# -- the rules ---------------------------------------------------------------------


def rule_oidc_subjects(repo: Repo) -> list[str]:
    """Every role a job assumes trusts the `sub` GitHub gives that job; prod trusts only prod."""
    problems = []
    roles = repo.credentials["roles"]
    for run in job_runs(repo):
        for step in run.steps:
            if not str(step.get("uses", "")).startswith(AWS_CREDENTIALS):
                continue
            role_value = str((step.get("with") or {}).get("role-to-assume", ""))
            match = re.fullmatch(r"\$\{\{\s*vars\.(\w+)\s*\}\}", role_value)
            if not match or match[1] not in roles:
                problems.append(f"{run.name}: role-to-assume {role_value!r} names no known role")
                continue
            if run.permissions.get("id-token") != "write":
                problems.append(f"{run.name}: assumes {match[1]} without id-token: write")
            sub = oidc_sub(REPOSITORY, run.event, run.ref, run.environment)
            trusted = repo.trusted_subjects(roles[match[1]])
            if sub not in trusted:
                problems.append(f"{run.name}: sub {sub} is not trusted by {roles[match[1]]}")
    prod = repo.trusted_subjects("ProdDeployRole")
    if prod != [f"repo:{REPOSITORY}:environment:prod"]:
        problems.append(f"ProdDeployRole trusts {prod}, not only the prod environment")
    return problems


def rule_environment_secrets(repo: Repo) -> list[str]:
    """A secret is read only by jobs of an environment that holds it."""
    where: dict[str, list[str]] = {}
    for name, env in repo.credentials["environments"].items():
        for secret in env.get("secrets") or {}:
            where.setdefault(secret, []).append(name)
    problems = []
    for run in job_runs(repo):
        for secret in sorted(secrets_read(run)):
            if secret not in where:
                problems.append(f"{run.name}: reads {secret}, which no environment holds")
            elif not environment_secret_reaches(run.environment, where[secret]):
                problems.append(
                    f"{run.name}: reads {secret} in environment {run.environment!r}; "
                    f"it lives only in {where[secret]}"
                )
    return problems


def rule_no_credentials_beside_pr_code(repo: Repo) -> list[str]:
    """No job that holds OIDC, an App token, a write token or a protected secret runs PR code."""
    problems = []
    for run in job_runs(repo):
        held = credentials_held(repo, run)
        code = runs_pr_code(run)
        if held and code:
            problems.append(f"{run.name}: holds {held} and {code}")
    return problems


def rule_pushes_trigger_workflows(repo: Repo) -> list[str]:
    """Every push or PR a workflow makes uses an App token, so it starts the PR's checks."""
    problems = []
    for run in job_runs(repo):
        pushing = [
            s
            for s in run.steps
            if PUSHES.search(str(s.get("run", "")))
            or PUSHES.search(_action_text(repo, str(s.get("uses", ""))))
        ]
        if not pushing:
            continue
        if job_token_starts_workflows("push"):  # pragma: no cover - GitHub says it does not
            continue
        for step in pushing:
            with_, env = step.get("with") or {}, step.get("env") or {}
            token = with_.get("github-token", env.get("GH_TOKEN", env.get("GITHUB_TOKEN")))
            if not _is_app_token(run, token):
                problems.append(f"{run.name}: pushes or opens a PR with {token!r}, no App token")
        git_pushes = any(
            GIT_PUSH.search(str(s.get("run", "")) + _action_scripts(repo, str(s.get("uses", ""))))
            for s in pushing
        )
        for step in run.steps if git_pushes else []:
            if str(step.get("uses", "")).startswith(CHECKOUT):
                token = (step.get("with") or {}).get("token")
                if not _is_app_token(run, token):
                    problems.append(f"{run.name}: git push would use the checkout's job token")
    return problems


def _groups(run: JobRun, doc: dict[str, Any]) -> list[str]:
    groups = []
    for holder in (doc, run.job):
        conc = holder.get("concurrency")
        if isinstance(conc, dict):
            conc = conc.get("group")
        if conc:
            groups.append(run.resolve(conc))
    return groups


def rule_release_concurrency_alone(repo: Repo) -> list[str]:
    """No job shares a concurrency group with the prod release (a newer pending run cancels)."""
    release = [
        (run, g)
        for run in job_runs(repo)
        if run.workflow == "release.yml" and run.environment == "prod"
        for g in _groups(run, repo.workflows[run.workflow])
    ]
    if not release:
        return ["release.yml: the prod deploy has no concurrency group"]
    release_groups = {g for _, g in release}
    problems = []
    for run in job_runs(repo):
        if run.workflow == "release.yml":
            continue
        for group in _groups(run, repo.workflows[run.workflow]):
            if group in release_groups:
                problems.append(f"{run.name}: shares the release's concurrency group {group!r}")
    return problems


def rule_matrix_rows_do_not_cancel_each_other(repo: Repo) -> list[str]:
    """A matrix job's concurrency group names its row, or its rows cancel each other.

    GitHub keeps one running and one pending job per group and cancels an older
    pending one when a newer arrives, `cancel-in-progress: false` or not: with one
    group for every row, a third row would cancel the second.
    """
    problems = []
    for workflow, doc in repo.workflows.items():
        for job_id, job in doc["jobs"].items():
            conc = job.get("concurrency")
            group = conc.get("group") if isinstance(conc, dict) else conc
            has_matrix = bool((job.get("strategy") or {}).get("matrix"))
            if group and has_matrix and "matrix." not in str(group):
                problems.append(f"{workflow}:{job_id}: group {group!r} is shared by its rows")
    return problems


def _automated(env: dict[str, Any], command: str) -> bool:
    """Whether `modelops promote` sees itself as automation, by the CLI's own rule."""
    from modelops.promote import is_automated

    value = env.get("MODELOPS_AUTOMATION")
    saved = os.environ.pop("MODELOPS_AUTOMATION", None)
    try:
        if value is not None:
            os.environ["MODELOPS_AUTOMATION"] = str(value)
        return is_automated("--automated" in command)
    finally:
        os.environ.pop("MODELOPS_AUTOMATION", None)
        if saved is not None:
            os.environ["MODELOPS_AUTOMATION"] = saved


def rule_promotions_are_automated(repo: Repo) -> list[str]:
    """Every `modelops promote` that automation runs says so (holds are respected).

    Only a run a person started (workflow_dispatch) may promote as that person.
    """
    problems = []
    for run in job_runs(repo):
        if run.event == "workflow_dispatch":
            continue
        outer = {**(repo.workflows[run.workflow].get("env") or {}), **(run.job.get("env") or {})}
        for step in run.steps:
            uses = str(step.get("uses", ""))
            scripts: list[tuple[dict[str, Any], str]] = []
            if PROMOTES.search(str(step.get("run", ""))):
                scripts.append(({**outer, **(step.get("env") or {})}, str(step["run"])))
            name = uses.rstrip("/").rsplit("/", 1)[-1]
            if uses.startswith("./") and name in repo.actions:
                action = repo.actions[name]
                given = {
                    **{k: v.get("default", "") for k, v in (action.get("inputs") or {}).items()},
                    **(step.get("with") or {}),
                }
                for inner in action["runs"].get("steps", []):
                    if PROMOTES.search(str(inner.get("run", ""))):
                        env = {**outer, **(step.get("env") or {}), **(inner.get("env") or {})}
                        env = {k: _action_input(v, given) for k, v in env.items()}
                        scripts.append((env, str(inner["run"])))
            for env, script in scripts:
                if not _automated(env, script):
                    problems.append(f"{run.name}: {uses or 'a run step'} promotes as a person")
    return problems


def _action_input(value: Any, given: dict[str, Any]) -> Any:
    """`${{ inputs.X }}` inside a composite action, as the calling step sets it."""
    match = re.fullmatch(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", str(value).strip())
    return given.get(match[1], "") if match else value


def rule_app_tokens_ask_only_what_the_app_has(repo: Repo) -> list[str]:
    """Every App token a job mints asks only for permissions the plan gives the App.

    "The installation access token will have the permissions the app was granted"
    and a narrower request is refused above them: a permission the App lacks fails
    the job at the token step, on github.com only.
    """
    granted = repo.credentials["app"]["permissions"]
    levels = {"read": 1, "write": 2}
    problems = []
    for run in job_runs(repo):
        for step in run.steps:
            if not str(step.get("uses", "")).startswith(APP_TOKEN_ACTION):
                continue
            for key, value in (step.get("with") or {}).items():
                if not str(key).startswith("permission-"):
                    continue
                name = str(key).removeprefix("permission-")
                have = levels.get(str(granted.get(name, "")), 0)
                if levels.get(str(value), 3) > have:
                    problems.append(f"{run.name}: asks for {name}: {value}; the App has {have}")
    return problems


RULES = {
    "oidc-subjects": rule_oidc_subjects,
    "environment-secrets": rule_environment_secrets,
    "no-credentials-beside-pr-code": rule_no_credentials_beside_pr_code,
    "pushes-trigger-workflows": rule_pushes_trigger_workflows,
    "release-concurrency-alone": rule_release_concurrency_alone,
    "promotions-are-automated": rule_promotions_are_automated,
    "matrix-rows-do-not-cancel-each-other": rule_matrix_rows_do_not_cancel_each_other,
    "app-tokens-ask-only-what-the-app-has": rule_app_tokens_ask_only_what_the_app_has,
}
