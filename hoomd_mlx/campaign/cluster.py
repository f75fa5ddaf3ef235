"""Where a campaign runs: an embedded LocalCluster, an existing scheduler, or dask-jobqueue.

The ``[cluster]`` table of a spec chooses the kind::

    [cluster]
    kind = "slurm"                # local (default) | slurm | pbs
    cores = 4                     # the rest goes to dask_jobqueue.SLURMCluster(...)
    memory = "16GB"
    walltime = "04:00:00"
    job_extra_directives = ["--partition=compute"]

A cloud cluster (dask-cloudprovider, preemptible or spot VMs) is started on its own and
joined with ``--scheduler ADDRESS``; see ``docs/campaigns.md``.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping
from typing import Any

import dask
from distributed import Client, LocalCluster

from hoomd_mlx.errors import ConfigurationError

__all__ = ["connect", "run_on_cluster"]

logger = logging.getLogger(__name__)

# Lost workers are normal here (preemption); jobs resume from checkpoints, and the
# driver counts infrastructure failures itself, apart from the job's retry budget.
_DASK_CONFIG = {"distributed.scheduler.allowed-failures": 1000}


def connect(
    *,
    workers: int,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    cluster: Mapping[str, Any] | None = None,
    timeout: float = 10.0,
) -> tuple[Client, Any]:
    """A connected `distributed.Client` and the cluster object it owns (None if external).

    Raises:
        ConfigurationError: An unreachable scheduler (naming its address), or an
            unknown cluster kind or missing dask-jobqueue.
    """
    dask.config.set(_DASK_CONFIG)
    if scheduler:
        try:
            return Client(scheduler, timeout=timeout), None
        except (OSError, TimeoutError) as err:
            raise ConfigurationError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:.0f} s ({err}); "
                "check the address (tcp://host:8786) and that the scheduler is running"
            ) from err
    options = dict(cluster or {})
    kind = options.pop("kind", "local")
    if kind == "local":
        local = LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=":0",
            **options,
        )
        return Client(local), local
    if kind in ("slurm", "pbs"):
        try:
            import dask_jobqueue
        except ImportError as err:
            raise ConfigurationError(
                f"cluster.kind = {kind!r} needs dask-jobqueue: pip install dask-jobqueue"
            ) from err
        factory = dask_jobqueue.SLURMCluster if kind == "slurm" else dask_jobqueue.PBSCluster
        hpc = factory(**options)
        hpc.scale(jobs=workers)
        return Client(hpc), hpc
    raise ConfigurationError(f"cluster.kind = {kind!r}; expected 'local', 'slurm' or 'pbs'")


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
