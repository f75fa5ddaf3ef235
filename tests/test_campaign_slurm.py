"""Campaigns on a one-node SLURM cluster: workers as batch jobs lost to scancel, walltime, a dead driver.

The cluster is ``tests/slurm/cluster.sh`` (started by conftest.py for the tests marked
``slurm``; KillWait 10 s). Each test drives ``hoomd-mlx campaign run --cluster slurm``
in a subprocess and reads the ledger and the jobs' ``steps.jsonl`` afterwards.
"""

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import psutil
import pytest
from campaign_processes import job_processes, steps_logs, wait_for, write_lj_campaign

from hoomd_mlx.campaign.backends.batch import job_name
from hoomd_mlx.campaign.config.launchers import launcher_command
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.job.contract import JobTask

pytestmark = [pytest.mark.hoomd, pytest.mark.slurm, pytest.mark.slow]

TESTS = Path(__file__).parent

# One job run the way a Dask worker runs it (`run_job`: the launcher process, then the ranks).
RUN_ONE_JOB = textwrap.dedent(
    """
    import json, sys
    from hoomd_mlx.campaign.job.contract import JobTask
    from hoomd_mlx.campaign.job.execute import run_job
    print("OUTCOME " + json.dumps(run_job(JobTask(**json.loads(sys.argv[1])))), flush=True)
    """
)


def _cluster_table(walltime="00:10:00", margin=60, stagger=0):
    return (
        "checkpoint_steps = 2000\ncheckpoint_seconds = 0\n"
        f'[cluster]\nkind = "slurm"\ncores = 1\nmemory = "1GB"\nwalltime = "{walltime}"\n'
        f'lifetime_margin = {margin}\nlifetime_stagger = {stagger}\nscheduler_host = "127.0.0.1"\n'
    )


