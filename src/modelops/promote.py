"""Promotion: write a model's manifest one stage up, list its history, roll it back with a hold.

Rules (docs/promotion.md):
- into `dev` from a registered version (default: the newest), its gates re-checked;
- into `staging` only a version `dev` runs or ran, into `prod` only one `staging`
  runs or ran ("ran" = named by the manifest in any commit of git history);
- the same version again changes nothing;
- a manifest with a `hold` (left by a rollback) refuses every promotion until a
  person lifts it explicitly (`--release-hold`, never with `--automated`); the
  release is recorded in the manifest (`hold_released`) with the git author;
- automation may only promote into an environment whose policy allows it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelops.errors import InputError, PromotionError, SpecError
from modelops.fsutil import (
    YamlBombError,
    atomic_write_text,
    dump_yaml,
    load_yaml_text,
    read_text,
)
from modelops.project import ENVIRONMENTS, Project
from modelops.results import CommandResult
from modelops.spec import (
    EnvironmentSpec,
    Manifest,
    PipelineSpec,
    load_environment,
    load_manifest,
    load_pipeline,
    parse_manifest,
)

MANIFEST_HEADER = (
    "# Written by `modelops promote`; review the diff. The sha256 pins the bundle:\n"
    "# deploy refuses any artifact with another digest.\n"
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def is_automated(flag: bool = False) -> bool:
    """Automation (a bot or workflow) rather than a person: `flag` or MODELOPS_AUTOMATION."""
    return flag or (os.environ.get("MODELOPS_AUTOMATION", "").lower() == "true")


def actor(project: Project) -> str:
    """Who places or lifts a hold: the git author, as the commit will name it.

    `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL`, else `git config user.name`/`user.email`,
    else the GitHub actor in Actions. Never the login name of the machine: a hold is
    a decision a reviewer must be able to attribute.
    """
    name = os.environ.get("GIT_AUTHOR_NAME") or project.git("config", "user.name", check=False)
    email = os.environ.get("GIT_AUTHOR_EMAIL") or project.git("config", "user.email", check=False)
    if name:
        return f"{name} <{email}>" if email else name
    if os.environ.get("GITHUB_ACTOR"):
        return os.environ["GITHUB_ACTOR"]
    raise InputError(
        "no git author to record the hold with",
        field="user.name",
        hint="set `git config user.name` and `user.email` (or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL)",
    )


def write_manifest(project: Project, env: str, model: str, doc: dict[str, Any]) -> Path:
    """Validate and write a manifest atomically; a bad document never reaches the disk."""
    path = project.manifest_path(env, model)
    parse_manifest(doc, env=env, model=model, file=Path(project.relative(path)))
    atomic_write_text(path, MANIFEST_HEADER + dump_yaml(doc))
    return path


# -- history ----------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One commit that touched a manifest: the version it named, or None when it removed it."""

    commit: str
    date: str
    author: str
    subject: str
    manifest: Manifest | None

    def as_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "commit": self.commit,
            "date": self.date,
            "author": self.author,
            "subject": self.subject,
            "version": m.version if m else None,
            "sha256": m.sha256 if m else None,
            "promoted_from": m.raw.get("promoted_from") if m else None,
            "hold": m.hold if m else None,
        }


def manifest_history(project: Project, env: str, model: str) -> list[HistoryEntry]:
    """Commits of the manifest, newest first, each with the manifest as it was then."""
    import yaml

    rel = project.relative(project.manifest_path(env, model))
    if not project.git("rev-parse", "--git-dir", check=False):
        raise InputError(
            "not a git repository", file=project.root, hint="history comes from git log"
        )
    log = project.git("log", "--format=%H%x1f%aI%x1f%an%x1f%s", "--", rel, check=False)
    entries = []
    for line in log.splitlines():
        sha, date, author, subject = line.split("\x1f", 3)
        text = project.git("show", f"{sha}:{rel}", check=False)
        manifest = None
        if text:
            try:
                manifest = parse_manifest(
                    load_yaml_text(text), env=env, model=model, file=Path(f"{rel}@{sha[:12]}")
                )
            except (SpecError, yaml.YAMLError, YamlBombError):
                continue  # a broken manifest in an old commit cannot be promoted or restored
        entries.append(HistoryEntry(sha, date, author, subject, manifest))
    return entries


