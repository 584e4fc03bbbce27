"""Deploy as a reconcile: make an environment's serving store and registry aliases match git.

For each manifest of the environment: fetch the pinned version's bundle from the
registry, verify its tree digest against the manifest, upload it to the store under
its digest and verify it there. Only when every bundle is in place is the pointer
document `live.json` replaced, in one write; registry aliases follow it. A failure
before the swap leaves every model on its previous version; a rerun converges.
Models whose manifest was removed are retired: dropped from `live.json`, alias deleted.

What a deploy reads to decide is cheap and does not grow per model with MLflow
requests: the manifests, `live.json`, one batched read of every registry alias
(`registry.all_aliases`), and a stat-based check of each stored bundle against the
stamp recorded when it was last verified (`store` module). Only a model that differs
from git costs registry requests. `--verify` re-hashes every stored bundle instead.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelops.errors import IntegrityError, PromotionError
from modelops.lock import file_lock, lock_timeout, remote_lock
from modelops.project import ENVIRONMENTS, Project
from modelops.results import CommandResult
from modelops.spec import (
    EnvironmentSpec,
    Manifest,
    list_manifests,
    list_models,
    load_environment,
)
from modelops.store import LOCK, LocalStore, S3Store, Store, open_store, store_overlaps


@dataclass
class ModelState:
    """One model in one environment: what git wants, what serves, where the alias points."""

    model: str
    desired: Manifest | None
    live: dict[str, Any] | None
    alias: int | None
    bundle_problem: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def desired_version(self) -> int | None:
        return self.desired.version if self.desired else None

    @property
    def live_version(self) -> int | None:
        return int(self.live["version"]) if self.live else None

    def action(self) -> str:
        """`deploy`, `retire` or `none`."""
        if self.desired is None:
            return "retire" if self.live is not None or self.alias is not None else "none"
        return "deploy" if self.problems else "none"


def inspect(
    project: Project,
    env: EnvironmentSpec,
    store: Store,
    live: dict[str, Any],
    *,
    verify: bool = False,
    aliases: dict[str, dict[str, int]] | None = None,
) -> list[ModelState]:
    """Compare manifests, the pointer document, the stored bundles and the aliases.

    One registry read for all aliases (or `aliases`, already read by a caller that
    inspects several environments); `verify` re-hashes the stored bundles instead
    of trusting an unchanged file listing.
    """
    from modelops import registry

    manifests = {m.model: m for m in list_manifests(project, env.name)}
    if aliases is None:
        aliases = registry.all_aliases(project)
    # Only models this project manages (a pipeline spec, a manifest or a live entry):
    # on a shared registry, another project's model with the same alias is not ours.
    managed = set(list_models(project)) | set(manifests) | set(live)
    aliased = {m for m, a in aliases.items() if env.alias in a and m in managed}
    names = sorted(set(manifests) | set(live) | aliased)
    states = []
    for name in names:
        desired = manifests.get(name)
        entry = live.get(name)
        alias = aliases.get(name, {}).get(env.alias)
        state = ModelState(name, desired, entry, alias)
        if desired is not None:
            if entry is None:
                state.problems.append("not deployed")
            elif entry.get("sha256") != desired.sha256 or entry.get("version") != desired.version:
                state.problems.append(
                    f"live is v{entry.get('version')}, git wants v{desired.version}"
                )
            else:
                state.bundle_problem = store.bundle_problem(name, desired.sha256, verify=verify)
                if state.bundle_problem:
                    state.problems.append(state.bundle_problem)
            if alias != desired.version:
                state.problems.append(
                    "alias not set" if alias is None else f"alias '{env.alias}' moved to v{alias}"
                )
        elif entry is not None or alias is not None:
            state.problems.append("manifest removed: to retire")
        if desired is not None or entry is not None or alias is not None:
            states.append(state)
    return states


def _fetch_verified(project: Project, manifest: Manifest, workdir: Path) -> Path:
    """Download the manifest's version from the registry and check its digest."""
    from modelops import registry
    from modelops.bundle import verify

    info = registry.get_version(project, manifest.model, manifest.version)
    local = registry.download_bundle(
        project, manifest.model, manifest.version, workdir / manifest.model
    )
    try:
        verify(local, manifest.sha256, source=info.model_uri)
    except IntegrityError as exc:
        raise IntegrityError(
            f"the registry artifact of {info.model_uri} does not match the manifest: {exc.message}",
            file=str(manifest.path),
            field="sha256",
            hint="the artifact or the manifest was tampered with; nothing was deployed",
        ) from None
    return local


