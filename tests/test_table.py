import numpy as np
import pytest
from systems import hoomd_lists as _flat

from hoomd_mlx.plugin.table import NeighborTable, bucket_width


def _rows(table):
    return [sorted(table.neighbors[i, : table.counts[i]].tolist()) for i in range(table.rows)]


FULL = [[1, 2], [0, 2], [0, 1], []]
HALF = [[1, 2], [2], [], []]


def test_full_list_is_gathered_row_by_row():
    table = NeighborTable.from_hoomd(*_flat(FULL), half=False)
    assert _rows(table) == [[1, 2], [0, 2], [0, 1], []]
    assert table.entries == 6
    assert table.width == bucket_width(2)
    # padding holds the row itself, never HOOMD's unused slots
    for i in range(table.rows):
        assert (table.neighbors[i, table.counts[i] :] == i).all()


def test_half_list_is_mirrored():
    full = NeighborTable.from_hoomd(*_flat(FULL), half=False)
    half = NeighborTable.from_hoomd(*_flat(HALF), half=True)
    assert _rows(half) == _rows(full)
    np.testing.assert_array_equal(half.counts, full.counts)
    assert half.entries == full.entries


def test_pairs_to_ghosts_fill_only_local_rows():
    """Under domain decomposition a pair (local, ghost) gives the local row an entry only."""
    table = NeighborTable.from_pairs(np.array([0, 1]), np.array([1, 5]), rows=2)
    assert _rows(table) == [[1], [0, 5]]


def test_width_only_grows_and_is_bucketed():
    table = NeighborTable.from_hoomd(*_flat(FULL), half=False, width=64)
    assert table.width == 64
    assert bucket_width(0) == 8
    for k in (9, 50, 81, 300):
        assert k <= bucket_width(k) < k + 8
        assert bucket_width(k) % 8 == 0


def test_random_full_list_matches_brute_force(rng):
    n = 200
    pos = rng.uniform(0, 6, (n, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    neighbors = [np.flatnonzero((d[i] < 1.5) & (np.arange(n) != i)).tolist() for i in range(n)]
    table = NeighborTable.from_hoomd(*_flat(neighbors, gap=3), half=False)
    assert _rows(table) == neighbors
    half = [[j for j in row if j > i] for i, row in enumerate(neighbors)]
    assert _rows(NeighborTable.from_hoomd(*_flat(half), half=True)) == neighbors


@pytest.mark.parametrize("half", [True, False])
def test_empty_list(half):
    table = NeighborTable.from_hoomd(*_flat([[], []]), half=half)
    assert table.entries == 0
    assert table.counts.tolist() == [0, 0]
