"""The targets summary (reports/targets.md and the table of docs/results.md) is read off the committed reports, never typed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from srlaw.core.pages import PageBlockError
from srlaw.library import targets

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_summary_and_results_table_match_the_reports():
    doc = targets.load_doc()
    assert (ROOT / "reports" / "targets.md").read_text() == targets.markdown(doc)
    assert json.loads((ROOT / "reports" / "targets.json").read_text()) == json.loads(json.dumps(doc))
    page = (ROOT / "docs" / "results.md").read_text()
    assert targets.with_summary_table(page, targets.summary_table(doc)) == page, \
        "docs/results.md's targets table is stale: run python -m srlaw.library.targets"


def test_a_target_missed_in_one_cell_is_named_with_its_k():
    cal = json.loads((ROOT / "reports" / "calibration.json").read_text())
    ext = json.loads((ROOT / "reports" / "extrapolation.json").read_text())
    worse = copy.deepcopy(cal)
    for m in ("hr@10", "ndcg@10"):
        for k in (1, 2, 3):
            worse["summary"][f"{m}|{k}"]["mape_worst"] = 0.05
    worse["summary"]["ndcg@10|2"]["mape_worst"] = 0.12
    table = targets.summary_table(targets.build(worse, ext, None, None))
    row = next(line for line in table.splitlines() if "one dataset out, K = 1–3" in line and "MAPE" in line)
    assert row.endswith("**missed**: NDCG@10 worst at K = 2 |")
    assert "NDCG@10 worst 5.0–12.0 %" in row
    # nothing measured is said so, never met
    assert "not measured (python benchmarks/bench_calibrate.py) | not measured |" in table


def test_a_rounded_value_never_prints_the_limit_it_misses():
    assert targets.judged(0.99043, False, (0.90, 0.99)).text == "99.04 %"
    assert targets.judged(0.985, True, (0.90, 0.99)).text == "98.5 %"
    assert targets.Cell("7.4 %", False).show() == "7.4 % **missed**"


def test_the_results_block_is_replaced_and_nothing_else():
    begin, end = targets.MARKERS
    text = f"head\n{begin}\nold\n{end}\ntail\n"
    assert targets.with_summary_table(text, "| new |\n") == f"head\n{begin}\n| new |\n{end}\ntail\n"
    with pytest.raises(PageBlockError, match="needs one"):
        targets.with_summary_table("no markers\n", "| new |\n")
