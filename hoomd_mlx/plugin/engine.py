"""One force evaluation per HOOMD step: HOOMD's arrays -> model -> HOOMD's arrays.

`ForceEngine` holds what persists between steps -- the compiled steps, the
neighbors of the current neighbor-list build -- and nothing indexed by particle:
HOOMD reorders particles when it sorts them, and its neighbor list is rebuilt
when it does, which is what refreshes the neighbors here.

Two paths:

* **split** (pair and local models on the CPU, `hoomd_mlx.plugin.split`):
  compiled kernels do the MD work around the model -- pair geometry in,
  forces, energies and virials straight into HOOMD's arrays;
* **whole step in TensorFlow** (`hoomd_mlx.plugin.step.make_step`): many-body
  models that read absolute positions or take totals over the system
  (`ManyBodyInputs`), and every model on the GPU, where XLA's gathers and
  scatters are fast.

Where the data lives for the second path (HOOMD's host arrays and numpy, or its
device arrays and CuPy) is the business of an arrays object (`HostArrays` here,
`GPUArrays` in `hoomd_mlx.plugin.gpu`).
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
    KINDS,
    ManyBodyInputs,
    check_local_output,
    check_many_body_output,
    check_pair_output,
    check_pair_symmetry,
    local_as_many_body,
)
from hoomd_mlx.plugin.kernels import TYPE_COLUMN, box_array
from hoomd_mlx.plugin.pairs import NeighborPairs, bucket_capacity
from hoomd_mlx.plugin.ranks import RankSum, TagTable, send_ghost_rows_home
from hoomd_mlx.plugin.split import LocalSplit, PairSplit
from hoomd_mlx.plugin.step import CompiledStep, make_step
from hoomd_mlx.plugin.table import NeighborTable
from hoomd_mlx.ranks import Ranks

__all__ = ["ForceEngine", "HostArrays", "StepStats"]

logger = logging.getLogger(__name__)


class StepStats:
    """Running figures of an engine, read by the force's loggables."""

    def __init__(self) -> None:
        self.steps = 0
        self.virial_steps = 0
        self.model_seconds = 0.0
        self.geometry_seconds = 0.0
        self.accumulate_seconds = 0.0
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
        model: A pair, local or many-body model (see `hoomd_mlx.plugin.contract`).
        kind: ``"pair"``, ``"local"`` or ``"many-body"`` (`KINDS`).
        dtype: The model's compute dtype.
        jit_compile: ``True``, ``False`` or ``"auto"`` (XLA, falling back to plain
            graphs with a warning if XLA cannot compile the model).
        type_names: HOOMD's particle types, in type-id order.
        cutoffs: Cutoff radius per ordered type pair :math:`[\mathrm{length}]`.
        arrays: Where the data lives (`HostArrays`, or the GPU's). Pair and local
            models take the split path on the host, the whole step in TensorFlow
            on the GPU.
        decomposed: Whether HOOMD decomposes the domain over MPI ranks: rows are
            then the rank's local particles and neighbors may be ghosts.
        comm: The mpi4py communicator of the ranks (with ``decomposed``): forces a
            local or many-body model gives ghosts are sent to the ranks that own
            them, `ManyBodyInputs.total` sums over ranks and ghost charges are
            looked up by tag.
        ghosts: Whether the step sees HOOMD's ghost particles under MPI (with a
            neighbor list); a many-body model without one (single-particle terms
            and totals) sees the rank's own particles only.
    """

    def __init__(
        self,
        model: Callable,
        *,
        kind: str,
        dtype: tf.DType,
        jit_compile: bool | str,
        type_names: list[str],
        cutoffs: dict[tuple[str, str], float],
        arrays: Any = None,
        decomposed: bool = False,
        comm: Any = None,
        ghosts: bool = True,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.model = model
        self.kind = kind
        self.dtype = dtype
        self.stats = StepStats()
        self.arrays = arrays if arrays is not None else HostArrays()
        self.decomposed = decomposed
        self.comm = comm
        self.ranks = Ranks(comm)  # the per-step flags every rank agrees on
        self.ghosts = ghosts
        n_types = len(type_names)
        table = np.zeros((n_types, n_types))
        for (a, b), r_cut in cutoffs.items():
            ia, ib = type_names.index(a), type_names.index(b)
            table[ia, ib] = table[ib, ia] = r_cut
        self._r_max = float(table.max()) if n_types else 0.0
        self._cutoff_table = table if n_types and table.min() > 0 else np.ones((max(n_types, 1),) * 2)
        self.split: PairSplit | LocalSplit | None = None
        if kind != "many-body" and not self.arrays.gpu:
            make = PairSplit if kind == "pair" else LocalSplit
            extra = {} if kind == "pair" else {"fixed_rows": not decomposed}
            self.split = make(model, dtype, jit_compile, table**2, self._r_max, **extra)
        self._general = _General(self, jit_compile, table, n_types) if self.split is None else None
        self._nlist_key: tuple | None = None
        self._last_timestep = -1
        self._box: tuple[tuple, Any] | None = None
        self._layout_checked = False

    @property
    def layout(self) -> str:
        """str: The path the model runs on: ``"pairs"``, ``"local"`` (split, CPU) or ``"many-body"``."""
        return {"pair": "pairs", "local": "local"}.get(self.kind, "many-body")

    @property
    def table_width(self) -> int:
        """int: The padded width of the neighbor table a local model sees (0 for other kinds)."""
        return self.split.width if isinstance(self.split, LocalSplit) else 0

    # -- attach-time checks -------------------------------------------------------------

    def check_model(self, n_particles: int) -> None:
        """Call the model once on a tiny input and check the contract, at attach."""
        dtype = self.dtype
        if self.kind == "pair":
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
        if self.kind == "local":
            r = tf.constant([[[1.0, 0.0, 0.0], [0.0, 1.1, 0.2]]] * 3, dtype)
            mask = tf.constant([[True, False]] * 3)
            try:
                out = self.model(r, tf.zeros([3], tf.int32), tf.zeros([3, 2], tf.int32), mask)
            except Exception as err:
                raise ModelOutputError(
                    f"calling the local model as model(r_ik (3, 2, 3) {dtype.name}, type_i (3,) int32, "
                    f"type_k (3, 2) int32, mask (3, 2) bool) failed: {err}"
                ) from err
            check_local_output(out, 3, dtype)
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

    def refresh_neighbors(self, nlist: Any, simulation: Any, timestep: int) -> None:
        """Take the neighbors of HOOMD's list again if HOOMD rebuilt it."""
        started = time.perf_counter()
        _compat.update_nlist(nlist, timestep)
        self.stats.nlist_seconds += time.perf_counter() - started
        n_local = _compat.local_count(simulation)
        key = (_compat.nlist_build_count(nlist), _compat.run_identity(simulation), n_local)
        # A timestep that does not advance (run(0) again, after set_snapshot say) may follow
        # changed particles with HOOMD's build count reset to the same value: rebuild then.
        if timestep <= self._last_timestep:
            self._nlist_key = None
        self._last_timestep = timestep
        stale = key != self._nlist_key
        if self._general is not None and self._general.exchange:  # the ghost-charge gather is collective
            stale = self.ranks.any(stale)
        if not stale:
            return
        started = time.perf_counter()
        view = self.arrays.view
        with _compat.nlist_arrays(nlist, simulation, gpu=self.arrays.gpu) as lists:
            head, counts, flat = view(lists.head_list), view(lists.n_neigh), view(lists.nlist)
            if isinstance(self.split, PairSplit):
                halves = self.split.rebuild(head, counts, flat, n_local)
            elif isinstance(self.split, LocalSplit):
                halves = self.split.rebuild(head, counts, flat, n_local, bool(lists.half_nlist))
            else:
                halves = self._general.rebuild(head, counts, flat, bool(lists.half_nlist), n_local)
        if self._general is not None and self._general.exchange:
            self._general.gather_ghost_charges(simulation)
        self._nlist_key = key
        stats = self.stats
        stats.neighbor_seconds += time.perf_counter() - started
        stats.pair_builds += 1
        stats.pair_halves = halves

    # -- per step ---------------------------------------------------------------------

    def _box_of(self, box: Any, make: Callable[[tuple], Any]) -> Any:
        values = (box.Lx, box.Ly, box.Lz, box.xy, box.xz, box.yz)
        if self._box is None or self._box[0] != values:
            self._box = (values, make(values))
        return self._box[1]

    def evaluate(self, force: Any, timestep: int) -> None:
        """Compute forces, energies (and virials when HOOMD wants them) and write them."""
        started = time.perf_counter()
        if self.split is not None:
            self._evaluate_split(force, timestep)
        else:
            self._general.evaluate(force, timestep)
        stats = self.stats
        stats.steps += 1
        stats.force_seconds += time.perf_counter() - started
        if self.split is not None:
            stats.model_seconds = self.split.seconds["model"]
            stats.geometry_seconds = self.split.seconds["geometry"]
            stats.accumulate_seconds = self.split.seconds["accumulate"]

    def _evaluate_split(self, force: Any, timestep: int) -> None:
        state = force._state
        view = self.arrays.view
        with _compat.force_arrays(force) as out, _compat.particle_arrays(state) as particles:
            virial = view(out.virial)
            want_virial = _compat.virial_requested(virial)
            if self.decomposed and self.kind == "local":  # every rank sends the same columns home
                want_virial = self.ranks.any(want_virial)
            n_local = virial.shape[0]
            seen = particles.position_with_ghost if self.decomposed else particles.position
            postype = full_rows(view(seen), 4)
            types = postype.view(np.int32)[:, TYPE_COLUMN]
            box = self._box_of(state.box, lambda values: box_array(*values))
            records = self._force_records(out)
            send_home = None
            if self.decomposed and self.kind == "local":
                ghost_tags = view(particles.tag_with_ghost)[n_local:]
                rtag = view(particles.rtag)

                def send_home(rows: np.ndarray) -> None:
                    send_ghost_rows_home(self.comm, rows, n_local, ghost_tags, rtag)

            if isinstance(self.split, LocalSplit):
                ok = self.split.evaluate(
                    postype, types, n_local, box, records, virial, want_virial, send_home
                )
            else:
                ok = self.split.evaluate(postype, types, n_local, box, records, virial, want_virial)
            if self.decomposed:  # stop every rank, not one while the others wait for it
                ok = self.ranks.all(ok)
            if not ok:
                empty = np.zeros((0, 6))
                self._raise_non_finite(
                    records, virial if want_virial else empty, view(particles.tag), timestep, n_local
                )
            if not want_virial:
                _compat.mark_virial_unused(virial)
        self.stats.virial_steps += int(want_virial)

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


