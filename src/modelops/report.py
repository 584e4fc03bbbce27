"""`modelops report`: the markdown a reviewer reads on a pull request, with PNG plots.

Built only from the JSON results of data-test, train, evaluate (and register when
present). Those files come from a PR's code, so every value taken from them is
escaped before it reaches markdown: a hostile metric name or param cannot inject
HTML, links or table cells. The same results give byte-identical markdown and
PNGs, so re-running a job does not churn the PR comment: the only times shown are
a GPU instance's launch and end from the stop step's record, and the price table's
age is counted to that end (to today only for a GPU run without the record).
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

from modelops.charts import COLOURS, details, legend, xychart
from modelops.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text
from modelops.project import Project
from modelops.results import CommandResult, read_result
from modelops.runners.cost import billed_seconds
from modelops.spec import HIGHER_IS_BETTER

FIGSIZE = (5.0, 4.0)
DPI = 100
MAX_FAILURES = 10
MAX_PARAMS_TEXT = 2_000
# Characters that carry meaning in GitHub-flavoured markdown; escaped before the HTML
# escaping (which handles < > & " '), so no entity the latter writes gets a backslash.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


# A word joiner (U+2060) after `@` and inside `://` / `www.`: the text reads the same,
# but GitHub finds no @mention (no notification) and no bare URL to autolink.
_WJ = "\u2060"
_AUTOLINK = re.compile(r"(?i)(@|://|\bwww\.)")


def _defuse(text: str) -> str:
    return _AUTOLINK.sub(lambda m: m.group(1)[0] + _WJ + m.group(1)[1:], text)


def esc(value: Any) -> str:
    """Text from a results file, safe inside a markdown paragraph or table cell: no HTML,
    no markdown syntax, no @mention, no autolinked URL."""
    text = " ".join(str(value).split())  # newlines would end a table row
    return html.escape(_MD_SPECIAL.sub(r"\\\1", _defuse(text)), quote=True)


def code(value: Any) -> str:
    """Monospace text: `esc` inside `<code>`. GitHub parses markdown between inline HTML
    tags, so the content is escaped exactly like any other text (no link, no emphasis)."""
    text = esc(value)
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
    symbols = {"min": "≥", "max": "≤", "max_drop": "drop ≤", "max_rise": "rise ≤"}
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
    distribution = profile.get("target_distribution")
    if isinstance(distribution, dict) and distribution.get("count"):
        parts = [
            f"{key} {fmt(distribution.get(key))}" for key in ("mean", "std", "min", "median", "max")
        ]
        zeros = distribution.get("zeros")
        lines.append(
            f"- target distribution: {', '.join(parts)}"
            + (f"; {fmt_int(zeros)} zero(s)" if zeros else "")
        )
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
    if len(params) > MAX_PARAMS_TEXT:
        params = params[:MAX_PARAMS_TEXT] + " … (cut; see train.json)"
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


@dataclass
class ComputeCost:
    """The compute section's lines, the estimate (None when unknown) and the budget verdict."""

    lines: list[str]
    cost_usd: float | None = None
    basis: str = "none"  # "billed-life" | "training-time" | "none"
    over_budget: bool = False
    budget_line: str | None = None


def _budget_text(budget: dict[str, Any]) -> str:
    limit = f"budget: {fmt_int(budget.get('max_minutes'))} min"
    if budget.get("max_cost_usd") is not None:
        limit += f", ${float(budget['max_cost_usd']):.2f}"
    return limit


def _judge(result: ComputeCost, budget: dict[str, Any]) -> ComputeCost:
    cap = budget.get("max_cost_usd")
    if cap is None or result.cost_usd is None:
        return result
    what = "billed life" if result.basis == "billed-life" else "training time only, a lower bound"
    result.over_budget = result.cost_usd > cap
    if result.over_budget:
        result.budget_line = (
            f"cost ≈ ${result.cost_usd:.4f} ({what}) is over the budget max_cost_usd ${cap:.2f}"
        )
        result.lines[-1] += f" ❌ **Over budget**: {code('max_cost_usd')} is ${cap:.2f}."
    else:
        result.budget_line = (
            f"cost ≈ ${result.cost_usd:.4f} ({what}) within max_cost_usd ${cap:.2f}"
        )
    return result


