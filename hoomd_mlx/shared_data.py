"""Where reference data sets are found: ``$HOOMD_MLX_DATA`` or a ``shared/data`` above (no heavy imports)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["find_shared_data"]


def find_shared_data(relative: str, source: str = "") -> Path:
    """Locate ``relative`` under ``$HOOMD_MLX_DATA`` or a ``shared/data`` next to or above the repository.

    Args:
        relative: Path inside the data directory, e.g. ``"nanoconfinement/profiles.npz"``.
        source: Where the data set comes from, added to the error message.

    Raises:
        FileNotFoundError: Naming the places searched and how to point at the data.
    """
    candidates = []
    if os.environ.get("HOOMD_MLX_DATA"):
        candidates.append(Path(os.environ["HOOMD_MLX_DATA"]))
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *Path.cwd().parents, *here.parents]:
        candidates.append(parent / "shared" / "data")
    for base in candidates:
        if (base / relative).exists():
            return base / relative
    top = relative.split("/")[0]
    raise FileNotFoundError(
        f"{relative} not found under $HOOMD_MLX_DATA or any shared/data above {Path.cwd()}; "
        f"set HOOMD_MLX_DATA to the directory holding {top}/" + (f" ({source})" if source else "")
    )
