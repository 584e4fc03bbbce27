"""`modelops report`: the markdown a reviewer reads on a pull request, with PNG plots.

Built only from the JSON results of data-test, train, evaluate (and register when
present). Those files come from a PR's code, so every value taken from them is
escaped before it reaches markdown: a hostile metric name or param cannot inject
HTML, links or table cells. The same results give byte-identical markdown and
PNGs (no timestamps anywhere), so re-running a job does not churn the PR comment.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelops.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text
from modelops.project import Project
from modelops.results import CommandResult, read_result
from modelops.spec import HIGHER_IS_BETTER

FIGSIZE = (5.0, 4.0)
DPI = 100
MAX_FAILURES = 10
# Characters that carry meaning in GitHub-flavoured markdown (after HTML escaping).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def esc(value: Any) -> str:
    """Text from a results file, safe inside a markdown paragraph or table cell."""
    text = " ".join(str(value).split())  # newlines would end a table row
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def code(value: Any) -> str:
    """Inline code that no backtick in `value` can close; HTML-escaped as GitHub renders it."""
    text = html.escape(" ".join(str(value).split()), quote=True).replace("|", "&#124;")
    return f"<code>{text}</code>" if text else "—"


def watermark(model: str) -> str:
    """Hidden marker a CI job finds to update its earlier comment instead of adding one."""
    safe = re.sub(r"[^a-z0-9_-]", "_", model.lower())
    return f"<!-- modelops-report:{safe} -->"


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int | float):
        return "—" if not math.isfinite(value) else f"{value:.4f}"
    return esc(value)


def _gate_text(gates: list[dict[str, Any]]) -> str:
    symbols = {"min": "≥", "max": "≤", "max_drop": "drop ≤"}
    return (
        "; ".join(f"{symbols.get(g['kind'], esc(g['kind']))} {fmt(g['threshold'])}" for g in gates)
        or "—"
    )


def metrics_table(evaluation: dict[str, Any]) -> list[str]:
    """metric | challenger | champion | delta | gate | result, one row per metric."""
    champion = (evaluation.get("champion") or {}).get("metrics") or {}
    gates = evaluation.get("gates") or []
    rows = [
        "| metric | challenger | champion | delta | gate | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, value in sorted((evaluation.get("metrics") or {}).items()):
        own = [g for g in gates if g.get("metric") == name]
        best = champion.get(name)
        delta = "—"
        if isinstance(best, int | float) and isinstance(value, int | float):
            diff = value - best
            better = diff >= 0 if HIGHER_IS_BETTER.get(name, True) else diff <= 0
            delta = f"{diff:+.4f} {'▲' if better else '▼'}" if diff else "±0"
        result = "—" if not own else ("✅ pass" if all(g.get("passed") for g in own) else "❌ fail")
        rows.append(
            f"| {esc(name)} | {fmt(value)} | {fmt(best)} | {delta} | {_gate_text(own)} | {result} |"
        )
    return rows


def data_section(data_test: dict[str, Any] | None) -> list[str]:
    """The data-test result (`modelops data-test`): schema failures, profile, split, leakage."""
    if data_test is None:
        return ["_No data-test result: run `modelops data-test` first._"]
    schema = data_test.get("schema") or {}
    profile = data_test.get("profile") or {}
    failures = schema.get("failures") or []
    mark = "✅" if data_test.get("passed") else "❌"
    lines = [
        f"{mark} {fmt_int(schema.get('checks'))} schema checks, **{len(failures)} failing** on "
        f"{fmt_int(profile.get('rows'))} rows of {code(data_test.get('file', '—'))}, "
        f"sha256 {code(data_test.get('sha256', '—'))}",
        "",
    ]
    for failure in failures[:MAX_FAILURES]:
        text = failure.get("message", failure) if isinstance(failure, dict) else failure
        lines.append(f"- ❌ {esc(text)}")
    if len(failures) > MAX_FAILURES:
        lines.append(f"- … and {len(failures) - MAX_FAILURES} more (see data-test.json)")
    balance = profile.get("class_balance")
    if isinstance(balance, dict) and balance:
        parts = [
            f"{esc(label)}: {_fraction(share)}" for label, share in sorted(balance.items(), key=str)
        ]
        lines.append(f"- class balance: {', '.join(parts)}")
    missing = profile.get("missing")
    if isinstance(missing, dict):
        text = ", ".join(f"{esc(k)}: {fmt_int(v)}" for k, v in sorted(missing.items()) if v)
        lines.append(f"- missing values: {text or 'none'}")
    split = data_test.get("split")
    if isinstance(split, dict):
        lines.append(
            f"- split: train {fmt_int(split.get('train_rows'))} / test "
            f"{fmt_int(split.get('test_rows'))} (seed {fmt_int(split.get('seed'))})"
        )
    leakage = data_test.get("leakage")
    if isinstance(leakage, dict):
        mark = "✅" if leakage.get("passed") else "❌"
        share, limit = leakage.get("duplicate_share"), leakage.get("max_duplicate_share")
        share_text = (
            f" ({share:.2%} of the test split, limit {limit:.2%})"
            if isinstance(share, int | float) and isinstance(limit, int | float)
            else ""
        )
        lines.append(
            f"- leakage {mark}: {fmt_int(leakage.get('by_id', 0))} test rows share an id with "
            f"training; {fmt_int(leakage.get('by_features'))} repeat a training row in features "
            f"and target{share_text}"
        )
    return lines


def _fraction(share: Any) -> str:
    if isinstance(share, dict) and isinstance(share.get("fraction"), int | float):
        return f"{share['fraction']:.1%}"
    return esc(share)


def fmt_int(value: Any) -> str:
    return str(value) if isinstance(value, int) else esc(value if value is not None else "—")


def reproducibility(trained: dict[str, Any], registered: dict[str, Any] | None) -> list[str]:
    params = json.dumps(trained.get("params", {}), sort_keys=True)
    hw = trained.get("hardware") or {}
    hw_text = ", ".join(f"{k}: {v}" for k, v in sorted(hw.items()))
    rows_ = trained.get("rows") or {}
    versions = ", ".join(f"{k} {v}" for k, v in sorted((trained.get("versions") or {}).items()))
    rows = [
        ("commit", trained.get("commit")),
        ("data sha256", trained.get("data_sha256")),
        ("params", params),
        ("seed", trained.get("seed")),
        ("run id", trained.get("run_id")),
        ("artifact sha256", trained.get("sha256")),
        ("device", trained.get("device")),
        ("hardware", hw_text),
        ("versions", versions),
        (
            "rows (train / test)",
            f"{rows_.get('train')} / {rows_.get('test')}",
        ),
    ]
    if registered:
        rows.append(("registered", registered.get("model_uri")))
    return ["| | |", "|---|---|", *(f"| {label} | {code(value)} |" for label, value in rows)]


def compute_section(trained: dict[str, Any], budget: dict[str, Any]) -> list[str]:
    """What the training run ran on and, on a billed GPU instance, what it cost.

    The instance type and market come from the runner's instance metadata
    (recorded by `train`); the price from the runners' price table.
    """
    from modelops.errors import InputError
    from modelops.runners.cost import cost_estimate

    seconds = round(sum((trained.get("timings") or {}).values()), 1)
    compute = trained.get("compute") or {}
    instance_type = compute.get("instance_type")
    limit = f"budget: {fmt_int(budget.get('max_minutes'))} min"
    if budget.get("max_cost_usd") is not None:
        limit += f", ${fmt(budget['max_cost_usd'])}"
    if not instance_type or instance_type == "unknown":
        return [
            f"Trained on {code(trained.get('device', 'cpu'))} in {seconds} s; "
            f"no GPU instance was billed ({limit})."
        ]
    spot = compute.get("market") == "spot"
    try:
        cost = cost_estimate(instance_type, seconds, spot)
    except InputError:
        return [
            f"Trained on {code(instance_type)} in {seconds} s; its price is not in the "
            f"price table, so the cost is unknown ({limit})."
        ]
    over = budget.get("max_cost_usd") is not None and cost["cost_usd"] > budget["max_cost_usd"]
    return [
        f"Trained on {code(instance_type)} ({esc(cost['market'])}) in {seconds} s: "
        f"${fmt(cost['usd_per_hour'])}/h × {cost['billed_seconds']:.0f} s billed = "
        f"**${cost['cost_usd']:.4f}** ({limit}){' ⚠️ over budget' if over else ''}."
    ]


# -- plots ------------------------------------------------------------------


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # No Software/creation-time chunks: the same data gives the same bytes.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def render_plots(evaluation: dict[str, Any]) -> dict[str, bytes]:
    """PNG files by name: confusion matrix and ROC, plus a loss curve when one was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = evaluation.get("plots") or {}
    out: dict[str, bytes] = {}
    labels = [str(x) for x in plots.get("labels", [])]
    counts = plots.get("confusion_matrix")
    with plt.rc_context({"font.size": 8}):
        if counts:
            fig, ax = plt.subplots(figsize=FIGSIZE)
            ax.imshow(counts, cmap="Blues")
            ax.set_xticks(range(len(labels)), labels)
            ax.set_yticks(range(len(labels)), labels)
            ax.set_xlabel("predicted")
            ax.set_ylabel("actual")
            ax.set_title("confusion matrix (test split)")
            peak = max(max(row) for row in counts) or 1
            for i, row in enumerate(counts):
                for j, n in enumerate(row):
                    ax.text(
                        j,
                        i,
                        str(n),
                        ha="center",
                        va="center",
                        color="white" if n > peak / 2 else "black",
                    )
            fig.tight_layout()
            out["confusion_matrix.png"] = _png(fig)
            plt.close(fig)
        roc = plots.get("roc")
        if roc:
            fig, ax = plt.subplots(figsize=FIGSIZE)
            ax.plot(roc["fpr"], roc["tpr"], label="challenger")
            ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate")
            ax.set_title(f"ROC ({roc.get('kind', '')})")
            fig.tight_layout()
            out["roc.png"] = _png(fig)
            plt.close(fig)
        losses = plots.get("losses") or {}
        if losses:
            fig, ax = plt.subplots(figsize=FIGSIZE)
            for key in sorted(losses):
                steps = [p[0] for p in losses[key]]
                ax.plot(steps, [p[1] for p in losses[key]], label=str(key))
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss")
            ax.set_title("training loss")
            ax.legend()
            fig.tight_layout()
            out["loss.png"] = _png(fig)
            plt.close(fig)
    return out