def compute_section(
    trained: dict[str, Any],
    budget: dict[str, Any],
    billing: list[Any] | None = None,
    *,
    prices: Path | None = None,
    today: Any = None,
) -> ComputeCost:
    """What the training ran on and, on a billed GPU instance, an estimate of its cost.

    With the stop step's record (`billing`, a list of `BilledLife`) the cost is each
    instance's whole billed life (launch to terminate) priced for its region and
    market; without it, the training seconds, said to be a lower bound. The price
    table's age is relative to the instance's end (else `today`), so the same
    record renders the same text on any day.
    """
    from datetime import UTC, datetime

    from modelops.errors import InputError
    from modelops.runners.cost import BILLING_RULE, load_prices

    seconds = round(sum((trained.get("timings") or {}).values()), 1)
    compute = trained.get("compute") or {}
    instance_type = compute.get("instance_type")
    limit = _budget_text(budget)
    if not billing and (not instance_type or instance_type == "unknown"):
        return ComputeCost(
            [
                f"Trained on {code(trained.get('device', 'cpu'))} in {seconds} s; "
                f"no GPU instance was billed ({limit})."
            ]
        )
    table = load_prices(prices)  # a bad table is bad input: exit 2 before anything is written
    if billing:
        lines: list[str] = []
        total = 0.0
        unknown = []
        for life in billing:
            spot = life.market == "spot"
            try:
                hourly = table.hourly(life.instance_type, region=life.region, spot=spot)
            except InputError:
                unknown.append(life)
                continue
            cost = hourly * life.billed_seconds / 3600.0
            total += cost
            ended = "terminated" if life.end_source == "state-transition-reason" else "seen ended"
            lines.append(
                f"- {code(life.instance_id)} {code(life.instance_type)} ({esc(life.market)}, "
                f"{esc(life.region)}): launched {life.launch_time:%Y-%m-%d %H:%M:%S}Z, "
                f"{ended} {life.end_time:%H:%M:%S}Z: {life.billed_seconds:.0f} s billed × "
                f"${fmt(hourly)}/h ≈ ${cost:.4f}"
            )
        on = max(life.end_time for life in billing).date()
        age = f"{table.age_text(on)} at the run's end, from {code(table.file)}"
        if unknown:
            missing = ", ".join(
                f"{code(u.instance_type)} ({esc(u.market)}, {esc(u.region)})" for u in unknown
            )
            return ComputeCost(
                [
                    *lines,
                    "",
                    f"Cost unknown: the price table has no price for {missing} ({age}; {limit}).",
                ],
                basis="billed-life",
            )
        head = (
            f"**Estimated cost ≈ ${total:.4f}** for the GPU instance's whole billed life, "
            f"launch to terminate, read from EC2 ({BILLING_RULE}; {age}; {limit})."
        )
        return _judge(
            ComputeCost([*lines, "", head], cost_usd=round(total, 4), basis="billed-life"),
            budget,
        )
    spot = compute.get("market") == "spot"
    region = compute.get("region") or table.default_region()
    on = today or datetime.now(UTC).date()
    age = f"{table.age_text(on)}, from {code(table.file)}"
    if not isinstance(region, str) or not region:
        return ComputeCost(
            [
                f"Trained on {code(instance_type)} in {seconds} s; the instance's region was "
                f"not recorded and the table prices several, so the cost is unknown ({limit})."
            ]
        )
    try:
        hourly = table.hourly(str(instance_type), region=region, spot=spot)
    except InputError:
        return ComputeCost(
            [
                f"Trained on {code(instance_type)} ({esc('spot' if spot else 'on-demand')}, "
                f"{esc(region)}) in {seconds} s; the price table has no price for it, so the "
                f"cost is unknown ({age}; {limit})."
            ]
        )
    billed = billed_seconds(seconds)
    cost = round(hourly * billed / 3600.0, 4)
    line = (
        f"Trained on {code(instance_type)} ({esc('spot' if spot else 'on-demand')}, "
        f"{esc(region)}) in {seconds} s. The instance's billed life is unknown (no record "
        "from the runner's stop step), so this estimate counts training time only, a lower "
        f"bound: {billed:.0f} s × ${fmt(hourly)}/h ≈ **${cost:.4f}** ({BILLING_RULE}; "
        f"{age}; {limit})."
    )
    return _judge(ComputeCost([line], cost_usd=cost, basis="training-time"), budget)


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
            theirs = (((evaluation.get("champion") or {}).get("plots") or {}).get("roc")) or {}
            if theirs.get("fpr"):
                ax.plot(theirs["fpr"], theirs["tpr"], label="champion")
            ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
            ax.legend()
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate")
            ax.set_title(f"ROC ({roc.get('kind', '')})")
            fig.tight_layout()
            out["roc.png"] = _png(fig)
            plt.close(fig)
        rows = (plots.get("predicted_vs_actual") or {}).get("rows") or []
        if rows:
            fig, ax = plt.subplots(figsize=FIGSIZE)
            actual = [r["actual"] for r in rows]
            ax.plot(actual, [r["predicted"] for r in rows], marker="o", label="challenger")
            ax.plot(actual, actual, linestyle="--", color="grey", linewidth=0.8)
            ax.set_xlabel("mean actual (decile)")
            ax.set_ylabel("mean prediction")
            ax.set_title("predicted vs actual")
            ax.legend()
            fig.tight_layout()
            out["predicted_vs_actual.png"] = _png(fig)
            plt.close(fig)
        residuals = plots.get("residuals") or {}
        if residuals.get("counts"):
            fig, ax = plt.subplots(figsize=FIGSIZE)
            edges = residuals["edges"]
            ax.stairs(residuals["counts"], edges, fill=True)
            ax.set_xlabel("prediction − actual")
            ax.set_ylabel("test rows")
            ax.set_title("residuals")
            fig.tight_layout()
            out["residuals.png"] = _png(fig)
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


