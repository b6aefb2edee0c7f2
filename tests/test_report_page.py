"""`srlaw report`: one self-contained page per law, of every kind, opened in a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from srlaw.cli import main
from srlaw.library import calibrate as calibration
from srlaw.predictor import Law
from srlaw.report.page import frontier

from tests.test_calibrate_cli import BASE, CAL, INDEX, fake_train

ROOT = Path(__file__).resolve().parents[1]
LAWS = {"pipeline": ROOT / "artifacts" / "law", "released": ROOT / "artifacts" / "laws" / "ml-1m",
        "library": ROOT / "artifacts" / "laws" / "library" / "lastfm-s3rec"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """A law calibrated by `srlaw calibrate` (training stood in for: the page reads what any calibration writes)."""
    out = tmp_path_factory.mktemp("cal") / "law"
    mp = pytest.MonkeyPatch()
    mp.setattr(calibration, "_train", fake_train([]))
    try:
        assert main(["calibrate", *BASE, *CAL, "--runs", "1", "--out", str(out), "--library", str(INDEX)]) == 0
    finally:
        mp.undo()
    return out


def _browse(page: Path, tmp_path: Path) -> tuple[str, str, Path]:
    """(DOM after the page's script ran, the browser's console lines, a screenshot) from headless Chromium."""
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
              "--v=0", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    shot = tmp_path / "shot.png"
    subprocess.run([*common, "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, text=True, timeout=120, check=True)
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    return dom.stdout, "\n".join(console), shot


@pytest.mark.parametrize("kind", sorted(LAWS))
def test_a_page_for_every_kind_of_law_needs_no_network(kind, tmp_path, capsys):
    out = tmp_path / "law.html"
    assert main(["report", "--law", str(LAWS[kind]), "--out", str(out)]) == 0
    text = out.read_text()
    law = Law.load(LAWS[kind])
    assert text.count("<svg") == 2 * len(law.doc["metric"]) + (kind == "library")  # curves, frontier(, data)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched: no remote source
    for m in law.doc["metric"]:
        assert f"data-metric='{m}'" in text
    assert law.doc["runs"] and f"<td>{law.doc['runs'][0]['d_model']}</td>" in text  # every measured run listed


def test_a_calibrated_law_page_places_its_data_among_the_librarys(calibrated, tmp_path):
    out = tmp_path / "page.html"
    assert main(["report", "--law", str(calibrated), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Your data among the library&#x27;s datasets" in text or "Your data among the library's datasets" in text
    assert "ml-1m" in text and "this law's data (ratings)" in text  # a library dataset and the law's own data, labelled
    assert "library check: each dataset left out, K = 1 runs" in text  # the check of how it was calibrated


def test_the_frontier_is_the_best_prediction_under_each_budget():
    law = Law.load(LAWS["library"])
    f = frontier(law, "ndcg@10", None)
    assert np.all(np.diff(f["params_total"]) >= 0) and np.all(np.diff(f["best"]) >= 0)
    assert f["best"][-1] == pytest.approx(f["value"].max())
    assert not set(f["shapes"]) & law.unstable  # a size the library saw diverge is no frontier point


def test_a_file_srlaw_did_not_write_is_left_untouched(tmp_path, capsys):
    mine = tmp_path / "notes.html"
    mine.write_text("<html>my notes</html>")
    assert main(["report", "--law", str(LAWS["pipeline"]), "--out", str(mine)]) == 2
    assert "is not a page srlaw wrote; left untouched" in capsys.readouterr().err
    assert mine.read_text() == "<html>my notes</html>"
    assert main(["report", "--law", str(LAWS["pipeline"]), "--out", str(tmp_path)]) == 2  # a folder
    page = tmp_path / "law.html"
    for _ in range(2):  # its own page it rewrites, byte for byte the same
        assert main(["report", "--law", str(LAWS["pipeline"]), "--out", str(page)]) == 0
    first = page.read_bytes()
    assert main(["report", "--law", str(LAWS["pipeline"]), "--out", str(page)]) == 0
    assert page.read_bytes() == first


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"),
                    reason="no chromium here (apt-get install -y chromium; .ci/run installs it)")
@pytest.mark.parametrize("kind", ["library", "calibrated"])
def test_the_page_renders_in_a_real_browser_without_console_errors(kind, calibrated, tmp_path):
    assert CHROMIUM, "CI installs chromium (.ci/run); it is missing"
    page = tmp_path / "law.html"
    assert main(["report", "--law", str(calibrated if kind == "calibrated" else LAWS[kind]), "--out", str(page)]) == 0
    dom, console, shot = _browse(page, tmp_path)
    assert console == ""  # no error, no warning, no log line from the page
    n_svg = page.read_text().count("<svg")
    assert f'data-rendered="{n_svg}"' in dom  # the script ran to its end and counted every figure
    assert re.search(r'<section data-metric="ndcg@10" hidden', dom)  # one metric shown at a time
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.std() > 0.05 and (pixels.mean(axis=-1) < 0.5).mean() > 0.005  # drawn: not blank, has ink


@pytest.mark.skipif(not CHROMIUM, reason="no chromium here (apt-get install -y chromium)")
def test_the_browser_check_sees_a_script_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>undefinedThing();</script></body></html>")
    assert "Uncaught ReferenceError" in _browse(page, tmp_path)[1]
