"""The SQLite ledger: states, resumption after a dead driver, export, status."""

import csv

import pytest

from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.status import campaign_status, format_status
from hoomd_mlx.errors import ConfigurationError


@pytest.fixture
def ledger(tmp_path):
    with Ledger.in_directory(tmp_path) as led:
        yield led


def test_jobs_are_added_once(ledger):
    assert ledger.add_jobs({"a": {"x": 1}, "b": {"x": 2}}) == 2
    assert ledger.add_jobs({"a": {"x": 1}, "c": {"x": 3}}) == 1
    assert ledger.counts()["pending"] == 3


def test_lifecycle_and_failure_budgets(ledger):
    ledger.add_jobs({"a": {"x": 1}, "b": {"x": 2}})
    ledger.mark_running("a", "w1")
    ledger.mark_progress("a", checkpoint_step=500)
    ledger.mark_preempted("a", "worker lost")
    job = ledger.job("a")
    assert (job.state, job.preemptions, job.failures, job.checkpoint_step) == ("pending", 1, 0, 500)
    ledger.mark_running("a")
    ledger.mark_done("a", {"p": 1.5}, runtime=3.0, resumed_from=500)
    assert ledger.job("a").result == {"p": 1.5}
    assert ledger.job("a").resumed_from == 500
    ledger.mark_running("b")
    ledger.mark_failed("b", "ValueError: boom", final=False)
    ledger.mark_running("b")
    ledger.mark_failed("b", "ValueError: boom", final=True)
    b = ledger.job("b")
    assert (b.state, b.failures, b.attempts) == ("failed", 2, 2)
    assert [e["kind"] for e in ledger.events()] == ["preempted", "retry", "failed"]


def test_a_dead_driver_leaves_nothing_running(tmp_path):
    with Ledger.in_directory(tmp_path) as led:
        led.add_jobs({"a": {}, "b": {}})
        led.mark_running("a")
        led.mark_running("b")
        led.mark_done("b", {}, 1.0)
    with Ledger.in_directory(tmp_path) as led:  # a new driver
        assert led.reset_running() == 1
        assert led.counts() == {"pending": 1, "running": 0, "done": 1, "failed": 0, "predicted": 0}


def test_export_csv(ledger, tmp_path):
    ledger.add_jobs({"a": {"x": 1}, "b": {"x": 2}})
    ledger.mark_running("a")
    ledger.mark_done("a", {"p": 1.5, "profile": [1, 2]}, runtime=3.0)
    path = ledger.export(tmp_path / "results.csv")
    rows = list(csv.DictReader(path.open()))
    assert rows[0]["param.x"] == "1"
    assert rows[0]["result.p"] == "1.5"
    assert "result.profile" not in rows[0]


def test_status(tmp_path):
    with Ledger.in_directory(tmp_path) as led:
        led.add_jobs({"a": {}, "b": {}, "c": {}})
        led.mark_running("a", "tcp://w1")
        led.mark_progress("a", checkpoint_step=1200)
        led.mark_running("b")
        led.mark_failed("b", "Traceback\nValueError: bad density", final=True)
    status = campaign_status(tmp_path)
    assert status["counts"]["running"] == 1
    assert status["running"][0]["checkpoint_step"] == 1200
    assert status["failed"][0]["error"] == "ValueError: bad density"
    text = format_status(status)
    assert "checkpoint step 1200" in text
    assert "bad density" in text


def test_status_of_a_non_campaign_directory(tmp_path):
    with pytest.raises(ConfigurationError, match="not a campaign directory"):
        campaign_status(tmp_path)
