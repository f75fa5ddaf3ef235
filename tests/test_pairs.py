import numpy as np
import pytest
from systems import hoomd_lists as _flat

from hoomd_mlx.plugin.pairs import NeighborPairs, bucket_capacity


def test_half_list_pairs():
    head, nn, nl = _flat([[1, 2], [2], [], [0]])
    pairs = NeighborPairs.from_hoomd(head, nn, nl, half=True)
    assert pairs.count == 4
    got = sorted(zip(pairs.i[:4].tolist(), pairs.j[:4].tolist(), strict=True))
    assert got == [(0, 1), (0, 2), (1, 2), (3, 0)]
    assert pairs.capacity >= 64
    assert not pairs.i[4:].any()


def test_full_list_keeps_each_pair_once():
    head, nn, nl = _flat([[1, 2], [0, 2], [0, 1]])
    pairs = NeighborPairs.from_hoomd(head, nn, nl, half=False)
    got = sorted(zip(pairs.i[: pairs.count].tolist(), pairs.j[: pairs.count].tolist(), strict=True))
    assert got == [(0, 1), (0, 2), (1, 2)]


@pytest.mark.parametrize("n", [0, 1, 64, 65, 1000, 123457])
def test_bucket_capacity_holds_and_is_coarse(n):
    cap = bucket_capacity(n)
    assert cap >= n
    assert cap <= max(64, 1.25 * n + 64)


def test_capacity_only_grows():
    head, nn, nl = _flat([[1], []])
    pairs = NeighborPairs.from_hoomd(head, nn, nl, half=True, capacity=4096)
    assert pairs.capacity == 4096


def test_device_path_matches_host_path():
    """The searchsorted construction the GPU (CuPy) path uses gives the same pairs."""
    import types

    numpy_like = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("_")})
    head, nn, nl = _flat([[1, 2, 5], [], [3], [4, 5], [], [0]])
    for half in (True, False):
        host = NeighborPairs.from_hoomd(head, nn, nl, half=half)
        device = NeighborPairs.from_hoomd(head, nn, nl, half=half, xp=numpy_like)
        assert device.count == host.count
        np.testing.assert_array_equal(device.i, host.i)
        np.testing.assert_array_equal(device.j, host.j)
