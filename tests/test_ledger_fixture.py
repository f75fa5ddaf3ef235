"""A campaign written by the code of 2026-12-03 (before the campaign layer moved into subpackages).

``tests/fixtures/campaign_2026_12_03`` is the ledger and the newest surrogate of
``campaigns/lj_fluid_surrogate.toml`` run to its end (33 jobs simulated, 15 predicted, surrogate
v5). Today's ``campaign status``, ``report``, ``predict`` and ``run`` must still read it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hoomd_mlx.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "campaign_2026_12_03"


@pytest.fixture
def old_campaign(tmp_path) -> Path:
    directory = tmp_path / "lj_surrogate"
    shutil.copytree(FIXTURE, directory)
    return directory


def test_status_and_predict_read_the_old_ledger(old_campaign, capsys):
    assert main(["campaign", "status", str(old_campaign), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["done"] == 33
    assert status["counts"]["predicted"] == 15
    assert main(["predict", str(old_campaign), "--params", "density=0.65", "kT=1.3", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["surrogate_version"] == 5
    assert 0.0 < answer["mean"]["pressure"] < 5.0
    assert answer["std"]["pressure"] > 0
    assert -6.0 < answer["mean"]["potential_energy_per_particle"] < -2.0


def test_report_reads_the_old_ledger(old_campaign):
    assert main(["campaign", "report", str(old_campaign)]) == 0
    html = (old_campaign / "report" / "report.html").read_text()
    assert "lj_fluid_surrogate" in html
    assert "data:image/png;base64" in html


def test_run_resumes_the_old_campaign_with_nothing_left_to_do(old_campaign):
    spec = ROOT / "campaigns" / "lj_fluid_surrogate.toml"
    assert main(["campaign", "run", str(spec), "--dir", str(old_campaign)]) == 0
    from hoomd_mlx.campaign.driver.ledger import Ledger

    with Ledger.in_directory(old_campaign) as ledger:
        assert ledger.counts()["done"] == 33
        assert ledger.counts()["predicted"] == 15
