"""The model contract: what a model given to `TensorFlowForce` receives and returns.

Three kinds of model are supported (`KINDS`), each a plain callable of
TensorFlow ops: a Python function, a `tf.Module` or a Keras model.

* ``"pair"`` (`PairModel`): pair energies from displacement vectors;
* ``"local"`` (`LocalModel`): per-particle energies from each particle's
  neighbors within the cutoff (descriptor-based ML potentials, three-body terms);
* ``"many-body"`` (`ManyBodyModel`): per-particle energies from anything in
  `ManyBodyInputs`, absolute positions and totals over the system included.

On the CPU the first two run on the split step: compiled kernels build the
displacements and add forces and virials, and the model does only its own
math. The third runs as one TensorFlow step. Forces are never computed by the
model: `TensorFlowForce` differentiates the returned energy with
`tf.GradientTape`, so forces are always conservative.

Units are HOOMD's: whatever [length] and [energy] the simulation uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import ModelOutputError

__all__ = [
    "KINDS",
    "LocalModel",
    "ManyBodyInputs",
    "ManyBodyModel",
    "PairModel",
    "check_local_output",
    "check_many_body_output",
    "check_pair_output",
    "check_pair_symmetry",
    "local_as_many_body",
]

KINDS = ("pair", "local", "many-body")
"""tuple[str, ...]: The kinds of model `TensorFlowForce` runs (its ``kind`` argument)."""


@runtime_checkable
class PairModel(Protocol):
    r"""A pair potential: energy of each neighbor pair from its displacement.

    ``model(r_ij, type_i, type_j) -> e_ij``

    Args:
        r_ij: (P, 3) tensor of the model's dtype (``float64`` unless the force was
            built with ``dtype="float32"``): minimum-image displacement vectors
            :math:`\vec r_j - \vec r_i` :math:`[\mathrm{length}]`. Every pair closer
            than its type pair's ``r_cut`` is present once. ``P`` is padded (buffers
            that grow by buckets, so XLA compiles once per bucket): rows past the
            real pairs hold other displacements (a pair from an earlier step, a
            candidate beyond the cutoff, or the filler :math:`(r_\mathrm{cut}, 0, 0)`)
            and their energies and gradients are discarded. Each row's energy must
            depend on that row only.
        type_i: (P,) ``int32`` HOOMD type ids of the first particle of each pair.
        type_j: (P,) ``int32`` HOOMD type ids of the second particle.

    Returns:
        (P,) tensor of pair energies :math:`[\mathrm{energy}]`, floating point.

    A pair energy must not depend on which particle comes first:
    ``e(r_ij, a, b) == e(-r_ij, b, a)``. `TensorFlowForce` checks this at attach
    and refuses a model that breaks it (`check_pair_symmetry`).
    """

    def __call__(self, r_ij: tf.Tensor, type_i: tf.Tensor, type_j: tf.Tensor) -> tf.Tensor:
        """Return the (P,) pair energies."""
        ...


@runtime_checkable
class LocalModel(Protocol):
    r"""A local many-body potential: each particle's energy from its neighbors within the cutoff.

    ``model(r_ik, type_i, type_k, mask) -> e_i``

    Args:
        r_ik: (R, K, 3) tensor of the model's dtype: minimum-image displacements
            :math:`\vec r_k - \vec r_i` :math:`[\mathrm{length}]` from particle ``i`` (row)
            to each neighbor ``k`` closer than the cutoff of their type pair, in
            neighbor-list order (no order is promised). Slots past a row's
            neighbors hold the filler :math:`(r_\mathrm{cut}, 0, 0)`; ``K`` is padded (in
            steps of 8, only growing) so the compiled step is rarely retraced.
        type_i: (R,) ``int32`` HOOMD type ids of the row particles.
        type_k: (R, K) ``int32`` type ids of the neighbors (the row's own type in
            filler slots).
        mask: (R, K) ``bool``, True for real neighbors. The model must give filler
            slots no weight (and return finite values there).

    Returns:
        (R,) per-particle energies :math:`[\mathrm{energy}]`; the total is their sum.
        Row ``i``'s energy must depend on row ``i``'s inputs only (no batch
        statistics across rows): forces come from the gradient of the sum.

    The model's range is the force's ``r_cut``: it sees nothing beyond. A model that
    declares a range of its own (an attribute ``cutoff`` :math:`[\mathrm{length}]`,
    such as a trained potential) is refused at attach when ``r_cut`` is shorter.
    Forces on each neighbor are :math:`-\partial E/\partial \vec r_{ik}`, added by the
    engine (to ghosts under MPI, then sent to the ranks that own them), so a local
    model is exact under domain decomposition with no more ghosts than ``r_cut``.
    """

    def __call__(self, r_ik: tf.Tensor, type_i: tf.Tensor, type_k: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """Return the (R,) per-particle energies."""
        ...


@dataclass(frozen=True)
class ManyBodyInputs:
    r"""What a many-body model receives.

    On one rank the particles are the whole system (``M = N``). Under MPI domain
    decomposition they are the rank's own particles (the first ``n_local``), then
    the ghosts HOOMD keeps near its domain, then padding (``M`` only grows, so the
    compiled step keeps its shapes). See `ManyBodyModel` for what that asks of a
    model.

    Attributes:
        positions: (M, 3) particle positions :math:`[\mathrm{length}]`, in the
            model's dtype. Energy terms that depend on absolute positions (walls,
            fields, slab corrections) belong to non-periodic directions; their
            virial is taken as :math:`-\sum_i \vec r_i \otimes \partial E/\partial \vec r_i`.
            Under MPI, along a direction the domains split HOOMD wraps a particle
            that left the box only when it next migrates particles (at a
            neighbor-list build), so such terms belong to a direction the domains
            do not split (a slab's z: ``domain_decomposition=(None, None, 1)``).
        types: (M,) ``int32`` type ids.
        box: (6,) ``[Lx, Ly, Lz, xy, xz, yz]`` :math:`[\mathrm{length}]` (tilts
            dimensionless), HOOMD's convention: the global box.
        charges: (M,) particle charges :math:`[\mathrm{charge}]`, ghosts included.
        pair_i: (P,) ``int32`` index of the first particle of each pair.
        pair_j: (P,) ``int32`` index of the second particle of each pair.
        r_ij: (P, 3) minimum-image displacements :math:`\vec r_j - \vec r_i`
            :math:`[\mathrm{length}]`, with the same padding as for `PairModel`.
            Under MPI, ``pair_i`` is a local particle and ``pair_j`` local or a
            ghost; pairs of two ghosts are not listed.
        pair_mask: (P,) ``bool``, True for real pairs within ``r_cut``. Models
            must ignore pairs where it is False.
        neighbors: (R, K) ``int32`` neighbor table: row ``i`` lists the indices
            of every neighbor of particle ``i`` (each pair appears in both rows;
            R >= ``n_local`` rows, the rows past ``n_local`` empty). Entries past
            a row's neighbor count hold ``i``. Empty (R, 0 or 8) without a
            neighbor list. The natural input for descriptor-based potentials:
            per-row reductions need no scatter.
        neighbor_mask: (R, K) ``bool``, True for real neighbors within ``r_cut``.
        r_neighbors: (R, K, 3) minimum-image displacements
            :math:`\vec r_{\mathrm{neighbors}[i, k]} - \vec r_i` :math:`[\mathrm{length}]`,
            differentiable, the filler vector where ``neighbor_mask`` is False.
        n_local: scalar ``int32``: the particles whose energies count (all of them
            on one rank).

    A model reads the fields it needs; the step differentiates through those only.
    """

    positions: tf.Tensor
    types: tf.Tensor
    box: tf.Tensor
    charges: tf.Tensor
    pair_i: tf.Tensor
    pair_j: tf.Tensor
    r_ij: tf.Tensor
    pair_mask: tf.Tensor
    neighbors: tf.Tensor | None = None
    neighbor_mask: tf.Tensor | None = None
    r_neighbors: tf.Tensor | None = None
    n_local: tf.Tensor | None = None
    rank_sum: Callable[[tf.Tensor], tf.Tensor] | None = None

    def total(self, values: tf.Tensor) -> tf.Tensor:
        r"""The sum of per-particle ``values`` over every particle of the system, each once.

        Args:
            values: (M, ...) per-particle quantities (e.g. ``charges * positions[:, 2]``).

        Returns:
            (...) the sum over the first ``n_local`` rows, added up over all MPI
            ranks: the same value on every rank. Differentiable, with the chain rule
            carried across ranks. This is the way for a model to use a global
            quantity (a total dipole, a net charge) that stays exact under domain
            decomposition; ``tf.reduce_sum(values)`` would sum one domain and its
            ghosts.
        """
        local = values if self.n_local is None else values[: self.n_local]
        summed = tf.reduce_sum(local, axis=0)
        return summed if self.rank_sum is None else self.rank_sum(summed)


@runtime_checkable
class ManyBodyModel(Protocol):
    r"""A many-body potential: per-particle energies from the whole configuration.

    ``model(inputs: ManyBodyInputs) -> energies``, a (M,) floating-point tensor of
    per-particle energies :math:`[\mathrm{energy}]`, one per row of
    ``inputs.positions`` (or fewer rows, at least ``n_local``: one per row of the
    neighbor table; the rest are taken as zero); the total energy is the sum of the
    first ``inputs.n_local`` (the rest are discarded, and must be finite).

    **Under MPI domain decomposition** a model must say how far its energies
    reach, as an attribute ``cutoff`` :math:`[\mathrm{length}]`: the energy of
    particle ``i`` depends only on particles closer to ``i`` than ``cutoff``, and on
    totals over the system taken with `ManyBodyInputs.total`. ``cutoff = 0`` is a
    model of single-particle terms and totals (a slab correction, an external
    field). `hoomd_mlx.TensorFlowForce` then needs ``r_cut >= cutoff`` for every
    type pair, so that HOOMD's ghost shell holds every particle within ``cutoff``
    of a local one; forces the rank computes on its ghosts are sent to the ranks
    that own them, so that shell is enough (without that exchange a one-hop model
    would need ghosts out to twice its range). A many-body model without
    ``cutoff`` is refused under MPI: its range is unknown, so exact forces cannot
    be guaranteed. The neighbor table has rows for the local particles only, and
    pairs of two ghosts are not listed: a model that uses its neighbors'
    neighborhoods (a density of a neighbor) must compute them from ``positions``,
    which hold every particle within ``r_cut`` of a local one.
    """

    def __call__(self, inputs: ManyBodyInputs) -> tf.Tensor:
        """Return the (N,) per-particle energies."""
        ...


def _check_output(out: object, expected: int, dtype: tf.DType, what: str) -> None:
    if not isinstance(out, (tf.Tensor, np.ndarray, tf.Variable)):
        raise ModelOutputError(
            f"{what} returned a {type(out).__name__}; it must return one tensor of "
            f"shape ({expected},). Return the energies, not a tuple or dict."
        )
    shape = tuple(out.shape)
    if shape != (expected,):
        raise ModelOutputError(
            f"{what} returned shape {shape}; expected ({expected},), one energy per "
            + ("pair. Sum over features, not over pairs." if what.startswith("pair") else "particle (row).")
        )
    got = tf.as_dtype(out.dtype)
    if not got.is_floating:
        raise ModelOutputError(f"{what} returned dtype {got.name}; energies must be floating point.")
    if got != dtype:
        raise ModelOutputError(
            f"{what} returned {got.name} energies for {dtype.name} inputs. Build the force "
            f"with dtype='{got.name}' or make the model compute in {dtype.name}."
        )


def check_pair_output(out: object, n_pairs: int, dtype: tf.DType) -> None:
    """Raise `ModelOutputError` unless ``out`` is a (n_pairs,) tensor of ``dtype``."""
    _check_output(out, n_pairs, dtype, "pair model")


def check_local_output(out: object, rows: int, dtype: tf.DType) -> None:
    """Raise `ModelOutputError` unless ``out`` is a (rows,) tensor of ``dtype``."""
    _check_output(out, rows, dtype, "local model")


def local_as_many_body(model: Callable) -> Callable[[ManyBodyInputs], tf.Tensor]:
    """A `LocalModel` as a `ManyBodyModel` reading the neighbor table (the GPU's whole-step path)."""

    def many_body(inputs: ManyBodyInputs) -> tf.Tensor:
        rows = tf.shape(inputs.neighbors)[0]
        type_k = tf.gather(inputs.types, inputs.neighbors)
        return model(inputs.r_neighbors, inputs.types[:rows], type_k, inputs.neighbor_mask)

    return many_body


def check_many_body_output(out: object, n_particles: int, dtype: tf.DType) -> None:
    """Raise `ModelOutputError` unless ``out`` is a (n_particles,) tensor of ``dtype``."""
    _check_output(out, n_particles, dtype, "many-body model")


def check_pair_symmetry(model: object, dtype: tf.DType, cutoffs: np.ndarray) -> None:
    """Raise `ModelOutputError` unless ``model(r, a, b) == model(-r, b, a)`` on sample pairs.

    A pair energy that depends on which particle comes first has no meaning: the
    order is whatever HOOMD's neighbor list happens to store (half or full storage,
    after a sort, on another MPI rank). The check draws displacements in ``(0.6, 1) * r_cut`` of each
    ordered pair of types (``cutoffs`` is the (T, T) table) and compares finite
    values; non-finite ones are left to the step's own check.
    """
    rng = np.random.default_rng(7)
    n_types = cutoffs.shape[0]
    a, b = np.meshgrid(np.arange(n_types), np.arange(n_types), indexing="ij")
    a, b = np.repeat(a.ravel(), 4), np.repeat(b.ravel(), 4)
    direction = rng.normal(size=(a.size, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = direction * rng.uniform(0.6, 1.0, size=(a.size, 1)) * cutoffs[a, b][:, None]
    t_a, t_b = tf.constant(a, tf.int32), tf.constant(b, tf.int32)
    forward = np.asarray(model(tf.constant(r, dtype), t_a, t_b), dtype=np.float64)
    backward = np.asarray(model(tf.constant(-r, dtype), t_b, t_a), dtype=np.float64)
    tol = 1e-4 if dtype == tf.float32 else 1e-9
    finite = np.isfinite(forward) & np.isfinite(backward)
    scale = max(np.abs(forward[finite]).max(initial=0.0), 1e-30)
    bad = finite & ~np.isclose(forward, backward, rtol=tol, atol=tol * scale)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ModelOutputError(
            f"the pair model is not symmetric: e(r_ij, {a[k]}, {b[k]}) = {forward[k]:.6g} but "
            f"e(-r_ij, {b[k]}, {a[k]}) = {backward[k]:.6g} at |r_ij| = {np.linalg.norm(r[k]):.3g}. A pair "
            "energy must not depend on which particle comes first; symmetrize the model, e.g. "
            "0.5 * (f(r, a, b) + f(-r, b, a))."
        )
