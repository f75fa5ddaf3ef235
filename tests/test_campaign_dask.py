"""Campaigns on a real Dask LocalCluster with real HOOMD: lost workers and a killed driver."""

import itertools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from campaign_processes import job_processes, kill_campaign, steps_logs, wait_for, write_lj_campaign

from hoomd_mlx.campaign.driver.ledger import Ledger

pytestmark = [pytest.mark.hoomd, pytest.mark.slow]

CAMPAIGNS = Path(__file__).parent.parent / "campaigns"


def _campaign(tmp_path, steps):
    extra = "checkpoint_steps = 1000\ncheckpoint_seconds = 0\n"
    return write_lj_campaign(tmp_path, "drill", steps, extra), tmp_path / "run"


def _driver(spec, directory):
    return subprocess.Popen(
        [sys.executable, "-m", "hoomd_mlx.cli", "campaign", "run", str(spec), "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finish(driver, directory):
    """Wait for a driver to end; it must succeed. Nothing of it is left running afterwards."""
    try:
        output, _ = driver.communicate(timeout=600)
        assert driver.returncode == 0, output
    finally:
        kill_campaign(driver, directory)


def test_killed_workers_lose_no_job(tmp_path):
    spec, directory = _campaign(tmp_path, steps=40_000)
    driver = _driver(spec, directory)
    try:
        assert wait_for(lambda: len(list(directory.glob("jobs/*/checkpoint.json"))) >= 2, 120)
        victims = {job.parent().pid for job in job_processes(directory)}
        assert victims, "no job was running"
        for pid in victims:  # SIGKILL the Dask worker processes running jobs
            os.kill(pid, signal.SIGKILL)
    finally:
        _finish(driver, directory)
    with Ledger.in_directory(directory) as ledger:
        assert ledger.counts()["done"] == 4
        jobs = ledger.jobs()
        assert sum(job.preemptions for job in jobs) >= 1
        assert all(job.failures == 0 for job in jobs)
        assert all(job.result["final_step"] == 40_000 for job in jobs)
    logs = steps_logs(directory)
    resumed = 0
    for entries in logs.values():
        ends = [e for e in entries if e["how"] != "started"]
        assert [e["how"] for e in ends].count("finished") == 1  # finished exactly once
        assert ends[-1]["end"] == 40_000
        for before, after in itertools.pairwise(ends):
            # the interrupted attempt checkpointed where it stopped; the next started exactly there
            assert before["how"] == "preempted"
            assert after["start"] == before["end"]
            resumed += 1
    assert resumed >= 1


def test_driver_killed_and_restarted_repeats_nothing(tmp_path):
    spec, directory = _campaign(tmp_path, steps=12_000)
    driver = _driver(spec, directory)
    try:
        ledger_file = directory / Ledger.FILENAME
        assert wait_for(lambda: ledger_file.exists() and Ledger(ledger_file).count("done") >= 1, 300)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        kill_campaign(driver, directory)  # the old cluster goes with its driver, mid-job
    with Ledger.in_directory(directory) as ledger:
        finished_before = {job.id: job.finished for job in ledger.jobs("done")}
    assert finished_before
    _finish(_driver(spec, directory), directory)
    with Ledger.in_directory(directory) as ledger:
        assert ledger.counts()["done"] == 4
        for job_id, finished in finished_before.items():
            assert ledger.job(job_id).finished == finished  # not run again
    for entries in steps_logs(directory).values():
        assert [e["how"] for e in entries].count("finished") == 1


def test_lj_campaign_with_a_surrogate_stops_early(tmp_path):
    """The example campaign: retrains while running, stops at its target, predicts the rest."""
    from hoomd_mlx.campaign.config.spec import load_spec
    from hoomd_mlx.campaign.driver.runner import run_campaign

    shutil.copy(CAMPAIGNS / "lj_fluid.py", tmp_path / "lj_fluid.py")
    shutil.copy(CAMPAIGNS / "lj_fluid_surrogate.toml", tmp_path / "spec.toml")
    spec = load_spec(tmp_path / "spec.toml")
    summary = run_campaign(spec, tmp_path / "run", progress=False)
    counts = summary["counts"]
    assert counts["predicted"] > 0, counts
    assert counts["done"] + counts["predicted"] == 48
    with Ledger.in_directory(tmp_path / "run") as ledger:
        versions = ledger.surrogate_versions()
        assert len(versions) >= 2
        assert all(v["accuracy"] >= spec.surrogate.target for v in versions[-2:])
        for job in ledger.jobs("predicted"):
            assert {"pressure", "pressure_std", "potential_energy_per_particle"} <= set(job.result)
