r"""The force steps' TensorFlow parts: pure TensorFlow, no HOOMD.

Two kinds of function:

* **model steps** of the split path (`make_pair_model_step`,
  `make_local_model_step`): displacements in, energies and their gradients out;
  compiled kernels (`hoomd_mlx.plugin.kernels`) do the geometry and the
  accumulation around them;
* **whole steps** (`make_step`): positions, pairs and the neighbor table in,
  forces, energies and virials out, with the geometry and the scatter in
  TensorFlow. Many-body models that read absolute positions or take totals over
  the system (`ManyBodyInputs`) run here on any device, and pair models on the
  GPU, where XLA's gathers and scatters are fast.

Whole steps take the same arguments (`STEP_SIGNATURE`) and return, laid out as
HOOMD stores them:

* ``force_energy``: (R, 4) ``float64`` rows ``(fx, fy, fz, energy)`` -- the
  Scalar4 layout of HOOMD's force array, written back with one copy;
* ``virial``: (R, 6) ``float64`` per-particle virials ``(xx, xy, xz, yy, yz, zz)``
  ((0, 6) on steps without virials);
* ``finite``: scalar ``bool``, False when any output is NaN or infinite (checked
  on the host, so a bad model stops the run with a clear error).

Pair terms split energy and virial equally between the two particles, as HOOMD's
own pair forces do. The virial of a pair is
:math:`W = -\vec r_{ij} \otimes \partial E / \partial \vec r_{ij}`, exact under
periodic boundaries for any box shape. Displacements are computed in ``float64``
and cast once to the model's dtype; results are returned in ``float64``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import ModelOutputError
from hoomd_mlx.plugin.contract import ManyBodyInputs

logger = logging.getLogger(__name__)

__all__ = [
    "STEP_SIGNATURE",
    "CompiledStep",
    "make_local_model_step",
    "make_pair_model_step",
    "make_step",
    "minimum_image",
    "pack_postype",
    "types_from_postype",
]

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
"""The arguments of every whole step: particles, pairs, the neighbor table (many-body), cutoffs.

``postype`` (N, 4) HOOMD Scalar4 records ``(x, y, z, type)``; ``box`` ``[Lx, Ly,
Lz, xy, xz, yz]``; ``charges`` (N,) (empty unless many-body); ``pair_i``,
``pair_j`` (P,) padded pairs of which the first ``n_pairs`` are real;
``neighbors`` (R, K) and ``counts`` (R,) the `NeighborTable` (many-body models); ``rcut2`` (T*T,)
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


class CompiledStep:
    """A step function compiled on first call; with ``jit_compile="auto"`` XLA falls back to a plain graph.

    Args:
        make: ``make(jit)`` returns the `tf.function` (with an input signature) for XLA or not.
        jit_compile: ``True``, ``False`` or ``"auto"``: try XLA and, only where XLA cannot compile
            the model, run a plain graph with a warning. A model that fails either way raises
            `hoomd_mlx.errors.ModelOutputError` with TensorFlow's message.
        explain: Returns why XLA cannot compile the step when that is known (e.g. it calls
            MPI): added to the error with ``jit_compile=True``; with ``"auto"`` the fallback
            is then logged as information rather than a warning. ``""`` when not known.

    Calls skip TensorFlow's argument binding (the concrete function's flat entry point,
    where this TensorFlow has it): a fixed cost that small systems feel on every step.
    """

    def __init__(
        self, make: Callable[[bool], Any], jit_compile: bool | str, explain: Callable[[], str] = str
    ) -> None:
        self._make = make
        self._jit = jit_compile
        self._explain = explain
        self._call: Callable | None = None
        self.xla = bool(jit_compile)

    @staticmethod
    def _flat(function: Any) -> Callable:
        concrete = function.get_concrete_function()
        flat = getattr(concrete, "_call_flat", None)
        captured = getattr(concrete, "captured_inputs", None)
        if flat is None or captured is None:
            return concrete
        return lambda *args: flat(list(args), captured)

    def __call__(self, *args: tf.Tensor) -> Any:
        """Run the step (compiling it on the first call)."""
        if self._call is not None:
            return self._call(*args)
        call = self._flat(self._make(bool(self._jit)))
        try:
            out = call(*args)
        except tf.errors.OpError as err:
            if self._jit != "auto":
                why = self._explain()
                raise ModelOutputError(
                    f"the model failed in the compiled force step{f' ({why})' if why else ''}: {err.message}"
                ) from err
            call = self._flat(self._make(False))
            try:
                out = call(*args)
            except tf.errors.OpError as plain_err:
                raise ModelOutputError(
                    f"the model failed in the force step: {plain_err.message}"
                ) from plain_err
            why = self._explain()
            if why:
                logger.info("%s: running the step without XLA", why)
            else:
                logger.warning("XLA cannot compile this model (%s); running it without XLA", err.message)
            self.xla = False
        self._call = call
        return out


