"""One force evaluation per HOOMD step: HOOMD buffers -> compiled step -> HOOMD buffers.

`ForceEngine` holds what persists between steps -- the compiled step, the pair
indices of the current neighbor-list build, the staging buffers -- and nothing
indexed by particle: HOOMD reorders particles when it sorts them, and its
neighbor list is rebuilt when it does, which is what refreshes the pairs here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import ModelOutputError, NonFiniteForceError
from hoomd_mlx.plugin import _compat
from hoomd_mlx.plugin.buffers import TensorBridge, full_rows
from hoomd_mlx.plugin.contract import ManyBodyInputs, check_many_body_output, check_pair_output
from hoomd_mlx.plugin.pairs import NeighborPairs
from hoomd_mlx.plugin.step import make_step

__all__ = ["ForceEngine", "StepStats"]

logger = logging.getLogger(__name__)

_XLA_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError)


class StepStats:
    """Running figures of an engine, read by the force's loggables."""

    def __init__(self) -> None:
        self.steps = 0
        self.virial_steps = 0
        self.model_seconds = 0.0
        self.pair_builds = 0
        self.pair_count = 0
        self.capacities: set[int] = set()


class ForceEngine:
    r"""Evaluates a model on HOOMD's data each step and writes the results back.

    Args:
        model: A pair or many-body model (see `hoomd_mlx.plugin.contract`).
        many_body: Whether ``model`` is many-body.
        dtype: The model's compute dtype.
        jit_compile: ``True``, ``False`` or ``"auto"`` (XLA, falling back to plain
            graphs with a warning if the model cannot be compiled).
        type_names: HOOMD's particle types, in type-id order.
        cutoffs: Cutoff radius per ordered type pair :math:`[\mathrm{length}]`.
    """

    def __init__(
        self,
        model: Callable,
        *,
        many_body: bool,
        dtype: tf.DType,
        jit_compile: bool | str,
        type_names: list[str],
        cutoffs: dict[tuple[str, str], float],
    ) -> None:
        self.model = model
        self.many_body = many_body
        self.dtype = dtype
        self.stats = StepStats()
        self._jit = jit_compile
        self._steps: dict[bool, Any] = {}
        n_types = len(type_names)
        table = np.zeros((n_types, n_types))
        for (a, b), r_cut in cutoffs.items():
            ia, ib = type_names.index(a), type_names.index(b)
            table[ia, ib] = table[ib, ia] = r_cut
        self._rcut2 = tf.constant((table**2).ravel(), tf.float64)
        self._n_types = tf.constant(n_types, tf.int32)
        self._r_fill = tf.constant(float(table.max()) if n_types else 0.0, tf.float64)
        self._pairs = NeighborPairs.empty()
        self._pairs_tensors = ForceEngine._tensors(self, self._pairs)  # host arrays, on any device
        self._pairs_key: tuple | None = None
        self._positions = TensorBridge()
        self._charges = TensorBridge()
        self._no_charges = tf.zeros([0], tf.float64)
        self._force_layout_checked = False

    # -- attach-time checks -------------------------------------------------------------

    def check_model(self, n_particles: int) -> None:
        """Call the model once on a tiny input and check the contract, at attach."""
        dtype = self.dtype
        if not self.many_body:
            r = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.1, 0.2]], dtype)
            t = tf.zeros([2], tf.int32)
            try:
                out = self.model(r, t, t)
            except Exception as err:
                raise ModelOutputError(
                    f"calling the pair model as model(r_ij (2, 3) {dtype.name}, type_i (2,) int32, "
                    f"type_j (2,) int32) failed: {err}"
                ) from err
            check_pair_output(out, 2, dtype)
            return
        n = n_particles
        inputs = ManyBodyInputs(
            positions=tf.zeros([n, 3], dtype),
            types=tf.zeros([n], tf.int32),
            box=tf.constant([10.0, 10.0, 10.0, 0.0, 0.0, 0.0], dtype),
            charges=tf.zeros([n], dtype),
            pair_i=tf.zeros([1], tf.int32),
            pair_j=tf.zeros([1], tf.int32),
            r_ij=tf.constant([[1.0, 0.0, 0.0]], dtype),
            pair_mask=tf.constant([False]),
        )
        try:
            out = self.model(inputs)
        except Exception as err:
            raise ModelOutputError(f"calling the many-body model on ManyBodyInputs failed: {err}") from err
        check_many_body_output(out, n, dtype)

    # -- per step ---------------------------------------------------------------------

    # Where the arrays live; the GPU engine overrides these four.
    _gpu = False
    _xp: Any = np

    def _array(self, hoomd_array: Any) -> Any:
        return _compat.host_array(hoomd_array)

    def _tensors(self, pairs: NeighborPairs) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return tf.constant(pairs.i), tf.constant(pairs.j), tf.constant(pairs.count, tf.int32)

    def refresh_pairs(self, nlist: Any, simulation: Any, timestep: int) -> None:
        """Rebuild pair indices if HOOMD rebuilt its neighbor list since the last step."""
        with _compat.local_nlist_arrays(nlist, simulation, timestep, gpu=self._gpu) as arrays:
            key = (
                _compat.nlist_build_count(nlist),
                _compat.run_identity(simulation),
                arrays.n_neigh.shape[0],
            )
            if key == self._pairs_key:
                return
            self._pairs = NeighborPairs.from_hoomd(
                self._array(arrays.head_list),
                self._array(arrays.n_neigh),
                self._array(arrays.nlist),
                half=arrays.half_nlist,
                capacity=self._pairs.capacity,
                xp=self._xp,
            )
            self._pairs_tensors = self._tensors(self._pairs)
        self._pairs_key = key
        stats = self.stats
        stats.pair_builds += 1
        stats.pair_count = self._pairs.count
        if self._pairs.capacity not in stats.capacities:
            stats.capacities.add(self._pairs.capacity)
            logger.info("pair capacity %d (%d pairs)", self._pairs.capacity, self._pairs.count)

    def _count_step(self, elapsed: float, virial: bool) -> None:
        stats = self.stats
        stats.steps += 1
        stats.virial_steps += int(virial)
        stats.model_seconds += elapsed

    def _step(self, virial: bool) -> Any:
        step = self._steps.get(virial)
        if step is None:
            step = make_step(
                self.model,
                many_body=self.many_body,
                dtype=self.dtype,
                jit_compile=bool(self._jit),
                virial=virial,
            ).get_concrete_function()  # skips tf.function's per-call argument binding (~0.5 ms)
            self._steps[virial] = step
        return step

    def _run_step(
        self, virial: bool, postype: tf.Tensor, box: Any, charges: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Run the compiled step on this step's particles with the current pairs."""
        box_t = tf.constant([box.Lx, box.Ly, box.Lz, box.xy, box.xz, box.yz], tf.float64)
        pair_i, pair_j, n_pairs = self._pairs_tensors
        args = (postype, box_t, charges, pair_i, pair_j, n_pairs, self._rcut2, self._n_types, self._r_fill)
        try:
            return self._step(virial)(*args)
        except _XLA_ERRORS as err:
            if self._jit != "auto":
                raise
            logger.warning("XLA cannot compile this model (%s); running it without XLA", err)
            self._jit = False
            self._steps.clear()
            return self._step(virial)(*args)

    def evaluate(self, force: Any, timestep: int) -> None:
        """Compute forces, energies (and virials when HOOMD wants them) and write them."""
        state = force._state
        with force.cpu_local_force_arrays as arrays, state.cpu_local_snapshot as snap:
            virial_view = _compat.host_array(arrays.virial)
            want_virial = _compat.virial_requested(virial_view)
            particles = snap.particles
            postype_t = self._positions(full_rows(_compat.host_array(particles.position), 4))
            charges_t = self._no_charges
            if self.many_body:
                charges_t = self._charges(_compat.host_array(particles.charge))
            start = time.perf_counter()
            force_energy, virial, finite = self._run_step(want_virial, postype_t, state.box, charges_t)
            force_energy = force_energy.numpy()
            virial = virial.numpy()
            elapsed = time.perf_counter() - start
            del postype_t, charges_t  # views of HOOMD memory must not outlive the block
            if not bool(finite):
                self._raise_non_finite(force_energy, virial, _compat.host_array(particles.tag), timestep)
            self._write(arrays, force_energy, virial if want_virial else None)
            if not want_virial:
                _compat.mark_virial_unused(virial_view)
        self._count_step(elapsed, want_virial)

    @staticmethod
    def _raise_non_finite(
        force_energy: np.ndarray, virial: np.ndarray, tags: np.ndarray, timestep: int
    ) -> None:
        bad_rows = ~np.isfinite(force_energy).all(axis=1)
        if virial.shape[0]:
            bad_rows |= ~np.isfinite(virial).all(axis=1)
        bad = np.flatnonzero(bad_rows)
        raise NonFiniteForceError(
            f"the model produced NaN or infinite energies or forces at timestep {timestep} "
            f"on particle tag {int(tags[bad[0]])} ({bad.size} particles affected). Check the model near "
            "this configuration (overlapping particles, r -> 0 singularities, exploding weights)."
        )

    def _write(self, arrays: Any, force_energy: np.ndarray, virial: np.ndarray | None) -> None:
        force_view = _compat.host_array(arrays.force)
        if not self._force_layout_checked:
            energy_view = _compat.host_array(arrays.potential_energy)
            offset = energy_view.ctypes.data - force_view.ctypes.data
            if offset != 3 * force_view.itemsize:
                raise RuntimeError(f"unexpected HOOMD force layout (energy at byte offset {offset})")
            self._force_layout_checked = True
        np.copyto(full_rows(force_view, 4), force_energy)
        if virial is not None:
            np.copyto(_compat.host_array(arrays.virial), virial)
