"""One driver session: submits pending jobs, records their outcomes and the events around them.

The driver is the only writer of the ledger. Each `hoomd_mlx.campaign.events.Event` kind has
one handler here; a kind without one fails loudly.
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Callable
from typing import Any

from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from hoomd_mlx.campaign.driver.clock import ProgressClock
from hoomd_mlx.campaign.events import Event
from hoomd_mlx.campaign.job.execute import JobInterruptedError, run_job
from hoomd_mlx.errors import ConfigurationError

__all__ = ["Driver"]

logger = logging.getLogger(__name__)

# 'the machine went away' rather than 'the job failed' (distributed's CommClosedError is an OSError)
_INFRASTRUCTURE = (JobInterruptedError, FutureCancelledError, KilledWorker, OSError, TimeoutError)


class Driver:
    """One driver session: submits pending jobs, records outcomes and worker events.

    Each `Event` kind has one handler (`handlers`); a kind without one fails loudly.
    """

    def __init__(self, campaign: Any, client: Any, progress: Any) -> None:
        self.campaign = campaign
        self.ledger = campaign.ledger
        self.client = client
        self.progress = progress
        self.events: queue.Queue = queue.Queue()
        self.in_flight: dict[Any, str] = {}
        self.workers: dict[str, str] = {}
        self.clock = ProgressClock()
        pending = self.ledger.jobs("pending")
        self.pending = deque(job.id for job in pending)
        self.params = {job.id: job.params for job in pending}
        self.attempts = {job.id: job.attempts for job in pending}  # as the ledger counts them
        self.handlers: dict[Event, Callable[[float, dict], None]] = {
            Event.STARTED: self._started,
            Event.CHECKPOINT: self._checkpoint,
            Event.RESUMED: self._resumed,
            Event.PREEMPTED: self._note,
            Event.FINISHED: self._note,
            Event.ALREADY_DONE: self._note,
            Event.CHECKPOINT_DAMAGED: self._damaged,
            Event.TRAJECTORY_DAMAGED: self._damaged,
            Event.LOG: self._log,
            Event.WORKER_JOB: self._worker_job,
            Event.VM_PREEMPTED: self._vm,
            Event.VM_LOST: self._vm,
            Event.VM_CENSORED: self._vm,
        }

    def reorder(self, order: Callable[[list[str], dict], list[str]]) -> None:
        """Put the pending jobs in the order ``order(pending, params)`` gives."""
        self.pending = deque(order(list(self.pending), self.params))

    def drop_pending(self) -> None:
        """Forget the pending jobs (the surrogate answered them)."""
        self.pending.clear()

    def submit_more(self, limit: int) -> None:
        """Submit pending jobs until ``limit`` are in flight."""
        batch = []
        while self.pending and len(self.in_flight) + len(batch) < limit:
            batch.append(self.pending.popleft())
        if not batch:
            return
        with self.ledger.transaction():
            for job in batch:
                self.attempts[job] += 1
                task = self.campaign.task(job, self.params[job])
                key = f"job-{job}-{self.attempts[job]}"
                future = self.client.submit(run_job, task, key=key, pure=False, retries=0)
                self.ledger.mark_running(job)
                self.in_flight[future] = job
                self.workers.pop(job, None)  # a new attempt: a later 'started' elsewhere is a lost worker

    def drain_events(self) -> None:
        """Handle every event that arrived (raises `UnknownEventError` for a kind without a handler)."""
        while True:
            try:
                when, message = self.events.get_nowait()
            except queue.Empty:
                return
            kind = Event.of(message)
            handler = self.handlers.get(kind)
            if handler is None:
                raise ConfigurationError(
                    f"event {kind.value!r} is written by the ledger, not sent: {message!r}"
                )
            self.clock.observe(when, message)
            handler(when, message)

    # -- one handler per event kind ------------------------------------------------------------

    def _started(self, when: float, message: dict) -> None:
        job, worker = message.get("job"), message.get("worker")
        if message.get("slurm_job"):
            self.ledger.record_worker(message["slurm_job"], address=worker)
        previous = self.workers.get(job)
        if previous is not None and previous != worker:
            self.ledger.record_preemption(job, f"worker {previous} lost; restarted on {worker}")
        self.workers[job] = worker
        self.ledger.mark_progress(job, worker=worker)

    def _checkpoint(self, when: float, message: dict) -> None:
        self.ledger.mark_progress(message["job"], checkpoint_step=int(message["step"]))

    def _resumed(self, when: float, message: dict) -> None:
        self.ledger.event(
            Event.RESUMED, message["job"], {"step": message["step"], "worker": message.get("worker")}
        )

    def _note(self, when: float, message: dict) -> None:
        """Preempted, finished, already done: the job's outcome records these; a log line here."""
        logger.debug("[job %s] %s", message.get("job"), message["event"])

    def _damaged(self, when: float, message: dict) -> None:
        detail = {k: v for k, v in message.items() if k not in ("event", "job")}
        self.ledger.event(Event.of(message), message.get("job"), detail)
        logger.warning("[job %s] %s: %s", message.get("job"), message["event"], detail)

    def _log(self, when: float, message: dict) -> None:
        logger.info("[job %s] %s", message.get("job"), message.get("text"))

    def _vm(self, when: float, message: dict) -> None:
        kind, worker = Event.of(message), message.get("worker")
        running = set(self.in_flight.values())
        on_it = [j for j, w in self.workers.items() if w == worker and j in running]
        lost = [self.clock.lost(j, when) for j in on_it] if kind != Event.VM_CENSORED else []
        self.ledger.event(kind, None, {**message, "time": when, "jobs": lost})

    def _worker_job(self, when: float, message: dict) -> None:
        slurm_job, worker = message["slurm_job"], message.get("worker")
        self.ledger.record_worker(
            slurm_job,
            name=message.get("name"),
            address=worker,
            state=message.get("state"),
            reason=message.get("reason"),
            cause=message.get("cause"),
        )
        if message.get("cause"):
            running = set(self.in_flight.values())
            on_it = sorted(j for j, w in self.workers.items() if worker and w == worker and j in running)
            detail = {k: message.get(k) for k in ("slurm_job", "name", "worker", "state", "reason", "cause")}
            self.ledger.event(Event.WORKER_LOST, None, {**detail, "jobs": on_it})
            logger.warning(
                "worker job %s (%s) ended: %s %s; its jobs %s resume elsewhere",
                slurm_job,
                worker,
                message.get("state"),
                message.get("cause"),
                on_it,
            )

    def settle(self, futures: list) -> None:
        """Record the outcome of finished futures (results gathered in one round trip)."""
        finished = [f for f in futures if f.status == "finished"]
        try:
            outcomes = dict(zip(finished, self.client.gather(finished), strict=True)) if finished else {}
        except Exception:  # a result lost with its worker: fetch one by one; lost ones count as preempted
            outcomes = {}
            for future in finished:
                try:
                    outcomes[future] = future.result()
                except Exception as err:
                    outcomes[future] = {"status": "lost", "error": err}
        with self.ledger.transaction():
            for future in futures:
                self._settle_one(future, outcomes.get(future))

    def _settle_one(self, future: Any, outcome: dict | None) -> None:
        job = self.in_flight.pop(future)
        retries = self.campaign.spec.resources.retries
        if outcome is not None and outcome["status"] == "lost":
            self.ledger.mark_preempted(job, f"result lost with its worker: {outcome['error']}")
            self.pending.append(job)
            return
        if outcome is not None:
            if outcome["status"] == "done":
                self.ledger.mark_done(job, outcome["result"], outcome["runtime"], outcome.get("resumed_from"))
                self.progress.update(1)
                return
            error = outcome["error"]
        else:
            try:
                exc = future.exception()
            except FutureCancelledError as err:
                exc = err
            if isinstance(exc, _INFRASTRUCTURE):
                self.ledger.mark_preempted(job, f"{type(exc).__name__}: {exc}")
                self.pending.append(job)
                return
            error = f"{type(exc).__name__}: {exc}"
        final = self.ledger.job(job).failures >= retries  # this failure is the (retries+1)-th
        self.ledger.mark_failed(job, error, final=final)
        if final:
            logger.warning("job %s failed for good: %s", job, error.splitlines()[-1] if error else "")
            self.progress.update(1)
        else:
            self.pending.append(job)
