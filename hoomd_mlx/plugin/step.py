r"""The compiled force step: tensors in, forces, energies and virials out.

Pure TensorFlow, no HOOMD: `TensorFlowForce` feeds it HOOMD's buffers and
copies its outputs back. The outputs are laid out as HOOMD stores them:

* ``force_energy``: (N, 4) ``float64`` rows ``(fx, fy, fz, energy)`` -- the
  Scalar4 layout of HOOMD's force array, written back with one copy;
* ``virial``: (N, 6) ``float64`` per-particle virials ``(xx, xy, xz, yy, yz, zz)``;
* ``finite``: scalar ``bool``, False when any output is NaN or infinite (checked
  on the host, so a bad model stops the run with a clear error).

Pair terms split energy and virial equally between the two particles, as HOOMD's
own pair forces do. The virial of a pair is
:math:`W = -\vec r_{ij} \otimes \partial E / \partial \vec r_{ij}`, exact under
periodic boundaries for any box shape.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from hoomd_mlx.plugin.contract import ManyBodyInputs

__all__ = ["make_step", "minimum_image", "pack_postype", "types_from_postype"]


def minimum_image(d: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
    r"""Wrap displacements into the periodic box (HOOMD's ``BoxDim::minImage``).

    Args:
        d: (P, 3) displacements :math:`[\mathrm{length}]`.
        box: (6,) ``[Lx, Ly, Lz, xy, xz, yz]``; ``Lz = 0`` means a 2D box.

    Returns:
        (P, 3) minimum-image displacements.
    """
    lx, ly, lz, xy, xz, yz = tf.unstack(box)
    dx, dy, dz = tf.unstack(d, axis=1)
    is_3d = lz > 0
    img = tf.where(is_3d, tf.round(dz / tf.where(is_3d, lz, 1.0)), 0.0)
    dz = dz - lz * img
    dy = dy - lz * yz * img
    dx = dx - lz * xz * img
    img = tf.round(dy / ly)
    dy = dy - ly * img
    dx = dx - ly * xy * img
    dx = dx - lx * tf.round(dx / lx)
    return tf.stack([dx, dy, dz], axis=1)


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


def _pair_geometry(postype, box, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill):
    pos = postype[:, :3]
    types = types_from_postype(postype)
    rec_i = tf.gather(postype, pair_i)
    rec_j = tf.gather(postype, pair_j)
    d = minimum_image(rec_j[:, :3] - rec_i[:, :3], box)
    t_i = types_from_postype(rec_i)
    t_j = types_from_postype(rec_j)
    r2 = tf.reduce_sum(d * d, axis=1)
    cutoff2 = tf.gather(rcut2, t_i * n_types + t_j)
    real = tf.range(tf.shape(pair_i)[0]) < n_pairs
    mask = tf.logical_and(real, r2 < cutoff2)
    filler = tf.stack([r_fill, tf.zeros_like(r_fill), tf.zeros_like(r_fill)])
    d_model = tf.where(mask[:, None], d, filler[None, :])
    return pos, types, d, d_model, t_i, t_j, mask


def _pair_virial(d: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """(P, 6) half of each pair's virial -r (x) dE/dr, in HOOMD's component order."""
    dx, dy, dz = tf.unstack(d, axis=1)
    gx, gy, gz = tf.unstack(g, axis=1)
    return -0.5 * tf.stack([dx * gx, dx * gy, dx * gz, dy * gy, dy * gz, dz * gz], axis=1)


def _scatter_pairs(d, g, e_pair, pair_i, pair_j, n, virial):
    """Sum pair forces and half energies (and half virials) onto both particles.

    Returns (N, 4) ``(force, energy)`` rows and (N, 6) virials, or None without ``virial``.
    """
    half_e = 0.5 * e_pair[:, None]
    index = tf.concat([pair_i, pair_j], axis=0)
    w = [_pair_virial(d, g)] if virial else []
    rows = tf.concat([tf.concat([g, half_e, *w], axis=1), tf.concat([-g, half_e, *w], axis=1)], axis=0)
    acc = tf.math.unsorted_segment_sum(rows, index, n)
    return (acc[:, :4], acc[:, 4:]) if virial else (acc, None)


def make_step(
    model: Callable,
    *,
    many_body: bool,
    dtype: tf.DType = tf.float64,
    jit_compile: bool = True,
    virial: bool = True,
) -> tf.types.experimental.GenericFunction:
    """Compile the force step for ``model``.

    Args:
        model: A `PairModel` or, with ``many_body=True``, a `ManyBodyModel`.
        many_body: Whether ``model`` is a many-body model.
        dtype: The dtype the model computes in; HOOMD's data stays ``float64`` and
            results are accumulated in ``float64``.
        jit_compile: Compile the step with XLA.
        virial: Compute per-particle virials; without, ``virial`` is returned as a
            (0, 6) tensor. HOOMD needs virials only on steps that compute pressure.

    Returns:
        A `tf.function` ``step(postype, box, charges, pair_i, pair_j, n_pairs, rcut2,
        n_types, r_fill) -> (force_energy, virial, finite)`` with dynamic shapes, so
        it is traced once; XLA compiles once per distinct pair capacity.
    """
    f64 = tf.float64

    def step(postype, box, charges, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill):
        n = tf.shape(postype)[0]
        pos, types, d, d_model, t_i, t_j, mask = _pair_geometry(
            postype, box, pair_i, pair_j, n_pairs, rcut2, n_types, r_fill
        )
        d_model = tf.cast(d_model, dtype)
        if not many_body:
            with tf.GradientTape() as tape:
                tape.watch(d_model)
                e_pair = tf.where(mask, model(d_model, t_i, t_j), tf.zeros((), dtype))
            g = tf.cast(tape.gradient(e_pair, d_model), f64)
            force_energy, virials = _scatter_pairs(d, g, tf.cast(e_pair, f64), pair_i, pair_j, n, virial)
        else:
            pos_model = tf.cast(pos, dtype)
            with tf.GradientTape() as tape:
                tape.watch([pos_model, d_model])
                inputs = ManyBodyInputs(
                    positions=pos_model,
                    types=types,
                    box=tf.cast(box, dtype),
                    charges=tf.cast(charges, dtype),
                    pair_i=pair_i,
                    pair_j=pair_j,
                    r_ij=d_model,
                    pair_mask=mask,
                )
                energies = model(inputs)
                total = tf.reduce_sum(energies)
            g_pos, g_pair = tape.gradient(
                total, [pos_model, d_model], unconnected_gradients=tf.UnconnectedGradients.ZERO
            )
            g_pos = tf.cast(g_pos, f64)
            g_pair = tf.cast(tf.where(mask[:, None], g_pair, tf.zeros((), dtype)), f64)
            zero_e = tf.zeros_like(g_pair[:, 0])
            pair_part, virials = _scatter_pairs(d, g_pair, zero_e, pair_i, pair_j, n, virial)
            force_energy = tf.concat([pair_part[:, :3] - g_pos, tf.cast(energies, f64)[:, None]], axis=1)
            if virial:
                px, py, pz = tf.unstack(pos, axis=1)
                gx, gy, gz = tf.unstack(g_pos, axis=1)
                virials += -tf.stack([px * gx, px * gy, px * gz, py * gy, py * gz, pz * gz], axis=1)
        if virials is None:
            virials = tf.zeros([0, 6], f64)
        finite = tf.logical_and(
            tf.reduce_all(tf.math.is_finite(force_energy)), tf.reduce_all(tf.math.is_finite(virials))
        )
        return force_energy, virials, finite

    signature = [
        tf.TensorSpec([None, 4], f64, name="postype"),
        tf.TensorSpec([6], f64, name="box"),
        tf.TensorSpec([None], f64, name="charges"),
        tf.TensorSpec([None], tf.int32, name="pair_i"),
        tf.TensorSpec([None], tf.int32, name="pair_j"),
        tf.TensorSpec([], tf.int32, name="n_pairs"),
        tf.TensorSpec([None], f64, name="rcut2"),
        tf.TensorSpec([], tf.int32, name="n_types"),
        tf.TensorSpec([], f64, name="r_fill"),
    ]
    return tf.function(step, input_signature=signature, jit_compile=jit_compile, reduce_retracing=True)
