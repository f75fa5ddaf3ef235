"""Every access to HOOMD-blue that depends on its version, in one place.

Written against the HOOMD-blue 4.8 Python API (``md.force.Custom``, local
snapshots, ``NeighborList.cpu_local_nlist_arrays``), which HOOMD 5.x-7.x keep.
Private attributes used here (``_attach``, ``_cpp_obj``, ``_coerce_to_ndarray``)
are the ones HOOMD's own ``md.pair.Pair`` and local-access classes use; if a
future HOOMD renames them, this module is the only thing to change.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from hoomd_mlx.errors import HoomdNotFoundError

__all__ = [
    "attach_nlist",
    "device_array",
    "domain_thickness",
    "force_arrays",
    "host_array",
    "import_hoomd",
    "is_gpu",
    "local_count",
    "mark_virial_unused",
    "mpi_comm",
    "nlist_arrays",
    "nlist_build_count",
    "nlist_cutoffs",
    "num_ranks",
    "particle_arrays",
    "release_nlist_cutoff",
    "releaser",
    "run_identity",
    "set_nlist_storage",
    "tag_count",
    "update_nlist",
    "virial_requested",
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


def num_ranks(simulation: Any) -> int:
    """int: MPI ranks the simulation's domain is decomposed over (1 without MPI)."""
    return int(simulation.device.communicator.num_ranks)


def local_count(simulation: Any) -> int:
    """int: Particles this rank owns (all of them on one rank), ghosts not counted."""
    return int(simulation.state._cpp_sys_def.getParticleData().getN())


_COMM_ATTRIBUTE = "_hoomd_mlx_comm"
"""The attribute of HOOMD's communicator holding our duplicate of its MPI communicator."""


def mpi_comm(simulation: Any) -> Any:
    """The mpi4py communicator of the ranks that share ``simulation``'s domain.

    HOOMD does not hand out its ``MPI_Comm``; it is COMM_WORLD, or COMM_WORLD split
    by partition (``Communicator(ranks_per_partition=...)``). A communicator made
    otherwise (``Communicator(mpi_comm=...)``) is refused rather than guessed.
    """
    from mpi4py import MPI

    communicator = simulation.device.communicator
    world = MPI.COMM_WORLD
    partitions, partition = int(communicator.num_partitions), int(communicator.partition)
    comm = getattr(communicator, _COMM_ATTRIBUTE, None)  # one per HOOMD communicator, made once
    if comm is None:
        if partitions > 1:  # HOOMD's partitions are consecutive blocks of COMM_WORLD's ranks
            size = world.Get_size() // partitions
            group = world.Get_group().Incl(list(range(partition * size, (partition + 1) * size)))
            comm = world.Create_group(group)  # collective over this partition only
        else:
            comm = world.Dup()  # our collectives apart from HOOMD's
        setattr(communicator, _COMM_ATTRIBUTE, comm)
    if comm.Get_size() != int(communicator.num_ranks) or comm.Get_rank() != int(communicator.rank):
        from hoomd_mlx.errors import ConfigurationError

        raise ConfigurationError(
            f"cannot find the MPI communicator of this simulation ({communicator.num_ranks} ranks; "
            f"COMM_WORLD has {world.Get_size()}): TensorFlowForce supports COMM_WORLD and "
            "hoomd.communicator.Communicator(ranks_per_partition=...)"
        )
    return comm


def domain_thickness(simulation: Any) -> tuple[tuple[int, ...], tuple[float, float, float]]:
    """The domain grid ``(nx, ny, nz)`` and this rank's domain widths between opposite faces [length].

    Widths are the distances between the planes of the rank's (possibly triclinic)
    local box, as HOOMD measures them when it checks its ghost layer.
    """
    box = simulation.state._cpp_sys_def.getParticleData().getBox()
    lx, ly, lz = (float(v) for v in (box.getL().x, box.getL().y, box.getL().z))
    xy, xz, yz = box.getTiltFactorXY(), box.getTiltFactorXZ(), box.getTiltFactorYZ()
    a1 = (lx, 0.0, 0.0)
    a2 = (xy * ly, ly, 0.0)
    a3 = (xz * lz, yz * lz, lz)

    def cross(u: tuple, v: tuple) -> tuple:
        return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])

    volume = abs(sum(a * b for a, b in zip(a1, cross(a2, a3), strict=True)))

    def width(u: tuple, v: tuple) -> float:
        area = math.sqrt(sum(c * c for c in cross(u, v)))
        return volume / area if area > 0 else math.inf

    grid = tuple(int(n) for n in simulation.state.domain_decomposition)
    return grid, (width(a2, a3), width(a3, a1), width(a1, a2))