def _plan_lines(env: str, states: list[ModelState], *, done: bool) -> list[str]:
    """One line per model saying what changed (`churn: v1 → v2`), or what would (`planned`)."""
    lines = []
    for s in states:
        act = s.action()
        before = f"v{s.live_version}" if s.live_version is not None else "(not deployed)"
        if act == "deploy":
            assert s.desired is not None
            after = f"v{s.desired.version}"
            if before == after:  # same version, repaired (bundle, digest or alias)
                what = f"{after} repaired ({', '.join(s.problems)})"
            else:
                what = f"{before} → {after}"
            lines.append(
                f"  {s.model}: {what} (sha256 {s.desired.sha256[:12]})"
                + ("" if done else f"; planned: {', '.join(s.problems)}")
            )
        elif act == "retire":
            lines.append(
                f"  {s.model}: {before} → retired from {env} (manifest removed)"
                + ("" if done else "; planned")
            )
        else:
            lines.append(f"  {s.model}: v{s.desired_version} unchanged")
    return lines


def _clean_commit(project: Project) -> str | None:
    commit = project.git_commit()
    return commit if re.fullmatch(r"[0-9a-f]{40}", commit) else None


def older_than_live(
    project: Project, live: dict[str, Any], states: list[ModelState], commit: str | None
) -> list[str]:
    """Models this checkout would change although live was deployed from a newer commit.

    Re-running an old deploy or release run checks out an old commit: deploying
    it would silently roll prod back. Only a manifest with a hold (a rollback,
    `modelops rollback`) may go back; a `git revert` is a newer commit and passes.
    """
    if commit is None:
        return []
    problems = []
    for s in states:
        entry = live.get(s.model)
        if s.action() == "none" or not isinstance(entry, dict):
            continue
        live_commit = str(entry.get("commit", ""))
        if not re.fullmatch(r"[0-9a-f]{40}", live_commit) or live_commit == commit:
            continue
        if s.desired is not None and s.desired.hold:
            continue
        # Exit 0 only when both are known and this checkout is an ancestor of live's commit.
        if _is_ancestor(project, commit, live_commit):
            problems.append(
                f"{s.model}: live v{entry.get('version')} was deployed from "
                f"{live_commit[:12]}, newer than this checkout ({commit[:12]})"
            )
    return problems


