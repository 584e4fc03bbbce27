"""`modelops report`: deterministic markdown and PNGs, every results value escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelops.cli import main
from modelops.report import esc, render_markdown

TRAIN = {
    "run_id": "abc123",
    "commit": "c0ffee",
    "data_sha256": "d" * 64,
    "sha256": "e" * 64,
    "params": {"bias": 0.6},
    "seed": 3,
    "device": "cpu",
    "hardware": {"cores": 2},
    "versions": {"python": "3.11"},
    "rows": {"train": 8, "test": 2},
}
EVALUATION = {
    "run_id": "abc123",
    "metrics": {"accuracy": 0.9, "log_loss": 0.3},
    "champion": {"version": 4, "metrics": {"accuracy": 0.95, "log_loss": 0.2}},
    "champion_note": "champion: prod runs version 4",
    "gates": [
        {"metric": "accuracy", "kind": "max_drop", "threshold": 0.01, "value": 0.9, "passed": False}
    ],
    "split": {"test_rows": 2},
    "plots": {
        "labels": ["0", "1"],
        "confusion_matrix": [[1, 0], [1, 0]],
        "roc": {"kind": "positive class 1", "fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1]},
        "losses": {"train_loss": [[1, 0.9], [2, 0.4]]},
    },
}


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose results folder holds train/evaluate results (no training needed)."""
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "toy.yaml").write_text(
        "name: toy\nowner: t\ndata: {path: d.csv, schema: 'm.s:S', target: y}\n"
        "train: {entrypoint: m}\nevaluate: {task: binary_classification, "
        "metrics: [accuracy, log_loss], primary_metric: accuracy}\n"
    )
    folder = root / ".modelops" / "results" / "toy"
    folder.mkdir(parents=True)
    (folder / "train.json").write_text(json.dumps(TRAIN))
    (folder / "evaluate.json").write_text(json.dumps(EVALUATION))
    monkeypatch.chdir(root)
    return root


def test_report_has_table_verdict_watermark_and_plots(results: Path) -> None:
    """The report names the verdict and compares with the champion; the PNGs are written
    beside it but never linked (a relative image link is a broken image on GitHub)."""
    assert main(["report", "toy"]) == 0
    out = results / ".modelops" / "reports" / "toy"
    text = (out / "report.md").read_text()
    assert text.startswith("<!-- modelops-report:toy -->\n## toy: ❌ 1 gate(s) failed")
    assert "| accuracy | 0.9000 | 0.9500 | -0.0500 ▼ | drop ≤ 0.0100 | ❌ fail |" in text
    assert "| log\\_loss | 0.3000 | 0.2000 | +0.1000 ▼ | — | — |" in text
    for png in ("confusion_matrix.png", "roc.png", "loss.png"):
        assert f"]({png})" not in text and f"src={png}" not in text
        assert (out / png).read_bytes().startswith(b"\x89PNG")
    assert "![" not in text and "<img" not in text
    assert "<code>c0ffee</code>" in text and "<code>abc123</code>" in text
    assert json.loads((out / "report.json").read_text())["failed_gates"] == ["accuracy max_drop"]


def test_same_inputs_give_identical_bytes(results: Path, tmp_path: Path) -> None:
    """Two renders of the same results are byte-identical, markdown and PNGs alike."""
    assert main(["report", "toy", "--output", str(tmp_path / "a")]) == 0
    assert main(["report", "toy", "--output", str(tmp_path / "b")]) == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "report.md" in files and "roc.png" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_hostile_values_are_escaped() -> None:
    """A metric name or param with HTML, pipes or newlines cannot inject markup or cells."""
    hostile = "<img src=x onerror=alert(1)>|x\n| injected | row |"
    evaluation = {
        **EVALUATION,
        "metrics": {hostile: 0.5},
        "gates": [
            {"metric": hostile, "kind": "min", "threshold": 0.1, "value": 0.5, "passed": True}
        ],
        "champion": None,
        "champion_note": hostile,
    }
    train = {**TRAIN, "params": {"p": "</code><script>x</script>"}, "commit": "`a` | b"}
    text = render_markdown("toy", train, evaluation, None, None, [])
    assert "<img" not in text and "<script" not in text and "</code><" not in text
    assert "&\\#" not in text  # an entity the HTML escaping wrote is not broken by a backslash
    table_rows = [line for line in text.splitlines() if "img" in line and line.startswith("|")]
    assert table_rows and all(line.count("|") - line.count("\\|") == 7 for line in table_rows)
    assert "\n| injected" not in text
    assert esc("a|b") == "a\\|b"


