"""What runs beside the driver loop, as plugins (as distributed's ``SchedulerPlugin``): watchers, the learner.

A `DriverPlugin` is started with the driver, told when results were settled, asked whether
the driver may submit more simulations, finished when the loop ends (normally), stopped
always (also on an error), and told once the cluster is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hoomd_mlx.campaign.backends.watch import WorkerWatch

__all__ = ["DriverPlugin", "LearnerPlugin", "SlurmWatchPlugin", "WorkerWatchPlugin"]

logger = logging.getLogger(__name__)


class DriverPlugin:
    """Hooks of the driver loop; every one does nothing unless overridden."""

    def start(self, driver: Any) -> None:
        """The driver is connected and about to submit."""

    def settled(self, driver: Any) -> None:
        """New outcomes were recorded in the ledger."""

    def may_submit(self) -> bool:
        """bool: Whether the driver may submit more simulations."""
        return True

    def finish(self, driver: Any) -> None:
        """The loop ended normally (the bag or its completion fraction is done)."""

    def stop(self) -> None:
        """The session ends (always called, once per session; must be idempotent)."""

    def closed(self, ledger: Any) -> None:
        """The cluster is closed."""


class WorkerWatchPlugin(DriverPlugin):
    """Worker lifetimes in the ledger (``vm-*`` events); in a preemption drill, the killing too."""

    def __init__(self, client: Any, cluster: Any, drill: Any, announce: Callable[[str], None]) -> None:
        self.client, self.cluster, self.drill, self.announce = client, cluster, drill, announce
        self.watch: WorkerWatch | None = None

    def start(self, driver: Any) -> None:
        """Start watching."""
        self.watch = WorkerWatch(
            self.client, driver.events.put, cluster=self.cluster, drill=self.drill
        ).start()

    def finish(self, driver: Any) -> None:
        """Stop watching (and say what the drill did)."""
        self.stop()
        if self.drill is not None and self.watch is not None:
            self.announce(f"preemption drill: {self.watch.kills} workers killed")

    def stop(self) -> None:
        """Stop watching (once)."""
        if self.watch is not None:
            self.watch.stop()


class SlurmWatchPlugin(DriverPlugin):
    """The SLURM worker jobs' fates in the ledger, including those the driver itself closed."""

    def __init__(self, cluster: Any, settings: Any, workers: int, name: str, announce: Callable[[str], None]):
        self.cluster, self.settings, self.workers, self.name = cluster, settings, workers, name
        self.announce = announce
        self.watch = None

    def start(self, driver: Any) -> None:
        """Start watching."""
        from hoomd_mlx.campaign.backends.batch import SlurmWatch

        self.watch = SlurmWatch(self.cluster, driver.events.put).start()
        low, high = self.settings.minimum or self.workers, self.settings.maximum or self.workers
        self.announce(f"SLURM worker jobs {self.name}: {low}-{high}")

    def finish(self, driver: Any) -> None:
        """Stop watching (and say what the drill did)."""
        self.stop()

    def stop(self) -> None:
        """Stop watching (once)."""
        if self.watch is not None:
            self.watch.stop()

    def closed(self, ledger: Any) -> None:
        """The worker jobs the driver itself ended: their state, no cause."""
        if self.watch is None:
            return
        from hoomd_mlx.campaign.backends.batch import FINAL_STATES, slurm_states

        open_jobs = [w["slurm_job"] for w in ledger.workers() if w["state"] not in FINAL_STATES]
        for slurm_job, (state, _) in slurm_states(open_jobs).items():
            ledger.record_worker(slurm_job, state=state, reason="closed by the driver")


class LearnerPlugin(DriverPlugin):
    """The surrogate: retrains as results arrive, orders the pending jobs, answers the rest once accurate."""

    def __init__(
        self, spec: Any, ledger: Any, directory: Path, threads: int, announce: Callable[[str], None]
    ):
        from hoomd_mlx.campaign.driver.learner import CampaignLearner

        self.learner = CampaignLearner(spec.surrogate, ledger.meta("parameters"), directory, ledger)
        self.threads = threads
        self.announce = announce

    def start(self, driver: Any) -> None:
        """Start watching."""
        self.settled(driver)

    def settled(self, driver: Any) -> None:
        """Retrain when enough new results arrived, then let the surrogate order the pending jobs."""
        record = self.learner.observe()
        if record is not None:
            driver.progress.set_postfix_str(f"surrogate v{record['version']} acc {record['accuracy']:.3f}")
        if record is not None or self.learner.needs_validation:
            driver.reorder(lambda pending, params: self.learner.order(pending, params, self.threads))

    def may_submit(self) -> bool:
        """bool: Not once the surrogate answers the rest."""
        return not self.learner.switched

    def finish(self, driver: Any) -> None:
        """Stop watching (and say what the drill did)."""
        if self.learner.switched:
            predicted = self.learner.predict_remaining()
            driver.drop_pending()
            self.announce(
                f"surrogate reached its target twice: {predicted} design points predicted, not simulated"
            )
