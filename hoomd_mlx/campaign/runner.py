"""The campaign driver: design points -> Dask -> ledger, surviving lost workers and restarts.

The driver is the only writer of the ledger. It can be killed at any moment:
``run_campaign`` on the same directory puts jobs left ``running`` back to
``pending`` and continues; finished jobs are never run again (their ids are in
the ledger, and a job directory holding ``result.json`` short-circuits).
"""

from __future__ import annotations

import logging
import math
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from distributed import wait
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from hoomd_mlx.campaign.cluster import KINDS, campaign_config, connect
from hoomd_mlx.campaign.contract import JobTask
from hoomd_mlx.campaign.design import job_id
from hoomd_mlx.campaign.execute import EVENT_TOPIC, JobInterruptedError, JobStopper, run_job
from hoomd_mlx.campaign.launcher import launcher_command
from hoomd_mlx.campaign.ledger import Ledger
from hoomd_mlx.campaign.spec import CampaignSpec
from hoomd_mlx.cloud.drill import DrillSettings, ProgressClock, WorkerWatch
from hoomd_mlx.errors import ConfigurationError

__all__ = ["Campaign", "run_campaign"]

logger = logging.getLogger(__name__)

# 'the machine went away' rather than 'the job failed' (distributed's CommClosedError is an OSError)
_INFRASTRUCTURE = (JobInterruptedError, FutureCancelledError, KilledWorker, OSError, TimeoutError)


class Campaign:
    """A campaign directory: its spec, its ledger and the jobs' directories.

    Args:
        spec: The validated spec.
        directory: Campaign directory (ledger, ``jobs/<id>/``).
        seconds_per_hour: Wall seconds per model hour for model-made checkpoint intervals
            (a preemption drill compresses time).
    """

    def __init__(self, spec: CampaignSpec, directory: str | Path, seconds_per_hour: float = 3600.0) -> None:
        self.spec = spec
        self.directory = Path(directory)
        self.ledger = Ledger.in_directory(self.directory)
        self._jobs_root = (self.directory / "jobs").resolve()
        self.cloud_checkpoints = None
        if spec.cloud is not None and spec.cloud.checkpoint == "model":
            from hoomd_mlx.cloud.plan import ModelCheckpoints

            self.cloud_checkpoints = ModelCheckpoints(spec.cloud, seconds_per_hour)

    def register(self) -> int:
        """Add the spec's design points to the ledger; return how many were new."""
        points = self.spec.design.sample()
        self.ledger.set_meta("spec", str(self.spec.source) if self.spec.source else self.spec.name)
        self.ledger.set_meta("name", self.spec.name)
        self.ledger.set_meta("parameters", sorted({k for p in points for k in p}))
        self.ledger.set_meta("report", {k: list(v) for k, v in self.spec.report.items()})
        if self.spec.surrogate is not None:
            self.ledger.set_meta("surrogate_outputs", list(self.spec.surrogate.outputs))
        return self.ledger.add_jobs({job_id(p): p for p in points})

    def task(self, job: str, params: dict) -> JobTask:
        """JobTask: What a worker gets for ``job``."""
        res = self.spec.resources
        schedule = self.cloud_checkpoints.intervals(self.ledger) if self.cloud_checkpoints else ()
        return JobTask(
            job_id=job,
            params=params,
            function=self.spec.job.function,
            directory=str(self._jobs_root / job),
            settings=dict(self.spec.job.settings),
            analyses=tuple(dict(a) for a in self.spec.analyses),
            checkpoint_steps=0 if schedule else res.checkpoint_steps,
            checkpoint_seconds=0.0 if schedule else res.checkpoint_seconds,
            checkpoint_schedule=schedule,
            search_path=self.spec.search_path,
            threads=res.threads_per_worker,
            isolation=self.spec.job.isolation,
            ranks=res.ranks,
            launcher=launcher_command(res.launcher, res.ranks) if res.ranks > 1 else (),
        )