def make_pair_model_step(model: Callable, dtype: tf.DType, jit_compile: bool) -> Callable:
    """The model's part of a split pair step: displacements in, gradients and energies out.

    Returns:
        A `tf.function` ``(d (C, 3), type_i (C,), type_j (C,)) -> (C, 4)`` whose rows are
        ``(dE/dd_x, dE/dd_y, dE/dd_z, e)`` for each pair, in the model's dtype (one output
        tensor: one hand-off to the accumulation kernel). Every row is evaluated; rows
        past the real pairs are ignored by the caller.
    """

    def step(d: tf.Tensor, type_i: tf.Tensor, type_j: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(d)
            e = model(d, type_i, type_j)
        g = tape.gradient(e, d, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return tf.concat([g, e[:, None]], axis=1)

    signature = (
        tf.TensorSpec([None, 3], dtype, name="d"),
        tf.TensorSpec([None], tf.int32, name="type_i"),
        tf.TensorSpec([None], tf.int32, name="type_j"),
    )
    return tf.function(step, input_signature=signature, jit_compile=jit_compile, reduce_retracing=True)


def make_local_model_step(model: Callable, dtype: tf.DType, jit_compile: bool) -> Callable:
    """The model's part of a split local many-body step: the neighbor table in, energies and gradients out.

    Returns:
        A `tf.function` ``(r (R, K, 3), type_i (R,), type_k (R, K), mask (R, K)) ->
        (energies (R,), dE/dr (R, K, 3))`` in the model's dtype.
    """

    def step(
        r: tf.Tensor, type_i: tf.Tensor, type_k: tf.Tensor, mask: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(r)
            e = model(r, type_i, type_k, mask)
        g = tape.gradient(e, r, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return e, g

    signature = (
        tf.TensorSpec([None, None, 3], dtype, name="r"),
        tf.TensorSpec([None], tf.int32, name="type_i"),
        tf.TensorSpec([None, None], tf.int32, name="type_k"),
        tf.TensorSpec([None, None], tf.bool, name="mask"),
    )
    return tf.function(step, input_signature=signature, jit_compile=jit_compile, reduce_retracing=True)


def make_step(
    model: Callable,
    *,
    many_body: bool,
    dtype: tf.DType = tf.float64,
    jit_compile: bool = True,
    virial: bool = True,
    rank_sum: Callable | None = None,
) -> tf.types.experimental.GenericFunction:
    """Compile a whole force step for ``model``.

    Args:
        model: A `ManyBodyModel` (``many_body=True``: it sees the pair list and the
            neighbor table) or a `PairModel` (it sees each pair once; the results are
            scattered onto both particles).
        many_body: Whether ``model`` is a many-body model.
        dtype: The dtype the model computes in; HOOMD's data stays ``float64`` and
            results are returned in ``float64``.
        jit_compile: Compile the step with XLA.
        virial: Compute per-particle virials; without, ``virial`` is returned as a
            (0, 6) tensor. HOOMD needs virials only on steps that compute pressure.
        rank_sum: Under MPI, the `hoomd_mlx.plugin.ranks.RankSum` behind
            `ManyBodyInputs.total` (many-body models); None on one rank.

    Returns:
        A `tf.function` taking `STEP_SIGNATURE` and returning ``(force_energy,
        virial, finite)``, with dynamic shapes, so it is traced once; XLA compiles
        once per distinct set of shapes (pair capacity, table width).
    """

    def step(
        postype, box, charges, pair_i, pair_j, n_pairs, neighbors, counts, rcut2, n_types, r_fill, n_local
    ):
        if many_body:
            args = (postype, box, charges, pair_i, pair_j, n_pairs, neighbors, counts, rcut2, n_types, r_fill)
            if rank_sum is not None:
                rank_sum.begin_trace()
            force_energy, virials = _many_body_step(model, dtype, virial, (*args, n_local), rank_sum)
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