def test_missing_evaluation_is_a_clear_error(results: Path, capsys) -> None:
    """Without evaluate.json the report refuses with exit 2 and says what to run."""
    (results / ".modelops" / "results" / "toy" / "evaluate.json").unlink()
    assert main(["report", "toy"]) == 2
    assert "modelops evaluate toy" in capsys.readouterr().err


def _prices(path: Path) -> Path:
    """A price table with a fixed as_of, two regions, one type priced only on-demand."""
    path.write_text(
        json.dumps(
            {
                "as_of": "2026-10-01",
                "source": "test",
                "currency": "USD",
                "regions": {
                    "us-east-1": {"on_demand": {"g5.xlarge": 1.2}, "spot": {"g5.xlarge": 0.36}},
                    "eu-west-1": {"on_demand": {"g5.xlarge": 1.8}, "spot": {}},
                },
            }
        )
    )
    return path


def _billing(path: Path, **changes: object) -> Path:
    item = {
        "instance_id": "i-0123456789abcdef0",
        "instance_type": "g5.xlarge",
        "region": "us-east-1",
        "market": "spot",
        "state": "terminated",
        "launch_time": "2026-11-29T22:00:00Z",
        "end_time": "2026-11-29T22:50:00Z",
        "end_source": "state-transition-reason",
        **changes,
    }
    path.write_text(json.dumps({"instances": [item]}))
    return path


GPU_TRAIN = {
    **TRAIN,
    "timings": {"train": 100.0, "bundle": 20.0},
    "compute": {"instance_type": "g5.xlarge", "market": "spot", "region": "us-east-1"},
}


def test_cost_is_the_whole_billed_life_priced_for_region_and_market(tmp_path: Path) -> None:
    """With the stop record, cost = launch-to-terminate seconds × the region's market price,
    labelled an estimate, with the table's age at the run's end."""
    from modelops.report import compute_section
    from modelops.runners.billing import load_billing

    prices = _prices(tmp_path / "p.json")
    lives = load_billing(_billing(tmp_path / "b.json"))
    cost = compute_section(GPU_TRAIN, {"max_minutes": 60}, lives, prices=prices)
    text = "\n".join(cost.lines)
    assert cost.basis == "billed-life" and cost.cost_usd == 0.3  # 3000 s × $0.36/h
    assert "3000 s billed" in text and "Estimated cost ≈ $0.3000" in text
    assert "launch to terminate" in text and "per second, 60 s minimum" in text
    assert "prices as of 2026-10-01, 59 days old" in text
    on_demand = load_billing(_billing(tmp_path / "b.json", market="on-demand", region="eu-west-1"))
    cost = compute_section(GPU_TRAIN, {"max_minutes": 60}, on_demand, prices=prices)
    assert cost.cost_usd == 1.5  # 3000 s × $1.80/h


def test_without_a_record_the_cost_counts_training_time_and_says_so(tmp_path: Path) -> None:
    """No stop record: the estimate counts training seconds only and is called a lower bound."""
    from datetime import date

    from modelops.report import compute_section

    prices = _prices(tmp_path / "p.json")
    cost = compute_section(GPU_TRAIN, {"max_minutes": 30}, prices=prices, today=date(2026, 10, 11))
    (line,) = cost.lines
    assert cost.basis == "training-time" and cost.cost_usd == 0.012  # 120 s × $0.36/h
    assert "billed life is unknown" in line and "lower bound" in line
    assert "prices as of 2026-10-01, 10 days old" in line


def test_unknown_region_or_type_says_cost_unknown(tmp_path: Path) -> None:
    """An instance the table does not price gets a 'cost unknown' line and no budget verdict."""
    from modelops.report import compute_section
    from modelops.runners.billing import load_billing

    prices = _prices(tmp_path / "p.json")
    budget = {"max_minutes": 60, "max_cost_usd": 0.01}
    for change in ({"region": "ap-south-1"}, {"instance_type": "x9.huge"}, {"region": "eu-west-1"}):
        lives = load_billing(_billing(tmp_path / "b.json", **change))
        cost = compute_section(GPU_TRAIN, budget, lives, prices=prices)
        assert cost.cost_usd is None and not cost.over_budget and cost.budget_line is None
        assert "Cost unknown" in cost.lines[-1], change
    train = {**GPU_TRAIN, "compute": {"instance_type": "x9.huge", "market": "spot"}}
    cost = compute_section(train, budget, prices=prices)
    assert "cost is unknown" in cost.lines[0] and cost.cost_usd is None


def test_cpu_run_says_no_gpu_was_billed() -> None:
    """Without an instance type (a CI CPU runner) the report says nothing was billed."""
    from modelops.report import compute_section

    (line,) = compute_section({**TRAIN, "compute": {}}, {"max_minutes": 60}).lines
    assert "no GPU instance was billed" in line


