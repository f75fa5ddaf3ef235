"""Where the cloud tools find the SciSpot reference data (VM lifetimes, 2019 prices).

The search is `hoomd_mlx.shared_data.find_shared_data` (``$HOOMD_MLX_DATA``, then a
``shared/data`` next to or above the working directory or the package), which imports
nothing heavy, so ``hoomd-mlx cloud plan`` does not import TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hoomd_mlx.shared_data import find_shared_data

__all__ = ["LIFETIMES", "PRICES", "find_scispot_file", "load_scispot_lifetimes"]

LIFETIMES = "scispot/All_data.txt"
"""str: 717 Google preemptible VM lifetimes [h] with their empirical CDF (Feb-Apr 2019)."""

PRICES = "scispot/machine-rate.txt"
"""str: On-demand and preemptible hourly prices [USD] per machine type and region (2019)."""


def find_scispot_file(relative: str) -> Path:
    """Locate ``relative`` (e.g. `LIFETIMES`) under ``$HOOMD_MLX_DATA`` or a ``shared/data`` above.

    Raises:
        FileNotFoundError: Naming the places searched and how to point at the data.
    """
    return find_shared_data(relative, source="github.com/prateek-s/scispot, data/")


def load_scispot_lifetimes(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``All_data.txt``: sorted lifetimes [h] and the empirical CDF published with them.

    Returns:
        tuple[np.ndarray, np.ndarray]: (n,) lifetimes [h] ascending, (n,) CDF values in [0, 1].
    """
    data = np.loadtxt(Path(path) if path else find_scispot_file(LIFETIMES))
    order = np.argsort(data[:, 0], kind="stable")
    return data[order, 0], data[order, 1]
