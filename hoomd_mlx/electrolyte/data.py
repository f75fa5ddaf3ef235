"""Loaders for reference data sets (read from the project's ``shared/data`` by default)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoomd_mlx.shared_data import find_shared_data

__all__ = ["NanoconfinementProfiles", "load_nanoconfinement_profiles"]


@dataclass(frozen=True)
class NanoconfinementProfiles:
    """The 120 confined-electrolyte density profiles (Kadupitiya, Jadhao et al.).

    Attributes:
        X: (S, 3) inputs ``[Z (nm), c (M), i (C/m^2)]``.
        Y: (S, 1004) cation then anion densities (M), 502 bins each across the channel.
        error: (S, 1004) their error bars (M).
        z: (S, 502) bin centres (nm).
        names: The input names.
    """

    X: np.ndarray
    Y: np.ndarray
    error: np.ndarray
    z: np.ndarray
    names: tuple[str, ...] = ("Z", "c", "i")


def load_nanoconfinement_profiles(path: str | Path | None = None) -> NanoconfinementProfiles:
    """Read ``nanoconfinement/profiles.npz``: inputs (Z, c, i), outputs the two profiles concatenated."""
    path = Path(path) if path else find_shared_data("nanoconfinement/profiles.npz")
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["param_names"]]
        columns = [names.index(n) for n in ("Z", "c", "i")]
        return NanoconfinementProfiles(
            X=np.asarray(data["params"][:, columns], dtype=np.float64),
            Y=np.concatenate([data["rho_pos"], data["rho_neg"]], axis=1),
            error=np.concatenate([data["err_pos"], data["err_neg"]], axis=1),
            z=np.asarray(data["z"]),
        )