def ran_in(project: Project, env: str, model: str, version: int) -> Manifest | None:
    """The manifest of `version` if `env` runs it now (working tree) or ran it (git history)."""
    current = load_manifest(project, env, model)
    if current is not None and current.version == version:
        return current
    for entry in manifest_history(project, env, model):
        if entry.manifest is not None and entry.manifest.version == version:
            return entry.manifest
    return None


# -- promote ----------------------------------------------------------------


def _check_gates(spec: PipelineSpec, metrics: dict[str, float], where: str) -> None:
    """The spec's absolute gates against the metrics recorded for the version."""
    failed = []
    for gate in spec.gates:
        value = metrics.get(gate.metric)
        if gate.min is None and gate.max is None:
            continue
        if value is None:
            failed.append(f"{gate.metric} not recorded")
        elif gate.min is not None and value < gate.min:
            failed.append(f"{gate.metric} {value:.4f} < min {gate.min}")
        elif gate.max is not None and value > gate.max:
            failed.append(f"{gate.metric} {value:.4f} > max {gate.max}")
    if failed:
        raise PromotionError(
            f"gates fail for {where}: {'; '.join(failed)}",
            file=spec.path,
            field="evaluate.gates",
            hint="only a version that passes the spec's gates may be promoted",
        )


def _version_doc(info: Any, promoted_from: str) -> dict[str, Any]:
    return {
        "model": info.model,
        "version": info.version,
        "model_uri": info.model_uri,
        "artifact_uri": info.source,
        "sha256": info.sha256,
        "run_id": info.run_id,
        "source_commit": info.commit,
        "data_sha256": info.data_sha256,
        "metrics": dict(info.metrics),
        "promoted_from": promoted_from,
        "promoted_at": now_iso(),
    }


def _candidate(
    project: Project, spec: PipelineSpec, target: EnvironmentSpec, requested: int | None
) -> tuple[dict[str, Any], str]:
    """The manifest document to write into `target`, and where it comes from."""
    from modelops import registry

    model = spec.name
    index = ENVIRONMENTS.index(target.name)
    if index == 0:
        if requested is None:
            latest = registry.latest_version(project, model)
            if latest is None:
                raise PromotionError(
                    f"model '{model}' has no registered version",
                    hint=f"run `modelops register {model}` after training and evaluating it",
                )
            requested = latest.version
        info = registry.get_version(project, model, requested)
        if len(info.sha256) != 64:
            raise PromotionError(
                f"{info.model_uri} has no modelops.sha256 tag",
                hint="register versions with `modelops register`, which records the digest",
            )
        return _version_doc(info, "registry"), "registry"

    previous = ENVIRONMENTS[index - 1]
    if requested is None:
        current = load_manifest(project, previous, model)
        if current is None:
            raise PromotionError(
                f"'{previous}' does not run '{model}', so there is nothing to promote to "
                f"'{target.name}'",
                file=project.relative(project.manifest_path(previous, model)),
                hint=f"promote it into '{previous}' first (no stage is skipped)",
            )
        source = current
    else:
        found = ran_in(project, previous, model, requested)
        if found is None:
            raise PromotionError(
                f"version {requested} of '{model}' never ran in '{previous}'; refusing to skip "
                f"a stage into '{target.name}'",
                file=project.relative(project.manifest_path(previous, model)),
                field="version",
                hint=f"promote version {requested} into '{previous}' first "
                f"(see `modelops history {model} --env {previous}`)",
            )
        source = found
    registry.require_digest(
        project,
        model,
        source.version,
        source.sha256,
        file=str(source.path),
        pinned_by=f"the '{previous}' manifest",
    )
    doc = {k: v for k, v in source.raw.items() if k not in ("hold", "hold_released")}
    doc.update(promoted_from=previous, promoted_at=now_iso())
    return doc, previous


