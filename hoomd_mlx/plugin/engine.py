"""One force evaluation per HOOMD step: HOOMD buffers -> compiled step -> HOOMD buffers.

`ForceEngine` holds what persists between steps -- the compiled steps, the
neighbor table or pair list of the current neighbor-list build, the step's
arguments -- and nothing indexed by particle: HOOMD reorders particles when it
sorts them, and its neighbor list is rebuilt when it does, which is what
refreshes the neighbors here.

Where the data lives (HOOMD's host arrays and numpy, or its device arrays and
CuPy) is the business of an arrays object (`HostArrays` here, `GPUArrays` in
`hoomd_mlx.plugin.gpu`); the engine's steps are the same on both.
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
from hoomd_mlx.plugin.buffers import AlignedStaging, TensorBridge, full_rows
from hoomd_mlx.plugin.contract import (
    ManyBodyInputs,
    check_many_body_output,
    check_pair_output,
    check_pair_symmetry,
)
from hoomd_mlx.plugin.pairs import NeighborPairs, bucket_capacity
from hoomd_mlx.plugin.ranks import RankSum, TagTable, all_ranks, any_rank, send_ghost_rows_home
from hoomd_mlx.plugin.step import LAYOUTS, make_step
from hoomd_mlx.plugin.table import NeighborTable

__all__ = ["ForceEngine", "HostArrays", "StepStats"]

logger = logging.getLogger(__name__)

_TF_ERRORS = tf.errors.OpError


def _flat_call(concrete: Any) -> Callable:
    """Call a concrete function with tensors in signature order, skipping argument binding.

    Binding and checking eleven arguments on every call is a fixed cost that small
    systems feel; the arguments here always match the signature, so the flat entry
    point is used where this TensorFlow has it.
    """
    flat = getattr(concrete, "_call_flat", None)
    captured = getattr(concrete, "captured_inputs", None)
    if flat is None or captured is None:
        return concrete
    return lambda *args: flat(list(args), captured)


class StepStats:
    """Running figures of an engine, read by the force's loggables."""

    def __init__(self) -> None:
        self.steps = 0
        self.virial_steps = 0
        self.model_seconds = 0.0
        self.force_seconds = 0.0
        self.neighbor_seconds = 0.0
        self.nlist_seconds = 0.0
        self.pair_builds = 0
        self.pair_halves = 0
        self.widths: set[int] = set()


class HostArrays:
    """HOOMD's host arrays as numpy views, handed to TensorFlow on the CPU.

    Attributes:
        positions (TensorBridge): How positions reach TensorFlow (zero-copy or staged).
    """

    gpu = False
    xp: Any = np

    def __init__(self) -> None:
        self.positions = TensorBridge()
        self._charges = TensorBridge()
        self._padded = AlignedStaging()
        self._padded_charges = AlignedStaging()

    @property
    def input_path(self) -> str:
        """str: ``"zero-copy"`` or ``"staged"``: how positions reached TensorFlow last step."""
        return self.positions.last_path

    def view(self, hoomd_array: Any) -> Any:
        """The array module's view of a HOOMD local-access array (no copy)."""
        return _compat.host_array(hoomd_array)

    def records(self, view: Any) -> Any:
        """The (N, 4) Scalar4 records behind HOOMD's strided (N, 3) view (no copy)."""
        return full_rows(view, 4)

    def address(self, view: Any) -> int:
        """int: The address of a view's first element."""
        return view.ctypes.data

    def postype(self, position: Any) -> tf.Tensor:
        """(N, 4) tensor of the Scalar4 ``(x, y, z, type)`` records behind HOOMD's positions."""
        return self.positions(self.records(self.view(position)))

    def charges(self, charge: Any) -> tf.Tensor:
        """(N,) tensor of HOOMD's charges."""
        return self._charges(self.view(charge))

    def padded_postype(self, position_with_ghost: Any, rows: int) -> tf.Tensor:
        """(rows, 4) tensor: local and ghost records first, then padding (one staged copy)."""
        self.positions.last_path = "staged"
        return self._padded.stage_padded(self.records(self.view(position_with_ghost)), rows)

    def padded_charges(self, charges: np.ndarray, rows: int) -> tf.Tensor:
        """(rows,) tensor: local and ghost charges first, then padding (one staged copy)."""
        return self._padded_charges.stage_padded(charges, rows)

    def tensor(self, array: Any) -> tf.Tensor:
        """A tensor holding the int32 ``array`` (built once per neighbor-list build)."""
        return tf.constant(array)

    def write(self, target: Any, tensor: tf.Tensor, rows: int) -> None:
        """Copy the first ``rows`` rows of ``tensor`` into a HOOMD array view."""
        values = tensor.numpy() if isinstance(tensor, tf.Tensor) else tensor
        np.copyto(target[:rows], values[:rows])

    def host(self, array: Any) -> np.ndarray:
        """``array`` as a numpy array (for error messages)."""
        return np.asarray(array)

    def synchronize(self) -> None:
        """Wait for pending device work (nothing to wait for on the host)."""