# -- reviewer sections (charts are Mermaid text; see modelops.charts) ---------------

COMMENT_LIMIT = 65_536  # GitHub refuses a comment body longer than this
SIZE_BUDGET = 60_000  # what the report may use, leaving room for the poster's own lines
MAX_CLASSES = 25  # per-class rows shown; the rest are counted
MAX_MATRIX = 10  # classes up to which the whole confusion matrix is shown
MAX_CELLS = 12  # changed confusion cells listed for more classes
MAX_FEATURES = 20  # PSI rows shown
MAX_PARAMS = 30
PSI_NOTABLE = 0.2


def _pct(fpr: Any) -> str:
    return f"{float(fpr) * 100:g}%" if isinstance(fpr, int | float) else "?"


def _num(values: Any) -> list[float]:
    return [float(v) if isinstance(v, int | float) else math.nan for v in values or []]


def _signed(diff: float) -> str:
    return "±0" if diff == 0 else f"{diff:+.4f}"


def gates_section(evaluation: dict[str, Any]) -> list[str]:
    """Each gate's sentence (names the champion's value and the change), and the interval."""
    lines = []
    for gate in evaluation.get("gates") or []:
        mark = "✅" if gate.get("passed") else "❌"
        text = gate.get("message") or (
            f"{gate.get('metric')} {gate.get('kind')} {gate.get('threshold')}: "
            f"got {gate.get('value')}"
        )
        noise = (
            f" ⚠️ **within noise**: the bound {fmt(gate.get('bound'))} lies inside the "
            "bootstrap interval"
            if gate.get("within_noise")
            else ""
        )
        lines.append(f"- {mark} {esc(text)}{noise}")
    interval = evaluation.get("interval") or {}
    if isinstance(interval.get("low"), int | float) and isinstance(
        interval.get("high"), int | float
    ):
        lines += [
            "",
            f"{esc(interval.get('metric'))}: 95 % bootstrap interval "
            f"[{fmt(interval['low'])}, {fmt(interval['high'])}] over "
            f"{fmt_int(interval.get('resamples'))} resamples of the test rows "
            f"(seed {fmt_int(interval.get('seed'))}). A gate whose bound lies inside it "
            "could have gone the other way on another sample.",
        ]
    return lines or ["_No gates in the spec._"]


