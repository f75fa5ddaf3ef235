"""Threads of the driver that watch the workers: who is alive, how old, and (in a drill) who dies now.

`Watcher` is the skeleton (a daemon thread polling until stopped, a last look at the end);
`WorkerWatch` follows the workers of the campaign's cluster through the scheduler and, in a
preemption drill (`hoomd_mlx.cloud.drill`), kills them at model-drawn ages; the SLURM watch
(`hoomd_mlx.campaign.backends.batch.SlurmWatch`) follows the batch jobs. Watchers never touch
the ledger: they hand ``(time, message)`` pairs to the driver's event queue, as the workers'
own events arrive, and the driver records them (``vm-preempted`` with the work each job lost,
``vm-lost`` for a worker that died on its own, ``vm-censored`` for workers still alive at the
end) -- the lifetimes `hoomd_mlx.cloud.lifetime.refit_from_events` learns from.
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

from hoomd_mlx.campaign.events import Event
from hoomd_mlx.cloud.drill import DrillSettings
from hoomd_mlx.errors import ConfigurationError

__all__ = ["Watcher", "WorkerWatch"]

logger = logging.getLogger(__name__)


class Watcher:
    """A daemon thread that calls `look` every ``poll`` seconds until `stop`, then `finish` once."""

    name = "hoomd-mlx-watch"

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    def start(self):
        """Start watching (a daemon thread); return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and `finish` (once; later calls do nothing)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.finish()

    def look(self) -> None:
        """One round of watching."""

    def finish(self) -> None:
        """What to do once the watch ends."""

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.look()
            except Exception as err:  # a transient error (a closing cluster, squeue) must not end the watch
                logger.debug("%s: %s", self.name, err)


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


@dataclass
class _Worker:
    address: str
    pid: int | None
    born: float  # wall time the worker process started
    dies: float  # wall time the drill kills it (inf: never)
    seen: float = 0.0  # wall time the watch first saw it (registered with the scheduler)
    killed: bool = False


class WorkerWatch(Watcher):
    """Follows the workers of the campaign's cluster; in a drill, kills them on time.

    Workers are seen through the scheduler (``Client.scheduler_info``); the process id of a new
    worker of the campaign's own cluster comes from ``Client.run(os.getpid)`` on it (its age
    counts from the process's start; a drill kills that process and its jobs).

    Args:
        client: The campaign's ``distributed.Client``.
        report: Receives ``(wall time, message)`` pairs (the driver's event queue ``put``).
        cluster: The LocalCluster the campaign started; None for an external scheduler
            (watch only: ages count from when a worker is first seen).
        drill: Kill workers at model-drawn ages (needs ``cluster``); None: watch only.
        seconds_per_hour: Wall seconds per model hour for the ages reported (a drill's scale).
        poll: Seconds between looks at the workers (default 0.1 in a drill, else 1).
    """

    name = "hoomd-mlx-worker-watch"

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
        super().__init__(poll if poll is not None else (0.1 if drill is not None else 1.0))
        self.client = client
        self.cluster = cluster
        self.report = report
        self.drill = drill
        self.seconds_per_hour = drill.seconds_per_hour if drill is not None else float(seconds_per_hour)
        self.workers: dict[str, _Worker] = {}
        self.kills = 0
        self._rng = np.random.default_rng(drill.seed if drill is not None else 0)

    def finish(self) -> None:
        """Report the workers still alive as censored lifetimes."""
        now = time.time()
        for worker in self.workers.values():
            if not worker.killed:
                self._send(Event.VM_CENSORED, worker, now)

    def _pids(self, addresses: list[str]) -> dict[str, int | None]:
        """Process ids of new workers of the campaign's own cluster (None for an external one)."""
        if self.cluster is None or not addresses:
            return dict.fromkeys(addresses)
        try:
            return self.client.run(os.getpid, workers=addresses, on_error="return")
        except Exception as err:  # a worker that went away meanwhile: next round
            logger.debug("worker watch: %s", err)
            return {}

    def _born(self, pid: int | None, now: float) -> float:
        if not isinstance(pid, int):
            return now
        import psutil

        try:
            return psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            return now

    def look(self) -> None:
        """Note new workers and vanished ones; in a drill, kill those whose time has come."""
        current = set(self.client.scheduler_info(n_workers=-1)["workers"])
        now = time.time()
        for address, pid in self._pids(sorted(current - set(self.workers))).items():
            pid = pid if isinstance(pid, int) else None
            if self.cluster is not None and pid is None:
                continue  # not answering yet: next round
            born = self._born(pid, now)
            dies = np.inf
            if self.drill is not None:
                dies = born + float(self.drill.model.sample(self._rng)) * self.seconds_per_hour
            self.workers[address] = _Worker(address, pid, born, dies, seen=now)
        for address in list(self.workers):
            worker = self.workers[address]
            if address not in current:
                if not worker.killed:
                    self._send(Event.VM_LOST, worker, now)
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
                self._send(Event.VM_PREEMPTED, worker, now)

    def _send(self, kind: Event, worker: _Worker, now: float) -> None:
        age = max(0.0, now - worker.born)
        message = kind.message(
            worker=worker.address,
            age_seconds=age,
            age_hours=age / self.seconds_per_hour,
            seen_at_age_seconds=max(0.0, worker.seen - worker.born),  # a drill cannot kill before this
            drill=self.drill is not None,
        )
        self.report((now, message))
