"""HOOMD's neighbor list as a dense (rows, K) table of neighbor indices.

HOOMD stores neighbors per particle: particle ``i``'s neighbors are
``nlist[head_list[i] : head_list[i] + n_neigh[i]]``. `NeighborTable` lays them
out as a padded table: row ``i`` holds every neighbor of particle ``i`` (both
orders of each pair, as HOOMD's *full* storage does), columns past
``n_neigh[i]`` hold ``i`` itself and are masked. A compiled step then gathers
neighbor positions row by row and reduces forces, energies and virials along
the neighbor axis: no scatter.

Rows are the particles that receive forces (the local ones); entries may index
any particle the positions array holds, so under domain decomposition the
columns can point at ghosts while rows stay local.

From a *full* list the table is one gather, made where the list lives (numpy on
the host, CuPy on the GPU). A *half* list (each pair once, as HOOMD's own CPU pair
forces choose when they share the list) is mirrored first. Widths are padded to
multiples of 8 and only grow, so a compiled step sees few distinct shapes;
tables are rebuilt only when HOOMD rebuilds its list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hoomd_mlx.plugin.pairs import pair_entries

__all__ = ["NeighborTable", "bucket_width"]


def bucket_width(max_neighbors: int, step: int = 8) -> int:
    """int: ``max_neighbors`` rounded up to a multiple of ``step`` (at least ``step``).

    Fine steps keep the padding small (every padded column costs as much as a real
    one); widths only grow during a run (see ``width`` in `NeighborTable.from_hoomd`),
    so the compiled step is rebuilt a few times at most.
    """
    return max(step, math.ceil(max_neighbors / step) * step)


@dataclass(frozen=True)
class NeighborTable:
    """Neighbor indices of each row particle, padded to a common width.

    Attributes:
        neighbors: (R, K) ``int32`` indices of each row's neighbors; entries at or
            past ``counts[i]`` hold ``i`` (a numpy array, or CuPy on the GPU).
        counts: (R,) ``int32`` number of real neighbors of each row.
        entries: Real entries in the table (``counts.sum()``); each pair of
            particles appears twice, once in each row.
    """

    neighbors: Any
    counts: Any
    entries: int

    @property
    def width(self) -> int:
        """int: K, the padded number of columns."""
        return int(self.neighbors.shape[1])

    @property
    def rows(self) -> int:
        """int: R, the number of rows (particles receiving forces)."""
        return int(self.neighbors.shape[0])

    @classmethod
    def from_hoomd(
        cls,
        head_list: Any,
        n_neigh: Any,
        nlist: Any,
        *,
        half: bool,
        width: int = 0,
        xp: Any = np,
    ) -> NeighborTable:
        """Every neighbor of every row, both orders of each pair, from HOOMD's list arrays.

        The arguments are those of `hoomd_mlx.plugin.pairs.NeighborPairs.from_hoomd`,
        with ``width`` (keep at least this many columns, so widths only grow) in place
        of ``capacity``. The arrays are read, never copied whole.
        """
        if half:  # mirrored: pair (i, j) is stored in row i and in row j
            i, j = pair_entries(head_list, n_neigh, nlist, xp=xp)
            return cls.from_pairs(i, j, int(n_neigh.shape[0]), width=width, xp=xp)
        rows = int(n_neigh.shape[0])
        counts = n_neigh.astype(xp.int32)
        k = max(width, bucket_width(int(counts.max()) if rows else 0))
        column = xp.arange(k, dtype=xp.int32)
        own = xp.arange(rows, dtype=xp.int32)[:, None]
        if not nlist.shape[0]:
            return cls(xp.repeat(own, k, axis=1), counts, 0)
        # Row i's slots head[i] .. head[i] + K - 1 (int32 indices: one pass at half the bytes);
        # slots past n_neigh[i] hold the next row's neighbors or stale values, masked below.
        index_type = xp.int32 if nlist.shape[0] < 2**31 - k else xp.int64
        flat = head_list.astype(index_type)[:, None] + column.astype(index_type)[None, :]
        flat = xp.minimum(flat, nlist.shape[0] - 1)  # past the end only for masked slots
        gathered = xp.take(nlist, flat).astype(xp.int32, copy=False)
        neighbors = xp.where(column[None, :] < counts[:, None], gathered, own)
        return cls(neighbors, counts, int(counts.sum()))

    @classmethod
    def from_pairs(cls, i: Any, j: Any, rows: int, *, width: int = 0, xp: Any = np) -> NeighborTable:
        """The table of unordered pairs ``(i[k], j[k])``, each stored in row i and in row j.

        Only rows below ``rows`` get entries (under domain decomposition ``j`` may
        be a ghost, which receives no force).
        """
        i = xp.asarray(i, dtype=xp.int32)
        j = xp.asarray(j, dtype=xp.int32)
        own_j = j < rows
        row = xp.concatenate([i, j[own_j]])
        col = xp.concatenate([j, i[own_j]])
        order = xp.argsort(row, kind="stable")
        row, col = row[order], col[order]
        counts = xp.bincount(row, minlength=rows).astype(xp.int32)
        starts = xp.cumsum(counts) - counts
        rank = xp.arange(row.shape[0], dtype=xp.int64) - starts[row]
        k = max(width, bucket_width(int(counts.max()) if rows else 0))
        neighbors = xp.repeat(xp.arange(rows, dtype=xp.int32)[:, None], k, axis=1)
        neighbors[row, rank] = col
        return cls(neighbors, counts, int(row.shape[0]))

    def padded_rows(self, rows: int, *, xp: Any = np) -> NeighborTable:
        """The same table with empty rows appended up to ``rows`` (each row ``r`` pointing at ``r``)."""
        extra = rows - self.rows
        if extra <= 0:
            return self
        own = xp.repeat(xp.arange(self.rows, rows, dtype=xp.int32)[:, None], self.width, axis=1)
        neighbors = xp.concatenate([self.neighbors, own])
        counts = xp.concatenate([self.counts, xp.zeros(extra, dtype=xp.int32)])
        return NeighborTable(neighbors, counts, self.entries)

    @classmethod
    def empty(cls, rows: int = 0) -> NeighborTable:
        """NeighborTable: No neighbors (for many-body models without a neighbor list)."""
        neighbors = np.repeat(np.arange(rows, dtype=np.int32)[:, None], 8, axis=1)
        return cls(neighbors, np.zeros(rows, dtype=np.int32), 0)
