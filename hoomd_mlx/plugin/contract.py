"""The model contract: what a model given to `TensorFlowForce` receives and returns.

Two kinds of model are supported. Both are plain callables of TensorFlow ops: a
Python function, a `tf.Module` or a Keras model. Forces are never computed by
the model: `TensorFlowForce` differentiates the returned energy with
`tf.GradientTape`, so forces are always conservative.

Units are HOOMD's: whatever [length] and [energy] the simulation uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

from hoomd_mlx.errors import ModelOutputError

__all__ = [
    "ManyBodyInputs",
    "ManyBodyModel",
    "PairModel",
    "check_many_body_output",
    "check_pair_output",
]


@runtime_checkable
class PairModel(Protocol):
    r"""A pair potential: energy of each neighbor pair from its displacement.

    ``model(r_ij, type_i, type_j) -> e_ij``

    Args:
        r_ij: (P, 3) tensor of the model's dtype (``float64`` unless the force was
            built with ``dtype="float32"``): minimum-image displacement vectors
            :math:`\vec r_j - \vec r_i` :math:`[\mathrm{length}]`, one row per
            unordered neighbor pair. Every pair closer than ``r_cut`` is present
            exactly once. ``P`` is padded to a bucket size so that the compiled
            step is not retraced when the pair count changes: rows that are not
            real pairs inside ``r_cut`` hold the filler vector
            :math:`(r_\mathrm{cut}, 0, 0)` and their energies are discarded, so the
            model must return finite values there.
        type_i: (P,) ``int32`` HOOMD type ids of the first particle of each pair.
        type_j: (P,) ``int32`` HOOMD type ids of the second particle.

    Returns:
        (P,) tensor of pair energies :math:`[\mathrm{energy}]`, floating point.
    """

    def __call__(self, r_ij: tf.Tensor, type_i: tf.Tensor, type_j: tf.Tensor) -> tf.Tensor:
        """Return the (P,) pair energies."""
        ...


@dataclass(frozen=True)
class ManyBodyInputs:
    r"""What a many-body model receives.

    Attributes:
        positions: (N, 3) particle positions :math:`[\mathrm{length}]`, in the
            model's dtype. Energy terms that depend on absolute positions (walls,
            fields, slab corrections) belong to non-periodic directions; their
            virial is taken as :math:`-\sum_i \vec r_i \otimes \partial E/\partial \vec r_i`.
        types: (N,) ``int32`` type ids.
        box: (6,) ``[Lx, Ly, Lz, xy, xz, yz]`` :math:`[\mathrm{length}]` (tilts
            dimensionless), HOOMD's convention.
        charges: (N,) particle charges :math:`[\mathrm{charge}]`.
        pair_i: (P,) ``int32`` index of the first particle of each pair.
        pair_j: (P,) ``int32`` index of the second particle of each pair.
        r_ij: (P, 3) minimum-image displacements :math:`\vec r_j - \vec r_i`
            :math:`[\mathrm{length}]`, with the same padding as for `PairModel`.
        pair_mask: (P,) ``bool``, True for real pairs within ``r_cut``. Models
            must ignore pairs where it is False.
    """

    positions: tf.Tensor
    types: tf.Tensor
    box: tf.Tensor
    charges: tf.Tensor
    pair_i: tf.Tensor
    pair_j: tf.Tensor
    r_ij: tf.Tensor
    pair_mask: tf.Tensor


@runtime_checkable
class ManyBodyModel(Protocol):
    r"""A many-body potential: per-particle energies from the whole configuration.

    ``model(inputs: ManyBodyInputs) -> energies``, a (N,) floating-point tensor of
    per-particle energies :math:`[\mathrm{energy}]`; the total energy is their sum.
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
            + ("pair. Sum over features, not over pairs." if what.startswith("pair") else "particle.")
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


def check_many_body_output(out: object, n_particles: int, dtype: tf.DType) -> None:
    """Raise `ModelOutputError` unless ``out`` is a (n_particles,) tensor of ``dtype``."""
    _check_output(out, n_particles, dtype, "many-body model")