# -- the report ---------------------------------------------------------------


def render_markdown(
    model: str,
    trained: dict[str, Any],
    evaluation: dict[str, Any],
    data_test: dict[str, Any] | None,
    registered: dict[str, Any] | None,
    plots: list[str],
    budget: dict[str, Any] | None = None,
) -> str:
    gates = evaluation.get("gates") or []
    failed = [g for g in gates if not g.get("passed")]
    verdict = "✅ gates passed" if not failed else f"❌ {len(failed)} gate(s) failed"
    champion = evaluation.get("champion")
    lines = [
        watermark(model),
        f"## {esc(model)}: {verdict}",
        "",
        esc(evaluation.get("champion_note", ""))
        if not champion
        else f"Challenger run {code(trained.get('run_id'))} against the prod champion, "
        f"version {fmt_int(champion.get('version'))} (same test split, "
        f"{fmt_int((evaluation.get('split') or {}).get('test_rows'))} rows).",
        "",
        "### Metrics",
        "",
        *metrics_table(evaluation),
    ]
    if failed:
        lines += ["", "Failed gates:"]
        lines += [
            f"- {esc(g.get('metric'))} {esc(g.get('kind'))} {fmt(g.get('threshold'))}: "
            f"got {fmt(g.get('value'))}"
            for g in failed
        ]
    lines += ["", "### Data tests", "", *data_section(data_test)]
    if plots:
        lines += ["", "### Plots", ""]
        lines += [f"![{name.removesuffix('.png').replace('_', ' ')}]({name})" for name in plots]
    lines += ["", "### Compute", "", *compute_section(trained, budget or {})]
    lines += ["", "### Reproducibility", "", *reproducibility(trained, registered), ""]
    return "\n".join(lines)


