r"""The compiled force step: tensors in, forces, energies and virials out.

Pure TensorFlow, no HOOMD: `TensorFlowForce` feeds it HOOMD's buffers and
copies its outputs back. Every step takes the same arguments (`STEP_SIGNATURE`)
and returns, laid out as HOOMD stores them:

* ``force_energy``: (R, 4) ``float64`` rows ``(fx, fy, fz, energy)`` -- the
  Scalar4 layout of HOOMD's force array, written back with one copy;
* ``virial``: (R, 6) ``float64`` per-particle virials ``(xx, xy, xz, yy, yz, zz)``
  ((0, 6) on steps without virials);
* ``finite``: scalar ``bool``, False when any output is NaN or infinite (checked
  on the host, so a bad model stops the run with a clear error).

Pair models run in one of two layouts (`LAYOUTS`):

* ``"dense"``: the model sees every entry of the (R, K) `NeighborTable`, each
  pair once from each side. Forces, energies and virials are reductions along
  the neighbor axis -- no scatter -- at the price of evaluating each pair
  twice. Fastest for cheap analytic models.
* ``"pairs"``: the model sees each pair once and the results are scattered onto
  both particles. Fastest when the model dominates the step (neural networks).

Pair terms split energy and virial equally between the two particles, as HOOMD's
own pair forces do. The virial of a pair is
:math:`W = -\vec r_{ij} \otimes \partial E / \partial \vec r_{ij}`, exact under
periodic boundaries for any box shape. Displacements are computed in ``float64``
and cast once to the model's dtype; results are returned in ``float64`` (the
per-particle sums over neighbors accumulate in the model's dtype, totals over
particles in ``float64``, by HOOMD).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from hoomd_mlx.plugin.contract import ManyBodyInputs

__all__ = ["LAYOUTS", "STEP_SIGNATURE", "make_step", "minimum_image", "pack_postype", "types_from_postype"]

LAYOUTS = ("dense", "pairs")
"""tuple[str, ...]: The layouts a pair model can run in."""

F64 = tf.float64

STEP_SIGNATURE = (
    tf.TensorSpec([None, 4], F64, name="postype"),
    tf.TensorSpec([6], F64, name="box"),
    tf.TensorSpec([None], F64, name="charges"),
    tf.TensorSpec([None], tf.int32, name="pair_i"),
    tf.TensorSpec([None], tf.int32, name="pair_j"),
    tf.TensorSpec([], tf.int32, name="n_pairs"),
    tf.TensorSpec([None, None], tf.int32, name="neighbors"),
    tf.TensorSpec([None], tf.int32, name="counts"),
    tf.TensorSpec([None], F64, name="rcut2"),
    tf.TensorSpec([], tf.int32, name="n_types"),
    tf.TensorSpec([], F64, name="r_fill"),
    tf.TensorSpec([], tf.int32, name="n_local"),
)
"""The arguments of every step: particles, pairs (pairs layout), table (dense), cutoffs.