def _driver(spec, directory, *extra):
    command = [sys.executable, "-m", "hoomd_mlx.cli", "campaign", "run", str(spec), "--dir", str(directory)]
    return subprocess.Popen(
        [*command, "--cluster", "slurm", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finish(driver, timeout=300):
    try:
        output, _ = driver.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        output, _ = driver.communicate()
        pytest.fail(f"the campaign did not finish in {timeout} s:\n{output[-3000:]}")
    assert driver.returncode == 0, output[-3000:]
    return output


def _queued(name):
    """SLURM job ids called ``name`` still pending or running."""
    out = subprocess.run(
        ["squeue", "-h", "-n", name, "-t", "PD,R", "-o", "%i"], capture_output=True, text=True
    )
    return out.stdout.split()


def _cleanup(name, directory):
    subprocess.run(["scancel", "-n", name], check=False)
    for proc in job_processes(directory):
        proc.kill()


def _check_continuity(directory, steps):
    """Every job finished exactly once at ``steps``; each resumed attempt started where the last stopped."""
    resumed = 0
    for entries in steps_logs(directory).values():
        ends = [e for e in entries if e["how"] != "started"]
        assert [e["how"] for e in ends].count("finished") == 1, entries
        assert ends[-1]["end"] == steps
        for before, after in itertools.pairwise(ends):
            assert before["how"] == "preempted", entries
            assert after["start"] == before["end"], entries
            resumed += 1
    return resumed


def _slurm_job_of(proc):
    try:
        return proc.environ().get("SLURM_JOB_ID")
    except psutil.Error:
        return None


def test_lj_example_campaign_on_slurm_matches_the_local_run(tmp_path):
    """The LJ example (4 of its state points, shorter runs) on SLURM workers and on a LocalCluster."""
    from campaign_processes import CAMPAIGNS

    text = (CAMPAIGNS / "lj_fluid.toml").read_text()
    text = text.replace("points = 4", "points = 2").replace("steps = 4000", "steps = 1000")
    text = text.replace("frame_every = 200", "frame_every = 100")
    (tmp_path / "lj_fluid.py").write_text((CAMPAIGNS / "lj_fluid.py").read_text())
    spec = tmp_path / "lj_fluid.toml"
    spec.write_text(text + '\n[cluster]\nkind = "slurm"\nmemory = "1GB"\nscheduler_host = "127.0.0.1"\n')
    local = tmp_path / "lj_local.toml"
    local.write_text(text)
    name = job_name("lj_fluid", tmp_path / "slurm")
    try:
        output = _finish(_driver(spec, tmp_path / "slurm"))
        assert "SLURM worker jobs" in output
        assert not wait_for(lambda: _queued(name), 20) or not _queued(name)
        local_run = subprocess.run(
            [
                sys.executable,
                "-m",
                "hoomd_mlx.cli",
                "campaign",
                "run",
                str(local),
                "--dir",
                str(tmp_path / "local"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert local_run.returncode == 0, local_run.stdout[-2000:] + local_run.stderr[-2000:]
    finally:
        _cleanup(name, tmp_path / "slurm")
    with Ledger.in_directory(tmp_path / "slurm") as on_slurm, Ledger.in_directory(tmp_path / "local") as here:
        assert on_slurm.counts()["done"] == here.counts()["done"] == 4
        slurm_jobs, local_jobs = on_slurm.jobs(), here.jobs()
        assert [j.id for j in slurm_jobs] == [j.id for j in local_jobs]
        for a, b in zip(slurm_jobs, local_jobs, strict=True):
            assert set(a.result) == set(b.result)  # the same outputs and analyses
            assert a.result["final_step"] == b.result["final_step"] == 1000
        workers = on_slurm.workers()
        assert len(workers) == 2
        assert all(w["slurm_job"] and w["address"] for w in workers)
        assert on_slurm.lost_workers() == {}
    for job in slurm_jobs:
        assert (tmp_path / "slurm" / "jobs" / job.id / "analysis.npz").exists()
    status = subprocess.run(
        [sys.executable, "-m", "hoomd_mlx.cli", "campaign", "status", str(tmp_path / "slurm")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"job {workers[0]['slurm_job']} " in status


def test_scancel_of_a_worker_is_a_preemption_and_the_job_resumes(tmp_path):
    spec = write_lj_campaign(tmp_path, "scancel", 40_000, _cluster_table())
    directory = tmp_path / "run"
    name = job_name("scancel", directory)
    driver = _driver(spec, directory)
    try:
        assert wait_for(lambda: list(directory.glob("jobs/*/checkpoint.json")), 120), "no checkpoint"
        victim = next(p for p in job_processes(directory) if _slurm_job_of(p))
        slurm_job = _slurm_job_of(victim)
        subprocess.run(["scancel", slurm_job], check=True)
        output = _finish(driver)
        assert wait_for(lambda: not _queued(name), 30), _queued(name)  # no worker job left behind
    finally:
        _cleanup(name, directory)
    with Ledger.in_directory(directory) as ledger:
        assert ledger.counts()["done"] == 4, output[-2000:]
        jobs = ledger.jobs()
        assert all(job.failures == 0 for job in jobs)
        assert sum(job.preemptions for job in jobs) >= 1
        assert ledger.lost_workers() == {"scancel": 1}
        lost = [json.loads(e["detail"]) for e in ledger.events("worker-lost")]
        assert [e["slurm_job"] for e in lost] == [slurm_job]
        assert lost[0]["jobs"], lost  # the job it ran is named
        assert len(ledger.workers()) >= 3  # a replacement worker job was started
    assert _check_continuity(directory, 40_000) >= 1
    cli = [sys.executable, "-m", "hoomd_mlx.cli", "campaign"]
    status = subprocess.run(
        [*cli, "status", str(directory), "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(status.stdout)["lost_workers"] == {"scancel": 1}
    subprocess.run([*cli, "report", str(directory)], capture_output=True, check=True)
    assert "by cause: scancel 1" in (directory / "report" / "report.md").read_text()


def test_workers_retire_before_their_walltime_and_jobs_resume(tmp_path):
    """Walltime 2 min, margin 95 s: workers retire after 15-25 s, mid-job; nothing counts as a failure.

    The jobs must outlast a worker on any machine: 250,000 steps take about a minute here idle
    (90,000 once finished inside one worker's life on an idle machine, and nothing was retired).
    """
    steps = 250_000
    spec = write_lj_campaign(tmp_path, "walltime", steps, _cluster_table("00:02:00", margin=95, stagger=5))
    spec.write_text(spec.read_text().replace("kT = { values = [1.0, 1.5] }", "kT = { values = [1.0] }"))
    directory = tmp_path / "run"
    name = job_name("walltime", directory)
    try:
        output = _finish(_driver(spec, directory), timeout=900)
        assert wait_for(lambda: not _queued(name), 30), _queued(name)
    finally:
        _cleanup(name, directory)
    with Ledger.in_directory(directory) as ledger:
        assert ledger.counts()["done"] == 2, output[-2000:]
        jobs = ledger.jobs()
        assert all(job.failures == 0 for job in jobs)
        assert sum(job.preemptions for job in jobs) >= 1
        lost = ledger.lost_workers()
        assert lost.get("retired", 0) >= 1, lost
        assert "walltime" not in lost, lost
    assert _check_continuity(directory, steps) >= 1


def test_killed_driver_cancels_its_orphaned_worker_jobs_and_repeats_nothing(tmp_path):
    spec = write_lj_campaign(tmp_path, "orphans", 16_000, _cluster_table())
    directory = tmp_path / "run"
    name = job_name("orphans", directory)
    driver = _driver(spec, directory)
    try:
        ledger_file = directory / Ledger.FILENAME
        assert wait_for(lambda: ledger_file.exists() and Ledger(ledger_file).count("done") >= 1, 180)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        orphans = _queued(name)
        assert orphans, "the killed driver's worker jobs should still be running"
        with Ledger.in_directory(directory) as ledger:
            finished_before = {job.id: job.finished for job in ledger.jobs("done")}
        output = _finish(_driver(spec, directory))
        assert "left by the previous driver" in output
        assert wait_for(lambda: not _queued(name), 30), _queued(name)
    finally:
        _cleanup(name, directory)
    with Ledger.in_directory(directory) as ledger:
        assert ledger.counts()["done"] == 4
        for job_id, finished in finished_before.items():
            assert ledger.job(job_id).finished == finished  # not run again
        assert {w["slurm_job"] for w in ledger.workers()} >= set(orphans)
    assert _check_continuity(directory, 16_000) >= 0


@pytest.mark.mpi
def test_srun_launcher_runs_a_two_rank_job_inside_an_allocation(tmp_path):
    """The built-in ``srun`` launcher in ``salloc -n 2``, as in a worker batch job of two tasks.

    The template names no PMI: it takes the site's ``MpiDefault``. The test cluster's is ``none``,
    so the job's environment sets ``SLURM_MPI_TYPE=pmix``, as a user of such a cluster would.
    """
    task = JobTask(
        job_id="srun",
        params={"density": 0.3, "kT": 1.2},
        function="jobs_for_mpi_tests:lj",
        directory=str(tmp_path / "srun"),
        settings={"n_side": 8, "steps": 1000},  # the box takes two domains of r_cut + buffer
        search_path=(str(TESTS),),
        ranks=2,
        launcher=launcher_command("srun", 2),
    )
    run = subprocess.run(
        ["salloc", "-n", "2", "--quiet", sys.executable, "-c", RUN_ONE_JOB, json.dumps(asdict(task))],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "SLURM_MPI_TYPE": "pmix"},
    )
    lines = [x for x in run.stdout.splitlines() if x.startswith("OUTCOME ")]
    assert lines, run.stdout[-3000:] + run.stderr[-3000:]
    outcome = json.loads(lines[-1].removeprefix("OUTCOME "))
    assert outcome["status"] == "done", outcome
    assert (outcome["result"]["ranks"], outcome["result"]["domains"]) == (2, 2)
    assert outcome["result"]["final_step"] == 1000