def _is_ancestor(project: Project, older: str, newer: str) -> bool:
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", older, newer],
        cwd=project.root,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def deploy(
    project: Project,
    env_name: str,
    *,
    dry_run: bool = False,
    verify: bool = False,
    say: Any = print,
) -> dict[str, Any]:
    """Reconcile `env_name`; return the plan and what was done.

    `verify` re-hashes every stored bundle rather than trusting its verified stamp.
    """
    from modelops import registry

    env = load_environment(project, env_name)
    overlaps = store_overlaps(project, env_name)
    if overlaps:
        raise overlaps[0]
    store = open_store(project, env_name, env.store)
    if dry_run:
        live, corrupt = _read_live(store, say, dry_run=True)
        states = inspect(project, env, store, live, verify=verify)
        return {
            **_report(env_name, store, states, done=False, dry_run=True),
            "corrupt_live": corrupt,
        }

    timeout = lock_timeout()
    with ExitStack() as locks:
        # The lock belongs to the store, not to this checkout: every checkout (and machine)
        # deploying into it takes the same one.
        if isinstance(store, LocalStore):
            locks.enter_context(
                file_lock(
                    store.root / LOCK,
                    what=f"the deploy lock of '{env_name}'",
                    timeout=timeout,
                    on_wait=say,
                )
            )
        lease = None
        if isinstance(store, S3Store):
            # Deployers on other machines share only the store: a lease on a lock object.
            lease = locks.enter_context(
                remote_lock(
                    store,
                    LOCK,
                    what=f"the store lock of '{env_name}'",
                    timeout=timeout,
                    on_wait=say,
                )
            )
        # Read the state under the lock: a deploy that waited sees its predecessor's work.
        live, corrupt = _read_live(store, say)
        states = inspect(project, env, store, live, verify=verify)
        commit = _clean_commit(project)
        behind = older_than_live(project, live, states, commit)
        if behind:
            raise PromotionError(
                f"refusing to deploy an older commit to '{env_name}': " + "; ".join(behind),
                file=f"environments/{env_name}/models",
                hint="deploy the newest commit of main; to go back on purpose use "
                "`modelops rollback` (it places a hold), then deploy that commit",
            )
        # Bundles re-hashed just now get a fresh stamp (a cache, not a change of the env).
        store.save_stamps()
        todo = [s for s in states if s.action() != "none"]
        if not todo and not corrupt:
            return _report(env_name, store, states, done=False, dry_run=False)
        new_live = {k: v for k, v in live.items() if k in {s.model for s in states}}
        with tempfile.TemporaryDirectory(prefix=f"modelops-deploy-{env_name}-") as tmp:
            # Phase 1: every new bundle into the store, verified; nothing serves it yet.
            for s in todo:
                if s.action() != "deploy":
                    continue
                assert s.desired is not None
                m = s.desired
                # Full re-hash here: this model changes anyway, and the copy must be sound.
                if store.bundle_problem(m.model, m.sha256, verify=True) is not None:
                    local = _fetch_verified(project, m, Path(tmp))
                    say(f"{m.model}: uploading v{m.version} to {store.uri}")
                    store.put_bundle(m.model, m.sha256, local)
                else:
                    # Already stored and verified; still check the registry agrees.
                    registry.require_digest(
                        project,
                        m.model,
                        m.version,
                        m.sha256,
                        file=str(m.path),
                        pinned_by="the manifest",
                    )
                entry = live.get(m.model)
                unchanged = (
                    entry is not None
                    and entry.get("version") == m.version
                    and entry.get("sha256") == m.sha256
                )
                new_live[m.model] = (
                    entry
                    if unchanged
                    else {
                        "version": m.version,
                        "sha256": m.sha256,
                        "deployed_at": _now(),
                        # What a later deploy compares with, to refuse an older checkout.
                        **({"commit": commit} if commit else {}),
                    }
                )
            for s in todo:
                if s.action() == "retire":
                    new_live.pop(s.model, None)
            # Phase 2: the pointer swap, in one write. The environment switches here.
            if new_live != live or corrupt:
                if lease is not None:
                    lease.fence()  # still ours (renewed now), or nothing is switched
                store.write_live(new_live)
        # Phase 3: aliases follow the pointer; a failure here is repaired by a rerun.
        for s in todo:
            if s.action() == "deploy":
                assert s.desired is not None
                if s.alias != s.desired.version:
                    registry.set_alias(project, s.model, env.alias, s.desired.version)
            elif s.alias is not None:
                registry.delete_alias(project, s.model, env.alias)
        return {
            **_report(env_name, store, states, done=True, dry_run=False),
            "healed_live": corrupt,
        }


def _read_live(store: Store, say: Any, *, dry_run: bool = False) -> tuple[dict[str, Any], bool]:
    """`live.json`, or an empty one (and True) when it is corrupt: deploy rewrites it from git."""
    try:
        return store.read_live(), False
    except IntegrityError as exc:
        say(f"{exc}; {'a deploy would rewrite' if dry_run else 'rewriting'} it from git")
        return {}, True


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _report(
    env: str, store: Store, states: list[ModelState], *, done: bool, dry_run: bool
) -> dict[str, Any]:
    todo = [s for s in states if s.action() != "none"]
    return {
        "env": env,
        "store": store.uri,
        "dry_run": dry_run,
        "changed": done,
        "plan": [
            {
                "model": s.model,
                "action": s.action(),
                "version": s.desired_version,
                "live_version": s.live_version,
                "alias": s.alias,
                "reasons": s.problems,
            }
            for s in states
        ],
        "lines": _plan_lines(env, states, done=done),
        "todo": len(todo),
    }


@dataclass
class DeployResult(CommandResult):
    """What `deploy_environment` did (or planned): the changes and the store."""

    @property
    def todo(self) -> int:
        return int(self.data["todo"])


@dataclass
class StatusResult(CommandResult):
    """`environment_status`: one row per model and environment; `in_sync` if none drifted."""

    @property
    def in_sync(self) -> bool:
        return bool(self.data["in_sync"])


