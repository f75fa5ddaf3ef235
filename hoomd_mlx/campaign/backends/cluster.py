"""Connecting a campaign to its workers: an embedded LocalCluster, an existing scheduler, or batch jobs.

The settings are the spec's ``[cluster]`` table (`hoomd_mlx.campaign.config.cluster`).
A cloud cluster (dask-cloudprovider, preemptible or spot VMs) is started on its own and
joined with ``--scheduler ADDRESS``; see ``docs/campaigns.md``.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
from collections.abc import Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster

from hoomd_mlx.campaign.config.cluster import ClusterSettings
from hoomd_mlx.errors import ConfigurationError

__all__ = ["campaign_config", "connect", "run_on_cluster"]

logger = logging.getLogger(__name__)

# Lost workers are normal here (preemption, walltime, scancel); jobs resume from checkpoints, and
# the driver counts infrastructure failures itself, apart from the job's retry budget. A campaign
# job takes long: `adapt` should size the cluster for hours of work, not for 0.5 s tasks. A batch
# job that vanished is replaced after a few seconds rather than the default 15.
_DASK_CONFIG = {
    "distributed.scheduler.allowed-failures": 1000,
    "distributed.scheduler.default-task-durations": {"job": "1h"},
    "distributed.deploy.lost-worker-timeout": "3s",
}


@contextlib.contextmanager
def campaign_config() -> Iterator[None]:
    """The Dask settings of a campaign, for the time of a ``with`` block only."""
    with dask.config.set(_DASK_CONFIG):
        yield


def connect(
    *,
    workers: int,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    cluster: ClusterSettings | None = None,
    job_name: str = "hoomd-mlx-worker",
    log_directory: str | None = None,
    timeout: float = 10.0,
) -> tuple[Client, Any]:
    """A connected `distributed.Client` and the cluster object it owns (None if external).

    Call it inside `campaign_config` (the campaign's Dask settings). A batch cluster
    (``cluster.kind`` slurm or pbs) adapts between ``cluster.minimum`` and ``cluster.maximum``
    worker jobs named ``job_name``, their output in ``log_directory`` unless the settings name one.

    Raises:
        ConfigurationError: An unreachable scheduler (naming its address), or missing dask-jobqueue.
    """
    if scheduler:
        try:
            return Client(scheduler, timeout=timeout), None
        except (OSError, TimeoutError) as err:
            raise ConfigurationError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:.0f} s ({err}); "
                "check the address (tcp://host:8786) and that the scheduler is running"
            ) from err
    settings = cluster or ClusterSettings()
    if settings.kind == "local":
        local = LocalCluster(
            n_workers=workers, threads_per_worker=threads_per_worker, processes=True, dashboard_address=":0"
        )
        return Client(local), local
    from hoomd_mlx.campaign.backends.batch import batch_cluster

    hpc = batch_cluster(
        settings,
        workers=workers,
        threads_per_worker=threads_per_worker,
        job_name=job_name,
        log_directory=log_directory,
    )
    return Client(hpc), hpc


def run_on_cluster(cluster: Any, spec: str, directory: str | None = None) -> int:
    """Drive ``hoomd-mlx campaign run SPEC --scheduler <cluster's address>``, then close ``cluster``.

    For launch recipes that start their own cluster (dask-jobqueue, dask-cloudprovider).

    Returns:
        int: The exit status of the campaign run.
    """
    command = ["hoomd-mlx", "campaign", "run", str(spec), "--scheduler", cluster.scheduler_address]
    if directory:
        command += ["--dir", str(directory)]
    try:
        return subprocess.call(command)
    finally:
        cluster.close()