class ForceEngine:
    r"""Evaluates a model on HOOMD's data each step and writes the results back.

    Args:
        model: A pair or many-body model (see `hoomd_mlx.plugin.contract`).
        many_body: Whether ``model`` is many-body.
        dtype: The model's compute dtype.
        jit_compile: ``True``, ``False`` or ``"auto"`` (XLA, falling back to plain
            graphs with a warning if XLA cannot compile the model).
        type_names: HOOMD's particle types, in type-id order.
        cutoffs: Cutoff radius per ordered type pair :math:`[\mathrm{length}]`.
        layout: ``"dense"``, ``"pairs"`` or ``"auto"`` (time both on the first
            step and keep the faster); pair models only.
        arrays: Where the data lives (`HostArrays`, or the GPU's).
        decomposed: Whether HOOMD decomposes the domain over MPI ranks: rows are
            then the rank's local particles and neighbors may be ghosts; both
            are padded to capacities that only grow, so the compiled step keeps its
            shapes while their numbers change. ``layout="auto"`` means
            ``"dense"`` then (no timing that could differ between ranks).
        comm: The mpi4py communicator of the ranks (with ``decomposed``). Many-body
            models then get `ManyBodyInputs.total` summed over ranks, ghost charges
            looked up by tag, and the forces and virials computed on ghosts are sent
            to the ranks that own them.
        ghosts: Whether the step sees HOOMD's ghost particles under MPI (with a
            neighbor list); a many-body model without one (single-particle terms
            and totals) sees the rank's own particles only.
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
        layout: str = "auto",
        arrays: Any = None,
        decomposed: bool = False,
        comm: Any = None,
        ghosts: bool = True,
    ) -> None:
        self.model = model
        self.many_body = many_body
        self.dtype = dtype
        self.stats = StepStats()
        self.arrays = arrays if arrays is not None else HostArrays()
        self._jit = jit_compile
        self._steps: dict[tuple[str, bool], Any] = {}
        self.layout = "many-body" if many_body else layout
        self.decomposed = decomposed
        self.comm = comm
        self._rank_sum = RankSum(comm) if decomposed and many_body else None
        self._exchange = decomposed and many_body and ghosts
        self.ghosts = ghosts
        self._ghost_charges = TagTable()
        self._n_local: tuple[int, tf.Tensor | None] = (-1, None)
        if decomposed and self.layout == "auto":
            self.layout = "dense"
        self._row_capacity = 0
        self._particle_capacity = 0
        self._last_timestep = -1
        n_types = len(type_names)
        table = np.zeros((n_types, n_types))
        for (a, b), r_cut in cutoffs.items():
            ia, ib = type_names.index(a), type_names.index(b)
            table[ia, ib] = table[ib, ia] = r_cut
        self._r_max = float(table.max()) if n_types else 0.0
        self._cutoff_table = table if n_types and table.min() > 0 else np.ones((max(n_types, 1),) * 2)
        self._n_types = n_types
        self._constants = (
            tf.constant((table**2).ravel(), tf.float64),
            tf.constant(n_types, tf.int32),
            tf.constant(self._r_max, tf.float64),
        )
        self._pairs = NeighborPairs.empty()
        self._table = NeighborTable.empty()
        self._neighbor_args = self._tensors_of(self._pairs, self._table)
        self._nlist_key: tuple | None = None
        self._box: tuple[tuple, tf.Tensor] | None = None
        self._no_charges = tf.zeros([0], tf.float64)
        self._layout_checked = False

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
            check_pair_symmetry(self.model, dtype, self._cutoff_table)
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
            neighbors=tf.zeros([n, 1], tf.int32),
            neighbor_mask=tf.zeros([n, 1], tf.bool),
            r_neighbors=tf.zeros([n, 1, 3], dtype) + tf.constant([1.0, 0.0, 0.0], dtype),
            n_local=tf.constant(n, tf.int32),
        )
        try:
            out = self.model(inputs)
        except Exception as err:
            raise ModelOutputError(f"calling the many-body model on ManyBodyInputs failed: {err}") from err
        check_many_body_output(out, n, dtype)

    # -- neighbors ----------------------------------------------------------------------

    def _needs(self) -> tuple[bool, bool]:
        """(pairs, table): which neighbor structures the steps in use read."""
        if self.layout in ("many-body", "auto"):
            return True, True
        return self.layout == "pairs", self.layout == "dense"

    def _tensors_of(self, pairs: NeighborPairs, table: NeighborTable) -> tuple[tf.Tensor, ...]:
        tensor = self.arrays.tensor
        self.arrays.synchronize()  # the arrays may have been built on another stream
        return (
            tensor(pairs.i),
            tensor(pairs.j),
            tf.constant(pairs.count, tf.int32),
            tensor(table.neighbors),
            tensor(table.counts),
        )

    def refresh_neighbors(self, nlist: Any, simulation: Any, timestep: int) -> None:
        """Rebuild the neighbor table (or pairs) if HOOMD rebuilt its neighbor list."""
        started = time.perf_counter()
        _compat.update_nlist(nlist, timestep)
        self.stats.nlist_seconds += time.perf_counter() - started
        key = (
            _compat.nlist_build_count(nlist),
            _compat.run_identity(simulation),
            _compat.local_count(simulation),
        )
        # A timestep that does not advance (run(0) again, after set_snapshot say) may follow
        # changed particles with HOOMD's build count reset to the same value: rebuild then.
        if timestep <= self._last_timestep:
            self._nlist_key = None
        self._last_timestep = timestep
        stale = key != self._nlist_key
        if self._exchange:  # the ghost-charge gather below is collective
            stale = any_rank(self.comm, stale)
        if not stale:
            return
        started = time.perf_counter()
        want_pairs, want_table = self._needs()
        view, xp = self.arrays.view, self.arrays.xp
        with _compat.nlist_arrays(nlist, simulation, gpu=self.arrays.gpu) as arrays:
            head, counts, flat = view(arrays.head_list), view(arrays.n_neigh), view(arrays.nlist)
            half = arrays.half_nlist
            if want_pairs:
                self._pairs = NeighborPairs.from_hoomd(
                    head, counts, flat, half=half, capacity=self._pairs.capacity, xp=xp
                )
            if want_table:
                self._table = NeighborTable.from_hoomd(
                    head, counts, flat, half=half, width=self._table.width, xp=xp
                )
                if self.decomposed:
                    self._row_capacity = max(self._row_capacity, bucket_capacity(self._table.rows))
                    self._table = self._table.padded_rows(self._row_capacity, xp=xp)
            self._neighbor_args = self._tensors_of(self._pairs, self._table)
        if self._exchange:
            with _compat.particle_arrays(simulation.state) as particles:
                self._ghost_charges.gather(
                    self.comm, view(particles.tag), view(particles.charge), _compat.tag_count(simulation)
                )
        self._nlist_key = key
        stats = self.stats
        stats.neighbor_seconds += time.perf_counter() - started
        stats.pair_builds += 1
        stats.pair_halves = self._pair_halves(want_pairs, _compat.local_count(simulation))
        if want_table and self._table.width not in stats.widths:
            stats.widths.add(self._table.width)
            logger.info("neighbor table width %d (%d entries)", self._table.width, self._table.entries)

    def _pair_halves(self, from_pairs: bool, n_local: int) -> int:
        """int: Twice the pairs this rank holds, a pair shared with another rank counted once.

        Summed over ranks and halved, this is the system's pair count: a pair across
        two domains is held by both ranks.
        """
        if not from_pairs:
            return int(self._table.entries)  # local pairs twice, pairs with a ghost once
        count = self._pairs.count
        with_ghost = int((self._pairs.j[:count] >= n_local).sum()) if self.decomposed else 0
        return 2 * count - with_ghost

    # -- per step ---------------------------------------------------------------------

    def _compiled(self, layout: str, virial: bool, jit: bool) -> Callable:
        step = make_step(
            self.model,
            many_body=self.many_body,
            dtype=self.dtype,
            jit_compile=jit,
            virial=virial,
            layout=layout,
            rank_sum=self._rank_sum,
        )
        return _flat_call(step.get_concrete_function())

    def _call(self, layout: str, virial: bool, args: tuple) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Run the step, compiling it on first use; XLA falls back only where it cannot compile."""
        key = (layout, virial)
        step = self._steps.get(key)
        if step is not None:
            return step(*args)
        step = self._compiled(layout, virial, bool(self._jit))
        try:
            out = step(*args)
        except _TF_ERRORS as err:
            if self._jit != "auto":
                hint = ""
                if self._rank_sum is not None and self._rank_sum.traced:
                    hint = (
                        " (the model sums over MPI ranks with inputs.total, which XLA cannot compile: "
                        "use jit_compile='auto' or False)"
                    )
                raise ModelOutputError(
                    f"the model failed in the compiled force step{hint}: {err.message}"
                ) from err
            plain = self._compiled(layout, virial, False)
            try:
                out = plain(*args)
            except _TF_ERRORS as plain_err:
                raise ModelOutputError(
                    f"the model failed in the force step: {plain_err.message}"
                ) from plain_err
            if self._rank_sum is not None and self._rank_sum.traced:
                logger.info("the step sums over MPI ranks (inputs.total), outside XLA: plain graph")
            else:
                logger.warning("XLA cannot compile this model (%s); running it without XLA", err.message)
            self._jit = False
            self._steps.clear()
            step = plain
        self._steps[key] = step
        return out

    def _choose_layout(self, virial: bool, args_of: Callable[[], tuple]) -> None:
        """Time both layouts on this step's data and keep the faster (``layout="auto"``)."""
        seconds = {}
        for layout in LAYOUTS:
            args = args_of()
            for _ in range(2):  # compile, then warm
                bool(self._call(layout, virial, args)[2])
            times = []
            for _ in range(3):
                start = time.perf_counter()
                bool(self._call(layout, virial, args)[2])
                times.append(time.perf_counter() - start)
            seconds[layout] = float(np.median(times))
        self.layout = min(seconds, key=seconds.get)
        logger.info(
            "layout %s (per step: %s)",
            self.layout,
            ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in seconds.items()),
        )
        self._steps = {k: v for k, v in self._steps.items() if k[0] == self.layout}
        if self.layout == "dense":
            self._pairs = NeighborPairs.empty()
        else:
            self._table = NeighborTable.empty()
        self._neighbor_args = self._tensors_of(self._pairs, self._table)

    def _box_tensor(self, box: Any) -> tf.Tensor:
        values = (box.Lx, box.Ly, box.Lz, box.xy, box.xz, box.yz)
        if self._box is None or self._box[0] != values:
            self._box = (values, tf.constant(values, tf.float64))
        return self._box[1]

    def evaluate(self, force: Any, timestep: int) -> None:
        """Compute forces, energies (and virials when HOOMD wants them) and write them."""
        started = time.perf_counter()
        arrays = self.arrays
        state = force._state
        with (
            _compat.force_arrays(force, gpu=arrays.gpu) as out,
            _compat.particle_arrays(state, gpu=arrays.gpu) as particles,
        ):
            virial_view = arrays.view(out.virial)
            want_virial = _compat.virial_requested(virial_view)
            if self._exchange:  # every rank sends the same columns of its ghost rows
                want_virial = any_rank(self.comm, want_virial)
            box = self._box_tensor(state.box)
            n_local = virial_view.shape[0]
            if self.decomposed:
                seen = particles.position_with_ghost if self.ghosts else particles.position
                self._particle_capacity = max(
                    self._particle_capacity, self._row_capacity, bucket_capacity(seen.shape[0])
                )

                def postype() -> tf.Tensor:
                    return arrays.padded_postype(seen, self._particle_capacity)
            else:

                def postype() -> tf.Tensor:
                    return arrays.postype(particles.position)

            charges = self._charges(particles, n_local) if self.many_body else self._no_charges
            if self._n_local[0] != n_local:  # changes only when particles migrate (MPI)
                self._n_local = (n_local, tf.constant(n_local, tf.int32))
            counts = (self._n_local[1],)

            def args_of() -> tuple:
                return (postype(), box, charges, *self._neighbor_args, *self._constants, *counts)

            arrays.synchronize()
            if self.layout == "auto":
                self._choose_layout(want_virial, args_of)
            layout = "dense" if self.many_body else self.layout
            args = args_of()
            start = time.perf_counter()
            force_energy, virial, finite = self._call(layout, want_virial, args)
            ok = bool(finite)
            elapsed = time.perf_counter() - start
            del args  # views of HOOMD memory must not outlive the block
            if self.decomposed:  # stop every rank, not one while the others wait for it
                ok = all_ranks(self.comm, ok)
            if not ok:
                tags = particles.tag_with_ghost if self.decomposed and self.ghosts else particles.tag
                self._raise_non_finite(
                    arrays.host(force_energy),
                    arrays.host(virial),
                    arrays.host(arrays.view(tags)),
                    timestep,
                    n_local,
                )
            if self._exchange:
                force_energy, virial = self._send_ghost_results_home(
                    force_energy, virial, want_virial, particles, n_local
                )
            arrays.write(self._force_records(out), force_energy, n_local)
            if want_virial:
                arrays.write(virial_view, virial, n_local)
            else:
                _compat.mark_virial_unused(virial_view)
            arrays.synchronize()
        stats = self.stats
        stats.steps += 1
        stats.virial_steps += int(want_virial)
        stats.model_seconds += elapsed
        stats.force_seconds += time.perf_counter() - started

    def _charges(self, particles: Any, n_local: int) -> tf.Tensor:
        """Charges of the rows the step sees: ghosts' from the tag table under MPI."""
        if not self.decomposed:
            return self.arrays.charges(particles.charge)
        view = self.arrays.view
        values = view(particles.charge)
        if self.ghosts:
            ghost_tags = view(particles.tag_with_ghost)[n_local:]
            values = np.concatenate([values, self._ghost_charges[ghost_tags]])
        return self.arrays.padded_charges(values, self._particle_capacity)

    def _send_ghost_results_home(
        self, force_energy: tf.Tensor, virial: tf.Tensor, want_virial: bool, particles: Any, n_local: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Add the forces (and virials) computed on ghosts to the ranks owning them (collective)."""
        view = self.arrays.view
        ghost_tags = view(particles.tag_with_ghost)[n_local:]
        fe = force_energy.numpy()
        rows = np.concatenate([fe[:, :3], virial.numpy()], axis=1) if want_virial else fe[:, :3].copy()
        send_ghost_rows_home(self.comm, rows, n_local, ghost_tags, view(particles.rtag))
        fe[:, :3] = rows[:, :3]
        return fe, (rows[:, 3:] if want_virial else virial)

    def _force_records(self, out: Any) -> Any:
        """HOOMD's (N, 4) ``(fx, fy, fz, energy)`` records, checked once to be laid out so."""
        arrays = self.arrays
        force_view = arrays.view(out.force)
        if not self._layout_checked:
            offset = arrays.address(arrays.view(out.potential_energy)) - arrays.address(force_view)
            if offset != 3 * force_view.itemsize:
                raise RuntimeError(f"unexpected HOOMD force layout (energy at byte offset {offset})")
            self._layout_checked = True
        return arrays.records(force_view)

    @staticmethod
    def _raise_non_finite(
        force_energy: np.ndarray, virial: np.ndarray, tags: np.ndarray, timestep: int, n_local: int
    ) -> None:
        rows = min(force_energy.shape[0], tags.shape[0])
        bad_rows = ~np.isfinite(force_energy[:rows]).all(axis=1)
        if virial.shape[0]:
            w = min(rows, virial.shape[0])
            bad_rows[:w] |= ~np.isfinite(virial[:w]).all(axis=1)
        bad = np.flatnonzero(bad_rows)
        if bad.size == 0:
            where = "on another MPI rank (its message names the particle)"
        elif bad[0] < n_local:
            where = f"on particle tag {int(tags[bad[0]])} ({bad.size} particles affected)"
        else:
            where = f"on ghost particle tag {int(tags[bad[0]])}, computed here for the rank that owns it"
        raise NonFiniteForceError(
            f"the model produced NaN or infinite energies or forces at timestep {timestep} {where}. "
            "Check the model near this configuration (overlapping particles, r -> 0 singularities, "
            "exploding weights)."
        )
