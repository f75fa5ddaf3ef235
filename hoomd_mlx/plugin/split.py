"""The split force step on the CPU: compiled kernels around the model, as LAMMPS ML-IAP and DeePMD-kit do.

Per HOOMD step:

1. a geometry kernel (`hoomd_mlx.plugin.kernels`) walks the pairs of HOOMD's
   neighbor list, made compact once per list build, and writes the minimum-image
   displacements within each type pair's cutoff into buffers that TensorFlow
   reads without a copy;
2. the model, compiled with XLA, returns energies and their gradients with
   respect to the displacements (autodiff), evaluated over the buffers'
   capacity, which grows in buckets so XLA compiles once per bucket;
3. an accumulation kernel adds forces, energies and, on the steps HOOMD asks
   for them, virials straight into HOOMD's arrays.

`PairSplit` serves pair models (each pair once), `LocalSplit` local many-body
models (the (R, K) table of every row's neighbors).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from hoomd_mlx.plugin import kernels
from hoomd_mlx.plugin.buffers import aligned_empty, shared_tensor, tensor_view
from hoomd_mlx.plugin.pairs import bucket_capacity
from hoomd_mlx.plugin.step import CompiledStep, make_local_model_step, make_pair_model_step

__all__ = ["LocalSplit", "PairSplit", "pair_capacity"]

HEADROOM = 1.05
"""float: Pair buffers hold this much more than the pairs that made them grow (fewer recompiles)."""


def pair_capacity(pairs: int, quantum: int = 256) -> int:
    """int: Rows of the pair buffers for ``pairs`` pairs: 5% headroom, a multiple of ``quantum``."""
    return max(quantum, math.ceil(pairs * HEADROOM / quantum) * quantum)


def _width(neighbors: int, step: int = 8) -> int:
    return max(step, math.ceil(neighbors / step) * step)


class PairSplit:
    """Pair models on the CPU: geometry kernel, model, accumulation kernel.

    Args:
        model: A `hoomd_mlx.plugin.contract.PairModel`.
        dtype: The model's dtype (displacements are computed in float64 and stored in it).
        jit_compile: ``True``, ``False`` or ``"auto"`` (see `CompiledStep`).
        rcut2: (T, T) squared cutoffs by type pair.
        r_fill: Length of the filler displacement in unused rows.

    Attributes:
        pairs (int): Pairs within cutoff at the last step.
        seconds (dict[str, float]): Seconds summed over steps in ``"geometry"`` (the kernel),
            ``"model"`` (the model and its gradient) and ``"accumulate"`` (the kernel).
    """

    def __init__(
        self, model: Callable, dtype: tf.DType, jit_compile: bool | str, rcut2: np.ndarray, r_fill: float
    ) -> None:
        self._step = CompiledStep(lambda jit: make_pair_model_step(model, dtype, jit), jit_compile)
        self._dtype = np.dtype(dtype.as_numpy_dtype)
        self._rcut2 = np.ascontiguousarray(rcut2, dtype=np.float64)
        self._r_fill = r_fill
        self._offsets = np.zeros(1, dtype=np.int64)
        self._columns = np.zeros(0, dtype=np.int32)
        self._row_end = np.zeros(0, dtype=np.int64)
        self._allocate(0)
        self.pairs = 0
        self.seconds = {"geometry": 0.0, "model": 0.0, "accumulate": 0.0}

    @property
    def capacity(self) -> int:
        """int: Rows of the pair buffers (the shape the model is compiled for)."""
        return int(self._d.shape[0])

    def _allocate(self, pairs: int) -> None:
        rows = pair_capacity(pairs)
        self._d = aligned_empty((rows, 3), self._dtype)
        self._d[:] = (self._r_fill, 0.0, 0.0)
        self._t_i, self._t_j, self._p_j = (aligned_empty((rows,), np.int32) for _ in range(3))
        for array in (self._t_i, self._t_j, self._p_j):
            array[:] = 0
        self._inputs = (shared_tensor(self._d), shared_tensor(self._t_i), shared_tensor(self._t_j))

    def rebuild(self, head: np.ndarray, n_neigh: np.ndarray, nlist: np.ndarray, n_rows: int) -> int:
        """Take the pairs of a new HOOMD list build; return twice the pairs, a pair with a ghost once."""
        self._offsets, self._columns, with_ghost = kernels.pair_csr(head, n_neigh, nlist, n_rows)
        self._row_end = np.zeros(n_rows, dtype=np.int64)
        return 2 * int(self._columns.shape[0]) - int(with_ghost)

    def _geometry(self, postype: np.ndarray, types: np.ndarray, box: np.ndarray) -> int:
        return kernels.pair_geometry(
            postype, types, self._offsets, self._columns, self._rcut2, box,
            self._d, self._t_i, self._t_j, self._p_j, self._row_end,
        )  # fmt: skip

    def evaluate(
        self,
        postype: np.ndarray,
        types: np.ndarray,
        n_local: int,
        box: np.ndarray,
        force: np.ndarray,
        virial: np.ndarray,
        with_virial: bool,
    ) -> bool:
        """Add this step's forces, energies (and virials) into HOOMD's arrays; return whether finite."""
        t0 = time.perf_counter()
        pairs = self._geometry(postype, types, box)
        if pairs > self.capacity:
            self._allocate(pairs)
            pairs = self._geometry(postype, types, box)
        self.pairs = pairs
        t1 = time.perf_counter()
        out = tensor_view(self._step(*self._inputs))
        t2 = time.perf_counter()
        ok = kernels.accumulate_pairs(
            out, self._d, self._p_j, self._row_end, n_local, force, virial, with_virial
        )
        seconds = self.seconds
        seconds["geometry"] += t1 - t0
        seconds["model"] += t2 - t1
        seconds["accumulate"] += time.perf_counter() - t2
        return ok


class LocalSplit:
    """Local many-body models on the CPU: neighbor-table kernel, model, accumulation kernel.

    Args:
        model: A `hoomd_mlx.plugin.contract.LocalModel`.
        dtype, jit_compile, rcut2, r_fill: As for `PairSplit`.
        fixed_rows: Whether the table's rows are exactly the particles (one rank); under
            MPI they are padded to capacities that only grow.

    Attributes:
        width (int): K, the table's padded width.
        seconds (dict[str, float]): As for `PairSplit` (``"geometry"`` is the table kernel;
            ``"accumulate"`` includes sending forces on ghosts home under MPI).
    """

    def __init__(
        self,
        model: Callable,
        dtype: tf.DType,
        jit_compile: bool | str,
        rcut2: np.ndarray,
        r_fill: float,
        *,
        fixed_rows: bool = True,
    ) -> None:
        self._step = CompiledStep(lambda jit: make_local_model_step(model, dtype, jit), jit_compile)
        self._dtype = np.dtype(dtype.as_numpy_dtype)
        self._rcut2 = np.ascontiguousarray(rcut2, dtype=np.float64)
        self._r_fill = r_fill
        self._fixed_rows = fixed_rows
        self._offsets = np.zeros(1, dtype=np.int64)
        self._columns = np.zeros(0, dtype=np.int32)
        self._rows = -1
        self.width = 8
        self._exchange = np.zeros((0, 10))
        self.seconds = {"geometry": 0.0, "model": 0.0, "accumulate": 0.0}

    def _allocate(self, rows: int, width: int) -> None:
        self._rows, self.width = rows, width
        self._r = aligned_empty((rows, width, 3), self._dtype)
        self._t_row = aligned_empty((rows,), np.int32)
        self._t_nb = aligned_empty((rows, width), np.int32)
        self._index = aligned_empty((rows, width), np.int32)
        self._mask = aligned_empty((rows, width), np.bool_)
        self._inputs = tuple(shared_tensor(a) for a in (self._r, self._t_row, self._t_nb, self._mask))

    def rebuild(
        self, head: np.ndarray, n_neigh: np.ndarray, nlist: np.ndarray, n_rows: int, half: bool
    ) -> int:
        """Take every row's neighbors from a new HOOMD list build; return the table's entries."""
        self._offsets, self._columns = kernels.neighbor_csr(head, n_neigh, nlist, n_rows, half)
        return int(self._columns.shape[0])

    def _table(self, postype: np.ndarray, types: np.ndarray, n_local: int, box: np.ndarray) -> int:
        return kernels.local_table(
            postype, types, self._offsets, self._columns, n_local, self._rcut2, box, self._r_fill,
            self._r, self._t_row, self._t_nb, self._index, self._mask,
        )  # fmt: skip

    def evaluate(
        self,
        postype: np.ndarray,
        types: np.ndarray,
        n_local: int,
        box: np.ndarray,
        force: np.ndarray,
        virial: np.ndarray,
        with_virial: bool,
        send_home: Callable[[np.ndarray], None] | None = None,
    ) -> bool:
        """Add this step's forces, energies (and virials) into HOOMD's arrays; return whether finite.

        ``send_home`` (under MPI): called with the (local + ghosts, 10) rows of forces,
        energies and virials, it adds the ghost rows to the ranks owning them (in place).
        """
        t0 = time.perf_counter()
        rows = n_local if self._fixed_rows else max(self._rows, bucket_capacity(n_local))
        if rows != self._rows:
            self._allocate(rows, self.width)
        widest = self._table(postype, types, n_local, box)
        if widest > self.width:
            self._allocate(rows, _width(widest))
            self._table(postype, types, n_local, box)
        t1 = time.perf_counter()
        energy, grad = self._step(*self._inputs)
        energy, grad = tensor_view(energy), tensor_view(grad)
        t2 = time.perf_counter()
        ok = self._accumulate(energy, grad, postype.shape[0], n_local, force, virial, with_virial, send_home)
        seconds = self.seconds
        seconds["geometry"] += t1 - t0
        seconds["model"] += t2 - t1
        seconds["accumulate"] += time.perf_counter() - t2
        return ok

    def _accumulate(
        self,
        energy: np.ndarray,
        grad: np.ndarray,
        everyone: int,
        n_local: int,
        force: np.ndarray,
        virial: np.ndarray,
        with_virial: bool,
        send_home: Callable[[np.ndarray], None] | None,
    ) -> bool:
        if send_home is None:
            return kernels.accumulate_local(
                energy, grad, self._r, self._index, self._mask, n_local, n_local, force, virial, with_virial
            )
        if self._exchange.shape[0] < everyone:
            self._exchange = np.zeros((everyone, 10))
        rows_out = self._exchange[:everyone]
        rows_out[:] = 0.0
        ok = kernels.accumulate_local(
            energy, grad, self._r, self._index, self._mask, n_local, everyone,
            rows_out[:, :4], rows_out[:, 4:], with_virial,
        )  # fmt: skip
        send_home(rows_out)
        force[:n_local] += rows_out[:n_local, :4]
        if with_virial:
            virial[:n_local] += rows_out[:n_local, 4:]
        return ok
