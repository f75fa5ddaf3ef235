"""`TensorFlowForce`: a HOOMD-blue force whose energy is a TensorFlow model.

Importing this module imports HOOMD-blue; without it, the import raises
`hoomd_mlx.errors.HoomdNotFoundError` saying how to install it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

from hoomd_mlx.errors import ConfigurationError
from hoomd_mlx.plugin import _compat
from hoomd_mlx.plugin.contract import KINDS
from hoomd_mlx.plugin.engine import ForceEngine, HostArrays

hoomd = _compat.import_hoomd()
from hoomd.logging import log  # noqa: E402  (HOOMD is imported through _compat first)

__all__ = ["TensorFlowForce"]

logger = logging.getLogger(__name__)

CutoffSpec = float | Mapping[tuple[str, str], float]


def _declared_dtype(model: Callable) -> tf.DType | None:
    """The floating dtype a model says it computes in (Keras ``compute_dtype`` or ``dtype``)."""
    for attr in ("compute_dtype", "dtype"):
        value = getattr(model, attr, None)
        if value is not None:
            try:
                found = tf.as_dtype(value if not hasattr(value, "name") else value.name)
            except TypeError:
                continue
            if found.is_floating:
                return found
    return None


SUPPORTED_DTYPES = (tf.float64, tf.float32)


def _model_dtype(model: Callable, dtype: str | tf.DType | None) -> tf.DType:
    declared = _declared_dtype(model)
    if declared is not None and declared not in SUPPORTED_DTYPES:
        raise ConfigurationError(
            f"the model computes in {declared.name} (a Keras mixed-precision policy?); TensorFlowForce "
            "supports float64 and float32 models: build the model with dtype='float32' (forces in "
            "half precision would not conserve energy)"
        )
    if dtype is None:
        return declared or tf.float64
    try:
        wanted = tf.as_dtype(dtype)
    except TypeError as err:
        raise ConfigurationError(f"dtype must be 'float64' or 'float32', got {dtype!r}") from err
    if wanted not in SUPPORTED_DTYPES:
        raise ConfigurationError(f"dtype must be 'float64' or 'float32', got {wanted.name}")
    if declared is not None and declared != wanted:
        raise ConfigurationError(
            f"the model computes in {declared.name} (its dtype attribute) but the force was built "
            f"with dtype='{wanted.name}'; build the model in {wanted.name} (e.g. "
            f"LennardJones(..., dtype='{wanted.name}')) or leave out dtype= to use the model's"
        )
    return wanted


def _check_cutoffs(r_cut: CutoffSpec | None) -> None:
    """Refuse a non-positive or non-numeric cutoff at construction, naming the key."""
    if r_cut is None:
        return
    items = r_cut.items() if isinstance(r_cut, Mapping) else [(None, r_cut)]
    for key, value in items:
        where = "r_cut" if key is None else f"r_cut[{key!r}]"
        if key is not None and not (isinstance(key, tuple) and len(key) == 2):
            raise ConfigurationError(f"r_cut keys must be pairs of type names like ('A', 'B'), got {key!r}")
        try:
            number = float(value)
        except (TypeError, ValueError) as err:
            raise ConfigurationError(f"{where} must be a number, got {value!r}") from err
        if not number > 0 or number == float("inf"):
            raise ConfigurationError(f"{where} must be a positive, finite cutoff [length], got {value!r}")
        if key is not None and (key[1], key[0]) in r_cut and float(r_cut[(key[1], key[0])]) != number:
            raise ConfigurationError(
                f"r_cut[{key!r}] = {number} but r_cut[{(key[1], key[0])!r}] = {r_cut[(key[1], key[0])]}: a "
                "pair's cutoff cannot depend on the order of its types; give one value"
            )


class TensorFlowForce(hoomd.md.force.Custom):
    r"""A force from a TensorFlow energy model, with forces by automatic differentiation.

    Args:
        model: The energy model, of the ``kind`` given: a Python function of TF ops,
            a `tf.Module` or a Keras model.
        nlist: HOOMD neighbor list giving the neighbors. Required for pair and local
            models.
        r_cut: Cutoff :math:`[\mathrm{length}]`: one number, or a mapping from type
            pairs ``("A", "B")`` to cutoffs (every pair of types must be listed).
        kind: ``"pair"`` (a `hoomd_mlx.plugin.contract.PairModel`), ``"local"`` (a
            `hoomd_mlx.plugin.contract.LocalModel`: per-particle energies from the
            neighbors within ``r_cut``) or ``"many-body"`` (a
            `hoomd_mlx.plugin.contract.ManyBodyModel`, which reads `ManyBodyInputs`:
            absolute positions, totals over the system; under MPI domain decomposition
            it must declare its range). On the CPU pair and local models run on the
            split step: compiled kernels do the geometry and the accumulation, the
            model its own math.
        dtype: Dtype the model computes in (``"float64"`` or ``"float32"``). Default:
            the model's ``compute_dtype`` (Keras) or ``dtype`` attribute, else float64.
        jit_compile: Compile the model with XLA: ``True``, ``False`` or ``"auto"``
            (try XLA, fall back to a plain graph with a warning where XLA cannot
            compile the model).

    Example::

        lj = hoomd_mlx.coupling.LennardJones({("A", "A"): dict(epsilon=1, sigma=1)}, ["A"])
        force = hoomd_mlx.TensorFlowForce(lj, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.5)
        integrator.forces.append(force)

    On the CPU, pair and local models see displacement vectors that compiled kernels
    write into buffers TensorFlow reads without a copy; the same kernels add forces,
    energies and virials into HOOMD's own arrays. The pairs of HOOMD's list are taken
    again only when HOOMD rebuilds it.
    """

    def __init__(
        self,
        model: Callable,
        nlist: Any = None,
        r_cut: CutoffSpec | None = None,
        *,
        kind: str = "pair",
        dtype: str | tf.DType | None = None,
        jit_compile: bool | str = "auto",
    ) -> None:
        super().__init__(aniso=False)
        if not callable(model):
            raise ConfigurationError(f"model must be callable, got {type(model).__name__}")
        if nlist is not None and not isinstance(nlist, hoomd.md.nlist.NeighborList):
            raise ConfigurationError(
                f"nlist must be a hoomd.md.nlist.NeighborList, got {type(nlist).__name__}"
            )
        if kind not in KINDS:
            raise ConfigurationError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        if kind != "many-body" and nlist is None:
            raise ConfigurationError(
                f"a {kind} model needs a neighbor list: pass nlist=hoomd.md.nlist.Cell(buffer=0.4) "
                "(or kind='many-body' for a model that needs no neighbors)"
            )
        if nlist is not None and r_cut is None:
            raise ConfigurationError("r_cut is required with a neighbor list, e.g. r_cut=2.5")
        if jit_compile not in (True, False, "auto"):
            raise ConfigurationError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
        _check_cutoffs(r_cut)
        model_types = getattr(model, "types", None)
        if isinstance(r_cut, Mapping) and isinstance(model_types, (list, tuple)):
            self._cutoffs(list(model_types), r_cut)  # a missing pair is named now, not at attach
        self._model = model
        self._nlist = nlist
        self._r_cut = r_cut
        self._kind = kind
        self._dtype = _model_dtype(model, dtype)
        if not self._dtype.is_floating:
            raise ConfigurationError(f"dtype must be a floating-point dtype, got {self._dtype.name}")
        self._jit_compile = jit_compile
        self._engine: ForceEngine | None = None
        self._release: Callable[[], None] | None = None
        self._comm: Any = None

    # -- HOOMD hooks ----------------------------------------------------------------------

    def _cutoffs(self, types: list[str], r_cut: CutoffSpec | None = None) -> dict[tuple[str, str], float]:
        r_cut = self._r_cut if r_cut is None else r_cut
        if r_cut is None:
            return {}
        if isinstance(r_cut, Mapping):
            cutoffs = {}
            for a in types:
                for b in types:
                    value = r_cut.get((a, b), r_cut.get((b, a)))
                    if value is None:
                        raise ConfigurationError(
                            f"r_cut has no entry for type pair ({a!r}, {b!r}); give every pair of "
                            f"{types} or a single number"
                        )
                    cutoffs[(a, b)] = float(value)
            return cutoffs
        return {(a, b): float(r_cut) for a in types for b in types}

    def _check_model_reach(self, cutoffs: dict, ranks: int) -> None:
        """Refuse a model whose declared range (``cutoff``) ``r_cut`` or MPI cannot serve."""
        if self._kind == "pair":
            return
        reach = getattr(self._model, "cutoff", None)
        if reach is None and self._kind == "local":
            return  # its range is r_cut: it sees nothing beyond
        if reach is None:
            if ranks > 1:
                raise ConfigurationError(
                    f"this simulation runs on {ranks} MPI ranks, but the many-body model declares no range: "
                    "give it an attribute `cutoff` [length] (its per-particle energies depend only on "
                    "particles closer than that, and on totals taken with inputs.total(...); cutoff = 0 "
                    "for single-particle terms and totals), so that TensorFlowForce can make HOOMD keep "
                    "every particle it needs as a ghost. Or run on one rank"
                )
            return
        try:
            reach = float(reach)
        except (TypeError, ValueError) as err:
            raise ConfigurationError(f"the model's cutoff must be a number [length], got {reach!r}") from err
        if not reach >= 0 or reach == float("inf"):
            raise ConfigurationError(f"the model's cutoff must be finite and >= 0 [length], got {reach!r}")
        if reach > 0 and self._nlist is not None and reach > min(cutoffs.values()):
            pair, short = min(cutoffs.items(), key=lambda item: item[1])
            raise ConfigurationError(
                f"the model's energies reach {reach} (its cutoff) but r_cut{list(pair)} = {short}: the "
                f"model would miss neighbors. Give TensorFlowForce r_cut >= {reach} for every type pair"
            )
        if reach > 0 and self._nlist is None and ranks > 1:
            raise ConfigurationError(
                f"the many-body model's energies reach {reach} (its cutoff); under MPI it needs the "
                "ghosts a neighbor list brings: pass nlist=hoomd.md.nlist.Cell(buffer=0.4) and "
                f"r_cut={reach}"
            )

    def _check_model_types(self, types: list[str]) -> None:
        """Refuse a model made for other particle types (a trained potential's ``types``), naming both."""
        model_types = getattr(self._model, "types", None)
        if not isinstance(model_types, (list, tuple)) or not all(isinstance(t, str) for t in model_types):
            return
        if list(model_types) != types:
            raise ConfigurationError(
                f"the model was made for particle types {list(model_types)} (in this order) but the "
                f"simulation has {types}: type ids would mean other particles. Use a model for these "
                "types, or give the state its types in the model's order"
            )

    def _check_domains(self, simulation: Any, cutoffs: dict, comm: Any) -> None:
        """Refuse domains too thin for the ghost shell this force needs (HOOMD's rule: 2x).

        The thinnest domain of all ranks decides, so every rank refuses together.
        """
        if self._nlist is None or not cutoffs:
            return
        from mpi4py import MPI

        reach = max(cutoffs.values())  # HOOMD's ghost width: the list's largest r_cut + buffer
        ghost = reach + float(self._nlist.buffer)
        grid, local = _compat.domain_thickness(simulation)
        widths = [comm.allreduce(w, op=MPI.MIN) for w in local]
        for axis, n, width in zip("xyz", grid, widths, strict=True):
            if n > 1 and width <= 2 * ghost:
                raise ConfigurationError(
                    f"the domains are {width:.4g} thick along {axis} ({n} domains) but this force needs "
                    f"ghost particles out to {ghost:.4g} (r_cut {reach:.4g} + nlist buffer "
                    f"{float(self._nlist.buffer):.4g}), and HOOMD-blue needs domains more than twice "
                    f"that thick. Run on fewer ranks, pass domain_decomposition= with fewer domains "
                    f"along {axis} when creating the state, or use a shorter r_cut"
                )

    def _attach_hook(self) -> None:
        simulation = self._simulation
        ranks = _compat.num_ranks(simulation)
        gpu = _compat.is_gpu(simulation)
        comm = None
        if ranks > 1 and gpu:
            raise ConfigurationError(
                f"TensorFlowForce on hoomd.device.GPU does not support MPI domain decomposition (this "
                f"simulation runs on {ranks} ranks); on the CPU it does. Run GPU simulations on one rank "
                "(without mpirun, or hoomd.communicator.Communicator(ranks_per_partition=1) for "
                "independent replicas)"
            )
        types = list(simulation.state.particle_types)
        self._check_model_types(types)
        cutoffs = self._cutoffs(types)
        self._check_model_reach(cutoffs, ranks)
        if ranks > 1:
            try:
                comm = _compat.mpi_comm(simulation)
            except ImportError as err:
                raise ConfigurationError(
                    "TensorFlowForce under MPI needs mpi4py: pip install mpi4py (or hoomd-mlx[mpi])"
                ) from err
            self._check_domains(simulation, cutoffs, comm)
        self._comm = comm
        if gpu:
            from hoomd_mlx.plugin.gpu import GPUArrays

            arrays = GPUArrays()
        else:
            arrays = HostArrays()
        if self._nlist is not None:
            detach = _compat.attach_nlist(self._nlist, simulation)
            # On the CPU the storage is left as HOOMD chose it (half by default, as its pair forces
            # ask; full where a force sharing the list needs it): the kernels read either. On the
            # GPU, full storage, as HOOMD's own GPU pair forces ask.
            if gpu:
                _compat.set_nlist_storage(self._nlist, half=False)
            _compat.widen_nlist_cutoff(self._nlist, cutoffs, owner=id(self))
            self._release = _compat.releaser(self._nlist, id(self), detach)
        try:
            self._attach_engine(simulation, types, cutoffs, arrays, comm)
        except Exception:
            self._detach_hook_release()
            raise

    def _attach_engine(
        self, simulation: Any, types: list[str], cutoffs: dict, arrays: Any, comm: Any
    ) -> None:
        super()._attach_hook()
        self._engine = ForceEngine(
            self._model,
            kind=self._kind,
            dtype=self._dtype,
            jit_compile=self._jit_compile,
            type_names=types,
            cutoffs=cutoffs,
            arrays=arrays,
            decomposed=comm is not None,
            comm=comm,
            ghosts=self._nlist is not None,
        )
        self._engine.check_model(simulation.state.N_particles)

    def _detach_hook_release(self) -> None:
        # A closure made at attach: module globals may be gone when HOOMD detaches at exit.
        release, self._release = self._release, None
        if release is not None:
            release()

    def _detach_hook(self) -> None:
        self._detach_hook_release()
        self._engine = None
        super()._detach_hook()

    def set_forces(self, timestep: int) -> None:
        """Evaluate the model and write forces, energies and virials (HOOMD calls this)."""
        engine = self._engine
        if self._nlist is not None:
            engine.refresh_neighbors(self._nlist, self._simulation, timestep)
        engine.evaluate(self, timestep)

    # -- properties and loggables --------------------------------------------------------

    @property
    def kind(self) -> str:
        """str: The kind of model: ``"pair"``, ``"local"`` or ``"many-body"``."""
        return self._kind

    @property
    def model(self) -> Callable:
        """Callable: The energy model."""
        return self._model

    @property
    def nlist(self) -> Any:
        """hoomd.md.nlist.NeighborList: The neighbor list giving the pairs (or None)."""
        return self._nlist

    @property
    def dtype(self) -> tf.DType:
        """tf.DType: The dtype the model computes in."""
        return self._dtype

    @property
    def timings(self) -> dict[str, float]:
        """dict: Running totals since attach: steps, virial steps, and seconds [s].

        Keys ``steps``, ``virial_steps``, ``model_seconds`` (the model and its
        gradient), ``geometry_seconds`` and ``accumulate_seconds`` (the split step's
        kernels; 0 on the whole-step path), ``force_seconds`` (the whole evaluation:
        kernels, model, hand-off), ``nlist_seconds`` (HOOMD updating its neighbor list
        for this force) and ``neighbor_seconds`` (taking the neighbors of HOOMD's list
        again, after HOOMD rebuilt it). Differences of two readings time a stretch of a
        run (``benchmarks/bench_force.py``).
        """
        stats = self._engine.stats
        return {
            "steps": stats.steps,
            "virial_steps": stats.virial_steps,
            "model_seconds": stats.model_seconds,
            "geometry_seconds": stats.geometry_seconds,
            "accumulate_seconds": stats.accumulate_seconds,
            "force_seconds": stats.force_seconds,
            "neighbor_seconds": stats.neighbor_seconds,
            "nlist_seconds": stats.nlist_seconds,
        }

    @log(requires_run=True)
    def model_time(self) -> float:
        """float: Seconds per step spent in the model and its gradient, averaged over steps [s]."""
        stats = self._engine.stats
        return stats.model_seconds / max(stats.steps, 1)

    @log(category="string", requires_run=True)
    def input_path(self) -> str:
        """str: How particle data reached TensorFlow last step: ``"zero-copy"`` or ``"staged"``.

        On the split step (pair and local models on the CPU) the kernels read HOOMD's
        arrays in place and TensorFlow reads the kernels' buffers: ``"zero-copy"``.
        """
        return "zero-copy" if self._engine.split is not None else self._engine.arrays.input_path

    @log(requires_run=True)
    def pair_count(self) -> int:
        """int: Pairs in the current neighbor-list build (before the ``r_cut`` mask), whole system.

        Under MPI a pair across two domains is held by both ranks; it is counted once.
        Every rank must read it (it is a sum over ranks), as for HOOMD's ``energy``.
        """
        halves = self._engine.stats.pair_halves
        if self._comm is not None:
            from hoomd_mlx.ranks import Ranks

            halves = Ranks(self._comm).sum(halves)
        return round(halves / 2)

    @log(requires_run=True)
    def step_time(self) -> float:
        """float: Seconds per step spent in `set_forces`, model included, averaged over steps [s].

        ``step_time - model_time`` is the MD work around the model (geometry,
        accumulation, hand-off).
        """
        stats = self._engine.stats
        return stats.force_seconds / max(stats.steps, 1)

    @log(category="string", requires_run=True)
    def layout(self) -> str:
        """str: What the model sees: ``"pairs"``, ``"local"`` or ``"many-body"``.

        ``"pairs"``: each pair once; ``"local"``: each particle's neighbor table;
        ``"many-body"``: `ManyBodyInputs`.
        """
        return self._engine.layout

    @log(requires_run=True)
    def pair_builds(self) -> int:
        """int: Times the neighbors were taken again from a rebuilt HOOMD neighbor list."""
        return self._engine.stats.pair_builds