def tag_count(simulation: Any) -> int:
    """int: One more than the largest particle tag in the system (the size of a table by tag)."""
    pdata = simulation.state._cpp_sys_def.getParticleData()
    return int(pdata.getMaximumTag()) + 1 if pdata.getNGlobal() else 0


def attach_nlist(nlist: Any, simulation: Any) -> Callable[[], None]:
    """Attach a neighbor list used by a force, as ``md.pair.Pair`` does.

    HOOMD counts the list's users (a list shared with another force stays attached
    until the last detaches) and refuses a list that belongs to another simulation.

    Returns:
        A function that detaches it again (call it from the force's detach hook).
    """
    nlist._attach(simulation)
    return nlist._detach


def set_nlist_storage(nlist: Any, *, half: bool) -> None:
    """Choose half (each pair once) or full storage, matching HOOMD's pair forces."""
    md = importlib.import_module("hoomd.md")
    mode = md._md.NeighborList.storageMode
    nlist._cpp_obj.setStorageMode(mode.half if half else mode.full)


def nlist_cutoffs(nlist: Any, pairs: Any) -> dict[tuple[str, str], float | None]:
    """The neighbor list's base cutoff for each type pair (None where it has none)."""
    found = {}
    for pair in pairs:
        try:
            found[pair] = nlist.r_cut[pair]
        except (KeyError, TypeError, ValueError):
            found[pair] = None
    return found


class _Widening:
    """One neighbor list's base cutoffs before any of our forces widened them, and each force's asks."""

    def __init__(self) -> None:
        self.original: dict[tuple[str, str], float] = {}
        self.requests: dict[object, dict[tuple[str, str], float]] = {}


_WIDENING_ATTRIBUTE = "_hoomd_mlx_widening"
"""The attribute of a neighbor list holding what our forces asked of it (it lives and dies with the list)."""


def _apply(nlist: Any, widening: _Widening) -> None:
    for pair, value in widening.original.items():
        asked = [r[pair] for r in widening.requests.values() if pair in r]
        wanted = max([value, *asked])
        if nlist.r_cut[pair] != wanted:
            nlist.r_cut[pair] = wanted


def widen_nlist_cutoff(nlist: Any, cutoffs: dict[tuple[str, str], float], owner: object) -> None:
    """Make the neighbor list's base cutoff at least ``cutoffs`` for each type pair, for ``owner`` (a key).

    Several forces may share one list: each one's request is kept, and
    `release_nlist_cutoff` gives back only what no other force still asks for.
    """
    widening = getattr(nlist, _WIDENING_ATTRIBUTE, None)
    if widening is None:
        widening = _Widening()
        setattr(nlist, _WIDENING_ATTRIBUTE, widening)
    for pair, current in nlist_cutoffs(nlist, cutoffs).items():
        widening.original.setdefault(pair, 0.0 if current is None else current)
    widening.requests[owner] = dict(cutoffs)
    _apply(nlist, widening)


def release_nlist_cutoff(nlist: Any, owner: object) -> None:
    """Withdraw ``owner``'s request: the list's cutoffs return to the largest still asked for."""
    widening = getattr(nlist, _WIDENING_ATTRIBUTE, None)
    if widening is None:
        return
    widening.requests.pop(owner, None)
    _apply(nlist, widening)
    if not widening.requests:
        delattr(nlist, _WIDENING_ATTRIBUTE)