def roc_section(plots: dict[str, Any], champion: dict[str, Any] | None) -> list[str]:
    roc = plots.get("roc") or {}
    fpr, tpr = _num(roc.get("fpr")), _num(roc.get("tpr"))
    if not fpr or len(fpr) != len(tpr):
        return []
    theirs = _num(((champion or {}).get("roc") or {}).get("tpr"))
    if len(theirs) != len(fpr):
        theirs = []
    series = [("line", tpr)] + ([("line", theirs)] if theirs else [])
    names = ["challenger"] + (["champion"] if theirs else [])
    chart = xychart(
        "ROC on the test split",
        "false positive rate",
        [_pct(x) for x in fpr],
        "true positive rate",
        series,
        y_range=(0.0, 1.0),
    )
    table = [
        "| FPR | challenger TPR |" + (" champion TPR |" if theirs else ""),
        "|---:|---:|" + ("---:|" if theirs else ""),
    ]
    for i, x in enumerate(fpr):
        row = f"| {_pct(x)} | {fmt(tpr[i])} |"
        table.append(row + (f" {fmt(theirs[i])} |" if theirs else ""))
    lines = [
        f"#### ROC ({esc(roc.get('kind', ''))})",
        "",
        chart,
        "",
        legend(names),
        "",
        *details("ROC numbers", table),
    ]
    points = roc.get("operating_points") or {}
    if points:
        theirs_points = ((champion or {}).get("roc") or {}).get("operating_points") or {}
        lines += [
            "",
            "Operating point: true-positive rate at a fixed false-positive rate.",
            "",
            "| FPR | challenger TPR | champion TPR | change |",
            "|---:|---:|---:|---:|",
        ]
        for key in sorted(points, key=lambda k: float(k) if _is_float(k) else 0.0):
            mine, other = points[key], theirs_points.get(key)
            change = (
                _signed(mine - other)
                if isinstance(mine, int | float) and isinstance(other, int | float)
                else "—"
            )
            shown = _pct(float(key)) if _is_float(key) else esc(key)
            lines.append(f"| {shown} | {fmt(mine)} | {fmt(other)} | {change} |")
    return lines