def _codeowners(project: Project, path: str) -> list[str]:
    """Owners of `path` (project-relative, POSIX) in CODEOWNERS, with GitHub's rules.

    GitHub reads the first of .github/, the root and docs/ that holds a CODEOWNERS
    file; its last matching line wins. The `codeowners` package implements both the
    pattern syntax and that rule.
    """
    from codeowners import CodeOwners

    for name in (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"):
        file = project.root / name
        if file.is_file():
            text = read_text(file, what="CODEOWNERS file")
            return [owner for _kind, owner in CodeOwners(text).of(path)]
    return []


# Characters that markdown (CommonMark/GFM) or HTML give a meaning to, in text we quote.
_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;"}
_MARKDOWN = set("\\`*_{}[]()#+-.!|~=:$")
_WORD_JOINER = "\u2060"
_PLAIN = re.compile(r"[A-Za-z0-9._:/+-]{0,200}")
_HANDLE = re.compile(r"@[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9._-]{1,100})?")


def md_text(value: Any) -> str:
    """`value` as inert inline text for a GitHub PR body (registry tags, manifest fields, holds).

    One line (control characters become spaces, so nothing starts a heading or a list),
    HTML characters as entities, markdown punctuation backslash-escaped (no emphasis,
    link, image or table cell), a word joiner after `@` (no mention) and inside `://`
    and `www.` (no autolink).
    """
    text = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in str(value))
    out = []
    for c in text:
        if c in _HTML:
            out.append(_HTML[c])
        elif c in _MARKDOWN:
            out.append("\\" + c)
        elif c == "@":
            out.append("@" + _WORD_JOINER)
        else:
            out.append(c)
    escaped = "".join(out)
    for pattern in ("\\://", "www\\."):
        escaped = escaped.replace(pattern, pattern[:2] + _WORD_JOINER + pattern[2:])
    return escaped


def _code(value: Any) -> str:
    """A value in a code span when it is plainly an identifier, else escaped text."""
    if value is None:
        return "—"
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    return f"`{text}`" if _PLAIN.fullmatch(text) else md_text(text)


def _handle(owner: str) -> str:
    """An approver: a GitHub @user or @org/team mentioned as such; anything else inert."""
    return owner if _HANDLE.fullmatch(owner) else md_text(owner)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else md_text(value)
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def pr_text(
    project: Project,
    target: EnvironmentSpec,
    new: dict[str, Any],
    old: Manifest | None,
) -> tuple[str, str]:
    """Pull-request title and markdown body for a manifest change."""
    model, env = new["model"], target.name
    was = f"v{old.version}" if old else "nothing"
    title = f"Promote {model} v{new['version']} to {env} (was {was})"
    rel = project.relative(project.manifest_path(env, model))
    lines = [
        f"## {title}",
        "",
        f"Changes `{rel}`; on merge, `modelops deploy {env}` serves the bundle pinned below.",
        "",
        "| | current | proposed |",
        "|---|---|---|",
    ]
    old_raw = old.raw if old else {}
    for key in ("version", "sha256", "run_id", "source_commit", "data_sha256", "promoted_from"):
        lines.append(f"| {key} | {_code(old_raw.get(key))} | {_code(new.get(key))} |")
    lines += ["", "### Metrics", "", "| metric | current | proposed | delta |", "|---|---|---|---|"]
    old_metrics = old_raw.get("metrics") or {}
    for metric, value in sorted((new.get("metrics") or {}).items()):
        before = old_metrics.get(metric)
        numbers = all(isinstance(v, int | float) for v in (value, before))
        delta = f"{value - before:+.4f}" if numbers else "—"
        lines.append(f"| {md_text(metric)} | {_fmt(before)} | {_fmt(value)} | {delta} |")
    if old and old.hold:
        hold = old.hold
        released = new.get("hold_released") or {}
        lines += [
            "",
            f"⚠️ This lifts the hold placed by {md_text(hold.get('by', '?'))} at "
            f"{md_text(hold.get('at', '?'))}: {md_text(hold.get('reason'))}. "
            f"Released by {md_text(released.get('by', '?'))}.",
        ]
    approvers = list(dict.fromkeys([*target.approvers, *_codeowners(project, rel)]))
    who = ", ".join(_handle(a) for a in approvers) if approvers else "anyone with write access"
    lines += [
        "",
        "### Approval",
        "",
        f"Approvers for `{env}`: {who} (environment.yaml policy.approvers and CODEOWNERS).",
    ]
    return title, "\n".join(lines) + "\n"


