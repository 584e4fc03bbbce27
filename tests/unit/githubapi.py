"""A stand-in of GitHub's REST API on 127.0.0.1, checked against GitHub's own OpenAPI description.

Every request the toolkit sends and every response the stand-in returns is validated
against the operation it matches in `api.github.com.json` from the npm package
`@octokit/openapi` (pinned below): path, query and body parameters on the way in, status
and body on the way out. A request or response that does not fit is recorded in
`GitHubStandIn.violations` (the tests assert it stays empty) and answered with 400/500,
so a shape we made up cannot pass. Response bodies start from the examples GitHub
publishes in the same description, so the objects carry every field GitHub sends.

The description is fetched once per machine with `npm pack` (the npm registry is the one
source this needs), checked against the registry's sha512, and cached under
`$XDG_CACHE_HOME/modelops/octokit-openapi/<version>/` with only `api.github.com.json` kept.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

OPENAPI_PACKAGE = "@octokit/openapi"
OPENAPI_VERSION = "23.0.2"
# `npm view @octokit/openapi@23.0.2 dist.integrity`: the tarball is checked against it.
OPENAPI_INTEGRITY = (
    "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZG"
    "NmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
)
MEMBER = "package/generated/api.github.com.json"
ACTIONS_APP_ID = 15368  # the GitHub Actions app on github.com


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelops" / "octokit-openapi" / OPENAPI_VERSION


def openapi_description() -> Path:
    """The cached `api.github.com.json`, fetched with `npm pack` on first use."""
    target = cache_dir() / "api.github.com.json"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed once to fetch GitHub's OpenAPI description")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"{OPENAPI_PACKAGE}@{OPENAPI_VERSION}", "--pack-destination", tmp],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        algo, _, want = OPENAPI_INTEGRITY.partition("-")
        got = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
        if got != want:
            raise RuntimeError(f"{tarball.name}: integrity {algo}-{got} is not the pinned one")
        with tarfile.open(tarball) as tar:
            member = tar.extractfile(MEMBER)
            assert member is not None
            partial = target.with_suffix(".part")
            partial.write_bytes(member.read())
            partial.replace(target)
    return target


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    spec: dict[str, Any]
    pointer: str  # JSON pointer of the operation object in the description
    names: tuple[str, ...]  # the path parameters, in order


class OpenAPI:
    """Routes requests to operations of the description and validates both directions."""

    URI = "urn:github-openapi"

    def __init__(self, path: Path) -> None:
        import referencing
        import referencing.jsonschema
        from werkzeug.routing import Map, Rule

        self.doc: dict[str, Any] = json.loads(path.read_text("utf-8"))
        resource = referencing.Resource.from_contents(
            self.doc, default_specification=referencing.jsonschema.DRAFT4
        )
        self.registry: Any = referencing.Registry().with_resource(self.URI, resource)
        rules = []
        self.operations: dict[str, Operation] = {}
        for template, item in self.doc["paths"].items():
            # werkzeug wants identifiers: {enterprise-team} becomes <p0>, named back on match
            names = re.findall(r"\{([^}]+)\}", template)
            rule_path = template
            for i, name in enumerate(names):
                # A git ref (heads/main) or a file path (pipelines/x.yaml) holds slashes.
                last = template.endswith("{" + name + "}") and name in ("ref", "path")
                converter = "path:" if last else ""
                rule_path = rule_path.replace("{" + name + "}", f"<{converter}p{i}>", 1)
            for method, op in item.items():
                if method not in ("get", "put", "post", "patch", "delete"):
                    continue
                escaped = template.replace("~", "~0").replace("/", "~1")
                operation = Operation(
                    op["operationId"],
                    method.upper(),
                    template,
                    op,
                    f"/paths/{escaped}/{method}",
                    tuple(names),
                )
                self.operations[operation.operation_id] = operation
                rules.append(Rule(rule_path, endpoint=operation.operation_id, methods=[method]))
        self.map = Map(rules, strict_slashes=False, merge_slashes=False)

    def resolve(self, obj: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in obj:
            obj = self.registry.resolver(self.URI).lookup(self.URI + obj["$ref"]).contents
        return obj

    @cache  # noqa: B019 - one OpenAPI object per session; validators are costly to build
    def _validator(self, pointer: str, write: bool) -> Any:
        from openapi_schema_validator import (
            OAS30ReadValidator,
            OAS30WriteValidator,
            oas30_format_checker,
        )

        cls = OAS30WriteValidator if write else OAS30ReadValidator
        return cls(
            {"$ref": f"{self.URI}#{pointer}"},
            registry=self.registry,
            format_checker=oas30_format_checker,
        )

    def errors(self, pointer: str, value: Any, *, write: bool) -> list[str]:
        validator = self._validator(pointer, write)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(value)
        ]

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        from werkzeug.exceptions import HTTPException

        adapter = self.map.bind("api.github.test")
        try:
            endpoint, params = adapter.match(path, method=method)
        except HTTPException:
            return None
        op = self.operations[str(endpoint)]
        return op, {op.names[int(k[1:])]: str(v) for k, v in params.items()}

    def request_errors(
        self, op: Operation, path_params: dict[str, str], query: dict[str, str], body: Any
    ) -> list[str]:
        """Parameters (path, query; coerced to their schema types) and the JSON body."""
        problems: list[str] = []
        params = [self.resolve(p) for p in op.spec.get("parameters", [])]
        known = {p["name"] for p in params if p["in"] == "query"}
        problems += [
            f"query parameter '{k}' is not in the operation" for k in query if k not in known
        ]
        for index, param in enumerate(op.spec.get("parameters", [])):
            resolved = self.resolve(param)
            where = resolved["in"]
            source = path_params if where == "path" else query if where == "query" else None
            if source is None:
                continue
            name = resolved["name"]
            if name not in source:
                if resolved.get("required"):
                    problems.append(f"{where} parameter '{name}' is required")
                continue
            value: Any = source[name]
            schema = self.resolve(resolved.get("schema", {}))
            if schema.get("type") == "integer":
                try:
                    value = int(value)
                except ValueError:
                    problems.append(f"{where} parameter '{name}': '{value}' is not an integer")
                    continue
            elif schema.get("type") == "boolean":
                value = {"true": True, "false": False}.get(value, value)
            pointer = (
                f"{op.pointer}/parameters/{index}/schema"
                if "$ref" not in param
                else param["$ref"].removeprefix("#") + "/schema"
            )
            problems += [f"{where} {name}: {e}" for e in self.errors(pointer, value, write=True)]
        request_body = op.spec.get("requestBody")
        if request_body is None:
            if body is not None:
                problems.append("the operation takes no body")
        elif body is None:
            if request_body.get("required"):
                problems.append("a JSON body is required")
        else:
            pointer = f"{op.pointer}/requestBody/content/application~1json/schema"
            problems += [f"body {e}" for e in self.errors(pointer, body, write=True)]
        return problems

    def response_errors(self, op: Operation, status: int, body: Any) -> list[str]:
        responses = op.spec["responses"]
        if str(status) not in responses:
            return [f"status {status} is not a documented response of {op.operation_id}"]
        response = self.resolve(responses[str(status)])
        content = response.get("content", {}).get("application/json")
        if content is None:
            return [] if body is None else [f"status {status} has no body in the description"]
        if "$ref" in responses[str(status)]:
            pointer = responses[str(status)]["$ref"].removeprefix("#")
        else:
            pointer = f"{op.pointer}/responses/{status}"
        pointer += "/content/application~1json/schema"
        return [f"response {status} {e}" for e in self.errors(pointer, body, write=False)]

    def example(self, operation_id: str, status: int = 200, name: str | None = None) -> Any:
        """GitHub's published example response of an operation (a deep copy)."""
        op = self.operations[operation_id]
        content = self.resolve(op.spec["responses"][str(status)])["content"]["application/json"]
        examples = content["examples"]
        example = self.resolve(examples[name] if name else next(iter(examples.values())))
        return copy.deepcopy(example["value"])