def _optional(project: Project, model: str, command: str) -> dict[str, Any] | None:
    path = project.results_dir(model) / f"{command}.json"
    if not path.is_file():
        return None
    return read_result(project, model, command, needed_by="report")


@dataclass
class ReportResult(CommandResult):
    """What `write_report` wrote: the report path, its plots, and whether every gate passed."""

    @property
    def report(self) -> Path:
        return Path(self.data["report"])

    @property
    def passed(self) -> bool:
        return bool(self.data["passed"])


def write_report(project: Project, model: str, *, output: Path | None = None) -> ReportResult:
    """Write report.md, its PNGs and report.json for MODEL from the earlier results.

    `output` is the report folder (default: `.modelops/reports/MODEL`).
    """
    from modelops.spec import load_pipeline

    spec = load_pipeline(project, model)
    trained = read_result(project, spec.name, "train", needed_by="report")
    evaluation = read_result(project, spec.name, "evaluate", needed_by="report")
    data_test = _optional(project, spec.name, "data-test")
    registered = _optional(project, spec.name, "register")
    if registered and registered.get("run_id") != trained.get("run_id"):
        registered = None  # an earlier run's registration says nothing about this one
    output = output or project.state_dir / "reports" / spec.name
    pngs = render_plots(evaluation)
    budget = {"max_minutes": spec.compute.max_minutes, "max_cost_usd": spec.compute.max_cost_usd}
    markdown = render_markdown(
        spec.name, trained, evaluation, data_test, registered, sorted(pngs), budget
    )
    for name, data in sorted(pngs.items()):
        atomic_write_bytes(output / name, data)
    report_path = output / "report.md"
    atomic_write_text(report_path, markdown)
    gates = evaluation.get("gates") or []
    summary = {
        "model": spec.name,
        "report": str(report_path),
        "plots": sorted(pngs),
        "passed": all(g.get("passed") for g in gates),
        "failed_gates": [
            f"{g.get('metric')} {g.get('kind')}" for g in gates if not g.get("passed")
        ],
        "run_id": trained.get("run_id"),
        "metrics": evaluation.get("metrics"),
        "champion_version": (evaluation.get("champion") or {}).get("version"),
    }
    # Paths inside the folder are relative, so the folder is identical wherever it is written.
    atomic_write_json(output / "report.json", {**summary, "report": report_path.name})
    return ReportResult(
        "report", spec.name, summary, [f"{spec.name}: report at {project.relative(report_path)}"]
    )
