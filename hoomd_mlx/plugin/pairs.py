"""The one place where HOOMD's neighbor list becomes a list of pairs.

HOOMD stores neighbors per particle: particle ``i``'s neighbors are
``nlist[head_list[i] : head_list[i] + n_neigh[i]]``. A *half* list (HOOMD's
choice for CPU pair forces) holds each unordered pair once; a *full* list (GPU)
holds both orders, and only ``i < j`` is kept here. Pairs are rebuilt only when
HOOMD rebuilt its list; between rebuilds only positions change.

The pair arrays are padded to a bucket size (geometric steps of `GROWTH`) so
that a compiled TensorFlow step sees few distinct shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GROWTH", "NeighborPairs", "bucket_capacity", "pair_entries"]

GROWTH = 1.25
"""float: Ratio between successive pair-capacity buckets."""


def bucket_capacity(n_pairs: int, minimum: int = 64) -> int:
    """int: The smallest bucket ``minimum * GROWTH**k`` (rounded up to 64) holding ``n_pairs``."""
    if n_pairs <= minimum:
        return minimum
    k = math.ceil(math.log(n_pairs / minimum) / math.log(GROWTH))
    capacity = minimum * GROWTH**k
    return int(math.ceil(capacity / 64.0) * 64)


def pair_entries(head_list: Any, n_neigh: Any, nlist: Any, *, xp: Any = np) -> tuple[Any, Any]:
    """Every entry of HOOMD's neighbor list as ``(i, j)`` ``int32`` arrays, in list order.

    Args:
        head_list: (N,) start of each particle's neighbors in ``nlist``.
        n_neigh: (N,) number of neighbors of each particle.
        nlist: flat neighbor indices.
        xp: Array module of the inputs: ``numpy`` (CPU) or ``cupy`` (GPU).
    """
    n = int(n_neigh.shape[0])
    counts = n_neigh.astype(xp.int64)
    ends = xp.cumsum(counts)
    total = int(ends[-1]) if n else 0
    entry = xp.arange(total, dtype=xp.int64)
    # The row of every entry, then its position in the flat nlist: head + rank in row.
    row = xp.searchsorted(ends, entry, side="right") if xp is not np else np.repeat(np.arange(n), counts)
    flat = head_list.astype(xp.int64)[row] + entry - (ends - counts)[row]
    return row.astype(xp.int32), nlist[flat].astype(xp.int32)


@dataclass(frozen=True)
class NeighborPairs:
    """Pairs of particle indices, padded to a fixed capacity.

    Attributes:
        i: (capacity,) ``int32`` index of the first particle; padding rows hold 0
            (a numpy array, or a cupy array for pairs built on the GPU).
        j: (capacity,) ``int32`` index of the second particle; padding rows hold 0.
        count: Number of real pairs; rows ``count:`` are padding.
    """

    i: Any
    j: Any
    count: int

    @property
    def capacity(self) -> int:
        """int: Length of the padded arrays."""
        return int(self.i.shape[0])

    @classmethod
    def from_hoomd(
        cls,
        head_list: Any,
        n_neigh: Any,
        nlist: Any,
        *,
        half: bool,
        capacity: int = 0,
        xp: Any = np,
    ) -> NeighborPairs:
        """Build pairs from HOOMD's neighbor-list arrays (read, never copied whole).

        Args:
            head_list: (N,) start of each particle's neighbors in ``nlist``.
            n_neigh: (N,) number of neighbors of each particle.
            nlist: flat neighbor indices.
            half: Whether the list holds each pair once (HOOMD's half storage).
            capacity: Keep at least this capacity (so buckets only grow).
            xp: Array module of the inputs: ``numpy`` (CPU) or ``cupy`` (GPU); the
                pairs are built where the list lives.

        Returns:
            NeighborPairs: The pairs, ``i < j`` for full lists.
        """
        i, j = pair_entries(head_list, n_neigh, nlist, xp=xp)
        if not half:
            keep = i < j
            i, j = i[keep], j[keep]
        return cls.padded(i, j, capacity=capacity, xp=xp)

    @classmethod
    def padded(cls, i: Any, j: Any, *, capacity: int = 0, xp: Any = np) -> NeighborPairs:
        """Pairs ``(i[k], j[k])`` padded with zeros to a bucket of at least ``capacity``."""
        count = int(i.shape[0])
        cap = max(capacity, bucket_capacity(count))
        pad_i = xp.zeros(cap, dtype=xp.int32)
        pad_j = xp.zeros(cap, dtype=xp.int32)
        pad_i[:count] = i
        pad_j[:count] = j
        return cls(pad_i, pad_j, count)

    @classmethod
    def empty(cls) -> NeighborPairs:
        """NeighborPairs: No pairs (for many-body models without a neighbor list)."""
        zeros = np.zeros(bucket_capacity(0), dtype=np.int32)
        return cls(zeros, zeros.copy(), 0)
