"""Dask workers as SLURM (or PBS) batch jobs: the cluster, its jobs' fates, orphans of a dead driver.

Each worker is one batch job (``dask_jobqueue.SLURMCluster``), started as::

    <python> -m hoomd_mlx.campaign.backends.workerjob -m distributed.cli.dask_worker ... --lifetime L

`hoomd_mlx.campaign.backends.workerjob` stays the top process of the batch job until the job
subprocesses of its worker have checkpointed and exited: SLURM kills whatever a batch
job leaves behind once its top process ends, and at ``scancel`` (or the walltime) it
sends SIGTERM to every process of the job, the Dask worker dying at once. The worker
retires ``lifetime_margin`` seconds before its walltime (Dask's ``--lifetime``,
``--lifetime-stagger``); the campaign's `hoomd_mlx.campaign.job.execute.JobStopper` plugin
then sends its running jobs SIGTERM, so they checkpoint and resume elsewhere.

`SlurmWatch` follows the worker jobs with ``squeue`` and reports how each ended
(`CAUSES`); `cancel_orphans` cancels the worker jobs a killed driver left behind. Every
worker job of a campaign directory has the name `job_name` gives it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hoomd_mlx.campaign.backends.watch import Watcher
from hoomd_mlx.campaign.config.cluster import ClusterSettings
from hoomd_mlx.campaign.events import Event

__all__ = [
    "CAUSES",
    "FINAL_STATES",
    "SlurmWatch",
    "batch_cluster",
    "cancel_orphans",
    "job_name",
    "slurm_states",
]

logger = logging.getLogger(__name__)

CAUSES = {
    "CANCELLED": "scancel",
    "TIMEOUT": "walltime",
    "NODE_FAIL": "node failure",
    "PREEMPTED": "preempted",
    "COMPLETED": "retired",
    "FAILED": "failed",
    "OUT_OF_MEMORY": "out of memory",
    "BOOT_FAIL": "node failure",
    "DEADLINE": "walltime",
}
"""dict: How a worker job ended (SLURM's final job state) -> the cause a report counts it under.

``retired``: the worker left by itself before its walltime (its ``--lifetime``).
"""

FINAL_STATES = frozenset(CAUSES) | {"GONE"}
"""frozenset: Job states after which a worker job runs no more (``GONE``: no longer known to SLURM)."""


def job_name(campaign: str, directory: str | Path) -> str:
    """str: The batch job name of a campaign directory's workers (``hoomd-mlx-<name>-<hash>``)."""
    digest = hashlib.sha1(str(Path(directory).resolve()).encode()).hexdigest()[:8]
    return f"hoomd-mlx-{campaign[:24]}-{digest}"


def batch_cluster(
    settings: ClusterSettings,
    *,
    workers: int,
    threads_per_worker: int,
    job_name: str,
    log_directory: str | Path | None = None,
) -> Any:
    """A dask-jobqueue cluster of worker jobs, adapting between the settings' minimum and maximum.

    The worker jobs' output goes to ``settings.log_directory``, else ``log_directory``.

    Raises:
        ConfigurationError: dask-jobqueue is missing.
    """
    import sys

    from hoomd_mlx.errors import ConfigurationError

    try:
        import dask_jobqueue
    except ImportError as err:
        raise ConfigurationError(
            f"cluster.kind = {settings.kind!r} needs dask-jobqueue: pip install dask-jobqueue"
        ) from err
    python = settings.python or sys.executable
    options: dict[str, Any] = {
        "cores": settings.cores,
        "processes": 1,
        "memory": settings.memory,
        "walltime": settings.walltime,
        "job_name": job_name,
        "python": f"{python} -m hoomd_mlx.campaign.backends.workerjob",
        "worker_extra_args": [
            "--nthreads",
            str(threads_per_worker),
            "--lifetime",
            f"{settings.lifetime:.0f}s",
            "--lifetime-stagger",
            f"{settings.lifetime_stagger:.0f}s",
        ],
        "job_extra_directives": list(settings.job_extra_directives),
        "job_script_prologue": list(settings.prologue),
    }
    if settings.partition:
        options["queue"] = settings.partition
    if settings.account:
        options["account"] = settings.account
    if settings.interface:
        options["interface"] = settings.interface
    if settings.log_directory or log_directory:
        options["log_directory"] = str(settings.log_directory or log_directory)
    options["scheduler_options"] = {"dashboard_address": ":0"}
    if settings.scheduler_host:
        options["scheduler_options"]["host"] = settings.scheduler_host
    factory = dask_jobqueue.SLURMCluster if settings.kind == "slurm" else dask_jobqueue.PBSCluster
    cluster = factory(**options)
    maximum = settings.maximum or workers
    minimum = settings.minimum if settings.minimum is not None else maximum
    cluster.adapt(minimum=minimum, maximum=maximum, interval="1s", wait_count=3)
    return cluster


def _squeue(args: list[str]) -> list[list[str]]:
    try:
        out = subprocess.run(
            ["squeue", "-h", *args], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        logger.warning("squeue failed: %s", err)
        return []
    return [line.split("|") for line in out.splitlines() if line.strip()]


def slurm_states(job_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """dict: SLURM job id -> (state, reason) for the jobs SLURM still knows (finished ones included)."""
    ids = sorted({str(j) for j in job_ids if j})
    if not ids or shutil.which("squeue") is None:
        return {}
    rows = _squeue(["--states=all", "-j", ",".join(ids), "-o", "%i|%T|%r"])
    return {row[0]: (row[1], row[2]) for row in rows if len(row) >= 3}


def cancel_orphans(name: str, known: Iterable[str] = ()) -> list[str]:
    """Cancel the running or pending worker jobs called ``name`` (and the ``known`` job ids); return them.

    A driver killed with SIGKILL leaves its worker jobs running until their death timeout;
    the jobs they run get SIGTERM from ``scancel``, checkpoint and resume under the new driver.
    """
    if shutil.which("squeue") is None:
        return []
    alive = {row[0] for row in _squeue(["-n", name, "-o", "%i|%T"])}
    alive |= {j for j, (state, _) in slurm_states(known).items() if state not in FINAL_STATES}
    if alive:
        subprocess.run(["scancel", *sorted(alive)], check=False, timeout=30)
        logger.warning("cancelled %d worker jobs left by a previous driver: %s", len(alive), sorted(alive))
    return sorted(alive)


class SlurmWatch(Watcher):
    """Follow a SLURMCluster's worker jobs; report each job's start and end to ``send``.

    ``send((time, message))`` gets ``{"event": "worker-job", "slurm_job", "name", "worker",
    "state", "reason", "cause"}`` whenever a job's state changes; ``cause`` (from `CAUSES`)
    once it ended. Runs in a thread of the driver; the driver writes the ledger.

    Args:
        cluster: The dask-jobqueue cluster.
        send: Receives ``(time, message)``.
        poll: Seconds between looks.
    """

    name = "hoomd-mlx-slurm-watch"

    def __init__(self, cluster: Any, send: Callable[[tuple[float, dict]], None], poll: float = 1.0) -> None:
        super().__init__(poll)
        self.cluster = cluster
        self.send = send
        self.jobs: dict[str, dict] = {}  # SLURM job id -> what is known of it

    def finish(self) -> None:
        """A last look, so that jobs that ended meanwhile are recorded."""
        try:
            self.look()
        except Exception:  # squeue gone with the cluster: what is known stays
            logger.exception("SLURM watch, last look")

    def look(self) -> None:
        """One round: new jobs, their workers' addresses, and their SLURM states."""
        names = {}
        for info in dict(getattr(self.cluster, "scheduler_info", {}) or {}).get("workers", {}).items():
            address, details = info
            names[str(details.get("name"))] = address
        for name, job in list(self.cluster.workers.items()):
            job_id = getattr(job, "job_id", None)
            if job_id and str(job_id) not in self.jobs:
                self.jobs[str(job_id)] = {"name": str(name), "worker": None, "state": None, "reason": ""}
        live = [j for j, r in self.jobs.items() if r["state"] not in FINAL_STATES]
        states = slurm_states(live)
        addresses = set(names.values())
        for job_id, record in self.jobs.items():
            if record["worker"] is None and record["name"] in names:
                record["worker"] = names[record["name"]]
            elif record["worker"] and record["worker"] not in addresses and "left_while" not in record:
                # a worker that leaves while its job still runs retired by itself (its --lifetime);
                # the job is cancelled afterwards by dask-jobqueue, which is not a scancel from outside
                record["left_while"] = states.get(job_id, (record["state"], ""))[0]
        now = time.time()
        for job_id in live:
            record = self.jobs[job_id]
            state, reason = states.get(job_id, ("GONE", ""))
            if state == record["state"]:
                continue
            record.update(state=state, reason=reason)
            message = Event.WORKER_JOB.message(slurm_job=job_id, **record)
            message.pop("left_while", None)
            if state in FINAL_STATES:
                retired = record.get("left_while") == "RUNNING"
                message["cause"] = "retired" if retired else CAUSES.get(state, "unknown")
            self.send((now, message))
