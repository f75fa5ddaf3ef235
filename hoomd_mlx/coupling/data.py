"""Loaders for reference data sets (read from the project's ``shared/data`` by default)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["NanoconfinementProfiles", "find_shared_data", "load_nanoconfinement_profiles"]


def find_shared_data(relative: str) -> Path:
    """Locate ``relative`` under ``$HOOMD_MLX_DATA`` or a ``shared/data`` next to or above the repository.

    Raises:
        FileNotFoundError: Naming the places searched.
    """
    candidates = []
    if os.environ.get("HOOMD_MLX_DATA"):
        candidates.append(Path(os.environ["HOOMD_MLX_DATA"]))
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        candidates += [parent / "shared" / "data", parent.parent / "shared" / "data"]
    for base in candidates:
        if (base / relative).exists():
            return base / relative
    raise FileNotFoundError(
        f"{relative} not found under $HOOMD_MLX_DATA or any shared/data above {Path.cwd()}; "
        "set HOOMD_MLX_DATA to the directory holding nanoconfinement/ and scispot/"
    )


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
