"""The ML side: TensorFlow models that plug into HOOMD and learn from simulations."""

from __future__ import annotations

from hoomd_mlx.coupling.force_matching import ForceMatching, Frame
from hoomd_mlx.coupling.models import WCA, LennardJones, PairMLP

__all__ = ["WCA", "ForceMatching", "Frame", "LennardJones", "PairMLP"]
