"""The ML side: TensorFlow models that plug into HOOMD and learn from simulations.

The light parts (metrics, `KernelSurrogate`, active-learning strategies) need only NumPy and
SciPy and are imported here directly. The TensorFlow/Keras parts
(`LennardJones`, `WCA`, `PairMLP`, `ForceMatching`, `Frame`, `Surrogate`, and the many-body
potential `DescriptorPotential` with `LocalForceMatching`, `ReferenceFrame`, `frames_from_gsd` and the
on-the-fly `OnTheFly`, `Trainer`, `WeightsFollower`) are imported on first use,
so ``import hoomd_mlx.coupling.active`` (as the campaign driver does) never loads TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hoomd_mlx.coupling.kernel import KernelSurrogate
from hoomd_mlx.coupling.metrics import (
    coverage,
    integrated_counts,
    perfect_accuracy,
    within_error_bar_accuracy,
)

if TYPE_CHECKING:  # what the lazy names are, for readers and type checkers
    from hoomd_mlx.coupling.descriptor import DescriptorPotential
    from hoomd_mlx.coupling.force_matching import ForceMatching, Frame
    from hoomd_mlx.coupling.models import WCA, LennardJones, PairMLP
    from hoomd_mlx.coupling.onthefly import OnTheFly, Trainer, WeightsFollower
    from hoomd_mlx.coupling.surrogate import Surrogate
    from hoomd_mlx.coupling.training import LocalForceMatching, ReferenceFrame, frames_from_gsd

_KERAS_NAMES = {
    "DescriptorPotential": "hoomd_mlx.coupling.descriptor",
    "LocalForceMatching": "hoomd_mlx.coupling.training",
    "ReferenceFrame": "hoomd_mlx.coupling.training",
    "frames_from_gsd": "hoomd_mlx.coupling.training",
    "OnTheFly": "hoomd_mlx.coupling.onthefly",
    "Trainer": "hoomd_mlx.coupling.onthefly",
    "WeightsFollower": "hoomd_mlx.coupling.onthefly",
    "ForceMatching": "hoomd_mlx.coupling.force_matching",
    "Frame": "hoomd_mlx.coupling.force_matching",
    "LennardJones": "hoomd_mlx.coupling.models",
    "PairMLP": "hoomd_mlx.coupling.models",
    "WCA": "hoomd_mlx.coupling.models",
    "Surrogate": "hoomd_mlx.coupling.surrogate",
}

__all__ = [
    "WCA",
    "DescriptorPotential",
    "ForceMatching",
    "Frame",
    "KernelSurrogate",
    "LennardJones",
    "LocalForceMatching",
    "OnTheFly",
    "PairMLP",
    "ReferenceFrame",
    "Surrogate",
    "Trainer",
    "WeightsFollower",
    "coverage",
    "frames_from_gsd",
    "integrated_counts",
    "perfect_accuracy",
    "within_error_bar_accuracy",
]


def __getattr__(name: str):
    """The TensorFlow-backed names, imported when first asked for (PEP 562)."""
    module = _KERAS_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
