"""The ML side: TensorFlow models that plug into HOOMD and learn from simulations."""

from __future__ import annotations

from hoomd_mlx.coupling.data import load_nanoconfinement_profiles
from hoomd_mlx.coupling.force_matching import ForceMatching, Frame
from hoomd_mlx.coupling.models import WCA, LennardJones, PairMLP
from hoomd_mlx.coupling.surrogate import Surrogate, perfect_accuracy, within_error_bar_accuracy

__all__ = [
    "WCA",
    "ForceMatching",
    "Frame",
    "LennardJones",
    "PairMLP",
    "Surrogate",
    "load_nanoconfinement_profiles",
    "perfect_accuracy",
    "within_error_bar_accuracy",
]
