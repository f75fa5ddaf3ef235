"""The MPI ranks of one process group, and how they agree: one set of collective helpers.

`Ranks` wraps an ``mpi4py`` communicator (or none: one rank, every method the identity,
nothing imports MPI). The force (`hoomd_mlx.plugin`) uses it to agree on rebuilds and on
whether a step succeeded; a campaign job (`hoomd_mlx.campaign.job.ranks`) to let rank 0 do
the file I/O and to make every decision that ends or shapes a run the same on all ranks.
Every method other than the properties is collective when ``size > 1``: all ranks call it,
in the same order.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Ranks"]


class Ranks:
    """The ranks of a communicator (a single rank without one).

    Args:
        comm: An ``mpi4py`` communicator; None for one rank.
    """

    def __init__(self, comm: Any = None) -> None:
        self._comm = comm
        self.rank = 0 if comm is None else int(comm.Get_rank())
        self.size = 1 if comm is None else int(comm.Get_size())

    @property
    def is_root(self) -> bool:
        """bool: Whether this is rank 0."""
        return self.rank == 0

    def _flag(self, flag: bool, op: str) -> bool:
        """A logical reduction through a buffer (no pickling: the force calls it every step)."""
        if self._comm is None:
            return bool(flag)
        import numpy as np
        from mpi4py import MPI

        out = np.zeros(1, dtype=np.int32)
        self._comm.Allreduce(np.array([int(bool(flag))], dtype=np.int32), out, op=getattr(MPI, op))
        return bool(out[0])

    def any(self, flag: bool) -> bool:
        """bool: Whether ``flag`` is true on any rank (logical OR over the ranks)."""
        return self._flag(flag, "LOR")

    def all(self, flag: bool) -> bool:
        """bool: Whether ``flag`` is true on every rank (logical AND over the ranks)."""
        return self._flag(flag, "LAND")

    def sum(self, value: float) -> float:
        """float: ``value`` summed over the ranks."""
        if self._comm is None:
            return float(value)
        from mpi4py import MPI

        return float(self._comm.allreduce(float(value), op=MPI.SUM))

    def from_root(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank (a broadcast; other ranks' values are ignored)."""
        if self._comm is None:
            return value
        return self._comm.bcast(value, root=0)

    def barrier(self) -> None:
        """Wait until every rank has reached this call."""
        if self._comm is not None:
            self._comm.Barrier()
