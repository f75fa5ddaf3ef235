"""Every access to HOOMD-blue that depends on its version, in one place.

Written against the HOOMD-blue 4.8 Python API (``md.force.Custom``, local
snapshots, ``NeighborList.cpu_local_nlist_arrays``), which HOOMD 5.x-7.x keep.
Private attributes used here (``_attach``, ``_cpp_obj``, ``_coerce_to_ndarray``)
are the ones HOOMD's own ``md.pair.Pair`` and local-access classes use; if a
future HOOMD renames them, this module is the only thing to change.
"""

from __future__ import annotations

import importlib
from typing import Any

from hoomd_mlx.errors import HoomdNotFoundError

__all__ = [
    "attach_nlist",
    "detach_nlist",
    "device_array",
    "host_array",
    "import_hoomd",
    "is_gpu",
    "nlist_build_count",
    "run_start_timestep",
    "set_nlist_storage",
    "widen_nlist_cutoff",
]

INSTALL_HINT = (
    "HOOMD-blue is not installed in this Python environment. Install it from conda-forge "
    "(`conda install -c conda-forge hoomd` or `pixi add hoomd`; environment.yml in this "
    "repository sets up everything), or build it from source (HOOMD-blue's BUILDING.rst) into "
    "the same Python."
)


def import_hoomd() -> Any:
    """Import and return the ``hoomd`` module, with install instructions if it is missing."""
    try:
        hoomd = importlib.import_module("hoomd")
        importlib.import_module("hoomd.md")
    except ImportError as err:
        raise HoomdNotFoundError(f"{INSTALL_HINT} (import failed: {err})") from err
    return hoomd


def is_gpu(simulation: Any) -> bool:
    """bool: Whether ``simulation`` runs on a ``hoomd.device.GPU``."""
    hoomd = import_hoomd()
    return isinstance(simulation.device, hoomd.device.GPU)


def attach_nlist(nlist: Any, simulation: Any) -> None:
    """Attach a neighbor list owned by a force, as ``md.pair.Pair`` does."""
    if not nlist._attached:
        nlist._attach(simulation)


def detach_nlist(nlist: Any) -> None:
    """Detach a neighbor list attached with `attach_nlist`."""
    if nlist._attached:
        nlist._detach()


def set_nlist_storage(nlist: Any, *, half: bool) -> None:
    """Choose half (each pair once) or full storage, matching HOOMD's pair forces."""
    md = importlib.import_module("hoomd.md")
    mode = md._md.NeighborList.storageMode
    nlist._cpp_obj.setStorageMode(mode.half if half else mode.full)


def widen_nlist_cutoff(nlist: Any, cutoffs: dict[tuple[str, str], float]) -> None:
    """Make the neighbor list's base cutoff at least ``cutoffs`` for each type pair."""
    for pair, r_cut in cutoffs.items():
        try:
            current = nlist.r_cut[pair]
        except (KeyError, TypeError, ValueError):
            current = None
        if current is None or current < r_cut:
            nlist.r_cut[pair] = r_cut


def nlist_build_count(nlist: Any) -> int:
    """int: Builds of the neighbor list since the current ``Simulation.run`` began."""
    return int(nlist._cpp_obj.num_builds)


def run_start_timestep(simulation: Any) -> int:
    """int: Timestep at which the current ``run`` started (build counts reset then)."""
    return int(simulation.initial_timestep)


def host_array(hoomd_array: Any) -> Any:
    """The numpy view of a HOOMD local-access array (no copy).

    ``numpy.asarray`` on a ``HOOMDArray`` copies by design; the view is valid only
    inside the ``with`` block that produced the array.
    """
    return hoomd_array._coerce_to_ndarray()


def device_array(hoomd_gpu_array: Any) -> Any:
    """A CuPy view of a HOOMD GPU local-access array, through ``__cuda_array_interface__``."""
    import cupy

    return cupy.asarray(hoomd_gpu_array)
