"""Force matching: fit a pair model to forces recorded from a running simulation.

Frames are recorded from any HOOMD simulation (`Frame.from_simulation`), pairs
are found with freud, and the predicted forces come from the very step function
`TensorFlowForce` runs (`hoomd_mlx.plugin.step.make_step`), so a model trained
here behaves identically inside HOOMD.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import freud
import keras
import numpy as np
import tensorflow as tf

from hoomd_mlx.plugin.pairs import NeighborPairs
from hoomd_mlx.plugin.step import make_step, pack_postype

__all__ = ["ForceMatching", "Frame"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    r"""One configuration with its reference forces.

    Attributes:
        positions: (N, 3) positions :math:`[\mathrm{length}]`.
        types: (N,) integer type ids.
        box: (6,) ``[Lx, Ly, Lz, xy, xz, yz]``.
        forces: (N, 3) reference forces :math:`[\mathrm{force}]`.
    """

    positions: np.ndarray
    types: np.ndarray
    box: np.ndarray
    forces: np.ndarray

    @classmethod
    def from_simulation(cls, simulation: Any, force: Any) -> Frame:
        """Record the current state of a HOOMD ``simulation`` and the forces of ``force``.

        Both are read in tag order (``State.get_snapshot`` and ``Force.forces``).
        """
        snapshot = simulation.state.get_snapshot()
        box = simulation.state.box
        return cls(
            positions=np.array(snapshot.particles.position, dtype=np.float64),
            types=np.array(snapshot.particles.typeid, dtype=np.int32),
            box=np.array([box.Lx, box.Ly, box.Lz, box.xy, box.xz, box.yz], dtype=np.float64),
            forces=np.array(force.forces, dtype=np.float64),
        )

    def pairs(self, r_max: float) -> NeighborPairs:
        """NeighborPairs: Every pair closer than ``r_max`` once (freud's AABB query)."""
        fbox = freud.box.Box(*self.box, is2D=self.box[2] == 0)
        query = freud.locality.AABBQuery(fbox, self.positions)
        nl = query.query(self.positions, {"r_max": r_max, "exclude_ii": True}).toNeighborList()
        i = nl.query_point_indices.astype(np.int32)
        j = nl.point_indices.astype(np.int32)
        keep = i < j
        return NeighborPairs.padded(i[keep], j[keep])


class ForceMatching:
    r"""Trains a pair model so that its forces match recorded reference forces.

    Args:
        model: A trainable pair model (e.g. `hoomd_mlx.coupling.PairMLP`).
        r_cut: Cutoff the model is used with :math:`[\mathrm{length}]`.
        n_types: Number of particle types.
        learning_rate: Adam learning rate.

    Example::

        fm = ForceMatching(PairMLP(n_types=1, r_cut=2.5), r_cut=2.5, n_types=1)
        history = fm.fit(frames, epochs=200)
    """

    def __init__(self, model: keras.Model, r_cut: float, n_types: int, learning_rate: float = 3e-3) -> None:
        self.model = model
        self.r_cut = float(r_cut)
        dtype = tf.as_dtype(getattr(model, "compute_dtype", "float32"))
        # Each pair once: the model dominates a neural pair potential's step.
        self._step = make_step(model, many_body=False, dtype=dtype, jit_compile=False, virial=False)
        self._no_table = (tf.zeros([0, 8], tf.int32), tf.zeros([0], tf.int32))
        self._rcut2 = tf.fill([n_types * n_types], tf.constant(self.r_cut**2, tf.float64))
        self._n_types = tf.constant(n_types, tf.int32)
        self._r_fill = tf.constant(self.r_cut, tf.float64)
        self.optimizer = keras.optimizers.Adam(learning_rate)

    def _inputs(self, frame: Frame) -> tuple:
        pairs = frame.pairs(self.r_cut)
        return (
            tf.constant(pack_postype(frame.positions, frame.types)),
            tf.constant(frame.box),
            tf.zeros([0], tf.float64),
            tf.constant(pairs.i),
            tf.constant(pairs.j),
            tf.constant(pairs.count, tf.int32),
            *self._no_table,
            self._rcut2,
            self._n_types,
            self._r_fill,
            tf.constant(frame.positions.shape[0], tf.int32),
        )

    def predict_forces(self, frame: Frame) -> np.ndarray:
        """(N, 3) forces of the model on ``frame``."""
        force_energy, _, _ = self._step(*self._inputs(frame))
        return force_energy.numpy()[:, :3]

    def force_rmse(self, frames: Sequence[Frame]) -> float:
        """float: Root-mean-square force error over ``frames`` [force]."""
        errors = [np.mean((self.predict_forces(f) - f.forces) ** 2) for f in frames]
        return float(np.sqrt(np.mean(errors)))

    def fit(self, frames: Sequence[Frame], epochs: int = 100, log_every: int = 10) -> list[float]:
        """Minimise the mean squared force error; return the per-epoch RMSE."""
        prepared = [(self._inputs(f), tf.constant(f.forces)) for f in frames]
        if not self.model.built:
            self.model(tf.zeros([1, 3]), tf.zeros([1], tf.int32), tf.zeros([1], tf.int32))
        variables = self.model.trainable_variables

        @tf.function(reduce_retracing=True)
        def train_step(inputs, target):
            with tf.GradientTape() as tape:
                force_energy, _, _ = self._step(*inputs)
                loss = tf.reduce_mean(tf.square(force_energy[:, :3] - target))
            grads = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

        history = []
        for epoch in range(epochs):
            losses = [float(train_step(inputs, target)) for inputs, target in prepared]
            history.append(float(np.sqrt(np.mean(losses))))
            if log_every and (epoch % log_every == 0 or epoch == epochs - 1):
                logger.info("force matching epoch %d: force RMSE %.4g", epoch, history[-1])
        return history
