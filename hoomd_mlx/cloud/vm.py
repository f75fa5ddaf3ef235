"""The ledger's event kinds about VMs (workers), spelt once: what `lifetime.refit_from_events` learns from."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["VmEvent"]


class VmEvent(StrEnum):
    """A VM's fate as the campaign's ledger records it."""

    PREEMPTED = "vm-preempted"  # killed at an observed age (a drill, or the cloud)
    LOST = "vm-lost"  # died on its own at an observed age
    CENSORED = "vm-censored"  # still alive at an age when the campaign ended (right-censored)
