"""The ``[cluster]`` table: where a campaign runs (an embedded LocalCluster, SLURM or PBS batch jobs).

Example (``campaign run --cluster slurm`` chooses the kind too)::

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

Connecting to it is `hoomd_mlx.campaign.backends.cluster.connect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.settings import Choice, Int, Number, Optional, Settings, Text, Texts, Walltime, setting

__all__ = ["KINDS", "ClusterSettings", "parse_walltime"]

KINDS = ("local", "slurm", "pbs")


def parse_walltime(key: str, value: Any) -> float:
    """float: A SLURM time limit (``"M"``, ``"M:S"``, ``"H:M:S"``, ``"D-H[:M[:S]]"``) in seconds."""
    try:
        return Walltime.seconds(value)
    except ValueError as err:
        raise ConfigurationError(f"{key} = {value!r}; expected {Walltime.expects}") from err


@dataclass(frozen=True)
class ClusterSettings(Settings):
    """The validated ``[cluster]`` table (see the module docs); ``kind = "local"`` uses none of the rest.

    ``minimum`` and ``maximum`` default to the campaign's worker count (None here).
    """

    TABLE: ClassVar[str] = "cluster"
    EXAMPLE: ClassVar[dict] = {"kind": "slurm", "walltime": "01:00:00"}

    kind: str = setting("local", Choice(KINDS))
    partition: str | None = setting(None, Optional(Text()))
    account: str | None = setting(None, Optional(Text()))
    cores: int = setting(1, Int(minimum=1))
    memory: str = setting("4GB", Text())
    walltime: str = setting("01:00:00", Walltime())
    lifetime_margin: float = setting(120.0, Number(minimum=0.0))
    lifetime_stagger: float = setting(0.0, Number(minimum=0.0))
    minimum: int | None = setting(None, Optional(Int(minimum=0)))
    maximum: int | None = setting(None, Optional(Int(minimum=1)))
    job_extra_directives: tuple[str, ...] = setting((), Texts())
    prologue: tuple[str, ...] = setting((), Texts())
    python: str | None = setting(None, Optional(Text()))
    scheduler_host: str | None = setting(None, Optional(Text()))
    interface: str | None = setting(None, Optional(Text()))
    log_directory: str | None = setting(None, Optional(Text()))

    def check(self, where: str) -> None:
        """Batch settings only with a batch kind; minimum <= maximum; the walltime outlasts the margins."""
        defaults = ClusterSettings()
        if self.kind == "local":
            extra = [k for k in self.converters() if k != "kind" and getattr(self, k) != getattr(defaults, k)]
            if extra:
                raise ConfigurationError(
                    f"{where}.{extra[0]} is set with {where}.kind = 'local'; it applies to batch jobs only "
                    "(kind = 'slurm' or 'pbs')"
                )
            return
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ConfigurationError(
                f"{where}.minimum = {self.minimum} > {where}.maximum = {self.maximum}; "
                "expected minimum <= maximum"
            )
        self.lifetime  # noqa: B018 -- validates walltime against the margin

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
