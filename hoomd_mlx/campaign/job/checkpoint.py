"""The job-side helper: build-or-resume a HOOMD simulation, run it in checkpointed chunks.

A job function receives a `JobContext` and uses it like this::

    def run(params, job):
        sim = job.simulation(lambda sim: sim.create_state_from_snapshot(make_frame(params)))
        sim.operations.integrator = ...            # built the same way on every attempt
        job.run(sim, steps=20_000)                 # resumes where the last attempt stopped
        return {"pressure": ...}

Checkpoints are GSD restart files written to a temporary name and `os.replace`d
into place; the previous one is kept. Positions and velocities are also stored
in float64 in the frame's log, so a resumed job continues from the exact state
(GSD's schema keeps them in float32). A checkpoint whose checksum or frame does
not read back is skipped in favour of the previous one.

SIGTERM (a preemption notice) makes `JobContext.run` write a checkpoint after the
current chunk (chunks are sized to about a second) and exit with
`PREEMPTED_EXIT_CODE`.

Under MPI (a job of several ranks, `hoomd_mlx.campaign.job.ranks`) every rank runs the
job function; SIGTERM or SIGUSR1 on any rank stops all of them after the same chunk,
chunk lengths and checkpoint times are rank 0's decisions, checkpoints are written
collectively, and only rank 0 reads or writes the job directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hoomd_mlx.campaign.events import Event
from hoomd_mlx.campaign.job.gsdfiles import read_gsd
from hoomd_mlx.campaign.job.ranks import NOTICE_SIGNAL, JobRanks

__all__ = ["PREEMPTED_EXIT_CODE", "CheckpointPolicy", "JobContext", "Preempted"]

logger = logging.getLogger(__name__)

PREEMPTED_EXIT_CODE = 75
"""int: Exit status of a job that checkpointed and stopped on SIGTERM (EX_TEMPFAIL)."""

CHECKPOINT = "checkpoint.gsd"
PREVIOUS = "checkpoint.prev.gsd"
MANIFEST = "checkpoint.json"
STEPS_LOG = "steps.jsonl"


class Preempted(SystemExit):
    """Raised inside a job after SIGTERM, once its checkpoint is safely written."""

    def __init__(self) -> None:
        super().__init__(PREEMPTED_EXIT_CODE)


class CheckpointPolicy:
    """When to checkpoint: every ``steps`` timesteps and/or every ``seconds`` of wall time.

    Args:
        steps: Checkpoint interval in timesteps (0: not by steps).
        seconds: Checkpoint interval in wall-clock seconds (0: not by time).
        schedule: Wall-clock intervals [s] between successive checkpoints of an attempt, the
            last one repeating (e.g. a preemption model's optimal schedule); replaces ``seconds``.
    """

    def __init__(self, steps: int = 0, seconds: float = 0.0, schedule: tuple[float, ...] = ()) -> None:
        if steps <= 0 and seconds <= 0 and not schedule:
            seconds = 60.0
        self.steps = int(steps)
        self.seconds = float(seconds)
        self.schedule = tuple(float(x) for x in schedule)

    def interval(self, taken: int) -> float:
        """float: Seconds until the checkpoint after the ``taken``-th of this attempt (0: not by time)."""
        if self.schedule:
            return self.schedule[min(taken, len(self.schedule) - 1)]
        return self.seconds

    def due(self, steps_since: int, seconds_since: float, taken: int = 0) -> bool:
        """bool: Whether a checkpoint is due (``taken``: checkpoints written by this attempt so far)."""
        seconds = self.interval(taken)
        return (self.steps > 0 and steps_since >= self.steps) or (seconds > 0 and seconds_since >= seconds)


def _is_hoomd_sigterm_handler(handler: Any) -> bool:
    """bool: Whether ``handler`` is the SIGTERM handler HOOMD-blue < 6.1 installs on import.

    That handler calls ``sys.exit(1)``; from 6.1 ``import hoomd`` installs none (upstream
    commit aaf9e834). Here, not in ``plugin/_compat.py``, because importing the plugin
    package loads TensorFlow, which a job process must not pay for.
    """
    return callable(handler) and getattr(handler, "__module__", None) == "hoomd"


def stop_outside_run(signum: int, frame: object) -> None:
    """The job process's stop notice handler: unwind at once (`JobContext.run` defers to its next chunk)."""
    for notice in (signal.SIGTERM, NOTICE_SIGNAL):
        signal.signal(notice, signal.SIG_IGN)  # one unwinding: a second notice must not cut it short
    logger.warning("stop notice (signal %d) outside the simulation: exiting", signum)
    raise Preempted()


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fsync_replace(tmp: Path, final: Path) -> None:
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


class JobContext:
    """What a job function gets: its parameters, its directory, checkpoint/resume.

    Args:
        params: The design point.
        directory: The job's own directory (created if needed).
        policy: Checkpoint interval.
        report: Callable receiving progress dicts (the runner relays them to the driver).
        ranks: The MPI ranks running this job (default: one rank, no MPI). With several, every
            rank makes the same calls; only rank 0 reports and touches files.

    Attributes:
        settings (dict): The spec's ``[job.settings]``.
        resumed_from (int | None): Timestep of the checkpoint this attempt resumed from.
    """

    def __init__(
        self,
        params: dict[str, Any],
        directory: str | Path,
        policy: CheckpointPolicy | None = None,
        report: Callable[[dict], None] | None = None,
        ranks: JobRanks | None = None,
    ) -> None:
        self.params = dict(params)
        self.directory = Path(directory)
        self.ranks = ranks or JobRanks()
        if self.ranks.is_root:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.policy = policy or CheckpointPolicy()
        self._report = (report or (lambda message: None)) if self.ranks.is_root else (lambda message: None)
        self.settings: dict[str, Any] = {}
        self._sigterm = False
        self._thermostat_dof: list[float] = []
        self.resumed_from: int | None = None

    # -- files ------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """Path: ``name`` inside the job directory."""
        return self.directory / name

    def write_atomic(self, name: str, data: bytes | str) -> Path:
        """Write a job output under a temporary name, then rename it into place (rank 0 only)."""
        final = self.path(name)
        if not self.ranks.is_root:
            return final
        tmp = final.with_name(final.name + ".tmp")
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        _fsync_replace(tmp, final)
        return final

    def save_array(self, name: str, **arrays: np.ndarray) -> Path:
        """Save analysis arrays as ``name`` (.npz), atomically (rank 0 only)."""
        final = self.path(name)
        if not self.ranks.is_root:
            return final
        tmp = final.with_name(final.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        _fsync_replace(tmp, final)
        return final

    # -- checkpoints ------------------------------------------------------------------

    def latest_checkpoint(self) -> tuple[Path, int] | None:
        """The newest checkpoint that reads back intact, with its timestep; None if none.

        A damaged checkpoint (checksum mismatch, truncated) is skipped for the previous one,
        with an error in the log and a ``checkpoint-damaged`` event. One the installed gsd
        cannot read (a newer file layer or schema) raises
        `hoomd_mlx.campaign.job.gsdfiles.GSDVersionError` instead of restarting the job from
        step 0; an unreadable file (permissions, I/O) raises its ``OSError``.
        """
        manifest = self._manifest()
        for name in (CHECKPOINT, PREVIOUS):
            path = self.path(name)
            entry = manifest.get(name)
            if entry is None or not path.exists():
                continue
            if _sha256(path) != entry["sha256"]:
                self._damaged(path, "its checksum does not match the one recorded when it was written")
                continue
            step = read_gsd(path, lambda traj: int(traj[0].configuration.step))
            if step is None:
                self._damaged(path, "gsd reads no intact frame from it")
                continue
            return path, step
        return None

    def _damaged(self, path: Path, why: str) -> None:
        fallback = "the previous checkpoint" if path.name == CHECKPOINT else "the start"
        logger.error("checkpoint %s is damaged (%s); resuming from %s", path, why, fallback)
        self._report(Event.CHECKPOINT_DAMAGED.message(file=path.name, why=why))

    def _manifest(self) -> dict:
        path = self.path(MANIFEST)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            # Written atomically, so this is damage from outside: say so, and resume from the start.
            logger.error("%s is damaged (%s); its checkpoints are not used", path, err)
            self._report(Event.CHECKPOINT_DAMAGED.message(file=MANIFEST, why=str(err)))
            return {}

    def checkpoint(self, sim: Any) -> Path:
        """Write a checkpoint of ``sim`` now (atomically, keeping the previous one).

        Collective under MPI: every rank calls it; it returns once rank 0 has the files in place.
        """
        import hoomd

        flush_writers(sim)  # frames up to this step reach the file before the checkpoint counts
        log = _exact_logger(hoomd, sim)
        tmp = self.path(CHECKPOINT + ".tmp")
        hoomd.write.GSD.write(
            state=sim.state, filename=str(tmp), filter=hoomd.filter.All(), mode="wb", logger=log
        )
        if self.ranks.is_root:
            self._replace_checkpoint(tmp, int(sim.timestep))
        self.ranks.barrier()
        return self.path(CHECKPOINT)

    def _replace_checkpoint(self, tmp: Path, step: int) -> None:
        manifest = self._manifest()
        current = self.path(CHECKPOINT)
        if current.exists() and CHECKPOINT in manifest:
            os.replace(current, self.path(PREVIOUS))
            manifest[PREVIOUS] = manifest[CHECKPOINT]
        _fsync_replace(tmp, current)
        manifest[CHECKPOINT] = {"sha256": _sha256(current), "step": step}
        self.write_atomic(MANIFEST, json.dumps(manifest))
        self._report(Event.CHECKPOINT.message(step=step))

    def trajectory(
        self, sim: Any, trigger: Any, logger: Any = None, name: str = "trajectory.gsd", filter: Any = None
    ) -> Any:
        """A ``hoomd.write.GSD`` appending to the job's trajectory across attempts (added to ``sim``).

        ``trigger`` is a period in steps or a ``hoomd.trigger.Trigger``; ``filter``
        selects the particles written (default all).

        A trajectory damaged by a killed attempt is moved aside (``.corrupt``, with an
        error in the log and a ``trajectory-damaged`` event) and a new one started; one
        the installed gsd cannot read raises `hoomd_mlx.campaign.job.gsdfiles.GSDVersionError`
        and is kept. Every checkpoint flushes the writers first, so after a hard kill the
        trajectory holds every frame up to the checkpoint the next attempt resumes from;
        duplicated steps after a resume are resolved by
        `hoomd_mlx.campaign.analysis.unique_frames`.
        """
        import hoomd

        path = self.path(name)
        mode = "wb"
        if path.exists() and self.ranks.is_root:
            frames = read_gsd(path, len)  # GSDVersionError or OSError: raised, the file kept
            if frames is None:
                aside = path.with_name(path.name + ".corrupt")
                logger.error(
                    "trajectory %s is damaged; moved aside as %s, starting a new one", path, aside.name
                )
                self._report(Event.TRAJECTORY_DAMAGED.message(file=path.name, moved_to=aside.name))
                os.replace(path, aside)
            elif frames:
                mode = "ab"
        mode = self.ranks.from_root(mode)
        if not isinstance(trigger, hoomd.trigger.Trigger):
            trigger = hoomd.trigger.Periodic(int(trigger))
        writer = hoomd.write.GSD(
            filename=str(path), trigger=trigger, mode=mode, logger=logger, filter=filter or hoomd.filter.All()
        )
        sim.operations.writers.append(writer)
        return writer

    # -- the simulation ---------------------------------------------------------------

    def simulation(self, build: Callable[[Any], None], device: Any = None, seed: int = 0) -> Any:
        """A ``hoomd.Simulation`` resumed from the last good checkpoint, or built by ``build(sim)``."""
        import hoomd

        if _is_hoomd_sigterm_handler(signal.getsignal(signal.SIGTERM)):
            signal.signal(signal.SIGTERM, stop_outside_run)  # HOOMD-blue < 6.1 took it on import
        sim = hoomd.Simulation(device=device or hoomd.device.CPU(), seed=seed)
        self.ranks.check(sim)
        found = self.ranks.from_root(self.latest_checkpoint() if self.ranks.is_root else None)
        if found is None:
            build(sim)
            return sim
        path, step = found
        sim.create_state_from_gsd(str(path))
        self._thermostat_dof = _restore_exact(sim, path, self.ranks)
        self.resumed_from = step
        self._report(Event.RESUMED.message(step=step))
        logger.info("resumed from %s at step %d", path.name, step)
        return sim

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._sigterm = True

    def run(self, sim: Any, steps: int) -> None:
        """Run until ``steps`` timesteps past the job's first step, checkpointing on the way.

        The target is fixed on the first attempt (stored in the job directory), so a
        resumed attempt ends at the same final timestep as an uninterrupted run.
        """
        target_file = self.path("target_step")
        final = None
        if self.ranks.is_root:
            if target_file.exists():
                final = int(target_file.read_text())
            else:
                final = int(sim.timestep) + int(steps)
                self.write_atomic("target_step", str(final))
        final = self.ranks.from_root(final)
        if self._thermostat_dof:
            _set_thermostat_dof(sim, self._thermostat_dof)  # the integrator exists now
        main_thread = threading.current_thread() is threading.main_thread()
        notices = (signal.SIGTERM,) if self.ranks.size == 1 else (signal.SIGTERM, NOTICE_SIGNAL)
        previous = {s: signal.signal(s, self._on_sigterm) for s in notices} if main_thread else {}
        chunk, last_step, last_time, taken = 100, int(sim.timestep), time.monotonic(), 0
        start_step = int(sim.timestep)
        self._log_steps(start_step, start_step, "started")
        if start_step >= final:  # a retry after the last checkpoint: attach the operations all the same
            sim.run(0)
        try:
            while sim.timestep < final:
                n = min(chunk, final - int(sim.timestep))
                if self.policy.steps > 0:  # land exactly on the checkpoint interval
                    n = min(n, max(1, self.policy.steps - (int(sim.timestep) - last_step)))
                t0 = time.monotonic()
                sim.run(n)
                elapsed = time.monotonic() - t0
                chunk = max(1, min(100_000, int(n / max(elapsed, 1e-6))))  # about one second per chunk
                due = self.policy.due(int(sim.timestep) - last_step, time.monotonic() - last_time, taken)
                chunk, due = self.ranks.from_root((chunk, due))  # wall times differ between ranks
                if self.ranks.any(self._sigterm):
                    self.checkpoint(sim)
                    self._log_steps(start_step, int(sim.timestep), "preempted")
                    self._report(Event.PREEMPTED.message(step=int(sim.timestep)))
                    self.ranks.barrier()  # no rank exits (and so aborts the others) before rank 0 wrote
                    raise Preempted()
                if due:
                    self.checkpoint(sim)
                    last_step, last_time, taken = int(sim.timestep), time.monotonic(), taken + 1
            self._log_steps(start_step, int(sim.timestep), "finished")
        finally:
            for s, handler in previous.items():
                # HOOMD-blue < 6.1 replaced the job process's handler when the job imported it
                signal.signal(s, stop_outside_run if _is_hoomd_sigterm_handler(handler) else handler)

    def _log_steps(self, start: int, end: int, how: str) -> None:
        if not self.ranks.is_root:
            return
        with self.path(STEPS_LOG).open("a") as f:
            f.write(json.dumps({"start": start, "end": end, "how": how, "pid": os.getpid()}) + "\n")


def flush_writers(sim: Any) -> None:
    """Flush every ``hoomd.write.GSD`` of ``sim`` (HOOMD buffers frames: 64 MiB in 4.x, 1 MiB in 5.3+)."""
    import hoomd

    for writer in sim.operations.writers:
        if isinstance(writer, hoomd.write.GSD):
            writer.flush()


def _exact_logger(hoomd: Any, sim: Any) -> Any:
    """A HOOMD logger carrying float64 positions, velocities and thermostat state.

    Collective under MPI (the snapshot is gathered on rank 0, whose values GSD writes).
    """
    snapshot = sim.state.get_snapshot()
    if snapshot.communicator.rank == 0:
        position = np.asarray(snapshot.particles.position, dtype=np.float64)
        velocity = np.asarray(snapshot.particles.velocity, dtype=np.float64)
    else:  # snapshots hold data on rank 0 only
        position = velocity = np.zeros((0, 3))
    dof = _thermostat_dof(sim)

    class ExactState(metaclass=hoomd.logging.Loggable):
        @hoomd.logging.log(category="sequence")
        def exact_position(self):
            return position

        @hoomd.logging.log(category="sequence")
        def exact_velocity(self):
            return velocity

        @hoomd.logging.log(category="sequence")
        def thermostat_dof(self):
            return dof

    logger = hoomd.logging.Logger(categories=["sequence"])
    logger.add(ExactState(), quantities=["exact_position", "exact_velocity", "thermostat_dof"])
    return logger


def _logged(frame_log: dict, name: str) -> np.ndarray | None:
    for key, value in frame_log.items():
        if key.endswith("/" + name):
            return np.asarray(value)
    return None


def _restore_exact(sim: Any, path: Path, ranks: JobRanks) -> list[float]:
    """Overwrite the float32 GSD positions/velocities with the float64 copies; return thermostat DOF.

    Collective under MPI: rank 0 reads the file and fills the snapshot, which
    ``set_snapshot`` scatters to the ranks' domains.
    """
    position = velocity = dof = None
    if ranks.is_root:
        import gsd.hoomd

        with gsd.hoomd.open(path, "r") as traj:
            frame_log = dict(traj[0].log)
        position = _logged(frame_log, "exact_position")
        velocity = _logged(frame_log, "exact_velocity")
        dof = _logged(frame_log, "thermostat_dof")
    has_exact, dof = ranks.from_root((position is not None, None if dof is None else dof.tolist()))
    if has_exact:
        snapshot = sim.state.get_snapshot()
        if ranks.is_root:
            snapshot.particles.position[:] = position.reshape(-1, 3)
            snapshot.particles.velocity[:] = velocity.reshape(-1, 3)
        sim.state.set_snapshot(snapshot)
    return [] if dof is None else [float(x) for x in np.ravel(dof)]


def _thermostats(sim: Any) -> list:
    integrator = sim.operations.integrator
    if integrator is None:
        return []
    found = []
    for method in integrator.methods:
        thermostat = getattr(method, "thermostat", None)
        if thermostat is not None and hasattr(thermostat, "translational_dof"):
            found.append(thermostat)
    return found


def _thermostat_dof(sim: Any) -> np.ndarray:
    """The thermostats' own variables, 4 each: MTTK's ``(xi, eta)``, translational and rotational."""
    values = []
    for thermostat in _thermostats(sim):
        values += [*thermostat.translational_dof, *thermostat.rotational_dof]
    return np.asarray(values, dtype=np.float64)


def _set_thermostat_dof(sim: Any, values: list[float]) -> None:
    for thermostat, k in zip(_thermostats(sim), range(0, len(values), 4), strict=False):
        thermostat.translational_dof = (values[k], values[k + 1])
        thermostat.rotational_dof = (values[k + 2], values[k + 3])