class _General:
    """The whole step in TensorFlow: many-body models (`ManyBodyInputs`), and every model on the GPU.

    Pair models see the pair list (each pair once, scattered onto both particles in
    XLA); local models are called through `local_as_many_body` on the neighbor table.
    """

    def __init__(self, engine: ForceEngine, jit_compile: bool | str, table: np.ndarray, n_types: int) -> None:
        self.engine = engine
        kind = engine.kind
        decomposed = engine.decomposed
        many_body = kind != "pair"
        self.model = local_as_many_body(engine.model) if kind == "local" else engine.model
        self.many_body = many_body
        self.rank_sum = RankSum(engine.comm) if decomposed and many_body else None
        self.exchange = decomposed and many_body and engine.ghosts
        self.ghost_charges = TagTable()
        self._jit = jit_compile
        self._steps: dict[bool, CompiledStep] = {}
        self._n_local: tuple[int, tf.Tensor | None] = (-1, None)
        self._row_capacity = 0
        self._particle_capacity = 0
        self._constants = (
            tf.constant((table**2).ravel(), tf.float64),
            tf.constant(n_types, tf.int32),
            tf.constant(engine._r_max, tf.float64),
        )
        self._pairs = NeighborPairs.empty()
        self._table = NeighborTable.empty()
        self._neighbor_args = self._tensors()
        self._no_charges = tf.zeros([0], tf.float64)

    def _tensors(self) -> tuple[tf.Tensor, ...]:
        arrays = self.engine.arrays
        arrays.synchronize()  # the arrays may have been built on another stream
        pairs, table = self._pairs, self._table
        return (
            arrays.tensor(pairs.i),
            arrays.tensor(pairs.j),
            tf.constant(pairs.count, tf.int32),
            arrays.tensor(table.neighbors),
            arrays.tensor(table.counts),
        )

    def rebuild(self, head: Any, counts: Any, flat: Any, half: bool, n_local: int) -> int:
        """Pairs (and, for many-body models, the table) of a new list build; return twice the pairs."""
        xp = self.engine.arrays.xp
        self._pairs = NeighborPairs.from_hoomd(
            head, counts, flat, half=half, capacity=self._pairs.capacity, xp=xp
        )
        if self.many_body:
            self._table = NeighborTable.from_hoomd(
                head, counts, flat, half=half, width=self._table.width, xp=xp
            )
            if self.engine.decomposed:
                self._row_capacity = max(self._row_capacity, bucket_capacity(self._table.rows))
                self._table = self._table.padded_rows(self._row_capacity, xp=xp)
        self._neighbor_args = self._tensors()
        count = self._pairs.count
        with_ghost = int((self._pairs.j[:count] >= n_local).sum()) if self.engine.decomposed else 0
        return 2 * count - with_ghost

    def gather_ghost_charges(self, simulation: Any) -> None:
        """Gather every particle's charge by tag (collective; ghosts' charges come from it)."""
        view = self.engine.arrays.view
        with _compat.particle_arrays(simulation.state) as particles:
            self.ghost_charges.gather(
                self.engine.comm, view(particles.tag), view(particles.charge), _compat.tag_count(simulation)
            )

    def _explain(self) -> str:
        if self.rank_sum is not None and self.rank_sum.traced:
            return (
                "the model sums over MPI ranks with inputs.total, which XLA cannot compile "
                "(jit_compile='auto' or False runs it)"
            )
        return ""

    def _step(self, virial: bool) -> CompiledStep:
        step = self._steps.get(virial)
        if step is None:
            model, many_body, rank_sum, dtype = self.model, self.many_body, self.rank_sum, self.engine.dtype

            def make(jit: bool) -> Any:
                return make_step(
                    model, many_body=many_body, dtype=dtype, jit_compile=jit, virial=virial, rank_sum=rank_sum
                )

            jit = self._jit if all(s.xla for s in self._steps.values()) else False
            step = self._steps[virial] = CompiledStep(make, jit, self._explain)
        return step

    def _charges(self, particles: Any, n_local: int) -> tf.Tensor:
        """Charges of the rows the step sees: ghosts' from the tag table under MPI."""
        arrays = self.engine.arrays
        if not self.engine.decomposed:
            return arrays.charges(particles.charge)
        values = arrays.view(particles.charge)
        if self.engine.ghosts:
            ghost_tags = arrays.view(particles.tag_with_ghost)[n_local:]
            values = np.concatenate([values, self.ghost_charges[ghost_tags]])
        return arrays.padded_charges(values, self._particle_capacity)

    def evaluate(self, force: Any, timestep: int) -> None:
        """One whole step in TensorFlow, results written back with one copy each."""
        engine, arrays = self.engine, self.engine.arrays
        state = force._state
        with (
            _compat.force_arrays(force, gpu=arrays.gpu) as out,
            _compat.particle_arrays(state, gpu=arrays.gpu) as particles,
        ):
            virial_view = arrays.view(out.virial)
            want_virial = _compat.virial_requested(virial_view)
            if self.exchange:  # every rank sends the same columns of its ghost rows
                want_virial = engine.ranks.any(want_virial)
            box = engine._box_of(state.box, lambda values: tf.constant(values, tf.float64))
            n_local = virial_view.shape[0]
            if engine.decomposed:
                seen = particles.position_with_ghost if engine.ghosts else particles.position
                self._particle_capacity = max(
                    self._particle_capacity, self._row_capacity, bucket_capacity(seen.shape[0])
                )
                postype = arrays.padded_postype(seen, self._particle_capacity)
            else:
                postype = arrays.postype(particles.position)
            charges = self._charges(particles, n_local) if self.many_body else self._no_charges
            if self._n_local[0] != n_local:  # changes only when particles migrate (MPI)
                self._n_local = (n_local, tf.constant(n_local, tf.int32))
            arrays.synchronize()
            args = (postype, box, charges, *self._neighbor_args, *self._constants, self._n_local[1])
            start = time.perf_counter()
            force_energy, virial, finite = self._step(want_virial)(*args)
            ok = bool(finite)
            engine.stats.model_seconds += time.perf_counter() - start
            del args, postype  # views of HOOMD memory must not outlive the block
            if engine.decomposed:  # stop every rank, not one while the others wait for it
                ok = engine.ranks.all(ok)
            if not ok:
                tags = particles.tag_with_ghost if engine.decomposed and engine.ghosts else particles.tag
                engine._raise_non_finite(
                    arrays.host(force_energy),
                    arrays.host(virial),
                    arrays.host(arrays.view(tags)),
                    timestep,
                    n_local,
                )
            if self.exchange:
                force_energy, virial = self._send_ghost_results_home(
                    force_energy, virial, want_virial, particles, n_local
                )
            arrays.write(engine._force_records(out), force_energy, n_local)
            if want_virial:
                arrays.write(virial_view, virial, n_local)
            else:
                _compat.mark_virial_unused(virial_view)
            arrays.synchronize()
        engine.stats.virial_steps += int(want_virial)

    def _send_ghost_results_home(
        self, force_energy: tf.Tensor, virial: tf.Tensor, want_virial: bool, particles: Any, n_local: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Add the forces (and virials) computed on ghosts to the ranks owning them (collective)."""
        view = self.engine.arrays.view
        ghost_tags = view(particles.tag_with_ghost)[n_local:]
        fe = force_energy.numpy()
        rows = np.concatenate([fe[:, :3], virial.numpy()], axis=1) if want_virial else fe[:, :3].copy()
        send_ghost_rows_home(self.engine.comm, rows, n_local, ghost_tags, view(particles.rtag))
        fe[:, :3] = rows[:, :3]
        return fe, (rows[:, 3:] if want_virial else virial)
