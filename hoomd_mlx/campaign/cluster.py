"""Where a campaign runs: an embedded LocalCluster, an existing scheduler, or SLURM / PBS batch jobs.

The ``[cluster]`` table of a spec chooses the kind (``campaign run --cluster slurm`` too)::

    [cluster]
    kind = "slurm"                # local (default) | slurm | pbs
    partition = "compute"         # sbatch --partition (PBS: the queue)
    account = "proj123"           # sbatch --account
    cores = 4                     # per worker job (one Dask worker per job)
    memory = "16GB"
    walltime = "04:00:00"         # a worker retires lifetime_margin seconds before it
    lifetime_margin = 300         # [s] time left at retirement for the running job to checkpoint
    lifetime_stagger = 60         # [s] workers retire spread over this, not all at once
    minimum = 2                   # adapt between minimum and maximum worker jobs
    maximum = 8                   # (default: resources.workers for both)
    job_extra_directives = ["--qos=normal"]
    prologue = ["module load openmpi"]
    python = "apptainer exec hoomd-mlx.sif python"   # the worker's Python (or container) command

A cloud cluster (dask-cloudprovider, preemptible or spot VMs) is started on its own and
joined with ``--scheduler ADDRESS``; see ``docs/campaigns.md``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dask
from distributed import Client, LocalCluster

from hoomd_mlx.errors import (
    ConfigurationError,
    check_int,
    check_keys,
    check_number,
    check_str,
    check_strings,
)

__all__ = ["KINDS", "ClusterSettings", "campaign_config", "connect", "parse_walltime", "run_on_cluster"]

logger = logging.getLogger(__name__)

KINDS = ("local", "slurm", "pbs")

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


_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_walltime(key: str, value: Any) -> float:
    """float: A SLURM time limit (``"M"``, ``"M:S"``, ``"H:M:S"``, ``"D-H[:M[:S]]"``) in seconds."""
    match = _WALLTIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigurationError(f"{key} = {value!r}; expected a SLURM time limit such as '04:00:00'")
    days, a, b, c = match.groups()
    if days is not None:  # D-H, D-H:M, D-H:M:S
        parts = [int(a), int(b or 0), int(c or 0)]
        seconds = int(days) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
    elif c is not None:  # H:M:S
        seconds = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # M:S
        seconds = int(a) * 60 + int(b)
    else:  # M
        seconds = int(a) * 60
    if seconds <= 0:
        raise ConfigurationError(f"{key} = {value!r}; expected a time limit longer than zero")
    return float(seconds)


@dataclass(frozen=True)
class ClusterSettings:
    """The validated ``[cluster]`` table (see the module docs); ``kind = "local"`` uses none of the rest.

    ``minimum`` and ``maximum`` default to the campaign's worker count (None here).
    """

    kind: str = "local"
    partition: str | None = None
    account: str | None = None
    cores: int = 1
    memory: str = "4GB"
    walltime: str = "01:00:00"
    lifetime_margin: float = 120.0
    lifetime_stagger: float = 0.0
    minimum: int | None = None
    maximum: int | None = None
    job_extra_directives: tuple[str, ...] = ()
    prologue: tuple[str, ...] = ()
    python: str | None = None
    scheduler_host: str | None = None
    interface: str | None = None
    log_directory: str | None = None

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> ClusterSettings:
        """Validate ``[cluster]``, naming the key, the value and what is expected."""
        known = set(cls.__dataclass_fields__)
        check_keys(table, known, "cluster.")
        kind = check_str("cluster.kind", table.get("kind", "local"), KINDS)
        if kind == "local" and set(table) - {"kind"}:
            extra = sorted(set(table) - {"kind"})
            raise ConfigurationError(
                f"cluster.{extra[0]} is set with cluster.kind = 'local'; it applies to batch jobs only "
                "(kind = 'slurm' or 'pbs')"
            )
        values: dict[str, Any] = {"kind": kind}
        for key in (
            "partition",
            "account",
            "memory",
            "python",
            "scheduler_host",
            "interface",
            "log_directory",
        ):
            if key in table:
                values[key] = check_str(f"cluster.{key}", table[key])
        if "walltime" in table:
            parse_walltime("cluster.walltime", table["walltime"])
            values["walltime"] = table["walltime"]
        for key in ("job_extra_directives", "prologue"):
            if key in table:
                values[key] = check_strings(f"cluster.{key}", table[key])
        if "cores" in table:
            values["cores"] = check_int("cluster.cores", table["cores"], 1)
        for key in ("minimum", "maximum"):
            if key in table:
                values[key] = check_int(f"cluster.{key}", table[key], 0 if key == "minimum" else 1)
        for key in ("lifetime_margin", "lifetime_stagger"):
            if key in table:
                values[key] = check_number(f"cluster.{key}", table[key], 0.0)
        settings = cls(**values)
        if (
            settings.minimum is not None
            and settings.maximum is not None
            and settings.minimum > settings.maximum
        ):
            raise ConfigurationError(
                f"cluster.minimum = {settings.minimum} > cluster.maximum = {settings.maximum}; "
                "expected minimum <= maximum"
            )
        if "walltime" in table or kind != "local":
            settings.lifetime  # noqa: B018 -- validates walltime against the margin
        return settings

    @property
    def walltime_seconds(self) -> float:
        """float: The worker jobs' walltime [s]."""
        return parse_walltime("cluster.walltime", self.walltime)

    @property
    def lifetime(self) -> float:
        """float: Dask's ``--lifetime`` of a worker [s]: it retires ``lifetime_margin`` before its walltime.

        Raises:
            ConfigurationError: A walltime too short for the margin and the stagger.
        """
        lifetime = self.walltime_seconds - self.lifetime_margin - self.lifetime_stagger
        if lifetime <= 0:
            raise ConfigurationError(
                f"cluster.walltime = {self.walltime!r} ({self.walltime_seconds:.0f} s) leaves no time "
                f"to work with cluster.lifetime_margin = {self.lifetime_margin:g} s and "
                f"cluster.lifetime_stagger = {self.lifetime_stagger:g} s; expected walltime > margin+stagger"
            )
        return lifetime


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
    from hoomd_mlx.campaign.batch import batch_cluster

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
