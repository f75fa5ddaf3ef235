"""Checkpoint and resume of one job, with real HOOMD: exact state, corrupt files, SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hoomd_mlx.campaign.job.checkpoint import PREEMPTED_EXIT_CODE, CheckpointPolicy, JobContext, Preempted

pytestmark = pytest.mark.hoomd

CAMPAIGNS = Path(__file__).parent.parent / "campaigns"


def _lj_job(job, steps, sigterm_at=None, inspect=None, thermostat="bussi"):
    import hoomd

    sys.path.insert(0, str(CAMPAIGNS))
    from lj_fluid import _force

    from hoomd_mlx.demo import lattice_frame

    def build(sim):
        sim.create_state_from_snapshot(lattice_frame(6, 0.7))
        sim.state.thermalize_particle_momenta(filter=hoomd.filter.All(), kT=1.2)

    sim = job.simulation(build, seed=5)
    if inspect is not None:
        inspect(sim)
    if thermostat == "bussi":
        thermostat = hoomd.md.methods.thermostats.Bussi(kT=1.2)
    else:
        thermostat = hoomd.md.methods.thermostats.MTTK(kT=1.2, tau=0.5)
    method = hoomd.md.methods.ConstantVolume(filter=hoomd.filter.All(), thermostat=thermostat)
    sim.operations.integrator = hoomd.md.Integrator(
        dt=0.005, forces=[_force(hoomd, "native")], methods=[method]
    )
    if sigterm_at is not None:

        class Preempt(hoomd.custom.Action):
            def act(self, timestep):
                os.kill(os.getpid(), signal.SIGTERM)

        sim.operations.writers.append(
            hoomd.write.CustomWriter(action=Preempt(), trigger=hoomd.trigger.On(sigterm_at))
        )
    job.run(sim, steps)
    return sim


def _steps_log(directory):
    return [json.loads(line) for line in (directory / "steps.jsonl").read_text().splitlines()]


def test_resumed_job_continues_from_the_exact_state(tmp_path):
    # The notice at step 250 stops the job at its checkpoint at 300 (chunks end on the interval, so
    # the resume point does not depend on the machine's speed); the resumed attempt runs 60 steps.
    # The restored state is checked bit for bit below; the trajectories then differ only by what a
    # restart recomputes (forces, neighbor list, particle order: 4.7e-8 here after 60 steps, the same
    # on every run). Over 300 steps that difference grew chaotically past 1e-5 once in three runs.
    steps = 360
    reference = _lj_job(JobContext({}, tmp_path / "ref", CheckpointPolicy(steps=10_000)), steps)
    expected = reference.state.get_snapshot().particles.position.copy()

    directory = tmp_path / "interrupted"
    with pytest.raises(Preempted):
        _lj_job(JobContext({}, directory, CheckpointPolicy(steps=300)), steps, sigterm_at=250)
    job = JobContext({}, directory, CheckpointPolicy(steps=300))

    def restored_exactly(sim):
        import gsd.hoomd

        with gsd.hoomd.open(directory / "checkpoint.gsd") as traj:
            frame = traj[0]
        exact = next(v for k, v in frame.log.items() if k.endswith("exact_position")).reshape(-1, 3)
        position = sim.state.get_snapshot().particles.position
        np.testing.assert_array_equal(position, exact)  # float64, bit for bit
        assert np.any(position != position.astype(np.float32))  # not the GSD float32 copy
        assert sim.timestep == frame.configuration.step

    resumed = _lj_job(job, steps, inspect=restored_exactly)
    assert resumed.timestep == steps == reference.timestep
    first, second = [e for e in _steps_log(directory) if e["how"] != "started"]
    assert first["how"] == "preempted"
    assert job.resumed_from == first["end"] == second["start"] == 300  # nothing before it runs again
    np.testing.assert_allclose(resumed.state.get_snapshot().particles.position, expected, rtol=0, atol=1e-6)


def test_resume_restores_the_nose_hoover_thermostat(tmp_path):
    """MTTK's (xi, eta) pairs come back as they were at the checkpoint (the electrolyte's default)."""
    import gsd.hoomd

    reference = _lj_job(
        JobContext({}, tmp_path / "ref", CheckpointPolicy(steps=10_000)), 360, thermostat="mttk"
    )
    directory = tmp_path / "mttk"
    with pytest.raises(Preempted):
        _lj_job(
            JobContext({}, directory, CheckpointPolicy(steps=300)), 360, sigterm_at=250, thermostat="mttk"
        )
    with gsd.hoomd.open(directory / "checkpoint.gsd") as traj:
        saved = next(v for k, v in traj[0].log.items() if k.endswith("thermostat_dof"))
    assert np.abs(saved).max() > 0  # the thermostat had moved by the checkpoint
    job = JobContext({}, directory, CheckpointPolicy(steps=300))
    resumed = _lj_job(job, 360, thermostat="mttk")
    assert job.resumed_from == 300
    assert resumed.timestep == 360
    # Restored, the thermostat carries on as if never stopped (a reset one would start from zero).
    expected = reference.operations.integrator.methods[0].thermostat.translational_dof
    got = resumed.operations.integrator.methods[0].thermostat.translational_dof
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_corrupt_checkpoint_falls_back_to_the_previous(tmp_path):
    job = JobContext({}, tmp_path, CheckpointPolicy(steps=100))
    sim = _lj_job(job, 300)
    assert job.latest_checkpoint()[1] == 300
    path = job.path("checkpoint.gsd")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated mid-write
    found, step = job.latest_checkpoint()
    assert found.name == "checkpoint.prev.gsd"
    assert step == 200
    del sim


def test_sigterm_checkpoints_within_the_grace_period(tmp_path):
    task = {
        "job_id": "sigterm",
        "params": {"density": 0.7, "kT": 1.2},
        "function": "lj_fluid:run",
        "directory": str(tmp_path),
        "settings": {"n_side": 6, "steps": 10_000_000, "frame_every": 100_000},
        "analyses": [],
        "checkpoint_steps": 0,
        "checkpoint_seconds": 3600.0,
        "search_path": [str(CAMPAIGNS)],
        "threads": 1,
    }
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps(task))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hoomd_mlx.campaign.job.main", str(task_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(CAMPAIGNS)},
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "target_step").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # simulating
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)  # GCP gives 30 s
    elapsed = time.monotonic() - sent
    output = proc.stdout.read()
    assert code == PREEMPTED_EXIT_CODE, output
    assert elapsed < 30
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    assert manifest["checkpoint.gsd"]["step"] > 0
    assert _steps_log(tmp_path)[-1] == {**_steps_log(tmp_path)[-1], "how": "preempted"}


def test_attempt_resumed_at_the_final_step_attaches_its_writers(tmp_path):
    """A worker lost after the last checkpoint but before the result: the retry runs no step.

    Its operations are attached all the same, so the job's writers can be flushed and read.
    """
    job = JobContext({}, tmp_path, CheckpointPolicy(steps=100))
    _lj_job(job, 300)
    assert job.latest_checkpoint()[1] == 300  # the final step is checkpointed
    retry = JobContext({}, tmp_path, CheckpointPolicy(steps=100))
    sim = _lj_job(retry, 300, inspect=lambda sim: retry.trajectory(sim, 100))
    assert sim.timestep == 300
    sim.operations.writers[-1].flush()  # raised "The GSD file is unavailable" before the fix
    last = _steps_log(tmp_path)[-1]
    assert (last["start"], last["end"], last["how"]) == (300, 300, "finished")


def _start_job(tmp_path, function, params, checkpoint_steps=0):
    task = {
        "job_id": function,
        "params": params,
        "function": f"jobs_for_checkpoint_tests:{function}",
        "directory": str(tmp_path),
        "settings": {},
        "analyses": [],
        "checkpoint_steps": checkpoint_steps,
        "checkpoint_seconds": 0.0 if checkpoint_steps else 3600.0,
        "search_path": [str(Path(__file__).parent)],
        "threads": 1,
    }
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps(task))
    return subprocess.Popen(
        [sys.executable, "-m", "hoomd_mlx.campaign.job.main", str(task_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _frame_steps(path):
    import gsd.hoomd

    with gsd.hoomd.open(path) as traj:
        return [int(frame.configuration.step) for frame in traj]


def test_trajectory_holds_every_frame_up_to_a_checkpoint_after_sigkill(tmp_path):
    """HOOMD buffers trajectory frames (64 MiB in 4.x, 1 MiB from 5.3): a checkpoint flushes them first."""
    proc = _start_job(
        tmp_path, "killed_after_checkpoint", {"kill_at": 200, "steps": 1000, "frame_every": 10}, 100
    )
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == -signal.SIGKILL, output
    manifest = json.loads((tmp_path / "checkpoint.json").read_text())
    assert manifest["checkpoint.gsd"]["step"] == 200
    assert _frame_steps(tmp_path / "trajectory.gsd") == list(range(10, 201, 10))


def test_stop_notice_outside_the_run_unwinds_the_job(tmp_path):
    """SIGTERM between simulations: exit as preempted, files flushed (HOOMD >= 6.1 installs no handler)."""
    proc = _start_job(tmp_path, "notice_outside_run", {"steps": 300, "frame_every": 10})
    deadline = time.monotonic() + 60
    while not (tmp_path / "waiting").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == PREEMPTED_EXIT_CODE, output
    assert _frame_steps(tmp_path / "trajectory.gsd") == list(range(10, 301, 10))
