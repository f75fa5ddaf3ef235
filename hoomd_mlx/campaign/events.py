"""What happens in a campaign, as types: every event kind spelt once, each with one handler in the driver.

Jobs (their subprocess and the worker around it), the watchers of workers and batch jobs,
and the ledger emit events; on the wire (Dask's event topic, JSON lines from a job) an event
is a dict whose ``"event"`` is an `Event` value. The driver turns each into an `Event` with
`Event.of`, which refuses a kind it does not know (a misspelt kind fails loudly, never
silently), and dispatches it to its one handler (`hoomd_mlx.campaign.driver.runner`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from hoomd_mlx.cloud.vm import VmEvent
from hoomd_mlx.errors import HoomdMlxError

__all__ = ["EVENT_TOPIC", "Event", "UnknownEventError"]

EVENT_TOPIC = "hoomd-mlx"
"""str: The Dask event topic jobs publish on and the driver subscribes to."""


class UnknownEventError(HoomdMlxError, ValueError):
    """A message whose event kind is not an `Event`."""


class Event(StrEnum):
    """Every event kind of a campaign."""

    # from a job (its subprocess, relayed by the worker)
    STARTED = "started"  # an attempt began on a worker
    CHECKPOINT = "checkpoint"  # a checkpoint was written (step)
    RESUMED = "resumed"  # an attempt resumed from a checkpoint (step)
    PREEMPTED = "preempted"  # the job stopped at a checkpoint on a notice (also a ledger record)
    FINISHED = "finished"  # the job function returned
    ALREADY_DONE = "already-done"  # the job directory held a result: nothing ran
    CHECKPOINT_DAMAGED = "checkpoint-damaged"  # a damaged checkpoint was set aside (file, why)
    TRAJECTORY_DAMAGED = "trajectory-damaged"  # a damaged trajectory was set aside (file, moved_to)
    LOG = "log"  # a line the job printed
    # from the watchers in the driver
    WORKER_JOB = "worker-job"  # a SLURM worker job changed state
    VM_PREEMPTED = VmEvent.PREEMPTED.value
    VM_LOST = VmEvent.LOST.value
    VM_CENSORED = VmEvent.CENSORED.value
    # written by the ledger itself
    FAILED = "failed"  # a job failed for good
    RETRY = "retry"  # a job failed and runs again
    WORKER_LOST = "worker-lost"  # a worker job ended under running jobs

    @classmethod
    def of(cls, message: Mapping[str, Any]) -> Event:
        """The kind of ``message`` (its ``"event"``), or `UnknownEventError` naming it."""
        kind = message.get("event")
        try:
            return cls(kind)
        except ValueError:
            known = [e.value for e in cls]
            raise UnknownEventError(
                f"unknown campaign event {kind!r} in {dict(message)!r}; expected one of {known}"
            ) from None

    def message(self, **fields: Any) -> dict[str, Any]:
        """dict: This event on the wire (plain strings only, for JSON and Dask)."""
        return {"event": self.value, **fields}