class Reply(Exception):
    """Raised by a handler to answer with an error status (validated like any response)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": "https://docs.github.com/rest"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Repo:
    """What the stand-in holds for one repository."""

    owner: str
    name: str
    private: bool = False
    owner_type: str = "Organization"
    plan: str | None = None  # the owner's plan, when the token may read it
    default_branch: str = "main"
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    branch_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    rulesets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    workflow_permissions: dict[str, Any] = field(
        default_factory=lambda: {
            "default_workflow_permissions": "read",
            "can_approve_pull_request_reviews": False,
        }
    )
    codeowners_errors: list[dict[str, Any]] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit sha
    trees: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha -> files
    pulls: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    # Self-hosted runners and workflow runs: see "runners and runs" in GitHubStandIn.
    runners: dict[int, dict[str, Any]] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    jit_configs: list[str] = field(default_factory=list)  # every encoded config handed out
    online_after_lists: int | None = None  # a JIT runner connects after N runner lists; None: never
    runner_lists: int = 0


class GitHubStandIn:
    """The server: state, handlers keyed by operationId, validation of every exchange."""

    def __init__(self, api: OpenAPI, token: str) -> None:
        self.api = api
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, int] = {}
        self.teams: dict[str, int] = {}  # "org/slug" -> id
        self.violations: list[str] = []
        self.calls: list[tuple[str, str]] = []  # (operationId, path), in order
        self.unauthorized = 0  # requests answered 401 (wrong or missing token)
        self.per_page_cap = 100
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self.base_url = ""
        self.login = "modelops-bot"  # the token's user: `GET /user`, author of new comments
        self.commit_messages: list[str] = []  # of commits made through the contents API

    # -- state -------------------------------------------------------------------------

    def add_repo(self, full_name: str, **kwargs: Any) -> Repo:
        owner, name = full_name.split("/")
        repo = Repo(owner, name, **kwargs)
        self.repos[full_name.lower()] = repo
        return repo

    def repos_of(self, owner: str) -> list[Repo]:
        return [r for r in self.repos.values() if r.owner.lower() == owner.lower()]

    def new_id(self) -> int:
        return next(self._ids)

    def repo(self, params: dict[str, str]) -> Repo:
        repo = self.repos.get(f"{params['owner']}/{params['repo']}".lower())
        if repo is None:
            raise Reply(404, "Not Found")
        return repo

    def calls_of(self, operation_id: str) -> list[str]:
        return [path for op, path in self.calls if op == operation_id]

    # -- WSGI --------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        matched = self.api.match(request.method, request.path)
        if matched is None:
            return self._finish(None, 404, {"message": "Not Found"}, start_response, request)
        op, params = matched
        with self._lock:
            self.calls.append((op.operation_id, request.full_path.rstrip("?")))
        if (
            request.headers.get("Authorization") != f"Bearer {self.token}"
            and request.headers.get("Authorization") != f"token {self.token}"
        ):
            with self._lock:
                self.unauthorized += 1
            return self._finish(
                op, 401, {"message": "Bad credentials"}, start_response, request, check=False
            )
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<not JSON>"
        query = dict(request.args.items())
        problems = self.api.request_errors(op, params, query, body)
        if problems:
            self._violate(op, "request", problems)
            return Response(json.dumps({"message": "; ".join(problems)}), 400)(
                environ, start_response
            )
        handler = getattr(self, "op_" + op.operation_id.replace("/", "__").replace("-", "_"), None)
        if handler is None:
            self._violate(op, "request", ["the stand-in does not implement this operation"])
            return Response("{}", 501)(environ, start_response)
        headers: dict[str, str] = {}
        try:
            with self._lock:
                self.per_page_cap = self._max_per_page(op)
                status, payload = handler(params, query, body, headers)
        except Reply as reply:
            if reply.status >= 500:  # GitHub failing: its description documents no 5xx
                return self._finish(
                    op, reply.status, reply.body, start_response, request, check=False
                )
            status, payload = reply.status, reply.body
        except Exception as exc:  # a bug of the stand-in: make it fail the test, not hang
            self._violate(op, "stand-in", [repr(exc)])
            status, payload = 418, {"message": repr(exc)}
        return self._finish(op, status, payload, start_response, request, headers=headers)

    def _violate(self, op: Operation, side: str, problems: list[str]) -> None:
        self.violations.extend(f"{op.operation_id} {side}: {p}" for p in problems)

    def _finish(
        self,
        op: Operation | None,
        status: int,
        payload: Any,
        start_response: Callable[..., Any],
        request: Any,
        *,
        headers: dict[str, str] | None = None,
        check: bool = True,
    ) -> Any:
        from werkzeug.wrappers import Response

        if op is not None and check:
            problems = self.api.response_errors(op, status, payload)
            if problems:
                self._violate(op, "response", problems)
                status, payload = 418, {"message": "; ".join(problems)}
        text = "" if payload is None else json.dumps(payload)
        response = Response(text, status, headers=headers or {}, mimetype="application/json")
        return response(request.environ, start_response)

    # -- helpers -----------------------------------------------------------------------

    def _max_per_page(self, op: Operation) -> int:
        """GitHub states each list's page size limit in prose: "(max 30)"."""
        for param in op.spec.get("parameters", []):
            resolved = self.api.resolve(param)
            if resolved["name"] == "per_page":
                found = re.search(r"\(max (\d+)\)", resolved.get("description", ""))
                return int(found.group(1)) if found else 100
        return 100

    def _page(
        self, items: list[Any], query: dict[str, str], path: str, headers: dict[str, str]
    ) -> list[Any]:
        """One page of `items` and GitHub's Link header (absolute URLs, rel="next"/"last")."""
        per_page = min(int(query.get("per_page", 30)), self.per_page_cap)
        page = int(query.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{self._url(path, query, page + 1)}>; rel="next"')
            links.append(f'<{self._url(path, query, last)}>; rel="last"')
        if page > 1:
            links.append(f'<{self._url(path, query, 1)}>; rel="first"')
            links.append(f'<{self._url(path, query, page - 1)}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
        return items[(page - 1) * per_page : page * per_page]

    def _url(self, path: str, query: dict[str, str], page: int) -> str:
        return f"{self.base_url}{path}?{urlencode({**query, 'page': str(page)})}"

    def _user(self, login: str, user_id: int) -> dict[str, Any]:
        user = self.api.example("users/get-by-username", 200, "default-response")
        keep = {k: user[k] for k in self._simple_user_keys() if k in user}
        keep.update(login=login, id=user_id, type="User")
        return keep

    @cache  # noqa: B019 - the schema never changes within a session
    def _simple_user_keys(self) -> tuple[str, ...]:
        schema = self.api.doc["components"]["schemas"]["simple-user"]
        return tuple(schema["properties"])

    def _team(self, org: str, slug: str, team_id: int) -> dict[str, Any]:
        team = self.api.example("teams/get-by-name")
        return {
            **{
                k: team[k]
                for k in self.api.doc["components"]["schemas"]["team"]["properties"]
                if k in team
            },
            "id": team_id,
            "slug": slug,
            "name": slug,
            "parent": None,
            "type": "organization",
        }

    # -- repositories, users, organisations -------------------------------------------

    def op_repos__get(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        data = self.api.example("repos/get")
        # GitHub's example predates two fields its schema requires (both may be null).
        data.setdefault("language", None)
        data["source"].setdefault("language", None)
        data.update(
            name=repo.name,
            full_name=f"{repo.owner}/{repo.name}",
            private=repo.private,
            visibility="private" if repo.private else "public",
            default_branch=repo.default_branch,
        )
        data["owner"].update(login=repo.owner, type=repo.owner_type)
        return 200, data

    def op_orgs__get(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        owners = {r.owner.lower(): r for r in self.repos.values() if r.owner_type == "Organization"}
        repo = owners.get(params["org"].lower())
        if repo is None:
            raise Reply(404, "Not Found")
        data = self.api.example("orgs/get")
        data.setdefault("archived_at", None)  # required by the schema, absent in the example
        data["login"] = repo.owner
        if repo.plan is None:
            data.pop("plan", None)
        else:
            data["plan"]["name"] = repo.plan
        return 200, data

    def op_users__get_authenticated(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        data = self.api.example(
            "users/get-authenticated", 200, "response-with-public-and-private-profile-information"
        )
        # The schema discriminates on `user_view_type`, which GitHub's example lacks.
        data.update(login=self.login, user_view_type="private")
        mine = self.repos_of(self.login)
        if mine and mine[0].plan is not None:
            data["plan"]["name"] = mine[0].plan
        return 200, data

    def op_users__get_by_username(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        user_id = self.users.get(params["username"].lower())
        if user_id is None:
            raise Reply(404, "Not Found")
        data = self.api.example("users/get-by-username", 200, "default-response")
        data.update(login=params["username"], id=user_id, user_view_type="public")
        return 200, data

    def op_teams__get_by_name(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        team_id = self.teams.get(f"{params['org']}/{params['team_slug']}".lower())
        if team_id is None:
            raise Reply(404, "Not Found")
        data = self.api.example("teams/get-by-name")
        # Required by the schema, absent from GitHub's example.
        data.setdefault("type", "organization")
        data["organization"].setdefault("archived_at", None)
        data.update(id=team_id, slug=params["team_slug"], name=params["team_slug"])
        return 200, data

    def op_apps__get_by_slug(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        if params["app_slug"] != "github-actions":
            raise Reply(404, "Not Found")
        data = self.api.example("apps/get-by-slug")
        data.update(id=ACTIONS_APP_ID, slug="github-actions", name="GitHub Actions")
        return 200, data

    def op_repos__codeowners_errors(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        return 200, {"errors": self.repo(params).codeowners_errors}

    # -- environments -----------------------------------------------------------------

    def _environment(self, repo: Repo, name: str) -> dict[str, Any]:
        env = repo.environments[name]
        rules: list[dict[str, Any]] = []
        if env["reviewers"]:
            reviewers = []
            for kind, reviewer_id in env["reviewers"]:
                if kind == "User":
                    login = next(k for k, v in self.users.items() if v == reviewer_id)
                    reviewers.append({"type": "User", "reviewer": self._user(login, reviewer_id)})
                else:
                    key = next(k for k, v in self.teams.items() if v == reviewer_id)
                    org, slug = key.split("/")
                    reviewers.append(
                        {"type": "Team", "reviewer": self._team(org, slug, reviewer_id)}
                    )
            rules.append(
                {
                    "id": env["rule_ids"][0],
                    "node_id": "MDQ6R2F0ZTM3NTU=",
                    "type": "required_reviewers",
                    "prevent_self_review": env["prevent_self_review"],
                    "reviewers": reviewers,
                }
            )
        if env["wait_timer"]:
            rules.append(
                {
                    "id": env["rule_ids"][1],
                    "node_id": "MDQ6R2F0ZTM1MTU=",
                    "type": "wait_timer",
                    "wait_timer": env["wait_timer"],
                }
            )
        if env["deployment_branch_policy"] is not None:
            rules.append(
                {"id": env["rule_ids"][2], "node_id": "MDQ6R2F0ZTM1MTU=", "type": "branch_policy"}
            )
        slug = f"{repo.owner}/{repo.name}"
        return {
            "id": env["id"],
            "node_id": "MDExOkVudmlyb25tZW50NTY3ODA0Mjg=",
            "name": name,
            "url": f"https://api.github.com/repos/{slug}/environments/{name}",
            "html_url": f"https://github.com/{slug}/deployments/activity_log?environments_filter={name}",
            "created_at": env["created_at"],
            "updated_at": env["updated_at"],
            "protection_rules": rules,
            "deployment_branch_policy": env["deployment_branch_policy"],
        }

    def op_repos__get_all_environments(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        names = sorted(repo.environments)
        path = f"/repos/{params['owner']}/{params['repo']}/environments"
        page = self._page(names, query, path, headers)
        return 200, {
            "total_count": len(names),
            "environments": [self._environment(repo, n) for n in page],
        }

    def op_repos__get_environment(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        if params["environment_name"] not in repo.environments:
            raise Reply(404, "Not Found")
        return 200, self._environment(repo, params["environment_name"])

    def op_repos__create_or_update_environment(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        name = params["environment_name"]
        body = body or {}
        if repo.private and repo.plan in (None, "free"):
            raise Reply(422, "Environments are not available for private repositories on this plan")
        if (
            repo.private
            and repo.plan != "enterprise"
            and (body.get("reviewers") or body.get("wait_timer"))
        ):
            raise Reply(422, "Required reviewers are not available on this plan")
        now = _now()
        env = repo.environments.setdefault(
            name,
            {
                "id": self.new_id(),
                "rule_ids": [self.new_id(), self.new_id(), self.new_id()],
                "created_at": now,
                "reviewers": [],
                "wait_timer": 0,
                "prevent_self_review": False,
                "deployment_branch_policy": None,
            },
        )
        for reviewer in body.get("reviewers") or []:
            known = self.users if reviewer["type"] == "User" else self.teams
            if reviewer["id"] not in known.values():
                raise Reply(422, f"reviewer {reviewer['id']} not found")
        env["updated_at"] = now
        # PUT replaces: a field left out goes back to its default (the stricter reading of
        # GitHub's docs, so a client that relies on omitted fields being kept fails here).
        env["reviewers"] = [(r["type"], r["id"]) for r in body.get("reviewers") or []]
        env["wait_timer"] = body.get("wait_timer") or 0
        env["prevent_self_review"] = bool(body.get("prevent_self_review"))
        env["deployment_branch_policy"] = body.get("deployment_branch_policy")
        if not (env["deployment_branch_policy"] or {}).get("custom_branch_policies"):
            repo.branch_policies.pop(name, None)
        return 200, self._environment(repo, name)

    def _policies(self, params: dict[str, str]) -> tuple[Repo, list[dict[str, Any]]]:
        repo = self.repo(params)
        name = params["environment_name"]
        if name not in repo.environments:
            raise Reply(404, "Not Found")
        return repo, repo.branch_policies.setdefault(name, [])

    def op_repos__list_deployment_branch_policies(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        _, policies = self._policies(params)
        path = (
            f"/repos/{params['owner']}/{params['repo']}/environments/"
            f"{params['environment_name']}/deployment-branch-policies"
        )
        page = self._page(policies, query, path, headers)
        return 200, {"total_count": len(policies), "branch_policies": page}

    def op_repos__create_deployment_branch_policy(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo, policies = self._policies(params)
        env = repo.environments[params["environment_name"]]
        if not (env["deployment_branch_policy"] or {}).get("custom_branch_policies"):
            raise Reply(404, "custom deployment branch policies are not enabled")
        kind = body.get("type", "branch")
        if any(p["name"] == body["name"] and p["type"] == kind for p in policies):
            raise Reply(303, "already exists")
        policy = {
            "id": self.new_id(),
            "node_id": "MDE2OkdhdGVCcmFuY2hQb2xpY3kzNjI4NTU=",
            "name": body["name"],
            "type": kind,
        }
        policies.append(policy)
        return 200, policy

    def op_repos__delete_deployment_branch_policy(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        _, policies = self._policies(params)
        policies[:] = [p for p in policies if p["id"] != int(params["branch_policy_id"])]
        return 204, None

    # -- variables ----------------------------------------------------------------------

    def op_actions__list_repo_variables(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        items = [repo.variables[k] for k in sorted(repo.variables)]
        path = f"/repos/{params['owner']}/{params['repo']}/actions/variables"
        return 200, {
            "total_count": len(items),
            "variables": self._page(items, query, path, headers),
        }

    def op_actions__create_repo_variable(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        name = body["name"].upper()
        if name in repo.variables:
            raise Reply(409, "Already exists")
        now = _now()
        repo.variables[name] = {
            "name": name,
            "value": body["value"],
            "created_at": now,
            "updated_at": now,
        }
        return 201, {}

    def op_actions__update_repo_variable(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        name = params["name"].upper()
        if name not in repo.variables:
            raise Reply(404, "Not Found")
        repo.variables[name].update(value=body["value"], updated_at=_now())
        return 204, None

    # -- Actions settings --------------------------------------------------------------

    def op_actions__get_github_actions_default_workflow_permissions_repository(  # type: ignore[no-untyped-def]
        self, params, query, body, headers
    ):
        return 200, dict(self.repo(params).workflow_permissions)

    def op_actions__set_github_actions_default_workflow_permissions_repository(  # type: ignore[no-untyped-def]
        self, params, query, body, headers
    ):
        self.repo(params).workflow_permissions.update(body or {})
        return 204, None

    # -- rulesets -------------------------------------------------------------------------

    def _ruleset(self, repo: Repo, ruleset_id: int) -> dict[str, Any]:
        stored = repo.rulesets[ruleset_id]
        return {
            "id": ruleset_id,
            "name": stored["name"],
            "target": stored.get("target", "branch"),
            "source_type": "Repository",
            "source": f"{repo.owner}/{repo.name}",
            "enforcement": stored["enforcement"],
            "bypass_actors": stored.get("bypass_actors", []),
            "conditions": stored.get("conditions"),
            "rules": stored.get("rules", []),
            "node_id": "RRS_lACkVXNlcgQB",
            "created_at": stored["created_at"],
            "updated_at": stored["updated_at"],
        }

    def op_repos__get_repo_rulesets(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        full = [self._ruleset(repo, i) for i in sorted(repo.rulesets)]
        summary = [
            {
                k: r[k]
                for k in (
                    "id",
                    "name",
                    "target",
                    "source_type",
                    "source",
                    "enforcement",
                    "node_id",
                    "created_at",
                    "updated_at",
                )
            }
            for r in full
        ]
        path = f"/repos/{params['owner']}/{params['repo']}/rulesets"
        return 200, self._page(summary, query, path, headers)

    def op_repos__get_repo_ruleset(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        ruleset_id = int(params["ruleset_id"])
        if ruleset_id not in repo.rulesets:
            raise Reply(404, "Not Found")
        return 200, self._ruleset(repo, ruleset_id)

    def _check_plan_for_rulesets(self, repo: Repo) -> None:
        if repo.private and repo.plan in (None, "free"):
            raise Reply(
                422, "Upgrade to GitHub Pro or make this repository public to enable this feature."
            )

    def op_repos__create_repo_ruleset(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        self._check_plan_for_rulesets(repo)
        ruleset_id = self.new_id()
        now = _now()
        repo.rulesets[ruleset_id] = {**body, "created_at": now, "updated_at": now}
        return 201, self._ruleset(repo, ruleset_id)

    def op_repos__update_repo_ruleset(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        ruleset_id = int(params["ruleset_id"])
        if ruleset_id not in repo.rulesets:
            raise Reply(404, "Not Found")
        repo.rulesets[ruleset_id].update(body, updated_at=_now())
        return 200, self._ruleset(repo, ruleset_id)

    def op_repos__get_branch_rules(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        found = []
        for ruleset_id, stored in sorted(repo.rulesets.items()):
            if stored["enforcement"] != "active" or stored.get("target", "branch") != "branch":
                continue
            include = ((stored.get("conditions") or {}).get("ref_name") or {}).get("include", [])
            if not {"~DEFAULT_BRANCH", f"refs/heads/{params['branch']}", "~ALL"} & set(include):
                continue
            for rule in stored.get("rules", []):
                found.append(
                    {
                        **rule,
                        "ruleset_source_type": "Repository",
                        "ruleset_source": f"{repo.owner}/{repo.name}",
                        "ruleset_id": ruleset_id,
                    }
                )
        path = f"/repos/{params['owner']}/{params['repo']}/rules/branches/{params['branch']}"
        return 200, self._page(found, query, path, headers)

    def op_repos__get_branch_protection(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        self.repo(params)
        raise Reply(404, "Branch not protected")

    # -- issue comments ---------------------------------------------------------------

    def add_comments(
        self, full_name: str, number: int, bodies: list[str], *, author: str = "someone"
    ) -> list[int]:
        repo = self.repos[full_name.lower()]
        made = [self._comment(repo, number, body, author) for body in bodies]
        return [c["id"] for c in made]

    def _comment(self, repo: Repo, number: int, body: str, author: str) -> dict[str, Any]:
        comment = self.api.example("issues/create-comment", 201)
        comment_id = self.new_id()
        comment["user"].update(login=author, id=abs(hash(author)) % 10**6)
        slug = f"{repo.owner}/{repo.name}"
        now = _now()
        comment.update(
            id=comment_id,
            body=body,
            url=f"https://api.github.com/repos/{slug}/issues/comments/{comment_id}",
            html_url=f"https://github.com/{slug}/pull/{number}#issuecomment-{comment_id}",
            issue_url=f"https://api.github.com/repos/{slug}/issues/{number}",
            created_at=now,
            updated_at=now,
        )
        repo.comments.setdefault(number, []).append(comment)
        return comment

    def comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        return self.repos[full_name.lower()].comments.get(number, [])

    def op_issues__list_comments(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        number = int(params["issue_number"])
        items = repo.comments.get(number, [])
        path = f"/repos/{params['owner']}/{params['repo']}/issues/{number}/comments"
        return 200, self._page(items, query, path, headers)

    def op_issues__create_comment(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        if len(body["body"]) > 65536:
            raise Reply(422, "Body is too long (maximum is 65536 characters)")
        return 201, self._comment(repo, int(params["issue_number"]), body["body"], self.login)

    def op_issues__update_comment(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        comment_id = int(params["comment_id"])
        for comment in itertools.chain.from_iterable(repo.comments.values()):
            if comment["id"] == comment_id:
                if len(body["body"]) > 65536:
                    raise Reply(422, "Body is too long (maximum is 65536 characters)")
                comment.update(body=body["body"], updated_at=_now())
                return 200, comment
        raise Reply(404, "Not Found")

    # -- branches, files, pull requests and issues ---------------------------------------

    def add_branch(self, full_name: str, branch: str, files: dict[str, bytes]) -> str:
        """A branch holding `files` in one commit; returns the commit's sha."""
        repo = self.repos[full_name.lower()]
        sha = self._commit(repo, dict(files))
        repo.refs[branch] = sha
        return sha

    def files_at(self, full_name: str, branch: str) -> dict[str, bytes]:
        repo = self.repos[full_name.lower()]
        return repo.trees[repo.refs[branch]]

    def _commit(self, repo: Repo, files: dict[str, bytes]) -> str:
        sha = hashlib.sha1(f"{self.new_id()}".encode(), usedforsecurity=False).hexdigest()
        repo.trees[sha] = files
        return sha

    def _ref(self, repo: Repo, name: str) -> dict[str, Any]:
        data = self.api.example("git/get-ref")
        slug = f"{repo.owner}/{repo.name}"
        data.update(
            ref=f"refs/heads/{name}",
            url=f"https://api.github.com/repos/{slug}/git/refs/heads/{name}",
        )
        data["object"].update(sha=repo.refs[name], type="commit")
        return data

    def op_git__get_ref(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        name = params["ref"].removeprefix("heads/")
        if not params["ref"].startswith("heads/") or name not in repo.refs:
            raise Reply(404, "Not Found")
        return 200, self._ref(repo, name)

    def op_git__create_ref(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        name = body["ref"].removeprefix("refs/heads/")
        if name in repo.refs:
            raise Reply(422, "Reference already exists")
        if body["sha"] not in repo.trees:
            raise Reply(422, "Object does not exist")
        repo.refs[name] = body["sha"]
        return 201, self._ref(repo, name)

    def op_git__update_ref(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        name = params["ref"].removeprefix("heads/")
        if name not in repo.refs or body["sha"] not in repo.trees:
            raise Reply(422, "Reference does not exist")
        if not body.get("force"):
            raise Reply(422, "Update is not a fast forward")  # the stand-in keeps no ancestry
        repo.refs[name] = body["sha"]
        return 200, self._ref(repo, name)

    def op_repos__get_content(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        ref = query.get("ref", repo.default_branch)
        files = repo.trees.get(repo.refs.get(ref, ref))
        if files is None or params["path"] not in files:
            raise Reply(404, "Not Found")
        content = files[params["path"]]
        data = self.api.example("repos/get-content", 200, "response-if-content-is-a-file")
        data.update(
            name=params["path"].rsplit("/", 1)[-1],
            path=params["path"],
            size=len(content),
            sha=hashlib.sha1(
                b"blob %d\0" % len(content) + content, usedforsecurity=False
            ).hexdigest(),
            content=base64.encodebytes(content).decode("ascii"),
        )
        return 200, data

    def op_repos__create_or_update_file_contents(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        branch = body.get("branch", repo.default_branch)
        if branch not in repo.refs:
            raise Reply(404, "Branch not found")
        files = dict(repo.trees[repo.refs[branch]])
        path = params["path"]
        existed = path in files
        if existed:
            old = files[path]
            sha = hashlib.sha1(b"blob %d\0" % len(old) + old, usedforsecurity=False).hexdigest()
            if body.get("sha") != sha:
                raise Reply(409, f"{path} does not match {body.get('sha')}")
        elif body.get("sha"):
            raise Reply(422, "sha given for a new file")
        files[path] = base64.b64decode(body["content"])
        repo.refs[branch] = self._commit(repo, files)
        self.commit_messages.append(body["message"])
        status = 200 if existed else 201
        return status, self.api.example("repos/create-or-update-file-contents", status)

    def _number(self, repo: Repo) -> int:
        return len(repo.pulls) + len(repo.issues) + 1

    def _pull(self, repo: Repo, pr: dict[str, Any]) -> dict[str, Any]:
        data = self.api.example("pulls/create", 201)
        data["requested_teams"] = []
        slug = f"{repo.owner}/{repo.name}"
        data.update(
            number=pr["number"],
            state=pr["state"],
            title=pr["title"],
            body=pr["body"],
            html_url=f"https://github.com/{slug}/pull/{pr['number']}",
            url=f"https://api.github.com/repos/{slug}/pulls/{pr['number']}",
        )
        data["head"].update(ref=pr["head"], label=f"{repo.owner}:{pr['head']}")
        data["base"].update(ref=pr["base"], label=f"{repo.owner}:{pr['base']}")
        return data

    def op_pulls__list(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        state = query.get("state", "open")
        found = [
            p
            for p in repo.pulls
            if state in ("all", p["state"])
            and ("head" not in query or query["head"] == f"{repo.owner}:{p['head']}")
            and ("base" not in query or query["base"] == p["base"])
        ]
        path = f"/repos/{params['owner']}/{params['repo']}/pulls"
        simple_keys = self.api.doc["components"]["schemas"]["pull-request-simple"]["properties"]
        items = [
            {k: v for k, v in self._pull(repo, p).items() if k in simple_keys}
            for p in self._page(found, query, path, headers)
        ]
        return 200, items

    def op_pulls__create(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        if body["head"] not in repo.refs or body["base"] not in repo.refs:
            raise Reply(422, "Validation Failed")
        if any(p["head"] == body["head"] and p["state"] == "open" for p in repo.pulls):
            raise Reply(422, f"A pull request already exists for {repo.owner}:{body['head']}.")
        pr = {
            "number": self._number(repo),
            "state": "open",
            "head": body["head"],
            "base": body["base"],
            "title": body["title"],
            "body": body.get("body"),
        }
        repo.pulls.append(pr)
        return 201, self._pull(repo, pr)

    def op_pulls__update(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        pr = next((p for p in repo.pulls if p["number"] == int(params["pull_number"])), None)
        if pr is None:
            raise Reply(404, "Not Found")
        pr.update({k: body[k] for k in ("title", "body", "state") if k in body})
        return 200, self._pull(repo, pr)

    def _issue(self, repo: Repo, issue: dict[str, Any]) -> dict[str, Any]:
        data = self.api.example("issues/create", 201)
        data.pop("pull_request", None)
        slug = f"{repo.owner}/{repo.name}"
        data.update(
            number=issue["number"],
            state=issue["state"],
            title=issue["title"],
            body=issue["body"],
            html_url=f"https://github.com/{slug}/issues/{issue['number']}",
            url=f"https://api.github.com/repos/{slug}/issues/{issue['number']}",
        )
        data["user"].update(login=issue["author"])
        return data

    def add_issue(
        self, full_name: str, title: str, body: str, *, author: str, state: str = "open"
    ) -> int:
        repo = self.repos[full_name.lower()]
        number = self._number(repo)
        repo.issues.append(
            {"number": number, "state": state, "title": title, "body": body, "author": author}
        )
        return number

    def op_issues__list_for_repo(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        state = query.get("state", "open")
        # GitHub lists pull requests among issues (with a `pull_request` key).
        found: list[dict[str, Any]] = [
            self._issue(repo, i) for i in repo.issues if state in ("all", i["state"])
        ]
        for pr in repo.pulls:
            if state in ("all", pr["state"]):
                item = self._issue(repo, {**pr, "author": self.login})
                item["pull_request"] = self.api.example("issues/create", 201)["pull_request"]
                found.append(item)
        found.sort(key=lambda i: -int(i["number"]))
        path = f"/repos/{params['owner']}/{params['repo']}/issues"
        return 200, self._page(found, query, path, headers)

    def op_issues__create(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        if len(body.get("body") or "") > 65536:
            raise Reply(422, "Body is too long (maximum is 65536 characters)")
        self.add_issue(
            f"{repo.owner}/{repo.name}",
            str(body["title"]),
            body.get("body") or "",
            author=self.login,
        )
        return 201, self._issue(repo, repo.issues[-1])

    def op_issues__update(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        issue = next((i for i in repo.issues if i["number"] == int(params["issue_number"])), None)
        if issue is None:
            raise Reply(404, "Not Found")
        issue.update({k: body[k] for k in ("title", "body", "state") if k in body})
        return 200, self._issue(repo, issue)

    # -- runners and runs -----------------------------------------------------------------
    # Self-hosted runners (JIT registration, list, delete) and workflow runs (status), as
    # the GPU runner commands use them. State lives on Repo (runners, runs, jit_configs).

    _DEFAULT_LABELS = ("self-hosted", "X64", "ARM64", "Linux", "Windows", "macOS")

    def add_runner(
        self,
        full_name: str,
        name: str,
        *,
        status: str = "offline",
        busy: bool = False,
        labels: tuple[str, ...] = ("self-hosted", "Linux", "X64"),
    ) -> int:
        """A runner registered some other way (a team's own machine), already connected."""
        repo = self.repos[full_name.lower()]
        runner_id = self.new_id()
        repo.runners[runner_id] = self._new_runner(runner_id, name, labels, jit=False)
        repo.runners[runner_id].update(status=status, busy=busy, os="linux", version="2.323.0")
        return runner_id

    def add_run(
        self,
        full_name: str,
        run_id: int,
        status: str = "in_progress",
        *,
        conclusion: str | None = None,
        fails_with: int | None = None,
    ) -> None:
        """A workflow run; `fails_with` makes reading it answer that 5xx (GitHub failing)."""
        self.repos[full_name.lower()].runs[run_id] = {
            "status": status,
            "conclusion": conclusion,
            "fails_with": fails_with,
        }

    def _new_runner(
        self, runner_id: int, name: str, labels: tuple[str, ...], *, jit: bool
    ) -> dict[str, Any]:
        return {
            "id": runner_id,
            "name": name,
            "status": "offline",
            "busy": False,
            "os": "unknown",  # until the runner first connects (GitHub's JIT example)
            "version": None,
            "ephemeral": jit,
            "labels": [(self.new_id(), label) for label in labels],
            "registered_at_list": None,
        }

    def _runner_body(self, runner: dict[str, Any]) -> dict[str, Any]:
        body = self.api.example("actions/list-self-hosted-runners-for-repo")["runners"][0]
        body.update({k: runner[k] for k in ("id", "name", "os", "status", "busy", "ephemeral")})
        body["version"] = runner["version"]
        body["labels"] = [
            {
                "id": label_id,
                "name": label,
                "type": "read-only" if label in self._DEFAULT_LABELS else "custom",
            }
            for label_id, label in runner["labels"]
        ]
        return body

    def op_actions__generate_runner_jitconfig_for_repo(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        if any(r["name"] == body["name"] for r in repo.runners.values()):
            raise Reply(409, "Already exists - A runner with the name already exists.")
        runner_id = self.new_id()
        runner = self._new_runner(runner_id, body["name"], tuple(body["labels"]), jit=True)
        runner["registered_at_list"] = repo.runner_lists
        repo.runners[runner_id] = runner
        # A real config is base64 of a JSON document; random bytes stand for the secret.
        encoded = base64.b64encode(os.urandom(48)).decode()
        repo.jit_configs.append(encoded)
        data = self.api.example("actions/generate-runner-jitconfig-for-repo", 201)
        data.update(runner=self._runner_body(runner), encoded_jit_config=encoded)
        return 201, data

    def op_actions__list_self_hosted_runners_for_repo(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        repo.runner_lists += 1
        for runner in repo.runners.values():
            registered = runner["registered_at_list"]
            if (
                registered is not None
                and runner["status"] == "offline"
                and repo.online_after_lists is not None
                and repo.runner_lists - registered >= repo.online_after_lists
            ):  # its machine booted and the runner connected with its JIT config
                runner.update(status="online", os="linux", version="2.323.0")
                runner["registered_at_list"] = None
        runners = [
            self._runner_body(r)
            for _, r in sorted(repo.runners.items())
            if "name" not in query or r["name"] == query["name"]
        ]
        path = f"/repos/{params['owner']}/{params['repo']}/actions/runners"
        return 200, {
            "total_count": len(runners),
            "runners": self._page(runners, query, path, headers),
        }

    def op_actions__delete_self_hosted_runner_from_repo(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        runner = repo.runners.get(int(params["runner_id"]))
        if runner is None:
            raise Reply(404, "Not Found")
        if runner["busy"]:
            raise Reply(422, f'Bad request - Runner "{runner["name"]}" is still running a job')
        del repo.runners[runner["id"]]
        return 204, None

    def op_actions__get_workflow_run(self, params, query, body, headers):  # type: ignore[no-untyped-def]
        repo = self.repo(params)
        run_id = int(params["run_id"])
        run = repo.runs.get(run_id)
        if run is None:
            raise Reply(404, "Not Found")
        if run["fails_with"] is not None:
            raise Reply(run["fails_with"], "Server Error")
        data = self.api.example("actions/get-workflow-run")
        slug = f"{repo.owner}/{repo.name}"
        data.update(
            id=run_id,
            status=run["status"],
            conclusion=run["conclusion"],
            url=f"https://api.github.com/repos/{slug}/actions/runs/{run_id}",
            html_url=f"https://github.com/{slug}/actions/runs/{run_id}",
        )
        if query.get("exclude_pull_requests") == "true":
            data["pull_requests"] = []
        data["repository"].update(name=repo.name, full_name=slug)
        return 200, data


@dataclass
class Running:
    standin: GitHubStandIn
    url: str


def serve(standin: GitHubStandIn) -> Iterator[Running]:
    """Run the stand-in on 127.0.0.1 (a free port) in a thread until the generator closes."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, standin, threaded=True, request_handler=Quiet)
    standin.base_url = f"http://127.0.0.1:{server.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(standin, standin.base_url)
    finally:
        server.shutdown()
        thread.join(5)