class _Driver:
    """One driver session: submits pending jobs, records outcomes and worker events."""

    def __init__(self, campaign: Campaign, client: Any, progress: Any) -> None:
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

    def submit_more(self, limit: int) -> None:
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
        while True:
            try:
                when, message = self.events.get_nowait()
            except queue.Empty:
                return
            job, kind = message.get("job"), message.get("event")
            worker = message.get("worker")
            self.clock.observe(when, message)
            if kind == "worker-job":  # from the SlurmWatch
                self._worker_job(message)
                continue
            if kind == "started" and message.get("slurm_job"):
                self.ledger.record_worker(message["slurm_job"], address=worker)
            if kind == "started":
                previous = self.workers.get(job)
                if previous is not None and previous != worker:
                    self.ledger.record_preemption(job, f"worker {previous} lost; restarted on {worker}")
                self.workers[job] = worker
                self.ledger.mark_progress(job, worker=worker)
            elif kind == "checkpoint":
                self.ledger.mark_progress(job, checkpoint_step=int(message["step"]))
            elif kind == "resumed":
                self.ledger.event("resumed", job, {"step": message["step"], "worker": worker})
            elif kind == "log":
                logger.info("[job %s] %s", job, message.get("text"))
            elif kind in ("vm-preempted", "vm-lost", "vm-censored"):  # from the WorkerWatch
                running = set(self.in_flight.values())
                on_it = [j for j, w in self.workers.items() if w == worker and j in running]
                lost = [self.clock.lost(j, when) for j in on_it] if kind != "vm-censored" else []
                self.ledger.event(kind, None, {**message, "time": when, "jobs": lost})

    def _worker_job(self, message: dict) -> None:
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
            self.ledger.event("worker-lost", None, {**detail, "jobs": on_it})
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


def run_campaign(
    spec: CampaignSpec,
    directory: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    announce: Callable[[str], None] = logger.info,
    preempt: DrillSettings | None = None,
    cluster: str | None = None,
) -> dict:
    """Run (or resume) a campaign until its bag is done or its completion fraction is reached.

    ``announce`` receives the opening lines (job counts, the Dask dashboard address).
    ``preempt`` runs a preemption drill (`hoomd_mlx.cloud.drill`): workers of the LocalCluster
    are killed at ages drawn from its model. With a drill or a ``[cloud]`` table, worker
    lifetimes are recorded in the ledger (``vm-*`` events). ``cluster`` (local, slurm, pbs)
    overrides the kind of the spec's ``[cluster]`` table: with slurm the workers are batch
    jobs, their fates recorded in the ledger (`Ledger.workers`), and worker jobs left by a
    killed driver on this directory are cancelled first.

    Returns:
        dict: Counts by state, wall time, the dashboard address.
    """
    campaign = Campaign(spec, directory, preempt.seconds_per_hour if preempt else 3600.0)
    ledger = campaign.ledger
    recovered = ledger.reset_running()
    if recovered:
        logger.warning("%d jobs were running when the last driver stopped; they resume now", recovered)
    new = campaign.register()
    total = ledger.count() - ledger.count("predicted")
    target = math.ceil(spec.completion * total)
    res = spec.resources
    n_workers = workers or res.workers
    settings = spec.cluster
    if cluster is not None:
        if cluster not in KINDS:
            raise ConfigurationError(f"--cluster {cluster}; expected one of {list(KINDS)}")
        settings = replace(settings, kind=cluster)
    with campaign_config():
        return _run(campaign, settings, n_workers, scheduler, total, new, target, progress, announce, preempt)


