"""The campaign driver: design points -> Dask -> ledger, surviving lost workers and restarts.

The driver is the only writer of the ledger. It can be killed at any moment:
``run_campaign`` on the same directory puts jobs left ``running`` back to
``pending`` and continues; finished jobs are never run again (their ids are in
the ledger, and a job directory holding ``result.json`` short-circuits).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from distributed import wait

from hoomd_mlx.campaign.backends.batch import cancel_orphans, job_name
from hoomd_mlx.campaign.backends.cluster import campaign_config, connect
from hoomd_mlx.campaign.config.cluster import KINDS, ClusterSettings
from hoomd_mlx.campaign.config.design import job_id
from hoomd_mlx.campaign.config.launchers import launcher_command
from hoomd_mlx.campaign.config.spec import CampaignSpec
from hoomd_mlx.campaign.driver.ledger import Ledger
from hoomd_mlx.campaign.driver.plugins import DriverPlugin, LearnerPlugin, SlurmWatchPlugin, WorkerWatchPlugin
from hoomd_mlx.campaign.driver.session import Driver
from hoomd_mlx.campaign.driver.space import design_record
from hoomd_mlx.campaign.events import EVENT_TOPIC
from hoomd_mlx.campaign.job.contract import JobTask
from hoomd_mlx.campaign.job.execute import JobStopper
from hoomd_mlx.cloud.drill import DrillSettings
from hoomd_mlx.errors import ConfigurationError

__all__ = ["Campaign", "run_campaign"]

logger = logging.getLogger(__name__)


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
        self.ledger.set_meta("design", design_record(self.spec.design))
        res = self.spec.resources
        self.ledger.set_meta("cores_per_job", res.ranks * res.threads_per_worker)
        self.ledger.set_meta("cloud", asdict(self.spec.cloud) if self.spec.cloud is not None else None)
        if self.spec.surrogate is not None:
            self.ledger.set_meta("surrogate_outputs", list(self.spec.surrogate.outputs))
            self.ledger.set_meta("surrogate_settings", asdict(self.spec.surrogate))
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


@dataclass(frozen=True)
class _Plan:
    """Where and how far a driver session runs."""

    cluster: ClusterSettings
    workers: int
    scheduler: str | None
    total: int
    new: int
    target: int
    progress: bool


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
    settings = spec.cluster
    if cluster is not None:
        if cluster not in KINDS:
            raise ConfigurationError(f"--cluster {cluster}; expected one of {list(KINDS)}")
        settings = replace(settings, kind=cluster)
    plan = _Plan(
        cluster=settings,
        workers=workers or spec.resources.workers,
        scheduler=scheduler,
        total=total,
        new=new,
        target=math.ceil(spec.completion * total),
        progress=progress,
    )
    with campaign_config():
        return _run(campaign, plan, announce, preempt)


def _run(
    campaign: Campaign, plan: _Plan, announce: Callable[[str], None], preempt: DrillSettings | None
) -> dict:
    from tqdm import tqdm

    spec, ledger, directory = campaign.spec, campaign.ledger, campaign.directory
    batch = plan.scheduler is None and plan.cluster.kind != "local"
    name = job_name(spec.name, directory) if batch else ""
    if batch and plan.cluster.kind == "slurm":
        cancelled = cancel_orphans(name, [w["slurm_job"] for w in ledger.workers()])
        if cancelled:
            announce(f"cancelled {len(cancelled)} worker jobs left by the previous driver: {cancelled}")
    client, cluster = connect(
        workers=plan.workers,
        threads_per_worker=spec.resources.threads_per_worker,
        scheduler=plan.scheduler,
        cluster=None if plan.scheduler else plan.cluster,
        job_name=name or "hoomd-mlx-worker",
        log_directory=str(directory / "worker-logs"),
    )
    client.register_plugin(JobStopper())
    start = time.monotonic()
    plugins: list[DriverPlugin] = []
    try:
        announce(f"campaign {spec.name}: {plan.total} jobs ({plan.new} new) in {Path(directory)}")
        announce(f"Dask dashboard: {client.dashboard_link}")
        finished = ledger.count("done") + ledger.count("failed")
        bar = tqdm(total=plan.total, initial=finished, desc=spec.name, unit="job", disable=not plan.progress)
        driver = Driver(campaign, client, bar)
        client.subscribe_topic(EVENT_TOPIC, driver.events.put)
        threads = sum(client.nthreads().values())
        if batch and plan.cluster.kind == "slurm":
            plugins.append(SlurmWatchPlugin(cluster, plan.cluster, plan.workers, name, announce))
        if preempt is not None or spec.cloud is not None:
            plugins.append(WorkerWatchPlugin(client, cluster, preempt, announce))
        if spec.surrogate is not None:
            plugins.append(LearnerPlugin(spec, ledger, directory, threads, announce))
        for plugin in plugins:
            plugin.start(driver)
        # the surrogate chooses few jobs at a time so that it can steer; else keep the pipeline full
        slots = max(1, threads) if spec.surrogate is not None else max(16, 8 * threads)
        if all(p.may_submit() for p in plugins):
            driver.submit_more(slots)
        while driver.in_flight and ledger.count("done") < plan.target:
            try:
                done, _ = wait(list(driver.in_flight), timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = ()
            driver.drain_events()
            if done:
                driver.settle(list(done))
                for plugin in plugins:
                    plugin.settled(driver)
            if all(p.may_submit() for p in plugins):
                driver.submit_more(slots)
        for plugin in plugins:
            plugin.finish(driver)
        driver.drain_events()
        if driver.in_flight:  # the completion fraction was reached
            client.cancel(list(driver.in_flight))
            for job in driver.in_flight.values():
                ledger.reset_job(job)
        bar.close()
    finally:
        for plugin in plugins:
            plugin.stop()
        client.close()
        if cluster is not None:
            cluster.close()
        for plugin in plugins:
            plugin.closed(ledger)
    summary = {"counts": ledger.counts(), "wall_seconds": time.monotonic() - start, "target": plan.target}
    ledger.set_meta("last_run", summary)
    return summary


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
