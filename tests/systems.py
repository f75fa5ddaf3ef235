"""Small systems for tests: configurations, pair lists and a brute-force LJ reference."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from hoomd_mlx.coupling.force_matching import Frame
from hoomd_mlx.plugin.step import pack_postype
from hoomd_mlx.plugin.table import NeighborTable

SIGMA = {(0, 0): 1.0, (0, 1): 1.1, (1, 1): 1.3}
EPSILON = {(0, 0): 1.0, (0, 1): 0.8, (1, 1): 1.2}
LJ_PARAMS = {
    ("A", "A"): {"epsilon": 1.0, "sigma": 1.0},
    ("A", "B"): {"epsilon": 0.8, "sigma": 1.1},
    ("B", "B"): {"epsilon": 1.2, "sigma": 1.3},
}


def box_matrix(box):
    lx, ly, lz, xy, xz, yz = box
    return np.array([[lx, xy * ly, xz * lz], [0, ly, yz * lz], [0, 0, lz]])


def lattice_config(rng, n_side=6, spacing=1.5, box_tilts=(0.0, 0.0, 0.0), jitter=0.1):
    """Jittered cubic lattice in a (possibly triclinic) box, two types."""
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    frac = (grid + 0.5) / n_side - 0.5 + rng.normal(0, jitter / (n_side * spacing), grid.shape)
    L = n_side * spacing
    box = np.array([L, L, L, *box_tilts])
    pos = frac @ box_matrix(box).T
    types = (rng.random(len(pos)) < 0.4).astype(np.int32)
    return pos, types, box


def step_inputs(pos, types, box, r_cut, r_list=None, n_types=2, charges=None):
    """Inputs of the compiled step for a configuration: pairs (found with freud) and their table."""
    frame = Frame(pos, types, box, np.zeros_like(pos))
    pairs = frame.pairs(r_list or r_cut)
    table = NeighborTable.from_pairs(pairs.i[: pairs.count], pairs.j[: pairs.count], len(pos))
    return (
        tf.constant(pack_postype(pos, types)),
        tf.constant(box, tf.float64),
        tf.zeros([0], tf.float64) if charges is None else tf.constant(charges, tf.float64),
        tf.constant(pairs.i),
        tf.constant(pairs.j),
        tf.constant(pairs.count, tf.int32),
        tf.constant(table.neighbors),
        tf.constant(table.counts),
        tf.fill([n_types * n_types], tf.constant(r_cut**2, tf.float64)),
        tf.constant(n_types, tf.int32),
        tf.constant(r_cut, tf.float64),
        tf.constant(len(pos), tf.int32),
    )


def brute_force_lj(pos, types, box, r_cut):
    """Per-particle forces, energies and the total virial tensor by an O(N^2) loop."""
    h = box_matrix(box)
    hinv = np.linalg.inv(h)
    n = len(pos)
    forces = np.zeros((n, 3))
    energy = np.zeros(n)
    virial = np.zeros((3, 3))
    for i in range(n):
        d = pos - pos[i]
        s = d @ hinv.T
        s -= np.round(s)
        d = s @ h.T
        r2 = (d * d).sum(1)
        for j in np.flatnonzero((r2 < r_cut**2) & (np.arange(n) > i)):
            key = tuple(sorted((types[i], types[j])))
            s6 = (SIGMA[key] ** 2 / r2[j]) ** 3
            e = 4 * EPSILON[key] * (s6 * s6 - s6)
            f_over_r = 24 * EPSILON[key] * (2 * s6 * s6 - s6) / r2[j]  # force on j along d
            f_j = f_over_r * d[j]
            forces[j] += f_j
            forces[i] -= f_j
            energy[i] += e / 2
            energy[j] += e / 2
            virial += np.outer(d[j], f_j)
    return forces, energy, virial


def hoomd_lists(neighbors, gap=2):
    """HOOMD-style (head_list, n_neigh, nlist) with ``gap`` unused (garbage) slots after each row."""
    heads, flat = [], []
    for row in neighbors:
        heads.append(len(flat))
        flat.extend(list(row) + [999] * gap)
    n_neigh = np.array([len(r) for r in neighbors], dtype=np.uint32)
    return np.array(heads, dtype=np.uint64), n_neigh, np.array(flat, dtype=np.uint32)
