"""The preemption drill: kill real Dask workers at ages drawn from a lifetime model.

``hoomd-mlx campaign run SPEC --preempt scispot --preempt-scale 2.5`` rehearses a cloud run
on one machine: every worker of the campaign's LocalCluster is a "VM" whose lifetime is drawn
from the model, with model hours compressed to ``seconds_per_hour`` wall seconds (2.5: a 24 h
VM life lasts a minute). When its time comes, the worker process and the job subprocesses
under it get SIGKILL at once -- a VM vanishing, not a polite SIGTERM -- so the work since each
job's last checkpoint is really lost. The LocalCluster's nanny starts a replacement worker (a
fresh VM, with a new lifetime), and the campaign runner does what it does for any lost
worker: the jobs resume from their checkpoints elsewhere.

The watching (and, in a drill, the killing) is `hoomd_mlx.campaign.backends.watch.WorkerWatch`,
a thread of the campaign driver; this module holds what a drill is (`DrillSettings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hoomd_mlx.cloud.lifetime import PreemptionModel
from hoomd_mlx.errors import ConfigurationError

__all__ = ["DrillSettings"]


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
