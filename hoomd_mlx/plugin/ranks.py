r"""What a force needs from MPI beyond HOOMD's own communication (mpi4py).

Under domain decomposition every rank evaluates the model on its own particles
and the ghosts HOOMD gives it. Three things cross ranks here:

* `RankSum`: sums over ranks inside the compiled step, for models whose energy
  depends on totals over the whole system (a dipole, a net charge). Its gradient
  is again a sum over ranks (the adjoint of a sum is the sum of the adjoints), so
  forces carry the chain rule through the total.
* `send_ghost_rows_home`: forces (and virials) a rank computed on its ghosts are
  added to the rank that owns each particle -- LAMMPS's reverse communication.
  With it, a many-body model needs ghosts only as far out as its own range.
* `TagTable`: per-particle values HOOMD does not send with ghosts (charges,
  unless another force asks for them), looked up by global tag.

The plain collectives (any, all, sum over ranks) are `hoomd_mlx.ranks.Ranks`. Every function
here is collective: every rank of the communicator must call it,
in the same order. The force's step is the same graph on every rank, which keeps
that order.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

__all__ = ["RankSum", "TagTable", "send_ghost_rows_home"]


class RankSum:
    """A differentiable sum over MPI ranks, for use inside a traced step.

    Calls made while one step is traced (forward sums, then their gradients) are
    chained by control dependencies, so TensorFlow's parallel executor runs them
    one at a time in trace order -- the same order on every rank, as MPI requires.

    Args:
        comm: The mpi4py communicator of the simulation's ranks.
    """

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self._last: tf.Tensor | None = None
        self.traced = False  # whether a traced step sums over ranks (then XLA cannot compile it)
        self._checked_threads = False

    def begin_trace(self) -> None:
        """Start a new chain (called when a step is traced)."""
        self._last = None

    def _allreduce(self, x: tf.Tensor) -> tf.Tensor:
        self.traced = True
        deps = [] if self._last is None else [self._last]
        with tf.control_dependencies(deps):
            y = tf.numpy_function(self._numpy_sum, [x], x.dtype, stateful=True)
        y = tf.ensure_shape(y, x.shape)
        self._last = y
        return y

    def _numpy_sum(self, x: np.ndarray) -> np.ndarray:
        from mpi4py import MPI

        if not self._checked_threads:
            self._checked_threads = True
            if MPI.Query_thread() < MPI.THREAD_SERIALIZED:
                logger.warning(
                    "inputs.total calls MPI from a TensorFlow thread while the main thread waits, but "
                    "MPI was initialised for one thread only (HOOMD-blue does so unless mpi4py comes "
                    "first). Open MPI runs this correctly (tests/test_mpi_hoomd.py); the MPI standard "
                    "does not promise it: put `from mpi4py import MPI` before `import hoomd`"
                )

        send = np.array(x, order="C")  # a 0-d array stays 0-d (ascontiguousarray would not)
        out = np.empty_like(send)
        self.comm.Allreduce(send, out, op=MPI.SUM)
        return out

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        """``x`` summed over ranks; its gradient is the rank sum of the incoming gradients."""

        @tf.custom_gradient
        def summed(x: tf.Tensor) -> tuple[tf.Tensor, Any]:
            def grad(upstream: tf.Tensor) -> tf.Tensor:
                return self._allreduce(upstream)

            return self._allreduce(x), grad

        return summed(x)


def send_ghost_rows_home(
    comm: Any, rows: np.ndarray, n_local: int, ghost_tags: np.ndarray, rtag: np.ndarray
) -> None:
    """Add the rows computed on ghosts to the ranks that own those particles (collective).

    Args:
        comm: The mpi4py communicator of the simulation's ranks.
        rows: (M, C) per-particle results (forces, virials) of this rank: ``n_local``
            local rows, then one row per ghost; local rows are updated in place.
        n_local: Particles this rank owns.
        ghost_tags: (G,) global tags of this rank's ghosts, in row order.
        rtag: HOOMD's reverse tags: local index of each global tag (``>= n_local``
            or not-local for particles this rank does not own).

    Every rank sends all its ghost rows to every other rank (one ``Allgatherv``);
    each keeps the rows of particles it owns. A particle can be a ghost on several
    ranks (corners), so contributions are accumulated, not assigned.
    """
    from mpi4py import MPI

    ghosts = ghost_tags.shape[0]
    channels = rows.shape[1]
    counts = np.zeros(comm.Get_size(), dtype=np.int64)
    comm.Allgather(np.array([ghosts], dtype=np.int64), counts)
    total = int(counts.sum())
    if total == 0:
        return
    tags = np.empty(total, dtype=np.uint32)
    comm.Allgatherv(np.ascontiguousarray(ghost_tags, dtype=np.uint32), [tags, counts, MPI.UNSIGNED])
    values = np.empty((total, channels), dtype=np.float64)
    send = np.ascontiguousarray(rows[n_local : n_local + ghosts], dtype=np.float64)
    comm.Allgatherv(send, [values, counts * channels, MPI.DOUBLE])
    index = rtag[tags]
    mine = index < n_local
    np.add.at(rows, index[mine].astype(np.int64), values[mine])


class TagTable:
    """Per-particle values of the whole system indexed by global tag, gathered from every rank.

    Used for ghost charges: HOOMD sends them with ghosts only when some force asks.
    Rebuilt when the neighbor list is (charges change rarely; ghosts then).
    """

    def __init__(self) -> None:
        self.values = np.zeros(0)

    def gather(self, comm: Any, tags: np.ndarray, values: np.ndarray, n_global: int) -> None:
        """Collect every rank's ``(tags, values)`` into the table (collective)."""
        parts = comm.allgather((np.asarray(tags, dtype=np.int64), np.asarray(values, dtype=np.float64)))
        table = np.zeros(n_global, dtype=np.float64)
        for t, v in parts:
            table[t] = v
        self.values = table

    def __getitem__(self, tags: np.ndarray) -> np.ndarray:
        return self.values[tags]
