"""The preemption drill: kill real Dask workers at ages drawn from a lifetime model.

``hoomd-mlx campaign run SPEC --preempt scispot --preempt-scale 2.5`` rehearses a cloud run
on one machine: every worker of the campaign's LocalCluster is a "VM" whose lifetime is drawn
from the model, with model hours compressed to ``seconds_per_hour`` wall seconds (2.5: a 24 h
VM life lasts a minute). When its time comes, the worker process and the job subprocesses
under it get SIGKILL at once -- a VM vanishing, not a polite SIGTERM -- so the work since each
job's last checkpoint is really lost. The LocalCluster's nanny starts a replacement worker (a
fresh VM, with a new lifetime), and the campaign runner does what it does for any lost
worker: the jobs resume from their checkpoints elsewhere.

`WorkerWatch` does the watching (and, in a drill, the killing) in a thread of the driver. It
never touches the ledger: it hands ``(time, message)`` pairs to the driver's event queue, as
the workers' own events arrive, and the driver records them (``vm-preempted`` with the work
each job lost, ``vm-lost`` for a worker that died on its own, ``vm-censored`` for workers
still alive at the end) -- the lifetimes `lifetime.refit_from_events` learns from.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hoomd_mlx.cloud.lifetime import PreemptionModel
from hoomd_mlx.errors import ConfigurationError

__all__ = ["DrillSettings", "ProgressClock", "WorkerWatch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrillSettings:
    """A preemption drill: the lifetime model, how many wall seconds a model hour lasts, the seed."""

    model: PreemptionModel
    seconds_per_hour: float = 2.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.seconds_per_hour > 0:
            raise ConfigurationError(
                f"--preempt-scale {self.seconds_per_hour}: wall seconds per model hour must be > 0"
            )


@dataclass
class _Worker:
    address: str
    pid: int | None
    born: float  # wall time the worker process started
    dies: float  # wall time the drill kills it (inf: never)
    killed: bool = False


def _kill_tree(pid: int) -> int:
    """SIGKILL a worker and every process under it (its jobs) together; return how many."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return 0
    killed = 0
    for proc in tree:
        try:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


class WorkerWatch:
    """Follows the workers of a LocalCluster (or any scheduler); in a drill, kills them on time.

    Args:
        client: The campaign's ``distributed.Client``.
        report: Receives ``(wall time, message)`` pairs (the driver's event queue ``put``).
        cluster: The LocalCluster (its nannies tell the worker processes); None for an
            external scheduler (watch only: ages count from when a worker is first seen).
        drill: Kill workers at model-drawn ages (needs ``cluster``); None: watch only.
        seconds_per_hour: Wall seconds per model hour for the ages reported (a drill's scale).
        poll: Seconds between looks at the workers (default 0.1 in a drill, else 1).
    """

    def __init__(
        self,
        client: Any,
        report: Callable[[tuple[float, dict]], None],
        *,
        cluster: Any = None,
        drill: DrillSettings | None = None,
        seconds_per_hour: float = 3600.0,
        poll: float | None = None,
    ) -> None:
        if drill is not None and cluster is None:
            raise ConfigurationError(
                "--preempt kills the worker processes of the campaign's own LocalCluster; "
                "it cannot be used with --scheduler"
            )
        self.client = client
        self.cluster = cluster
        self.report = report
        self.drill = drill
        self.seconds_per_hour = drill.seconds_per_hour if drill is not None else float(seconds_per_hour)
        self.poll = poll if poll is not None else (0.1 if drill is not None else 1.0)
        self.workers: dict[str, _Worker] = {}
        self.kills = 0
        self._rng = np.random.default_rng(drill.seed if drill is not None else 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hoomd-mlx-worker-watch", daemon=True)

    def start(self) -> WorkerWatch:
        """Start watching (a daemon thread); return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop, and report the workers still alive as censored lifetimes (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        now = time.time()
        for worker in self.workers.values():
            if not worker.killed:
                self._send("vm-censored", worker, now)

    # -- the thread --------------------------------------------------------------------

    def _current(self) -> dict[str, int | None]:
        """Worker address -> process id (None when unknown) as the cluster or scheduler sees them."""
        if self.cluster is not None:
            found = {}
            for nanny in list(getattr(self.cluster, "workers", {}).values()):
                address = getattr(nanny, "worker_address", None)
                process = getattr(getattr(nanny, "process", None), "process", None)
                if address and process is not None and process.pid:
                    found[address] = process.pid
            return found
        return dict.fromkeys(self.client.scheduler_info(n_workers=-1)["workers"])

    def _born(self, pid: int | None, now: float) -> float:
        if pid is None:
            return now
        import psutil

        try:
            return psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            return now

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                current = self._current()
            except Exception as err:  # the cluster is closing; try again next round
                logger.debug("worker watch: %s", err)
                continue
            now = time.time()
            for address, pid in current.items():
                if address not in self.workers:
                    born = self._born(pid, now)
                    dies = np.inf
                    if self.drill is not None:
                        dies = born + float(self.drill.model.sample(self._rng)) * self.seconds_per_hour
                    self.workers[address] = _Worker(address, pid, born, dies)
            for address in list(self.workers):
                worker = self.workers[address]
                if address not in current:
                    if not worker.killed:
                        self._send("vm-lost", worker, now)
                    del self.workers[address]
                elif not worker.killed and now >= worker.dies and worker.pid is not None:
                    _kill_tree(worker.pid)
                    worker.killed = True
                    self.kills += 1
                    logger.warning(
                        "drill: preempted worker %s at age %.1f s (%.2f model hours)",
                        address,
                        now - worker.born,
                        (now - worker.born) / self.seconds_per_hour,
                    )
                    self._send("vm-preempted", worker, now)

    def _send(self, kind: str, worker: _Worker, now: float) -> None:
        age = max(0.0, now - worker.born)
        message = {
            "event": kind,
            "worker": worker.address,
            "age_seconds": age,
            "age_hours": age / self.seconds_per_hour,
            "drill": self.drill is not None,
        }
        self.report((now, message))


class ProgressClock:
    """The driver's view of each job's last safe point, to say what a preemption cost.

    ``observe`` takes the workers' ``(time, message)`` events; ``lost`` says, for a job whose
    worker died at ``when``, the wall seconds since its attempt started or last checkpointed
    and, when two checkpoints gave a rate, the timesteps that implies.
    """

    def __init__(self) -> None:
        self._safe: dict[str, tuple[float, int | None]] = {}
        self._rate: dict[str, float] = {}

    def observe(self, when: float, message: dict) -> None:
        """Note a job's start, resumption or checkpoint."""
        job, kind = message.get("job"), message.get("event")
        if job is None or kind not in ("started", "resumed", "checkpoint"):
            return
        step = message.get("step")
        previous = self._safe.get(job)
        if kind == "checkpoint" and previous is not None and previous[1] is not None and when > previous[0]:
            self._rate[job] = (int(step) - previous[1]) / (when - previous[0])
        self._safe[job] = (when, int(step) if step is not None else (previous[1] if previous else None))

    def lost(self, job: str, when: float) -> dict:
        """dict: ``job``, ``lost_seconds``, ``checkpoint_step`` and (if known) ``steps_lost_estimate``."""
        since, step = self._safe.get(job, (when, None))
        lost = {"job": job, "lost_seconds": max(0.0, when - since), "checkpoint_step": step}
        if job in self._rate:
            lost["steps_lost_estimate"] = round(self._rate[job] * lost["lost_seconds"])
        return lost
