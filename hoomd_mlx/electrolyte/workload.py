"""What the confined electrolyte plugs into the campaign layer (entry point ``hoomd_mlx.workloads``).

A campaign is the electrolyte's when its surrogate learns exactly the cation and anion
profiles (``rho_pos``, ``rho_neg``: `hoomd_mlx.electrolyte.run`, equal bins wall to wall)
and its design has ``Z``, ``c`` and ``i``. The kernel surrogate then predicts them through
`ChannelProfiles` (mirror-symmetric, non-negative, holding the ions of the state point), and
reports draw them against z / Z.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hoomd_mlx.campaign.workloads import Workload
from hoomd_mlx.electrolyte.channel import ChannelProfiles

__all__ = ["OUTPUTS", "PARAMETERS", "WORKLOAD"]

OUTPUTS = ("rho_pos", "rho_neg")
PARAMETERS = ("Z", "c", "i")


def _recognizes(outputs: Sequence[str], parameters: Sequence[str]) -> bool:
    return set(outputs) == set(OUTPUTS) and set(PARAMETERS) <= set(parameters)


def _structure(
    outputs: Sequence[str], parameters: Sequence[str], widths: Sequence[int]
) -> ChannelProfiles | None:
    """`ChannelProfiles` for cation then anion profiles in equal bins wall to wall (width Z / bins)."""
    if tuple(outputs) != OUTPUTS or widths is None or len(set(widths)) != 1 or widths[0] < 2:
        return None
    bins = int(widths[0])
    return ChannelProfiles(
        bins=bins,
        grid_lengths=np.array([1.0]),
        grid_width=np.array([1.0 / bins]),
        columns=tuple(list(parameters).index(p) for p in PARAMETERS),
    )


WORKLOAD = Workload(
    name="electrolyte",
    recognizes=_recognizes,
    output_structure=_structure,
    vector_axis="z / Z (wall to wall)",
    vector_x=lambda n: (np.arange(n) + 0.5) / n - 0.5,
)
