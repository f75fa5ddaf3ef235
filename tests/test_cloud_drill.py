"""The preemption drill: real HOOMD jobs on a real LocalCluster, workers killed on the model's clock."""

import json
import subprocess
import sys

import pytest
from campaign_processes import kill_campaign, write_lj_campaign

from hoomd_mlx.campaign.driver.ledger import Ledger

pytestmark = [pytest.mark.hoomd, pytest.mark.slow]

# Long enough that every job outlasts the model's first checkpoint interval (1.2 s at this scale)
# on a fast machine too: at 8000 steps a job on HOOMD 7 could simulate its whole run in one ~1 s
# chunk and write no checkpoint at all (a timing effect; the drill SIGKILLs whole process trees,
# so no signal handler, HOOMD's or ours, runs in them on any version).
STEPS = 25_000

EXTRA = """\
[cloud]
job_hours = 2.5            # a job lasts about 10 s here: 2.5 model hours at 4 s per hour
machine_types = ["local-1"]
region = "local"
prices = "prices.txt"
checkpoint = "model"       # checkpoint intervals from the model's schedule, scaled like the drill
checkpoint_cost = 60
"""

PRICES = "type\tvCPUs\tmemory\ton-demand\tpreemptible\tregion\nlocal-1\t1\t4GB\t$0.05\t$0.01\tlocal\n"


def test_drill_kills_workers_and_loses_no_job(tmp_path):
    (tmp_path / "prices.txt").write_text(PRICES)
    spec = write_lj_campaign(tmp_path, "preemption-drill", STEPS, EXTRA)
    directory = tmp_path / "run"
    # seed 2: the first two workers die 0.95 and 1.21 model hours old (about 4 s), mid-job
    command = [sys.executable, "-m", "hoomd_mlx.cli", "campaign", "run", str(spec), "--dir", str(directory)]
    command += ["--preempt", "scispot", "--preempt-scale", "4", "--preempt-seed", "2"]
    driver = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = driver.communicate(timeout=300)
    finally:
        kill_campaign(driver, directory)
    assert driver.returncode == 0, output
    assert "preemption drill:" in output
    with Ledger.in_directory(directory) as ledger:
        assert ledger.counts()["done"] == 4
        jobs = ledger.jobs()
        assert all(job.failures == 0 for job in jobs)
        assert all(job.result["final_step"] == STEPS for job in jobs)
        assert sum(job.preemptions for job in jobs) >= 1
        kills = [json.loads(e["detail"]) for e in ledger.events("vm-preempted")]
        censored = [json.loads(e["detail"]) for e in ledger.events("vm-censored")]
    assert len(kills) >= 2
    assert censored  # the workers alive at the end: right-censored lifetimes for refits
    assert all(k["drill"] and k["age_hours"] == pytest.approx(k["age_seconds"] / 4) for k in kills)
    assert kills[0]["age_hours"] < 2  # the model's early deaths, as drawn
    lost = [entry for k in kills for entry in k["jobs"]]
    assert lost, "no job was running on a killed worker"
    assert all(0 <= entry["lost_seconds"] < 30 for entry in lost)
    job_dirs = list((directory / "jobs").iterdir())
    # checkpoints on the model's schedule: a job faster than the first interval writes none (timing)
    assert any((job_dir / "checkpoint.json").exists() for job_dir in job_dirs)
    for job_dir in job_dirs:
        entries = [json.loads(x) for x in (job_dir / "steps.jsonl").read_text().splitlines()]
        assert [e["how"] for e in entries].count("finished") == 1
        assert entries[-1]["end"] == STEPS