def _gpu_results(results: Path, max_cost: float) -> None:
    spec = results / "pipelines" / "toy.yaml"
    text = re.sub(r"train: \{.*\}\n", "train: {entrypoint: m}\n", spec.read_text())
    spec.write_text(
        text.replace(
            "train: {entrypoint: m}",
            "train: {entrypoint: m, compute: {type: gpu, instance_types: [g5.xlarge], "
            f"max_minutes: 60, max_cost_usd: {max_cost}}}}}",
        )
    )
    passing = {**EVALUATION, "gates": [{**EVALUATION["gates"][0], "passed": True}]}
    folder = results / ".modelops" / "results" / "toy"
    (folder / "train.json").write_text(json.dumps(GPU_TRAIN))
    (folder / "evaluate.json").write_text(json.dumps(passing))


def test_over_budget_fails_the_report(results: Path, tmp_path: Path, capsys) -> None:
    """A billed life costing more than max_cost_usd fails the budget line: exit 1, report
    written with the failure in its gates; within budget it passes."""
    prices, record = _prices(tmp_path / "p.json"), _billing(tmp_path / "b.json")
    _gpu_results(results, 0.25)
    argv = ["report", "toy", "--billing", str(record), "--prices", str(prices)]
    assert main(argv) == 1
    assert "train.compute.max_cost_usd" in capsys.readouterr().err
    out = results / ".modelops" / "reports" / "toy"
    text = (out / "report.md").read_text()
    assert "## toy: ✅ gates passed, ❌ over budget" in text
    over = (
        "- ❌ cost ≈ $0.3000 \\(billed life\\) is over the budget max\\_cost\\_usd $0.25 "
        "(see Compute)"
    )
    assert over in text
    assert "❌ **Over budget**: <code>max\\_cost\\_usd</code> is $0.25." in text
    summary = json.loads((out / "report.json").read_text())
    assert summary["passed"] is False and summary["failed_gates"] == ["cost max_cost_usd"]
    assert summary["cost"] == {
        "estimate_usd": 0.3, "basis": "billed-life", "estimate": True,
        "max_cost_usd": 0.25, "over_budget": True,
    }  # fmt: skip
    _gpu_results(results, 0.5)
    assert main(argv) == 0
    assert "- ✅ cost ≈ $0.3000 \\(billed life\\) within" in (out / "report.md").read_text()


def test_bad_prices_or_record_exit_2_and_write_nothing(results: Path, tmp_path: Path, capsys):
    """A bad price table or billing record names file and field, exit 2, no report written."""
    _gpu_results(results, 1.0)
    prices = _prices(tmp_path / "p.json")
    doc = json.loads(prices.read_text())
    doc["regions"]["us-east-1"]["spot"]["g5.xlarge"] = -1
    prices.write_text(json.dumps(doc))
    assert main(["report", "toy", "--prices", str(prices)]) == 2
    err = capsys.readouterr().err
    assert str(prices) in err and "regions.us-east-1.spot.g5.xlarge" in err
    record = _billing(tmp_path / "b.json", market="<b>spot</b>")
    assert main(["report", "toy", "--billing", str(record)]) == 2
    err = capsys.readouterr().err
    assert str(record) in err and "instances[0].market" in err
    assert not (results / ".modelops" / "reports").exists()


def test_leakage_line_states_ids_duplicates_and_the_limit() -> None:
    """The data-test section says how many rows leak by id, repeat, and against what limit."""
    from modelops.report import data_section

    leakage = {
        "passed": False,
        "by_id": 2,
        "by_features": 30,
        "duplicate_share": 0.03,
        "max_duplicate_share": 0.01,
    }
    (line,) = [ln for ln in data_section({"leakage": leakage}) if "leakage" in ln]
    assert "❌" in line and "2 test rows share an id" in line
    assert "30 repeat a training row" in line and "3.00%" in line and "limit 1.00%" in line


HOSTILE_LABEL = "@acme/everyone see https://evil.example/x [c](http://e.example) www.evil.example"


def test_mentions_and_links_cannot_be_injected() -> None:
    """Labels, params, features and metric names from results cannot @mention or link."""
    import re

    from reportdata import classification_evaluation

    evaluation = classification_evaluation([HOSTILE_LABEL, "b"])
    evaluation["champion_note"] = HOSTILE_LABEL
    evaluation["changes"] = {
        "params": [{"param": HOSTILE_LABEL, "champion": HOSTILE_LABEL, "challenger": 1}],
        "data": {
            "rows": {"champion": 1, "challenger": 2},
            "class_balance": {"champion": {HOSTILE_LABEL: {"fraction": 0.5}}, "challenger": {}},
            "target_distribution": {},
            "psi": [{"feature": HOSTILE_LABEL, "psi": 0.5}],
        },
    }
    train = {**TRAIN, "params": {"owner": HOSTILE_LABEL}}
    text = render_markdown("toy", train, evaluation, None, None, [])
    assert text.count("everyone") >= 5  # the hostile text is shown, defused
    assert not re.search(r"(?<![\w`])@[A-Za-z0-9]", text), "an @mention survived"
    assert "://" not in text and "www." not in text, "an autolinkable URL survived"
    assert "](" not in text.replace("\\](", "")