def promote(
    project: Project,
    model: str,
    to: str,
    *,
    version: int | None = None,
    automated: bool = False,
    release_hold: bool = False,
) -> dict[str, Any]:
    """Write the manifest of `model` into `to`; return what happened (changed or not).

    A held manifest refuses the promotion unless a person passes `release_hold`.
    """
    from modelops import registry

    spec = load_pipeline(project, model)
    target = load_environment(project, to)
    current = load_manifest(project, to, model)
    rel = project.relative(project.manifest_path(to, model))
    if automated and not target.auto_promote:
        raise PromotionError(
            f"automated promotion into '{to}' is not allowed by its policy",
            file=str(target.path),
            field="policy.auto_promote",
            hint="a person runs this promotion (workflow_dispatch or by hand)",
        )
    released = None
    if current is not None and current.hold:
        hold = current.hold
        if automated or not release_hold:
            raise PromotionError(
                f"'{model}' is held in '{to}' at version {current.version} by "
                f"{hold.get('by', 'an unknown author')} (at {hold.get('at', '?')}): "
                f"{hold.get('reason')}",
                file=rel,
                field="hold",
                hint=f"automated promotion into '{to}' waits; a person lifts the hold with "
                f"`modelops promote {model} --to {to} --release-hold`",
            )
        released = {"by": actor(project), "at": now_iso(), "hold": dict(hold)}
    if automated and release_hold:
        raise InputError(
            "automation cannot lift a hold",
            field="--release-hold",
            hint="a person runs `modelops promote ... --release-hold` (without --automated)",
        )
    doc, source = _candidate(project, spec, target, version)
    if released is not None:
        doc["hold_released"] = released
    # The metrics come from the run (logged once, at registration), never from a
    # registry tag or a manifest that someone could have edited.
    run_id = registry.get_version(project, model, doc["version"]).run_id
    doc["metrics"] = registry.run_evaluation(project, model, doc["version"], run_id)
    if target.require_gates:
        _check_gates(spec, doc["metrics"], f"{doc['model_uri']}")
    result: dict[str, Any] = {
        "model": model,
        "env": to,
        "from": source,
        "version": doc["version"],
        "sha256": doc["sha256"],
        "previous_version": current.version if current else None,
        "manifest": rel,
    }
    if (
        current is not None
        and current.version == doc["version"]
        and current.sha256 == doc["sha256"]
    ):
        return {**result, "changed": False, "title": None, "body": None}
    title, body = pr_text(project, target, doc, current)
    write_manifest(project, to, model, doc)
    return {**result, "changed": True, "title": title, "body": body}


@dataclass
class PromoteResult(CommandResult):
    """What `promote_model` wrote: the manifest, versions, and the PR title and body."""

    @property
    def changed(self) -> bool:
        return bool(self.data["changed"])


@dataclass
class HistoryResult(CommandResult):
    """`model_history`: one entry per manifest change in git, newest first."""

    @property
    def entries(self) -> list[dict[str, Any]]:
        return list(self.data["entries"])


@dataclass
class RollbackResult(CommandResult):
    """What `rollback_model` wrote: the manifest and its hold."""

    @property
    def changed(self) -> bool:
        return bool(self.data["changed"])


