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
from hoomd_mlx.plugin.engine import ForceEngine

hoomd = _compat.import_hoomd()
from hoomd.logging import log  # noqa: E402  (HOOMD is imported through _compat first)

__all__ = ["TensorFlowForce"]

logger = logging.getLogger(__name__)

CutoffSpec = float | Mapping[tuple[str, str], float]


def _model_dtype(model: Callable, dtype: str | tf.DType | None) -> tf.DType:
    if dtype is not None:
        return tf.as_dtype(dtype)
    for attr in ("compute_dtype", "dtype"):
        value = getattr(model, attr, None)
        if value is not None:
            try:
                found = tf.as_dtype(value if not hasattr(value, "name") else value.name)
            except TypeError:
                continue
            if found.is_floating:
                return found
    return tf.float64


class TensorFlowForce(hoomd.md.force.Custom):
    r"""A force from a TensorFlow energy model, with forces by automatic differentiation.

    Args:
        model: A `hoomd_mlx.plugin.contract.PairModel` (default) or, with
            ``many_body=True``, a `hoomd_mlx.plugin.contract.ManyBodyModel`: a Python
            function of TF ops, a `tf.Module` or a Keras model.
        nlist: HOOMD neighbor list giving the pairs. Required for pair models.
        r_cut: Cutoff :math:`[\mathrm{length}]`: one number, or a mapping from type
            pairs ``("A", "B")`` to cutoffs (every pair of types must be listed).
        many_body: Whether ``model`` is a many-body model.
        dtype: Dtype the model computes in (``"float64"`` or ``"float32"``). Default:
            the model's ``compute_dtype`` (Keras) or ``dtype`` attribute, else float64.
        jit_compile: Compile the step with XLA: ``True``, ``False`` or ``"auto"``
            (try XLA, fall back to a plain graph with a warning).

    Example::

        lj = hoomd_mlx.coupling.LennardJones({("A", "A"): dict(epsilon=1, sigma=1)}, ["A"])
        force = hoomd_mlx.TensorFlowForce(lj, nlist=hoomd.md.nlist.Cell(buffer=0.4), r_cut=2.5)
        integrator.forces.append(force)

    Particle positions reach TensorFlow without a copy when HOOMD's buffer is 64-byte
    aligned and through one persistent aligned staging buffer otherwise (see
    `input_path`). Pairs are rebuilt only when HOOMD rebuilds its neighbor list.
    Forces with energies, and virials, are written back with one copy each.
    """

    def __init__(
        self,
        model: Callable,
        nlist: Any = None,
        r_cut: CutoffSpec | None = None,
        *,
        many_body: bool = False,
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
        if not many_body and nlist is None:
            raise ConfigurationError(
                "a pair model needs a neighbor list: pass nlist=hoomd.md.nlist.Cell(buffer=0.4) "
                "(or many_body=True for a model that needs no pairs)"
            )
        if nlist is not None and r_cut is None:
            raise ConfigurationError("r_cut is required with a neighbor list, e.g. r_cut=2.5")
        if jit_compile not in (True, False, "auto"):
            raise ConfigurationError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
        self._model = model
        self._nlist = nlist
        self._r_cut = r_cut
        self._many_body = bool(many_body)
        self._dtype = _model_dtype(model, dtype)
        if not self._dtype.is_floating:
            raise ConfigurationError(f"dtype must be a floating-point dtype, got {self._dtype.name}")
        self._jit_compile = jit_compile
        self._engine: ForceEngine | None = None
        self._release: Callable[[], None] | None = None

    # -- HOOMD hooks ----------------------------------------------------------------------

    def _cutoffs(self, types: list[str]) -> dict[tuple[str, str], float]:
        if self._r_cut is None:
            return {}
        if isinstance(self._r_cut, Mapping):
            cutoffs = {}
            for a in types:
                for b in types:
                    value = self._r_cut.get((a, b), self._r_cut.get((b, a)))
                    if value is None:
                        raise ConfigurationError(
                            f"r_cut has no entry for type pair ({a!r}, {b!r}); give every pair of "
                            f"{types} or a single number"
                        )
                    cutoffs[(a, b)] = float(value)
            return cutoffs
        return {(a, b): float(self._r_cut) for a in types for b in types}

    def _attach_hook(self) -> None:
        simulation = self._simulation
        gpu = _compat.is_gpu(simulation)
        engine_class = ForceEngine
        if gpu:
            from hoomd_mlx.plugin.gpu import GPUForceEngine

            engine_class = GPUForceEngine
        types = list(simulation.state.particle_types)
        cutoffs = self._cutoffs(types)
        if self._nlist is not None:
            self._release = _compat.attach_nlist(self._nlist, simulation)
            # The storage HOOMD's own pair forces use on this device, so a shared list stays valid.
            _compat.set_nlist_storage(self._nlist, half=not gpu)
            _compat.widen_nlist_cutoff(self._nlist, cutoffs)
        super()._attach_hook()
        self._engine = engine_class(
            self._model,
            many_body=self._many_body,
            dtype=self._dtype,
            jit_compile=self._jit_compile,
            type_names=types,
            cutoffs=cutoffs,
        )
        self._engine.check_model(simulation.state.N_particles)

    def _detach_hook(self) -> None:
        # A closure made at attach: module globals may be gone when HOOMD detaches at exit.
        release, self._release = self._release, None
        if release is not None:
            release()
        self._engine = None
        super()._detach_hook()

    def set_forces(self, timestep: int) -> None:
        """Evaluate the model and write forces, energies and virials (HOOMD calls this)."""
        engine = self._engine
        if self._nlist is not None:
            engine.refresh_pairs(self._nlist, self._simulation, timestep)
        engine.evaluate(self, timestep)

    # -- properties and loggables --------------------------------------------------------

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

    @log(requires_run=True)
    def model_time(self) -> float:
        """float: Seconds per step spent in the compiled model step, averaged over steps [s]."""
        stats = self._engine.stats
        return stats.model_seconds / max(stats.steps, 1)

    @log(category="string", requires_run=True)
    def input_path(self) -> str:
        """str: How particle data reached TensorFlow last step: ``"zero-copy"`` or ``"staged"``."""
        return self._engine._positions.last_path

    @log(requires_run=True)
    def pair_count(self) -> int:
        """int: Pairs in the current neighbor-list build (before the ``r_cut`` mask)."""
        return self._engine.stats.pair_count

    @log(requires_run=True)
    def pair_builds(self) -> int:
        """int: Times the pair list was rebuilt from HOOMD's neighbor list."""
        return self._engine.stats.pair_builds