def _run(
    campaign: Campaign,
    settings: Any,
    n_workers: int,
    scheduler: str | None,
    total: int,
    new: int,
    target: int,
    progress: bool,
    announce: Callable[[str], None],
    preempt: DrillSettings | None,
) -> dict:
    from tqdm import tqdm

    spec, ledger, directory = campaign.spec, campaign.ledger, campaign.directory
    batch = scheduler is None and settings.kind != "local"
    name = ""
    if batch:
        from hoomd_mlx.campaign.batch import cancel_orphans, job_name

        name = job_name(spec.name, directory)
        known = [w["slurm_job"] for w in ledger.workers()]
        cancelled = cancel_orphans(name, known) if settings.kind == "slurm" else []
        if cancelled:
            announce(f"cancelled {len(cancelled)} worker jobs left by the previous driver: {cancelled}")
    client, cluster = connect(
        workers=n_workers,
        threads_per_worker=spec.resources.threads_per_worker,
        scheduler=scheduler,
        cluster=None if scheduler else settings,
        job_name=name or "hoomd-mlx-worker",
        log_directory=str(directory / "worker-logs"),
    )
    client.register_plugin(JobStopper())
    start = time.monotonic()
    watch = slurm_watch = None
    try:
        announce(f"campaign {spec.name}: {total} jobs ({new} new) in {Path(directory)}")
        announce(f"Dask dashboard: {client.dashboard_link}")
        finished = ledger.count("done") + ledger.count("failed")
        bar = tqdm(total=total, initial=finished, desc=spec.name, unit="job", disable=not progress)
        driver = _Driver(campaign, client, bar)
        client.subscribe_topic(EVENT_TOPIC, driver.events.put)
        if batch and settings.kind == "slurm":
            from hoomd_mlx.campaign.batch import SlurmWatch

            slurm_watch = SlurmWatch(cluster, driver.events.put).start()
            announce(
                f"SLURM worker jobs {name}: {settings.minimum or n_workers}-{settings.maximum or n_workers}"
            )
        if preempt is not None or spec.cloud is not None:
            watch = WorkerWatch(client, driver.events.put, cluster=cluster, drill=preempt).start()
        threads = sum(client.nthreads().values())
        slots = max(16, 8 * threads)  # keep the pipeline full
        learner = None
        if spec.surrogate is not None:
            from hoomd_mlx.campaign.learning import CampaignLearner

            learner = CampaignLearner(spec.surrogate, ledger.meta("parameters"), campaign.directory, ledger)
            slots = max(1, threads)  # choose few jobs at a time, so the surrogate can steer
            _learn(driver, learner, threads)
        if learner is None or not learner.switched:
            driver.submit_more(slots)
        while driver.in_flight and ledger.count("done") < target:
            try:
                done, _ = wait(list(driver.in_flight), timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = ()
            driver.drain_events()
            if done:
                driver.settle(list(done))
                if learner is not None:
                    _learn(driver, learner, threads)
            if learner is None or not learner.switched:
                driver.submit_more(slots)
        if watch is not None:
            watch.stop()
            if preempt is not None:
                announce(f"preemption drill: {watch.kills} workers killed")
        if slurm_watch is not None:
            slurm_watch.stop()
        driver.drain_events()
        if learner is not None and learner.switched:
            predicted = learner.predict_remaining()
            driver.pending.clear()
            announce(
                f"surrogate reached its target twice: {predicted} design points predicted, not simulated"
            )
        if driver.in_flight:  # the completion fraction was reached
            client.cancel(list(driver.in_flight))
            for job in driver.in_flight.values():
                ledger.reset_job(job)
        bar.close()
    finally:
        for watcher in (watch, slurm_watch):
            if watcher is not None:
                watcher.stop()
        client.close()
        if cluster is not None:
            cluster.close()
        if slurm_watch is not None:  # the worker jobs the driver itself ended: their state, no cause
            from hoomd_mlx.campaign.batch import FINAL_STATES, slurm_states

            open_jobs = [w["slurm_job"] for w in ledger.workers() if w["state"] not in FINAL_STATES]
            for slurm_job, (state, _) in slurm_states(open_jobs).items():
                ledger.record_worker(slurm_job, state=state, reason="closed by the driver")
    summary = {"counts": ledger.counts(), "wall_seconds": time.monotonic() - start, "target": target}
    ledger.set_meta("last_run", summary)
    return summary


def _learn(driver: _Driver, learner: Any, threads: int) -> None:
    """Retrain when enough new results arrived, then let the surrogate order the pending jobs."""
    record = learner.observe()
    if record is not None:
        driver.progress.set_postfix_str(f"surrogate v{record['version']} acc {record['accuracy']:.3f}")
    if record is not None or learner.needs_validation:
        driver.pending = deque(learner.order(list(driver.pending), driver.params, threads))


def spec_summary(spec: CampaignSpec) -> dict:
    """dict: A JSON-able view of a spec (for ``--dry-run``)."""
    return {
        "name": spec.name,
        "jobs": len(spec.design.sample()),
        "function": spec.job.function,
        "resources": asdict(spec.resources),
        "analyses": [dict(a) for a in spec.analyses],
        "surrogate": asdict(spec.surrogate) if spec.surrogate is not None else None,
        "cloud": asdict(spec.cloud) if spec.cloud is not None else None,
        "completion": spec.completion,
    }
