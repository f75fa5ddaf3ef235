"""The driver's view of each job's last safe point, to say what a preemption cost."""

from __future__ import annotations

from hoomd_mlx.campaign.events import Event

__all__ = ["ProgressClock"]


class ProgressClock:
    """The driver's view of each job's last safe point, to say what a preemption cost.

    ``observe`` takes the workers' ``(time, message)`` events; ``lost`` says, for a job whose
    worker died at ``when``, the wall seconds since its attempt started or last checkpointed
    and, when two checkpoints gave a rate, the timesteps that implies.
    """

    def __init__(self) -> None:
        self._safe: dict[str, tuple[float, int | None]] = {}
        self._rate: dict[str, float] = {}

    def observe(self, when: float, message: dict) -> None:
        """Note a job's start, resumption or checkpoint."""
        job, kind = message.get("job"), message.get("event")
        if job is None or kind not in (Event.STARTED, Event.RESUMED, Event.CHECKPOINT):
            return
        step = message.get("step")
        previous = self._safe.get(job)
        if (
            kind == Event.CHECKPOINT
            and previous is not None
            and previous[1] is not None
            and when > previous[0]
        ):
            self._rate[job] = (int(step) - previous[1]) / (when - previous[0])
        self._safe[job] = (when, int(step) if step is not None else (previous[1] if previous else None))

    def lost(self, job: str, when: float) -> dict:
        """dict: ``job``, ``lost_seconds``, ``checkpoint_step`` and (if known) ``steps_lost_estimate``."""
        since, step = self._safe.get(job, (when, None))
        lost = {"job": job, "lost_seconds": max(0.0, when - since), "checkpoint_step": step}
        if job in self._rate:
            lost["steps_lost_estimate"] = round(self._rate[job] * lost["lost_seconds"])
        return lost
