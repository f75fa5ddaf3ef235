"""The campaign report as a person reads it: which columns, error bars, analysis curves, the HTML page.

A small ledger is written by hand (no HOOMD): three LJ-like jobs with a result, its error bar,
bookkeeping and an RDF in ``analysis.npz``, one failed job. The HTML page is rendered with headless
Chromium where it is installed (``apt-get install chromium``), and the test reads what the page shows.
"""

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from hoomd_mlx.campaign.config.spec import spec_from_mapping
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.report.build import write_report
from hoomd_mlx.campaign.report.results import result_columns
from hoomd_mlx.errors import ConfigurationError

POINTS = {"a1": (0.5, 1.0), "a2": (0.7, 1.0), "b1": (0.5, 1.5)}
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def _campaign(directory, meta=None):
    r = np.linspace(0.05, 3.0, 60)
    with Ledger.in_directory(directory) as ledger:
        ledger.set_meta("name", "report-check")
        if meta is not None:
            ledger.set_meta("report", meta)
        ledger.add_jobs({jid: {"density": d, "kT": t} for jid, (d, t) in POINTS.items()})
        ledger.add_jobs({"f1": {"density": 0.7, "kT": 1.5}})
        for jid, (density, kT) in POINTS.items():
            ledger.mark_running(jid, "worker-0")
            result = {
                "pressure": density * kT,
                "pressure_err": 0.05,
                "rdf_peak_height": 2.0 + density,
                "final_step": 4000,
                "steps_per_second": 1234.5,
            }
            ledger.mark_done(jid, result, runtime=3.0)
            g = np.where(r > 1.0, 1.0 + density * np.exp(-((r - 1.1) ** 2) / 0.02), 0.0)
            (directory / "jobs" / jid).mkdir(parents=True)
            np.savez(directory / "jobs" / jid / "analysis.npz", **{"rdf.r": r, "rdf.g": g})
        ledger.mark_running("f1", "worker-1")
        ledger.mark_failed("f1", "ValueError: boom", final=True)


def test_columns_leave_out_bookkeeping_and_pair_error_bars(tmp_path):
    _campaign(tmp_path)
    with Ledger.in_directory(tmp_path) as ledger:
        jobs = ledger.jobs("done")
    columns = result_columns(jobs)
    assert columns.parameters == ("density", "kT")
    assert columns.results == ("pressure", "rdf_peak_height")  # no final_step, steps_per_second, *_err
    assert columns.errors == {"pressure": ("pressure_err",), "rdf_peak_height": ()}
    assert columns.error(jobs[0], "pressure") == 0.05
    declared = result_columns(jobs, {"results": ["rdf_peak_height", "final_step"]})
    assert declared.results == ("rdf_peak_height", "final_step")  # the spec's list wins, in its order
    assert result_columns(jobs, {"bookkeeping": ["rdf_peak_height"]}).results == ("pressure",)


def test_report_shows_results_with_error_bars_and_rdf_curves(tmp_path):
    _campaign(tmp_path)
    text = write_report(tmp_path).read_text()
    out = tmp_path / "report"
    assert sorted(p.name for p in out.glob("*.png")) == [
        "analysis_rdf.png",
        "result_pressure.png",
        "result_rdf_peak_height.png",
        "timings.png",
    ]
    assert "error bars: pressure_err" in text
    assert "one panel per kT, one curve per density" in text
    table = [line for line in text.splitlines() if line.startswith("| a") or line.startswith("| b")]
    assert len(table) == 3
    assert "| a1 | 0.5 | 1 | 0.5 ± 0.05 | 2.5 |" in table
    assert "final_step" not in text
    assert "pressure_err |" not in text
    assert "Lost workers: 0; job failures: 1." in text


def test_spec_report_table_is_checked():
    raw = {
        "design": {"sampler": "grid", "parameters": {"x": {"values": [1, 2]}}},
        "job": {"function": "jobs_for_campaign_tests:square", "isolation": "inline"},
    }
    source = Path(__file__).parent / "report.toml"  # the job module is next to it
    spec = spec_from_mapping({**raw, "report": {"results": ["y"]}}, source=source)
    assert spec.report == {"results": ("y",)}
    with pytest.raises(ConfigurationError, match=r"report\.results"):
        spec_from_mapping({**raw, "report": {"results": "y"}}, source=source)
    with pytest.raises(ConfigurationError, match=r"unknown key report\.plots"):
        spec_from_mapping({**raw, "report": {"plots": []}}, source=source)


class _Page(HTMLParser):
    """What a reader sees in a dumped DOM: the body's data attributes, images, rows of each table."""

    def __init__(self):
        super().__init__()
        self.body, self.images, self.rows, self._table, self._section = {}, [], {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table":
            self._table = attrs.get("id", "")
            self.rows[self._table] = 0
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self.rows[self._table] += 1


def test_html_page_is_self_contained(tmp_path):
    _campaign(tmp_path)
    write_report(tmp_path)
    html = (tmp_path / "report" / "report.html").read_text()
    page = _Page()
    page.feed(html)
    assert len(page.images) == 4
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)  # nothing fetched from elsewhere
    assert page.rows["jobs"] == 3


@pytest.mark.browser
@pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH to render the page (apt install chromium)")
def test_html_page_renders_in_chromium(tmp_path):
    _campaign(tmp_path)
    write_report(tmp_path)
    page_file = tmp_path / "report" / "report.html"
    dom = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page_file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    page = _Page()
    page.feed(dom)
    assert page.body.get("data-images") == "4", dom[:500]
    assert page.body.get("data-images-loaded") == "4"  # every plot decoded
    assert page.rows["jobs"] == 3  # one row per job with a result
    assert "Campaign report-check" in dom