``postype`` (N, 4) HOOMD Scalar4 records ``(x, y, z, type)``; ``box`` ``[Lx, Ly,
Lz, xy, xz, yz]``; ``charges`` (N,) (empty unless many-body); ``pair_i``,
``pair_j`` (P,) padded pairs of which the first ``n_pairs`` are real;
``neighbors`` (R, K) and ``counts`` (R,) the `NeighborTable`; ``rcut2`` (T*T,)
squared cutoffs by ``type_i * T + type_j``; ``r_fill`` the filler length;
``n_local`` the particles whose energies count (the rank's own; all on one rank).
"""


def minimum_image(d: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
    r"""Wrap displacements into the periodic box (HOOMD's ``BoxDim::minImage``).

    Args:
        d: (..., 3) displacements :math:`[\mathrm{length}]`.
        box: (6,) ``[Lx, Ly, Lz, xy, xz, yz]``; ``Lz = 0`` means a 2D box.

    Returns:
        (..., 3) minimum-image displacements, in ``d``'s dtype.
    """
    box = tf.cast(box, d.dtype)
    lx, ly, lz, xy, xz, yz = tf.unstack(box)
    dx, dy, dz = tf.unstack(d, axis=-1)
    is_3d = lz > 0
    img = tf.where(is_3d, tf.round(dz * (1.0 / tf.where(is_3d, lz, 1.0))), 0.0)
    dz = dz - lz * img
    dy = dy - lz * yz * img
    dx = dx - lz * xz * img
    img = tf.round(dy * (1.0 / ly))
    dy = dy - ly * img
    dx = dx - ly * xy * img
    dx = dx - lx * tf.round(dx * (1.0 / lx))
    return tf.stack([dx, dy, dz], axis=-1)


def types_from_postype(postype: tf.Tensor) -> tf.Tensor:
    """(N,) ``int32`` type ids stored in the 4th column of HOOMD's Scalar4 records.

    HOOMD writes the integer type into the low bytes of the 4th scalar
    (``__int_as_scalar``); this reads it back without touching the particle
    data's typeid view.
    """
    bits = tf.bitcast(postype[:, 3], tf.int32)
    return bits[:, 0] if postype.dtype == tf.float64 else bits


def pack_postype(positions: np.ndarray, types: np.ndarray) -> np.ndarray:
    """(N, 4) ``float64`` records ``(x, y, z, type)`` laid out as HOOMD stores them."""
    postype = np.zeros((positions.shape[0], 4), dtype=np.float64)
    postype[:, :3] = positions
    # HOOMD's __int_as_scalar: the int in the low bytes, the rest zero (little-endian).
    postype[:, 3] = np.asarray(types, dtype=np.int64).view(np.float64)
    return postype


def _virial_terms(d: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """(..., 6) ``-d (x) g`` in HOOMD's component order ``xx, xy, xz, yy, yz, zz``."""
    dx, dy, dz = tf.unstack(d, axis=-1)
    gx, gy, gz = tf.unstack(g, axis=-1)
    return -tf.stack([dx * gx, dx * gy, dx * gz, dy * gy, dy * gz, dz * gz], axis=-1)


def _filler(r_fill: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    r_fill = tf.cast(r_fill, dtype)
    return tf.stack([r_fill, tf.zeros_like(r_fill), tf.zeros_like(r_fill)])


# -- the pair list (each pair once) ---------------------------------------------------


def _pair_geometry(postype, box, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill, dtype):
    rec_i = tf.gather(postype, pair_i)
    rec_j = tf.gather(postype, pair_j)
    d = minimum_image(rec_j[:, :3] - rec_i[:, :3], box)
    t_i = types_from_postype(rec_i)
    t_j = types_from_postype(rec_j)
    r2 = tf.reduce_sum(d * d, axis=1)
    cutoff2 = tf.gather(rcut2, t_i * n_types + t_j)
    real = tf.range(tf.shape(pair_i)[0]) < n_pairs
    mask = tf.logical_and(real, r2 < cutoff2)
    d_model = tf.cast(tf.where(mask[:, None], d, _filler(r_fill, F64)[None, :]), dtype)
    return d, d_model, t_i, t_j, mask


def _scatter_pairs(d, g, e_pair, pair_i, pair_j, n, virial):
    """Sum pair forces and half energies (and half virials) onto both particles.

    Returns (n, 4) ``(force, energy)`` rows and (n, 6) virials, or None without ``virial``.
    """
    half_e = 0.5 * e_pair[:, None]
    index = tf.concat([pair_i, pair_j], axis=0)
    w = [0.5 * _virial_terms(d, g)] if virial else []
    rows = tf.concat([tf.concat([g, half_e, *w], axis=1), tf.concat([-g, half_e, *w], axis=1)], axis=0)
    acc = tf.math.unsorted_segment_sum(rows, index, n)
    return (acc[:, :4], acc[:, 4:]) if virial else (acc, None)


# -- the neighbor table (each pair from both sides) -----------------------------------


def _table_geometry(postype, box, neighbors, counts, rcut2, n_types, r_fill, dtype):
    """Displacements (R, K, 3) from each row particle to its neighbors, and the mask."""
    rows = tf.shape(neighbors)[0]
    width = tf.shape(neighbors)[1]
    types = types_from_postype(postype)
    pos = postype[:, :3]
    # Differences in float64 whatever the model's dtype: float32 positions far from the origin
    # would lose digits of the displacement (4e-6 at |x| = 32).
    d = minimum_image(tf.gather(pos, neighbors) - pos[:rows, None, :], box)
    t_i = tf.broadcast_to(types[:rows, None], [rows, width])
    t_j = tf.gather(types, neighbors)
    r2 = tf.reduce_sum(d * d, axis=-1)
    cutoff2 = tf.gather(rcut2, t_i * n_types + t_j)
    valid = tf.range(width)[None, :] < counts[:, None]
    mask = tf.logical_and(valid, r2 < cutoff2)
    d_model = tf.cast(tf.where(mask[..., None], d, _filler(r_fill, F64)), dtype)
    return d_model, t_i, t_j, mask


def _row_sums(channels: tf.Tensor) -> tf.Tensor:
    """(R, C) sums along the neighbor axis of (R, K, C) per-entry channels.

    Written as a contraction with a vector of ones: XLA's CPU backend turns a plain
    ``reduce_sum`` over the middle axis into a slow windowed reduction, while a dot
    runs in its vectorised, multi-threaded matrix kernels.
    """
    ones = tf.ones(tf.shape(channels)[1:2], channels.dtype)
    return tf.einsum("rkc,k->rc", channels, ones)


def _dense_pair_step(model, dtype, virial, postype, box, neighbors, counts, rcut2, n_types, r_fill):
    d, t_i, t_j, mask = _table_geometry(postype, box, neighbors, counts, rcut2, n_types, r_fill, dtype)
    shape = tf.shape(mask)
    with tf.GradientTape() as tape:
        tape.watch(d)
        e = model(tf.reshape(d, [-1, 3]), tf.reshape(t_i, [-1]), tf.reshape(t_j, [-1]))
        e = tf.where(mask, tf.reshape(e, shape), tf.zeros((), dtype))
    g = tape.gradient(e, d, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    # E = 1/2 sum over entries; for a symmetric pair energy, F_i = sum_k dE_ik/dr_ik.
    gx, gy, gz = tf.unstack(g, axis=-1)
    channels = [gx, gy, gz, e]
    scale = [1.0, 1.0, 1.0, 0.5]
    if virial:  # -1/2 sum_k d (x) g, HOOMD's order xx, xy, xz, yy, yz, zz
        dx, dy, dz = tf.unstack(d, axis=-1)
        channels += [dx * gx, dx * gy, dx * gz, dy * gy, dy * gz, dz * gz]
        scale += [-0.5] * 6
    # One stack of scalar channels, fused by XLA into the contraction.
    sums = tf.cast(_row_sums(tf.stack(channels, axis=-1)), F64) * tf.constant(scale, F64)
    return (sums[:, :4], sums[:, 4:]) if virial else (sums, None)


def _sparse_pair_step(model, dtype, virial, postype, box, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill):
    d, d_model, t_i, t_j, mask = _pair_geometry(
        postype, box, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill, dtype
    )
    with tf.GradientTape() as tape:
        tape.watch(d_model)
        e_pair = tf.where(mask, model(d_model, t_i, t_j), tf.zeros((), dtype))
    g = tf.cast(tape.gradient(e_pair, d_model, unconnected_gradients=tf.UnconnectedGradients.ZERO), F64)
    n = tf.shape(postype)[0]
    return _scatter_pairs(d, g, tf.cast(e_pair, F64), pair_i, pair_j, n, virial)


def _many_body_step(model, dtype, virial, args, rank_sum):
    postype, box, charges, pair_i, pair_j, n_pairs, neighbors, counts, rcut2, n_types, r_fill, n_local = args
    n = tf.shape(postype)[0]
    local = tf.range(n) < n_local
    pos = postype[:, :3]
    d, d_pairs, _, _, pair_mask = _pair_geometry(
        postype, box, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill, dtype
    )
    d_table, _, _, table_mask = _table_geometry(
        postype, box, neighbors, counts, rcut2, n_types, r_fill, dtype
    )
    pos_model = tf.cast(pos, dtype)
    with tf.GradientTape() as tape:
        tape.watch([pos_model, d_pairs, d_table])
        inputs = ManyBodyInputs(
            positions=pos_model,
            types=types_from_postype(postype),
            box=tf.cast(box, dtype),
            charges=tf.cast(charges, dtype),
            pair_i=pair_i,
            pair_j=pair_j,
            r_ij=d_pairs,
            pair_mask=pair_mask,
            neighbors=neighbors,
            neighbor_mask=table_mask,
            r_neighbors=d_table,
            n_local=n_local,
            rank_sum=rank_sum,
        )
        energies = model(inputs)  # (M,), or fewer rows (one per neighbor-table row): padded
        energies = tf.pad(energies, [[0, n - tf.shape(energies)[0]]])
        energies = tf.where(local, energies, tf.zeros((), dtype))
        total = tf.reduce_sum(energies)
    g_pos, g_pairs, g_table = tape.gradient(total, [pos_model, d_pairs, d_table])
    # Unused inputs have no gradient; their branches are left out of the graph at trace time.
    force = tf.zeros([n, 3], F64)
    virials = tf.zeros([n, 6], F64) if virial else None
    if g_pairs is not None:
        g = tf.cast(tf.where(pair_mask[:, None], g_pairs, tf.zeros((), dtype)), F64)
        part, w = _scatter_pairs(d, g, tf.zeros_like(g[:, 0]), pair_i, pair_j, n, virial)
        force += part[:, :3]
        if virial:
            virials += w
    if g_table is not None:
        g = tf.cast(tf.where(table_mask[..., None], g_table, tf.zeros((), dtype)), F64)
        d64 = tf.cast(d_table, F64)
        rows = tf.shape(neighbors)[0]
        column = tf.concat([-g, 0.5 * _virial_terms(d64, g)] if virial else [-g], axis=-1)
        width = 9 if virial else 3
        on_columns = tf.math.unsorted_segment_sum(
            tf.reshape(column, [-1, width]), tf.reshape(neighbors, [-1]), n
        )
        on_rows = tf.pad(
            tf.reduce_sum(column, axis=1) * tf.constant([-1.0] * 3 + [1.0] * (width - 3), F64),
            [[0, n - rows], [0, 0]],
        )
        acc = on_columns + on_rows
        force += acc[:, :3]
        if virial:
            virials += acc[:, 3:]
    if g_pos is not None:
        g_pos = tf.cast(g_pos, F64)
        force -= g_pos
        if virial:
            virials += _virial_terms(pos, g_pos)
    return tf.concat([force, tf.cast(energies, F64)[:, None]], axis=1), virials


def make_step(
    model: Callable,
    *,
    many_body: bool,
    dtype: tf.DType = tf.float64,
    jit_compile: bool = True,
    virial: bool = True,
    layout: str = "dense",
    rank_sum: Callable | None = None,
) -> tf.types.experimental.GenericFunction:
    """Compile the force step for ``model``.

    Args:
        model: A `PairModel` or, with ``many_body=True``, a `ManyBodyModel`.
        many_body: Whether ``model`` is a many-body model (it sees both the pair
            list and the neighbor table; ``layout`` is ignored).
        dtype: The dtype the model computes in; HOOMD's data stays ``float64`` and
            results are returned in ``float64``.
        jit_compile: Compile the step with XLA.
        virial: Compute per-particle virials; without, ``virial`` is returned as a
            (0, 6) tensor. HOOMD needs virials only on steps that compute pressure.
        layout: ``"dense"`` (neighbor table, reductions) or ``"pairs"`` (pair
            list, scatter), for pair models.
        rank_sum: Under MPI, the `hoomd_mlx.plugin.ranks.RankSum` behind
            `ManyBodyInputs.total` (many-body models); None on one rank.

    Returns:
        A `tf.function` taking `STEP_SIGNATURE` and returning ``(force_energy,
        virial, finite)``, with dynamic shapes, so it is traced once; XLA compiles
        once per distinct set of shapes (pair capacity, table width).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")

    def step(
        postype, box, charges, pair_i, pair_j, n_pairs, neighbors, counts, rcut2, n_types, r_fill, n_local
    ):
        if many_body:
            args = (postype, box, charges, pair_i, pair_j, n_pairs, neighbors, counts, rcut2, n_types, r_fill)
            if rank_sum is not None:
                rank_sum.begin_trace()
            force_energy, virials = _many_body_step(model, dtype, virial, (*args, n_local), rank_sum)
        elif layout == "dense":
            force_energy, virials = _dense_pair_step(
                model, dtype, virial, postype, box, neighbors, counts, rcut2, n_types, r_fill
            )
        else:
            force_energy, virials = _sparse_pair_step(
                model, dtype, virial, postype, box, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill
            )
        if virials is None:
            virials = tf.zeros([0, 6], F64)
        finite = tf.logical_and(
            tf.reduce_all(tf.math.is_finite(force_energy)), tf.reduce_all(tf.math.is_finite(virials))
        )
        return force_energy, virials, finite

    return tf.function(step, input_signature=STEP_SIGNATURE, jit_compile=jit_compile, reduce_retracing=True)