def deploy_environment(
    project: Project, env: str, *, dry_run: bool = False, verify: bool = False
) -> DeployResult:
    """Reconcile ENV with git (see the module); `dry_run` plans only, `verify` re-hashes all."""
    outcome = deploy(project, env, dry_run=dry_run, verify=verify)
    if outcome.get("healed_live"):
        head = f"{env}: rewrote a corrupt live.json from git in {outcome['store']}"
    elif outcome.get("corrupt_live") and outcome["todo"] == 0:
        head = f"{env}: plan: rewrite the corrupt live.json from git; dry run, nothing written"
    elif outcome["todo"] == 0:
        head = f"{env}: nothing to do; the store ({outcome['store']}) matches git"
    elif outcome["dry_run"]:
        head = f"{env}: plan ({outcome['todo']} change(s)); dry run, nothing written"
    else:
        head = f"{env}: deployed ({outcome['todo']} change(s)) to {outcome['store']}"
    return DeployResult(
        command="deploy", subject=env, data=outcome, summary=[head, *outcome["lines"]]
    )


# -- status -------------------------------------------------------------------


def status(project: Project, envs: list[str], *, verify: bool = False) -> list[dict[str, Any]]:
    """One row per model × environment; read-only (no stamp is written)."""
    from modelops import registry

    aliases = registry.all_aliases(project)  # once for every environment
    rows: list[dict[str, Any]] = []
    for env_name in envs:
        env = load_environment(project, env_name)
        store = open_store(project, env_name, env.store)
        try:
            live = store.read_live()
            live_problem = None
        except IntegrityError as exc:
            live, live_problem = {}, str(exc)
        if live_problem is not None and not any(m.model for m in list_manifests(project, env_name)):
            rows.append(
                {
                    "env": env_name,
                    "model": "(live.json)",
                    "desired": None,
                    "live": None,
                    "alias": None,
                    "hold": None,
                    "ok": False,
                    "problems": [live_problem],
                }
            )
        for s in inspect(project, env, store, live, verify=verify, aliases=aliases):
            d, entry = s.desired, s.live
            # inspect checked the bundle only when live matches git; check the live one too.
            if (
                d is not None
                and entry is not None
                and (entry.get("version") != d.version or entry.get("sha256") != d.sha256)
            ):
                problem = store.bundle_problem(s.model, str(entry.get("sha256")), verify=verify)
                if problem:
                    s.problems.append(f"live {problem}")
            rows.append(
                {
                    "env": env_name,
                    "model": s.model,
                    "desired": s.desired_version,
                    "live": s.live_version,
                    "alias": s.alias,
                    "hold": (s.desired.hold or {}).get("reason") if s.desired else None,
                    "ok": not s.problems and live_problem is None,
                    "problems": s.problems + ([live_problem] if live_problem else []),
                }
            )
    return rows


def environment_status(
    project: Project, env: str | None = None, *, verify: bool = False
) -> StatusResult:
    """Models × environments (ENV, or all): the version git wants, live, and the alias."""
    envs = [env] if env else list(ENVIRONMENTS)
    rows = status(project, envs, verify=verify)

    def v(value: Any) -> str:
        return "—" if value is None else f"v{value}"

    lines = [f"{'model':<16} {'env':<8} {'git':>5} {'live':>5} {'alias':>5}  state"]
    for r in rows:
        state = "ok" if r["ok"] else "DRIFT: " + "; ".join(r["problems"])
        if r["hold"]:
            state += f" (held: {r['hold']})"
        lines.append(
            f"{r['model']:<16} {r['env']:<8} {v(r['desired']):>5} {v(r['live']):>5} "
            f"{v(r['alias']):>5}  {state}"
        )
    if not rows:
        lines.append("(no model is promoted or deployed anywhere yet)")
    drifted = [r for r in rows if not r["ok"]]
    if drifted:
        lines.append(
            f"{len(drifted)} model/environment pair(s) differ from git; "
            "`modelops deploy ENV` repairs them"
        )
    return StatusResult(
        command="status",
        subject=env or "all",
        data={"rows": rows, "in_sync": not drifted},
        summary=lines,
        # 3 = drift found (errors.DriftDetected): CI can tell "differs from git" from a crash.
        exit_code=3 if drifted else 0,
    )
