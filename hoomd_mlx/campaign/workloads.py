"""How a workload plugs its knowledge into the generic campaign layer: entry points ``hoomd_mlx.workloads``.

The campaign layer knows nothing of any physics. A workload (the confined electrolyte in
`hoomd_mlx.electrolyte.workload`, or a user's package) declares in its ``pyproject.toml``::

    [project.entry-points."hoomd_mlx.workloads"]
    electrolyte = "hoomd_mlx.electrolyte.workload:WORKLOAD"

a `Workload` that says which campaigns are its own (by their surrogate outputs and design
parameters) and what it adds there: the structure of its outputs for the kernel surrogate,
and the axis its vector results (profiles) are drawn on in reports. Its job settings class is
declared on the job function (``run.settings``, checked by `hoomd_mlx.campaign.config.spec`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import numpy as np

__all__ = ["GROUP", "Workload", "workload_for"]

GROUP = "hoomd_mlx.workloads"


def _bins(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


@dataclass(frozen=True)
class Workload:
    """What a workload adds to the campaigns that are its own.

    Attributes:
        name: Its name.
        recognizes: ``(surrogate outputs, design parameters) -> bool``: a campaign of this workload.
        output_structure: ``(outputs, design parameters, output widths) -> OutputStructure or None``: the
            structure the kernel surrogate learns through
            (`hoomd_mlx.coupling.kernel.OutputStructure`).
        vector_axis: Label of the x axis of its vector results in reports.
        vector_x: ``bins -> x``: where a vector result's bins lie on that axis.
    """

    name: str
    recognizes: Callable[[Sequence[str], Sequence[str]], bool]
    output_structure: Callable[[Sequence[str], Sequence[str], Sequence[int]], Any] | None = None
    vector_axis: str = "bin (first to last, as a fraction)"
    vector_x: Callable[[int], np.ndarray] = _bins


GENERIC = Workload("generic", recognizes=lambda outputs, parameters: True)
"""Workload: What a campaign no workload claims gets."""


def workload_for(outputs: Sequence[str] | None, parameters: Sequence[str] | None) -> Workload:
    """The installed workload that claims a campaign with these outputs and parameters, else `GENERIC`."""
    for entry in entry_points(group=GROUP):
        workload = entry.load()
        if not isinstance(workload, Workload):
            raise TypeError(f"entry point {entry.name} = {entry.value} of {GROUP} is not a Workload")
        if workload.recognizes(tuple(outputs or ()), tuple(parameters or ())):
            return workload
    return GENERIC