def _github_html(markdown: str) -> str:
    """The report as github.com renders it: cmark-gfm with GitHub's extensions (tables,
    autolinks, strikethrough, tag filter), raw HTML kept as GitHub keeps it."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return str(
        cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    )


def _table_shapes(page: str) -> list[set[int]]:
    """For each rendered table, the set of cell counts of its rows (one count if none broke)."""
    from html.parser import HTMLParser

    class Tables(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.shapes: list[set[int]] = []
            self.cells = 0

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag == "table":
                self.shapes.append(set())
            elif tag == "tr":
                self.cells = 0
            elif tag in ("td", "th"):
                self.cells += 1

        def handle_endtag(self, tag: str) -> None:
            if tag == "tr":
                self.shapes[-1].add(self.cells)

    parser = Tables()
    parser.feed(page)
    return parser.shapes


def test_hostile_values_render_on_github_as_plain_text() -> None:
    """Rendered by GitHub's cmark-gfm, hostile labels, params and features give no link, no
    image, no tag of their own and no extra table cell; the text itself is shown."""
    from reportdata import classification_evaluation

    hostile = HOSTILE_LABEL + " <img src=x onerror=alert(1)> | cell | **bold** `tick`"
    evaluation = classification_evaluation([hostile, "b"], bootstrap=False)
    evaluation["metrics"] = {**evaluation["metrics"], hostile: 0.5}
    evaluation["changes"] = {
        "params": [{"param": hostile, "champion": hostile, "challenger": 1}],
        "data": {"rows": {}, "class_balance": {}, "psi": [{"feature": hostile, "psi": 0.3}]},
    }
    page = _github_html(render_markdown("toy", {**TRAIN, "commit": hostile}, evaluation, None,
                                        None, []))  # fmt: skip
    assert "<a " not in page and "<img" not in page and "<strong>bold" not in page
    assert "<code>tick" not in page  # backticks stay text
    assert "@\u2060acme/everyone" in page and "&lt;img src=x" in page
    shapes = _table_shapes(page)
    assert len(shapes) >= 6 and all(len(shape) == 1 for shape in shapes), shapes


def test_100_classes_and_500_features_stay_under_the_comment_limit() -> None:
    """A 100-class model whose champion trained on 500 features: the comment fits GitHub's
    65,536 characters; long tables are cut to their top rows and say how many were left out."""
    from reportdata import classification_evaluation

    from modelops.report import COMMENT_LIMIT, MAX_CLASSES, MAX_FEATURES

    classes = [f"class-{i:03d}-{'x' * 40}" for i in range(100)]
    evaluation = classification_evaluation(
        classes, task="multiclass_classification", n=3000, bootstrap=False
    )
    evaluation["changes"] = {
        "params": [{"param": f"p{i}", "champion": i, "challenger": i + 1} for i in range(200)],
        "data": {
            "rows": {"champion": 1000, "challenger": 1200},
            "class_balance": {
                "champion": {c: {"fraction": 0.01} for c in classes},
                "challenger": {c: {"fraction": 0.01} for c in classes},
            },
            "psi": [{"feature": f"feature_{i:03d}_{'y' * 40}", "psi": i / 500} for i in range(500)],
        },
    }
    text = render_markdown("toy", TRAIN, evaluation, None, None, [])
    assert len(text) < COMMENT_LIMIT
    assert f"… {100 - MAX_CLASSES} more classes" in text
    assert f"… {500 - MAX_FEATURES} more features" in text
    assert "100 classes: the 12 cells that changed most" in text
    assert "| <code>feature\\_499" in text  # the highest PSI is listed first


def test_sections_are_dropped_last_first_to_fit() -> None:
    """Past the size budget whole sections go, lowest priority first, and the report says so."""
    from modelops.report import SIZE_BUDGET, fit_to_limit

    big = ["x" * 1000] * 25
    text = fit_to_limit(
        [("Data tests", ["ok"]), ("A", big), ("B", big), ("C", big)], ["head"], ["tail"]
    )
    assert len(text) <= SIZE_BUDGET
    assert "### A" in text and "### B" in text and "### C" not in text
    assert "Left out to fit GitHub's comment limit: C" in text and text.endswith("tail")
