"""Campaign jobs on two MPI ranks with real HOOMD, mpirun and Dask: results, preemption, lost workers.

A job runs the way a Dask worker runs it (`run_job`: the launcher process, ``mpirun``, a
``job.main`` per rank) inside a stand-in worker process with its own process group, so a
test can signal or kill "the worker" as a scheduler, a VM or the OOM killer would.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gsd.hoomd
import numpy as np
import psutil
import pytest
from campaign_processes import wait_for

from hoomd_mlx.campaign.config.launchers import LAUNCHERS, launcher_command
from hoomd_mlx.campaign.config.spec import load_spec
from hoomd_mlx.campaign.job.contract import JobTask
from hoomd_mlx.campaign.job.execute import run_job
from hoomd_mlx.errors import ConfigurationError

TESTS = Path(__file__).parent
LAUNCHER = ["mpirun", "--oversubscribe", "-n", "{ranks}"]
SETTINGS = {"n_side": 8, "steps": 2000}  # 512 particles: the box takes two domains of r_cut + buffer
PARAMS = {"density": 0.3, "kT": 1.2}

# A Dask worker stand-in: runs one job as a worker does and prints its outcome. It outlives a
# SIGTERM sent to its process group (the notice is for its jobs), as the driver outlives its jobs.
WORKER = textwrap.dedent(
    """
    import json, signal, sys
    from hoomd_mlx.campaign.job.contract import JobTask
    from hoomd_mlx.campaign.job.execute import JobInterruptedError, run_job
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        outcome = run_job(JobTask(**json.loads(sys.argv[1])))
    except JobInterruptedError as err:
        outcome = {"status": "interrupted", "error": str(err)}
    print("OUTCOME " + json.dumps(outcome), flush=True)
    """
)


def _mpi(test):
    for mark in (pytest.mark.hoomd, pytest.mark.slow, pytest.mark.mpi):
        test = mark(test)
    return test


@pytest.fixture
def mpirun_env(monkeypatch):
    """OpenMPI refuses to run as root unless told; the job processes inherit this environment."""
    if os.geteuid() == 0:
        monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
        monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")


def _task(directory, ranks, settings=None, checkpoint_steps=0, checkpoint_seconds=3600.0):
    return JobTask(
        job_id=Path(directory).name,
        params=PARAMS,
        function="jobs_for_mpi_tests:lj",
        directory=str(directory),
        settings={**SETTINGS, **(settings or {})},
        checkpoint_steps=checkpoint_steps,
        checkpoint_seconds=checkpoint_seconds,
        search_path=(str(TESTS),),
        ranks=ranks,
        launcher=launcher_command(LAUNCHER, ranks) if ranks > 1 else (),
    )


def _start(task):
    from dataclasses import asdict

    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(asdict(task))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _outcome(worker, timeout=120):
    output, _ = worker.communicate(timeout=timeout)
    lines = [x for x in output.splitlines() if x.startswith("OUTCOME ")]
    assert lines, output
    return json.loads(lines[-1].removeprefix("OUTCOME "))


def _job_processes(directory):
    """Launcher processes, mpirun and ranks of the job in ``directory`` (this test's, only)."""
    root = str(Path(directory).resolve())
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if any(a.startswith("hoomd_mlx.campaign.") for a in cmd) and any(a.startswith(root) for a in cmd):
            found.append(proc)
    return found


def _steps_log(directory):
    return [json.loads(x) for x in (Path(directory) / "steps.jsonl").read_text().splitlines()]


def _manifest(directory):
    return json.loads((Path(directory) / "checkpoint.json").read_text())


def _exact(path):
    with gsd.hoomd.open(path) as traj:
        frame = traj[0]
    logged = {k.rpartition("/")[2]: v for k, v in frame.log.items()}
    return int(frame.configuration.step), logged["exact_position"], logged["exact_velocity"]


def _interrupted_job(tmp_path, name, checkpoint_steps):
    """A two-rank job of 4000 steps slowed to a few seconds, started and given time to get going."""
    directory = tmp_path / name
    task = _task(directory, 2, {"steps": 4000, "throttle": 0.001}, checkpoint_steps=checkpoint_steps)
    worker = _start(task)
    assert wait_for(lambda: (directory / "steps.jsonl").exists(), 60), "the job did not start"
    return task, worker, directory


# A rank that takes 3 s to stop after a notice, as a checkpoint might; it exits 75 when done.
SLOW_RANK = textwrap.dedent(
    """
    import os, signal, sys, time
    out, rank, got = sys.argv[1], os.environ["OMPI_COMM_WORLD_RANK"], []
    for signum in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(signum, lambda signum, frame: got.append(signum))
    open(os.path.join(out, "ready" + rank), "w").close()
    while not got:
        time.sleep(0.05)
    time.sleep(3.0)
    open(os.path.join(out, "done" + rank), "w").write(str(got[0]))
    sys.exit(75)
    """
)


@_mpi
@pytest.mark.parametrize("notice", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_mpirun_kills_ranks_soon_after_sigterm_but_forwards_sigusr1(tmp_path, mpirun_env, notice):
    """What the launcher process relies on (OpenMPI): why the notice reaches the ranks as SIGUSR1."""
    from hoomd_mlx.campaign.job.launcher import launch_environment

    mpirun = subprocess.Popen(
        [*launcher_command(LAUNCHER, 2), sys.executable, "-c", SLOW_RANK, str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=launch_environment(dict(os.environ)),
        start_new_session=True,
    )
    assert wait_for(lambda: len(list(tmp_path.glob("ready*"))) == 2, 30)
    sent = time.monotonic()
    mpirun.send_signal(notice)
    code = mpirun.wait(timeout=30)
    time.sleep(max(0.0, sent + 3.5 - time.monotonic()))  # long enough for a rank left running
    done = sorted(p.read_text() for p in tmp_path.glob("done*"))
    if notice == signal.SIGTERM:
        assert done == []  # killed before their 3 s were up
    else:
        assert done == [str(int(signal.SIGUSR1))] * 2  # forwarded to both; both finished
        assert code == 75  # and the ranks' status passed on


@_mpi
def test_two_rank_job_gives_the_result_of_one_rank(tmp_path, mpirun_env):
    one, two = _start(_task(tmp_path / "one", 1)), _start(_task(tmp_path / "two", 2))
    single, double = _outcome(one), _outcome(two)
    assert single["status"] == double["status"] == "done", (single, double)
    assert set(single["result"]) == set(double["result"])
    assert (single["result"]["ranks"], double["result"]["ranks"]) == (1, 2)
    assert double["result"]["domains"] == 2  # the box really was decomposed
    assert single["result"]["final_step"] == double["result"]["final_step"] == 2000
    for key in ("potential_energy_per_particle", "kinetic_temperature"):  # same state point, other noise
        assert double["result"][key] == pytest.approx(single["result"][key], rel=0.15)
    for name in ("one", "two"):
        assert [e["how"] for e in _steps_log(tmp_path / name)] == ["started", "finished"]
        assert json.loads((tmp_path / name / "result.json").read_text())["result"]["final_step"] == 2000
    assert not _job_processes(tmp_path)


@_mpi
def test_preempted_two_rank_job_resumes_exactly_where_it_stopped(tmp_path, mpirun_env):
    task, worker, directory = _interrupted_job(tmp_path, "preempted", checkpoint_steps=0)
    time.sleep(1.5)  # simulating
    sent = time.monotonic()
    os.killpg(worker.pid, signal.SIGTERM)  # the notice, to the worker's process group
    outcome = _outcome(worker, timeout=30)
    assert outcome["status"] == "interrupted", outcome
    assert time.monotonic() - sent < 30  # GCP's notice
    assert wait_for(lambda: not _job_processes(directory), 10)
    _, stopped = _steps_log(directory)
    assert stopped["how"] == "preempted"
    assert 0 < stopped["end"] < 4000
    assert _manifest(directory)["checkpoint.gsd"]["step"] == stopped["end"]

    resumed = _outcome(_start(task))  # again on two ranks
    assert resumed["status"] == "done", resumed
    assert resumed["resumed_from"] == stopped["end"]
    assert resumed["result"]["final_step"] == 4000
    ends = [e for e in _steps_log(directory) if e["how"] != "started"]
    assert [(e["start"], e["end"], e["how"]) for e in ends] == [
        (0, stopped["end"], "preempted"),
        (stopped["end"], 4000, "finished"),  # neither a gap nor a repeated step
    ]
    step, position, velocity = _exact(directory / "checkpoint.gsd")  # the only checkpoint
    state = np.load(directory / f"resumed_{stopped['end']}.npz")  # gathered on rank 0 at resume
    assert int(state["timestep"]) == step == stopped["end"]
    np.testing.assert_array_equal(state["position"], position.reshape(-1, 3))  # float64, bit for bit
    np.testing.assert_array_equal(state["velocity"], velocity.reshape(-1, 3))
    assert np.any(state["position"] != state["position"].astype(np.float32))  # not GSD's float32 copy
    with gsd.hoomd.open(directory / "trajectory.gsd") as traj:  # written by rank 0, appended to
        steps = [int(frame.configuration.step) for frame in traj]
    assert sorted(set(steps)) == list(range(500, 4001, 500)), steps


@_mpi
@pytest.mark.parametrize("lost", ["worker", "machine"])
def test_two_rank_job_of_a_lost_worker_resumes_from_its_last_checkpoint(tmp_path, mpirun_env, lost):
    """``worker``: its process group is SIGKILLed, the ranks notice and checkpoint on their own.

    ``machine``: every process of the job is SIGKILLed; the periodic checkpoint is all there is.
    """
    task, worker, directory = _interrupted_job(tmp_path, lost, checkpoint_steps=1000)
    assert wait_for(lambda: (directory / "checkpoint.json").exists(), 60)
    if lost == "worker":
        os.killpg(worker.pid, signal.SIGKILL)
    else:
        victims = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
        assert len(victims) == 5  # worker, launcher process, mpirun, two ranks
        for proc in victims:
            proc.kill()
    worker.wait(timeout=10)
    assert wait_for(lambda: not _job_processes(directory), 30), "ranks left running"
    checkpoint = _manifest(directory)["checkpoint.gsd"]["step"]
    last = _steps_log(directory)[-1]
    if lost == "worker":
        assert (last["how"], last["end"]) == ("preempted", checkpoint)
    else:
        assert last["how"] == "started"  # this attempt never ended
        assert checkpoint % 1000 == 0

    resumed = _outcome(_start(task))
    assert resumed["status"] == "done", resumed
    assert resumed["resumed_from"] == checkpoint
    assert resumed["result"]["final_step"] == 4000
    second = [e for e in _steps_log(directory) if e["start"] == checkpoint]
    assert [e["how"] for e in second] == ["started", "finished"]
    assert second[-1]["end"] == 4000


@_mpi
def test_campaign_of_two_rank_jobs_on_a_local_cluster(tmp_path, mpirun_env):
    from hoomd_mlx.campaign.driver.ledger import Ledger
    from hoomd_mlx.campaign.driver.runner import run_campaign

    shutil.copy(TESTS / "jobs_for_mpi_tests.py", tmp_path / "jobs_for_mpi_tests.py")
    spec_file = tmp_path / "mpi.toml"
    spec_file.write_text(
        textwrap.dedent(
            """
            [campaign]
            name = "mpi"
            [design]
            sampler = "grid"
            [design.parameters]
            density = { values = [0.3] }
            kT = { values = [1.0, 1.5] }
            [job]
            function = "jobs_for_mpi_tests:lj"
            [job.settings]
            n_side = 8
            steps = 1000
            [resources]
            workers = 2
            retries = 0
            checkpoint_steps = 500
            checkpoint_seconds = 0
            ranks = 2                 # launcher: the default, mpirun -n 2 --bind-to none
            """
        )
    )
    spec = load_spec(spec_file)
    summary = run_campaign(spec, tmp_path / "run", progress=False)
    assert summary["counts"]["done"] == 2, summary
    with Ledger.in_directory(tmp_path / "run") as ledger:
        for job in ledger.jobs():
            assert (job.result["ranks"], job.result["domains"], job.result["final_step"]) == (2, 2, 1000)
            assert job.failures == 0
    assert not _job_processes(tmp_path)


# -- spec validation (no MPI needed) ----------------------------------------------------------------

BASE = """
[design]
sampler = "grid"
[design.parameters]
x = { values = [1, 2] }
[job]
function = "jobs_for_mpi_spec:run"
"""


def _spec(tmp_path, extra):
    (tmp_path / "jobs_for_mpi_spec.py").write_text("def run(params, job):\n    return {}\n")
    path = tmp_path / "spec.toml"
    path.write_text(BASE + textwrap.dedent(extra))
    return load_spec(path)


@pytest.mark.parametrize("value", ["0", "-2", "1.5", '"2"', "true"])
def test_bad_ranks_are_refused_naming_the_key(tmp_path, value):
    with pytest.raises(ConfigurationError, match=r"resources\.ranks = .*; expected a whole number >= 1"):
        _spec(tmp_path, f"[resources]\nranks = {value}\n")


@pytest.mark.parametrize(
    "value", ['"mpiexec"', '""', "[]", '["mpirun", "-n", "2"]', "[1, 2]", '["mpirun", "", "{ranks}"]', "4"]
)
def test_bad_launchers_are_refused_with_the_expected_form(tmp_path, value):
    with pytest.raises(ConfigurationError, match=r"resources\.launcher = .*'mpirun' or 'srun'.*\{ranks\}"):
        _spec(tmp_path, f"[resources]\nranks = 2\nlauncher = {value}\n")


def test_several_ranks_need_a_subprocess_job(tmp_path):
    with pytest.raises(ConfigurationError, match=r"resources\.ranks = 2 with job\.isolation = 'inline'"):
        _spec(tmp_path, 'isolation = "inline"\n[resources]\nranks = 2\n')


def test_ranks_and_launcher_reach_the_task(tmp_path):
    import pickle

    from hoomd_mlx.campaign.driver.runner import Campaign

    single = _spec(tmp_path, "")
    assert (single.resources.ranks, single.resources.launcher) == (1, "mpirun")
    task = Campaign(single, tmp_path / "one").task("a", {"x": 1})
    assert (task.ranks, task.launcher) == (1, ())  # one rank: no launcher, as ever

    default = _spec(tmp_path, "[resources]\nranks = 3\n")
    task = Campaign(default, tmp_path / "default").task("a", {"x": 1})
    assert task.launcher == ("mpirun", "-n", "3", "--bind-to", "none")
    assert LAUNCHERS["srun"] == ("srun", "--ntasks", "{ranks}")

    custom = _spec(tmp_path, f"[resources]\nranks = 2\nlauncher = {json.dumps(LAUNCHER)}\n")
    assert custom.resources.launcher == ("mpirun", "--oversubscribe", "-n", "{ranks}")
    task = Campaign(custom, tmp_path / "custom").task("a", {"x": 1})
    assert task.launcher == ("mpirun", "--oversubscribe", "-n", "2")
    assert pickle.loads(pickle.dumps(task)) == task  # it goes to Dask


def test_a_launcher_missing_on_the_worker_is_a_job_error_naming_the_setting(tmp_path):
    task = _task(tmp_path / "job", 2)
    task = JobTask(**{**task.__dict__, "launcher": ("no-such-mpirun", "-n", "2")})
    outcome = run_job(task)
    assert outcome["status"] == "error"
    assert "resources.launcher: 'no-such-mpirun' is not on PATH" in outcome["error"]