def releaser(nlist: Any, owner: object, detach: Callable[[], None]) -> Callable:
    """A closure for a force's detach hook: withdraw its cutoffs from the list, then detach it.

    Made at attach because HOOMD also detaches at interpreter exit, when module
    globals (this module's, and HOOMD's own parameter machinery) may be gone: then
    only the detach runs.
    """
    import sys

    finalizing, release_cutoffs = sys.is_finalizing, release_nlist_cutoff

    def release() -> None:
        if not finalizing():
            release_cutoffs(nlist, owner)
        detach()

    return release


def particle_arrays(state: Any, *, gpu: bool = False) -> Any:
    """Particle data only (positions, charges, tags), not a whole local snapshot.

    ``State.cpu_local_snapshot`` builds access objects for bonds, angles, ...
    too, every time it is entered; a force that reads particles each step opens
    just HOOMD's particle accessor. Use as ``with particle_arrays(state) as p:``;
    ``p.position`` etc. are HOOMD arrays, valid inside the block.
    """
    if gpu:
        access = importlib.import_module("hoomd.data.local_access_gpu").ParticleLocalAccessGPU
    else:
        access = importlib.import_module("hoomd.data.local_access_cpu").ParticleLocalAccessCPU
    return _Entered(access(state))


class _Entered:
    """Enter/exit a HOOMD local-access object as its own context manager does."""

    __slots__ = ("_access",)

    def __init__(self, access: Any) -> None:
        self._access = access

    def __enter__(self) -> Any:
        self._access._enter()
        return self._access

    def __exit__(self, *exc: object) -> None:
        self._access._exit()


def force_arrays(force: Any, *, gpu: bool = False) -> Any:
    """Context manager over a custom force's own force, energy and virial arrays."""
    return force.gpu_local_force_arrays if gpu else force.cpu_local_force_arrays


def update_nlist(nlist: Any, timestep: int) -> None:
    """Bring the neighbor list up to date for ``timestep``, as HOOMD's own pair forces do.

    ``NeighborList.cpu_local_nlist_arrays`` updates the list for
    ``Simulation.timestep``, which inside a step is still the previous timestep while
    forces are computed for the next one; the list would lag a step behind particle
    sorts. This updates it for the timestep ``set_forces`` was called with (a no-op
    when HOOMD already did, or when no particle moved far enough).
    """
    nlist._cpp_obj.compute(timestep)


def nlist_arrays(nlist: Any, simulation: Any, *, gpu: bool = False) -> Any:
    """Context manager over HOOMD's neighbor-list arrays (call `update_nlist` first)."""
    md = importlib.import_module("hoomd.md")
    access = md.data.NeighborListLocalAccessGPU if gpu else md.data.NeighborListLocalAccess
    return access(nlist, simulation.state)


def nlist_build_count(nlist: Any) -> int:
    """int: Builds of the neighbor list since the current ``Simulation.run`` began (public since 4.0)."""
    return int(nlist.num_builds)


def run_identity(simulation: Any) -> tuple[int, int]:
    """(initial, final) timestep of the current ``Simulation.run`` call.

    HOOMD resets neighbor-list build counts when a run starts, and may sort
    particles (forcing an uncounted rebuild) at its first step, so a change of run
    must be treated like a rebuild.
    """
    return int(simulation.initial_timestep), int(simulation.final_timestep)


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


def virial_requested(virial: Any) -> bool:
    """bool: Whether HOOMD needs virials this step (pressure logged, NPT, ...).

    HOOMD computes virials only on steps whose flags ask for the pressure tensor,
    and ``CustomForceCompute`` zeroes the virial array before ``set_forces`` exactly
    on those steps. Element [0, 0] is set to ``-0.0`` by `mark_virial_unused` after
    a step without virials, so a zeroed (``+0.0``) element means "requested". A
    stale value that happens to be exactly ``+0.0`` only costs one extra virial.
    """
    if virial.shape[0] == 0:
        return False
    value = float(virial[0, 0])
    return value == 0.0 and math.copysign(1.0, value) > 0


def mark_virial_unused(virial: Any) -> None:
    """Leave the ``-0.0`` marker read by `virial_requested` (a step without virials)."""
    if virial.shape[0]:
        virial[0, 0] = -0.0