def promote_model(
    project: Project,
    model: str,
    to: str,
    *,
    version: int | None = None,
    pr_body: Path | None = None,
    automated: bool = False,
    release_hold: bool = False,
) -> PromoteResult:
    """Write MODEL's manifest one stage up into `to`; the result holds the PR title and body.

    `version` picks the registry version (only into dev); `pr_body` also writes the body
    there; `automated` (or MODELOPS_AUTOMATION=true) applies the automation rules;
    `release_hold` lets a person lift a rollback's hold (recorded with the git author).
    """
    outcome = promote(
        project,
        model,
        to,
        version=version,
        automated=is_automated(automated),
        release_hold=release_hold,
    )
    env = to
    if not outcome["changed"]:
        summary = [
            f"{model}: '{env}' already runs version {outcome['version']} "
            f"(sha256 {outcome['sha256'][:12]}); nothing to change"
        ]
    else:
        summary = [
            f"{model}: wrote {outcome['manifest']} (version {outcome['previous_version'] or '—'}"
            f" → {outcome['version']}, from {outcome['from']})",
            "",
            f"PR title: {outcome['title']}",
            "",
            outcome["body"],
        ]
        if pr_body:
            atomic_write_text(pr_body, outcome["body"])
            summary.append(f"PR body written to {pr_body}")
    return PromoteResult(command="promote", subject=model, data=outcome, summary=summary)


# -- history and rollback ---------------------------------------------------


def model_history(project: Project, model: str, env: str) -> HistoryResult:
    """MODEL's manifest changes in ENV from git history, newest first."""
    load_pipeline(project, model)
    entries = manifest_history(project, env, model)
    rows = [e.as_dict() for e in entries]
    summary = [f"{model} in {env}: {len(rows)} change(s) in git, newest first"]
    if rows:
        summary.append(f"{'commit':<12} {'date':<25} {'version':>7}  {'sha256':<12}  author / note")
    for row in rows:
        version = str(row["version"]) if row["version"] is not None else "removed"
        note = f"{row['author']}" + (f" HOLD: {row['hold']['reason']}" if row["hold"] else "")
        summary.append(
            f"{row['commit'][:12]:<12} {row['date']:<25} {version:>7}  "
            f"{(row['sha256'] or '')[:12]:<12}  {note}"
        )
    return HistoryResult(
        command="history",
        subject=model,
        data={"model": model, "env": env, "entries": rows},
        summary=summary,
    )


def rollback(
    project: Project, model: str, env: str, to_version: int, reason: str
) -> dict[str, Any]:
    """Write the manifest of an earlier version from git history and place a hold."""
    load_pipeline(project, model)
    load_environment(project, env)
    rel = project.relative(project.manifest_path(env, model))
    earlier = next(
        (
            e.manifest
            for e in manifest_history(project, env, model)
            if e.manifest is not None and e.manifest.version == to_version
        ),
        None,
    )
    if earlier is None:
        raise PromotionError(
            f"version {to_version} of '{model}' never ran in '{env}' (not in git history)",
            file=rel,
            field="version",
            hint=f"pick one from `modelops history {model} --env {env}`",
        )
    current = load_manifest(project, env, model)
    if current is not None and current.version == to_version and current.hold:
        return {"model": model, "env": env, "version": to_version, "changed": False}
    doc = {k: v for k, v in earlier.raw.items() if k not in ("hold", "hold_released")}
    doc.update(
        promoted_from="rollback",
        promoted_at=now_iso(),
        hold={"reason": reason, "by": actor(project), "at": now_iso()},
    )
    write_manifest(project, env, model, doc)
    return {
        "model": model,
        "env": env,
        "version": to_version,
        "sha256": doc["sha256"],
        "previous_version": current.version if current else None,
        "changed": True,
        "manifest": rel,
        "hold": doc["hold"],
    }


def rollback_model(
    project: Project, model: str, env: str, to_version: int, reason: str
) -> RollbackResult:
    """Write the manifest of an earlier version of MODEL in ENV and place a hold with `reason`."""
    if not reason.strip():
        raise InputError("a rollback needs a reason", field="--reason")
    outcome = rollback(project, model, env, to_version, reason)
    if not outcome["changed"]:
        summary = [f"{model}: '{env}' is already held at version {to_version}"]
    else:
        summary = [
            f"{model}: wrote {outcome['manifest']} (version "
            f"{outcome['previous_version'] or '—'} → {to_version}) with a hold: {reason}",
            f"commit it, then `modelops deploy {env}`; automated promotion into "
            f"'{env}' pauses until a person removes the hold",
        ]
    return RollbackResult(command="rollback", subject=model, data=outcome, summary=summary)