def _is_float(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def per_class_section(plots: dict[str, Any], champion: dict[str, Any] | None) -> list[str]:
    rows = [r for r in plots.get("per_class") or [] if isinstance(r, dict)]
    if not rows:
        return []
    theirs = {
        str(r.get("label")): r
        for r in ((champion or {}).get("per_class") or [])
        if isinstance(r, dict)
    }
    shown = sorted(rows, key=lambda r: -(r.get("support") or 0))[:MAX_CLASSES]
    lines = [
        "| class | precision | recall | support | champion precision | champion recall |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in shown:
        other = theirs.get(str(row.get("label")), {})
        lines.append(
            f"| {code(row.get('label'))} | {fmt(row.get('precision'))} | "
            f"{fmt(row.get('recall'))} | {fmt_int(row.get('support'))} | "
            f"{fmt(other.get('precision'))} | {fmt(other.get('recall'))} |"
        )
    if len(rows) > len(shown):
        lines.append(
            f"\n… {len(rows) - len(shown)} more classes (fewest test rows) in evaluate.json."
        )
    return lines


def confusion_section(plots: dict[str, Any], champion: dict[str, Any] | None) -> list[str]:
    labels = [str(x) for x in plots.get("labels") or []]
    counts = plots.get("confusion_matrix") or []
    if not labels or len(counts) != len(labels):
        return []
    theirs = (champion or {}).get("confusion_matrix")
    if not isinstance(theirs, list) or len(theirs) != len(labels):
        theirs = None
    if (champion or {}).get("labels") not in (None, labels):
        theirs = None  # another label set: cells do not correspond
    lines = (
        ["Test rows by actual and predicted class; (+n): n more than the champion.", ""]
        if theirs
        else []
    )
    if len(labels) <= MAX_MATRIX:
        lines += [
            "| actual ↓ / predicted → | " + " | ".join(code(x) for x in labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for i, label in enumerate(labels):
            cells = []
            for j in range(len(labels)):
                n = counts[i][j]
                cell = fmt_int(n)
                if theirs is not None:
                    d = n - theirs[i][j]
                    cell += f" ({d:+d})" if d else ""
                cells.append(cell)
            lines.append(f"| {code(label)} | " + " | ".join(cells) + " |")
        if theirs is not None:
            lines.append(
                "\n(+n): the challenger has n more test rows in that cell than the champion."
            )
        return lines
    if theirs is None:
        wrong = sorted(
            (
                (counts[i][j], i, j)
                for i in range(len(labels))
                for j in range(len(labels))
                if i != j
            ),
            reverse=True,
        )[:MAX_CELLS]
        lines += [
            "Most frequent confusions:",
            "",
            "| actual | predicted | rows |",
            "|---|---|---:|",
        ]
        lines += [
            f"| {code(labels[i])} | {code(labels[j])} | {fmt_int(n)} |" for n, i, j in wrong if n
        ]
        return lines
    changed = sorted(
        (
            (abs(counts[i][j] - theirs[i][j]), i, j)
            for i in range(len(labels))
            for j in range(len(labels))
            if counts[i][j] != theirs[i][j]
        ),
        reverse=True,
    )
    lines += [
        f"{len(labels)} classes: the {min(MAX_CELLS, len(changed))} cells that changed most "
        f"(of {len(changed)} changed).",
        "",
        "| actual | predicted | champion | challenger | change |",
        "|---|---|---:|---:|---:|",
    ]
    for _, i, j in changed[:MAX_CELLS]:
        lines.append(
            f"| {code(labels[i])} | {code(labels[j])} | {fmt_int(theirs[i][j])} | "
            f"{fmt_int(counts[i][j])} | {counts[i][j] - theirs[i][j]:+d} |"
        )
    return lines


def calibration_section(plots: dict[str, Any], champion: dict[str, Any] | None) -> list[str]:
    cal = plots.get("calibration") or {}
    rows = [r for r in cal.get("reliability") or [] if isinstance(r, dict)]
    if not rows:
        return []
    theirs = (champion or {}).get("calibration") or {}
    lines = [
        f"Brier score of {esc(cal.get('kind', ''))}: challenger {fmt(cal.get('brier'))}, "
        f"champion {fmt(theirs.get('brier'))} (lower is better).",
        "",
        "| predicted | mean predicted | observed | rows |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {esc(r.get('bin'))} | {fmt(r.get('mean_predicted'))} | {fmt(r.get('observed'))} | "
        f"{fmt_int(r.get('count'))} |"
        for r in rows
    ]
    return lines


def regression_section(plots: dict[str, Any], champion: dict[str, Any] | None) -> list[str]:
    lines: list[str] = []
    pva = plots.get("predicted_vs_actual") or {}
    rows = [r for r in pva.get("rows") or [] if isinstance(r, dict)]
    if rows:
        theirs = {
            r.get("bin"): r
            for r in ((champion or {}).get("predicted_vs_actual") or {}).get("rows") or []
            if isinstance(r, dict)
        }
        actual = _num(r.get("actual") for r in rows)
        predicted = _num(r.get("predicted") for r in rows)
        other = _num(theirs.get(r.get("bin"), {}).get("predicted") for r in rows)
        has_champion = bool(theirs) and all(math.isfinite(v) for v in other)
        series = [("bar", actual), ("line", predicted)] + (
            [("line", other)] if has_champion else []
        )
        names = ["mean actual", "challenger's mean prediction"] + (
            ["champion's mean prediction"] if has_champion else []
        )
        values = actual + predicted + (other if has_champion else [])
        low, high = min(values), max(values)
        chart = xychart(
            "Predicted vs actual, by decile of the actual value",
            "decile of the actual value",
            [str(i + 1) for i in range(len(rows))],
            "target",
            series,
            y_range=(min(0.0, low), high + (high - min(0.0, low)) * 0.05),
        )
        table = [
            "| decile | actual range | rows | mean actual | challenger | champion |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for i, r in enumerate(rows):
            table.append(
                f"| {i + 1} | {esc(r.get('bin'))} | {fmt_int(r.get('count'))} | "
                f"{fmt(r.get('actual'))} | {fmt(r.get('predicted'))} | "
                f"{fmt(theirs.get(r.get('bin'), {}).get('predicted'))} |"
            )
        lines += [
            "#### Predicted vs actual",
            "",
            chart,
            "",
            legend(names) + ". A perfect model's lines sit on the bars.",
            "",
            *details("Predicted vs actual numbers", table),
            "",
        ]
    residuals = plots.get("residuals") or {}
    counts, edges = _num(residuals.get("counts")), _num(residuals.get("edges"))
    if counts and len(edges) == len(counts) + 1:
        centres = [f"{(edges[i] + edges[i + 1]) / 2:.4g}" for i in range(len(counts))]
        chart = xychart(
            "Residuals (prediction minus actual)",
            "residual (bin centre)",
            centres,
            "test rows",
            [("bar", counts)],
            y_range=(0.0, max(counts) * 1.1 or 1.0),
        )
        theirs = (champion or {}).get("residuals") or {}
        table = ["| residual from | to | rows |", "|---:|---:|---:|"]
        table += [
            f"| {fmt(edges[i])} | {fmt(edges[i + 1])} | {fmt_int(int(counts[i]))} |"
            for i in range(len(counts))
        ]
        lines += [
            "#### Residuals",
            "",
            chart,
            "",
            f"Mean residual {fmt(residuals.get('mean'))} (std {fmt(residuals.get('std'))}); "
            f"champion: mean {fmt(theirs.get('mean'))} (std {fmt(theirs.get('std'))}).",
            "",
            *details("Residual histogram numbers", table),
        ]
    return lines


def loss_section(plots: dict[str, Any]) -> list[str]:
    losses = {str(k): v for k, v in (plots.get("losses") or {}).items() if isinstance(v, list)}
    if not losses:
        return []
    keys = sorted(losses)[: len(COLOURS)]
    steps = sorted({int(p[0]) for k in keys for p in losses[k] if _point(p)})
    if len(steps) < 2:
        return []
    by_key = {k: {int(p[0]): float(p[1]) for p in losses[k] if _point(p)} for k in keys}
    # A curve missing a step repeats its previous value (Mermaid needs one value per step).
    series = []
    for k in keys:
        last = next(iter(by_key[k].values()))
        points = []
        for s in steps:
            last = by_key[k].get(s, last)
            points.append(last)
        series.append(("line", points))
    chart = xychart(
        "Training loss",
        "step",
        [str(s) for s in steps],
        "loss",
        series,
        y_range=(0.0, max(v for _, pts in series for v in pts) * 1.05 or 1.0),
    )
    table = ["| step | " + " | ".join(esc(k) for k in keys) + " |", "|---:|" + "---:|" * len(keys)]
    table += [f"| {s} | " + " | ".join(fmt(by_key[k].get(s)) for k in keys) + " |" for s in steps]
    names = [f"{k}" for k in keys]
    return [
        "#### Loss curves",
        "",
        chart,
        "",
        esc(legend(names)),
        "",
        *details("Loss numbers", table),
    ]


def _point(p: Any) -> bool:
    return (
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, int | float) for v in p)
    )


def changes_section(evaluation: dict[str, Any]) -> list[str]:
    """Params that differ from the champion's, and how its training data changed."""
    changes = evaluation.get("changes")
    if not evaluation.get("champion"):
        return []
    if not isinstance(changes, dict):
        return [
            "_The champion's bundle records no training profile (trained by an older modelops)._"
        ]
    lines: list[str] = []
    params = changes.get("params")
    if params is None:
        lines.append("Params: the champion recorded none.")
    elif not params:
        lines.append("Params: the same as the champion's.")
    else:
        lines += ["| param | champion | challenger |", "|---|---|---|"]
        for row in params[:MAX_PARAMS]:
            lines.append(
                f"| {code(row.get('param'))} | {code(_json(row.get('champion')))} | "
                f"{code(_json(row.get('challenger')))} |"
            )
        if len(params) > MAX_PARAMS:
            lines.append(f"\n… {len(params) - MAX_PARAMS} more changed params in evaluate.json.")
    data = changes.get("data")
    if isinstance(data, dict):
        rows = data.get("rows") or {}
        lines += [
            "",
            f"Training rows: champion {fmt_int(rows.get('champion'))}, "
            f"challenger {fmt_int(rows.get('challenger'))}.",
            "",
        ]
        balance = data.get("class_balance") or {}
        if isinstance(balance.get("challenger"), dict) or isinstance(balance.get("champion"), dict):
            mine, theirs = balance.get("challenger") or {}, balance.get("champion") or {}
            labels = sorted(set(mine) | set(theirs), key=str)
            lines += ["| class | champion share | challenger share |", "|---|---:|---:|"]
            for label in labels[:MAX_CLASSES]:
                lines.append(
                    f"| {code(label)} | {_fraction(theirs.get(label, '—'))} | "
                    f"{_fraction(mine.get(label, '—'))} |"
                )
            if len(labels) > MAX_CLASSES:
                lines.append(f"\n… {len(labels) - MAX_CLASSES} more classes in evaluate.json.")
            lines.append("")
        dist = data.get("target_distribution") or {}
        if isinstance(dist.get("challenger"), dict):
            mine, theirs = dist.get("challenger") or {}, dist.get("champion") or {}
            lines += ["| target | champion | challenger |", "|---|---:|---:|"]
            for key in ("mean", "std", "min", "p25", "median", "p75", "max"):
                lines.append(f"| {key} | {fmt(theirs.get(key))} | {fmt(mine.get(key))} |")
            lines.append("")
        psi_rows = sorted(
            (r for r in data.get("psi") or [] if isinstance(r, dict)),
            key=lambda r: -r["psi"] if isinstance(r.get("psi"), int | float) else 0.0,
        )
        if psi_rows:
            notable = sum(
                1
                for r in psi_rows
                if isinstance(r.get("psi"), int | float) and r["psi"] > PSI_NOTABLE
            )
            lines += [
                f"PSI of each feature, challenger's training data against the champion's: "
                f"{notable} of {len(psi_rows)} above {PSI_NOTABLE}.",
                "",
                "| feature | PSI |",
                "|---|---:|",
            ]
            for r in psi_rows[:MAX_FEATURES]:
                value = r.get("psi")
                flag = " ⚠️" if isinstance(value, int | float) and value > PSI_NOTABLE else ""
                lines.append(f"| {code(r.get('feature'))} | {fmt(value)}{flag} |")
            if len(psi_rows) > MAX_FEATURES:
                lines.append(
                    f"\n… {len(psi_rows) - MAX_FEATURES} more features (lower PSI) in "
                    "evaluate.json."
                )
    return lines


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def fit_to_limit(sections: list[tuple[str, list[str]]], head: list[str], tail: list[str]) -> str:
    """Join the report; drop the lowest-priority sections (last first) past SIZE_BUDGET.

    Each dropped section leaves one line saying it is in the workflow artifact.
    """
    kept = list(sections)
    while True:
        body = list(head)
        for title, lines in kept:
            body += ["", f"### {title}", "", *lines]
        dropped = [t for t, _ in sections if t not in {k for k, _ in kept}]
        if dropped:
            body += [
                "",
                f"_Left out to fit GitHub's comment limit: {', '.join(dropped)} "
                "(see report.json and evaluate.json in the workflow artifact)._",
            ]
        text = "\n".join([*body, *tail])
        if len(text) <= SIZE_BUDGET or not kept:
            return text
        kept.pop()


# -- the report ---------------------------------------------------------------


def render_markdown(
    model: str,
    trained: dict[str, Any],
    evaluation: dict[str, Any],
    data_test: dict[str, Any] | None,
    registered: dict[str, Any] | None,
    plots: list[str],
    budget: dict[str, Any] | None = None,
    cost: ComputeCost | None = None,
) -> str:
    """The PR comment: everything renders on github.com (Mermaid charts, tables), no images.

    `plots` names the PNG copies, which stay in the workflow artifact; `cost` is the
    compute section (`compute_section`), whose budget line joins the gates.
    """
    cost = cost or compute_section(trained, budget or {})
    gates = evaluation.get("gates") or []
    failed = [g for g in gates if not g.get("passed")]
    verdict = "✅ gates passed" if not failed else f"❌ {len(failed)} gate(s) failed"
    if cost.over_budget:
        verdict += ", ❌ over budget"
    champion = evaluation.get("champion")
    theirs = (champion or {}).get("plots") if isinstance(champion, dict) else None
    charts = evaluation.get("plots") or {}
    positive = evaluation.get("positive_class")
    head = [
        watermark(model),
        f"## {esc(model)}: {verdict}",
        "",
        esc(evaluation.get("champion_note", ""))
        if not champion
        else f"Challenger run {code(trained.get('run_id'))} against the prod champion, "
        f"version {fmt_int(champion.get('version'))} (same test split, "
        f"{fmt_int((evaluation.get('split') or {}).get('test_rows'))} rows).",
    ]
    if positive is not None:
        head += ["", f"Positive class: {code(positive)}."]
    gate_lines = gates_section(evaluation)
    if cost.budget_line:
        mark = "❌" if cost.over_budget else "✅"
        budget_line = f"- {mark} {esc(cost.budget_line)} (see Compute)"
        gate_lines = [budget_line] if not gates else [*gate_lines, budget_line]
    head += ["", "### Gates", "", *gate_lines]
    head += ["", "### Metrics", "", *metrics_table(evaluation)]
    sections: list[tuple[str, list[str]]] = [("Data tests", data_section(data_test))]
    if evaluation.get("task") == "regression" or "predicted_vs_actual" in charts:
        sections.append(("Predictions", regression_section(charts, theirs)))
    else:
        sections.append(("ROC and operating point", roc_section(charts, theirs)))
        sections.append(("Per class", per_class_section(charts, theirs)))
        sections.append(("Confusion matrix", confusion_section(charts, theirs)))
        sections.append(("Calibration", calibration_section(charts, theirs)))
    sections.append(("Changes against the champion", changes_section(evaluation)))
    sections.append(("Training", loss_section(charts)))
    sections = [(title, lines) for title, lines in sections if lines]
    tail = ["", "### Compute", "", *cost.lines]
    tail += ["", "### Reproducibility", "", *reproducibility(trained, registered)]
    if plots:
        tail += [
            "",
            f"PNG copies of the charts ({', '.join(esc(p) for p in plots)}) are in the "
            "workflow run's report artifact.",
        ]
    return fit_to_limit(sections, head, [*tail, ""])


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


def write_report(
    project: Project,
    model: str,
    *,
    output: Path | None = None,
    billing: Path | None = None,
    prices: Path | None = None,
) -> ReportResult:
    """Write report.md, its PNGs and report.json for MODEL from the earlier results.

    `output` is the report folder (default: `.modelops/reports/MODEL`); `billing` the GPU
    instance's billed life from `modelops runners stop --billing-out` (validated; without
    it the cost counts training time only); `prices` the price table. A cost over the
    spec's `max_cost_usd` fails the report's budget line: exit 1, after writing it.
    """
    from modelops.errors import GateFailure
    from modelops.runners.billing import load_billing
    from modelops.spec import load_pipeline

    spec = load_pipeline(project, model)
    trained = read_result(project, spec.name, "train", needed_by="report")
    evaluation = read_result(project, spec.name, "evaluate", needed_by="report")
    data_test = _optional(project, spec.name, "data-test")
    registered = _optional(project, spec.name, "register")
    if registered and registered.get("run_id") != trained.get("run_id"):
        registered = None  # an earlier run's registration says nothing about this one
    lives = load_billing(billing) if billing is not None else None
    output = output or project.state_dir / "reports" / spec.name
    budget = {"max_minutes": spec.compute.max_minutes, "max_cost_usd": spec.compute.max_cost_usd}
    cost = compute_section(trained, budget, lives, prices=prices)
    pngs = render_plots(evaluation)
    markdown = render_markdown(
        spec.name, trained, evaluation, data_test, registered, sorted(pngs), budget, cost
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
        "passed": all(g.get("passed") for g in gates) and not cost.over_budget,
        "failed_gates": [f"{g.get('metric')} {g.get('kind')}" for g in gates if not g.get("passed")]
        + (["cost max_cost_usd"] if cost.over_budget else []),
        "cost": {
            "estimate_usd": cost.cost_usd,
            "basis": cost.basis,
            "estimate": True,
            "max_cost_usd": spec.compute.max_cost_usd,
            "over_budget": cost.over_budget,
        },
        "run_id": trained.get("run_id"),
        "metrics": evaluation.get("metrics"),
        "champion_version": (evaluation.get("champion") or {}).get("version"),
    }
    # Paths inside the folder are relative, so the folder is identical wherever it is written.
    atomic_write_json(output / "report.json", {**summary, "report": report_path.name})
    lines = [f"{spec.name}: report at {project.relative(report_path)}"]
    if not cost.over_budget:
        return ReportResult("report", spec.name, summary, lines)
    error = GateFailure(
        f"{spec.name}: {cost.budget_line}",
        file=spec.path,
        field="train.compute.max_cost_usd",
        hint="the report is written; raise the budget in the spec (reviewed) or train cheaper",
    )
    return ReportResult("report", spec.name, summary, lines, exit_code=1, error=error)
